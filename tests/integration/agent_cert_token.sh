#!/usr/bin/env bash
# The server's certificate on the token (--cert pkcs11:...), read through
# the signer: written there by pkcs11-tool under the key's CKA_ID, it is the
# certificate openssl s_client is shown (same SHA-256 fingerprint), bytes
# flow, and the agent process never maps the PKCS#11 module. Refused with a
# clear message: a certificate on the token for another key, none at all,
# two beside the key; object= then picks one (in-process signer too), and
# --check refuses a cert URI of another object type without a token.
set -eu
. "$(dirname "$0")/agent_lib.sh"
command -v pkcs11-tool >/dev/null || { echo "SKIP: pkcs11-tool is not installed"; exit 77; }
make_pki
start_echo

# p11 ARGS...: pkcs11-tool on the test token, logged in (PIN from the file,
# through the environment of that one command).
p11() {
	PIN=$(cat "$MTLS_TEST_PIN_FILE") pkcs11-tool --module "$MTLS_TEST_MODULE" \
		--token-label "$MTLS_TEST_TOKEN" --login --pin env:PIN "$@" >"$D/p11.out" 2>&1 ||
		fail "pkcs11-tool $*: $(cat "$D/p11.out")"
}
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256; }
# presented PORT: the fingerprint of the certificate the server there shows.
presented() {
	timeout 10 openssl s_client -connect "127.0.0.1:$1" -servername localhost \
		-cert "$PKI/peer.pem" -key "$PKI/peer.key" -CAfile "$PKI/ca.pem" -verify_return_error \
		</dev/null 2>"$D/s_client.err" | openssl x509 -noout -fingerprint -sha256
}
# refused NAME KEY CERT: the agent must exit non-zero at start; its log is NAME.log.
refused() {
	local name=$1 key=$2 cert=$3 rc=0
	timeout 30 "$BIN/mtls-agent" server --listen "127.0.0.1:$(free_port)" \
		--target "127.0.0.1:$ECHO_PORT" --key "$key" --cert "$cert" --cacert "$PKI/ca.pem" \
		--pin-file "$MTLS_TEST_PIN_FILE" --allow-cn peer >"$D/$name.log" 2>&1 </dev/null || rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "$name: the agent did not refuse to start (exit $rc)"
}

# A certificate that exists only on the token: issued now for the ec256 key.
openssl x509 -new -force_pubkey "$PKI/tok-ec256.pub" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
	-subj "/OU=agents/CN=tok-ec256-on-token" -days 2 -set_serial 4242 \
	-extfile "$PKI/ext-tok-ec256.cnf" -out "$D/on-token.pem" 2>"$D/issue.err" ||
	fail "cannot issue the certificate: $(cat "$D/issue.err")"
openssl x509 -in "$D/on-token.pem" -outform DER -out "$D/on-token.der"
p11 --write-object "$D/on-token.der" --type cert --id 01 --label ec256-cert
want=$(fingerprint "$D/on-token.pem")

# No id= or object=: the certificate beside the key (CKA_ID 01). Our client
# agent checks it against the CA and the name localhost, and bytes flow.
server_agent "$(key_uri ec256)" "pkcs11:token=$MTLS_TEST_TOKEN;type=cert" --allow-cn peer \
	--allow-cn tok-rsa2048
got=$(presented "$SP")
[ "$got" = "$want" ] || fail "the server presented '$got', not the token's certificate '$want'"
client_agent "$(key_uri rsa2048)" "$PKI/tok-rsa2048.pem"
"$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns 4 --bytes 65536 --seconds 30 ||
	fail "bytes did not come back intact through client agent -> server agent"
grep -q 'softhsm' "/proc/$PID_server/maps" && fail "the agent process mapped the PKCS#11 module"
echo "ok: the certificate written by pkcs11-tool is presented ($want), bytes flow"

# A certificate for another key (rsa2048's) beside the ec384 key.
openssl x509 -in "$PKI/tok-rsa2048.pem" -outform DER -out "$D/rsa.der"
p11 --write-object "$D/rsa.der" --type cert --id 02 --label ec384-wrong
refused mismatch "$(key_uri ec384)" "pkcs11:type=cert"
grep -q 'certificate on the token (pkcs11:type=cert) is not for the token key' "$D/mismatch.log" ||
	fail "mismatch not named: $(cat "$D/mismatch.log")"
echo "ok: $(grep -o 'certificate on the token.*token key' "$D/mismatch.log")"

# No certificate beside the key: say how to put one there.
refused none "$(key_uri rsa3072)" "pkcs11:"
grep -q "no certificate on the token matches 'pkcs11:'.*--write-object" "$D/none.log" ||
	fail "no clear message without a certificate: $(cat "$D/none.log")"
echo "ok: without a certificate the agent says how to write one"

# Two beside the key: both listed; object= picks one (in-process signer).
openssl x509 -in "$PKI/tok-ec256.pem" -outform DER -out "$D/old.der"
p11 --write-object "$D/old.der" --type cert --id 01 --label ec256-old
refused two "$(key_uri ec256)" "pkcs11:type=cert"
grep -q '2 certificates on the token match' "$D/two.log" ||
	fail "two certificates not reported: $(cat "$D/two.log")"
grep -q 'CN=tok-ec256-on-token serial=1092 expires' "$D/two.log" &&
	grep -q 'CN=tok-ec256 serial=' "$D/two.log" ||
	fail "the two certificates are not listed: $(cat "$D/two.log")"
SP2=$(free_port)
start server2 "$BIN/mtls-agent" server --listen "127.0.0.1:$SP2" --target "127.0.0.1:$ECHO_PORT" \
	--key "$(key_uri ec256)" --cert "pkcs11:object=ec256-old;type=cert" --cacert "$PKI/ca.pem" \
	--pin-file "$MTLS_TEST_PIN_FILE" --allow-cn peer --signer in-process
wait_port "$SP2"
got=$(presented "$SP2")
[ "$got" = "$(fingerprint "$PKI/tok-ec256.pem")" ] || fail "object=ec256-old presented '$got'"
echo "ok: two certificates are listed; object= picks one"

# --check looks at the URI without a token.
rc=0
"$BIN/mtls-agent" server --listen "127.0.0.1:$(free_port)" --target "127.0.0.1:$ECHO_PORT" \
	--key "$(key_uri ec256)" --cert "pkcs11:object=ec256;type=private" --cacert "$PKI/ca.pem" \
	--pin-file "$MTLS_TEST_PIN_FILE" --allow-cn peer --check >"$D/check.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -q 'type=private' "$D/check.log" ||
	fail "--check accepted a cert URI of a private key (exit $rc): $(cat "$D/check.log")"
echo "ok: --check refuses a cert URI naming another object type"
