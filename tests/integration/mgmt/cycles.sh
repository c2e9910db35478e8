#!/bin/sh
# SPDX-License-Identifier: MIT
# 100 create/start/destroy cycles of a small partition (Keel's test guest ELF)
# through keelctl; the free memory Keel reports must end where it started.
# Prints "CYCLES <n> before=<bytes> after=<bytes>" and "CYCLES PASS|FAIL".
n=${1:-100}
free_mem() { keelctl info --json | tr -d '\n' | sed -n 's/.*"mem_free": *\([0-9]*\).*/\1/p'; }
before=$(free_mem)
i=0
fail=""
while [ $i -lt "$n" ]; do
	keelctl create cyc --cpus 1 --memory 16M --kernel /images/testguest.elf \
		--cmdline "mode=conduit then=idle" --start >/dev/null || { fail="create $i"; break; }
	keelctl destroy cyc --force >/dev/null || { fail="destroy $i"; break; }
	i=$((i + 1))
done
after=$(free_mem)
echo "CYCLES $i before=$before after=$after"
if [ -z "$fail" ] && [ "$before" = "$after" ] && [ -n "$before" ]; then
	echo "CYCLES PASS"
else
	echo "CYCLES FAIL ${fail:-memory}"
fi
