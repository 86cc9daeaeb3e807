#!/usr/bin/env bash
# Renewal over EST with short-lived certificates while the agent runs:
# enroll follows two "202 Accepted, Retry-After: 1"; renew is not due at
# first (a third of the lifetime), then with --before it re-enrolls over
# /simplereenroll with TLS client auth signed by the current token key,
# replaces the certificate on the token, and SIGHUPs the agent through its
# pid file: new handshakes present the new certificate and an established
# tunnel keeps echoing. --rekey makes a new key whose certificate differs
# in its public key, switches the key's name to it, keeps the old key. A CA that is down
# and an expired certificate fail clearly and change nothing.
set -eu
. "$(dirname "$0")/provision_est_lib.sh"
est_setup
start_echo
mkdir -p "$D/out"
start_est est --lifetime 120 --reply-202 2

SECONDS=0
run enroll enroll_basic ec256 --subject "/OU=agents/CN=gw-ec256" --san dns:localhost --to-token
expect_rc enroll 0
printed enroll 'after waiting for the EST server'
said enroll 'HTTP 202 \(pending approval\), asking again in 1 s'
[ "$(grep -c 'simpleenroll -> 202' "$D/est.log")" = 2 ] && grep -q 'simpleenroll -> 200' "$D/est.log" ||
	fail "the server's log does not show 202, 202, 200: $(cat "$D/est.log")"
[ "$SECONDS" -ge 2 ] || fail "the two Retry-After: 1 were not waited for ($SECONDS s)"
token_cert 01 "$D/first.pem"
ok "enroll followed two 202 Retry-After answers (${SECONDS} s)"

# The agent serves with the token's certificate; its pid goes to a pid file.
server_agent "$(key_uri ec256)" "pkcs11:token=$MTLS_TEST_TOKEN;type=cert" --allow-cn tok-rsa2048 \
	--allow-cn peer
echo "$PID_server" >"$D/agent.pid"
client_agent "$(key_uri rsa2048)" "$PKI/tok-rsa2048.pem"
presented() {
	timeout 10 openssl s_client -connect "127.0.0.1:$SP" -servername localhost -cert "$PKI/peer.pem" \
		-key "$PKI/peer.key" -CAfile "$PKI/ca.pem" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 | cut -d= -f2
}
[ "$(presented)" = "$(fingerprint "$D/first.pem")" ] || fail "the agent does not present the enrolled certificate"

# Not due: 180 s of lifetime (60 s back-dated), 120 s left, the window a third.
run notdue renew_cmd ec256
expect_rc notdue 0
printed notdue '^not due: /OU=agents/CN=gw-ec256 is valid until .* left\); renewal starts when less than [0-9]+ seconds is left'
grep -q simplereenroll "$D/est.log" && fail "renew contacted the server although not due"
ok "renew: not due yet, nothing asked"

# Due with --before; the tunnel established before must survive the reload.
start rtt "$BIN/mtls-load" --addr "127.0.0.1:$CP" --rtt 2500 --interval-ms 2
sleep 1
snapshot "$D/before-renew"
run renew renew_cmd ec256 --before 1h --reload "pidfile:$D/agent.pid"
expect_rc renew 0
printed renew '^renewed: /OU=agents/CN=gw-ec256, serial [0-9a-f]+, valid until'
printed renew '^told the agent to reload \(pidfile:'
grep -q 'simplereenroll -> 200 (auth cert /OU=agents/CN=gw-ec256)' "$D/est.log" ||
	fail "no certificate-authenticated /simplereenroll in the server's log"
token_cert 01 "$D/second.pem"
[ "$(fingerprint "$D/second.pem")" != "$(fingerprint "$D/first.pem")" ] || fail "the token still has the old certificate"
[ "$(pubkey_of "$D/second.pem")" = "$(cat "$PKI/tok-ec256.pub")" ] || fail "renewed for another key"
[ "$(openssl x509 -in "$D/second.pem" -noout -subject -ext subjectAltName)" = \
	"$(openssl x509 -in "$D/first.pem" -noout -subject -ext subjectAltName)" ] ||
	fail "the renewed certificate's subject or SANs differ"
[ "$(p11 --list-objects --type cert 2>/dev/null | grep -c '^Certificate Object')" = 1 ] ||
	fail "the old certificate was not replaced on the token"
wait_log server 'SIGHUP: .*reloaded'
[ "$(presented)" = "$(fingerprint "$D/second.pem")" ] || fail "after the reload the agent presents $(presented)"
for i in $(seq 1 200); do kill -0 "$PID_rtt" 2>/dev/null || break; sleep 0.1; done
wait "$PID_rtt" || fail "the established tunnel broke during the reload"
ok "renewed over /simplereenroll signed by the token key; the agent presents it after SIGHUP; the tunnel kept echoing"

# --rekey: a new key (new id) gets its certificate over /simplereenroll
# authenticated by the old key, then takes the name "ec256" that the
# agent's key URI uses; the old key stays as ec256-replaced-TIME with its
# certificate. After the reload the agent presents the new certificate,
# whose handshake signature the new key makes.
run rekey renew_cmd ec256 --force --rekey --out "$D/out/rekey.pem" --reload "pidfile:$D/agent.pid"
expect_rc rekey 0
printed rekey '^new key: pkcs11:.*object=ec256-[0-9]{8}T[0-9]{6}Z'
printed rekey "^switched: the new key is now labelled 'ec256'"
[ "$(pubkey_of "$D/out/rekey.pem")" != "$(cat "$PKI/tok-ec256.pub")" ] || fail "--rekey kept the old public key"
p11 --read-object --type pubkey --label ec256 -o "$D/newkey.der" >/dev/null 2>&1 ||
	fail "no public key labelled ec256 on the token after the switch"
[ "$(openssl pkey -pubin -inform DER -in "$D/newkey.der")" = "$(pubkey_of "$D/out/rekey.pem")" ] ||
	fail "the key now named ec256 is not the one the new certificate is for"
p11 --list-objects --type privkey 2>/dev/null | grep -Eq 'label: *ec256-replaced-[0-9]{8}T[0-9]{6}Z$' ||
	fail "the old key is not kept under ec256-replaced-TIME"
token_cert 01 "$D/still.pem"
[ "$(fingerprint "$D/still.pem")" = "$(fingerprint "$D/second.pem")" ] || fail "the old key's certificate changed"
switched=0
for i in $(seq 1 50); do
	[ "$(presented)" = "$(fingerprint "$D/out/rekey.pem")" ] && { switched=1; break; }
	sleep 0.2
done
[ "$switched" = 1 ] || fail "after --rekey and the reload the agent presents $(presented)"
ok "--rekey: the new key took the name ec256 after its certificate was stored; the agent presents the new certificate; the old key is kept"

# The CA is down: renew fails after its retries, nothing changes.
stop_est est
snapshot "$D/before-down"
run down renew_cmd ec256 --force --retry-for 2s
expect_rc down 1
said down 'EST /cacerts: cannot connect to the EST server localhost'
snapshot "$D/after-down"
same_snapshot "$D/before-down" "$D/after-down" "renew with the CA down"
ok "CA down: $(grep -o 'mtls-provision renew: .*' "$D/down.err")"

# An expired certificate cannot authenticate /simplereenroll.
start_est short --lifetime 1
run short enroll_basic ec384 --subject "/CN=short" --to-token
expect_rc short 0
sleep 2
run expired renew_cmd ec384
expect_rc expired 1
said expired 'expired on .*: an EST server does not accept it for /simplereenroll; enroll again'
ok "an expired certificate: renew says to enroll again"
