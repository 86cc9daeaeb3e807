#!/usr/bin/env bash
# mtls-provision keygen on SoftHSM2 (decision 7), checked by independent
# tools: pkcs11-tool lists what was made, p11-read-secret (a PKCS#11 client
# of its own) tries to read the secret parts.
#
#   provision_keygen.sh types    every key type: sensitive, always sensitive,
#                                never extractable; secrets unreadable; the
#                                printed URI opens the key
#   provision_keygen.sh refuse   taken ids and labels (of any object class),
#                                conflicting names, no PIN, no mechanism:
#                                refused, the token's objects unchanged
#   provision_keygen.sh undo     the read-back fails after generation: both
#                                new objects are destroyed again
set -eu
. "$(dirname "$0")/provision_keys_lib.sh"
READ=$BIN/p11-read-secret
[ -x "$READ" ] || fail "$READ is not built"
T=$MTLS_TEST_TOKEN

# access_ok ID: the one private key with ID is sensitive, always sensitive and
# never extractable, not extractable, and can sign and nothing else: no
# decrypt, unwrap or derive (pkcs11-tool's listing).
access_ok() {
	listed privkey "$1" >"$D/priv-$1.txt"
	awk '
		/^Private Key Object/ { n++ }
		/^[ \t]+Usage:/ {
			if ($0 ~ /[ ,]sign(,|$)/) sign = 1
			if ($0 ~ /decrypt|unwrap|derive/) other = $0
		}
		/^[ \t]+Access:/ {
			line = $0
			sub(/^[ \t]+Access:[ \t]*/, "", line)
			k = split(line, item, /, */)
			for (i = 1; i <= k; i++) {
				sub(/[ \t]+$/, "", item[i])
				a[item[i]] = 1
			}
		}
		END {
			if (n != 1) { print "expected one private key, found " n; exit 1 }
			if (!sign) { print "no sign usage"; exit 1 }
			if (other != "") { print "uses besides signing:" other; exit 1 }
			if (other != "") { print "uses besides signing:" other; exit 1 }
			if (!a["sensitive"] || !a["always sensitive"] || !a["never extractable"]) {
				print "not sensitive/always sensitive/never extractable"; exit 1
			}
			if (a["extractable"]) { print "extractable"; exit 1 }
		}' "$D/priv-$1.txt" >&2 || {
		cat "$D/priv-$1.txt" >&2
		fail "private key $1 is not provably non-exportable (pkcs11-tool)"
	}
}

# pub_ok ID LABEL WHAT: one public key with ID and LABEL; WHAT (a regex) in its listing.
pub_ok() {
	listed pubkey "$1" >"$D/pub-$1.txt"
	[ "$(grep -c '^Public Key Object' "$D/pub-$1.txt")" = 1 ] || fail "not one public key with id $1"
	grep -Eq "label: +$2\$" "$D/pub-$1.txt" || fail "public key $1 lacks label $2"
	grep -Eq -- "$3" "$D/pub-$1.txt" || { cat "$D/pub-$1.txt" >&2; fail "public key $1: no '$3'"; }
}

# secrets_sealed ID ATTR...: reading each attribute fails with CKR_ATTRIBUTE_SENSITIVE,
# and pkcs11-tool cannot export the private key either.
secrets_sealed() {
	local id=$1
	shift
	run "read-$id" "$READ" "$M" "$T" "$MTLS_TEST_PIN_FILE" "$id" "$@"
	expect_rc "read-$id" 0
	[ "$(grep -c ': CKR_ATTRIBUTE_SENSITIVE$' "$D/read-$id.out")" = "$#" ] ||
		fail "p11-read-secret on $id: $(cat "$D/read-$id.out")"
	if p11 --read-object --type privkey --id "$id" -o "$D/stolen-$id" >/dev/null 2>&1 &&
		[ -s "$D/stolen-$id" ]; then
		fail "pkcs11-tool --read-object exported private key $id"
	fi
}

# uri_opens NAME LABEL TYPE: the private key URI printed on stdout opens the key (status).
uri_opens() {
	local printed
	printed=$(cat "$D/$1.out")
	case $printed in
	pkcs11:*type=private*module-path=*) ;;
	*) fail "$1 printed '$printed', not a private key URI" ;;
	esac
	run "$1-status" "$PROV" status --key "$printed" --pin-file "$MTLS_TEST_PIN_FILE"
	expect_rc "$1-status" 0
	has "$1-status" out "^  label +$2\$"
	has "$1-status" out "^  type +$3"
}

types() {
	local id
	# ec-p256: label from the URI, no id: 8 random bytes.
	run gen-p256 "$PROV" keygen --key "pkcs11:token=$T;object=gen-p256?module-path=$M" \
		--type ec-p256 --pin-file "$MTLS_TEST_PIN_FILE"
	expect_rc gen-p256 0
	id=$(sed -n 's/.*;id=\([^;]*\);.*/\1/p' "$D/gen-p256.out" | tr -d '%' | tr 'A-F' 'a-f')
	[ "${#id}" = 16 ] || fail "ec-p256 without an id got id '$id', not 8 random bytes"
	access_ok "$id"
	pub_ok "$id" gen-p256 'EC_PARAMS: *06082a8648ce3d030107'
	secrets_sealed "$id" CKA_VALUE
	uri_opens gen-p256 gen-p256 'EC P-256'
	ok "ec-p256 (random id $id)"

	# ec-p384: id and label as options.
	run gen-p384 "$PROV" keygen --key "pkcs11:token=$T?module-path=$M" --type ec-p384 \
		--id 21 --label gen-p384 --pin-file "$MTLS_TEST_PIN_FILE"
	expect_rc gen-p384 0
	access_ok 21
	pub_ok 21 gen-p384 'EC_PARAMS: *06052b81040022'
	secrets_sealed 21 CKA_VALUE
	uri_opens gen-p384 gen-p384 'EC P-384'
	ok "ec-p384"

	# RSA: id in the URI for one, options for the others.
	run gen-rsa2048 "$PROV" keygen --key "pkcs11:token=$T;id=%22;object=gen-rsa2048?module-path=$M" \
		--type rsa-2048 --pin-file "$MTLS_TEST_PIN_FILE"
	expect_rc gen-rsa2048 0
	for bits in 3072 4096; do
		run "gen-rsa$bits" "$PROV" keygen --key "pkcs11:token=$T?module-path=$M" \
			--type "rsa-$bits" --id "$((bits / 1024 + 20))" --label "gen-rsa$bits" \
			--pin-file "$MTLS_TEST_PIN_FILE"
		expect_rc "gen-rsa$bits" 0
	done
	for pair in 2048:22 3072:23 4096:24; do
		bits=${pair%%:*} id=${pair#*:}
		access_ok "$id"
		pub_ok "$id" "gen-rsa$bits" "RSA $bits bits"
		secrets_sealed "$id" CKA_PRIVATE_EXPONENT CKA_PRIME_1
		uri_opens "gen-rsa$bits" "gen-rsa$bits" 'RSA, '"$bits"' bits'
		ok "rsa-$bits"
	done
}

# refused NAME PATTERN ARGS...: keygen refuses (exit 2 or 1) naming PATTERN.
refused() {
	local name=$1 want=$2 pattern=$3
	shift 3
	run "$name" "$PROV" keygen "$@"
	expect_rc "$name" "$want"
	has "$name" err "$pattern"
	[ ! -s "$D/$name.out" ] || fail "$name printed a URI: $(cat "$D/$name.out")"
}

refuse() {
	local pf=(--pin-file "$MTLS_TEST_PIN_FILE") base="pkcs11:token=$T?module-path=$M"
	make_ca
	cert_for 01 onlycert
	store_cert onlycert 77 # a certificate object: id 77, label onlycert
	objects >"$D/before.txt"
	grep -q 'label: *onlycert' "$D/before.txt" || fail "the certificate object is not listed"

	refused id-taken 2 'already ha.* id 01' --key "$base" --type ec-p256 --id 01 --label fresh "${pf[@]}"
	refused label-taken 2 'already ha.* label "ec256"' --key "$base" --type ec-p256 --label ec256 "${pf[@]}"
	refused dup-label 2 '[0-9]+ objects .* label "dup"' --key "pkcs11:token=$T;object=dup?module-path=$M" \
		--type ec-p256 --id 99 "${pf[@]}"
	refused cert-id 2 'already ha.* id 77' --key "$base" --type rsa-2048 --id 77 --label fresh "${pf[@]}"
	refused cert-label 2 'already ha.* label "onlycert"' --key "$base" --type ec-p256 --label onlycert "${pf[@]}"
	refused conflict-id 2 "id= and --id differ" --key "pkcs11:token=$T;id=%30?module-path=$M" \
		--type ec-p256 --id 31 --label fresh "${pf[@]}"
	refused conflict-label 2 "object= and --label differ" \
		--key "pkcs11:token=$T;object=a?module-path=$M" --type ec-p256 --label b "${pf[@]}"
	refused no-label 2 'needs a label' --key "$base" --type ec-p256 "${pf[@]}"
	refused bad-type 2 "unknown --type 'ec-p521'" --key "$base" --type ec-p521 --label fresh "${pf[@]}"
	refused no-pin 2 'no PIN source was given' --key "$base" --type ec-p256 --label fresh
	refused pin-value 2 'pin-value' --key "pkcs11:token=$T;object=fresh?module-path=$M&pin-value=$PIN" \
		--type ec-p256
	fault 'hide_mechanisms = CKM_RSA_PKCS_KEY_PAIR_GEN'
	refused no-mech 1 'does not offer CKM_RSA_PKCS_KEY_PAIR_GEN' \
		--key "pkcs11:token=$T?module-path=$MTLS_FAULT_LIB" --type rsa-2048 --label fresh "${pf[@]}"
	fault ''
	objects >"$D/after.txt"
	diff -u "$D/before.txt" "$D/after.txt" >&2 || fail "a refused keygen changed the token's objects"
	ok "taken ids/labels (keys and a certificate), conflicting names, no PIN, pin-value and a missing mechanism are refused; the object list is unchanged"
}

undo() {
	local pf=(--pin-file "$MTLS_TEST_PIN_FILE") key="pkcs11:token=$T;object=undo?module-path=$MTLS_FAULT_LIB"
	objects >"$D/before.txt"
	# Every C_GetAttributeValue fails: the first is the read-back of CKA_SENSITIVE.
	fault 'fail.C_GetAttributeValue = CKR_DEVICE_ERROR'
	run undo1 "$PROV" keygen --key "$key" --type ec-p256 --id 55 "${pf[@]}"
	expect_rc undo1 1
	has undo1 err 'CKA_SENSITIVE cannot be read back'
	has undo1 err 'both new objects were destroyed again'
	# The third read-back (CKA_NEVER_EXTRACTABLE) fails, after two that held.
	fault 'fail.C_GetAttributeValue = CKR_DEVICE_ERROR calls=3'
	run undo2 "$PROV" keygen --key "$key" --type rsa-2048 --id 55 "${pf[@]}"
	expect_rc undo2 1
	has undo2 err 'CKA_NEVER_EXTRACTABLE cannot be read back'
	has undo2 err 'destroyed again'
	fault ''
	objects >"$D/after.txt"
	diff -u "$D/before.txt" "$D/after.txt" >&2 || fail "a keygen that failed its read-back left objects behind"
	# Nothing with that id or label is left to block a new try.
	run undo3 "$PROV" keygen --key "$key" --type ec-p256 --id 55 "${pf[@]}"
	expect_rc undo3 0
	access_ok 55
	ok "a failed read-back destroys both new objects; the same id and label work afterwards"
}

case ${1-} in
types) types ;;
refuse) refuse ;;
undo) undo ;;
*) fail "usage: provision_keygen.sh types|refuse|undo" ;;
esac
