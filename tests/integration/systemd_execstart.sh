#!/usr/bin/env bash
# The command lines of the installed mtls-agent.service, run the way systemd
# runs them, as far as that goes without PID 1: ExecStart= in the
# environment systemd builds from the unit (nothing inherited; NOTIFY_SOCKET,
# WATCHDOG_USEC and WATCHDOG_PID from WatchdogSec=, the LoadCredential= PIN
# copied into CREDENTIALS_DIRECTORY with mode 0400, RUNTIME_/STATE_/
# CONFIGURATION_DIRECTORY, UMask=, stdin /dev/null, working directory /),
# then ExecStartPost= with MAINPID, ExecReload= with $MAINPID, and SIGTERM
# as systemctl stop sends it.
#
# Mapped for the test: the programs to the staged install (prefix /usr),
# /etc/mtls-agent, /run and /var/lib to the test directory; SOFTHSM2_CONF
# (the test token) is added. The staged agent finds the staged signer by
# itself (../libexec/mtls from its own directory), although the build was
# configured for another prefix. Not
# reproduced: the user mtls and the sandbox (systemd-analyze checks those).
#
# Shows: READY=1 once the tunnels listen, bytes through a client and a
# server tunnel with the PIN from the credential, the pid file for
# mtls-renew.service, /healthz on the unix socket in the runtime directory,
# ExecReload giving RELOADING=1 then READY=1, a broken config failing the
# reload (with file and line) before any signal, STOPPING=1 and exit 0 on
# SIGTERM, and exit 2 (RestartPreventExitStatus=) for a config error.
set -eu
. "$(dirname "$0")/agent_lib.sh"
. "$(dirname "$0")/systemd_lib.sh"
ST=$D/stage
stage /usr "$ST"
U=$(unitdir "$ST")/mtls-agent.service

# What the unit asks for.
cred=$(unit_values "$U" LoadCredential)
wd=$(unit_values "$U" WatchdogSec)
um=$(unit_values "$U" UMask)
rt=$(unit_values "$U" RuntimeDirectory)
sd=$(unit_values "$U" StateDirectory)
cd_=$(unit_values "$U" ConfigurationDirectory)
[ "$(unit_values "$U" Type)" = notify ] || fail "mtls-agent.service is not Type=notify"
[ "$cred" = pin:/etc/mtls-agent/pin ] || fail "LoadCredential=$cred, want pin:/etc/mtls-agent/pin"
[ "$wd" = 30s ] || fail "WatchdogSec=$wd, want 30s"
[ -z "$(unit_values "$U" KillSignal)" ] || fail "the test assumes KillSignal=SIGTERM"
echo "unit: Type=notify LoadCredential=$cred WatchdogSec=$wd UMask=$um RuntimeDirectory=$rt"

# The system's directories, under $D.
CRED=$D/run/credentials/mtls-agent.service
RT=$D/run/$rt
mkdir -p "$D/etc/$cd_" "$RT" "$D/var/lib/$sd" "$CRED"
chmod 0750 "$D/etc/$cd_" "$RT" "$D/var/lib/$sd"
install -m 0600 "$MTLS_TEST_PIN_FILE" "$D${cred#*:}"
install -m 0400 "$D${cred#*:}" "$CRED/${cred%%:*}"

make_pki
start_echo
SP=$(free_port)
CP=$(free_port)
[ "$SP" != "$CP" ] || CP=$(free_port)
cp "$PKI/tok-ec256.pem" "$D/var/lib/$sd/gw.pem"
write_conf() {
	cat >"$D/etc/mtls-agent/agent.conf" <<CONF
[agent]
pin-credential = ${cred%%:*}
metrics-listen = unix:$RT/metrics.sock
[tunnel web]
mode = server
listen = 127.0.0.1:$SP
target = 127.0.0.1:$ECHO_PORT
key = $(key_uri ec256)
cert = $D/var/lib/$sd/gw.pem
cacert = $PKI/ca.pem
allow-cn = tok-ec256
[tunnel backend]
mode = client
listen = 127.0.0.1:$CP
target = 127.0.0.1:$SP
key = $(key_uri ec256)
cert = $D/var/lib/$sd/gw.pem
cacert = $PKI/ca.pem
server-name = localhost
CONF
	chmod 0640 "$D/etc/mtls-agent/agent.conf"
}
write_conf

MAINPID=
map_word() {
	case $1 in
	/etc/mtls-agent/*) printf '%s\n' "$D$1" ;;
	/*) if [ -e "$ST$1" ]; then printf '%s\n' "$ST$1"; else printf '%s\n' "$1"; fi ;;
	*) printf '%s\n' "$1" ;;
	esac
}
# svc_env CMD...: exec CMD in the service's environment (call it in a
# subshell, or through start).
svc_env() {
	local v extra=()
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
		[ -n "${!v:-}" ] && extra+=("$v=${!v}")
	done
	exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		NOTIFY_SOCKET="$D/notify.sock" WATCHDOG_USEC=30000000 \
		CREDENTIALS_DIRECTORY="$CRED" RUNTIME_DIRECTORY="$RT" STATE_DIRECTORY="$D/var/lib/$sd" \
		CONFIGURATION_DIRECTORY="$D/etc/$cd_" ${MAINPID:+MAINPID=$MAINPID} \
		SOFTHSM2_CONF="$SOFTHSM2_CONF" \
		"${extra[@]}" bash -c 'export WATCHDOG_PID=$$; umask "$0"; cd /; exec "$@"' "$um" "$@"
}
# command_of LINE: CMD becomes its words, split and unquoted as systemd
# does, $MAINPID (a word of its own) replaced, paths mapped.
command_of() {
	local w words mapped=()
	eval "words=($1)"
	for w in "${words[@]}"; do mapped+=("$(map_word "$w")"); done
	CMD=("${mapped[@]}")
}

start notify "$BIN/mtls-notify" --socket "$D/notify.sock" --seconds 120
wait_log notify listening
command_of "$(unit_values "$U" ExecStart)"
echo "ExecStart: ${CMD[*]}"
start agent svc_env "${CMD[@]}"
MAINPID=$PID_agent
wait_log notify 'READY=1' 15
wait_port "$CP"
"$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 5 >"$D/rtt.log" 2>&1 ||
	fail "no bytes through the tunnels: $(cat "$D/rtt.log")"
grep 'STATUS=' "$D/notify.log" | head -n 1 | sed 's/^/  notify: /'
echo "ok: READY=1, bytes through client and server tunnel, PIN from \$CREDENTIALS_DIRECTORY/${cred%%:*}"

n=0
while IFS= read -r line; do
	command_of "$line"
	echo "ExecStartPost: ${CMD[*]}"
	(svc_env "${CMD[@]}") </dev/null || fail "ExecStartPost failed"
	n=$((n + 1))
done < <(unit_values "$U" ExecStartPost)
[ "$n" -ge 1 ] || fail "no ExecStartPost= (the pid file for mtls-renew.service)"
[ "$(cat "$RT/agent.pid")" = "$PID_agent" ] || fail "$RT/agent.pid holds '$(cat "$RT/agent.pid")', not $PID_agent"
[ "$(stat -c %a "$RT/agent.pid")" = 600 ] || fail "agent.pid has mode $(stat -c %a "$RT/agent.pid")"
echo "ok: $rt/agent.pid holds the agent's pid (mode 600)"

h=
for _ in $(seq 1 60); do
	h=$(curl -s --max-time 2 --unix-socket "$RT/metrics.sock" http://localhost/healthz || true)
	[ "$h" = ok ] && break
	sleep 0.1
done
[ "$h" = ok ] || fail "/healthz on $RT/metrics.sock said '$h'"
echo "ok: /healthz on the unix socket in the runtime directory: ok"

# reload: the ExecReload= lines in order, stopping at the first failure.
reload() {
	local line
	while IFS= read -r line; do
		command_of "$line"
		echo "ExecReload: ${CMD[*]}"
		(svc_env "${CMD[@]}") >>"$D/reload.log" 2>&1 </dev/null || return 1
	done < <(unit_values "$U" ExecReload)
}
count() { grep -c -- "$1" "$D/notify.log" || true; }
reload || fail "ExecReload failed: $(cat "$D/reload.log")"
wait_log notify 'RELOADING=1'
for _ in $(seq 1 100); do [ "$(count 'READY=1')" -ge 2 ] && break; sleep 0.1; done
[ "$(count 'READY=1')" -ge 2 ] || fail "no READY=1 after RELOADING=1"
"$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 5 >"$D/rtt.log" 2>&1 ||
	fail "no bytes after the reload: $(cat "$D/rtt.log")"
echo "ok: ExecReload -> RELOADING=1, READY=1; the tunnels carry bytes"

echo "lisen = 127.0.0.1:1" >>"$D/etc/mtls-agent/agent.conf"
: >"$D/reload.log"
if reload; then fail "ExecReload succeeded with a broken config"; fi
grep -q 'agent.conf:[0-9]*: lisen' "$D/reload.log" || fail "the reload's error names no line: $(cat "$D/reload.log")"
sed 's/^/  /' "$D/reload.log"
sleep 0.3
[ "$(count 'RELOADING=1')" = 1 ] || fail "the agent was signalled although the check failed"
kill -0 "$PID_agent" || fail "the agent died"
echo "ok: a broken config fails ExecReload before the signal; the agent runs on"
write_conf

kill -TERM "$PID_agent"
wait_log notify 'STOPPING=1'
rc=0
wait "$PID_agent" || rc=$?
PIDS=("$PID_echo" "$PID_notify")
[ "$rc" = 0 ] || fail "the agent exited $rc on SIGTERM"
echo "ok: SIGTERM -> STOPPING=1, exit 0"

echo "lisen = 127.0.0.1:1" >>"$D/etc/mtls-agent/agent.conf"
command_of "$(unit_values "$U" ExecStart)"
rc=0
(MAINPID='' svc_env "${CMD[@]}") >"$D/bad.log" 2>&1 </dev/null || rc=$?
[ "$rc" = 2 ] || fail "a config error exited $rc, want 2: $(cat "$D/bad.log")"
unit_values "$U" RestartPreventExitStatus | grep -qw 2 || fail "RestartPreventExitStatus= lacks 2"
echo "ok: a config error exits 2, which RestartPreventExitStatus=2 does not restart"
grep -v WATCHDOG "$D/notify.log" | sed 's/^/  notify: /'
