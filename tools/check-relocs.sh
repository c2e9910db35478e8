#!/bin/sh
# SPDX-License-Identifier: MIT
# The loader applies only R_*_RELATIVE relocations to the core image: fail the
# build if the linker left any other kind (it would be silently wrong at run time).
set -eu
readelf=$1
elf=$2
bad=$($readelf -rW "$elf" | awk '/^ *[0-9a-f]+ +[0-9a-f]+ +R_/ && $3 !~ /_RELATIVE$/ {print $3}' | sort -u)
if [ -n "$bad" ]; then
	echo "error: $elf has relocations the loader does not apply: $bad" >&2
	exit 1
fi
