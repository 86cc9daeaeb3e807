#!/usr/bin/env bash
# check-wolfssl-fast.sh BUILD_DIR
#
# Verifies a build tree configured with -DMTLS_WOLFSSL_FAST=ON:
#   1. every program in BUILD_DIR/bin that links libwolfssl loads it from the private prefix;
#   2. the prefix's options.h has AES-NI, Intel assembly and SP x86-64 assembly, and the
#      size flags (MAX_CHAIN_DEPTH 5, no WOLFSSL_ALT_CERT_CHAINS);
#   3. AES-128-GCM really runs faster there: one line each, MB/s, fast and system library.
# Exit status: 0 all checks passed, 1 a check failed (the message says which), 2 usage.
# Environment: BENCH_SECONDS (per library, default 1), CC (default cc).
set -euo pipefail
export LC_ALL=C

readonly FAST_DEFINES="WOLFSSL_AESNI USE_INTEL_SPEEDUP WOLFSSL_SP_X86_64_ASM"
readonly MIN_SPEEDUP=3 # AES-NI gives ~20-30x here; below 3x it is not in use
HERE=$(cd "$(dirname "$0")" && pwd)

fail() {
	printf 'check-wolfssl-fast: FAIL: %s\n' "$*" >&2
	exit 1
}
ok() { printf 'check-wolfssl-fast: ok: %s\n' "$*"; }

[ $# -eq 1 ] || {
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
}
BUILD=$(cd "$1" 2>/dev/null && pwd) || fail "no build directory $1"
CACHE=$BUILD/CMakeCache.txt
[ -f "$CACHE" ] || fail "$CACHE missing: configure first with -DMTLS_WOLFSSL_FAST=ON"
grep -q '^MTLS_WOLFSSL_FAST:BOOL=ON$' "$CACHE" ||
	fail "$BUILD was not configured with -DMTLS_WOLFSSL_FAST=ON"
PREFIX=$(sed -n 's/^MTLS_WOLFSSL_FAST_PREFIX:PATH=//p' "$CACHE")
[ -f "$PREFIX/.wolfssl-fast.stamp" ] || fail "no finished build in $PREFIX (stamp missing)"
PREFIX=$(cd "$PREFIX" && pwd -P)

check_programs() {
	local prog lib n=0
	[ -x "$BUILD/bin/mtls-agent" ] || fail "$BUILD/bin/mtls-agent missing: build the tree first"
	for prog in "$BUILD"/bin/*; do
		if [ ! -f "$prog" ] || [ ! -x "$prog" ]; then continue; fi
		lib=$(ldd "$prog" 2>/dev/null | awk '$1 ~ /^libwolfssl\.so/ { print $3 }') || true
		[ -n "$lib" ] || continue
		case "$(readlink -f "$lib")" in
		"$PREFIX"/lib/*) n=$((n + 1)) ;;
		*) fail "$(basename "$prog") loads $lib, not the fast build in $PREFIX/lib" ;;
		esac
	done
	[ "$n" -gt 0 ] || fail "no program in $BUILD/bin links libwolfssl"
	ok "$n programs load libwolfssl from $PREFIX/lib (mtls-agent included)"
	"$BUILD/bin/mtls-agent" --version | grep -q 'fast build' ||
		fail "mtls-agent --version does not name the fast build: $("$BUILD/bin/mtls-agent" --version)"
	ok "$("$BUILD/bin/mtls-agent" --version)"
}

check_defines() {
	local d h=$PREFIX/include/wolfssl/options.h
	for d in $FAST_DEFINES; do
		grep -q "^#define $d\\b" "$h" || fail "$h does not define $d"
	done
	ok "$h defines $FAST_DEFINES"
	# The size flags (wolfssl-fast.sh SIZE_CFLAGS): 10.8 KB sessions instead of 37.5 KB.
	grep -q '^#define MAX_CHAIN_DEPTH 5$' "$h" || fail "$h does not set MAX_CHAIN_DEPTH 5"
	! grep -q '^#define WOLFSSL_ALT_CERT_CHAINS' "$h" || fail "$h defines WOLFSSL_ALT_CERT_CHAINS"
	ok "$h: MAX_CHAIN_DEPTH 5, no WOLFSSL_ALT_CERT_CHAINS"
}

# Builds the benchmark against one libwolfssl (pkg-config flags) and runs it.
bench_one() {
	local name=$1 out=$TMP/aesgcm-$1
	shift
	"${CC:-cc}" -O2 -std=c11 -o "$out" "$HERE/wolfssl-aesgcm-bench.c" "$@" -ldl ||
		fail "could not compile the AES-GCM benchmark against the $name library"
	"$out" "${BENCH_SECONDS:-1}" || fail "the AES-GCM benchmark failed on the $name library"
}

check_speed() {
	local fast system fast_mbs system_mbs
	TMP=$(mktemp -d)
	trap 'rm -rf "$TMP"' EXIT
	# shellcheck disable=SC2046 # pkg-config output is a list of flags
	fast=$(bench_one fast $(PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --cflags --libs wolfssl) \
		"-Wl,-rpath,$PREFIX/lib")
	# shellcheck disable=SC2046
	system=$(bench_one system $(env -u PKG_CONFIG_PATH pkg-config --cflags --libs wolfssl))
	fast_mbs=${fast%% *} system_mbs=${system%% *}
	case "${fast#* }" in "$PREFIX"/lib/*) ;; *) fail "the fast benchmark ran on ${fast#* }" ;; esac
	printf 'AES-128-GCM 16 KiB, one core: fast   %6s MB/s (%s)\n' "$fast_mbs" "${fast#* }"
	printf 'AES-128-GCM 16 KiB, one core: system %6s MB/s (%s)\n' "$system_mbs" "${system#* }"
	[ "$fast_mbs" -ge $((system_mbs * MIN_SPEEDUP)) ] ||
		fail "the fast build is not ${MIN_SPEEDUP}x faster than the system one: AES-NI not in use"
	ok "AES-GCM $((fast_mbs / (system_mbs > 0 ? system_mbs : 1)))x faster on the fast build"
}

check_programs
check_defines
check_speed
