#!/usr/bin/env bash
# Decision 4, the most common field failure: an RSA-2048 key on a token
# without RSA-PSS (the fault module hides CKM_RSA_PKCS_PSS) against openssl
# peers, which prefer RSA-PSS. With TLS 1.2 only, mutual TLS completes both
# ways: our client agent with `openssl s_server -Verify 1 -tls1_2` (RSA
# certificate), and `openssl s_client -tls1_2` with a client certificate
# against our server agent; each peer saw an RSA-PSS signature. The agent
# pads RSA-PSS itself and the token makes raw RSA signatures: OpenSC's
# pkcs11-spy, between each agent's signer and the fault module, names
# CKM_RSA_X_509 in every C_SignInit, and the fault module's calls_log shows
# each of them succeeding. TLS 1.3 works the same way. With raw RSA hidden
# too, a TLS 1.3-only tunnel is refused at start with the reason, and TLS
# 1.2 against those peers fails with it.
set -eu
. "$(dirname "$0")/agent_lib.sh"
SPY=
for f in /usr/lib/x86_64-linux-gnu/pkcs11-spy.so /usr/lib/*/pkcs11/pkcs11-spy.so \
	/usr/lib/pkcs11/pkcs11-spy.so /usr/lib64/pkcs11-spy.so; do
	[ -r "$f" ] && { SPY=$f; break; }
done
[ -n "$SPY" ] || { echo "SKIP: OpenSC's pkcs11-spy.so is not installed (opensc-pkcs11)"; exit 77; }
make_pki
start_echo

PSS_MECHS="CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS"
# hide MECHS: what the token lacks from now on (read at each process's next call).
hide() {
	printf 'calls_log = %s\nhide_mechanisms = %s\n' "$D/calls.log" "$1" >"$D/fault.conf.tmp"
	mv "$D/fault.conf.tmp" "$D/fault.conf"
}
hide "$PSS_MECHS"
export MTLS_FAULT_CONF=$D/fault.conf PKCS11SPY=$MTLS_FAULT_LIB
KEY=$(key_uri rsa2048 "$SPY")

# spy NAME: the mechanisms of the C_SignInit calls in NAME's spy log, one a line.
spy() {
	awk '/C_SignInit/ { s = 1 } s && /pMechanism->type/ { print $NF; s = 0 }' "$D/spy-$1.log"
}
# only_raw NAME: NAME's signer signed at least once, always with CKM_RSA_X_509.
only_raw() {
	local n
	n=$(spy "$1" | wc -l)
	[ "$n" -gt 0 ] || fail "$1: the spy saw no C_SignInit"
	[ "$(spy "$1" | sort -u)" = CKM_RSA_X_509 ] ||
		fail "$1: C_SignInit mechanisms were: $(spy "$1" | sort | uniq -c | tr '\n' ' ')"
	echo "ok: $1's token signed $n time(s), each with CKM_RSA_X_509 (pkcs11-spy)"
}

# Our server agent, TLS 1.2 only, and openssl s_client (EC client
# certificate) asking for a signed ServerKeyExchange; it prefers RSA-PSS.
PKCS11SPY_OUTPUT=$D/spy-server.log server_agent "$KEY" "$PKI/tok-rsa2048.pem" --allow-cn peer \
	--tls-min 1.2 --tls-max 1.2 --log-level info
got=$(printf 'ping\n' | timeout 10 openssl s_client -connect "127.0.0.1:$SP" -cert "$PKI/peer.pem" \
	-key "$PKI/peer.key" -CAfile "$PKI/ca.pem" -verify_return_error -quiet -brief -tls1_2 \
	-servername localhost 2>"$D/s_client.err" | head -c 4)
[ "$got" = "ping" ] || fail "openssl s_client -tls1_2 through our server agent got '$got'"
grep -q 'Protocol version: TLSv1.2' "$D/s_client.err" || fail "s_client did not use TLS 1.2"
grep -q '^Signature type: RSA-PSS' "$D/s_client.err" ||
	fail "s_client did not see an RSA-PSS signature: $(grep -i signature "$D/s_client.err")"
echo "ok: openssl s_client -tls1_2 (client certificate) -> our server agent, RSA-PSS signature"
wait_log server 'lacks RSA-PSS (no CKM_RSA_PKCS_PSS): the agent pads those signatures'
only_raw server

# Our client agent, TLS 1.2 only, against s_server with an RSA certificate
# demanding a client certificate; its CertificateRequest prefers RSA-PSS.
OP=$(free_port)
start s_server openssl s_server -accept "127.0.0.1:$OP" -cert "$PKI/peer-rsa.pem" \
	-key "$PKI/peer-rsa.key" -CAfile "$PKI/ca.pem" -Verify 1 -verify_return_error -tls1_2 \
	-rev -naccept 1
wait_port "$OP"
CP=$(free_port)
PKCS11SPY_OUTPUT=$D/spy-client.log start client "$BIN/mtls-agent" client \
	--listen "127.0.0.1:$CP" --target "127.0.0.1:$OP" --key "$KEY" \
	--cert "$PKI/tok-rsa2048.pem" --cacert "$PKI/ca.pem" --server-name peer-rsa.test \
	--pin-file "$MTLS_TEST_PIN_FILE" --tls-min 1.2 --tls-max 1.2 --log-level info
wait_port "$CP"
got=$(printf 'hello\n' | timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$CP; cat >&3; read -r l <&3; echo \$l")
[ "$got" = "olleh" ] || fail "openssl s_server -tls1_2 via our client agent answered '$got'"
wait_log s_server 'Signature type'
grep -q 'Protocol version: TLSv1.2' "$D/s_server.log" || fail "s_server did not use TLS 1.2"
grep -q '^Signature type: RSA-PSS' "$D/s_server.log" ||
	fail "s_server did not see an RSA-PSS client signature"
echo "ok: our client agent -> openssl s_server -Verify 1 -tls1_2, RSA-PSS signature"
only_raw client
calls_ok=$(grep -c ' C_Sign 0x0$' "$D/calls.log" || true)
[ "$calls_ok" -ge 2 ] || fail "calls_log shows $calls_ok successful C_Sign"
! grep -q ' C_SignInit 0x70$' "$D/calls.log" || fail "a hidden mechanism was asked for"
echo "ok: calls_log: $calls_ok C_Sign, every C_SignInit succeeded"
stop_all

# TLS 1.3 (RSA-PSS only) works the same way.
start_echo
OP=$(free_port)
start s_server openssl s_server -accept "127.0.0.1:$OP" -cert "$PKI/peer-rsa.pem" \
	-key "$PKI/peer-rsa.key" -CAfile "$PKI/ca.pem" -Verify 1 -verify_return_error -tls1_3 \
	-rev -naccept 1
wait_port "$OP"
CP=$(free_port)
PKCS11SPY_OUTPUT=$D/spy-client13.log start client13 "$BIN/mtls-agent" client \
	--listen "127.0.0.1:$CP" --target "127.0.0.1:$OP" --key "$KEY" \
	--cert "$PKI/tok-rsa2048.pem" --cacert "$PKI/ca.pem" --server-name peer-rsa.test \
	--pin-file "$MTLS_TEST_PIN_FILE" --tls-min 1.3 --tls-max 1.3
wait_port "$CP"
got=$(printf 'hello\n' | timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$CP; cat >&3; read -r l <&3; echo \$l")
[ "$got" = "olleh" ] || fail "openssl s_server -tls1_3 via our client agent answered '$got'"
grep -q 'Protocol version: TLSv1.3' "$D/s_server.log" || fail "s_server did not use TLS 1.3"
echo "ok: our client agent -> openssl s_server -Verify 1 -tls1_3"
only_raw client13
stop_all

# Without raw RSA as well: TLS 1.3 is refused at start, with the reason.
hide "$PSS_MECHS, CKM_RSA_X_509"
start_echo
rc=0
timeout 30 "$BIN/mtls-agent" client --listen "127.0.0.1:$(free_port)" --target "127.0.0.1:1" \
	--key "$KEY" --cert "$PKI/tok-rsa2048.pem" --cacert "$PKI/ca.pem" --server-name localhost \
	--pin-file "$MTLS_TEST_PIN_FILE" --tls-min 1.3 --tls-max 1.3 >"$D/refused13.log" 2>&1 \
	</dev/null || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "the TLS 1.3 agent did not refuse to start (exit $rc)"
grep -q 'lacks RSA-PSS.*TLS 1.3 requires; set tls-min = 1.2' "$D/refused13.log" ||
	fail "no clear reason for refusing TLS 1.3: $(cat "$D/refused13.log")"
echo "ok: TLS 1.3 refused at start (exit $rc): $(grep -o 'the RSA key.*' "$D/refused13.log" | head -1)"

# ... and TLS 1.2 against a peer that wants RSA-PSS fails with the reason.
OP=$(free_port)
start s_server openssl s_server -accept "127.0.0.1:$OP" -cert "$PKI/peer-rsa.pem" \
	-key "$PKI/peer-rsa.key" -CAfile "$PKI/ca.pem" -Verify 1 -verify_return_error -tls1_2 \
	-rev -naccept 1
wait_port "$OP"
CP=$(free_port)
start client12 "$BIN/mtls-agent" client --listen "127.0.0.1:$CP" --target "127.0.0.1:$OP" \
	--key "$KEY" --cert "$PKI/tok-rsa2048.pem" --cacert "$PKI/ca.pem" \
	--server-name peer-rsa.test --pin-file "$MTLS_TEST_PIN_FILE" --tls-min 1.2 --tls-max 1.2
wait_port "$CP"
got=$(printf 'hello\n' | timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$CP; cat >&3; read -r l <&3; echo \$l" || true)
[ -z "$got" ] || fail "a token without RSA-PSS and raw RSA served a peer wanting RSA-PSS"
wait_log client12 'token does not offer RSA-PSS'
echo "ok: without raw RSA, TLS 1.2 against a peer wanting RSA-PSS fails with the reason"
