#!/usr/bin/env bash
# Our EST test server against an independent EST client, strongSwan's
# `pki` (Debian strongswan-pki): a key and a PKCS#10 request made by pki,
# /cacerts read by pki --estca, /simpleenroll with HTTP Basic auth by
# pki --est (pki checks the server's TLS certificate against the CA, and the
# issued certificate's chain), a wrong password refused with 401, and
# /simplereenroll with pki's old certificate and key as TLS client
# credentials, refused when the request's subject is not the certificate's.
# openssl checks what was issued. So the server speaks RFC 7030 as another
# implementation reads it, not only as our client does.
set -eu
. "$(dirname "$0")/provision_est_lib.sh"
command -v pki >/dev/null || { echo "SKIP: strongSwan's pki is not installed (strongswan-pki)"; exit 77; }
est_setup
start_est est
S=$D/sw
mkdir -p "$S"

# pki ARGS...: strongSwan's pki, its plugin chatter (TPM) aside.
spki() { pki "$@"; }

run gen spki --gen --type ecdsa --size 256 --outform der
expect_rc gen 0
cp "$D/gen.out" "$S/key.der"
run req spki --req --in "$S/key.der" --type ecdsa --dn "OU=peers, CN=sw-client" --san sw.test \
	--outform der
expect_rc req 0
cp "$D/req.out" "$S/req.der"

# /cacerts through pki --estca (certs-only PKCS#7, base64).
run estca spki --estca --url "$EST_URL" --cacert "$PKI/ca.pem" --caout "$S/cacert.pem" \
	--outform pem --force
expect_rc estca 0
[ "$(fingerprint "$S/cacert.pem")" = "$(fingerprint "$PKI/ca.pem")" ] ||
	fail "pki --estca did not get the test CA: $(cat "$D/estca.err")"
ok "pki --estca read /cacerts: the test CA"

# /simpleenroll with Basic auth.
run est spki --est --url "$EST_URL" --in "$S/req.der" --cacert "$PKI/ca.pem" \
	--userpass alice:enroll-secret --outform pem
expect_rc est 0
said est 'Issued certificate is trusted'
cp "$D/est.out" "$S/cert.pem"
openssl verify -CAfile "$PKI/ca.pem" "$S/cert.pem" >/dev/null || fail "openssl does not verify it"
openssl x509 -in "$S/cert.pem" -noout -subject | grep -q 'OU = peers, CN = sw-client' ||
	fail "wrong subject: $(openssl x509 -in "$S/cert.pem" -noout -subject)"
openssl x509 -in "$S/cert.pem" -noout -ext subjectAltName | grep -q 'DNS:sw.test' ||
	fail "the request's SAN is missing"
[ "$(openssl pkey -inform DER -in "$S/key.der" -pubout)" = "$(pubkey_of "$S/cert.pem")" ] ||
	fail "the issued certificate is not for pki's key"
grep -q 'POST /.well-known/est/simpleenroll -> 200 (auth basic)' "$D/est.log" ||
	fail "the server did not log a Basic-auth enrollment"
ok "pki --est enrolled with Basic auth; openssl verifies the certificate"

run badpw spki --est --url "$EST_URL" --in "$S/req.der" --cacert "$PKI/ca.pem" \
	--userpass alice:wrong
[ "$RC" -ne 0 ] || fail "a wrong password was accepted"
said badpw 'HTTP 401'
ok "a wrong password: pki reports HTTP 401"

# /simplereenroll: the old certificate and key authenticate the TLS connection.
openssl pkey -inform DER -in "$S/key.der" -out "$S/key.pem"
run reenroll spki --est --url "$EST_URL" --in "$S/req.der" --cacert "$PKI/ca.pem" \
	--cert "$S/cert.pem" --key "$S/key.pem" --outform pem
expect_rc reenroll 0
said reenroll 'Issued certificate is trusted'
grep -q 'POST /.well-known/est/simplereenroll -> 200 (auth cert /OU=peers/CN=sw-client)' \
	"$D/est.log" || fail "the server did not log a certificate-authenticated re-enrollment"
[ "$(openssl x509 -in "$D/reenroll.out" -noout -serial)" != \
	"$(openssl x509 -in "$S/cert.pem" -noout -serial)" ] || fail "re-enrollment gave the old certificate"
ok "pki --est --cert/--key re-enrolled over mTLS"

run req2 spki --req --in "$S/key.der" --type ecdsa --dn "CN=someone-else" --outform der
cp "$D/req2.out" "$S/req2.der"
run reother spki --est --url "$EST_URL" --in "$S/req2.der" --cacert "$PKI/ca.pem" \
	--cert "$S/cert.pem" --key "$S/key.pem"
[ "$RC" -ne 0 ] || fail "re-enrollment under another subject was accepted"
said reother 'HTTP 400'
grep -q 'simplereenroll -> 400' "$D/est.log" || fail "the server did not refuse it"
ok "re-enrollment with another subject is refused (400)"
