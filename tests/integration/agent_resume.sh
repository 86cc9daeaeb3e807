#!/usr/bin/env bash
# Resumption: after the first connection to a target, 100 further
# connections make no token signature on either side (the fault module
# counts C_Sign calls of each agent's key).
set -eu
. "$(dirname "$0")/agent_lib.sh"
make_pki
start_echo
printf 'calls_log = %s\n' "$D/server-calls.log" >"$D/server-fault.conf"
printf 'calls_log = %s\n' "$D/client-calls.log" >"$D/client-fault.conf"
MTLS_FAULT_CONF=$D/server-fault.conf server_agent "$(key_uri ec256 "$MTLS_FAULT_LIB")" "$PKI/tok-ec256.pem" --allow-cn tok-rsa2048 --log-level info
MTLS_FAULT_CONF=$D/client-fault.conf client_agent "$(key_uri rsa2048 "$MTLS_FAULT_LIB")" "$PKI/tok-rsa2048.pem" --log-level info
sleep 0.5 # let the wait_port probe's handshake finish
"$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns 1 --bytes 1000 >/dev/null || fail "first connection"
sleep 0.3
c0=$(grep -c ' C_Sign ' "$D/client-calls.log" || true)
s0=$(grep -c ' C_Sign ' "$D/server-calls.log" || true)
for i in $(seq 1 100); do
	"$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns 1 --bytes 1000 >/dev/null || fail "connection $i"
done
sleep 0.3
c1=$(grep -c ' C_Sign ' "$D/client-calls.log" || true)
s1=$(grep -c ' C_Sign ' "$D/server-calls.log" || true)
resumed=$(grep -c 'established.*resumed' "$D/client.log" || true)
echo "after the first connection: client signatures $c0 -> $c1, server signatures $s0 -> $s1, $resumed resumed handshakes logged"
[ "$c1" = "$c0" ] || fail "the client agent signed $((c1 - c0)) times for 100 resumable connections"
[ "$s1" = "$s0" ] || fail "the server agent signed $((s1 - s0)) times for 100 resumable connections"
[ "$resumed" -ge 100 ] || fail "only $resumed resumed handshakes"
echo "ok: 100 further connections, 0 token signatures"
