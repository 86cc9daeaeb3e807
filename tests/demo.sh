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

say "6. certificates from a local test CA for the token keys (openssl, tests/lib/mkpki.sh)"
export MTLS_TEST_TOKEN MTLS_TEST_MODULE MTLS_TEST_PIN_FILE MTLS_BUILD_DIR=$build
bash "$top/tests/lib/mkpki.sh" "$work/pki"
openssl x509 -in "$work/pki/tok-ec256.pem" -noout -subject -issuer | sed 's/^/   /'

say "7. an mTLS tunnel: client agent (EC key) -> server agent (RSA key) -> echo backend"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
port() { echo $((20000 + RANDOM % 10000)); }
"$build/bin/mtls-echo" --port 0 --seconds 120 >"$work/echo.log" &
pids+=($!)
for _ in $(seq 1 50); do grep -q '^port' "$work/echo.log" && break; sleep 0.1; done
echo_port=$(awk '/^port/ {print $2}' "$work/echo.log")
sp=$(port)
cp=$((sp + 1))
"$build/bin/mtls-agent" server --listen "127.0.0.1:$sp" --target "127.0.0.1:$echo_port" \
	--key "pkcs11:token=demo;object=rsa2048;type=private?module-path=$MTLS_TEST_MODULE" \
	--cert "$work/pki/tok-rsa2048.pem" --cacert "$work/pki/ca.pem" --allow-cn tok-ec256 \
	--pin-file "$MTLS_TEST_PIN_FILE" --log-level info \
	--metrics-listen "unix:$work/metrics.sock" 2>"$work/server.log" &
pids+=($!)
"$build/bin/mtls-agent" client --listen "127.0.0.1:$cp" --target "127.0.0.1:$sp" \
	--key "$key" --cert "$work/pki/tok-ec256.pem" --cacert "$work/pki/ca.pem" \
	--server-name localhost --pin-file "$MTLS_TEST_PIN_FILE" --log-level info 2>"$work/client.log" &
pids+=($!)
# both agents listen once their signer has logged in (bounded wait, no probe connection)
listening() { awk -v p=":$(printf '%04X' "$1")" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' /proc/net/tcp; }
for _ in $(seq 1 100); do listening "$sp" && listening "$cp" && break; sleep 0.1; done
echo "sending 8 connections x 1 MiB of random bytes through the tunnel; SHA-256 checked on return:"
"$build/bin/mtls-load" --addr "127.0.0.1:$cp" --conns 8 --bytes 1048576 | sed 's/^/   /'
sleep 0.3
echo "what the server agent logged (peer identity from the client's token-backed certificate):"
grep -m2 'established' "$work/server.log" | sed 's/^/   /'
echo "what the client agent logged:"
grep -m2 'reason=closed' "$work/client.log" | sed 's/^/   /'
echo "full handshakes signed on the token vs resumed ones (no token signature):"
printf '   client: %s full, %s resumed\n' "$(grep -c 'established.*full-handshake' "$work/client.log")" \
	"$(grep -c 'established.*resumed' "$work/client.log")"
echo "the server agent's health check and metrics (a scrape never costs a token signature):"
printf '   /healthz: %s\n' "$(curl -s --unix-socket "$work/metrics.sock" http://localhost/healthz)"
curl -s --unix-socket "$work/metrics.sock" http://localhost/metrics |
	grep -E '^mtls_(handshakes_total|token_signatures_total|token_state.*} 1|bytes_total)' |
	sed 's/^/   /'

say "8. a mistyped URI is refused with a reason, not silently matched"
"$build/bin/mtls-sign" --key "pkcs11:token=demo;objcet=ec256?module-path=$MTLS_TEST_MODULE" \
	--pin-file "$MTLS_TEST_PIN_FILE" --in "$work/message" --sig "$work/sig" \
	--pub "$work/pub.der" || true

say "done"
