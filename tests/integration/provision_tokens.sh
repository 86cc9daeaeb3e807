#!/usr/bin/env bash
# mtls-provision tokens: the test token with its identity, flags and
# mechanisms, and per key type whether it can do TLS 1.3 there; the fault
# module changes what the token says (hidden mechanisms, PIN flags) and the
# table follows. A registered module name works like a path; a missing
# module is an error.
set -eu
. "$(dirname "$0")/provision_keys_lib.sh"
# Keep any registered tpm2-pkcs11 away from the user's home and real TPMs.
export TPM2_PKCS11_STORE=$D/tpm2-store TPM2_PKCS11_TCTI="swtpm:host=127.0.0.1,port=1" TSS2_LOG=all+NONE
mkdir -p "$TPM2_PKCS11_STORE"
serial=$(pkcs11-tool --module "$M" -L 2>/dev/null | awk '/serial num/ { print $NF; exit }')

# row NAME KEYTYPE KEYGEN TLS13 TLS12: the key type's row says so.
row() {
	has "$1" out "^    $2 +$3 +$4 +$5 "
}

run plain "$PROV" tokens --module "$M"
expect_rc plain 0
has plain out "^module .*libsofthsm2.so\$"
has plain out "^    token \"$MTLS_TEST_TOKEN\": serial $serial, manufacturer \"SoftHSM project\", model \"SoftHSM v2\"\$"
has plain out '^    flags: login required, user PIN set, PIN count low no, final try no, PIN locked no, protected auth path no'
has plain out 'token not initialised' # SoftHSM's spare slot
for m in CKM_EC_KEY_PAIR_GEN CKM_RSA_PKCS_KEY_PAIR_GEN; do has plain out "^    $m +yes +no +yes "; done
for m in CKM_ECDSA CKM_RSA_PKCS CKM_RSA_PKCS_PSS CKM_RSA_X_509; do has plain out "^    $m +yes +yes +no "; done
for t in ec-p256 ec-p384 rsa-2048 rsa-3072 rsa-4096; do row plain "$t" yes yes yes; done
has plain out '^    rsa-2048 .* CKM_RSA_PKCS_PSS$'
ok "SoftHSM2: token, flags, six mechanisms, every key type can do TLS 1.3"

PSS="CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS"
fault "hide_mechanisms = $PSS" 'token_flags_set = CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY'
run nopss "$PROV" tokens --module "$MTLS_FAULT_LIB"
expect_rc nopss 0
has nopss out '^    flags: login required, user PIN set, PIN count low yes, final try yes, PIN locked no'
has nopss out '^    CKM_RSA_PKCS_PSS +no '
row nopss rsa-2048 yes yes yes
has nopss out '^    rsa-2048 .* CKM_RSA_X_509 \(the agent pads RSA-PSS itself\)$'
ok "no RSA-PSS: RSA still does TLS 1.3 through raw RSA; PIN count low and final try shown"

fault "hide_mechanisms = $PSS, CKM_RSA_X_509, CKM_EC_KEY_PAIR_GEN" 'token_flags_set = CKF_USER_PIN_LOCKED'
run norsa "$PROV" tokens --module "$MTLS_FAULT_LIB"
expect_rc norsa 0
has norsa out 'PIN locked yes'
for t in rsa-2048 rsa-3072 rsa-4096; do row norsa "$t" yes no yes; done
has norsa out '^    rsa-2048 .* CKM_RSA_PKCS only: TLS 1.2 with PKCS#1 signatures, no TLS 1.3$'
row norsa ec-p256 no yes yes
ok "no RSA-PSS and no raw RSA: RSA keys cannot do TLS 1.3; no EC key generation: keygen no"
fault ''

if [ -r /usr/share/p11-kit/modules/softhsm2.module ]; then
	run byname "$PROV" tokens --module softhsm2
	expect_rc byname 0
	has byname out "^    token \"$MTLS_TEST_TOKEN\": serial $serial"
	run all "$PROV" tokens
	has all out "^module softhsm2 .*libsofthsm2.so\$"
	has all out "^    token \"$MTLS_TEST_TOKEN\": serial $serial"
	ok "the registered name softhsm2, and the list of all registered modules"
fi

run missing "$PROV" tokens --module /nonexistent/libnone.so
expect_rc missing 1
has missing err 'module /nonexistent/libnone.so cannot be used: PKCS#11 module cannot be loaded'
run bad "$PROV" tokens --modul x
expect_rc bad 2
run help "$PROV" tokens --help
expect_rc help 0
ok "a missing module exits 1, a bad option 2"
