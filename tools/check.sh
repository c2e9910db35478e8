#!/bin/sh
# SPDX-License-Identifier: MIT
# Layering and style checks (`make check`): core/, virtio/ and vfio/ include no
# arch header but <arch/types.h>; no #ifdef in .c files; every source file
# opens with an SPDX line; clang-format differences are listed.
set -u
fail=0

bad=$(grep -rnE '#include *[<"](arch/|\.\./arch)' core virtio vfio 2>/dev/null |
	grep -v '<arch/types.h>' || true)
if [ -n "$bad" ]; then
	echo "check: arch headers included from arch-neutral code:"; echo "$bad"; fail=1
fi

bad=$(grep -rnE '^#(if|ifdef|ifndef)' --include='*.c' core boot arch virtio vfio tests/guests 2>/dev/null || true)
if [ -n "$bad" ]; then
	echo "check: conditional compilation in .c files (let the Makefile pick objects):"; echo "$bad"; fail=1
fi

for f in $(git ls-files '*.c' '*.h' '*.S' '*.sh' '*.py' '*.lds' 'Makefile' '*.mk'); do
	head -n 3 "$f" | grep -q 'SPDX-License-Identifier' || { echo "check: $f has no SPDX line"; fail=1; }
done

if command -v clang-format >/dev/null 2>&1; then
	n=0
	for f in $(git ls-files 'core/*.[ch]' 'arch/*.[ch]' 'boot/*.[ch]'); do
		clang-format --dry-run "$f" 2>&1 | grep -q warning && n=$((n + 1))
	done
	[ "$n" -eq 0 ] || echo "check: clang-format would change $n files (advisory)"
fi
exit $fail
