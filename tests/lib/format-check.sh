#!/usr/bin/env bash
# Fail if any C file of the tree differs from what clang-format makes of it.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
bad=0
while IFS= read -r f; do
	if ! clang-format --style=file "$f" | cmp -s - "$f"; then
		echo "not formatted: $f (run: clang-format -i $f)"
		bad=1
	fi
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build/*')
[ "$bad" -eq 0 ] && echo "format: clean"
exit "$bad"
