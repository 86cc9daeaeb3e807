#!/bin/bash
# mtls-provision ca: init makes a CA certificate openssl accepts as a CA
# (software key 0600, or a key on the token); sign verifies the request
# first, copies its subject and SANs, sets the profile's usages and a random
# 16-byte serial; openssl verify accepts what it issues. Tampered requests,
# an open key file and a second init are refused and write nothing.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/provision_certs_lib.sh"

# A software CA.
run init "$PROV" ca init --dir "$D/ca" --soft --subject "/O=mtls tests/CN=Test CA" --days 100
expect_rc init 0
[ "$(stat -c %a "$D/ca/ca.key")" = 600 ] || fail "ca.key is not mode 0600"
text=$(openssl x509 -in "$D/ca/ca.pem" -noout -text)
grep -A1 "Basic Constraints" <<<"$text" | grep -q "CA:TRUE" || fail "ca.pem is no CA: $text"
grep -A1 "X509v3 Key Usage" <<<"$text" | grep -q "Certificate Sign, CRL Sign" || fail "CA usage"
openssl verify -CAfile "$D/ca/ca.pem" "$D/ca/ca.pem" >/dev/null || fail "CA not self-consistent"
ok "ca init: a CA certificate with a 0600 software key"

snapshot "$D/ca" "$D/ca-before"
run again "$PROV" ca init --dir "$D/ca" --soft
expect_rc again 1
said again "is a CA already"
snapshot "$D/ca" "$D/ca-after"
cmp -s "$D/ca-before" "$D/ca-after" || fail "a second init changed the CA"
ok "a second init is refused and changes nothing"

SANS=(--san dns:gw.example.org --san ip:192.0.2.10 --san uri:spiffe://example.org/gw)
for k in ec256 rsa2048; do
	csr_for "$k" "$D/$k.csr" "${SANS[@]}"
	run "sign-$k" "$PROV" ca sign --dir "$D/ca" --csr "$D/$k.csr" --out "$D/$k.pem" \
		--profile server --days 30
	expect_rc "sign-$k" 0
	openssl verify -CAfile "$D/ca/ca.pem" "$D/$k.pem" >/dev/null || fail "$k: openssl verify"
	req_sans=$(openssl req -in "$D/$k.csr" -noout -text | grep -A1 "Subject Alternative Name" | tail -1)
	crt_sans=$(openssl x509 -in "$D/$k.pem" -noout -ext subjectAltName | tail -1)
	[ -n "$req_sans" ] && [ "$(echo $req_sans)" = "$(echo $crt_sans)" ] ||
		fail "$k: SANs not copied ('$req_sans' vs '$crt_sans')"
	[ "$(openssl x509 -in "$D/$k.pem" -noout -subject -nameopt RFC2253)" = \
		"subject=CN=gw-$k,OU=agents,O=Example" ] || fail "$k: subject not copied"
	openssl x509 -in "$D/$k.pem" -noout -ext extendedKeyUsage | tail -1 |
		grep -qx " *TLS Web Server Authentication" || fail "$k: profile server not applied"
	openssl x509 -in "$D/$k.pem" -noout -checkend $((29 * 86400)) >/dev/null &&
		! openssl x509 -in "$D/$k.pem" -noout -checkend $((31 * 86400)) >/dev/null ||
		fail "$k: not valid for 30 days"
	serial=$(openssl x509 -in "$D/$k.pem" -noout -serial | cut -d= -f2)
	[ "${#serial}" = 32 ] || fail "$k: serial $serial is not 16 bytes"
	eval "serial_$k=$serial"
	ok "$k: issued, verifies, SANs and subject copied, server profile, 16-byte serial"
done
# shellcheck disable=SC2154
[ "$serial_ec256" != "$serial_rsa2048" ] || fail "two certificates share a serial"
openssl x509 -in "$D/rsa2048.pem" -noout -ext keyUsage | grep -q "Key Encipherment" ||
	fail "rsa2048: no keyEncipherment"

# A request made by openssl (an independent client), profile both.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$D/o.key" 2>/dev/null
openssl req -new -key "$D/o.key" -subj "/CN=openssl client" \
	-addext "subjectAltName=DNS:client.test,email:c@example.org" -out "$D/o.csr"
run sign-openssl "$PROV" ca sign --dir "$D/ca" --csr "$D/o.csr" --out "$D/o.pem"
expect_rc sign-openssl 0
openssl verify -CAfile "$D/ca/ca.pem" "$D/o.pem" >/dev/null || fail "openssl CSR: verify"
openssl x509 -in "$D/o.pem" -noout -ext subjectAltName | grep -q "DNS:client.test, email:c@example.org" ||
	fail "openssl CSR: SANs not copied"
openssl x509 -in "$D/o.pem" -noout -ext extendedKeyUsage |
	grep -q "TLS Web Server Authentication, TLS Web Client Authentication" || fail "profile both"
ok "a request made by openssl is issued with profile both"

# Refusals that write nothing.
openssl req -in "$D/ec256.csr" -outform DER -out "$D/t.der"
size=$(stat -c %s "$D/t.der")
printf '\x01' | dd of="$D/t.der" bs=1 seek=$((size - 4)) conv=notrunc status=none
run tampered "$PROV" ca sign --dir "$D/ca" --csr "$D/t.der" --out "$D/t.pem"
expect_rc tampered 1
said tampered "signature does not verify"
[ ! -e "$D/t.pem" ] || fail "a tampered request was issued"
chmod 644 "$D/ca/ca.key"
run open-key "$PROV" ca sign --dir "$D/ca" --csr "$D/ec256.csr" --out "$D/x.pem"
expect_rc open-key 2
said open-key "chmod 600"
[ ! -e "$D/x.pem" ] || fail "signed with a key file others can read"
chmod 600 "$D/ca/ca.key"
run bad-profile "$PROV" ca sign --dir "$D/ca" --csr "$D/ec256.csr" --out "$D/x.pem" --profile web
expect_rc bad-profile 2
ok "a tampered request, a key file others can read and a bad profile are refused"

# A CA whose key lives on the token (P-384 and RSA-3072).
for k in ec384 rsa3072; do
	run "init-$k" "$PROV" ca init --dir "$D/tca-$k" --key "$(uri "$k")" \
		--pin-file "$MTLS_TEST_PIN_FILE" --subject "/CN=Token CA $k"
	expect_rc "init-$k" 0
	[ ! -e "$D/tca-$k/ca.key" ] || fail "$k: a token CA has a key file"
	run "tsign-$k" "$PROV" ca sign --dir "$D/tca-$k" --pin-file "$MTLS_TEST_PIN_FILE" \
		--csr "$D/ec256.csr" --out "$D/t-$k.pem" --profile client
	expect_rc "tsign-$k" 0
	openssl verify -CAfile "$D/tca-$k/ca.pem" "$D/t-$k.pem" >/dev/null ||
		fail "$k: certificate from the token CA does not verify"
	ok "$k: a CA key on the token signs certificates openssl accepts"
done
