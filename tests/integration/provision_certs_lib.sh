# Shell helpers for the csr/import/ca tests (sourced). Run under
# run-with-token.sh: needs MTLS_TEST_DIR, MTLS_BUILD_DIR and the token
# variables. The template token holds ec256 (id 01), ec384 (02),
# rsa2048 (03), rsa3072 (04).
set -eu
PROV=$MTLS_BUILD_DIR/bin/mtls-provision
D=$MTLS_TEST_DIR
M=$MTLS_TEST_MODULE
PIN=$(cat "$MTLS_TEST_PIN_FILE")
[ -x "$PROV" ] || { echo "FAIL: $PROV is not built" >&2; exit 1; }
command -v openssl >/dev/null || { echo "SKIP: openssl missing" >&2; exit 77; }
command -v pkcs11-tool >/dev/null || { echo "SKIP: pkcs11-tool missing (opensc)" >&2; exit 77; }

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() { echo "ok: $*"; }

# uri LABEL: the URI of a private key on the test token.
uri() { echo "pkcs11:token=$MTLS_TEST_TOKEN;object=$1;type=private?module-path=$M"; }

# run NAME CMD...: run, keeping stdout/stderr in $D/NAME.out/.err and the
# exit code in RC. Fails only on a sanitizer report (in the ASan build its
# exit code 1 could pass for an expected refusal).
run() {
	local name=$1
	shift
	RC=0
	"$@" >"$D/$name.out" 2>"$D/$name.err" || RC=$?
	if grep -Eq "Sanitizer|runtime error:" "$D/$name.err"; then
		cat "$D/$name.err" >&2
		fail "$name: sanitizer report"
	fi
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

# said NAME REGEX: the last run's stderr matches REGEX (extended).
said() {
	grep -Eq -- "$2" "$D/$1.err" || {
		cat "$D/$1.err" >&2
		fail "$1: stderr lacks /$2/"
	}
}

# p11 ARGS...: pkcs11-tool on the test token, logged in.
p11() { pkcs11-tool --module "$M" --token-label "$MTLS_TEST_TOKEN" --login --pin "$PIN" "$@"; }

# der_of FILE: the first certificate of a PEM file as hex DER.
der_of() { openssl x509 -in "$1" -outform DER | od -An -v -tx1 | tr -d ' \n'; }

# snapshot DIR OUT: every token object (as pkcs11-tool lists them) and
# every file under DIR with its mode and content hash, for before/after
# comparisons.
snapshot() {
	{
		p11 --list-objects 2>/dev/null
		echo "--- files"
		(cd "$1" && find . -type f -printf '%p %m\n' | sort)
		(cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
	} >"$2"
}

# ca_for DIR: a software CA in DIR (quietly).
ca_for() {
	run ca-init "$PROV" ca init --dir "$1" --soft --subject "/O=mtls tests/CN=provision test CA"
	expect_rc ca-init 0
}

# csr_for LABEL OUT [ARGS...]: a CSR for a token key.
csr_for() {
	local k=$1 out=$2
	shift 2
	run "csr-$k" "$PROV" csr --key "$(uri "$k")" --pin-file "$MTLS_TEST_PIN_FILE" \
		--subject "/O=Example/OU=agents/CN=gw-$k" --out "$out" "$@"
	expect_rc "csr-$k" 0
}
