# Shell helpers for the EST tests (sourced): the EST test server
# (tests/est/est-server), mtls-provision enroll/renew, and before/after
# snapshots of the token and the files. Run under run-with-token.sh; builds
# on agent_lib.sh (start/stop by pid, free ports, the test PKI).
set -eu
. "$(dirname "${BASH_SOURCE[0]}")/agent_lib.sh"
PROV=$BIN/mtls-provision
ESTD=$BIN/est-server
M=$MTLS_TEST_MODULE
[ -x "$PROV" ] || fail "$PROV is not built"
[ -x "$ESTD" ] || fail "$ESTD is not built"
command -v openssl >/dev/null || { echo "SKIP: openssl is not installed"; exit 77; }
command -v pkcs11-tool >/dev/null || { echo "SKIP: pkcs11-tool is not installed (opensc)"; exit 77; }

ok() { echo "ok: $*"; }

# est_setup: the test PKI (its CA signs for the EST server too; peer.pem,
# SAN localhost and 127.0.0.1, is the EST server's TLS certificate) and
# the Basic auth password file (mode 600).
est_setup() {
	make_pki
	printf 'enroll-secret\n' >"$D/est-password"
	chmod 600 "$D/est-password"
}

# start_est NAME [est-server options...]: an EST server on a free port,
# log in $D/NAME.log; sets EST_URL and EST_PORT.
start_est() {
	local name=$1 i
	shift
	start "$name" "$ESTD" --port 0 --seconds 600 --cert "$PKI/peer.pem" --key "$PKI/peer.key" \
		--ca-cert "$PKI/ca.pem" --ca-key "$PKI/ca.key" --user alice \
		--password-file "$D/est-password" "$@"
	EST_PORT=$(log_port "$name")
	EST_URL=https://localhost:$EST_PORT
}

# stop_est NAME: stop that EST server (by its pid).
stop_est() {
	local pid_var="PID_${1//-/_}"
	kill -TERM "${!pid_var}" 2>/dev/null || true
	wait "${!pid_var}" 2>/dev/null || true
}

# run NAME CMD...: run, stdout/stderr in $D/NAME.out/.err, exit code in RC.
run() {
	local name=$1
	shift
	RC=0
	"$@" >"$D/$name.out" 2>"$D/$name.err" </dev/null || RC=$?
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

# said NAME REGEX / printed NAME REGEX: stderr / stdout of the last run.
said() { grep -Eq -- "$2" "$D/$1.err" || fail "$1: stderr lacks /$2/: $(cat "$D/$1.err")"; }
printed() { grep -Eq -- "$2" "$D/$1.out" || fail "$1: stdout lacks /$2/: $(cat "$D/$1.out")"; }

# p11 ARGS...: pkcs11-tool on the test token, logged in (PIN through the
# environment of that one command).
p11() {
	PIN=$(cat "$MTLS_TEST_PIN_FILE") pkcs11-tool --module "$M" --token-label "$MTLS_TEST_TOKEN" \
		--login --pin env:PIN "$@"
}

# snapshot OUT: every object on the token (pkcs11-tool's listing, sorted
# by object) and every file under $D/out with its mode and SHA-256, for an
# exact before/after comparison.
snapshot() {
	{
		p11 --list-objects 2>/dev/null | awk '
			/^[A-Z][a-z]+ (Key )?Object/ { if (o != "") print o; o = $0; next }
			{ o = o " |" $0 }
			END { if (o != "") print o }' | sort
		find "$D/out" -type f -printf '%P %m ' -exec sha256sum {} \; | sort
	} >"$1"
}

# same_snapshot BEFORE AFTER WHAT
same_snapshot() {
	diff -u "$1" "$2" >&2 || fail "$3 changed the token or the files (diff above)"
}

# The enroll options every test uses: key KEY (a label on the test token),
# the test CA as trust, Basic auth, the PIN file.
enroll_basic() {
	local key=$1
	shift
	"$PROV" enroll --key "$(key_uri "$key")" --est "$EST_URL" --cacert "$PKI/ca.pem" \
		--user alice --password-file "$D/est-password" --pin-file "$MTLS_TEST_PIN_FILE" "$@"
}

renew_cmd() {
	local key=$1
	shift
	"$PROV" renew --key "$(key_uri "$key")" --est "$EST_URL" --cacert "$PKI/ca.pem" \
		--pin-file "$MTLS_TEST_PIN_FILE" "$@"
}

# pubkey_of CERT: its public key (PEM), for comparisons.
pubkey_of() { openssl x509 -in "$1" -noout -pubkey; }
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
# token_cert ID OUT: the certificate object with CKA_ID ID, as PEM.
# On failure it shows pkcs11-tool's own words and what the token holds.
token_cert() {
	p11 --read-object --type cert --id "$1" -o "$2.der" >"$D/token_cert.out" 2>&1 ||
		fail "no certificate with id $1 on the token: $(cat "$D/token_cert.out");" \
			"the token holds: $(p11 --list-objects 2>&1)"
	openssl x509 -inform DER -in "$2.der" -out "$2"
}
