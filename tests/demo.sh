#!/usr/bin/env bash
# The demo: install what is missing, build, make a SoftHSM2 token with a
# non-exportable key, show the token refusing to reveal it, sign through the
# separate signer process and verify the signature with openssl.
# Everything lives in a temporary directory that is removed at the end.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${MTLS_BUILD_ROOT:-$top/build}/gcc
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. dependencies (Debian packages, only those missing)"
bash "$top/tests/lib/deps.sh"
echo "ok"

say "2. build"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
echo "built in $build"

work=$(mktemp -d "${TMPDIR:-/tmp}/mtls-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

say "3. a SoftHSM2 token with non-exportable keys (private SOFTHSM2_CONF in $work)"
eval "$(bash "$top/tests/lib/mktoken.sh" "$work/token" demo)"
export SOFTHSM2_CONF
echo "token 'demo', PIN in $MTLS_TEST_PIN_FILE (mode $(stat -c %a "$MTLS_TEST_PIN_FILE"))"
echo "the token's own report on the key (pkcs11-tool, an independent PKCS#11 client):"
# pkcs11-tool takes no PIN file; hand it this throwaway test PIN through its
# environment for this one command rather than on its command line.
DEMO_PIN=$(cat "$MTLS_TEST_PIN_FILE") pkcs11-tool --module "$MTLS_TEST_MODULE" \
	--token-label demo --login --pin env:DEMO_PIN --list-objects --type privkey 2>/dev/null |
	grep -B1 -A3 'label: *ec256$' | sed 's/^/   /'

key="pkcs11:token=demo;object=ec256;type=private?module-path=$MTLS_TEST_MODULE"
say "4. sign through the signer process: the PKCS#11 module and the PIN live only there"
echo "the bytes that cross the tunnel in a TLS handshake" >"$work/message"
"$build/bin/mtls-sign" --key "$key" --pin-file "$MTLS_TEST_PIN_FILE" \
	--in "$work/message" --sig "$work/sig" --pub "$work/pub.der"

say "5. an independent verifier (openssl) checks the signature against the token's public key"
openssl pkey -pubin -inform DER -in "$work/pub.der" -out "$work/pub.pem"
openssl dgst -sha256 -verify "$work/pub.pem" -signature "$work/sig" "$work/message"

say "6. a mistyped URI is refused with a reason, not silently matched"
"$build/bin/mtls-sign" --key "pkcs11:token=demo;objcet=ec256?module-path=$MTLS_TEST_MODULE" \
	--pin-file "$MTLS_TEST_PIN_FILE" --in "$work/message" --sig "$work/sig" \
	--pub "$work/pub.der" || true

say "done"
echo "The mTLS tunnel part of this demo arrives with mtls-agent (issue 3)."
