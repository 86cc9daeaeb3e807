#!/usr/bin/env bash
# SIGHUP with a new certificate: established tunnels continue, and the next
# handshake presents the new certificate (same token key, renewed).
set -eu
. "$(dirname "$0")/agent_lib.sh"
make_pki
start_echo
cp "$PKI/tok-ec256.pem" "$D/server.pem"
server_agent "$(key_uri ec256)" "$D/server.pem" --allow-cn tok-rsa2048 --allow-cn peer
client_agent "$(key_uri rsa2048)" "$PKI/tok-rsa2048.pem"
presented() {
	timeout 10 openssl s_client -connect "127.0.0.1:$SP" -servername localhost -cert "$PKI/peer.pem" \
		-key "$PKI/peer.key" -CAfile "$PKI/ca.pem" </dev/null 2>/dev/null |
		openssl x509 -noout -subject
}
before=$(presented)
case $before in *"CN = tok-ec256"*) ;; *) fail "first certificate: '$before'" ;; esac

# An established tunnel, echoing all along (about 6 s).
start rtt "$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 2500 --interval-ms 2
sleep 1
openssl x509 -new -force_pubkey "$PKI/tok-ec256.pub" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
	-subj "/OU=agents/CN=tok-ec256-renewed" -days 2 -set_serial 3000 \
	-extfile "$PKI/ext-tok-ec256.cnf" -out "$D/renewed.pem" 2>"$D/renew.err" ||
	fail "cannot issue the renewed certificate: $(cat "$D/renew.err")"
cp "$D/renewed.pem" "$D/server.pem.new" && mv "$D/server.pem.new" "$D/server.pem"
kill -HUP "$PID_server"
wait_log server 'SIGHUP: .*reloaded'
after=$(presented)
case $after in *"CN = tok-ec256-renewed"*) ;; *) fail "after SIGHUP the agent presented '$after'" ;; esac
for i in $(seq 1 200); do kill -0 "$PID_rtt" 2>/dev/null || break; sleep 0.1; done
wait "$PID_rtt" || fail "the established tunnel broke during the reload"
cat "$D/rtt.log"
echo "ok: before SIGHUP '$before', after '$after'; the established tunnel kept echoing"

# Each reload starts a new signer (keys are looked up again); an old one
# is stopped once no tunnel uses it: after three more reloads and no open
# tunnel, the agent has exactly one signer (started by its launcher, the
# one process the sandboxed agent forks).
children() { cat /proc/"$1"/task/*/children 2>/dev/null || true; }
signers() {
	local n=0 c
	for c in $(children "$1"); do
		if [ "$(cat "/proc/$c/comm" 2>/dev/null)" = mtls-launcher ]; then
			n=$((n + $(children "$c" | wc -w)))
		else
			n=$((n + 1))
		fi
	done
	echo "$n"
}
for i in 1 2 3; do
	kill -HUP "$PID_server"
	for j in $(seq 1 50); do [ "$(grep -c 'SIGHUP: .*reloaded' "$D/server.log")" -gt "$i" ] && break; sleep 0.1; done
done
n=0
for j in $(seq 1 50); do n=$(signers "$PID_server"); [ "$n" = 1 ] && break; sleep 0.1; done
[ "$n" = 1 ] || fail "after four reloads the agent has $n signer processes (want 1)"
echo "ok: four reloads, one signer process left"
