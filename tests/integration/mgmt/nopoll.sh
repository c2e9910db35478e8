#!/bin/sh
# SPDX-License-Identifier: MIT
# keelctl waits without polling (KEEL_HC_MGMT_WATCH): while `keelctl console
# --wait` waits 5 s for text a quiet partition never prints, the management
# partition makes only a few hypercalls (a 50 ms poll would make 200), and
# Keel's event interrupt (keel-events in /proc/interrupts) wakes `keelctl
# stop` when the partition has stopped.
# Prints "NOPOLL-IRQ <line>", "NOPOLL calls=<n> exit=<code>",
# "NOPOLL-STOP exit=<code> irqs=<before>-><after>" and "NOPOLL DONE".
calls() { keelctl stats mgmt --json | tr -d '\n' | sed -n 's/.*"hypercalls": *\([0-9]*\).*/\1/p'; }
irqs() { awk '/keel-events/ { n = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i; print n }' /proc/interrupts; }

echo "NOPOLL-IRQ $(grep keel-events /proc/interrupts | tr -s ' ')"
keelctl create quiet --cpus 1 --memory 16M --kernel /images/testguest.elf \
	--cmdline "mode=conduit then=idle" --start >/dev/null
keelctl console quiet --wait "KEEL-INIT" --timeout 10 >/dev/null 2>&1 # its start lines, if any
sleep 1
c0=$(calls)
keelctl console quiet --wait "never printed" --new --timeout 5 >/dev/null 2>&1
code=$?
c1=$(calls)
# Each `keelctl stats` makes its own calls: count them in a second, idle pair.
c2=$(calls)
echo "NOPOLL calls=$((c1 - c0 - (c2 - c1))) exit=$code"
i0=$(irqs)
keelctl stop quiet --force >/dev/null
code=$?
echo "NOPOLL-STOP exit=$code irqs=$i0->$(irqs)"
keelctl destroy quiet >/dev/null
echo "NOPOLL DONE"
