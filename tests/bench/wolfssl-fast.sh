#!/usr/bin/env bash
# wolfssl-fast.sh [--update] PREFIX
#
# Builds wolfSSL from Debian bookworm's own source package (newest security revision
# reachable) with Debian's configure flags plus AES-NI and x86-64 assembly, and installs it
# into PREFIX (PREFIX/lib, PREFIX/include, PREFIX/lib/pkgconfig/wolfssl.pc).
#
# Debian builds libwolfssl with --enable-distro --enable-pkcs11 only: no AES-NI and no
# assembly, so AES-GCM runs ~28x slower than OpenSSL here. Same source, same patches, same
# features, plus the speed flags: benchmarks then measure the agent, not the distro's flags.
# Two size flags shrink what every connection holds (README-wolfssl-fast.md, "Memory").
#
# The system's apt configuration is left alone: the source index lives in a private
# sources.list and private lists/cache directories under PREFIX.work.
#
# Idempotent: when PREFIX holds a build of this recipe (stamp file), nothing is fetched.
# --update asks the archive for the newest source revision and rebuilds if it changed.
#
# Environment: WOLFSSL_FAST_JOBS (make -j, default min(nproc, 2)),
#              WOLFSSL_FAST_WORKDIR (default PREFIX.work).
# Exit status: 0 built or up to date, 1 failure (the message says what to do), 2 usage.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

readonly RECIPE=2 # bump when the build steps change in a way that alters the library
readonly SPEED_FLAGS="--enable-aesni --enable-intelasm --enable-sp --enable-sp-asm"
# Per-connection memory (measured with 1000 idle tunnels): every WOLFSSL holds a session
# with two static peer chains of MAX_CHAIN_DEPTH x 2 KiB each, 37.5 KB with Debian's flags.
# MAX_CHAIN_DEPTH 5: a peer may send at most 5 certificates of 10 KB in all (leaf and up
# to 4 CAs: root + 3 intermediates + leaf; tests/integration/agent_chain_depth.sh), -8.2 KB.
# No WOLFSSL_ALT_CERT_CHAINS (which --enable-distro turns on through configure.ac's
# AM_CFLAGS, hence -U in CFLAGS, which come after them): its second chain goes, -10.3 KB,
# and a CA certificate the peer sends must chain to our CA file, as OpenSSL (stunnel)
# requires by default.
readonly SIZE_CFLAGS="-DMAX_CHAIN_DEPTH=5 -UWOLFSSL_ALT_CERT_CHAINS"
# What the agent needs (cmake/CheckWolfSSL.cmake and the code) and what the speed flags give.
readonly NEED_DEFINES="HAVE_PK_CALLBACKS WOLFSSL_TLS13 HAVE_SESSION_TICKET WOLFSSL_CERT_REQ
WOLFSSL_CERT_GEN WOLFSSL_CERT_EXT WOLF_CRYPTO_CB HAVE_ECC HAVE_PKCS11 HAVE_CRL OPENSSL_ALL
WOLFSSL_AESNI USE_INTEL_SPEEDUP WOLFSSL_SP_X86_64_ASM"
# AES-NI and PCLMULQDQ for AES-GCM; AVX/AVX2 for the GCM, SHA and ChaCha paths of
# --enable-intelasm; BMI2 and ADX for the SP (ECC P-256, RSA) assembly.
readonly CPU_FLAGS="aes pclmulqdq avx avx2 bmi2 adx"
readonly SUITES="bookworm bookworm-updates"
readonly KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

say() { printf 'wolfssl-fast: %s\n' "$*"; }
die() {
	printf 'wolfssl-fast: error: %s\n' "$1" >&2
	shift
	local line
	for line in "$@"; do printf 'wolfssl-fast:   %s\n' "$line" >&2; done
	exit 1
}
usage() {
	echo "usage: $0 [--update] PREFIX" >&2
	exit 2
}

UPDATE=0
[ "${1-}" = "--update" ] && { UPDATE=1; shift; }
if [ $# -ne 1 ] || [ -z "$1" ]; then usage; fi
case "$1" in
/*) PREFIX=$1 ;;
*) PREFIX=$PWD/$1 ;;
esac
PREFIX=${PREFIX%/}
[ -n "$PREFIX" ] || die "PREFIX must not be /"
WORK=${WOLFSSL_FAST_WORKDIR:-$PREFIX.work}
JOBS=${WOLFSSL_FAST_JOBS:-$(($(nproc) < 2 ? $(nproc) : 2))}
STAMP=$PREFIX/.wolfssl-fast.stamp # written last: the build is complete
OWNER=$PREFIX/.wolfssl-fast.prefix # written first: this script may wipe PREFIX

# The assembly picks instructions at run time in most places, but a library built for
# speed that then runs without these would measure nothing useful: refuse up front.
check_cpu() {
	local f missing=""
	[ "$(uname -m)" = x86_64 ] ||
		die "this machine is $(uname -m); --enable-intelasm and --enable-sp-asm need x86_64" \
			"build without MTLS_WOLFSSL_FAST (the system libwolfssl is used then)"
	for f in $CPU_FLAGS; do
		grep -qw "$f" /proc/cpuinfo || missing="$missing $f"
	done
	[ -z "$missing" ] ||
		die "this CPU lacks:$missing (from /proc/cpuinfo)" \
			"the fast build needs $CPU_FLAGS for --enable-aesni --enable-intelasm --enable-sp-asm" \
			"build without MTLS_WOLFSSL_FAST on this machine"
}

stamp_value() { sed -n "s/^$1=//p" "$STAMP" 2>/dev/null | head -n 1; }

is_installed() {
	[ -f "$STAMP" ] && [ -f "$PREFIX/lib/pkgconfig/wolfssl.pc" ] &&
		[ -f "$PREFIX/include/wolfssl/options.h" ] &&
		compgen -G "$PREFIX/lib/libwolfssl.so.*" >/dev/null &&
		[ "$(stamp_value recipe)" = "$RECIPE" ] &&
		[ "$(stamp_value speed_flags)" = "$SPEED_FLAGS" ] &&
		[ "$(stamp_value size_cflags)" = "$SIZE_CFLAGS" ]
}

# PREFIX is wiped before an install: only ever wipe a prefix this script made.
claim_prefix() {
	if [ -d "$PREFIX" ] && [ ! -f "$OWNER" ] && [ -n "$(ls -A "$PREFIX")" ]; then
		die "$PREFIX exists, is not empty and was not made by wolfssl-fast.sh" \
			"give an empty or new directory as PREFIX"
	fi
	mkdir -p "$PREFIX"
	echo "made by tests/bench/wolfssl-fast.sh, which may empty it" >"$OWNER"
}

ensure_tools() {
	local need="" pair pkg tool
	for pair in apt-get:apt dpkg-source:dpkg-dev dpkg-buildflags:dpkg-dev \
		autoreconf:autoconf aclocal:automake libtoolize:libtool make:make gcc:gcc; do
		tool=${pair%%:*} pkg=${pair#*:}
		command -v "$tool" >/dev/null || need="$need $pkg"
	done
	[ -f "$KEYRING" ] || need="$need debian-archive-keyring"
	[ -n "$need" ] || return 0
	# shellcheck disable=SC2086 # split the list to sort it
	need=$(printf '%s\n' $need | sort -u | tr '\n' ' ')
	need=${need% }
	[ "$(id -u)" = 0 ] ||
		die "missing build tools; as root run: apt-get install --no-install-recommends $need"
	say "installing build tools: $need"
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	if ! apt-get install -y -q --no-install-recommends $need >"$WORK/apt-install.log" 2>&1; then
		say "apt-get install failed; refreshing the system package lists once"
		# shellcheck disable=SC2086
		{ timeout 600 apt-get update -q && apt-get install -y -q --no-install-recommends $need; } \
			>>"$WORK/apt-install.log" 2>&1 ||
			die "could not install $need (log: $WORK/apt-install.log)" \
				"install them by hand: apt-get install --no-install-recommends $need"
	fi
}

# apt-get with a private source list, lists and cache: the system's apt state is untouched.
papt() {
	timeout 900 apt-get -q -o Dir::Etc::SourceList="$WORK/apt/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$WORK/apt/lists" \
		-o Dir::Cache="$WORK/apt/cache" -o Acquire::Retries=2 \
		-o Acquire::http::Timeout=30 -o APT::Get::Only-Source=true "$@"
}

fetch_index() {
	local s
	rm -rf "$WORK/apt"
	mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial"
	{
		for s in $SUITES; do
			echo "deb-src [signed-by=$KEYRING] http://deb.debian.org/debian $s main"
		done
		echo "deb-src [signed-by=$KEYRING] http://deb.debian.org/debian-security bookworm-security main"
	} >"$WORK/apt/sources.list"
	say "fetching the bookworm source index from deb.debian.org (main, updates, security)"
	# apt-get update exits 0 when a source is unreachable: judge by the lists it got.
	papt update >"$WORK/apt-update.log" 2>&1 || true
	grep -E '^(W|E):' "$WORK/apt-update.log" | sed 's/^/wolfssl-fast:   apt: /' >&2 || true
	compgen -G "$WORK/apt/lists/*_dists_bookworm_main_source_Sources*" >/dev/null ||
		die "could not download the bookworm source index from deb.debian.org" \
			"check the network or proxy (http_proxy) for http://deb.debian.org/debian" \
			"apt log: $WORK/apt-update.log"
	compgen -G "$WORK/apt/lists/*bookworm-security_main_source_Sources*" >/dev/null ||
		say "warning: no bookworm-security index; building the newest version in bookworm main"
}

# Prints the version apt-get source would fetch (the highest of all suites).
candidate_version() {
	local dsc
	dsc=$(cd "$WORK" && papt source --print-uris wolfssl 2>>"$WORK/apt-update.log" |
		awk '$2 ~ /^wolfssl_.*\.dsc$/ && !n++ { print $2 }') ||
		die "the source index has no wolfssl package (log: $WORK/apt-update.log)"
	[ -n "$dsc" ] || die "the source index has no wolfssl package (log: $WORK/apt-update.log)"
	dsc=${dsc#wolfssl_}
	echo "${dsc%.dsc}"
}

fetch_source() {
	local version=$1
	rm -rf "$WORK/src"
	mkdir -p "$WORK/src"
	# apt downloads as user _apt when it can write there; otherwise it warns and runs as root.
	if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$WORK/src"; fi
	say "downloading and unpacking wolfssl $version (apt-get source, Debian patches applied)"
	(cd "$WORK/src" && papt source "wolfssl=$version") >"$WORK/apt-source.log" 2>&1 ||
		die "apt-get source wolfssl=$version failed (log: $WORK/apt-source.log)"
	SRC=$(find "$WORK/src" -mindepth 3 -maxdepth 3 -name rules -path '*/debian/*' -printf '%h\n' |
		head -n 1)
	SRC=${SRC%/debian}
	[ -f "$SRC/configure.ac" ] ||
		die "no unpacked source tree under $WORK/src (log: $WORK/apt-source.log)"
}

# Debian's own flags: the arguments after "dh_auto_configure --" in debian/rules.
debian_flags() {
	local flags
	flags=$(sed -n '/^override_dh_auto_configure:/,/^[^[:space:]]/p' "$SRC/debian/rules" |
		grep -oE -- '--[a-z][a-z0-9-]*(=[^[:space:]\\]+)?' | tr '\n' ' ')
	flags=${flags% }
	case " $flags " in *" --enable-distro "*) ;; *) flags="" ;; esac
	case " $flags " in *" --enable-pkcs11 "*) ;; *) flags="" ;; esac
	[ -n "$flags" ] ||
		die "debian/rules no longer passes --enable-distro --enable-pkcs11 to configure" \
			"read $SRC/debian/rules and update tests/bench/wolfssl-fast.sh"
	echo "$flags"
}

build_source() {
	local log=$WORK/build.log cflags cppflags ldflags
	# Debian builds with dpkg-buildflags and hardening=+all (debian/rules).
	cflags="$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CFLAGS) $SIZE_CFLAGS"
	cppflags=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CPPFLAGS)
	ldflags=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get LDFLAGS)
	: >"$log"
	say "autoreconf (the source package ships no configure script)"
	(cd "$SRC" && autoreconf -f -i) >>"$log" 2>&1 || die "autoreconf failed (log: $log)"
	say "configure $CONFIGURE_FLAGS (CFLAGS += $SIZE_CFLAGS)"
	# shellcheck disable=SC2086 # the flag lists are split on purpose
	(cd "$SRC" && ./configure --prefix="$PREFIX" --libdir="$PREFIX/lib" \
		CFLAGS="$cflags" CPPFLAGS="$cppflags" LDFLAGS="$ldflags" $CONFIGURE_FLAGS) \
		>>"$log" 2>&1 || die "configure failed (log: $log, and $SRC/config.log)"
	say "make -j$JOBS (log: $log)"
	(cd "$SRC" && timeout 3600 make -j"$JOBS") >>"$log" 2>&1 ||
		die "make failed (log: $log)" "$(tail -n 5 "$log")"
	# The wolfCrypt self-test runs every algorithm through the assembly on this CPU.
	say "wolfCrypt self-test on this CPU"
	(cd "$SRC" && timeout 900 ./wolfcrypt/test/testwolfcrypt) >>"$log" 2>&1 ||
		die "the wolfCrypt self-test failed on this CPU: the assembly build is not usable here" \
			"log: $log; build without MTLS_WOLFSSL_FAST"
}

# options.h lists -D flags only, AM_CFLAGS after CFLAGS: it would say the -U'd define is
# on. Make it say what the library was compiled with, and check the library agrees (it
# exports wolfSSL_is_peer_alt_cert_chain only with WOLFSSL_ALT_CERT_CHAINS).
check_size_flags() {
	local h f
	for h in "$PREFIX/include/wolfssl/options.h" "$PREFIX/include/cyassl/options.h"; do
		sed -i '/^#define WOLFSSL_ALT_CERT_CHAINS$/d' "$h"
	done
	h=$PREFIX/include/wolfssl/options.h
	grep -q '^#define MAX_CHAIN_DEPTH 5$' "$h" ||
		die "$h lacks MAX_CHAIN_DEPTH 5: CFLAGS did not reach configure (log: $WORK/build.log)"
	for f in "$PREFIX"/lib/libwolfssl.so.*; do
		[ -L "$f" ] && continue
		if nm -D "$f" | grep -qw wolfSSL_is_peer_alt_cert_chain; then
			die "$f was built with WOLFSSL_ALT_CERT_CHAINS despite -U in CFLAGS" \
				"see the compile lines in $WORK/build.log"
		fi
	done
}

install_build() {
	local d
	say "installing into $PREFIX"
	rm -f "$STAMP"
	for d in bin include lib share; do rm -rf "${PREFIX:?}/$d"; done
	(cd "$SRC" && make install) >>"$WORK/build.log" 2>&1 ||
		die "make install into $PREFIX failed (log: $WORK/build.log)"
	# --enable-distro leaves options.h out of "make install"; Debian's
	# libwolfssl-dev.install copies it, and so do we.
	install -m 644 "$SRC/wolfssl/options.h" "$PREFIX/include/wolfssl/options.h"
	install -m 644 "$SRC/cyassl/options.h" "$PREFIX/include/cyassl/options.h"
	for d in $NEED_DEFINES; do
		grep -q "^#define $d\\b" "$PREFIX/include/wolfssl/options.h" ||
			die "the build lacks $d ($PREFIX/include/wolfssl/options.h)" \
				"the configure flags no longer give what mtls-agent needs; see $WORK/build.log"
	done
	check_size_flags
	{
		echo "recipe=$RECIPE"
		echo "version=$VERSION"
		echo "speed_flags=$SPEED_FLAGS"
		echo "size_cflags=$SIZE_CFLAGS"
		echo "configure=$CONFIGURE_FLAGS"
		echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ) in ${SECONDS}s"
	} >"$STAMP.tmp"
	mv "$STAMP.tmp" "$STAMP"
}

main() {
	check_cpu
	mkdir -p "$WORK"
	# One build per prefix at a time (two configures of one tree): wait, but not forever.
	exec 9>"$WORK/lock"
	flock -w 3600 9 || die "another wolfssl-fast.sh holds $WORK/lock for over an hour"
	if is_installed && [ "$UPDATE" = 0 ]; then
		say "up to date: wolfssl $(stamp_value version) in $PREFIX"
		exit 0
	fi
	claim_prefix
	ensure_tools
	fetch_index
	VERSION=$(candidate_version)
	if is_installed && [ "$(stamp_value version)" = "$VERSION" ]; then
		say "up to date: wolfssl $VERSION in $PREFIX (newest in the archive)"
		exit 0
	fi
	SECONDS=0
	fetch_source "$VERSION"
	CONFIGURE_FLAGS="$(debian_flags) $SPEED_FLAGS"
	build_source
	install_build
	say "done: wolfssl $VERSION in $PREFIX (${SECONDS}s)"
}

# One line: bash has read the whole script before main runs, so an edit meanwhile is harmless.
main; exit
