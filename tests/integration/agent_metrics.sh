#!/usr/bin/env bash
# Metrics and health: a client agent (metrics on a unix socket) and a
# server agent (metrics on 127.0.0.1) carry one full and five resumed
# connections; refused peers are counted by reason; the byte, signature,
# latency and certificate-expiry series say what happened; /healthz is
# 200. Then 200 scrapes of /metrics and /healthz each on both agents make
# no token signature (the fault module logs every C_Sign), a request that
# stalls gets 408 without holding up scrapes or tunnels, and the endpoint
# answers 404, 405 and 400 where it should.
set -eu
. "$(dirname "$0")/agent_lib.sh"
make_pki
start_echo
printf 'calls_log = %s\n' "$D/server-calls.log" >"$D/server-fault.conf"
printf 'calls_log = %s\n' "$D/client-calls.log" >"$D/client-fault.conf"
MP=$(free_port)
CM=$D/client-metrics.sock
MTLS_FAULT_CONF=$D/server-fault.conf server_agent "$(key_uri ec256 "$MTLS_FAULT_LIB")" \
	"$PKI/tok-ec256.pem" --allow-cn tok-rsa2048 --metrics-listen "127.0.0.1:$MP" --log-level info
MTLS_FAULT_CONF=$D/client-fault.conf client_agent "$(key_uri rsa2048 "$MTLS_FAULT_LIB")" \
	"$PKI/tok-rsa2048.pem" --metrics-listen "unix:$CM" --log-level info
wait_port "$MP"
for _ in $(seq 1 100); do [ -S "$CM" ] && break; sleep 0.05; done
[ -S "$CM" ] || fail "no metrics socket at $CM"
mode=$(stat -c %a "$CM")
[ "$mode" = 660 ] || fail "metrics socket has mode $mode, expected 660"

# get WHO PATH [curl options]: the body; HTTP status in $D/code.
get() {
	local who=$1 path=$2
	shift 2
	if [ "$who" = server ]; then
		curl -sS --max-time 10 -o "$D/body" -w '%{http_code}' "$@" "http://127.0.0.1:$MP$path" >"$D/code"
	else
		curl -sS --max-time 10 -o "$D/body" -w '%{http_code}' "$@" --unix-socket "$CM" \
			"http://localhost$path" >"$D/code"
	fi
	cat "$D/body"
}
scrape() { get "$1" /metrics >"$D/$1.prom" && [ "$(cat "$D/code")" = 200 ] || fail "$1: /metrics answered $(cat "$D/code")"; }
# value WHO SERIES: the sample's value in the last scrape (empty if none).
value() { awk -v s="$2" '$1 == s { print $2 }' "$D/$1.prom"; }
expect() {
	local v
	v=$(value "$1" "$2")
	[ "$v" = "$3" ] || fail "$1: $2 is '${v}', expected $3"
	echo "ok: $1: $2 = $v"
}
# calls WHO [REGEX]: lines of that agent's fault-module call log (all, or
# those matching REGEX).
calls() { grep -c -- "${2:-}" "$D/$1-calls.log" || true; }

# Nothing counted before the first connection; healthz already ok.
scrape server
expect server 'mtls_handshakes_total{tunnel="cli",kind="full"}' 0
[ "$(get server /healthz)" = ok ] && [ "$(cat "$D/code")" = 200 ] || fail "server /healthz: $(cat "$D/code") $(cat "$D/body")"
[ "$(get client /healthz)" = ok ] && [ "$(cat "$D/code")" = 200 ] || fail "client /healthz: $(cat "$D/code") $(cat "$D/body")"
echo "ok: /healthz says ok on both agents (TCP and unix socket)"

# One full handshake, then five resumed ones, 1000 bytes each way apiece.
"$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns 1 --bytes 1000 >/dev/null || fail "first connection"
sleep 0.3 # the TLS 1.3 ticket arrives after the handshake
for i in 1 2 3 4 5; do
	"$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns 1 --bytes 1000 >/dev/null || fail "connection $i"
done

# Refused peers, each with its reason classified where it was seen.
refuse() {
	printf 'x\n' | timeout 10 openssl s_client -connect "127.0.0.1:$SP" -CAfile "$PKI/ca.pem" \
		-servername localhost -quiet "$@" >/dev/null 2>&1 || true
}
refuse -cert "$PKI/peer.pem" -key "$PKI/peer.key"
refuse -cert "$PKI/unknown.pem" -key "$PKI/unknown.key"
refuse -cert "$PKI/expired.pem" -key "$PKI/expired.key"
refuse
for _ in $(seq 1 100); do
	[ "$(grep -c 'failed after' "$D/server.log")" -ge 4 ] && break
	sleep 0.05
done
sleep 0.3 # closing tunnels finish their byte counts

scrape server
scrape client
for who in client server; do
	expect $who 'mtls_handshakes_total{tunnel="cli",kind="full"}' 1
	expect $who 'mtls_handshakes_total{tunnel="cli",kind="resumed"}' 5
	expect $who 'mtls_connections_total{tunnel="cli",result="established"}' 6
	expect $who 'mtls_connections_active{tunnel="cli"}' 0
	expect $who 'mtls_bytes_total{tunnel="cli",direction="plain_to_tls"}' 6000
	expect $who 'mtls_bytes_total{tunnel="cli",direction="tls_to_plain"}' 6000
done
expect client 'mtls_connections_total{tunnel="cli",result="failed"}' 0
expect client 'mtls_tunnel_info{tunnel="cli",mode="client",key="0"}' 1
expect server 'mtls_connections_total{tunnel="cli",result="accepted"}' 10
expect server 'mtls_connections_total{tunnel="cli",result="failed"}' 4
expect server 'mtls_handshake_failures_total{tunnel="cli",reason="peer_not_allowed"}' 1
expect server 'mtls_handshake_failures_total{tunnel="cli",reason="unknown_ca"}' 1
expect server 'mtls_handshake_failures_total{tunnel="cli",reason="cert_expired"}' 1
expect server 'mtls_handshake_failures_total{tunnel="cli",reason="no_peer_cert"}' 1
expect server 'mtls_handshake_failures_total{tunnel="cli",reason="token_absent"}' 0
expect server 'mtls_token_up{key="0"}' 1
expect server 'mtls_token_state{key="0",state="ok"}' 1

# Signatures: as many as the token made (its C_Sign calls), each timed.
for who in client server; do
	signs=$(calls $who ' C_Sign 0x0$')
	[ "$signs" -ge 1 ] || fail "$who: the fault module logged no signature"
	expect $who 'mtls_token_signatures_total{result="ok"}' "$signs"
	expect $who 'mtls_token_signatures_total{result="failed"}' 0
	expect $who 'mtls_token_signature_duration_seconds_count' "$signs"
	expect $who 'mtls_token_signature_duration_seconds_bucket{le="+Inf"}' "$signs"
	awk '/^mtls_token_signature_duration_seconds_bucket/ { v = $2 + 0; if (v < last) bad = 1; last = v }
		END { exit bad }' "$D/$who.prom" || fail "$who: histogram buckets are not cumulative"
	sum=$(value $who mtls_token_signature_duration_seconds_sum)
	awk -v s="$sum" 'BEGIN { exit !(s > 0) }' || fail "$who: signature time sum is $sum"
done

# Certificate expiry: the notAfter openssl reads from the same files.
for pair in client:tok-rsa2048 server:tok-ec256; do
	who=${pair%%:*}
	end=$(openssl x509 -enddate -noout -in "$PKI/${pair#*:}.pem" | cut -d= -f2)
	expect "$who" 'mtls_certificate_expiry_timestamp_seconds{tunnel="cli"}' "$(date -u -d "$end" +%s)"
done

# Exposition format: every family has HELP and TYPE before its samples.
for who in client server; do
	awk '/^# HELP / { h[$3] = 1; next } /^# TYPE / { if (!h[$3]) exit 1; t[$3] = 1; f = $3; next }
		{ n = $1; sub(/\{.*/, "", n); if (index(n, f) != 1 || !t[f]) exit 1 }' "$D/$who.prom" ||
		fail "$who: a sample outside a declared family"
done
echo "ok: both expositions are well formed"

# 200 scrapes of each endpoint on each agent: no token signature at all.
sleep 1.2 # at least one probe round lands in the logs before the count
c0=$(calls client ' C_Sign ')
s0=$(calls server ' C_Sign ')
n0=$(calls server)
urls=()
for _ in $(seq 1 200); do
	urls+=(-o /dev/null "http://127.0.0.1:$MP/metrics" -o /dev/null "http://127.0.0.1:$MP/healthz")
done
codes=$(curl -s --max-time 60 -w '%{http_code}\n' "${urls[@]}" | sort | uniq -c | tr -s ' ')
[ "$codes" = " 400 200" ] || fail "server scrapes answered: $codes"
urls=()
for _ in $(seq 1 200); do
	urls+=(-o /dev/null "http://localhost/metrics" -o /dev/null "http://localhost/healthz")
done
codes=$(curl -s --max-time 60 --unix-socket "$CM" -w '%{http_code}\n' "${urls[@]}" |
	sort | uniq -c | tr -s ' ')
[ "$codes" = " 400 200" ] || fail "client scrapes answered: $codes"
sleep 1.2
c1=$(calls client ' C_Sign ')
s1=$(calls server ' C_Sign ')
n1=$(calls server)
echo "800 scrapes: C_Sign calls client $c0 -> $c1, server $s0 -> $s1; server token calls $n0 -> $n1 (probes)"
[ "$c1" = "$c0" ] && [ "$s1" = "$s0" ] || fail "scrapes or health probes made token signatures"
[ "$n1" -gt "$n0" ] || fail "the health probe made no token call at all: is the call log live?"
echo "ok: 400 scrapes per agent, 0 token signatures"

# A stalled request gets 408 after a few seconds; meanwhile scrapes and
# tunnels go on, and even 10 stalled clients (more than the server serves
# at once) only delay a scrape.
exec 3<>"/dev/tcp/127.0.0.1/$MP"
printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n' >&3
t0=$(date +%s%N)
[ "$(get server /healthz)" = ok ] || fail "/healthz while a request stalls: $(cat "$D/code")"
"$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns 1 --bytes 1000 >/dev/null || fail "tunnel while a request stalls"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 1500 ] || fail "a stalled metrics client held things up for $ms ms"
late=$(timeout 10 head -n 1 <&3 | tr -d '\r')
exec 3<&-
[ "$late" = "HTTP/1.1 408 Request Timeout" ] || fail "the stalled request got '$late'"
echo "ok: a stalled request got 408; a scrape and a tunnel meanwhile took $ms ms"
stalls=()
for i in $(seq 1 10); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$MP"
	printf 'GET /metr' >&$fd
	stalls+=("$fd")
done
t0=$(date +%s%N)
"$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns 1 --bytes 1000 >/dev/null || fail "tunnel while 10 requests stall"
tunnel_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(get server /healthz)" = ok ] || fail "/healthz after 10 stalled clients: $(cat "$D/code")"
scrape_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
for fd in "${stalls[@]}"; do exec {fd}<&-; done
[ "$tunnel_ms" -lt 1500 ] || fail "a tunnel took $tunnel_ms ms while metrics clients stalled"
[ "$scrape_ms" -lt 8000 ] || fail "a scrape waited $scrape_ms ms behind stalled clients"
echo "ok: 10 stalled metrics clients: a tunnel took $tunnel_ms ms, a scrape $scrape_ms ms"

# Wrong paths, methods and malformed requests.
get server /nope >/dev/null
[ "$(cat "$D/code")" = 404 ] || fail "/nope answered $(cat "$D/code")"
get server /metrics -X POST >/dev/null
[ "$(cat "$D/code")" = 405 ] || fail "POST /metrics answered $(cat "$D/code")"
get client /healthz -X DELETE >/dev/null
[ "$(cat "$D/code")" = 405 ] || fail "DELETE /healthz answered $(cat "$D/code")"
exec 3<>"/dev/tcp/127.0.0.1/$MP"
printf 'GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n' >&3
bad=$(timeout 10 head -n 1 <&3 | tr -d '\r')
exec 3<&-
[ "$bad" = "HTTP/1.1 400 Bad Request" ] || fail "a malformed header got '$bad'"
head -c 9000 /dev/zero | tr '\0' a | { printf 'GET /metrics HTTP/1.1\r\nX: '; cat; } >"$D/big"
exec 3<>"/dev/tcp/127.0.0.1/$MP"
cat "$D/big" >&3
big=$(timeout 10 head -n 1 <&3 | tr -d '\r')
exec 3<&-
[ "$big" = "HTTP/1.1 431 Request Header Fields Too Large" ] || fail "an oversized head got '$big'"
echo "ok: 404, 405, 400 and 431 where they belong"

# A tunnel at its connection limit refuses the next connection, counted as
# refused with reason connection_limit.
CP2=$(free_port)
start client2 "$BIN/mtls-agent" client --listen "127.0.0.1:$CP2" --target "127.0.0.1:$SP" \
	--key "$(key_uri rsa2048)" --cert "$PKI/tok-rsa2048.pem" --cacert "$PKI/ca.pem" \
	--server-name localhost --pin-file "$MTLS_TEST_PIN_FILE" --max-connections 1 \
	--metrics-listen "unix:$D/client2.sock" --log-level info
wait_port "$CP2"
start hold "$BIN/mtls-load" --addr "127.0.0.1:$CP2" --hold 1 --seconds 5
wait_log client2 'established'
"$BIN/mtls-load" --addr "127.0.0.1:$CP2" --conns 1 --bytes 10 >/dev/null 2>&1 &&
	fail "a second connection got through a tunnel limited to one"
curl -s --max-time 5 --unix-socket "$D/client2.sock" http://localhost/metrics >"$D/client2.prom"
expect client2 'mtls_connections_total{tunnel="cli",result="refused"}' 1
expect client2 'mtls_handshake_failures_total{tunnel="cli",reason="connection_limit"}' 1
expect client2 'mtls_connections_active{tunnel="cli"}' 1
echo "ok: metrics and health of both agents"
