#!/bin/bash
# ctest wrapper: a throwaway SoftHSM2 token in a fresh temp directory, then the self-test.
#   run_selftest.sh MKTOKEN SELFTEST MODULE
# Honours MTLS_TOKEN_TEMPLATE (see tests/lib/README.md). Exits 77 (skip) only when SoftHSM2
# itself is missing.
set -eu

if [ "$#" -ne 3 ]; then
	echo "usage: $0 MKTOKEN SELFTEST MODULE" >&2
	exit 2
fi
mktoken=$1 selftest=$2 module=$3

if ! command -v softhsm2-util >/dev/null || ! command -v pkcs11-tool >/dev/null; then
	echo "softhsm2-util or pkcs11-tool missing: skipping" >&2
	exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mtls-fault.XXXXXX")
trap 'rm -rf "$work"' EXIT

assignments=$(bash "$mktoken" "$work/token")
eval "$assignments"
export SOFTHSM2_CONF MTLS_TEST_TOKEN MTLS_TEST_PIN_FILE MTLS_TEST_MODULE
"$selftest" "$module" "$work"
