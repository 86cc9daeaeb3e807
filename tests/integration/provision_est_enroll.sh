#!/usr/bin/env bash
# The whole chain on SoftHSM2: mtls-provision enroll makes the request on
# the token (ec256), gets /cacerts and /simpleenroll from our EST server
# with HTTP Basic auth, writes the certificate to the token, and mtls-agent
# serves mTLS with that key and the certificate read from the token: our
# client agent and openssl s_client complete handshakes and bytes flow.
# Then the other ways in: the server pinned by its SHA-256 fingerprint,
# and a factory certificate (TLS client auth) whose key signs on the token
# (rsa2048: RSA-PSS in TLS 1.3) instead of a password.
set -eu
. "$(dirname "$0")/provision_est_lib.sh"
est_setup
start_echo
start_est est
mkdir -p "$D/out"

run enroll enroll_basic ec256 --subject "/OU=agents/CN=gw-ec256" --san dns:localhost \
	--san ip:127.0.0.1 --san uri:spiffe://test.example/gw --to-token --out "$D/out/gw.pem" \
	--chain "$D/out/ca.pem"
expect_rc enroll 0
printed enroll '^enrolled: /OU=agents/CN=gw-ec256, serial [0-9a-f]+, issued by /CN=mtls test CA'
grep -q 'GET /.well-known/est/cacerts -> 200 (auth none)' "$D/est.log" ||
	fail "/cacerts was not asked for (or with the password)"
grep -q 'POST /.well-known/est/simpleenroll -> 200 (auth basic)' "$D/est.log" ||
	fail "no Basic-auth enrollment in the server's log"

# What was written: the token's certificate beside key 01 is the file's,
# for the token's key, chaining to the CA /cacerts gave.
token_cert 01 "$D/on-token.pem"
[ "$(fingerprint "$D/on-token.pem")" = "$(fingerprint "$D/out/gw.pem")" ] ||
	fail "the token's certificate is not the one written to the file"
[ "$(pubkey_of "$D/on-token.pem")" = "$(cat "$PKI/tok-ec256.pub")" ] ||
	fail "the certificate is not for the token key ec256"
[ "$(fingerprint "$D/out/ca.pem")" = "$(fingerprint "$PKI/ca.pem")" ] || fail "--chain is not the CA"
openssl verify -CAfile "$D/out/ca.pem" "$D/on-token.pem" >/dev/null || fail "openssl: does not verify"
openssl x509 -in "$D/on-token.pem" -noout -ext subjectAltName |
	grep -q 'DNS:localhost, IP Address:127.0.0.1, URI:spiffe://test.example/gw' ||
	fail "SANs: $(openssl x509 -in "$D/on-token.pem" -noout -ext subjectAltName)"
ok "enrolled over EST: certificate on the token and in the file, for the token key"

# mtls-agent with the key and the certificate read from the token.
server_agent "$(key_uri ec256)" "pkcs11:token=$MTLS_TEST_TOKEN;type=cert" --allow-cn peer \
	--allow-cn tok-rsa2048
got=$(timeout 10 openssl s_client -connect "127.0.0.1:$SP" -servername localhost \
	-cert "$PKI/peer.pem" -key "$PKI/peer.key" -CAfile "$PKI/ca.pem" -verify_return_error \
	</dev/null 2>"$D/s_client.err" | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2)
[ "$got" = "$(fingerprint "$D/out/gw.pem")" ] ||
	fail "the agent presented '$got', not the enrolled certificate"
client_agent "$(key_uri rsa2048)" "$PKI/tok-rsa2048.pem"
"$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns 4 --bytes 65536 --seconds 30 ||
	fail "bytes did not come back through client agent -> server agent"
ok "mtls-agent serves mTLS with the enrolled certificate from the token; bytes flow"

# Trust by the server certificate's SHA-256 (no CA file), 127.0.0.1.
pin=$(openssl x509 -in "$PKI/peer.pem" -noout -fingerprint -sha256 | cut -d= -f2)
run pinned "$PROV" enroll --key "$(key_uri ec384)" --est "https://127.0.0.1:$EST_PORT" \
	--pin-sha256 "$pin" --user alice --password-file "$D/est-password" \
	--pin-file "$MTLS_TEST_PIN_FILE" --subject "/CN=gw-ec384" --out "$D/out/ec384.pem"
expect_rc pinned 0
[ "$(pubkey_of "$D/out/ec384.pem")" = "$(cat "$PKI/tok-ec384.pub")" ] || fail "pinned: wrong key"
ok "a pinned server fingerprint is trust enough (P-384 key)"

# A factory certificate on the token (rsa2048's, from mkpki) authenticates
# /simpleenroll instead of a password; its key signs the TLS handshake.
run factory "$PROV" enroll --key "$(key_uri ec384)" --est "$EST_URL" --cacert "$PKI/ca.pem" \
	--client-cert "$PKI/tok-rsa2048.pem" --client-key "$(key_uri rsa2048)" \
	--pin-file "$MTLS_TEST_PIN_FILE" --subject "/CN=gw-ec384-factory" --out "$D/out/f.pem"
expect_rc factory 0
grep -q 'simpleenroll -> 200 (auth cert /OU=agents/CN=tok-rsa2048)' "$D/est.log" ||
	fail "the server did not see the factory certificate: $(tail -3 "$D/est.log")"
[ "$(pubkey_of "$D/out/f.pem")" = "$(cat "$PKI/tok-ec384.pub")" ] || fail "factory: wrong key"
ok "a factory certificate whose key is on the token authenticates enrollment"

# A factory certificate that is not its key's is refused before connecting.
run wrongfactory "$PROV" enroll --key "$(key_uri ec384)" --est "$EST_URL" \
	--cacert "$PKI/ca.pem" --client-cert "$PKI/tok-ec256-other.pem" \
	--client-key "$(key_uri ec256)" --pin-file "$MTLS_TEST_PIN_FILE" --subject "/CN=x" \
	--out "$D/out/x.pem"
expect_rc wrongfactory 1
said wrongfactory 'setting up the EST client: .*is for another key'
[ ! -e "$D/out/x.pem" ] || fail "a file was written"
ok "a client certificate for another key is refused"
