#!/usr/bin/env bash
# Connection limit and graceful drain.
#  1. max-connections 3 on the client tunnel: three held tunnels echo, a
#     fourth connection is refused with "connection limit of 3 reached" and
#     the held ones keep echoing; once they close, new connections work.
#  2. SIGTERM: the listener closes at once (new connections refused, and
#     /healthz answers 503 "draining"), the established tunnel finishes its
#     round trips, the agent exits 0 when it closes.
#  3. drain-timeout 1s: a tunnel that stays open longer is cut about 1 s
#     after SIGTERM and the agent exits.
set -eu
. "$(dirname "$0")/agent_lib.sh"
make_pki
start_echo
server_agent "$(key_uri ec256)" "$PKI/tok-ec256.pem" --allow-cn tok-rsa2048
client_agent "$(key_uri rsa2048)" "$PKI/tok-rsa2048.pem" --max-connections 3 --log-level info \
	--metrics-listen "unix:$D/client-metrics.sock"

# 1. The limit.
start hold "$BIN/mtls-load" --addr "127.0.0.1:$CP" --hold 3 --seconds 4
wait_log client 'conn=3 tunnel=.* established' 20
if "$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 1 >"$D/over.log" 2>&1; then
	fail "a fourth connection got through a limit of 3: $(cat "$D/over.log")"
fi
wait_log client 'refused: connection limit of 3 reached'
for i in $(seq 1 100); do kill -0 "$PID_hold" 2>/dev/null || break; sleep 0.1; done
wait "$PID_hold" || fail "held tunnels broke when the fourth was refused: $(cat "$D/hold.log")"
ok=0
for i in $(seq 1 20); do
	"$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 5 >"$D/after.log" 2>&1 && { ok=1; break; }
	sleep 0.2
done
[ "$ok" = 1 ] || fail "no connection after the held ones closed: $(cat "$D/after.log")"
echo "ok: limit 3 held, the fourth refused and logged, new connections after"

# 2. Drain on SIGTERM: 60 round trips 50 ms apart (3 s) across the signal.
start rtt "$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 60 --interval-ms 50
sleep 1
kill -TERM "$PID_client"
wait_log client 'SIGTERM: no new connections; draining 1 tunnels'
# Health turns 503 at once: a load balancer stops sending new connections.
code=$(curl -sS --max-time 5 -o "$D/health.txt" -w '%{http_code}' \
	--unix-socket "$D/client-metrics.sock" http://localhost/healthz) || fail "no /healthz during the drain"
[ "$code $(cat "$D/health.txt")" = "503 draining: no new connections" ] ||
	fail "/healthz during the drain: $code $(cat "$D/health.txt")"
for i in $(seq 1 20); do port_listening "$CP" || break; sleep 0.05; done
port_listening "$CP" && fail "the client agent still listens during the drain"
if "$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 1 >/dev/null 2>&1; then
	fail "a new connection was served during the drain"
fi
for i in $(seq 1 100); do kill -0 "$PID_rtt" 2>/dev/null || break; sleep 0.1; done
wait "$PID_rtt" || fail "the draining tunnel broke: $(cat "$D/rtt.log")"
for i in $(seq 1 100); do kill -0 "$PID_client" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID_client" 2>/dev/null && fail "the agent did not exit after its last tunnel closed"
st=0
wait "$PID_client" || st=$?
[ "$st" = 0 ] || fail "the drained agent exited with $st"
grep -q 'stopped; 0 tunnels cut' "$D/client.log" || fail "drain log: $(tail -n 3 "$D/client.log")"
echo "ok: SIGTERM closed the listener, the tunnel finished $(grep -o 'p50.*' "$D/rtt.log"), exit 0"

# 3. drain-timeout cuts what outlives it.
mv "$D/client.log" "$D/client1.log"
client_agent "$(key_uri rsa2048)" "$PKI/tok-rsa2048.pem" --drain-timeout 1s --log-level info
start hold2 "$BIN/mtls-load" --addr "127.0.0.1:$CP" --hold 1 --seconds 20
wait_log client 'conn=1 tunnel=.* established' 20
sleep 0.5
t0=$(date +%s%N)
kill -TERM "$PID_client"
for i in $(seq 1 100); do kill -0 "$PID_client" 2>/dev/null || break; sleep 0.05; done
kill -0 "$PID_client" 2>/dev/null && fail "drain-timeout 1s: the agent still runs after 5 s"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q 'stopped; 1 tunnels cut at the end of the drain' "$D/client.log" ||
	fail "drain-timeout log: $(tail -n 3 "$D/client.log")"
[ "$ms" -ge 900 ] || fail "the agent exited after $ms ms, before its 1 s drain"
echo "ok: drain-timeout 1s cut the held tunnel; exit after $ms ms"
