#!/usr/bin/env bash
# A handshake waiting for its peer holds no handshake worker. Both agents'
# tokens sign in 200 ms (fault module); the server agent has ONE worker and
# the client agent 8. For 8 connections at once the server worker signs 8
# times (1.6 s): if it also sat through each client's signature, as a
# blocking worker does, they would take 3.2 s or more. Both stay correct:
# every connection's bytes come back and each side signed once per
# connection (no resumption). Then 3 clients that send nothing are cut
# together at the 3 s handshake timeout (a blocking worker would take them
# one after the other: 9 s), logged and counted as handshake_timeout.
# Then a client agent whose target never answers (a listener with a full
# accept queue: the kernel drops the SYNs) and one worker: 3 connections
# are cut together at the 2 s connect timeout, not one after the other.
# Last, SIGTERM to that agent while connections to the dead target and
# silent clients are in flight: it exits 0 at once, and under the
# sanitizers without a leak (agent_lib.sh fails on any report).
set -eu
. "$(dirname "$0")/agent_lib.sh"
signs() { grep -c ' C_Sign ' "$D/$1-calls.log" 2>/dev/null || true; }
make_pki
start_echo
printf 'latency.C_Sign = 200\ncalls_log = %s\n' "$D/server-calls.log" >"$D/server-fault.conf"
printf 'latency.C_Sign = 200\ncalls_log = %s\n' "$D/client-calls.log" >"$D/client-fault.conf"
MTLS_FAULT_CONF=$D/server-fault.conf server_agent "$(key_uri ec256 "$MTLS_FAULT_LIB")" \
	"$PKI/tok-ec256.pem" --allow-cn tok-rsa2048 --handshake-workers 1 --session-resume no \
	--handshake-timeout 3s --metrics-listen "unix:$D/metrics.sock"
MTLS_FAULT_CONF=$D/client-fault.conf client_agent "$(key_uri rsa2048 "$MTLS_FAULT_LIB")" \
	"$PKI/tok-rsa2048.pem" --handshake-workers 8 --session-resume no
s0=$(signs server)
c0=$(signs client)
t0=$(date +%s%N)
"$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns 8 --bytes 1000 --seconds 30 >"$D/load.out" ||
	{ cat "$D/load.out"; fail "a connection through the agents failed"; }
ms=$((($(date +%s%N) - t0) / 1000000))
cat "$D/load.out"
ds=$(($(signs server) - s0))
dc=$(($(signs client) - c0))
echo "8 handshakes in $ms ms with one server worker; signatures: server $ds, client $dc"
[ "$ds" = 8 ] && [ "$dc" = 8 ] || fail "expected 8 signatures per side, got server $ds, client $dc"
# 1.6 s of server signatures plus one client signature, with room for a
# loaded machine; a worker held through the peer's signature needs 3.2 s.
[ "$ms" -lt 2800 ] || fail "8 handshakes took $ms ms: the server worker waited for its peers"

# cut_together PORT: open 3 connections, read each until the agent closes
# it; sets CUT to the ms from the first open to the last close.
cut_together() {
	local fd i t0
	local -a fds=()
	t0=$(date +%s%N)
	for i in 1 2 3; do
		exec {fd}<>"/dev/tcp/127.0.0.1/$1" || fail "cannot connect to port $1"
		fds+=("$fd")
	done
	for fd in "${fds[@]}"; do timeout 15 cat <&"$fd" >/dev/null 2>&1 || true; done
	CUT=$((($(date +%s%N) - t0) / 1000000))
	for fd in "${fds[@]}"; do exec {fd}<&-; done
}
cut_together "$SP"
cut=$CUT
echo "3 silent clients cut after $cut ms"
[ "$cut" -ge 2900 ] || fail "silent clients cut after $cut ms, before the 3 s handshake timeout"
[ "$cut" -lt 4500 ] || fail "silent clients cut after $cut ms: the timeout came late or one by one"
wait_log server 'handshake did not finish within 3000 ms'
curl -sS --max-time 10 --unix-socket "$D/metrics.sock" http://localhost/metrics >"$D/metrics.txt" ||
	fail "no metrics from the server agent"
n=$(awk '/^mtls_handshake_failures_total\{.*reason="handshake_timeout"/ { s += $2 } END { print s + 0 }' "$D/metrics.txt")
[ "$n" = 3 ] || fail "metrics count $n handshake timeouts, expected 3"

start stall "$BIN/mtls-echo" --port 0 --stall 1 --seconds 120
STALL_PORT=$(log_port stall)
DP=$(free_port)
start dead "$BIN/mtls-agent" client --listen "127.0.0.1:$DP" --target "127.0.0.1:$STALL_PORT" \
	--key "$(key_uri rsa2048)" --cert "$PKI/tok-rsa2048.pem" --cacert "$PKI/ca.pem" \
	--server-name localhost --pin-file "$MTLS_TEST_PIN_FILE" --handshake-workers 1 --connect-timeout 2s
wait_port "$DP"
cut_together "$DP"
echo "3 clients of a target that never answers cut after $CUT ms"
[ "$CUT" -ge 1900 ] || fail "cut after $CUT ms, before the 2 s connect timeout"
[ "$CUT" -lt 3500 ] || fail "cut after $CUT ms: the connect timeout came late or one by one"
wait_log dead "connect to 127.0.0.1:$STALL_PORT: no answer within 2000 ms"

fds=()
for i in 1 2 3 4 5 6; do
	exec {fd}<>"/dev/tcp/127.0.0.1/$DP" || fail "cannot connect to port $DP"
	fds+=("$fd")
done
sleep 0.3
t0=$(date +%s%N)
kill -TERM "$PID_dead"
st=0
wait "$PID_dead" || st=$?
stop_ms=$((($(date +%s%N) - t0) / 1000000))
for fd in "${fds[@]}"; do exec {fd}<&-; done
[ "$st" = 0 ] || fail "the agent exited with $st when stopped with 6 connections in flight"
[ "$stop_ms" -lt 2000 ] || fail "stopping with connections in flight took $stop_ms ms"
echo "stopped with 6 connections in flight in $stop_ms ms, exit 0"
echo "ok: a handshake waiting for its peer holds no worker ($ms ms for 8); 3 silent clients cut together at the handshake timeout ($cut ms); 3 connections to a dead target cut together at the connect timeout ($CUT ms)"
