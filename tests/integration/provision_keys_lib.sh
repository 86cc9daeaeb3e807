# Shell helpers for the tokens/keygen/status/doctor tests (sourced). Run
# under run-with-token.sh: needs MTLS_TEST_DIR, MTLS_BUILD_DIR and the token
# variables (SOFTHSM2_CONF, MTLS_TEST_TOKEN, MTLS_TEST_PIN_FILE,
# MTLS_TEST_MODULE). The template token holds ec256 (id 01), ec384 (02),
# rsa2048 (03), rsa3072 (04) and two keys labelled dup (10, 11).
set -eu
BIN=$MTLS_BUILD_DIR/bin
PROV=$BIN/mtls-provision
D=$MTLS_TEST_DIR
M=$MTLS_TEST_MODULE
PIN=$(cat "$MTLS_TEST_PIN_FILE")
[ -x "$PROV" ] || { echo "FAIL: $PROV is not built" >&2; exit 1; }

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() { echo "ok: $*"; }

# uri OBJECT [MODULE]: the URI of a private key on the test token.
uri() { echo "pkcs11:token=$MTLS_TEST_TOKEN;object=$1;type=private?module-path=${2:-$M}"; }

# p11 ARGS...: pkcs11-tool on the test token (the real module), logged in.
p11() { pkcs11-tool --module "$M" --token-label "$MTLS_TEST_TOKEN" --login --pin "$PIN" "$@"; }

# objects: every object on the token as pkcs11-tool lists it (logged in).
objects() { p11 --list-objects 2>/dev/null; }

# listed TYPE ID: pkcs11-tool's entries of that type (privkey, pubkey, cert)
# whose CKA_ID is ID (hex), blank-line separated (its --id does not filter
# --list-objects).
listed() {
	p11 --list-objects --type "$1" 2>/dev/null | awk -v id="$2" '
		/^[A-Z][a-z]+ (Key )?Object/ { if (keep) printf "%s\n", blk; blk = ""; keep = 0 }
		{ blk = blk $0 "\n" }
		/^[ \t]+ID:/ { if (tolower($2) == tolower(id)) keep = 1 }
		END { if (keep) printf "%s\n", blk }'
}

# run NAME CMD...: run, keeping stdout in $D/NAME.out, stderr in $D/NAME.err
# and the exit code in RC (never fails itself).
run() {
	local name=$1
	shift
	RC=0
	"$@" >"$D/$name.out" 2>"$D/$name.err" || RC=$?
}

# expect_rc NAME WANT: the last run's exit code, with its output on failure.
expect_rc() {
	[ "$RC" = "$2" ] && return 0
	echo "--- $1 stdout" >&2
	cat "$D/$1.out" >&2
	echo "--- $1 stderr" >&2
	cat "$D/$1.err" >&2
	fail "$1: exit $RC, expected $2"
}

# has NAME FILE-SUFFIX REGEX: the output holds a line matching REGEX.
has() {
	grep -Eq -- "$3" "$D/$1.$2" && return 0
	echo "--- $1.$2" >&2
	cat "$D/$1.$2" >&2
	fail "$1: no line matches '$3'"
}

# fault CONF-LINES: the fault module's config (read at each process's next call).
fault() {
	printf '%s\n' "$@" >"$D/fault.conf.tmp"
	mv "$D/fault.conf.tmp" "$D/fault.conf"
}
export MTLS_FAULT_CONF=$D/fault.conf
: >"$D/fault.conf"

# A CA of the test's own (openssl), and cert_for ID NAME: a certificate for
# the token key with that CKA_ID (its public key read by pkcs11-tool) in
# $D/NAME.pem and $D/NAME.der.
make_ca() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$D/ca.key" 2>/dev/null
	openssl req -new -x509 -key "$D/ca.key" -subj "/CN=provision test CA" -days 30 \
		-out "$D/ca.pem" 2>/dev/null || fail "making the CA"
}
cert_for() {
	local id=$1 name=$2
	pkcs11-tool --module "$M" --token-label "$MTLS_TEST_TOKEN" --read-object --type pubkey \
		--id "$id" -o "$D/$name.pub.der" >/dev/null 2>&1 || fail "reading public key $id"
	openssl pkey -pubin -inform DER -in "$D/$name.pub.der" -out "$D/$name.pub" 2>/dev/null ||
		fail "converting public key $id"
	printf 'subjectAltName = DNS:%s.test, IP:127.0.0.1, URI:spiffe://test.example/%s\n' \
		"$name" "$name" >"$D/$name.ext"
	openssl x509 -new -force_pubkey "$D/$name.pub" -subj "/O=Acme \"Q\" Ltd/CN=$name" \
		-CA "$D/ca.pem" -CAkey "$D/ca.key" -days 20 -extfile "$D/$name.ext" \
		-out "$D/$name.pem" 2>/dev/null || fail "certificate $name"
	openssl x509 -in "$D/$name.pem" -outform DER -out "$D/$name.der"
}
# store_cert NAME ID: write $D/NAME.der to the token as a certificate object.
store_cert() {
	p11 --write-object "$D/$1.der" --type cert --id "$2" --label "$1" >/dev/null 2>&1 ||
		fail "storing certificate $1 on the token"
}
