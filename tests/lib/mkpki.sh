#!/bin/bash
# Makes a throwaway test PKI with the openssl CLI, for the TLS tests.
#
#   mkpki.sh DIR
#
# Needs the test token of run-with-token.sh / mktoken.sh in the environment
# (SOFTHSM2_CONF, MTLS_TEST_TOKEN, MTLS_TEST_MODULE): the certificates for
# the token keys carry the public keys read from it, by pkcs11-tool (public
# objects: no login) or, for the P-384 key pkcs11-tool cannot convert, by
# the project's mtls-sign tool (MTLS_SIGN_TOOL or $MTLS_BUILD_DIR/bin/mtls-sign,
# with MTLS_TEST_PIN_FILE). Every token copied from one template has the same
# keys, so one PKI serves them all. Takes about 3 s.
#
# DIR gets (all PEM; *.key are software keys, mode 0600):
#
#   ca.pem ca.key            the test CA (EC P-256), "CN=mtls test CA"
#   other-ca.pem other-ca.key a CA nobody trusts, "CN=mtls other CA"
#   tok-KEY.pem              for each token key KEY in ec256 ec384 rsa2048 rsa3072:
#                            CN=tok-KEY, OU=agents, SAN DNS:localhost, DNS:tok-KEY.test,
#                            IP:127.0.0.1, URI:spiffe://test.example/tok-KEY;
#                            serverAuth + clientAuth
#   tok-KEY.pub              that key's public key (PEM SubjectPublicKeyInfo)
#   tok-ec256-other.pem      a certificate for a different key than the token's ec256:
#                            refused as "not the token key's"
#   peer.pem/.key            software EC P-256 peer: CN=peer, OU=peers, SAN DNS:localhost,
#                            DNS:peer.test, IP:127.0.0.1, URI:spiffe://test.example/peer
#   peer-rsa.pem/.key        the same with an RSA-2048 key, CN=peer-rsa
#   expired.pem/.key         CN=expired, valid 2020-01-01 to 2020-02-01
#   future.pem/.key          CN=future, valid from 2099-01-01
#   revoked.pem/.key         CN=revoked, listed in crl.pem
#   unknown.pem/.key         CN=unknown, issued by other-ca
#   noclient.pem/.key        CN=noclient, serverAuth only
#   crl.pem                  the CA's CRL listing revoked.pem (valid 30 days)
#   crl-empty.pem            the CA's CRL listing nothing (valid 30 days)
#   bundle-*.pem             chain files: cert + CA for the software peers
#
# Prints nothing on success; on failure one "mkpki.sh: ..." line on stderr (and the
# failing tool's output above it), exit 1; bad usage exits 2.
set -eu

die() {
	echo "mkpki.sh: $*" >&2
	exit 1
}

[ "$#" -eq 1 ] || {
	echo "usage: mkpki.sh DIR" >&2
	exit 2
}
dir=$1
: "${SOFTHSM2_CONF:?mkpki.sh: SOFTHSM2_CONF is not set (run through run-with-token.sh)}"
: "${MTLS_TEST_TOKEN:?mkpki.sh: MTLS_TEST_TOKEN is not set}"
: "${MTLS_TEST_MODULE:?mkpki.sh: MTLS_TEST_MODULE is not set}"
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
command -v pkcs11-tool >/dev/null || die "pkcs11-tool not found (apt-get install opensc)"

mkdir -p -- "$dir" || die "cannot create $dir"
cd -- "$dir"
umask 077

# run WHAT CMD...: quiet unless it fails.
run() {
	local what=$1 out
	shift
	if ! out=$("$@" 2>&1); then
		printf '%s\n' "$out" >&2
		die "$what failed"
	fi
}

cat >ca.cnf <<'EOF'
[ca]
default_ca = testca
[testca]
database = index.txt
new_certs_dir = newcerts
serial = serial
crlnumber = crlnumber
default_md = sha256
default_crl_days = 30
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
organizationalUnitName = optional
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
rm -rf newcerts index.txt* serial* crlnumber*
mkdir newcerts
: >index.txt
echo 1000 >serial
echo 01 >crlnumber

# ext NAME SAN [EKU]: an extension file for a leaf certificate.
ext() {
	cat >"ext-$1.cnf" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = ${3:-serverAuth, clientAuth}
subjectAltName = $2
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
}

make_ca() { # NAME CN
	run "$1 key" openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"
	run "$1 certificate" openssl req -config ca.cnf -new -x509 -key "$1.key" -subj "/CN=$2" \
		-days 3650 -extensions ca_ext -out "$1.pem"
}
make_ca ca "mtls test CA"
make_ca other-ca "mtls other CA"

# read_pub KEY ID: the token key's public key as DER SPKI in tok-KEY.der. pkcs11-tool
# first (public objects need no login); its OpenSC 0.23 cannot convert P-384 keys
# ("cannot create EVP_PKEY"), so then the project's mtls-sign tool, which reads the key
# through the signer ($MTLS_SIGN_TOOL, or bin/mtls-sign under $MTLS_BUILD_DIR).
read_pub() {
	local key=$1 id=$2 tool=${MTLS_SIGN_TOOL:-${MTLS_BUILD_DIR:-/nonexistent}/bin/mtls-sign}
	if pkcs11-tool --module "$MTLS_TEST_MODULE" --token-label "$MTLS_TEST_TOKEN" \
		--read-object --type pubkey --id "$id" -o "tok-$key.der" >/dev/null 2>&1; then
		return 0
	fi
	[ -x "$tool" ] || die "pkcs11-tool cannot read public key $key and no mtls-sign tool ($tool)"
	[ -n "${MTLS_TEST_PIN_FILE:-}" ] || die "MTLS_TEST_PIN_FILE is not set (needed by mtls-sign)"
	printf 'mkpki' >sign-in.txt
	run "reading public key $key" "$tool" --in-process --pin-file "$MTLS_TEST_PIN_FILE" \
		--key "pkcs11:token=$MTLS_TEST_TOKEN;object=$key;type=private?module-path=$MTLS_TEST_MODULE" \
		--in sign-in.txt --sig sign-out.bin --pub "tok-$key.der"
}

# Token keys: read each public key, certify it with x509 -new -force_pubkey.
serial=2000
for pair in ec256:01 ec384:02 rsa2048:03 rsa3072:04; do
	key=${pair%%:*} id=${pair#*:}
	read_pub "$key" "$id"
	run "converting $key" openssl pkey -pubin -inform DER -in "tok-$key.der" -out "tok-$key.pub"
	ext "tok-$key" "DNS:localhost, DNS:tok-$key.test, IP:127.0.0.1, URI:spiffe://test.example/tok-$key"
	serial=$((serial + 1))
	run "certificate tok-$key" openssl x509 -new -force_pubkey "tok-$key.pub" \
		-subj "/OU=agents/CN=tok-$key" -CA ca.pem -CAkey ca.key -set_serial "$serial" \
		-days 30 -extfile "ext-tok-$key.cnf" -out "tok-$key.pem"
done

# A certificate with the token key's name but another key.
run "other key" openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out tok-ec256-other.key
run "other pub" openssl pkey -in tok-ec256-other.key -pubout -out tok-ec256-other.pub
run "certificate tok-ec256-other" openssl x509 -new -force_pubkey tok-ec256-other.pub \
	-subj "/OU=agents/CN=tok-ec256" -CA ca.pem -CAkey ca.key -set_serial 2100 -days 30 \
	-extfile ext-tok-ec256.cnf -out tok-ec256-other.pem

# Software peers through `openssl ca` (dates and the revocation database).
peer() { # NAME KEYALG SAN [CA] [START END] [EKU]
	local name=$1 alg=$2 san=$3 ca=${4:-ca} start=${5:-} end=${6:-} eku=${7:-}
	local dates=(-days 30)
	if [ "$alg" = rsa ]; then
		run "$name key" openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$name.key"
	else
		run "$name key" openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key"
	fi
	run "$name request" openssl req -config ca.cnf -new -key "$name.key" \
		-subj "/OU=peers/CN=$name" -out "$name.csr"
	ext "$name" "$san" "$eku"
	[ -n "$start" ] && dates=(-startdate "$start" -enddate "$end")
	run "$name certificate" openssl ca -config ca.cnf -batch -notext -cert "$ca.pem" \
		-keyfile "$ca.key" -in "$name.csr" -out "$name.pem" -extfile "ext-$name.cnf" \
		"${dates[@]}"
	cat "$name.pem" "$ca.pem" >"bundle-$name.pem"
}
san_for() { echo "DNS:localhost, DNS:$1.test, IP:127.0.0.1, URI:spiffe://test.example/$1"; }

peer peer ec "$(san_for peer)"
peer peer-rsa rsa "$(san_for peer-rsa)"
peer expired ec "$(san_for expired)" ca 20200101000000Z 20200201000000Z
peer future ec "$(san_for future)" ca 20990101000000Z 20991231000000Z
peer revoked ec "$(san_for revoked)"
peer noclient ec "$(san_for noclient)" ca "" "" serverAuth
# other-ca has its own database only in spirit: openssl ca records it here too, harmlessly.
peer unknown ec "$(san_for unknown)" other-ca

run "empty CRL" openssl ca -config ca.cnf -gencrl -cert ca.pem -keyfile ca.key -out crl-empty.pem
run "revoke" openssl ca -config ca.cnf -revoke revoked.pem -cert ca.pem -keyfile ca.key
run "CRL" openssl ca -config ca.cnf -gencrl -cert ca.pem -keyfile ca.key -out crl.pem
chmod 0644 ./*.pem ./*.pub
