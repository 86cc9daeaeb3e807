#!/usr/bin/env bash
# The data plane is sandboxed, the signer is not:
#  - the agent process runs with no_new_privs and a seccomp filter, and is
#    not dumpable; the launcher it forked and the signer (which loads the
#    PKCS#11 module and reads the PIN) run without either;
#  - a tunnel carries bytes end to end through client and server agents;
#  - a reload that names a trust-anchor file outside the directories the
#    agent started with fails in the data plane with "Permission denied"
#    (Landlock), the running configuration stays and keeps echoing;
#  - the PIN file sits in a directory the data plane may not read, and the
#    token still signs (the signer reads it);
#  - `sandbox = off` leaves the process unconfined.
set -eu
. "$(dirname "$0")/agent_lib.sh"
make_pki
start_echo
server_agent "$(key_uri ec256)" "$PKI/tok-ec256.pem" --allow-cn tok-rsa2048

field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
children() { echo $(cat /proc/"$1"/task/*/children 2>/dev/null); }

mkdir -p "$D/etc" "$D/secret" "$D/elsewhere"
install -m 0600 "$MTLS_TEST_PIN_FILE" "$D/secret/pin"
cp "$PKI/ca.pem" "$D/elsewhere/ca.pem"
CP=$(free_port)
write_conf() { # CACERT [EXTRA]
	cat >"$D/etc/agent.conf.tmp" <<C
[agent]
pin-file = $D/secret/pin
${2:-}
[tunnel t]
mode = client
listen = 127.0.0.1:$CP
target = 127.0.0.1:$SP
key = $(key_uri rsa2048)
cert = $PKI/tok-rsa2048.pem
cacert = $1
server-name = localhost
C
	mv "$D/etc/agent.conf.tmp" "$D/etc/agent.conf"
}
write_conf "$PKI/ca.pem"
start client "$BIN/mtls-agent" --config "$D/etc/agent.conf"
wait_port "$CP"
"$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 20 >/dev/null || fail "the tunnel does not carry bytes"
echo "ok: 20 echoes through client agent -> server agent -> echo"

for who in client server; do
	pid_var=PID_$who
	pid=${!pid_var}
	grep -q 'sandbox: on' "$D/$who.log" || fail "$who agent: no 'sandbox: on' in its log"
	[ "$(field "$pid" NoNewPrivs)" = 1 ] || fail "$who agent: NoNewPrivs is not set"
	[ "$(field "$pid" Seccomp)" = 2 ] || fail "$who agent: no seccomp filter (Seccomp: $(field "$pid" Seccomp))"
	launcher=$(children "$pid")
	[ "$(echo "$launcher" | wc -w)" = 1 ] || fail "$who agent: expected one child (the launcher), found '$launcher'"
	signer=$(children "$launcher")
	[ "$(echo "$signer" | wc -w)" = 1 ] || fail "$who agent: expected one signer under the launcher, found '$signer'"
	[ "$(field "$launcher" Seccomp)" = 0 ] || fail "$who agent: the launcher is filtered"
	[ "$(field "$signer" Seccomp)" = 0 ] && [ "$(field "$signer" NoNewPrivs)" = 0 ] ||
		fail "$who agent: the signer runs inside the sandbox"
	echo "ok: $who agent pid $pid: NoNewPrivs 1, Seccomp 2; launcher $launcher and signer $signer: Seccomp 0"
done
grep -h 'sandbox:' "$D/client.log" | sed 's/^/  /'

# Landlock: only with a kernel that has it (the log says which).
if grep -q 'Landlock ABI' "$D/client.log"; then
	start rtt "$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 1000 --interval-ms 2
	sleep 0.3
	write_conf "$D/elsewhere/ca.pem"
	kill -HUP "$PID_client"
	wait_log client 'keeping the running configuration'
	grep 'SIGHUP' "$D/client.log" | tail -n 1 | grep -q "$D/elsewhere/ca.pem.*Permission denied" ||
		fail "the reload outside the allowed directories did not fail with Permission denied: $(grep SIGHUP "$D/client.log" | tail -n 1)"
	grep 'SIGHUP' "$D/client.log" | tail -n 1 | sed 's/^/  /'
	"$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 5 >/dev/null || fail "the tunnel broke after the refused reload"
	for i in $(seq 1 100); do kill -0 "$PID_rtt" 2>/dev/null || break; sleep 0.1; done
	wait "$PID_rtt" || fail "the established tunnel broke: $(cat "$D/rtt.log")"
	echo "ok: a file outside the allowed set cannot be opened by the data plane; tunnels kept echoing"
else
	echo "note: this kernel has no Landlock; file confinement not checked"
fi

# sandbox = off: unconfined, and the log says so.
stop_all
start_echo
server_agent "$(key_uri ec256)" "$PKI/tok-ec256.pem" --allow-cn tok-rsa2048
CP=$(free_port)
write_conf "$PKI/ca.pem" "sandbox = off"
start client "$BIN/mtls-agent" --config "$D/etc/agent.conf"
wait_port "$CP"
"$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 3 >/dev/null || fail "the unsandboxed tunnel does not work"
grep -q 'sandbox: off (sandbox = off)' "$D/client.log" || fail "no 'sandbox: off' in the log"
[ "$(field "$PID_client" Seccomp)" = 0 ] || fail "sandbox = off still filtered"
echo "ok: sandbox = off: Seccomp 0, and the log says why"
