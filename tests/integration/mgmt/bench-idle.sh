#!/bin/sh
# SPDX-License-Identifier: MIT
# `make bench` (tools/bench_keelctl.py): the management partition's load while
# N quiet microVMs run, each with a `keelctl console --wait` attached (as an
# operator's or a script's would be). For SECONDS, the CPU time /proc/stat
# counts as busy (user, nice, system, irq, softirq) and the hypercalls the
# manager made: first with no keelctl at all (the manager's own baseline),
# then with keelctl waiting on Keel's event interrupt, then with
# KEELCTL_POLL=1 (a read every 50 ms, as before ABI 1.9), in one run.
# Prints "BENCH-IDLE <none|watch|poll> busy_ticks=B total_ticks=T calls=C" per
# mode (ticks of USER_HZ, 100 a second), then "BENCH-IDLE-DONE" (or "BENCH-FAIL ...").
# Usage: bench-idle.sh N SECONDS
n=$1 secs=$2
calls() { keelctl stats mgmt --json | tr -d '\n' | sed -n 's/.*"hypercalls": *\([0-9]*\).*/\1/p'; }
ticks() { awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8; print b, b + $5 + $6 }' /proc/stat; }
i=1
while [ $i -le "$n" ]; do
	keelctl create idle$i --cpus 1 --memory 16M --kernel /images/testguest.elf \
		--cmdline "mode=conduit then=idle" --start >/dev/null ||
		{ echo "BENCH-FAIL create idle$i"; exit 1; }
	i=$((i + 1))
done
for mode in none watch poll; do
	poll=0
	[ $mode = poll ] && poll=1
	pids=""
	i=1
	[ $mode = none ] && i=$((n + 1))
	while [ $i -le "$n" ]; do
		KEELCTL_POLL=$poll keelctl console idle$i --wait "BENCH never printed" --new \
			--timeout $((secs + 60)) >/dev/null 2>&1 &
		pids="$pids $!"
		i=$((i + 1))
	done
	sleep 2
	set -- $(ticks)
	b0=$1 t0=$2
	c0=$(calls)
	sleep "$secs"
	set -- $(ticks)
	b1=$1 t1=$2
	c1=$(calls)
	c2=$(calls) # what one `calls` costs, taken out below
	echo "BENCH-IDLE $mode busy_ticks=$((b1 - b0)) total_ticks=$((t1 - t0))" \
		"calls=$((c1 - c0 - (c2 - c1)))"
	kill $pids 2>/dev/null
	wait 2>/dev/null
done
i=1
while [ $i -le "$n" ]; do
	keelctl destroy idle$i --force >/dev/null || { echo "BENCH-FAIL destroy idle$i"; exit 1; }
	i=$((i + 1))
done
echo "BENCH-IDLE-DONE"
