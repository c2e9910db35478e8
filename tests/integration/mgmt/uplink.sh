#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs in the Linux management partition (tests/integration/test_passthrough.py,
# keel.script=uplink.sh): it owns a virtio-net-pci NIC on QEMU's user network
# and a port on Keel's network "lan"; keel-uplink bridges the two, so a
# microVM on "lan" reaches the outside LAN's gateway (10.0.2.2).
# Prints "UPLINK up members=..." or "UPLINK FAIL <why>".
i=0
until out=$(keel-uplink bridge 2>&1); do
	i=$((i + 1))
	[ $i -lt 100 ] || break
	usleep 100000
done
if [ -d /sys/class/net/br0 ]; then
	echo "$out"
	echo "UPLINK up members=$(ls /sys/class/net/br0/brif | tr '\n' ' ')"
else
	echo "UPLINK FAIL $out"
fi
