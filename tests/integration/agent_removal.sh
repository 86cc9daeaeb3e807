#!/usr/bin/env bash
# The token is pulled for 5 s (fault module) while a tunnel is established:
# the tunnel keeps echoing, new handshakes fail fast with "token not
# present" in the server agent's log, and after reinsertion (a new slot id)
# new handshakes succeed without a restart.
set -eu
. "$(dirname "$0")/agent_lib.sh"
make_pki
start_echo
conf=$D/fault.conf
set_fault() { printf '%s\n' "$1" >"$conf.tmp" && mv "$conf.tmp" "$conf"; }
set_fault "removed = 0"
MTLS_FAULT_CONF=$conf server_agent "$(key_uri ec256 "$MTLS_FAULT_LIB")" "$PKI/tok-ec256.pem" --allow-cn tok-rsa2048 --allow-cn peer
client_agent "$(key_uri rsa2048)" "$PKI/tok-rsa2048.pem"
storm() {
	"$BIN/mtls-load" --addr "127.0.0.1:$SP" --storm "$1" --cert "$PKI/peer.pem" \
		--key "$PKI/peer.key" --ca "$PKI/ca.pem" --seconds 20
}
out=$(storm 1)
case $out in *handshakes_ok=1*) ;; *) fail "no handshake before the removal: $out" ;; esac

# An established tunnel echoing all along (about 9 s of paced round trips).
start rtt "$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 4000 --interval-ms 2
sleep 1
set_fault "removed = 1"
sleep 0.3
out=$(storm 3)
echo "token removed: $out"
case $out in *handshakes_ok=0*) ;; *) fail "handshakes succeeded without the token: $out" ;; esac
slowest=$(echo "$out" | grep -o 'slowest_refusal_ms=[0-9.]*' | cut -d= -f2)
awk -v s="$slowest" 'BEGIN { exit !(s < 1000.0) }' || fail "refusals took $slowest ms while removed"
wait_log server 'token not present'
sleep 4.5
set_fault "removed = 0"
ok=0
for i in $(seq 1 20); do
	out=$(storm 1)
	case $out in *handshakes_ok=1*) ok=1; break ;; esac
	sleep 0.1
done
[ "$ok" = 1 ] || fail "no handshake after reinsertion: $out"
echo "token back: a new handshake succeeded after $i attempt(s), no restart"
for i in $(seq 1 200); do kill -0 "$PID_rtt" 2>/dev/null || break; sleep 0.1; done
wait "$PID_rtt" || fail "the established tunnel stopped echoing during the removal"
cat "$D/rtt.log"
echo "ok: established tunnel kept echoing; fast failures while removed; recovery without restart"
