#!/bin/bash
# mtls-provision import against a SoftHSM2 token: a certificate for another
# key, a truncated PEM, garbage and an empty file are refused and the
# token's objects and the files on disk stay byte-identical; a good one
# lands on the token (pkcs11-tool reads it back identical, with the key's
# id, label, subject and serial) and in the file, the previous file kept as
# .prev; a second import replaces the token's certificate.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/provision_certs_lib.sh"

OUT=$D/out
mkdir -p "$OUT"
ca_for "$D/ca"
csr_for ec256 "$D/ec256.csr" --san dns:gw.example.org
csr_for ec384 "$D/ec384.csr"
run sign-good "$PROV" ca sign --dir "$D/ca" --csr "$D/ec256.csr" --out "$D/good.pem"
expect_rc sign-good 0
run sign-other "$PROV" ca sign --dir "$D/ca" --csr "$D/ec384.csr" --out "$D/other.pem"
expect_rc sign-other 0
printf 'the old certificate file\n' >"$OUT/cert.pem"

import() { # NAME CERT ARGS...
	local name=$1 cert=$2
	shift 2
	run "$name" "$PROV" import --key "$(uri ec256)" --pin-file "$MTLS_TEST_PIN_FILE" \
		--cert "$cert" --to-token --out "$OUT/cert.pem" "$@"
}

# Refused inputs: nothing on the token or on disk changes.
snapshot "$OUT" "$D/before"
refuse() { # NAME CERT REGEX
	import "$1" "$2"
	expect_rc "$1" 1
	said "$1" "$3"
	snapshot "$OUT" "$D/after"
	cmp -s "$D/before" "$D/after" || {
		diff "$D/before" "$D/after" >&2
		fail "$1: the token or the files changed"
	}
}
refuse other-key "$D/other.pem" \
	"for another key \(EC SECP384R1.*than the token key pkcs11:token=.*object=ec256.*\(EC SECP256R1"
head -c 400 "$D/good.pem" >"$D/truncated.pem"
refuse truncated "$D/truncated.pem" "no END line"
sed '3s/./#/' "$D/good.pem" >"$D/badbase64.pem"
refuse bad-base64 "$D/badbase64.pem" "does not decode|not a valid X.509"
printf '<html><body>502 Bad Gateway</body></html>\n' >"$D/garbage.pem"
refuse garbage "$D/garbage.pem" "neither PEM nor"
: >"$D/empty.pem"
refuse empty "$D/empty.pem" "empty"
ok "another key's certificate, truncated, broken, HTML and empty files change nothing"

# A good certificate with its chain: on the token and in the file.
import good "$D/good.pem" --chain "$D/ca/ca.pem"
expect_rc good 0
p11 --read-object --type cert --id 01 -o "$D/token.der" >/dev/null 2>&1 ||
	fail "pkcs11-tool cannot read the certificate with id 01"
[ "$(od -An -v -tx1 "$D/token.der" | tr -d ' \n')" = "$(der_of "$D/good.pem")" ] ||
	fail "the token's certificate differs from the imported one"
listing=$(p11 --list-objects --type cert 2>/dev/null)
[ "$(grep -c '^Certificate Object' <<<"$listing")" = 1 ] || fail "not one certificate: $listing"
grep -q "label: *ec256$" <<<"$listing" || fail "certificate label is not the key's: $listing"
grep -q "ID: *01$" <<<"$listing" || fail "certificate id is not the key's: $listing"
grep -q "subject: *DN: O=Example, OU=agents, CN=gw-ec256" <<<"$listing" ||
	fail "CKA_SUBJECT wrong: $listing"
serial=$(openssl x509 -in "$D/good.pem" -noout -serial | cut -d= -f2)
grep -qi "serial: *$serial$" <<<"$listing" || fail "CKA_SERIAL_NUMBER wrong ($serial): $listing"
[ "$(der_of "$OUT/cert.pem")" = "$(der_of "$D/good.pem")" ] || fail "file: leaf differs"
[ "$(grep -c 'BEGIN CERTIFICATE' "$OUT/cert.pem")" = 2 ] || fail "file: chain missing"
[ "$(cat "$OUT/cert.pem.prev")" = "the old certificate file" ] || fail ".prev is not the old file"
ok "the certificate is on the token (id 01, label ec256, subject, serial) and in the file"

# A renewed certificate replaces the token's and keeps the last file.
run sign-again "$PROV" ca sign --dir "$D/ca" --csr "$D/ec256.csr" --out "$D/good2.pem"
expect_rc sign-again 0
import again "$D/good2.pem"
expect_rc again 0
p11 --read-object --type cert --id 01 -o "$D/token2.der" >/dev/null 2>&1
[ "$(od -An -v -tx1 "$D/token2.der" | tr -d ' \n')" = "$(der_of "$D/good2.pem")" ] ||
	fail "the token does not hold the new certificate"
[ "$(p11 --list-objects --type cert 2>/dev/null | grep -c '^Certificate Object')" = 1 ] ||
	fail "the old certificate was not replaced"
[ "$(der_of "$OUT/cert.pem.prev")" = "$(der_of "$D/good.pem")" ] || fail ".prev is not the last file"
ok "a second import replaces the token's certificate; .prev holds the previous file"

# Token failures (the fault module wrapping SoftHSM2): a failed create
# changes nothing; a failed destroy of the old certificate removes the new
# one again, so the token still holds exactly the old one.
if [ -n "${MTLS_FAULT_LIB:-}" ] && [ -r "$MTLS_FAULT_LIB" ]; then
	export MTLS_FAULT_CONF=$D/fault.conf
	fault_import() { # NAME FAULT-LINE
		printf '%s\n' "$2" >"$D/fault.conf.tmp"
		mv "$D/fault.conf.tmp" "$MTLS_FAULT_CONF"
		snapshot "$OUT" "$D/before-$1"
		run "$1" "$PROV" import --pin-file "$MTLS_TEST_PIN_FILE" --cert "$D/good.pem" \
			--to-token --out "$OUT/cert.pem" \
			--key "pkcs11:token=$MTLS_TEST_TOKEN;object=ec256;type=private?module-path=$MTLS_FAULT_LIB"
		expect_rc "$1" 1
		snapshot "$OUT" "$D/after-$1"
		cmp -s "$D/before-$1" "$D/after-$1" || {
			diff "$D/before-$1" "$D/after-$1" >&2
			fail "$1: the token or the files changed"
		}
	}
	fault_import create-fails "fail.C_CreateObject = CKR_DEVICE_MEMORY"
	said create-fails "C_CreateObject.*CKR_DEVICE_MEMORY"
	fault_import destroy-fails "fail.C_DestroyObject = CKR_DEVICE_ERROR calls=1"
	said destroy-fails "C_DestroyObject.*CKR_DEVICE_ERROR.*nothing changed"
	p11 --read-object --type cert --id 01 -o "$D/token3.der" >/dev/null 2>&1
	[ "$(od -An -v -tx1 "$D/token3.der" | tr -d ' \n')" = "$(der_of "$D/good2.pem")" ] ||
		fail "after a failed replacement the token does not hold the old certificate"
	unset MTLS_FAULT_CONF
	ok "a failed create or a failed destroy leaves the token's certificates as they were"
else
	fail "MTLS_FAULT_LIB is not set (run through ctest)"
fi

# Usage errors.
run nothing "$PROV" import --key "$(uri ec256)" --cert "$D/good.pem"
expect_rc nothing 2
said nothing "nothing to do"
ok "import without --to-token or --out is a usage error"
