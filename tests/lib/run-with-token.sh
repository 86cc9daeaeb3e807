#!/usr/bin/env bash
# Run a test command with a private SoftHSM2 token: a fresh directory, a
# copy of the template token (MTLS_TOKEN_TEMPLATE), and the variables
# mktoken.sh prints (SOFTHSM2_CONF, MTLS_TEST_TOKEN, MTLS_TEST_PIN_FILE,
# MTLS_TEST_MODULE) exported. MTLS_TEST_DIR is the private directory;
# it is removed afterwards unless MTLS_KEEP_TEST_DIR is set.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
MTLS_TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mtls-test.XXXXXX")
export MTLS_TEST_DIR
cleanup() { [ -n "${MTLS_KEEP_TEST_DIR:-}" ] || rm -rf "$MTLS_TEST_DIR"; }
trap cleanup EXIT
vars=$(bash "$here/mktoken.sh" "$MTLS_TEST_DIR/token") || {
	echo "run-with-token: could not create a SoftHSM2 token in $MTLS_TEST_DIR" >&2
	exit 1
}
eval "$vars"
export SOFTHSM2_CONF MTLS_TEST_TOKEN MTLS_TEST_PIN_FILE MTLS_TEST_MODULE
"$@"
