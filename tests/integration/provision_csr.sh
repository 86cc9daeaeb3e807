#!/bin/bash
# mtls-provision csr against a SoftHSM2 token: for every key type (EC P-256,
# P-384, RSA 2048, 3072 and 4096, the last made by keygen) the
# request passes `openssl req -verify`, carries the token key's public key,
# the subject as asked and the requested SANs; PSS, DER, usages and the
# RFC 4514 form work; bad subjects/SANs and a wrong PIN write nothing.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/provision_certs_lib.sh"

SANS=(--san dns:gw.example.org --san uri:spiffe://example.org/gw --san ip:192.0.2.10
	--san ip:2001:db8::10 --san email:ops@example.org)
WANT_SANS='DNS:gw.example.org, URI:spiffe://example.org/gw, IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:10, email:ops@example.org'

# The token's public key, independently: pkcs11-tool's EC_POINT (uncompressed
# point after the OCTET STRING header) or its DER SPKI for RSA.
token_pub() { # LABEL ID
	if [ "${1#ec}" != "$1" ]; then
		pkcs11-tool --module "$M" --token-label "$MTLS_TEST_TOKEN" --list-objects --type pubkey |
			awk -v l="$1" '/^Public Key Object/ { p = "" } /EC_POINT:/ { p = $2 }
				$1 == "label:" && $2 == l { print substr(p, 5); exit }'
	else
		pkcs11-tool --module "$M" --token-label "$MTLS_TEST_TOKEN" --read-object --type pubkey \
			--id "$2" -o "$D/pub-$1.der" >/dev/null 2>&1
		od -An -v -tx1 "$D/pub-$1.der" | tr -d ' \n'
	fi
}

csr_pub() { # FILE LABEL
	if [ "${2#ec}" != "$2" ]; then
		openssl req -in "$1" -noout -pubkey | openssl pkey -pubin -noout -text |
			awk '/^pub:/ { on = 1; next } /^[A-Z]/ { on = 0 } on' | tr -d ' :\n'
	else
		openssl req -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
			od -An -v -tx1 | tr -d ' \n'
	fi
}

# The template token has no RSA-4096 key: make one (the last key type).
"$PROV" keygen --key "pkcs11:token=$MTLS_TEST_TOKEN;object=rsa4096;id=%05?module-path=$M" \
	--type rsa-4096 --pin-file "$MTLS_TEST_PIN_FILE" >"$D/keygen4096.out" 2>&1 ||
	{ cat "$D/keygen4096.out" >&2; echo "FAIL: keygen rsa-4096" >&2; exit 1; }

for pair in ec256:01 ec384:02 rsa2048:03 rsa3072:04 rsa4096:05; do
	k=${pair%%:*} id=${pair#*:}
	csr_for "$k" "$D/$k.csr" "${SANS[@]}"
	openssl req -in "$D/$k.csr" -verify -noout 2>&1 | grep -q "verify OK" ||
		fail "$k: openssl req -verify does not accept the request"
	subj=$(openssl req -in "$D/$k.csr" -noout -subject -nameopt RFC2253)
	[ "$subj" = "subject=CN=gw-$k,OU=agents,O=Example" ] || fail "$k: subject is '$subj'"
	text=$(openssl req -in "$D/$k.csr" -noout -text)
	grep -qF "$WANT_SANS" <<<"$text" || fail "$k: SANs missing or different: $text"
	grep -q "TLS Web Server Authentication, TLS Web Client Authentication" <<<"$text" ||
		fail "$k: default EKU missing"
	want=$(token_pub "$k" "$id")
	[ -n "$want" ] && [ "$(csr_pub "$D/$k.csr" "$k")" = "$want" ] ||
		fail "$k: the request's public key is not the token key's"
	ok "$k: request verifies, subject, SANs and public key as asked"
done

# RSA-PSS on request, DER output, chosen usages, the RFC 4514 subject form.
csr_for rsa2048 "$D/pss.der" --pss --der --ku digitalSignature --eku clientAuth \
	--subject 'CN=gw\, pss+UID=7,O=Example,C=DE'
openssl req -inform DER -in "$D/pss.der" -verify -noout 2>&1 | grep -q "verify OK" ||
	fail "PSS request does not verify"
text=$(openssl req -inform DER -in "$D/pss.der" -noout -text)
grep -q "rsassaPss" <<<"$text" || fail "PSS request not signed with rsassaPss"
grep -A1 "Extended Key Usage" <<<"$text" | grep -q "^ *TLS Web Client Authentication$" ||
	fail "EKU is not clientAuth alone"
grep -A1 "X509v3 Key Usage" <<<"$text" | grep -q "^ *Digital Signature$" || fail "KU wrong"
subj=$(openssl req -inform DER -in "$D/pss.der" -noout -subject -nameopt RFC2253)
# (openssl's RFC 2253 output reverses the members of a multi-valued RDN too)
[ "$subj" = 'subject=UID=7+CN=gw\, pss,O=Example,C=DE' ] &&
	grep -q 'Subject: C = DE, O = Example, CN = "gw, pss" + UID = 7' <<<"$text" ||
	fail "RFC 4514 subject came out as '$subj'"
ok "RSA-PSS, DER, chosen usages and the RFC 4514 form"

# Refusals: usage errors exit 2, a wrong PIN exits 1; no file either way.
bad() { # NAME WANT-RC REGEX ARGS...
	local name=$1 rc=$2 re=$3
	shift 3
	run "$name" "$PROV" csr --key "$(uri ec256)" --out "$D/refused.csr" "$@"
	expect_rc "$name" "$rc"
	said "$name" "$re"
	[ ! -e "$D/refused.csr" ] || fail "$name: a file was written"
}
P=(--pin-file "$MTLS_TEST_PIN_FILE")
bad bad-type 2 'unknown attribute type "XX"' "${P[@]}" --subject /XX=1
bad bad-escape 2 'must be followed by' "${P[@]}" --subject 'CN=a\q'
bad bad-country 2 'two-letter' "${P[@]}" --subject /C=D1
bad bad-dns 2 'SAN "dns:-x.example": not a host name' "${P[@]}" --subject /CN=x --san dns:-x.example
bad bad-ip 2 'not an IPv4 or IPv6' "${P[@]}" --subject /CN=x --san ip:300.1.1.1
bad bad-kind 2 'unknown type' "${P[@]}" --subject /CN=x --san dn:x
bad bad-ku 2 'unknown key usage "sign"' "${P[@]}" --subject /CN=x --ku sign
bad no-subject 2 'required' "${P[@]}"
printf '9999' >"$D/wrong-pin"
chmod 600 "$D/wrong-pin"
bad wrong-pin 1 'PIN' --pin-file "$D/wrong-pin" --subject /CN=x
ok "malformed subjects and SANs, bad usages and a wrong PIN write nothing"
