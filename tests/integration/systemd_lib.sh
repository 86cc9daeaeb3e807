# Shell helpers for the systemd and install tests (sourced): a staged
# "cmake --install" of the build and reading the installed units.
# Needs MTLS_BUILD_DIR. Uses MTLS_TEST_DIR when run-with-token.sh made one,
# else a private directory of its own, removed at exit.
set -eu
: "${MTLS_BUILD_DIR:?MTLS_BUILD_DIR must name the build directory}"
if [ -z "${MTLS_TEST_DIR:-}" ]; then
	MTLS_TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mtls-test.XXXXXX")
	trap 'rm -rf "$MTLS_TEST_DIR"' EXIT
fi
SD_DIR=$MTLS_TEST_DIR

sd_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# stage PREFIX DIR: "cmake --install" the build with that prefix into DIR
# (DESTDIR), as a package build does. The log is DIR.log.
stage() {
	rm -rf "$2"
	echo "+ DESTDIR=$2 cmake --install $MTLS_BUILD_DIR --prefix $1"
	DESTDIR=$2 cmake --install "$MTLS_BUILD_DIR" --prefix "$1" >"$2.log" 2>&1 ||
		sd_fail "cmake --install failed: $(tail -n 20 "$2.log")"
}

# unitdir STAGE: where the units went (Debian: /lib/systemd/system for the
# prefix /usr; /usr/lib/systemd/system on other merged-/usr systems).
unitdir() {
	local d
	for d in "$1/lib/systemd/system" "$1/usr/lib/systemd/system"; do
		[ -f "$d/mtls-agent.service" ] && { echo "$d"; return 0; }
	done
	sd_fail "no mtls-agent.service under $1/lib/systemd/system or $1/usr/lib/systemd/system"
}

# unit_values FILE KEY: the values of KEY= in FILE, one per line, in order
# (directives only: comment lines are not read).
unit_values() {
	sed -n "s/^$2=//p" "$1"
}

# hardening FILE: the shared hardening block of a service.
hardening() {
	sed -n '/^# ---- hardening:/,/^# ---- end of hardening ----$/p' "$1"
}
