#!/usr/bin/env bash
# A slow token (the fault module adds 200 ms to every C_Sign of the server
# agent's key) never stalls established tunnels: while 50 new clients wait
# for handshakes, an established tunnel's 1-byte echo round trip stays under
# 10 ms at p99; clients beyond what the workers run (2 x 8) and the queue
# (16) are refused within 100 ms.
set -eu
. "$(dirname "$0")/agent_lib.sh"
make_pki
start_echo
printf 'latency.C_Sign = 200\n' >"$D/fault.conf"
MTLS_FAULT_CONF=$D/fault.conf server_agent "$(key_uri ec256 "$MTLS_FAULT_LIB")" "$PKI/tok-ec256.pem" --allow-cn tok-rsa2048 --allow-cn peer --handshake-workers 2 --handshake-queue 16 \
	--metrics-listen "unix:$D/metrics.sock"
client_agent "$(key_uri rsa2048)" "$PKI/tok-rsa2048.pem"

# The established tunnel: 3000 paced round trips (about 4 s) ...
start rtt "$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 3000 --interval-ms 1
sleep 0.7
# ... while 50 clients ask the slow token for handshakes at once.
"$BIN/mtls-load" --addr "127.0.0.1:$SP" --storm 50 --cert "$PKI/peer.pem" --key "$PKI/peer.key" \
	--ca "$PKI/ca.pem" --seconds 30 >"$D/storm.out"
for i in $(seq 1 200); do kill -0 "$PID_rtt" 2>/dev/null || break; sleep 0.1; done
wait "$PID_rtt" || fail "the established tunnel stopped echoing"
cat "$D/storm.out" "$D/rtt.log"
p99=$(awk '/^rtt_ms/ { sub("p99=", "", $3); print $3 }' "$D/rtt.log")
refused=$(grep -o 'refused=[0-9]*' "$D/storm.out" | cut -d= -f2)
slowest=$(grep -o 'slowest_refusal_ms=[0-9.]*' "$D/storm.out" | cut -d= -f2)
ok=$(grep -o 'handshakes_ok=[0-9]*' "$D/storm.out" | cut -d= -f2)
# Sanitizer builds run several times slower: the limits are the issue's in
# normal builds and five times wider under ASan+UBSan (the figures print).
scale=1
[ "${MTLS_SANITIZED:-0}" = 1 ] && scale=5
awk -v p="$p99" -v k="$scale" 'BEGIN { exit !(p < 10.0 * k) }' ||
	fail "echo p99 $p99 ms during the storm (limit $((10 * scale)) ms)"
[ "$refused" -gt 0 ] || fail "no client was refused although 32 of 50 fit"
awk -v s="$slowest" -v k="$scale" 'BEGIN { exit !(s < 100.0 * k) }' ||
	fail "slowest refusal took $slowest ms (limit $((100 * scale)) ms)"
[ "$ok" -gt 0 ] || fail "no handshake completed during the storm"
grep -q 'refused: handshake queue full' "$D/server.log" || fail "no logged reason for the refusals"
# The metrics count each refusal under its reason, and the slow signatures.
curl -sS --max-time 10 --unix-socket "$D/metrics.sock" http://localhost/metrics >"$D/metrics.txt" ||
	fail "no metrics from the server agent"
qf=$(awk '/^mtls_handshake_failures_total\{.*reason="queue_full"/ { print $2 }' "$D/metrics.txt")
[ "${qf:-0}" = "$refused" ] || fail "metrics count ${qf:-0} queue_full refusals, the clients saw $refused"
slow=$(awk '/^mtls_token_signature_duration_seconds_bucket\{le="0.1"\}/ { print $2 }' "$D/metrics.txt")
[ "${slow:-x}" = 0 ] || fail "signatures under 100 ms in the histogram of a 200 ms token: ${slow:-none}"
echo "ok: p99 ${p99} ms during the storm; $ok handshakes, $refused refused, slowest refusal ${slowest} ms"
