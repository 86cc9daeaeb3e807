#!/usr/bin/env bash
# mtls-provision status, text and --json, on keys of the test token: without
# a certificate, with a matching one on the token (written by pkcs11-tool,
# issued by an openssl CA made here), and with a certificate file for
# another key. The JSON is checked by python3 (a real parser) when it is
# there, else by jq, and by grep for the fields either way.
set -eu
. "$(dirname "$0")/provision_keys_lib.sh"
pf=(--pin-file "$MTLS_TEST_PIN_FILE")

# jcheck NAME [EXPR WANT]...: the output parses as JSON, and each value at
# EXPR (e.g. ['key']['id']) printed as JSON equals WANT. One python3 for
# all (when there is one; else jq checks that it parses, grep the rest).
jcheck() {
	local name=$1
	shift
	if command -v python3 >/dev/null; then
		python3 - "$D/$name.out" "$@" <<'PY' || fail "$name: the JSON is not what was expected: $(cat "$D/$name.out")"
import json, sys
d = json.load(open(sys.argv[1]))
bad = 0
for expr, want in zip(sys.argv[2::2], sys.argv[3::2]):
    got = json.dumps(eval(("d" if expr.startswith("[") else "") + expr))
    if got != want:
        print("%s is %s, expected %s" % (expr, got, want), file=sys.stderr)
        bad = 1
sys.exit(bad)
PY
	elif command -v jq >/dev/null; then
		jq . "$D/$name.out" >/dev/null || fail "$name: not valid JSON: $(cat "$D/$name.out")"
	fi
}

# 1. A key without a certificate.
run nocert "$PROV" status --key "$(uri ec256)" "${pf[@]}"
expect_rc nocert 0
has nocert out '^  type +EC P-256, 256 bits$'
has nocert out '^  id +01$'
has nocert out '^  label +ec256$'
has nocert out '^  sensitive +yes$'
has nocert out '^  always sensitive +yes$'
has nocert out '^  never extractable +yes$'
has nocert out '^  extractable +no$'
has nocert out '^  TLS 1.3 / 1.2 +yes / yes'
has nocert out '^certificate: none'
run nocert-json "$PROV" status --key "$(uri ec256)" "${pf[@]}" --json
expect_rc nocert-json 0
has nocert-json out '"type":"ec","curve":"P-256","bits":256,"id":"01","label":"ec256"'
has nocert-json out '"sensitive":true,"always_sensitive":true,"never_extractable":true,"extractable":false'
has nocert-json out '"certificates":\[\]'
jcheck nocert-json "['key']['tls13']" true "['key']['curve']" '"P-256"' "['certificates']" '[]'
ok "a key without a certificate: attributes, no certificate (text and JSON)"

# 2. Matching certificates on the token (EC and RSA), written by pkcs11-tool.
make_ca
cert_for 01 gw-ec
cert_for 03 gw-rsa
store_cert gw-ec 01
store_cert gw-rsa 03
for k in ec256:gw-ec rsa2048:gw-rsa; do
	key=${k%%:*} name=${k#*:}
	run "$name" "$PROV" status --key "$(uri "$key")" "${pf[@]}"
	expect_rc "$name" 0
	has "$name" out '^certificate \(token\)$'
	has "$name" out "^  subject +/O=Acme \"Q\" Ltd/CN=$name\$"
	has "$name" out "^  SANs +DNS:$name.test, IP:127.0.0.1, URI:spiffe://test.example/$name\$"
	has "$name" out '^  issuer +/CN=provision test CA$'
	has "$name" out '^  days left +(19|20)$'
	has "$name" out '^  matches key +yes$'
	run "$name-json" "$PROV" status --key "$(uri "$key")" "${pf[@]}" --json
	expect_rc "$name-json" 0
	has "$name-json" out '"matches_key":true'
	has "$name-json" out "\"subject\":\"/O=Acme \\\\\"Q\\\\\" Ltd/CN=$name\""
	expiry=$(openssl x509 -in "$D/$name.pem" -noout -enddate | sed 's/notAfter=//')
	jcheck "$name-json" "['certificates'][0]['sans']" \
		"[\"DNS:$name.test\", \"IP:127.0.0.1\", \"URI:spiffe://test.example/$name\"]" \
		"['certificates'][0]['source']" '"token"' \
		"['certificates'][0]['subject']" "\"/O=Acme \\\"Q\\\" Ltd/CN=$name\"" \
		"['certificates'][0]['issuer']" '"/CN=provision test CA"' \
		"['certificates'][0]['not_after']" "\"$(date -u -d "$expiry" +%Y-%m-%dT%H:%M:%SZ)\"" \
		"['key']['type']" "\"${key%%[0-9]*}\"" "len(d['certificates'])" 1
done
has gw-rsa out '^  type +RSA, 2048 bits$'
jcheck gw-rsa-json "['key']['bits']" 2048 "['key']['curve']" null
ok "matching certificates on the token (EC and RSA): subject, SANs, issuer, validity, match"

# 3. A certificate file for another key: shown, not matching, exit 1.
run other "$PROV" status --key "$(uri ec256)" "${pf[@]}" --cert "$D/gw-rsa.pem"
expect_rc other 1
has other out "^certificate \\(file:$D/gw-rsa.pem\\)\$"
has other out '^  matches key +NO'
run other-json "$PROV" status --key "$(uri ec256)" "${pf[@]}" --cert "$D/gw-rsa.der" --json
expect_rc other-json 1
jcheck other-json "['certificates'][0]['matches_key']" true \
	"['certificates'][1]['matches_key']" false \
	"['certificates'][1]['source']" "\"file:$D/gw-rsa.der\""
ok "a certificate file for another key: matches_key false, exit 1 (PEM and DER)"

# 4. Errors: a missing key, a missing file, no --key.
run nokey "$PROV" status --key "$(uri nope)" "${pf[@]}"
expect_rc nokey 1
has nokey err 'opening the key: no object matches'
run nofile "$PROV" status --key "$(uri ec256)" "${pf[@]}" --cert "$D/missing.pem"
expect_rc nofile 1
has nofile err 'reading --cert: .*missing.pem'
run usage "$PROV" status --json
expect_rc usage 2
run help "$PROV" status --help
expect_rc help 0
has help out '^usage: mtls-provision status'
ok "errors name what failed; usage errors exit 2"
