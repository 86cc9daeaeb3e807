#!/usr/bin/env bash
# systemd integration with a real notification socket and real socket
# activation (systemd-socket-activate):
#  1. READY=1 with a STATUS= line once the tunnels listen; WATCHDOG=1 pings
#     at half the period $WATCHDOG_USEC asks for; RELOADING=1 then READY=1
#     on SIGHUP; STOPPING=1 on SIGTERM.
#  2. The watchdog reflects the token path: while the signer cannot answer
#     a token-state probe (the fault module holds C_GetSlotInfo and
#     C_GetTokenInfo for 4 s) the pings stop, and come back after; while
#     the token is merely absent the pings go on (a restart cannot bring a
#     token back and would cut the established tunnels) and STATUS= says
#     "token not present".
#  3. Socket activation: the agent serves on the socket systemd passed,
#     matched by address (one tunnel from the command line) and by
#     FileDescriptorName= (a config file tunnel named like the socket).
set -eu
. "$(dirname "$0")/agent_lib.sh"
make_pki
start_echo
conf=$D/fault.conf
set_fault "removed = 0"
server_agent "$(key_uri ec256)" "$PKI/tok-ec256.pem" --allow-cn tok-rsa2048

start notify "$BIN/mtls-notify" --socket "$D/notify.sock" --seconds 120
wait_log notify listening
MTLS_FAULT_CONF=$conf NOTIFY_SOCKET=$D/notify.sock WATCHDOG_USEC=1000000 \
	client_agent "$(key_uri rsa2048 "$MTLS_FAULT_LIB")" "$PKI/tok-rsa2048.pem"
wait_log notify 'READY=1'
wait_log notify 'STATUS=.*1 tunnel'
# pings counted over a window of N seconds
pings() {
	local a b
	a=$(grep -c 'WATCHDOG=1' "$D/notify.log" || true)
	sleep "$1"
	b=$(grep -c 'WATCHDOG=1' "$D/notify.log" || true)
	echo $((b - a))
}
n=$(pings 3)
[ "$n" -ge 4 ] || fail "$n watchdog pings in 3 s with WatchdogSec=1s (want >= 4)"
"$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 5 >/dev/null || fail "no tunnel under systemd"
echo "ok: READY=1, $n pings in 3 s"

# 2. An absent token: pings go on, STATUS says so.
start rtt "$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 3000 --interval-ms 3
sleep 0.5
set_fault "removed = 1"
wait_log notify 'STATUS=.*token not present' 10
n=$(pings 2)
[ "$n" -ge 2 ] || fail "pings stopped while the token was only absent ($n in 2 s)"
set_fault "removed = 0"
wait_log notify 'STATUS=.*token ok' 10
echo "ok: token absent -> STATUS said so, $n pings in 2 s meanwhile"

# A signer that cannot answer: pings stop, then resume.
set_fault "$(printf 'latency.C_GetSlotInfo = 4000\nlatency.C_GetTokenInfo = 4000')"
sleep 1.5
n=$(pings 2)
[ "$n" -le 1 ] || fail "$n pings while the token did not answer for 4 s"
set_fault "removed = 0"
sleep 4
n=$(pings 2)
[ "$n" -ge 2 ] || fail "pings did not resume after the token answered again ($n in 2 s)"
for i in $(seq 1 200); do kill -0 "$PID_rtt" 2>/dev/null || break; sleep 0.1; done
wait "$PID_rtt" || fail "the established tunnel broke meanwhile: $(cat "$D/rtt.log")"
echo "ok: pings stopped while the token path hung, resumed after; the tunnel kept echoing"

# 1 (cont.). SIGHUP and SIGTERM.
kill -HUP "$PID_client"
wait_log notify 'RELOADING=1'
wait_log notify 'MONOTONIC_USEC='
for i in $(seq 1 50); do [ "$(grep -c 'READY=1' "$D/notify.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c 'READY=1' "$D/notify.log")" -ge 2 ] || fail "no READY=1 after the reload"
kill -TERM "$PID_client"
wait_log notify 'STOPPING=1'
echo "ok: RELOADING=1 on SIGHUP, STOPPING=1 on SIGTERM"
grep -v WATCHDOG "$D/notify.log" | sed 's/^/  notify: /'

# 3. Socket activation, by address.
mv "$D/client.log" "$D/client-notify.log"
AP=$(free_port)
start activate systemd-socket-activate -E SOFTHSM2_CONF -l "127.0.0.1:$AP" \
	"$BIN/mtls-agent" client --listen "127.0.0.1:$AP" --target "127.0.0.1:$SP" \
	--key "$(key_uri rsa2048)" --cert "$PKI/tok-rsa2048.pem" --cacert "$PKI/ca.pem" \
	--server-name localhost --pin-file "$MTLS_TEST_PIN_FILE"
wait_port "$AP"
"$BIN/mtls-load" --addr "127.0.0.1:$AP" --rtt 5 >"$D/act.log" 2>&1 ||
	fail "no tunnel through the activated socket: $(cat "$D/act.log")"
grep -q 'listening on 127.0.0.1:'"$AP"' (socket from systemd)' "$D/activate.log" ||
	fail "the agent did not say it took the passed socket"
echo "ok: socket activation by address"

# By name: the config file's tunnel "web" listens elsewhere, but systemd
# passed a socket named "web".
NP=$(free_port)
cat >"$D/agent.conf" <<CONF
[agent]
pin-file = $MTLS_TEST_PIN_FILE
[tunnel web]
mode = client
listen = 127.0.0.1:1
target = 127.0.0.1:$SP
key = $(key_uri rsa2048)
cert = $PKI/tok-rsa2048.pem
cacert = $PKI/ca.pem
server-name = localhost
CONF
start activate2 systemd-socket-activate -E SOFTHSM2_CONF -l "127.0.0.1:$NP" --fdname=web \
	"$BIN/mtls-agent" --config "$D/agent.conf"
wait_port "$NP"
"$BIN/mtls-load" --addr "127.0.0.1:$NP" --rtt 5 >"$D/act2.log" 2>&1 ||
	fail "no tunnel through the socket named web: $(cat "$D/act2.log")"
echo "ok: socket activation by FileDescriptorName"
