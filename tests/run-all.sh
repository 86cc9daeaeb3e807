#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#  1. install missing Debian packages;
#  2. gcc build, every ctest test (unit, integration, fuzz corpus replay);
#  3. clang build with ASan+UBSan (leaks count), unit and integration tests
#     (all but the two volume tests labelled "slow");
#  4. clang libFuzzer build, each fuzz target for a short bounded time;
#  5. clang-format check of the tree.
# Build trees go to build/ (override with MTLS_BUILD_ROOT).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
root=${MTLS_BUILD_ROOT:-$top/build}
jobs=$(nproc 2>/dev/null || echo 2)
bash "$top/tests/lib/deps.sh"

step() { printf '\n=== %s ===\n' "$*"; }

step "gcc build and full test suite"
cmake -S "$top" -B "$root/gcc" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/gcc" -j"$jobs"
ctest --test-dir "$root/gcc" --output-on-failure -j"$jobs" --timeout 600

step "clang build with AddressSanitizer + UndefinedBehaviorSanitizer"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cmake -S "$top" -B "$root/asan" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	-DMTLS_SANITIZE=ON >/dev/null
cmake --build "$root/asan" -j"$jobs"
# The two "slow" tests (200 x 4 MiB through two agents, 1000 idle tunnels)
# measure volume, not code paths the other tests miss: gcc stage only.
ctest --test-dir "$root/asan" --output-on-failure -j"$jobs" --timeout 900 -L 'unit|integration' \
	-LE slow

step "libFuzzer targets (bounded runs)"
cmake -S "$top" -B "$root/fuzz" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	-DMTLS_SANITIZE=ON -DMTLS_FUZZ=ON >/dev/null
cmake --build "$root/fuzz" -j"$jobs"
ctest --test-dir "$root/fuzz" --output-on-failure -j"$jobs" -L fuzz

step "format check"
bash "$top/tests/lib/format-check.sh"

printf '\nall test stages passed\n'
