#!/usr/bin/env bash
# SIGHUP re-reads the config file, not only the certificates:
#  - tunnel "a" switches to another token key and certificate: the next
#    handshake presents the new identity; a tunnel established before keeps
#    echoing across the reload;
#  - tunnel "b" is removed: its port stops listening;
#  - tunnel "c" is added: it listens and carries bytes;
#  - a config file with a mistake: the error is logged with file, line and
#    option, and the running tunnels stay as they were.
set -eu
. "$(dirname "$0")/agent_lib.sh"
make_pki
start_echo
server_agent "$(key_uri ec256)" "$PKI/tok-ec256.pem" --allow-cn tok-rsa2048 --allow-cn tok-ec384 \
	--log-level info
PA=$(free_port); PB=$(free_port); PC=$(free_port)
conf=$D/agent.conf
tunnel() { # NAME PORT KEY
	cat <<T
[tunnel $1]
mode = client
listen = 127.0.0.1:$2
target = 127.0.0.1:$SP
key = $(key_uri "$3")
cert = $PKI/tok-$3.pem
cacert = $PKI/ca.pem
server-name = localhost
T
}
write_conf() { { printf '[agent]\npin-file = %s\n' "$MTLS_TEST_PIN_FILE"; cat; } >"$conf.tmp" && mv "$conf.tmp" "$conf"; }
{ tunnel a "$PA" rsa2048; tunnel b "$PB" rsa2048; } | write_conf
start client "$BIN/mtls-agent" --config "$conf"
wait_port "$PA"; wait_port "$PB"
peer_of_last() { grep 'established' "$D/server.log" | tail -n 1 | grep -o 'peer="[^"]*"'; }
"$BIN/mtls-load" --addr "127.0.0.1:$PA" --rtt 3 >/dev/null || fail "tunnel a does not work"
case $(peer_of_last) in *CN=tok-rsa2048*) ;; *) fail "first peer: $(peer_of_last)" ;; esac

start rtt "$BIN/mtls-load" --addr "127.0.0.1:$PA" --rtt 2000 --interval-ms 2
sleep 0.5
{ tunnel a "$PA" ec384; tunnel c "$PC" rsa2048; } | write_conf
kill -HUP "$PID_client"
wait_log client 'SIGHUP: .*agent.conf.* reloaded'
wait_port "$PC"
for i in $(seq 1 40); do port_listening "$PB" || break; sleep 0.05; done
port_listening "$PB" && fail "tunnel b still listens after it left the config"
"$BIN/mtls-load" --addr "127.0.0.1:$PC" --rtt 3 >/dev/null || fail "the new tunnel c does not work"
"$BIN/mtls-load" --addr "127.0.0.1:$PA" --rtt 3 >/dev/null || fail "tunnel a does not work after the reload"
case $(peer_of_last) in *CN=tok-ec384*) ;; *) fail "after the reload tunnel a presented $(peer_of_last)" ;; esac
echo "ok: b removed, c added, a now presents tok-ec384"

# A mistake in the file: logged, nothing changes.
{ tunnel a "$PA" ec384; tunnel c "$PC" rsa2048; echo "idle-timeout = soon"; } | write_conf
kill -HUP "$PID_client"
wait_log client "agent.conf:[0-9]*: idle-timeout"
wait_log client 'keeping the running configuration'
"$BIN/mtls-load" --addr "127.0.0.1:$PC" --rtt 3 >/dev/null || fail "tunnel c broke after a bad reload"
for i in $(seq 1 100); do kill -0 "$PID_rtt" 2>/dev/null || break; sleep 0.1; done
wait "$PID_rtt" || fail "the tunnel established before the reloads broke: $(cat "$D/rtt.log")"
grep 'SIGHUP' "$D/client.log" | sed 's/^/  /'
echo "ok: a bad file kept the running configuration; the established tunnel echoed throughout"
