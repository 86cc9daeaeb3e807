#!/usr/bin/env bash
# The TPM path: mtls-provision keygen ec-p256 on a software TPM (swtpm +
# tpm2-pkcs11, the recipe in notes/tokens.md). pkcs11-tool reports the key
# sensitive, always sensitive and never extractable; p11-read-secret cannot
# read CKA_VALUE (tpm2-pkcs11 answers CKR_ATTRIBUTE_TYPE_INVALID, not
# CKR_ATTRIBUTE_SENSITIVE: it holds no such attribute, the private key is a
# TPM-wrapped blob); status and doctor read the key back through the bridge.
# Skips (77) only when swtpm or tpm2-pkcs11 is not installed.
set -eu
. "$(dirname "$0")/provision_keys_lib.sh"
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
trap stop_swtpm EXIT

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
