# Shell helpers for agent tests (sourced). Run under run-with-token.sh:
# needs MTLS_TEST_DIR, MTLS_BUILD_DIR and the token variables.
# Every process started here is stopped by its pid at exit; every wait is
# bounded; everything listens on 127.0.0.1 only.
set -eu
BIN=$MTLS_BUILD_DIR/bin
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
. "$LIB/portlog.sh"
D=$MTLS_TEST_DIR
PIDS=()

fail() {
	echo "FAIL: $*" >&2
	for f in "$D"/*.log; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
	done
	exit 1
}

# Stops everything started; then a sanitizer report in any log (a leak
# found at an agent's exit, say) fails the test.
stop_all() {
	local p f rc=$?
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
	for f in "$D"/*.log; do
		[ -f "$f" ] && grep -q 'ERROR: \(Leak\|Address\|Undefined\)Sanitizer\|runtime error:' "$f" || continue
		echo "FAIL: sanitizer report in $f:" >&2
		grep -A 30 'ERROR: .*Sanitizer\|runtime error:' "$f" | head -n 60 >&2
		rc=1
	done
	return "$rc"
}
trap 'stop_all || exit 1' EXIT

# start NAME CMD...: run in the background, output in $D/NAME.log; the pid
# goes to PIDS and to the variable PID_NAME.
start() {
	local name=$1
	shift
	"$@" >"$D/$name.log" 2>&1 </dev/null &
	PIDS+=("$!")
	printf -v "PID_${name//-/_}" '%s' "$!"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Is something listening on TCP port $1? Read from /proc, so that asking
# makes no connection (a probe would show up in the agents' logs).
port_listening() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# A port nobody listens on now (random, below the ephemeral range).
free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + (RANDOM * 7 + i) % 12000))
		port_listening "$p" || port_open "$p" || { echo "$p"; return 0; }
	done
	fail "no free port found"
}

# wait_port PORT [SECONDS]: until something listens there.
wait_port() {
	local i n=$(( ${2:-10} * 20 ))
	for i in $(seq 1 "$n"); do port_listening "$1" && return 0; sleep 0.05; done
	fail "nothing listens on 127.0.0.1:$1 after ${2:-10} s"
}

# wait_log NAME PATTERN [SECONDS]
wait_log() {
	local i n=$(( ${3:-10} * 20 ))
	for i in $(seq 1 "$n"); do grep -q -- "$2" "$D/$1.log" 2>/dev/null && return 0; sleep 0.05; done
	fail "$1.log never showed '$2'"
}

key_uri() { echo "pkcs11:token=$MTLS_TEST_TOKEN;object=$1;type=private?module-path=${2:-$MTLS_TEST_MODULE}"; }

# log_port NAME: the port a process started as NAME printed ("port N" in
# $D/NAME.log), waiting up to 5 s for it.
log_port() {
	port_in_log "$D/$1.log" || fail "$1 did not start (no port in $D/$1.log)"
}

# An echo backend on a free port: sets ECHO_PORT.
start_echo() {
	start echo "$BIN/mtls-echo" --port 0 --seconds 600
	ECHO_PORT=$(log_port echo)
}

# server_agent KEY_URI CERT [options...]: our server agent on a free port
# (SP) in front of the echo backend, trusting the test CA.
server_agent() {
	local key=$1 cert=$2
	shift 2
	SP=$(free_port)
	start server "$BIN/mtls-agent" server --listen "127.0.0.1:$SP" --target "127.0.0.1:$ECHO_PORT" \
		--key "$key" --cert "$cert" --cacert "$PKI/ca.pem" --pin-file "$MTLS_TEST_PIN_FILE" "$@"
	wait_port "$SP"
}

# client_agent KEY_URI CERT [options...]: our client agent on a free port
# (CP) towards the server agent at SP, checking the name "localhost".
client_agent() {
	local key=$1 cert=$2
	shift 2
	CP=$(free_port)
	start client "$BIN/mtls-agent" client --listen "127.0.0.1:$CP" --target "127.0.0.1:$SP" \
		--key "$key" --cert "$cert" --cacert "$PKI/ca.pem" --server-name localhost \
		--pin-file "$MTLS_TEST_PIN_FILE" "$@"
	wait_port "$CP"
}

# set_fault TEXT: the fault module's config $D/fault.conf becomes TEXT,
# atomically (rename), as the module expects (tests/fault/README.md).
set_fault() { printf '%s\n' "$1" >"$D/fault.conf.tmp" && mv "$D/fault.conf.tmp" "$D/fault.conf"; }

make_pki() {
	bash "$LIB/mkpki.sh" "$D/pki" || fail "mkpki.sh failed"
	PKI=$D/pki
}
