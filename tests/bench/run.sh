#!/usr/bin/env bash
# tests/bench/run.sh: our agent against stunnel, side by side, one run, one
# token, one machine (issue 6). See tests/bench/README.md.
#
#   tests/bench/run.sh [--quick | --smoke] [--skip-fast] [--out FILE] [--keep]
#                      [--build-dir DIR [--fast-build-dir DIR]]
#
# Builds build/bench-sys (and build/bench-fast with -DMTLS_WOLFSSL_FAST=ON
# when tests/bench/wolfssl-fast.sh exists), makes a private SoftHSM2 token
# and PKI, runs plain TCP, our agents and stunnel + libp11 as client proxy ->
# server proxy -> backend on 127.0.0.1, prints one table and writes
# build/bench/results.json and results.md. MTLS_BUILD_ROOT moves build/.
# Exit: 0 ran (whatever the ratios), 1 the harness or a stack broke,
# 2 usage, 77 (with --build-dir only) a needed package is missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/bench_lib.sh"
. "$top/tests/lib/stunnel.sh"
. "$top/tests/lib/portlog.sh"

usage() {
	sed -n '5,6p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

PROFILE=full SKIP_FAST=0 SYS_DIR='' FAST_DIR='' OUT='' KEEP=0 PREBUILT=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) PROFILE=quick ;;
	--smoke) PROFILE=smoke ;;
	--skip-fast) SKIP_FAST=1 ;;
	--keep) KEEP=1 ;;
	--out) OUT=${2:?--out needs a file}; shift ;;
	--build-dir) SYS_DIR=$(cd "${2:?--build-dir needs a directory}" && pwd); PREBUILT=1; shift ;;
	--fast-build-dir) FAST_DIR=$(cd "${2:?--fast-build-dir needs a directory}" && pwd); shift ;;
	-h | --help) usage ;;
	*) echo "run.sh: unknown option $1" >&2; usage ;;
	esac
	shift
done
root=${MTLS_BUILD_ROOT:-$top/build}
OUT=${OUT:-$root/bench/results.json}
MD=${OUT%.json}.md
[ "$MD" != "$OUT" ] || MD=$OUT.md

# ---- what each profile measures ----
KEYS="ec256 rsa2048" STACKS="plain ours_sys ours_fast stunnel"
CONNS=16 WARMUP=1 HS_SECONDS=5 BULK_MIB=512 IDLE_TUNNELS=1000 HOLD_SECONDS=3 RTT_COUNT=2000
SLOW_CONNS=32 SLOW_WARMUP=2 SLOW_SECONDS=5 SLOW_LATENCIES="70 200" SLOW_SESSIONS=4 TUNED=1
case $PROFILE in
quick)
	WARMUP=0.5 HS_SECONDS=2 BULK_MIB=128 IDLE_TUNNELS=300 HOLD_SECONDS=2 RTT_COUNT=500
	SLOW_WARMUP=1.5 SLOW_SECONDS=3 TUNED=0
	;;
smoke)
	KEYS=ec256 STACKS="plain ours_sys stunnel" SKIP_FAST=1
	WARMUP=0.3 HS_SECONDS=1 BULK_MIB=32 IDLE_TUNNELS=50 HOLD_SECONDS=1 RTT_COUNT=200
	SLOW_WARMUP=1 SLOW_SECONDS=1 TUNED=0
	;;
esac
# ---- builds ----
BUILD_TARGETS="mtls-agent mtls-signer mtls-echo mtls-load mtls-bench mtls-sign mtls-fault-p11"
jobs=$(nproc 2>/dev/null || echo 2)

# build_tree DIR LOG [cmake options...]: configure once, then build what the
# harness runs. Output goes to LOG; its tail is shown on failure.
build_tree() {
	local dir=$1 log=$2
	shift 2
	# Configured means a generated build system: a configure that failed
	# (e.g. the fast wolfSSL could not be built) leaves a cache without one.
	if [ ! -f "$dir/Makefile" ] && [ ! -f "$dir/build.ninja" ]; then
		note "configuring $dir"
		cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$log" 2>&1 ||
			return 1
	fi
	note "building $dir"
	# shellcheck disable=SC2086
	cmake --build "$dir" -j"$jobs" --target $BUILD_TARGETS >>"$log" 2>&1
}

have_tree() {
	local f
	for f in bin/mtls-agent bin/mtls-signer bin/mtls-echo bin/mtls-load bin/mtls-bench \
		bin/mtls-sign tests/fault/libmtls-fault-p11.so; do
		[ -x "$1/$f" ] || [ -f "$1/$f" ] || { warn "$1/$f is missing"; return 1; }
	done
}

FAST_STATE=skipped
[ -f "$here/wolfssl-fast.sh" ] || FAST_STATE=absent
if [ "$PREBUILT" = 0 ]; then
	bash "$top/tests/lib/deps.sh"
	mkdir -p "$root/bench"
	SYS_DIR=$root/bench-sys
	build_tree "$SYS_DIR" "$root/bench/build-sys.log" || {
		tail -n 30 "$root/bench/build-sys.log" >&2
		warn "the system-wolfSSL build in $SYS_DIR failed (log: $root/bench/build-sys.log)"
		exit 1
	}
	if [ "$SKIP_FAST" = 0 ] && [ -z "$FAST_DIR" ] && [ -f "$here/wolfssl-fast.sh" ]; then
		FAST_DIR=$root/bench-fast
		if build_tree "$FAST_DIR" "$root/bench/build-fast.log" -DMTLS_WOLFSSL_FAST=ON; then
			FAST_STATE=built
		else
			tail -n 20 "$root/bench/build-fast.log" >&2
			warn "******** the fast-wolfSSL build in $FAST_DIR FAILED (log: $root/bench/build-fast.log);"
			warn "******** continuing with the system build only: no 'ours (fast)' column."
			FAST_STATE=failed FAST_DIR=
		fi
	fi
fi
have_tree "$SYS_DIR" || { warn "$SYS_DIR is not a complete build tree"; exit 1; }
if [ "$SKIP_FAST" = 1 ]; then
	FAST_DIR='' FAST_STATE=skipped
elif [ -n "$FAST_DIR" ]; then
	if [ -x "$FAST_DIR/bin/mtls-agent" ] && [ -x "$FAST_DIR/bin/mtls-signer" ] &&
		grep -q '^MTLS_WOLFSSL_FAST:BOOL=ON$' "$FAST_DIR/CMakeCache.txt" 2>/dev/null; then
		FAST_STATE=built
	else
		warn "$FAST_DIR is not a build with -DMTLS_WOLFSSL_FAST=ON: no 'ours (fast)' column"
		FAST_STATE=failed FAST_DIR=
	fi
fi
[ -n "$FAST_DIR" ] || STACKS=${STACKS/ours_fast/}

# ---- what the stacks need ----
P11_ENGINE=''
for f in /usr/lib/*/engines-3/pkcs11.so; do [ -f "$f" ] && P11_ENGINE=$f && break; done
missing=
for t in stunnel4 softhsm2-util pkcs11-tool openssl curl; do
	command -v "$t" >/dev/null || missing="$missing $t"
done
[ -n "$P11_ENGINE" ] || missing="$missing libengine-pkcs11-openssl"
if [ -n "$missing" ]; then
	warn "missing:$missing (tests/lib/deps.sh installs them)"
	[ "$PREBUILT" = 1 ] && exit 77
	exit 1
fi
ulimit -n 8192 2>/dev/null || { warn "cannot raise the open-file limit to 8192"; exit 1; }
TB=$SYS_DIR/bin
FAULT_LIB=$SYS_DIR/tests/fault/libmtls-fault-p11.so

# ---- private token, PKI, backends ----
FAILED=
W=$(mktemp -d "${TMPDIR:-/tmp}/mtls-bench.XXXXXX")
chmod 700 "$W"
finish() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	if [ "$KEEP" = 1 ] || [ "$rc" -ne 0 ]; then
		warn "work directory kept: $W"
	else
		rm -rf "$W"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tpl=$(bash "$top/tests/lib/mktoken.sh" --template "$SYS_DIR/token-template") ||
	{ warn "cannot make the token template"; exit 1; }
eval "$tpl"
vars=$(MTLS_TOKEN_TEMPLATE=$MTLS_TOKEN_TEMPLATE bash "$top/tests/lib/mktoken.sh" "$W/token") ||
	{ warn "cannot make the private token"; exit 1; }
eval "$vars"
export SOFTHSM2_CONF MTLS_TEST_TOKEN MTLS_TEST_PIN_FILE MTLS_TEST_MODULE
PIN_FILE=$MTLS_TEST_PIN_FILE
MTLS_BUILD_DIR=$SYS_DIR bash "$top/tests/lib/mkpki.sh" "$W/pki" || { warn "mkpki.sh failed"; exit 1; }
PKI=$W/pki
start_backends || exit 1

# Does the agent know session-resume (issue 6 asked for it)? Without it the
# "full" figures of our agent are not full, and the table says so.
HAVE_SESSION_RESUME=no
if "$SYS_DIR/bin/mtls-agent" client --listen 127.0.0.1:1 --target 127.0.0.1:2 \
	--key "pkcs11:token=$MTLS_TEST_TOKEN;object=ec256;type=private?module-path=$FAULT_LIB" \
	--cert "$PKI/tok-ec256.pem" --cacert "$PKI/ca.pem" --session-resume no --check \
	>"$W/check-session-resume.log" 2>&1; then
	HAVE_SESSION_RESUME=yes
else
	warn "this mtls-agent has no --session-resume option: its 'full' handshakes may resume ($(head -n 1 "$W/check-session-resume.log"))"
fi

# ---- the measurements ----
T_START=$(date +%s)

slow_figure() { # STACK KEY LATENCY_MS KIND
	write_fault "$FAULT_C" "$CALLS_C" "$3" "$SLOW_SESSIONS"
	write_fault "$FAULT_S" "$CALLS_S" "$3" "$SLOW_SESSIONS"
	measure_hs "$1" "$2" "$4" "$SLOW_CONNS" "$SLOW_WARMUP" "$SLOW_SECONDS" || return 0
	R[$2,${4}_limit,$1]=$(awk -v s="$SLOW_SESSIONS" -v l="$3" 'BEGIN { printf "%.1f", s * 1000 / l }')
	R[$2,${4}_pct_of_limit,$1]=$(awk -v r="${R[$2,${4}_hs_per_s,$1]}" -v m="${R[$2,${4}_limit,$1]}" \
		'BEGIN { printf "%.0f", 100 * r / m }')
	note "  $1 $2 $4: ${R[$2,${4}_pct_of_limit,$1]}% of the token's limit ${R[$2,${4}_limit,$1]}/s"
}

run_mode() { # STACK KEY MODE
	local stack=$1 key=$2 mode=$3 lat
	stack_start "$stack" "$key" "$mode" || return 0
	case $mode in
	full)
		measure_hs "$stack" "$key" full "$CONNS" "$WARMUP" "$HS_SECONDS" && ours_metrics "$stack" "$key" full
		;;
	resumed)
		[ "$stack" = plain ] || probe_suite "$stack" "$key"
		# Memory after the handshake run: that run warms the stack up (our
		# agents' handshake workers keep about 11 MiB of heap each after their
		# first handshakes), so the idle tunnels are charged only their own
		# cost. The memory the K connections of that run freed is reused:
		# the figure is low by at most K/N.
		if measure_hs "$stack" "$key" resumed "$CONNS" "$WARMUP" "$HS_SECONDS"; then
			ours_metrics "$stack" "$key" resumed
			measure_rss "$stack" "$key"
			measure_rtt "$stack" "$key"
			measure_bulk "$stack" "$key"
		fi
		;;
	slow)
		for lat in $SLOW_LATENCIES; do
			slow_figure "$stack" "$key" "$lat" "slow$lat"
		done
		;;
	slowtuned) slow_figure "$stack" "$key" 200 slow200tuned ;;
	esac
	stack_stop
}

note "stacks: $STACKS; keys: $KEYS; profile $PROFILE; work directory $W"
for key in $KEYS; do
	modes="full resumed slow"
	[ "$TUNED" = 1 ] && modes="$modes slowtuned"
	for mode in $modes; do
		note "== $key, $mode =="
		for stack in $STACKS; do
			case $mode,$stack in
			slow*,plain) continue ;;
			slowtuned,stunnel) continue ;;
			esac
			run_mode "$stack" "$key" "$mode"
		done
	done
done
stop_all
T_RUN=$(($(date +%s) - T_START))

report_all
note "measured in ${T_RUN} s (builds, token and PKI not included)"
if [ -n "$FAILED" ]; then
	warn "FAILED:$FAILED"
	exit 1
fi
