#!/usr/bin/env bash
# stunnel (OpenSSL 3 with libp11's PKCS#11 engine, key on the same SoftHSM2
# token) as an mTLS client of our server agent: an independent client stack
# whose signature is also made on the token.
#   agent_stunnel.sh [1.3|1.2]
set -eu
. "$(dirname "$0")/agent_lib.sh"
ver=${1:-1.3}
command -v stunnel4 >/dev/null || { echo "SKIP: stunnel4 is not installed"; exit 77; }
engine=$(ls /usr/lib/*/engines-3/pkcs11.so 2>/dev/null | head -1)
[ -n "$engine" ] || { echo "SKIP: libengine-pkcs11-openssl is not installed"; exit 77; }
make_pki
start_echo
server_agent "$(key_uri ec256)" "$PKI/tok-ec256.pem" --allow-cn tok-rsa2048 --tls-min "$ver" --tls-max "$ver" --log-level info
LP=$(free_port)
install -m 600 /dev/null "$D/stunnel.conf" # it will hold the throwaway test PIN
. "$LIB/stunnel.sh"
{
	stunnel_global "$D/stunnel-out.log" "$engine" "$MTLS_TEST_MODULE" "$MTLS_TEST_PIN_FILE"
	cat <<CONF
[tunnel]
client = yes
accept = 127.0.0.1:$LP
connect = 127.0.0.1:$SP
engineId = pkcs11
cert = $PKI/tok-rsa2048.pem
key = pkcs11:token=$MTLS_TEST_TOKEN;object=rsa2048;type=private
CAfile = $PKI/ca.pem
verifyChain = yes
checkHost = localhost
sslVersion = TLSv$ver
CONF
} >>"$D/stunnel.conf"
start stunnel stunnel4 "$D/stunnel.conf"
wait_port "$LP"
"$BIN/mtls-load" --addr "127.0.0.1:$LP" --conns 4 --bytes 65536 --seconds 60 ||
	fail "bytes did not come back through stunnel -> our server agent"
wait_log server 'peer="[^"]*CN=tok-rsa2048'
grep -q "TLSv$ver" "$D/server.log" || fail "server did not log TLSv$ver"
echo "ok: stunnel + libp11 (RSA-2048 key on the token) -> our server agent (TLS $ver)"
