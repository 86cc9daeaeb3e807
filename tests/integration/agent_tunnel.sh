#!/usr/bin/env bash
# Client agent (EC P-256 key on SoftHSM2) -> server agent (RSA-2048 key on
# the same token) -> echo backend: bytes go through, SHA-256 checked, both
# agents log the connection with the peer identity. Then each agent against
# an independent peer: our client to `openssl s_server -Verify`, and
# `openssl s_client` with a client certificate to our server.
#   agent_tunnel.sh [1.3|1.2]
set -eu
. "$(dirname "$0")/agent_lib.sh"
ver=${1:-1.3}
make_pki
start_echo
server_agent "$(key_uri rsa2048)" "$PKI/tok-rsa2048.pem" --allow-cn tok-ec256 --allow-cn peer --tls-min "$ver" --tls-max "$ver" --log-level info
client_agent "$(key_uri ec256)" "$PKI/tok-ec256.pem" --tls-min "$ver" --tls-max "$ver" --log-level info

"$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns 20 --bytes 262144 --seconds 60 ||
	fail "bytes did not come back intact through client agent -> server agent"
wait_log server 'peer="[^"]*CN=tok-ec256'
wait_log client 'peer="[^"]*CN=tok-rsa2048'
grep -q "TLSv$ver" "$D/server.log" || fail "server did not log TLSv$ver"
echo "ok: client agent -> server agent -> echo, TLS $ver, 20 x 256 KiB intact"

# Our client agent against openssl s_server demanding a client certificate.
OP=$(free_port)
sflag=$([ "$ver" = 1.3 ] && echo -tls1_3 || echo -tls1_2)
start s_server openssl s_server -accept "127.0.0.1:$OP" -cert "$PKI/peer.pem" -key "$PKI/peer.key" \
	-CAfile "$PKI/ca.pem" -Verify 1 -verify_return_error "$sflag" -rev -naccept 1
wait_port "$OP"
CP2=$(free_port)
start client2 "$BIN/mtls-agent" client --listen "127.0.0.1:$CP2" --target "127.0.0.1:$OP" \
	--key "$(key_uri ec256)" --cert "$PKI/tok-ec256.pem" --cacert "$PKI/ca.pem" \
	--server-name peer.test --pin-file "$MTLS_TEST_PIN_FILE" --tls-min "$ver" --tls-max "$ver"
wait_port "$CP2"
# s_server -rev answers each line reversed.
got=$(printf 'hello\n' | timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$CP2; cat >&3; read -r l <&3; echo \$l")
[ "$got" = "olleh" ] || fail "openssl s_server via our client agent answered '$got'"
grep -q 'tok-ec256' "$D/s_server.log" || fail "s_server did not see our client certificate"
echo "ok: our client agent -> openssl s_server -Verify (TLS $ver)"

# openssl s_client with a client certificate against our server agent.
got=$(printf 'ping\n' | timeout 10 openssl s_client -connect "127.0.0.1:$SP" -cert "$PKI/peer.pem" \
	-key "$PKI/peer.key" -CAfile "$PKI/ca.pem" -verify_return_error -quiet "$sflag" \
	-servername localhost 2>"$D/s_client.err" | head -c 4)
[ "$got" = "ping" ] || fail "openssl s_client through our server agent got '$got'"
echo "ok: openssl s_client (client certificate) -> our server agent -> echo (TLS $ver)"
