#!/bin/sh
# SPDX-License-Identifier: MIT
# `make bench` (tools/bench_keelctl.py): N times, create microVM "bvm" with
# CPUS cores and MEMORY from /images, `keelctl start` it and print
# "BENCH-STARTED i" the moment start returns (the host times from that line to
# the microVM's "KEEL-INIT <arch> start"); then wait (1 s polls, to leave the
# CPUs to the guest) until its /init has powered it off, and destroy it.
# Usage: bench-start.sh N CPUS MEMORY CMDLINE
n=$1 cpus=$2 mem=$3
shift 3
cmd="$*"
i=1
while [ $i -le "$n" ]; do
	keelctl create bvm --cpus "$cpus" --memory "$mem" --kernel /images/kernel \
		--initrd /images/initrd.gz --disk /images/disk.img --cmdline "$cmd" >/dev/null ||
		{ echo "BENCH-FAIL create $i"; exit 1; }
	keelctl start bvm >/dev/null && echo "BENCH-STARTED $i" || { echo "BENCH-FAIL start $i"; exit 1; }
	t=0
	while [ "$(keelctl list | awk '$2 == "bvm" {print $3}')" = running ] && [ $t -lt 600 ]; do
		sleep 1
		t=$((t + 1))
	done
	keelctl destroy bvm --force >/dev/null || { echo "BENCH-FAIL destroy $i"; exit 1; }
	i=$((i + 1))
done
echo "BENCH-DONE $n"
