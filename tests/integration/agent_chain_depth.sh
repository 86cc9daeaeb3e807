#!/usr/bin/env bash
# Peer chains through intermediates: both agents present a leaf under two
# intermediate CAs (chain file: intermediates) and trust only the root;
# then a server whose chain holds three intermediates and the root, which
# is five certificates: the most the fast wolfSSL build accepts
# (MAX_CHAIN_DEPTH 5, tests/bench/README-wolfssl-fast.md). A sixth
# certificate is refused there as "certificate chain too long"; Debian's
# wolfSSL (MAX_CHAIN_DEPTH 9) accepts it.
set -eu
. "$(dirname "$0")/agent_lib.sh"
make_pki
C=$D/chain
mkdir -p "$C"
printf '%s\n' 'basicConstraints = critical, CA:TRUE' 'keyUsage = critical, keyCertSign, cRLSign' \
	'subjectKeyIdentifier = hash' 'authorityKeyIdentifier = keyid' >"$C/ca-ext.cnf"
serial=3000

# ca NAME [PARENT]: an EC CA, self-signed without PARENT.
ca() {
	serial=$((serial + 1))
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$C/$1.key" 2>/dev/null ||
		fail "CA key $1"
	if [ $# -eq 1 ]; then
		openssl req -config "$PKI/ca.cnf" -new -x509 -key "$C/$1.key" -subj "/CN=chain $1" \
			-days 30 -extensions ca_ext -out "$C/$1.pem" 2>/dev/null || fail "CA $1"
		return 0
	fi
	openssl req -config "$PKI/ca.cnf" -new -key "$C/$1.key" -subj "/CN=chain $1" \
		-out "$C/$1.csr" 2>/dev/null || fail "CSR $1"
	openssl x509 -req -in "$C/$1.csr" -CA "$C/$2.pem" -CAkey "$C/$2.key" -set_serial "$serial" \
		-days 30 -extfile "$C/ca-ext.cnf" -out "$C/$1.pem" 2>/dev/null || fail "CA $1 under $2"
}

# leaf NAME ISSUER: a certificate for the token key ec256 (names as mkpki.sh gives them).
leaf() {
	serial=$((serial + 1))
	openssl x509 -new -force_pubkey "$PKI/tok-ec256.pub" -subj "/OU=agents/CN=tok-ec256" \
		-CA "$C/$2.pem" -CAkey "$C/$2.key" -set_serial "$serial" -days 30 \
		-extfile "$PKI/ext-tok-ec256.cnf" -out "$C/$1.pem" 2>/dev/null || fail "leaf $1"
}

ca root
ca int1 root
ca int2 int1
ca int3 int2
ca int4 int3
leaf leaf2 int2
leaf leaf3 int3
leaf leaf4 int4
cat "$C/int2.pem" "$C/int1.pem" >"$C/chain2.pem"
cat "$C/int3.pem" "$C/int2.pem" "$C/int1.pem" "$C/root.pem" >"$C/chain3-root.pem"
cat "$C/int4.pem" "$C/int3.pem" "$C/int2.pem" "$C/int1.pem" "$C/root.pem" >"$C/chain4-root.pem"
start_echo

# pair NAME LEAF CHAIN: a server agent presenting LEAF + CHAIN and a client
# agent presenting leaf2 + chain2, each trusting only the root; sets PORT_NAME.
pair() {
	local sp cp
	sp=$(free_port)
	start "$1-server" "$BIN/mtls-agent" server --listen "127.0.0.1:$sp" \
		--target "127.0.0.1:$ECHO_PORT" --key "$(key_uri ec256)" --cert "$C/$2.pem" \
		--chain "$C/$3.pem" --cacert "$C/root.pem" --pin-file "$MTLS_TEST_PIN_FILE" \
		--allow-cn tok-ec256 --log-level info
	wait_port "$sp"
	cp=$(free_port)
	start "$1-client" "$BIN/mtls-agent" client --listen "127.0.0.1:$cp" --target "127.0.0.1:$sp" \
		--key "$(key_uri ec256)" --cert "$C/leaf2.pem" --chain "$C/chain2.pem" \
		--cacert "$C/root.pem" --server-name localhost --pin-file "$MTLS_TEST_PIN_FILE" \
		--log-level info
	wait_port "$cp"
	printf -v "PORT_$1" '%s' "$cp"
}

pair two leaf2 chain2
"$BIN/mtls-load" --addr "127.0.0.1:$PORT_two" --conns 4 --bytes 4096 --seconds 30 ||
	fail "root + 2 intermediates + leaf, both ways: the tunnel did not carry bytes"
wait_log two-server 'peer="[^"]*CN=tok-ec256'
echo "ok: root + 2 intermediates + leaf verifies both ways (peers send leaf + 2 intermediates)"

pair three leaf3 chain3-root
"$BIN/mtls-load" --addr "127.0.0.1:$PORT_three" --conns 4 --bytes 4096 --seconds 30 ||
	fail "root + 3 intermediates + leaf, root sent too (5 certificates): the tunnel did not carry bytes"
echo "ok: a server sending 5 certificates (leaf, 3 intermediates, root) verifies"

pair four leaf4 chain4-root
if "$BIN/mtls-agent" --version 2>&1 | grep -q 'fast build'; then
	if "$BIN/mtls-load" --addr "127.0.0.1:$PORT_four" --conns 1 --bytes 64 --seconds 10 \
		>"$D/four-load.log" 2>&1; then
		fail "the fast build accepted 6 certificates from the server (MAX_CHAIN_DEPTH 5)"
	fi
	wait_log four-client 'certificate chain too long'
	echo "ok: fast build: 6 certificates are refused as 'certificate chain too long'"
else
	"$BIN/mtls-load" --addr "127.0.0.1:$PORT_four" --conns 1 --bytes 64 --seconds 10 ||
		fail "Debian's wolfSSL refused 6 certificates (its MAX_CHAIN_DEPTH is 9)"
	echo "ok: system wolfSSL: 6 certificates verify (MAX_CHAIN_DEPTH 9)"
fi
