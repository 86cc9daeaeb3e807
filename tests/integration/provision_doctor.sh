#!/usr/bin/env bash
# mtls-provision doctor names the failing step, with what to do, for: a
# missing module, an absent token (the fault module's removed = 1), a wrong
# PIN, a missing key, a certificate for another key, an RSA key on a token
# without RSA-PSS (and without raw RSA: hide_mechanisms); plus no PIN source,
# and the all-well case. In each, the steps before pass, the failing one is
# the first FAIL and the "do" line follows it.
set -eu
. "$(dirname "$0")/provision_keys_lib.sh"
pf=(--pin-file "$MTLS_TEST_PIN_FILE")
STEPS="module token login key certificate mechanisms"

# doctor NAME STEP REGEX ARGS...: doctor exits 1; STEP is the first FAIL and
# its line matches REGEX; every step before it is ok (or warn); a do line
# follows the FAIL; every step is named once, in order.
doctor() {
	local name=$1 step=$2 re=$3 s first order
	shift 3
	run "$name" "$PROV" doctor "$@"
	expect_rc "$name" 1
	first=$(awk '$2 == "FAIL" { print $1; exit }' "$D/$name.out")
	[ "$first" = "$step" ] || { cat "$D/$name.out" >&2; fail "$name: first failing step is '$first', not $step"; }
	has "$name" out "^$step +FAIL +.*$re"
	awk -v s="$step" '$1 == s && $2 == "FAIL" { getline; if ($1 != "do") exit 1; f = 1 } END { exit !f }' \
		"$D/$name.out" || { cat "$D/$name.out" >&2; fail "$name: no 'do' line after the $step FAIL"; }
	for s in $STEPS; do
		[ "$s" = "$step" ] && break
		has "$name" out "^$s +(ok|warn) "
	done
	order=$(awk '$1 != "do" { printf "%s ", $1 }' "$D/$name.out")
	[ "$order" = "$STEPS " ] || fail "$name: steps were '$order'"
	ok "$name: $step FAIL: $(grep -E "^$step +FAIL" "$D/$name.out" | cut -c 20-140)"
}

make_ca
cert_for 01 ec
cert_for 03 rsa
store_cert ec 01
store_cert rsa 03

# All well: every step ok, exit 0.
run well "$PROV" doctor --key "$(uri ec256)" "${pf[@]}"
expect_rc well 0
for s in $STEPS; do has well out "^$s +ok "; done
has well out '^certificate +ok +the token.s certificate \(/O=Acme .*CN=ec\) matches the key'
ok "all well: six steps ok"

doctor no-module module 'cannot load PKCS#11 module /nonexistent/libnone.so' \
	--key "$(uri ec256 /nonexistent/libnone.so)" "${pf[@]}"
fault 'removed = 1'
doctor absent token 'no token matches' --key "$(uri ec256 "$MTLS_FAULT_LIB")" "${pf[@]}"
fault ''
(umask 077 && printf 9999 >"$D/wrong-pin")
doctor wrong-pin login 'CKR_PIN_INCORRECT' --key "$(uri ec256)" --pin-file "$D/wrong-pin"
doctor no-pin login 'no PIN source was given' --key "$(uri ec256)"
doctor no-key key 'no private key on the token matches object=nope' --key "$(uri nope)" "${pf[@]}"
doctor other-cert certificate 'holds another public key than the token key' \
	--key "$(uri ec256)" "${pf[@]}" --cert "$D/rsa.pem"
doctor no-cert certificate 'none on the token with the key.s CKA_ID' --key "$(uri ec384)" "${pf[@]}"

# RSA without RSA-PSS: with raw RSA left, the agent pads PSS itself (warn);
# with raw RSA hidden too, TLS 1.3 is impossible (FAIL).
PSS="CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS"
fault "hide_mechanisms = $PSS"
run pss-raw "$PROV" doctor --key "$(uri rsa2048 "$MTLS_FAULT_LIB")" "${pf[@]}"
expect_rc pss-raw 0
has pss-raw out '^mechanisms +warn +no CKM_RSA_PKCS_PSS on the token: the agent pads RSA-PSS itself'
ok "no RSA-PSS, raw RSA left: mechanisms warn, exit 0"
fault "hide_mechanisms = $PSS, CKM_RSA_X_509"
doctor no-pss mechanisms 'without CKM_RSA_PKCS_PSS .* cannot sign for TLS 1.3' \
	--key "$(uri rsa2048 "$MTLS_FAULT_LIB")" "${pf[@]}"
has no-pss out '^ +do +use an EC key'
# An EC key on a token without CKM_ECDSA: found, but nothing signs with it.
fault "hide_mechanisms = CKM_ECDSA"
run no-ecdsa "$PROV" doctor --key "$(uri ec256 "$MTLS_FAULT_LIB")" "${pf[@]}"
expect_rc no-ecdsa 1
has no-ecdsa out '^key +ok +found'
has no-ecdsa out '^certificate +skip +\(the key cannot sign here: see mechanisms\)'
has no-ecdsa out '^mechanisms +FAIL +.*no signature mechanism for this EC \(CKM_ECDSA\) key'
has no-ecdsa out '^ +do +use a key type the token can sign with'
ok "no-ecdsa: mechanisms FAIL"
fault ''

# The URI itself is wrong: exit 2, named.
run bad-uri "$PROV" doctor --key "pkcs11:token=$MTLS_TEST_TOKEN;objcet=ec256?module-path=$M" "${pf[@]}"
expect_rc bad-uri 2
has bad-uri out "^uri +FAIL +.*unknown path attribute 'objcet'"
ok "a malformed URI: uri FAIL, exit 2"
