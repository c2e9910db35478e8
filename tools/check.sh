#!/bin/sh
# SPDX-License-Identifier: MIT
# Layering and style checks (`make check`, the first step of `make test`):
# core/, virtio/ and vfio/ include no arch header but <arch/types.h>; no #ifdef
# in .c files; every source file opens with an SPDX line; the shipped C is as
# clang-format (.clang-format) writes it.
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

# The C that ships: Keel, its loader, the device models, keelctl and the Linux driver.
if ! command -v clang-format >/dev/null 2>&1; then
	echo "check: clang-format is not installed (make deps installs it)"; fail=1
else
	n=0
	for f in $(git ls-files 'core/*.[ch]' 'arch/*.[ch]' 'boot/*.[ch]' 'virtio/*.[ch]' \
		'vfio/*.[ch]' 'tools/keelctl/*.[ch]' 'tools/linux/*.[ch]'); do
		if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
			echo "check: clang-format would change $f (clang-format -i $f)"
			n=$((n + 1))
		fi
	done
	[ "$n" -eq 0 ] || fail=1
fi
exit $fail
