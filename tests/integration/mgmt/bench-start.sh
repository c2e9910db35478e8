#!/bin/sh
# SPDX-License-Identifier: MIT
# `make bench` (tools/bench_keelctl.py): N times, `keelctl create --start`
# microVM "bvm" with CPUS cores and MEMORY from /images, printing
# "BENCH-CREATE i" just before and "BENCH-STARTED i" the moment it returns
# (the host times from each line to the microVM's "KEEL-INIT <arch> start");
# then wait, without polling
# (`console --wait` sleeps on Keel's event interrupt and ends with exit 5 when
# the partition stops), until its /init has powered it off; print
# "BENCH-FIRST i NS", Keel's own START -> first guest instruction; destroy it.
# "BENCH-MEM i took=BYTES": the free memory `keelctl create --start` took (the
# microVM's RAM, its images and what Keel keeps for it).
# Usage: bench-start.sh N CPUS MEMORY CMDLINE
n=$1 cpus=$2 mem=$3
shift 3
cmd="$*"
free_bytes() {
	keelctl info --json | tr -d '\n' | sed -n 's/.*"mem_free": *\([0-9]*\).*/\1/p'
}
i=1
while [ $i -le "$n" ]; do
	free0=$(free_bytes)
	echo "BENCH-CREATE $i"
	keelctl create bvm --cpus "$cpus" --memory "$mem" --kernel /images/kernel \
		--initrd /images/initrd.gz --disk /images/disk.img --cmdline "$cmd" --start >/dev/null &&
		echo "BENCH-STARTED $i" || { echo "BENCH-FAIL create --start $i"; exit 1; }
	echo "BENCH-MEM $i took=$((free0 - $(free_bytes)))"
	keelctl console bvm --wait "BENCH never printed" --new --timeout 600 >/dev/null 2>&1
	[ $? = 5 ] || { echo "BENCH-FAIL still running $i"; exit 1; }
	first=$(keelctl stats bvm --json | tr -d '\n' | sed -n 's/.*"first_insn_ns": *\([0-9]*\).*/\1/p')
	echo "BENCH-FIRST $i ${first:-0}"
	keelctl destroy bvm --force >/dev/null || { echo "BENCH-FAIL destroy $i"; exit 1; }
	i=$((i + 1))
done
echo "BENCH-DONE $n"
