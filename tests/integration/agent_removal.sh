#!/usr/bin/env bash
# The token is pulled for 5 s (fault module) while a tunnel is established:
# the tunnel keeps echoing, new handshakes fail fast with "token not
# present" in the server agent's log and in its metrics (token state
# absent, failures with reason token_absent), /healthz answers 503 naming
# the token, and after reinsertion (a new slot id) new handshakes succeed
# and /healthz is 200 again, without a restart.
set -eu
. "$(dirname "$0")/agent_lib.sh"
make_pki
start_echo
conf=$D/fault.conf
set_fault "removed = 0"
MP=$(free_port)
MTLS_FAULT_CONF=$conf server_agent "$(key_uri ec256 "$MTLS_FAULT_LIB")" "$PKI/tok-ec256.pem" --allow-cn tok-rsa2048 --allow-cn peer --metrics-listen "127.0.0.1:$MP"
wait_port "$MP"
# healthz: "BODY CODE" of the server agent's /healthz.
healthz() { curl -s --max-time 5 -w ' %{http_code}' "http://127.0.0.1:$MP/healthz" | tr -d '\n'; }
# wait_health WANT: until /healthz answers WANT (the probe runs every second).
wait_health() {
	local i h
	for i in $(seq 1 60); do
		h=$(healthz)
		case $h in *" $1") echo "$h"; return 0 ;; esac
		sleep 0.1
	done
	fail "/healthz never answered $1 (last: $h)"
}
metric() { curl -s --max-time 5 "http://127.0.0.1:$MP/metrics" | awk -v s="$1" '$1 == s { print $2 }'; }
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
t_removed=$(date +%s%N)
sleep 0.3
out=$(storm 3)
echo "token removed: $out"
case $out in *handshakes_ok=0*) ;; *) fail "handshakes succeeded without the token: $out" ;; esac
slowest=$(echo "$out" | grep -o 'slowest_refusal_ms=[0-9.]*' | cut -d= -f2)
awk -v s="$slowest" 'BEGIN { exit !(s < 1000.0) }' || fail "refusals took $slowest ms while removed"
wait_log server 'token not present'
h=$(wait_health 503)
case $h in "token not present (key 0) 503") ;; *) fail "/healthz while removed: $h" ;; esac
echo "token removed: /healthz: $h"
[ "$(metric 'mtls_token_state{key="0",state="absent"}')" = 1 ] || fail "metrics do not show the token absent"
[ "$(metric 'mtls_token_up{key="0"}')" = 0 ] || fail "metrics show the token up while removed"
absent=$(metric 'mtls_handshake_failures_total{tunnel="cli",reason="token_absent"}')
[ "${absent:-0}" -ge 3 ] || fail "metrics count ${absent:-no} token_absent failures for 3 refused handshakes"
echo "token removed: metrics show state absent and $absent failures with reason token_absent"
left_ms=$((5000 - ($(date +%s%N) - t_removed) / 1000000))
[ "$left_ms" -gt 0 ] && sleep "$(printf '%d.%03d' $((left_ms / 1000)) $((left_ms % 1000)))"
set_fault "removed = 0"
ok=0
for i in $(seq 1 20); do
	out=$(storm 1)
	case $out in *handshakes_ok=1*) ok=1; break ;; esac
	sleep 0.1
done
[ "$ok" = 1 ] || fail "no handshake after reinsertion: $out"
echo "token back: a new handshake succeeded after $i attempt(s), no restart"
echo "token back: /healthz: $(wait_health 200)"
[ "$(metric 'mtls_token_state{key="0",state="ok"}')" = 1 ] || fail "metrics do not show the token back"
for i in $(seq 1 200); do kill -0 "$PID_rtt" 2>/dev/null || break; sleep 0.1; done
wait "$PID_rtt" || fail "the established tunnel stopped echoing during the removal"
cat "$D/rtt.log"
echo "ok: established tunnel kept echoing; fast failures while removed; recovery without restart"
