#!/usr/bin/env bash
# Resumption: after the first connection to a target, 100 further
# connections make no token signature on either side (the fault module
# counts C_Sign calls of each agent's key). With session-resume = no on
# both agents, every connection signs once on each side and none resumes.
set -eu
. "$(dirname "$0")/agent_lib.sh"
# signs NAME: C_Sign calls the fault module logged for that agent so far.
signs() { grep -c ' C_Sign ' "$D/$1-calls.log" 2>/dev/null || true; }
# connections N: N connections one after the other through the client
# agent; sets DC and DS (signatures each agent made meanwhile) and RESUMED
# (resumed handshakes the client agent has logged).
connections() {
	local i c0 s0
	c0=$(signs client)
	s0=$(signs server)
	for i in $(seq 1 "$1"); do
		"$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns 1 --bytes 1000 >/dev/null || fail "connection $i"
	done
	sleep 0.3
	DC=$(($(signs client) - c0))
	DS=$(($(signs server) - s0))
	RESUMED=$(grep -c 'established.*resumed' "$D/client.log" || true)
}
# agents [OPTIONS...]: both agents, their keys through the fault module.
agents() {
	start_echo
	MTLS_FAULT_CONF=$D/server-fault.conf server_agent "$(key_uri ec256 "$MTLS_FAULT_LIB")" "$PKI/tok-ec256.pem" --allow-cn tok-rsa2048 --log-level info "$@"
	MTLS_FAULT_CONF=$D/client-fault.conf client_agent "$(key_uri rsa2048 "$MTLS_FAULT_LIB")" "$PKI/tok-rsa2048.pem" --log-level info "$@"
}
make_pki
printf 'calls_log = %s\n' "$D/server-calls.log" >"$D/server-fault.conf"
printf 'calls_log = %s\n' "$D/client-calls.log" >"$D/client-fault.conf"
agents
connections 1
connections 100
echo "after the first connection: client signatures +$DC, server signatures +$DS, $RESUMED resumed handshakes logged"
[ "$DC" = 0 ] || fail "the client agent signed $DC times for 100 resumable connections"
[ "$DS" = 0 ] || fail "the server agent signed $DS times for 100 resumable connections"
[ "$RESUMED" -ge 100 ] || fail "only $RESUMED resumed handshakes"
echo "ok: 100 further connections, 0 token signatures"

stop_all
rm -f "$D"/*-calls.log "$D/client.log" "$D/server.log"
agents --session-resume no
connections 20
echo "session-resume = no: client signatures +$DC, server signatures +$DS, $RESUMED resumed"
[ "$DC" = 20 ] || fail "the client agent signed $DC times for 20 connections without resumption"
[ "$DS" = 20 ] || fail "the server agent signed $DS times for 20 connections without resumption"
[ "$RESUMED" = 0 ] || fail "$RESUMED handshakes resumed with session-resume = no"
echo "ok: session-resume = no: 20 connections, 20 full handshakes"
