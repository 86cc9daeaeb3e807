#!/usr/bin/env bash
# Out of descriptors: the server agent runs with a limit of 64 open files
# and 100 clients connect at once and say nothing. The workers run 32
# handshakes at most (4 x 8) and the rest wait in the queue, each holding a
# descriptor, so accept4 fails (EMFILE) while connections still wait in the
# listen queue. The agent says so and rests the listener for a second
# instead of spinning on it (CPU time stays low); once the clients leave,
# new connections are served again.
set -eu
. "$(dirname "$0")/agent_lib.sh"
make_pki
start_echo
SP=$(free_port)
start server bash -c 'ulimit -n 64 && exec "$@"' limit "$BIN/mtls-agent" server \
	--listen "127.0.0.1:$SP" --target "127.0.0.1:$ECHO_PORT" --key "$(key_uri ec256)" \
	--cert "$PKI/tok-ec256.pem" --cacert "$PKI/ca.pem" --pin-file "$MTLS_TEST_PIN_FILE" \
	--allow-cn tok-rsa2048 --handshake-timeout 30s --handshake-queue 1000
wait_port "$SP"
client_agent "$(key_uri rsa2048)" "$PKI/tok-rsa2048.pem"
"$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns 1 --bytes 1000 >/dev/null || fail "no tunnel before the test"
# cpu PID: utime + stime in clock ticks.
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
fds=()
for i in $(seq 1 100); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$SP" || fail "connect $i"
	fds+=("$fd")
done
wait_log server 'cannot accept: Too many open files'
c0=$(cpu "$PID_server")
sleep 3
c1=$(cpu "$PID_server")
hz=$(getconf CLK_TCK)
echo "agent CPU over 3 s out of descriptors: $((c1 - c0)) ticks (of $((3 * hz)))"
[ $((c1 - c0)) -lt $((3 * hz / 4)) ] || fail "the agent spun: $((c1 - c0)) ticks of CPU in 3 s"
for fd in "${fds[@]}"; do exec {fd}<&-; done
ok=
for i in $(seq 1 50); do
	"$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns 1 --bytes 1000 >/dev/null 2>&1 && { ok=1; break; }
	sleep 0.2
done
[ -n "$ok" ] || fail "no tunnel after the clients left"
echo "ok: out of descriptors the agent rested its listener ($((c1 - c0)) ticks in 3 s) and served again after"
