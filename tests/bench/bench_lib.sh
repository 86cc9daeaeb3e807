# Shell functions of tests/bench/run.sh (sourced; see README.md).
#
# Needs: W (private work directory), TB (bin/ of the tree whose mtls-bench,
# mtls-load and mtls-echo drive every stack), FAULT_LIB, PKI, PIN_FILE,
# MTLS_TEST_TOKEN, SOFTHSM2_CONF (exported), and the parameters run.sh sets.
# Every process started here is stopped by its pid (stop_all at exit); every
# wait is bounded; everything listens on and connects to 127.0.0.1 only.

PIDS=()        # every process started, for stop_all
declare -A R     # R[KEY,FIGURE,STACK]: every figure measured
declare -A SUITE # SUITE[KEY,STACK]: the negotiated TLS 1.3 cipher suite
STACK_PIDS=()  # the processes of the stack under test (roots of its trees)
STACK_LOGS=()  # their logs, shown when something fails
USED_PORTS=" "

note() { printf '%s\n' "$*"; }
warn() { printf 'bench: %s\n' "$*" >&2; }

# ---- processes ----

# start NAME CMD...: in the background, output in $W/NAME.log; pid in LAST_PID.
start() {
	local name=$1
	shift
	"$@" >"$W/$name.log" 2>&1 </dev/null &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# tree_of PID: PID and all its descendants (our agents: launcher, signers).
tree_of() {
	"$TB/mtls-bench" pids --tree "$1" 2>/dev/null || echo "$1"
}

# stop_pids PID...: SIGTERM to each and its descendants, up to 5 s, then
# SIGKILL. Descendants (our agents' launchers and signers) are collected
# first, so none is left behind if its parent dies first.
stop_pids() {
	local all=() p i
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null || continue
		mapfile -t -O "${#all[@]}" all < <(tree_of "$p")
	done
	[ ${#all[@]} -gt 0 ] || return 0
	for p in "${all[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${all[@]}"; do
		for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

stop_all() {
	stop_pids "${PIDS[@]}"
	PIDS=()
}

# ---- ports ----

port_listening() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
		/proc/net/tcp 2>/dev/null
}

# A port nobody listens on and this run has not handed out (below the
# ephemeral range, so no outgoing connection holds it).
free_port() {
	local p i
	for i in $(seq 1 100); do
		p=$((20000 + (RANDOM * 7 + i) % 12000))
		case $USED_PORTS in *" $p "*) continue ;; esac
		port_listening "$p" && continue
		USED_PORTS="$USED_PORTS$p "
		echo "$p"
		return 0
	done
	warn "no free port found"
	return 1
}

# wait_ports SECONDS PORT...: until each listens.
wait_ports() {
	local n=$(($1 * 20)) p i
	shift
	for p in "$@"; do
		for i in $(seq 1 "$n"); do
			port_listening "$p" && break
			sleep 0.05
		done
		port_listening "$p" || return 1
	done
}

# port_from_log NAME: the "port N" line a tool prints on start (5 s at most).
port_from_log() { port_in_log "$W/$1.log"; }

# ---- backends ----

start_backends() {
	start echo "$TB/mtls-echo" --port 0 --seconds 7200
	ECHO_PORT=$(port_from_log echo) || { warn "the echo backend did not start"; return 1; }
	start sink "$TB/mtls-bench" sink --port 0 --seconds 7200
	SINK_PORT=$(port_from_log sink) || { warn "the bulk sink did not start"; return 1; }
}

# ---- the fault module (counts every C_Sign; latency and sessions) ----

# write_fault FILE CALLS_LOG [LATENCY_MS [MAX_SESSIONS]]: atomically, as
# tests/fault/README.md asks.
write_fault() {
	{
		echo "calls_log = $2"
		if [ -n "${3:-}" ]; then echo "latency.C_Sign = $3"; fi
		if [ -n "${4:-}" ]; then echo "max_sessions = $4"; fi
	} >"$1.tmp"
	mv "$1.tmp" "$1"
}

# signs FILE FROM TO: successful C_Sign calls logged between two offsets.
signs_between() {
	[ -f "$1" ] || { echo 0; return; }
	tail -c +$(($2 + 1)) "$1" | head -c $(($3 - $2)) | grep -c ' C_Sign 0x0$' || true
}
calls_between() {
	[ -f "$1" ] || { echo 0; return; }
	tail -c +$(($2 + 1)) "$1" | head -c $(($3 - $2)) | wc -l
}

# ---- the stacks ----
# stack_start STACK KEY MODE: STACK is plain, ours_sys, ours_fast or stunnel;
# MODE full (no resumption), resumed (defaults), slow (no resumption, the
# fault module with max_sessions = 4 and a C_Sign latency set later), or
# slowtuned (slow, and our agents with --handshake-workers 16). Sets
# CP_ECHO and CP_BULK (the client proxy's ports towards the echo backend
# and the sink), STACK_PIDS, STACK_LOGS, and for TLS stacks CALLS_C and
# CALLS_S (the client's and server's C_Sign logs) and FAULT_C, FAULT_S.

stack_start() {
	local stack=$1 key=$2 mode=$3
	TAG=$stack-$key-$mode
	STACK_PIDS=()
	STACK_LOGS=()
	CALLS_C=$W/$TAG-calls-c.log
	CALLS_S=$W/$TAG-calls-s.log
	FAULT_C=$W/$TAG-fault-c.conf
	FAULT_S=$W/$TAG-fault-s.conf
	local ms=
	case $mode in slow*) ms=4 ;; esac
	write_fault "$FAULT_C" "$CALLS_C" "" "$ms"
	write_fault "$FAULT_S" "$CALLS_S" "" "$ms"
	SP_ECHO=$(free_port) && SP_BULK=$(free_port) && CP_ECHO=$(free_port) &&
		CP_BULK=$(free_port) || return 1
	case $stack in
	plain) plain_start ;;
	ours_sys) ours_start "$SYS_DIR" "$key" "$mode" ;;
	ours_fast) ours_start "$FAST_DIR" "$key" "$mode" ;;
	stunnel) stunnel_start "$key" "$mode" ;;
	esac || { stack_failed "$TAG" "could not be started"; return 1; }
	wait_ports 30 "$SP_ECHO" "$SP_BULK" "$CP_ECHO" "$CP_BULK" ||
		{ stack_failed "$TAG" "does not listen after 30 s"; return 1; }
	# One echo through the tunnel pair before anything is measured.
	"$TB/mtls-load" --addr "127.0.0.1:$CP_ECHO" --conns 1 --bytes 64 --seconds 30 \
		>"$W/$TAG-probe.log" 2>&1 ||
		{ stack_failed "$TAG" "does not carry an echo"; return 1; }
}

stack_stop() {
	stop_pids "${STACK_PIDS[@]}"
	STACK_PIDS=()
}

stack_failed() {
	local f
	warn "stack $1 $2; log tails:"
	for f in "${STACK_LOGS[@]}" "$W/$1-probe.log"; do
		[ -s "$f" ] || continue
		printf -- '--- %s\n' "$f" >&2
		tail -n 15 "$f" >&2
	done
	FAILED="$FAILED $1"
	stack_stop
}

plain_start() {
	local name
	start "$TAG-s-echo" "$TB/mtls-bench" fwd --port "$SP_ECHO" --target "127.0.0.1:$ECHO_PORT" \
		--seconds 3600
	STACK_PIDS+=("$LAST_PID")
	start "$TAG-c-echo" "$TB/mtls-bench" fwd --port "$CP_ECHO" --target "127.0.0.1:$SP_ECHO" \
		--seconds 3600
	STACK_PIDS+=("$LAST_PID")
	# The bulk pair is not counted in CPU or memory (as for the TLS stacks,
	# whose bulk tunnel lives in the same process, idle then).
	start "$TAG-s-bulk" "$TB/mtls-bench" fwd --port "$SP_BULK" --target "127.0.0.1:$SINK_PORT" \
		--seconds 3600
	PLAIN_BULK_PIDS=("$LAST_PID")
	start "$TAG-c-bulk" "$TB/mtls-bench" fwd --port "$CP_BULK" --target "127.0.0.1:$SP_BULK" \
		--seconds 3600
	PLAIN_BULK_PIDS+=("$LAST_PID")
	for name in s-echo c-echo s-bulk c-bulk; do STACK_LOGS+=("$W/$TAG-$name.log"); done
}

# ours_tunnel NAME MODE LISTEN TARGET KEY: one [tunnel] section.
ours_tunnel() {
	local uri="pkcs11:token=$MTLS_TEST_TOKEN;object=$5;type=private?module-path=$FAULT_LIB"
	printf '[tunnel %s]\nmode = %s\nlisten = 127.0.0.1:%s\ntarget = 127.0.0.1:%s\n' "$1" "$2" "$3" "$4"
	printf 'key = %s\ncert = %s\ncacert = %s\n' "$uri" "$PKI/tok-$5.pem" "$PKI/ca.pem"
	printf 'max-connections = 4096\n'
	if [ "$2" = server ]; then
		printf 'allow-cn = tok-%s\n' "$5"
	else
		printf 'server-name = localhost\n'
	fi
	[ "$OURS_RESUME" = no ] && printf 'session-resume = no\n'
	return 0
}

# ours_conf SIDE: the agent's configuration file on stdout.
ours_conf() {
	printf '[agent]\npin-file = %s\nlog-level = warning\ndrain-timeout = 0\n' "$PIN_FILE"
	printf 'metrics-listen = unix:%s\n' "$W/$TAG-$1.metrics"
	[ -n "$OURS_WORKERS" ] && printf 'handshake-workers = %s\n' "$OURS_WORKERS"
	if [ "$1" = s ]; then
		ours_tunnel echo server "$SP_ECHO" "$ECHO_PORT" "$BENCH_KEY"
		ours_tunnel bulk server "$SP_BULK" "$SINK_PORT" "$BENCH_KEY"
	else
		ours_tunnel echo client "$CP_ECHO" "$SP_ECHO" "$BENCH_KEY"
		ours_tunnel bulk client "$CP_BULK" "$SP_BULK" "$BENCH_KEY"
	fi
}

# ours_start BUILD_DIR KEY MODE: a server agent, then a client agent, each
# with the default signer process and sandbox.
ours_start() {
	local dir=$1 side fault
	BENCH_KEY=$2
	OURS_RESUME=yes
	OURS_WORKERS=
	case $3 in full | slow*) [ "$HAVE_SESSION_RESUME" = yes ] && OURS_RESUME=no ;; esac
	[ "$3" = slowtuned ] && OURS_WORKERS=16
	for side in s c; do
		ours_conf "$side" >"$W/$TAG-$side.conf"
		fault=$FAULT_S
		[ "$side" = c ] && fault=$FAULT_C
		start "$TAG-$side" env MTLS_FAULT_CONF="$fault" "$dir/bin/mtls-agent" \
			--config "$W/$TAG-$side.conf"
		STACK_PIDS+=("$LAST_PID")
		STACK_LOGS+=("$W/$TAG-$side.log")
		[ "$side" = s ] && { wait_ports 30 "$SP_ECHO" "$SP_BULK" || return 1; }
	done
	OURS_METRICS=("$W/$TAG-c.metrics" "$W/$TAG-s.metrics")
}

# stunnel_service NAME ACCEPT CONNECT KEY CLIENT MODE
stunnel_service() {
	printf '[%s]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' "$1" "$2" "$3"
	printf 'engineId = pkcs11\ncert = %s\n' "$PKI/tok-$4.pem"
	printf 'key = pkcs11:token=%s;object=%s;type=private\n' "$MTLS_TEST_TOKEN" "$4"
	printf 'CAfile = %s\nverifyChain = yes\ncheckHost = localhost\nsslVersion = TLSv1.3\n' \
		"$PKI/ca.pem"
	[ "$5" = yes ] && printf 'client = yes\n'
	# sessionResume = no: a client offers no session, a server sends no
	# ticket of either kind and keeps no cache (SSL_CTX_set_num_tickets 0,
	# SSL_SESS_CACHE_OFF): the same as our session-resume = no.
	case $6 in full | slow*) printf 'sessionResume = no\n' ;; esac
}

# stunnel_conf SIDE KEY MODE: the configuration (with the PIN) on stdout,
# the global section as tests/lib/stunnel.sh writes it.
stunnel_conf() {
	stunnel_global "$W/$TAG-$1-out.log" "$P11_ENGINE" "$FAULT_LIB" "$PIN_FILE"
	if [ "$1" = s ]; then
		stunnel_service echo "$SP_ECHO" "$ECHO_PORT" "$2" no "$3"
		stunnel_service bulk "$SP_BULK" "$SINK_PORT" "$2" no "$3"
	else
		stunnel_service echo "$CP_ECHO" "$SP_ECHO" "$2" yes "$3"
		stunnel_service bulk "$CP_BULK" "$SP_BULK" "$2" yes "$3"
	fi
}

stunnel_start() {
	local side fault
	for side in s c; do
		install -m 600 /dev/null "$W/$TAG-$side.stunnel.conf" # it holds the PIN
		stunnel_conf "$side" "$1" "$2" >>"$W/$TAG-$side.stunnel.conf"
		fault=$FAULT_S
		[ "$side" = c ] && fault=$FAULT_C
		start "$TAG-$side" env MTLS_FAULT_CONF="$fault" stunnel4 "$W/$TAG-$side.stunnel.conf"
		STACK_PIDS+=("$LAST_PID")
		STACK_LOGS+=("$W/$TAG-$side.log" "$W/$TAG-$side-out.log")
		[ "$side" = s ] && { wait_ports 30 "$SP_ECHO" "$SP_BULK" || return 1; }
	done
	return 0
}

# ---- measurements ----
# Each sets R[KEY,FIGURE,STACK]; run.sh declares R as an associative array.

kv() { printf '%s\n' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2; exit }'; }

# measure_hs STACK KEY KIND CONNS WARMUP SECONDS: KIND names the figure
# (full, resumed, slow70, slow200, slow200tuned). The rate and CPU are the
# window's; the resumed share counts every connection of the run (warm-up
# and the in-flight ones finishing after the window included) against every
# C_Sign the token logged meanwhile on each side.
measure_hs() {
	local stack=$1 key=$2 kind=$3 out trees=() p w0 w1 sc ss n cp
	for p in "${STACK_PIDS[@]}"; do trees+=(--tree "$p"); done
	out=$("$TB/mtls-bench" hs --addr "127.0.0.1:$CP_ECHO" --conns "$4" --warmup "$5" \
		--seconds "$6" "${trees[@]}" --watch "$CALLS_C" --watch "$CALLS_S" 2>&1) || {
		warn "$TAG: no connection completed: $out"
		stack_failed "$TAG" "completed no $kind connection"
		return 1
	}
	n=$(kv "$out" total_completed)
	R[$key,${kind}_hs_per_s,$stack]=$(kv "$out" rate)
	R[$key,${kind}_errors,$stack]=$(($(kv "$out" total_errors) + $(kv "$out" unfinished)))
	R[$key,${kind}_cpu_ms_per_hs,$stack]=$(kv "$out" cpu_ms_per)
	[ "$stack" = plain ] && { hs_line "$stack" "$key" "$kind"; return 0; }
	w0=$(kv "$out" watch0)
	w1=$(kv "$out" watch1)
	sc=$(signs_between "$CALLS_C" "${w0%-*}" "${w0#*-}")
	ss=$(signs_between "$CALLS_S" "${w1%-*}" "${w1#*-}")
	cp=$(($(calls_between "$CALLS_C" "${w0%-*}" "${w0#*-}") + $(calls_between "$CALLS_S" "${w1%-*}" "${w1#*-}")))
	R[$key,${kind}_connections,$stack]=$n
	R[$key,${kind}_signs_client,$stack]=$sc
	R[$key,${kind}_signs_server,$stack]=$ss
	# A full handshake signs once on each side, a resumed one not at all.
	R[$key,${kind}_resumed_share,$stack]=$(awk -v n="$n" -v c="$sc" -v s="$ss" 'BEGIN {
		f = n > 0 ? 1 - (c + s) / (2 * n) : 0; if (f < 0) f = 0; printf "%.3f", f }')
	R[$key,${kind}_p11_calls_per_hs,$stack]=$(awk -v n="$n" -v c="$cp" 'BEGIN {
		printf "%.2f", (n > 0 ? c / n : 0) }')
	hs_line "$stack" "$key" "$kind"
}

# r KEY FIGURE STACK: one result, or nothing.
r() { printf '%s' "${R[$1,$2,$3]:-}"; }

hs_line() {
	local k=$2 f=$3 s=$1 line
	line="  $s $k $f: $(r "$k" "${f}_hs_per_s" "$s") conn/s, $(r "$k" "${f}_errors" "$s") errors,"
	line="$line CPU $(r "$k" "${f}_cpu_ms_per_hs" "$s") ms/conn"
	if [ "$s" != plain ]; then
		line="$line; resumed share $(r "$k" "${f}_resumed_share" "$s") ($(r "$k" "${f}_connections" "$s") connections,"
		line="$line C_Sign: client $(r "$k" "${f}_signs_client" "$s"), server $(r "$k" "${f}_signs_server" "$s");"
		line="$line $(r "$k" "${f}_p11_calls_per_hs" "$s") PKCS#11 calls/conn)"
	fi
	note "$line"
}

# ours_metrics STACK KEY KIND: the client agent's own count of full and
# resumed handshakes over the stack's life (a cross-check of the share).
ours_metrics() {
	local m full res
	case $1 in ours_*) ;; *) return 0 ;; esac
	m=$(curl -sS --max-time 10 --unix-socket "${OURS_METRICS[0]}" http://localhost/metrics 2>&1) ||
		{ warn "$TAG: no metrics: $m"; return 0; }
	full=$(printf '%s\n' "$m" | awk '/^mtls_handshakes_total\{.*kind="full"/ { s += $2 } END { print s + 0 }')
	res=$(printf '%s\n' "$m" | awk '/^mtls_handshakes_total\{.*kind="resumed"/ { s += $2 } END { print s + 0 }')
	R[$2,${3}_metrics_full,$1]=$full
	R[$2,${3}_metrics_resumed,$1]=$res
	note "  $1 $2 $3: client agent metrics over its life: $full full, $res resumed handshakes"
}

# Three transfers; the best one counts (noise from other work on the
# machine only ever slows a transfer down, and on this kind of VM one
# transfer in three may run at half speed). All are kept in the JSON.
measure_bulk() {
	local out i v best=0 runs=
	for i in 1 2 3; do
		out=$("$TB/mtls-bench" bulk --addr "127.0.0.1:$CP_BULK" --mib "$BULK_MIB" --seconds 600 2>&1) || {
			warn "$TAG: bulk transfer failed: $out"
			FAILED="$FAILED $TAG-bulk"
			return 0
		}
		v=$(kv "$out" MBps)
		R[$2,bulk_MBps_run$i,$1]=$v
		runs="$runs${runs:+, }$v"
		best=$(awk -v a="$best" -v b="$v" 'BEGIN { print (b > a ? b : a) }')
	done
	R[$2,bulk_MBps,$1]=$best
	note "  $1 $2 bulk: $best MB/s (best of $runs; $BULK_MIB MiB each, the sink got every byte)"
}

rss_of() {
	local trees=() p
	for p in "$@"; do trees+=(--tree "$p"); done
	"$TB/mtls-bench" procs "${trees[@]}" | awk -F'rss_kib=' '{ split($2, a, " "); print a[1] }'
}

measure_rss() {
	local stack=$1 key=$2 r0 r1 i hold
	r0=$(rss_of "${STACK_PIDS[@]}")
	start "$TAG-hold" "$TB/mtls-load" --addr "127.0.0.1:$CP_ECHO" --hold "$IDLE_TUNNELS" \
		--seconds "$HOLD_SECONDS"
	hold=$LAST_PID
	for i in $(seq 1 1200); do
		grep -q '^held=' "$W/$TAG-hold.log" 2>/dev/null && break
		kill -0 "$hold" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "^held=$IDLE_TUNNELS failed=0" "$W/$TAG-hold.log" 2>/dev/null; then
		warn "$TAG: not all $IDLE_TUNNELS idle tunnels came up: $(cat "$W/$TAG-hold.log")"
		stop_pids "$hold"
		FAILED="$FAILED $TAG-idle"
		return 0
	fi
	sleep 1
	r1=$(rss_of "${STACK_PIDS[@]}")
	for i in $(seq 1 $(((HOLD_SECONDS + 60) * 10))); do
		kill -0 "$hold" 2>/dev/null || break
		sleep 0.1
	done
	wait "$hold" 2>/dev/null || warn "$TAG: idle tunnels failed after idling: $(tail -n 1 "$W/$TAG-hold.log")"
	R[$key,rss_kib_at_rest,$stack]=$r0
	R[$key,rss_kib_with_idle_tunnels,$stack]=$r1
	R[$key,rss_kib_per_idle_tunnel,$stack]=$(awk -v a="$r0" -v b="$r1" -v n="$IDLE_TUNNELS" \
		'BEGIN { printf "%.1f", (b - a) / n }')
	note "  $stack $key idle: ${R[$key,rss_kib_per_idle_tunnel,$stack]} KiB per tunnel ($r0 -> $r1 KiB over ${#STACK_PIDS[@]} process trees, $IDLE_TUNNELS tunnels)"
}

# Echo round trips: `mtls-bench rtt` sends one-byte echoes through the
# pair and straight to the echo backend, taking turns echo by echo, so
# bursts of noise on the machine (on a shared VM a wake-up across cores now
# and then costs milliseconds) fall on both paths alike. Three such runs;
# each figure is the median of the three.
measure_rtt() {
	local stack=$1 key=$2 i out runs='' dp50 dp99 tp50 tp99
	for i in 1 2 3; do
		out=$("$TB/mtls-bench" rtt --addr "127.0.0.1:$CP_ECHO" --direct "127.0.0.1:$ECHO_PORT" \
			--count "$RTT_COUNT" --seconds 120 2>&1) || {
			warn "$TAG: echo round trips failed: $out"
			FAILED="$FAILED $TAG-rtt"
			return 0
		}
		runs="$runs$(kv "$out" direct_p50_us) $(kv "$out" direct_p99_us) $(kv "$out" tunnel_p50_us) $(kv "$out" tunnel_p99_us)
"
	done
	read -r dp50 dp99 tp50 tp99 < <(printf '%s' "$runs" | awk '
		{ for (i = 1; i <= 4; i++) v[i, NR] = $i }
		function med(i,   a, b, c) { a = v[i, 1]; b = v[i, 2]; c = v[i, 3]
			return a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b)) }
		END { print med(1), med(2), med(3), med(4) }')
	R[$key,rtt_direct_p50_us,$stack]=$dp50
	R[$key,rtt_direct_p99_us,$stack]=$dp99
	R[$key,rtt_p50_us,$stack]=$tp50
	R[$key,rtt_p99_us,$stack]=$tp99
	R[$key,added_rtt_p50_us,$stack]=$((tp50 - dp50))
	R[$key,added_rtt_p99_us,$stack]=$((tp99 - dp99))
	note "  $stack $key rtt: p50 $tp50 us, p99 $tp99 us through the pair; direct p50 $dp50 us, p99 $dp99 us (medians of three runs of $RTT_COUNT echoes each way)"
}

# probe_suite STACK KEY: the TLS 1.3 cipher suite the stack's server picks
# for an OpenSSL client offering OpenSSL's default order (which is the
# stunnel client's; our server prefers its own order, so this is also what
# our two agents agree on). One extra handshake, before any measurement.
probe_suite() {
	local s
	s=$(timeout 10 openssl s_client -connect "127.0.0.1:$SP_ECHO" -servername localhost \
		-cert "$PKI/peer.pem" -key "$PKI/peer.key" -CAfile "$PKI/ca.pem" -tls1_3 -brief \
		</dev/null 2>&1 | awk -F': *' '/^Ciphersuite/ { print $2; exit }') || true
	SUITE[$2,$1]=${s:-unknown}
	note "  $1 $2: cipher suite ${SUITE[$2,$1]}"
}

# ---- the report: one table (text and markdown) and a JSON file ----

# Rows: FIGURE|LABEL|TARGET where TARGET is ge:X:BUILD or le:X:BUILD (ratio
# ours/stunnel of that build), zero (no resumption in any TLS stack),
# limit:P (our agent reaches P% of the token's limit) or - (none).
report_rows() {
	echo "full_hs_per_s|full handshakes/s ($CONNS in flight)|ge:1.5:fast"
	echo "full_resumed_share|  share resumed in that run|zero"
	echo "full_cpu_ms_per_hs|CPU ms per full handshake|-"
	echo "resumed_hs_per_s|resumed handshakes/s ($CONNS in flight)|ge:2:fast"
	echo "resumed_resumed_share|  share resumed in that run|-"
	echo "bulk_MBps|bulk MB/s ($BULK_MIB MiB, 1 connection)|ge:1.5:fast"
	echo "rss_kib_per_idle_tunnel|RSS KiB per idle tunnel ($IDLE_TUNNELS held)|le:0.5:fast"
	echo "rss_kib_at_rest|  RSS KiB of the whole stack before (warmed up)|-"
	echo "added_rtt_p50_us|added RTT p50, us|-"
	echo "added_rtt_p99_us|added RTT p99, us|le:1.0:fast"
	local l
	for l in $SLOW_LATENCIES; do
		echo "slow${l}_hs_per_s|$l ms token: full hs/s ($SLOW_CONNS in flight)|$([ "$l" = 200 ] && echo limit:90 || echo -)"
	done
	[ "$TUNED" = 1 ] && echo "slow200tuned_hs_per_s|  same, our agents with --handshake-workers 16|limit:90"
	return 0
}

STACK_NAMES="plain ours_sys ours_fast stunnel"

# ratio KEY FIGURE BUILD: ours (BUILD) / stunnel, or nothing.
ratio() {
	local o s
	o=$(r "$1" "$2" "ours_$3")
	s=$(r "$1" "$2" stunnel)
	[ -n "$o" ] && [ -n "$s" ] || return 0
	awk -v o="$o" -v s="$s" 'BEGIN { if (s > 0 && o >= 0) printf "%.2f", o / s }'
}

cell() { # KEY FIGURE STACK
	local v p
	v=$(r "$1" "$2" "$3")
	[ -n "$v" ] || { echo "-"; return; }
	case $2 in
	slow*_hs_per_s)
		p=$(r "$1" "${2%_hs_per_s}_pct_of_limit" "$3")
		echo "$v ($p%)"
		;;
	*) echo "$v" ;;
	esac
}

# judge OP THRESHOLD VALUE: PASS or FAIL (n/a without a value).
judge() {
	[ -n "$3" ] || { echo n/a; return; }
	awk -v op="$1" -v t="$2" -v v="$3" 'BEGIN {
		ok = op == "ge" ? v >= t : v <= t; print ok ? "PASS" : "FAIL" }'
}

# verdict KEY FIGURE TARGET: the pass/fail cell (the judged build first).
verdict() {
	local key=$1 fig=$2 op th b other v s bad=
	IFS=: read -r op th b <<<"$3"
	case $op in
	ge | le)
		other=fast
		[ "$b" = fast ] && other=sys
		# Without that build (--skip-fast), the other one is judged.
		if [ -z "$(r "$key" "$fig" "ours_$b")" ]; then
			b=$other
			other=none
		fi
		v="$(judge "$op" "$th" "$(ratio "$key" "$fig" "$b")") ($b)"
		[ -n "$(r "$key" "$fig" "ours_$other")" ] &&
			v="$v; $(judge "$op" "$th" "$(ratio "$key" "$fig" "$other")") ($other)"
		if [ "$fig" = full_hs_per_s ] && [ "$(verdict "$key" full_resumed_share zero)" != ok ]; then
			v="INVALID: resumption in the full run"
		fi
		echo "$v"
		;;
	zero)
		for s in ours_sys ours_fast stunnel; do
			v=$(r "$key" "$fig" "$s")
			[ -n "$v" ] || continue
			awk -v v="$v" 'BEGIN { exit !(v > 0.01) }' && bad="$bad $s"
		done
		if [ -n "$bad" ]; then echo "INVALID:$bad"; else echo ok; fi
		;;
	limit)
		v="$(judge ge "$th" "$(r "$key" "${fig%_hs_per_s}_pct_of_limit" ours_sys)") (sys)"
		[ -n "$(r "$key" "$fig" ours_fast)" ] &&
			v="$v; $(judge ge "$th" "$(r "$key" "${fig%_hs_per_s}_pct_of_limit" ours_fast)") (fast)"
		echo "$v"
		;;
	*) echo "" ;;
	esac
}

target_text() {
	local op th b
	IFS=: read -r op th b <<<"$1"
	case $op in
	ge) echo ">= ${th}x ($b)" ;;
	le) echo "<= ${th}x ($b)" ;;
	zero) echo "0" ;;
	limit) echo ">= ${th}% of limit" ;;
	*) echo "" ;;
	esac
}

ratio_text() {
	local s f
	s=$(ratio "$1" "$2" sys)
	f=$(ratio "$1" "$2" fast)
	case $2 in *_share) echo ""; return ;; esac
	if [ -n "$s" ] && [ -n "$f" ]; then
		echo "sys ${s}x, fast ${f}x"
	elif [ -n "$s" ]; then
		echo "sys ${s}x"
	elif [ -n "$f" ]; then
		echo "fast ${f}x"
	else
		echo "-"
	fi
}

# The table as tab-separated lines: a header, then one line per key and row.
table_tsv() {
	local key fig label target
	printf 'figure\tplain TCP\tours (system wolfSSL)\tours (fast wolfSSL)\tstunnel\tours/stunnel\ttarget\tresult\n'
	for key in $KEYS; do
		while IFS='|' read -r fig label target; do
			printf '%s %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$label" \
				"$(cell "$key" "$fig" plain)" "$(cell "$key" "$fig" ours_sys)" \
				"$(cell "$key" "$fig" ours_fast)" "$(cell "$key" "$fig" stunnel)" \
				"$(ratio_text "$key" "$fig")" "$(target_text "$target")" \
				"$(verdict "$key" "$fig" "$target")"
		done < <(report_rows)
	done
}

print_table() { # TSV: aligned text columns
	awk -F'\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NF }
		END { for (r = 1; r <= NR; r++) { line = ""
			for (i = 1; i <= n; i++) line = line sprintf("%-" w[i] "s  ", c[r, i])
			sub(/ +$/, "", line); print line
			if (r == 1) { line = ""; for (i = 1; i <= n; i++) { s = sprintf("%" w[i] "s", ""); gsub(/ /, "-", s); line = line s "  " } sub(/ +$/, "", line); print line } } }'
}

markdown_table() {
	awk -F'\t' '{ line = "|"; for (i = 1; i <= NF; i++) line = line " " $i " |"; print line
		if (NR == 1) { line = "|"; for (i = 1; i <= NF; i++) line = line (i == 1 ? "---|" : "---:|"); print line } }'
}

# ---- machine and versions ----

json_str() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=$(printf '%s' "$s" | tr -d '\000-\037')
	printf '"%s"' "$s"
}

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }

collect_versions() {
	local stamp prefix size
	V_CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	V_CORES=$(nproc)
	V_MEM_MIB=$(awk '/^MemTotal/ { printf "%d", $2 / 1024 }' /proc/meminfo)
	V_KERNEL=$(uname -r)
	V_DEBIAN=$(cat /etc/debian_version 2>/dev/null || echo unknown)
	V_WOLFSSL_SYS="$(pkg-config --modversion wolfssl 2>/dev/null || echo unknown) (libwolfssl-dev $(pkgver libwolfssl-dev))"
	V_AGENT_SYS=$("$SYS_DIR/bin/mtls-agent" --version 2>&1 | head -n 1)
	V_AGENT_FAST=''
	V_WOLFSSL_FAST='' V_WOLFSSL_FAST_FLAGS='' V_WOLFSSL_FAST_CONFIGURE=''
	if [ -n "${FAST_DIR:-}" ]; then
		V_AGENT_FAST=$("$FAST_DIR/bin/mtls-agent" --version 2>&1 | head -n 1)
		prefix=$(sed -n 's/^MTLS_WOLFSSL_FAST_PREFIX:PATH=//p' "$FAST_DIR/CMakeCache.txt")
		stamp=${prefix:-$FAST_DIR/wolfssl-fast}/.wolfssl-fast.stamp
		V_WOLFSSL_FAST=$(sed -n 's/^version=//p' "$stamp" 2>/dev/null)
		V_WOLFSSL_FAST_FLAGS=$(sed -n 's/^speed_flags=//p' "$stamp" 2>/dev/null)
		size=$(sed -n 's/^size_cflags=//p' "$stamp" 2>/dev/null)
		V_WOLFSSL_FAST_FLAGS="$V_WOLFSSL_FAST_FLAGS${size:+, CFLAGS $size}"
		V_WOLFSSL_FAST_CONFIGURE=$(sed -n 's/^configure=//p' "$stamp" 2>/dev/null)
	fi
	V_OPENSSL="$(openssl version 2>/dev/null | awk '{ print $2 }') (openssl $(pkgver openssl))"
	V_STUNNEL="$(stunnel4 -version 2>&1 | awk '/^stunnel / { print $2; exit }') ($(pkgver stunnel4))"
	V_LIBP11=$(pkgver libengine-pkcs11-openssl)
	V_SOFTHSM=$(pkgver softhsm2)
	V_P11KIT=$(pkgver p11-kit)
	V_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	# shellcheck disable=SC2154 # top: the source tree, set by run.sh
	V_GIT=$(git -C "$top" rev-parse HEAD 2>/dev/null || echo unknown)
	[ -n "$(git -C "$top" status --porcelain --untracked-files=no 2>/dev/null)" ] && V_GIT="$V_GIT (with local changes)"
	return 0
}

json_num() { if [ -n "$1" ]; then printf '%s' "$1"; else printf 'null'; fi; }

# Every figure name measured for KEY, sorted.
figures_of() {
	local k
	for k in "${!R[@]}"; do
		case $k in "$1",*) k=${k#"$1",}; echo "${k%,*}" ;; esac
	done | sort -u
}

write_json() {
	local key fig s sep1 sep2 sep3 target f
	{
		printf '{\n  "schema": "mtls-bench/1",\n  "profile": "%s",\n' "$PROFILE"
		printf '  "date": %s,\n  "git_commit": %s,\n' "$(json_str "$V_DATE")" "$(json_str "$V_GIT")"
		printf '  "measure_seconds": %s,\n' "$T_RUN"
		printf '  "machine": {"cpu_model": %s, "cores": %s, "memory_mib": %s, "kernel": %s, "debian": %s},\n' \
			"$(json_str "$V_CPU")" "$V_CORES" "$V_MEM_MIB" "$(json_str "$V_KERNEL")" "$(json_str "$V_DEBIAN")"
		printf '  "versions": {"wolfssl_system": %s, "wolfssl_fast": %s, "wolfssl_fast_speed_flags": %s, "wolfssl_fast_configure": %s,\n' \
			"$(json_str "$V_WOLFSSL_SYS")" "$(json_str "$V_WOLFSSL_FAST")" \
			"$(json_str "$V_WOLFSSL_FAST_FLAGS")" "$(json_str "$V_WOLFSSL_FAST_CONFIGURE")"
		printf '    "mtls_agent_system": %s, "mtls_agent_fast": %s,\n' "$(json_str "$V_AGENT_SYS")" \
			"$(json_str "$V_AGENT_FAST")"
		printf '    "openssl": %s, "stunnel": %s, "libp11": %s, "softhsm2": %s, "p11_kit": %s},\n' \
			"$(json_str "$V_OPENSSL")" "$(json_str "$V_STUNNEL")" "$(json_str "$V_LIBP11")" \
			"$(json_str "$V_SOFTHSM")" "$(json_str "$V_P11KIT")"
		printf '  "fast_build": "%s",\n  "agent_session_resume_option": %s,\n' "$FAST_STATE" \
			"$([ "$HAVE_SESSION_RESUME" = yes ] && echo true || echo false)"
		printf '  "params": {"keys": %s, "stacks": %s, "tls": "1.3", "conns_in_flight": %s, "warmup_s": %s, "window_s": %s,\n' \
			"$(json_str "$KEYS")" "$(json_str "$STACKS")" "$CONNS" "$WARMUP" "$HS_SECONDS"
		printf '    "bulk_mib": %s, "idle_tunnels": %s, "rtt_echoes": %s, "slow_conns_in_flight": %s, "slow_window_s": %s,\n' \
			"$BULK_MIB" "$IDLE_TUNNELS" "$RTT_COUNT" "$SLOW_CONNS" "$SLOW_SECONDS"
		printf '    "slow_latencies_ms": %s, "token_max_sessions": %s},\n' \
			"$(json_str "$SLOW_LATENCIES")" "$SLOW_SESSIONS"
		printf '  "failed": %s,\n' "$(json_str "${FAILED# }")"
		printf '  "cipher_suites": {'
		sep1=
		for key in $KEYS; do
			printf '%s"%s": {' "$sep1" "$key"
			sep1=", "
			sep2=
			for s in ours_sys ours_fast stunnel; do
				[ -n "${SUITE[$key,$s]:-}" ] || continue
				printf '%s"%s": %s' "$sep2" "$s" "$(json_str "${SUITE[$key,$s]}")"
				sep2=", "
			done
			printf '}'
		done
		printf '},\n'
		printf '  "figures": {'
		sep1=
		for key in $KEYS; do
			printf '%s\n    "%s": {' "$sep1" "$key"
			sep1=,
			sep2=
			for fig in $(figures_of "$key"); do
				printf '%s\n      "%s": {' "$sep2" "$fig"
				sep2=,
				sep3=
				for s in $STACK_NAMES; do
					printf '%s"%s": %s' "$sep3" "$s" "$(json_num "$(r "$key" "$fig" "$s")")"
					sep3=", "
				done
				printf '}'
			done
			printf '\n    }'
		done
		printf '\n  },\n  "ratios_ours_over_stunnel": {'
		sep1=
		for key in $KEYS; do
			printf '%s\n    "%s": {' "$sep1" "$key"
			sep1=,
			sep2=
			while IFS='|' read -r fig f target; do
				case $fig in *_share) continue ;; esac
				printf '%s\n      "%s": {"ours_sys": %s, "ours_fast": %s, "target": %s, "result": %s}' \
					"$sep2" "$fig" "$(json_num "$(ratio "$key" "$fig" sys)")" \
					"$(json_num "$(ratio "$key" "$fig" fast)")" \
					"$(json_str "$(target_text "$target")")" \
					"$(json_str "$(verdict "$key" "$fig" "$target")")"
				sep2=,
			done < <(report_rows)
			printf '\n    }'
		done
		printf '\n  }\n}\n'
	} >"$OUT.tmp"
	mv "$OUT.tmp" "$OUT"
}

suites_text() {
	local key s out=
	for key in $KEYS; do
		out="$out$key:"
		for s in ours_sys ours_fast stunnel; do
			[ -n "${SUITE[$key,$s]:-}" ] && out="$out $s ${SUITE[$key,$s]},"
		done
		out="${out%,}; "
	done
	echo "negotiated cipher suites: ${out%; }"
}

report_all() {
	local tsv
	collect_versions
	mkdir -p "$(dirname "$OUT")" "$(dirname "$MD")"
	tsv=$(table_tsv)
	note ""
	note "mtls-agent vs stunnel: TLS 1.3, mutual, keys on one SoftHSM2 token ($V_DATE, $V_CPU x $V_CORES, profile $PROFILE)"
	printf '%s\n' "$tsv" | print_table
	suites_text
	{
		printf '## mtls-agent vs stunnel (%s)\n\n' "$V_DATE"
		printf 'TLS 1.3, mutual, both keys on one SoftHSM2 token; %s, %s cores, Linux %s, Debian %s; ' \
			"$V_CPU" "$V_CORES" "$V_KERNEL" "$V_DEBIAN"
		printf 'wolfSSL %s (system)%s; stunnel %s, OpenSSL %s, libp11 %s; SoftHSM2 %s; profile %s; commit %s.\n\n' \
			"$V_WOLFSSL_SYS" "${V_WOLFSSL_FAST:+ and $V_WOLFSSL_FAST (fast build: $V_WOLFSSL_FAST_FLAGS)}" \
			"$V_STUNNEL" "$V_OPENSSL" "$V_LIBP11" "$V_SOFTHSM" "$PROFILE" "$V_GIT"
		printf '%s\n' "$tsv" | markdown_table
		printf '\n%s.\n' "$(suites_text)"
	} >"$MD"
	write_json
	note ""
	note "results: $OUT and $MD"
}
