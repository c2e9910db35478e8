#!/bin/sh
# SPDX-License-Identifier: MIT
# The independence scenario: `keep.sh start [SECONDS]` starts microVM "keep"
# (it prints "alive k" once a second for SECONDS, then waits for a console
# line) and returns once it printed "alive 2"; the management partition then
# reboots; `keep.sh check` (after the reboot) finds "keep" still running and
# talks to it through keelctl console.
case "$(uname -m)" in
aarch64) con=ttyAMA0 ;;
*) con=ttyS0 ;;
esac
case "$1" in
start)
	keelctl create keep --cpus 1 --memory 256M --kernel /images/kernel \
		--initrd /images/initrd.gz --disk /images/disk.img \
		--cmdline "console=$con loglevel=4 panic=-1 keel.alive=${2:-40} keel.wait=300" --start &&
		keelctl console keep --wait "alive 2" --timeout 240 >/dev/null &&
		echo "KEEP started" || echo "KEEP FAIL start"
	;;
check)
	state=$(keelctl list | awk '$2 == "keep" {print $3}')
	echo "KEEP state=$state"
	line="after the reboot $$"
	[ "$state" = running ] &&
		keelctl console keep --wait "console=ready" --timeout 240 >/dev/null &&
		keelctl console keep --send "$line" &&
		keelctl console keep --wait "echo: $line" --timeout 60 >/dev/null &&
		keelctl stop keep --timeout 30 && keelctl destroy keep &&
		echo "KEEP PASS" || {
		# What its vCPU was doing, for the report.
		echo "KEEP-STATS $(keelctl stats keep --json | tr -d '\n')"
		sleep 2
		echo "KEEP-STATS $(keelctl stats keep --json | tr -d '\n')"
		echo "KEEP FAIL"
	}
	;;
*)
	echo "usage: keep.sh start [SECONDS] | check" >&2
	exit 2
	;;
esac
