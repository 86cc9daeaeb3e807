#!/usr/bin/env bash
# Integrity under load: 200 concurrent connections x 4 MiB of random data
# through client agent -> server agent -> echo backend; every SHA-256 must
# match and no connection may be lost.
set -eu
. "$(dirname "$0")/agent_lib.sh"
conns=${MTLS_LOAD_CONNS:-200}
bytes=${MTLS_LOAD_BYTES:-4194304}
ulimit -n 8192 2>/dev/null || true
make_pki
start_echo
# Integrity, not timing: on a loaded CI machine the last of 200 queued
# handshakes may wait more than the default 10 s handshake timeout.
server_agent "$(key_uri ec256)" "$PKI/tok-ec256.pem" --allow-cn tok-rsa2048 --handshake-queue 512 \
	--handshake-timeout 60s
client_agent "$(key_uri rsa2048)" "$PKI/tok-rsa2048.pem" --handshake-queue 512 --handshake-timeout 60s
out=$("$BIN/mtls-load" --addr "127.0.0.1:$CP" --conns "$conns" --bytes "$bytes" --seconds 600) ||
	fail "load: $out; $(grep -h 'failed after\|refused' "$D"/*.log | head -n 5)"
echo "$out"
case $out in *"ok=$conns sha256_mismatch=0 failed=0"*) ;; *) fail "not every connection matched: $out" ;; esac
grep -q 'failed after' "$D/client.log" "$D/server.log" && fail "an agent logged a failed connection"
echo "ok: $conns x $bytes bytes, every SHA-256 matched, no connection lost"
