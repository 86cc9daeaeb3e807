#!/usr/bin/env bash
# Bad EST answers change nothing: an HTML page, a truncated answer, an
# oversized one, base64 of garbage, an unreachable CA, a server that fails
# the pin or the CA check, a wrong password, a wrong token PIN. Each run asks to write the
# certificate to the token and over an existing file; each must fail with
# exit 1 and a message naming the problem, and the token's objects
# (pkcs11-tool's listing) and the files must be exactly as before.
set -eu
. "$(dirname "$0")/provision_est_lib.sh"
est_setup
mkdir -p "$D/out"
echo "the previous certificate" >"$D/out/cert.pem"
echo "the previous chain" >"$D/out/chain.pem"

# One enrollment first, so the token holds a certificate that must survive.
start_est good
run first enroll_basic ec256 --subject "/CN=gw" --to-token
expect_rc first 0
stop_est good
snapshot "$D/before"
grep -q '^Certificate Object' "$D/before" || fail "no certificate on the token before the runs"

# attempt NAME REGEX [enroll options...]: exit 1, stderr matching REGEX,
# nothing changed.
attempt() {
	local name=$1 want=$2
	shift 2
	run "$name" "$@" --subject "/CN=gw" --to-token --out "$D/out/cert.pem" \
		--chain "$D/out/chain.pem"
	expect_rc "$name" 1
	said "$name" "$want"
	snapshot "$D/after-$name"
	same_snapshot "$D/before" "$D/after-$name" "$name"
	ok "$name: $(grep -o 'mtls-provision enroll: .*' "$D/$name.err" | head -c 200)"
}

start_est html --reply-html
attempt html 'EST /simpleenroll: .*HTML page \(Content-Type .text/html.\).*begins .<!DOCTYPE html>' \
	enroll_basic ec256
start_est truncated --reply-truncated
attempt truncated 'EST /simpleenroll: .*truncated: [0-9]+ of the [0-9]+ body bytes' enroll_basic ec256
start_est oversized --reply-oversized
attempt oversized 'EST /simpleenroll: the EST answer is over 256 KiB: refused' enroll_basic ec256
start_est garbage --reply-garbage
attempt garbage 'EST /simpleenroll: .*not a PKCS#7 certs-only' enroll_basic ec256

# Nobody listens: tried again with backoff within --retry-for, then given up.
port=$(free_port)
SECONDS=0
attempt unreachable "EST /cacerts: cannot connect to the EST server localhost port $port: Connection refused \(([2-9]|[1-9][0-9]) attempts in [0-9]+ s" \
	"$PROV" enroll --key "$(key_uri ec256)" --est "https://localhost:$port" \
	--cacert "$PKI/ca.pem" --user alice --password-file "$D/est-password" \
	--pin-file "$MTLS_TEST_PIN_FILE" --retry-for 3s
[ "$SECONDS" -le 10 ] || fail "--retry-for 3s took $SECONDS s"

# The server is not who the pin or the CA file says: refused before a byte
# of the request (or the password) is sent.
start_est trust
attempt pin 'SHA-256 [0-9a-f]{64}, not the pinned 0{64}: refused' \
	"$PROV" enroll --key "$(key_uri ec256)" --est "$EST_URL" --pin-sha256 "$(printf '%064d' 0)" \
	--user alice --password-file "$D/est-password" --pin-file "$MTLS_TEST_PIN_FILE"
attempt otherca 'does not verify with --cacert .*other-ca.pem' \
	"$PROV" enroll --key "$(key_uri ec256)" --est "$EST_URL" --cacert "$PKI/other-ca.pem" \
	--user alice --password-file "$D/est-password" --pin-file "$MTLS_TEST_PIN_FILE"
grep -q 'simpleenroll' "$D/trust.log" && fail "a request reached the server that failed the check"
printf 'wrong\n' >"$D/wrong-password"
chmod 600 "$D/wrong-password"
attempt password 'HTTP 401 Unauthorized.*check --user and the password file' \
	"$PROV" enroll --key "$(key_uri ec256)" --est "$EST_URL" --cacert "$PKI/ca.pem" \
	--user alice --password-file "$D/wrong-password" --pin-file "$MTLS_TEST_PIN_FILE"

# A server certificate without the name asked for.
openssl x509 -new -force_pubkey <(openssl pkey -in "$PKI/peer.key" -pubout) -CA "$PKI/ca.pem" \
	-CAkey "$PKI/ca.key" -subj "/CN=elsewhere" -days 2 -set_serial 7777 \
	-extfile <(echo "subjectAltName=DNS:elsewhere.test") -out "$D/elsewhere.pem" 2>/dev/null
start elsewhere "$ESTD" --port 0 --seconds 600 --cert "$D/elsewhere.pem" --key "$PKI/peer.key" \
	--ca-cert "$PKI/ca.pem" --ca-key "$PKI/ca.key"
wait_log elsewhere '^port'
attempt name 'is not for localhost \(no matching DNS or IP subjectAltName\)' \
	"$PROV" enroll --key "$(key_uri ec256)" \
	--est "https://localhost:$(awk '/^port/ {print $2}' "$D/elsewhere.log")" \
	--cacert "$PKI/ca.pem" --user alice --password-file "$D/est-password" \
	--pin-file "$MTLS_TEST_PIN_FILE"

# A certificate for another key than the request's, and one that does not
# chain to what /cacerts says.
start_est wrongkey --reply-wrong-key
attempt wrongkey 'the EST answer was refused: .*issued a certificate for another key' \
	enroll_basic ec256
start_est otherroot --cacerts "$PKI/other-ca.pem"
attempt otherroot "does not chain to the EST server's CA certificates \\(/cacerts\\)" \
	enroll_basic ec256
# A wrong token PIN: one login attempt, refused, nothing asked of the CA.
start_est wrongpin
printf '0000\n' >"$D/wrong-pin"
chmod 600 "$D/wrong-pin"
attempt wrongpin 'PIN' \
	"$PROV" enroll --key "$(key_uri ec256)" --est "$EST_URL" --cacert "$PKI/ca.pem" \
	--user alice --password-file "$D/est-password" --pin-file "$D/wrong-pin"
grep -q 'simpleenroll' "$D/wrongpin.log" && fail "a request reached the CA with a wrong PIN"
grep -q 'the previous certificate' "$D/out/cert.pem" || fail "cert.pem was replaced"
ok "every bad answer left the token's objects and the files as they were"
