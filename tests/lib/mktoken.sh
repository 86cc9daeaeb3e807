#!/bin/bash
# Creates a throwaway SoftHSM2 token for tests; see tests/lib/README.md.
#
#   mktoken.sh DIR [LABEL]              token under DIR; prints assignments to eval
#   mktoken.sh --template TDIR [LABEL]  the same, once, as a template for later copies
#
# With MTLS_TOKEN_TEMPLATE=TDIR set, `mktoken.sh DIR` copies the template's token files
# instead of generating keys (RSA-3072 generation is the slow part).
#
# stdout carries only the assignments; tool output goes to stderr, and only on failure.
set -eu

# Test-only PINs, fixed and documented: they guard throwaway tokens and nothing else.
readonly SO_PIN=12345678
readonly USER_PIN=1234
readonly MODULE=/usr/lib/softhsm/libsofthsm2.so
readonly MARKER=.mtls-token-template
readonly LOCK_WAIT_S=600
STAGING=

# A template half-built when something failed must not stay behind.
cleanup() {
	if [ -n "$STAGING" ]; then
		rm -rf -- "$STAGING"
	fi
}
trap cleanup EXIT

die() {
	echo "mktoken.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: mktoken.sh DIR [LABEL] | mktoken.sh --template DIR [LABEL]" >&2
	exit 2
}

# run WHAT CMD...: runs a tool quietly; on failure shows its output and names WHAT (never
# the command line, which holds the PINs).
run() {
	local what=$1 out
	shift
	if ! out=$("$@" 2>&1); then
		printf '%s\n' "$out" >&2
		die "$what failed"
	fi
}

check_tools() {
	command -v softhsm2-util >/dev/null ||
		die "softhsm2-util not found (apt-get install softhsm2)"
	command -v pkcs11-tool >/dev/null || die "pkcs11-tool not found (apt-get install opensc)"
	[ -r "$MODULE" ] || die "$MODULE not found (apt-get install softhsm2)"
}

# SoftHSM2's config parser has no quoting: refuse paths it would misread.
check_path() {
	case $1 in
	*[[:space:]#=]*) die "path '$1' contains blanks, '#' or '=': SoftHSM2 cannot use it" ;;
	esac
}

check_label() {
	if [ -z "$1" ] || [ "${#1}" -gt 32 ]; then
		die "token label must have 1 to 32 characters"
	fi
	case $1 in
	*[![:alnum:]._-]*) die "token label '$1': use letters, digits, '.', '_', '-'" ;;
	esac
}

# Prints the absolute, physical path of directory $1, creating it if missing.
abs_dir() {
	mkdir -p -- "$1" || die "cannot create $1"
	(cd -- "$1" && pwd -P)
}

write_conf() {
	local dir=$1
	mkdir -p "$dir/tokens"
	cat >"$dir/softhsm2.conf" <<EOF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
EOF
}

write_pin() {
	local dir=$1
	rm -f "$dir/pin"
	(umask 077 && printf '%s' "$USER_PIN" >"$dir/pin")
	chmod 0600 "$dir/pin"
}

p11() {
	pkcs11-tool --module "$MODULE" --token-label "$LABEL" "$@"
}

# gen_pair LABEL ID SPEC: pkcs11-tool marks the private key SENSITIVE itself and SoftHSM2
# makes it non-extractable by default; check_keys verifies both rather than trusting that.
gen_pair() {
	run "generating $1 ($3)" p11 --login --pin "$USER_PIN" --keypairgen --key-type "$3" \
		--id "$2" --label "$1" --usage-sign
}

generate() {
	local dir=$1
	export SOFTHSM2_CONF=$dir/softhsm2.conf
	run "softhsm2-util --init-token" softhsm2-util --init-token --free --label "$LABEL" \
		--so-pin "$SO_PIN" --pin "$USER_PIN"
	gen_pair ec256 01 EC:prime256v1
	gen_pair ec384 02 EC:secp384r1
	gen_pair rsa2048 03 rsa:2048
	gen_pair rsa3072 04 rsa:3072
	gen_pair dup 10 EC:prime256v1
	gen_pair dup 11 EC:prime256v1
	check_keys
}

# Every private key must be sensitive and never extractable, with sign usage; 6 of them.
check_keys() {
	local listing
	listing=$(p11 --login --pin "$USER_PIN" --list-objects --type privkey 2>&1) ||
		die "listing private keys failed: $listing"
	printf '%s\n' "$listing" | awk '
		/^Private Key Object/ { n++; id = "?"; next }
		/^[ \t]+ID:/ { id = $2 }
		/^[ \t]+Usage:/ { if ($0 !~ /[ ,]sign(,|$)/) bad = bad " " id ":no-sign" }
		/^[ \t]+Access:/ {
			line = $0
			sub(/^[ \t]+Access:[ \t]*/, "", line)
			sub(/[ \t]+$/, "", line)
			k = split(line, item, /, */)
			sens = 0; never = 0; extr = 0
			for (i = 1; i <= k; i++) {
				if (item[i] == "sensitive") sens = 1
				if (item[i] == "never extractable") never = 1
				if (item[i] == "extractable") extr = 1
			}
			if (!sens) bad = bad " " id ":not-sensitive"
			if (!never || extr) bad = bad " " id ":extractable"
		}
		END {
			if (n != 6) { print "expected 6 private keys, found " n; exit 1 }
			if (bad != "") { print "bad private keys:" bad; exit 1 }
		}' >&2 || die "token check failed"
}

assignments() {
	local dir=$1
	printf 'SOFTHSM2_CONF=%q\n' "$dir/softhsm2.conf"
	printf 'MTLS_TEST_TOKEN=%q\n' "$LABEL"
	printf 'MTLS_TEST_PIN_FILE=%q\n' "$dir/pin"
	printf 'MTLS_TEST_MODULE=%q\n' "$MODULE"
}

# Builds the template in a sibling directory and renames it into place, so a template that
# exists is always complete; a lock keeps parallel callers from building it twice.
make_template() {
	local tdir=$1 parent name
	parent=$(abs_dir "$(dirname -- "$tdir")")
	name=$(basename -- "$tdir")
	tdir=$parent/$name
	check_path "$tdir"
	exec 9>"$parent/.$name.lock"
	flock -w "$LOCK_WAIT_S" 9 || die "timed out waiting for the lock on $tdir"
	if [ -f "$tdir/$MARKER" ]; then
		template_label_is "$tdir"
	else
		[ ! -e "$tdir" ] || die "$tdir exists but is not a complete token template"
		STAGING=$(mktemp -d "$parent/.$name.XXXXXX")
		write_conf "$STAGING"
		write_pin "$STAGING"
		generate "$STAGING"
		printf '%s\n' "$LABEL" >"$STAGING/$MARKER"
		mv -T "$STAGING" "$tdir"
		STAGING=
		# The config named the staging directory; copies never read it, but a person might.
		write_conf "$tdir"
	fi
	exec 9>&-
	TEMPLATE_DIR=$tdir
}

template_label_is() {
	local have
	have=$(cat "$1/$MARKER")
	[ "$have" = "$LABEL" ] || die "template $1 has token label '$have', not '$LABEL'"
}

# Plain copies (no links), so each test may change its token without touching the template.
copy_template() {
	local tdir=$1 dir=$2
	[ -f "$tdir/$MARKER" ] || make_template "$tdir"
	tdir=$(cd -- "$tdir" && pwd -P)
	template_label_is "$tdir"
	[ -z "$(ls -A "$dir/tokens")" ] || die "$dir/tokens is not empty"
	cp -R --no-preserve=all -- "$tdir/tokens/." "$dir/tokens/" || die "copying $tdir failed"
	chmod -R u+rwX,go-rwx "$dir/tokens"
}

main() {
	local template=0 dir
	if [ "${1-}" = "--template" ]; then
		template=1
		shift
	fi
	if [ "$#" -lt 1 ] || [ "$#" -gt 2 ] || [ -z "$1" ]; then
		usage
	fi
	LABEL=${2:-test}
	check_label "$LABEL"
	check_tools
	if [ "$template" = 1 ]; then
		make_template "$1"
		printf 'MTLS_TOKEN_TEMPLATE=%q\n' "$TEMPLATE_DIR"
		return
	fi
	check_path "$1"
	dir=$(abs_dir "$1")
	check_path "$dir"
	write_conf "$dir"
	write_pin "$dir"
	if [ -n "${MTLS_TOKEN_TEMPLATE-}" ]; then
		copy_template "$MTLS_TOKEN_TEMPLATE" "$dir"
	else
		[ -z "$(ls -A "$dir/tokens")" ] || die "$dir/tokens is not empty"
		generate "$dir"
	fi
	assignments "$dir"
}

main "$@"
