#!/usr/bin/env bash
# The TPM path on a software TPM (swtpm + tpm2-pkcs11, the recipe in
# notes/tokens.md), from key to handshake:
#  - keygen ec-p256: pkcs11-tool reports the key sensitive, always sensitive
#    and never extractable; p11-read-secret cannot read CKA_VALUE
#    (tpm2-pkcs11 answers CKR_ATTRIBUTE_TYPE_INVALID, not
#    CKR_ATTRIBUTE_SENSITIVE: it holds no such attribute, the private key is
#    a TPM-wrapped blob); status and doctor read the key back;
#  - csr: signed by the TPM key, openssl req -verify accepts it, it carries
#    the SANs and the TPM key's public key;
#  - a test CA (mtls-provision ca --soft) issues the certificate; import
#    --to-token puts it beside the key, pkcs11-tool reads it back
#    byte-identical, doctor passes every step;
#  - mtls-agent server with the TPM key and the certificate read from the
#    TPM (--cert pkcs11:...;type=cert) in front of mtls-echo: openssl
#    s_client with a client certificate of the test CA completes mTLS, is
#    shown the imported certificate (same SHA-256 fingerprint) and gets its
#    bytes echoed back.
# Without a resource manager only ~2 processes can hold TPM objects at once:
# every tool here finishes before the next starts; the agent's signer is the
# only TPM user while the agent runs.
# Skips (77) only when swtpm or tpm2-pkcs11 is not installed.
set -eu
. "$(dirname "$0")/provision_keys_lib.sh"
# start/stop_all/free_port/wait_port/start_echo; its fail also shows $D/*.log.
. "$(dirname "$0")/agent_lib.sh"
READ=$BIN/p11-read-secret
TPM_MODULE=
for f in /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so /usr/lib/*/pkcs11/libtpm2_pkcs11.so \
	/usr/lib/pkcs11/libtpm2_pkcs11.so /usr/lib64/pkcs11/libtpm2_pkcs11.so; do
	[ -r "$f" ] && { TPM_MODULE=$f; break; }
done
if ! command -v swtpm >/dev/null || [ -z "$TPM_MODULE" ] ||
	! ls /usr/lib/*/libtss2-tcti-swtpm.so* >/dev/null 2>&1; then
	echo "SKIP: no software TPM here: swtpm, tpm2-pkcs11 or the swtpm TCTI is not installed" \
		"and this test does not install packages (tests/lib/deps.sh installs swtpm swtpm-tools" \
		"libtpm2-pkcs11-1 libtss2-tcti-swtpm0)"
	exit 77
fi

TPM=$D/tpm
mkdir -p "$TPM/state" "$TPM/store"
stop_swtpm() {
	local pid
	[ -s "$TPM/swtpm.pid" ] || return 0
	pid=$(cat "$TPM/swtpm.pid")
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
}
# The agent and the echo backend first (by pid), then swtpm (by its pid file).
trap 'stop_all; stop_swtpm' EXIT

# A free pair of ports below the ephemeral range; swtpm binds before it
# daemonizes, so a zero exit means it listens (another test may take a port
# between the choice and the bind: try a few).
started=0
for _ in 1 2 3 4 5; do
	port=$((20000 + (RANDOM % 6000) * 2))
	if swtpm socket --tpm2 --tpmstate dir="$TPM/state" \
		--server type=tcp,port="$port",bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
		--flags not-need-init,startup-clear --pid file="$TPM/swtpm.pid" -d \
		>"$D/swtpm.log" 2>&1; then
		started=1
		break
	fi
done
[ "$started" = 1 ] || { cat "$D/swtpm.log" >&2; fail "swtpm did not start"; }
export TPM2_PKCS11_TCTI="swtpm:host=127.0.0.1,port=$port" TPM2_PKCS11_STORE=$TPM/store
export TSS2_LOG=all+NONE

SO_PIN=87654321
TPM_PIN=123456
(umask 077 && printf '%s' "$TPM_PIN" >"$TPM/pin")
tp11() { pkcs11-tool --module "$TPM_MODULE" --token-label ci "$@"; }
pkcs11-tool --module "$TPM_MODULE" --init-token --label ci --so-pin "$SO_PIN" >"$D/init.log" 2>&1 ||
	{ cat "$D/init.log" >&2; fail "tpm2-pkcs11: C_InitToken"; }
# C_InitPIN is needed although the flags say the PIN is set (notes/tokens.md).
tp11 --login --login-type so --so-pin "$SO_PIN" --init-pin --pin "$TPM_PIN" >>"$D/init.log" 2>&1 ||
	{ cat "$D/init.log" >&2; fail "tpm2-pkcs11: C_InitPIN"; }
ok "software TPM on 127.0.0.1:$port with token 'ci'"

KEY="pkcs11:token=ci;object=tpmkey;type=private?module-path=$TPM_MODULE"
run keygen "$PROV" keygen --key "$KEY" --type ec-p256 --id 7a01 --pin-file "$TPM/pin"
expect_rc keygen 0
has keygen out '^pkcs11:.*token=ci.*id=%7A%01.*object=tpmkey.*type=private'
ok "keygen ec-p256 on the TPM: $(cat "$D/keygen.out")"

tp11 --login --pin "$TPM_PIN" --list-objects --type privkey >"$D/tpm-priv.txt" 2>&1 ||
	{ cat "$D/tpm-priv.txt" >&2; fail "pkcs11-tool cannot list the TPM's keys"; }
awk '
	/^Private Key Object/ { n++ }
	/^[ \t]+ID:/ { id = $2 }
	/^[ \t]+Access:/ {
		line = $0
		sub(/^[ \t]+Access:[ \t]*/, "", line)
		k = split(line, item, /, */)
		for (i = 1; i <= k; i++) { sub(/[ \t]+$/, "", item[i]); a[item[i]] = 1 }
	}
	END {
		if (n != 1 || id != "7a01") { print "expected one private key with id 7a01"; exit 1 }
		if (!a["sensitive"] || !a["always sensitive"] || !a["never extractable"] || a["extractable"]) {
			print "not sensitive / always sensitive / never extractable"; exit 1
		}
	}' "$D/tpm-priv.txt" >&2 || { cat "$D/tpm-priv.txt" >&2; fail "the TPM key is not provably non-exportable"; }
ok "pkcs11-tool: sensitive, always sensitive, never extractable"

run read "$READ" --or-absent "$TPM_MODULE" ci "$TPM/pin" 7a01 CKA_VALUE
expect_rc read 0
has read out '^CKA_VALUE: CKR_ATTRIBUTE_(SENSITIVE|TYPE_INVALID)$'
ok "p11-read-secret: CKA_VALUE cannot be read ($(cat "$D/read.out"))"

run refuse "$PROV" keygen --key "$KEY" --type ec-p256 --id 7a02 --pin-file "$TPM/pin"
expect_rc refuse 2
has refuse err 'already ha.* label "tpmkey"'

run status "$PROV" status --key "$KEY" --pin-file "$TPM/pin" --json
expect_rc status 0
has status out '"type":"ec","curve":"P-256","bits":256,"id":"7a01","label":"tpmkey","sensitive":true,"always_sensitive":true,"never_extractable":true,"extractable":false'
run doctor "$PROV" doctor --key "$KEY" --pin-file "$TPM/pin"
expect_rc doctor 1 # no certificate yet: that step fails, the others pass
has doctor out '^key +ok +EC 256 bits, id 7a01'
has doctor out '^mechanisms +ok +CKM_ECDSA'
has doctor out '^certificate +FAIL +none on the token'
ok "status and doctor read the TPM key; a second key with the same label is refused"

# --- csr: a request signed by the TPM key.
run csr "$PROV" csr --key "$KEY" --subject "/O=mtls test/OU=tpm/CN=localhost" \
	--san dns:localhost --san ip:127.0.0.1 --out "$D/tpm.csr" --pin-file "$TPM/pin"
expect_rc csr 0
run csrverify openssl req -in "$D/tpm.csr" -verify -noout
expect_rc csrverify 0
has csrverify err 'verify OK'
run csrtext openssl req -in "$D/tpm.csr" -noout -text
has csrtext out 'DNS:localhost, IP Address:127\.0\.0\.1'
has csrtext out 'Subject: O *= *mtls test, OU *= *tpm, CN *= *localhost'
tp11 --read-object --type pubkey --id 7a01 -o "$D/tpm-pub.der" >"$D/tpm-pub.log" 2>&1 ||
	fail "pkcs11-tool cannot read the TPM's public key: $(cat "$D/tpm-pub.log")"
want_spki=$(openssl pkey -pubin -inform DER -in "$D/tpm-pub.der" -outform DER | sha256sum)
got_spki=$(openssl req -in "$D/tpm.csr" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)
[ "$want_spki" = "$got_spki" ] || fail "the CSR does not carry the TPM key's public key"
ok "csr signed by the TPM key: openssl req -verify accepts it; SANs DNS:localhost, IP:127.0.0.1"

# --- a test CA issues it; import --to-token puts it beside the key.
run cainit "$PROV" ca init --dir "$D/ca" --soft --subject "/CN=tpm test CA" --days 2
expect_rc cainit 0
run casign "$PROV" ca sign --dir "$D/ca" --csr "$D/tpm.csr" --out "$D/tpm.pem" --days 2 \
	--profile server
expect_rc casign 0
openssl verify -CAfile "$D/ca/ca.pem" "$D/tpm.pem" >"$D/verify.log" 2>&1 ||
	fail "the issued certificate does not verify: $(cat "$D/verify.log")"
run import "$PROV" import --key "$KEY" --cert "$D/tpm.pem" --to-token --pin-file "$TPM/pin"
expect_rc import 0
openssl x509 -in "$D/tpm.pem" -outform DER -out "$D/tpm.der"
tp11 --login --pin "$TPM_PIN" --read-object --type cert --id 7a01 -o "$D/tpm-read.der" \
	>"$D/tpm-read.log" 2>&1 || fail "pkcs11-tool cannot read the certificate: $(cat "$D/tpm-read.log")"
cmp -s "$D/tpm.der" "$D/tpm-read.der" || fail "the certificate read back from the TPM token differs"
tp11 --login --pin "$TPM_PIN" --list-objects --type cert >"$D/tpm-certs.txt" 2>&1 || true
[ "$(grep -c '^Certificate Object' "$D/tpm-certs.txt")" = 1 ] ||
	fail "expected one certificate on the TPM token: $(cat "$D/tpm-certs.txt")"
want=$(openssl x509 -in "$D/tpm.pem" -noout -fingerprint -sha256)
run doctor2 "$PROV" doctor --key "$KEY" --pin-file "$TPM/pin"
expect_rc doctor2 0
has doctor2 out '^certificate +ok'
ok "ca sign + import --to-token: pkcs11-tool reads back the same $(wc -c <"$D/tpm.der") bytes; doctor passes"

# --- the agent: TPM key, certificate from the TPM, mTLS with openssl s_client.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$D/client.key" 2>/dev/null
openssl req -new -key "$D/client.key" -subj "/CN=tpm-client" -out "$D/client.csr" 2>/dev/null
run clsign "$PROV" ca sign --dir "$D/ca" --csr "$D/client.csr" --out "$D/client.pem" --days 2 \
	--profile client
expect_rc clsign 0
start_echo
SP=$(free_port)
start server "$BIN/mtls-agent" server --listen "127.0.0.1:$SP" --target "127.0.0.1:$ECHO_PORT" \
	--key "$KEY" --cert "pkcs11:token=ci;type=cert" --cacert "$D/ca/ca.pem" \
	--pin-file "$TPM/pin" --allow-cn tpm-client
wait_port "$SP" 30
msg="hello through the TPM key $RANDOM"
t0=$(date +%s%N)
{ printf '%s\n' "$msg"; sleep 2; } | timeout 20 openssl s_client -connect "127.0.0.1:$SP" \
	-servername localhost -cert "$D/client.pem" -key "$D/client.key" -CAfile "$D/ca/ca.pem" \
	-verify_return_error -verify_hostname localhost >"$D/s_client.out" 2>"$D/s_client.log" ||
	fail "openssl s_client failed against the agent: $(cat "$D/s_client.log")"
t1=$(date +%s%N)
grep -q 'Verify return code: 0 (ok)' "$D/s_client.out" || fail "s_client did not verify the agent"
grep -qxF "$msg" "$D/s_client.out" || fail "the bytes did not come back through the agent"
got=$(openssl x509 -in "$D/s_client.out" -noout -fingerprint -sha256)
[ "$got" = "$want" ] || fail "the agent presented '$got', not the imported certificate '$want'"
grep -q 'peer="CN=tpm-client" full-handshake up=[1-9]' "$D/server.log" ||
	fail "the agent logged no full handshake with CN=tpm-client"
grep -q 'libtpm2_pkcs11' "/proc/$PID_server/maps" && fail "the agent process mapped the PKCS#11 module"
proto=$(awk '/^ *Protocol *:/ {print $3; exit}' "$D/s_client.out")
ok "mTLS via the TPM key ($proto, $(( (t1 - t0) / 1000000 )) ms incl. 2 s idle): presented $want; bytes echoed"

# The agent and its signer exit cleanly (sanitizer builds report here).
stop_all
grep -Eq 'Sanitizer|runtime error:' "$D/server.log" && fail "the agent or its signer reported an error"
ok "the agent and its signer stopped without sanitizer reports"
