#!/usr/bin/env bash
# Our server agent refuses bad clients, each with a specific reason in its
# log, and nothing reaches the backend: unknown CA, expired, not yet valid,
# revoked by CRL, identity not allowed, no client certificate, TLS 1.1.
set -eu
. "$(dirname "$0")/agent_lib.sh"
make_pki
start_echo
server_agent "$(key_uri ec256)" "$PKI/tok-ec256.pem" --crl "$PKI/crl.pem" --allow-cn tok-rsa2048 --allow-uri spiffe://test.example/peer-rsa --tls-min 1.2 --tls-max 1.3 --log-level info
n_before=$(grep -c '^accepted' "$D/echo.log" || true)

# try NAME REASON [s_client options...]: the handshake must fail, the server
# log must give REASON for it, and the backend must see nothing.
try() {
	local name=$1 reason=$2 lines
	shift 2
	lines=$(wc -l <"$D/server.log")
	printf 'secret\n' | timeout 10 openssl s_client -connect "127.0.0.1:$SP" -CAfile "$PKI/ca.pem" \
		-servername localhost -quiet "$@" >"$D/$name.out" 2>&1 || true
	local i
	for i in $(seq 1 100); do
		tail -n +"$((lines + 1))" "$D/server.log" | grep -q 'failed after' && break
		sleep 0.05
	done
	tail -n +"$((lines + 1))" "$D/server.log" | grep 'failed after' | grep -q -- "$reason" ||
		fail "$name: server log lacks '$reason': $(tail -n +"$((lines + 1))" "$D/server.log")"
	echo "ok: $name refused: $(tail -n +"$((lines + 1))" "$D/server.log" | grep -o 'failed after.*' | head -1)"
}

try unknown-ca "unknown CA" -cert "$PKI/unknown.pem" -key "$PKI/unknown.key"
try expired "certificate expired" -cert "$PKI/expired.pem" -key "$PKI/expired.key"
try not-yet-valid "not yet valid" -cert "$PKI/future.pem" -key "$PKI/future.key"
try revoked "certificate revoked" -cert "$PKI/revoked.pem" -key "$PKI/revoked.key"
try not-allowed "peer not allowed" -cert "$PKI/peer.pem" -key "$PKI/peer.key"
try no-client-cert "no client certificate"
try tls1.1 "protocol version" -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' -cert "$PKI/peer-rsa.pem" \
	-key "$PKI/peer-rsa.key"

n_after=$(grep -c '^accepted' "$D/echo.log" || true)
[ "$n_after" = "$n_before" ] || fail "the backend saw $((n_after - n_before)) connection(s) from refused peers"
echo "ok: the backend saw no connection from any refused peer"

# And an allowed peer (by URI SAN) does get through.
got=$(printf 'ping\n' | timeout 10 openssl s_client -connect "127.0.0.1:$SP" -cert "$PKI/peer-rsa.pem" \
	-key "$PKI/peer-rsa.key" -CAfile "$PKI/ca.pem" -servername localhost -quiet 2>/dev/null | head -c 4)
[ "$got" = "ping" ] || fail "allowed peer (URI SAN) did not get through: '$got'"
echo "ok: a peer allowed by its URI SAN gets through"
