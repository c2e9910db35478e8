#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs in the Linux management partition (tests/integration/test_passthrough.py,
# keel.script=uplink.sh): it owns a virtio-net-pci NIC on QEMU's user network
# and a port on Keel's network "lan"; keel-uplink bridges the two, so a
# microVM on "lan" reaches the outside LAN's gateway (10.0.2.2).
# Prints "UPLINK up members=..." or "UPLINK FAIL <why>". Then, once "inside"
# has pinged through the bridge, NAT instead (keel-uplink down, then nat): the
# NIC gets its address from QEMU's DHCP server through udhcpc (the initramfs's
# /etc/udhcpc/default.script puts it on; "DHCP <udhcpc's last line>"), "lan"
# 10.9.0.0/24 behind it, and microVM "natted" on
# "lan" pings 10.0.2.2 through the manager's masquerade. Prints the nftables
# counter ("NAT-RULE ...") and "NAT done|FAIL <why>".
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

case "$(uname -m)" in aarch64) con=ttyAMA0 ;; *) con=ttyS0 ;; esac
keelctl console inside --wait "net-ping peer=10.0.2.2" --timeout 300 >/dev/null
keel-uplink down
nic=$(for n in /sys/class/net/*; do case "$(readlink -f "$n/device")" in */pci*) echo "${n##*/}"; break ;; esac; done)
echo "DHCP $(udhcpc -i "$nic" -n -q -t 5 2>&1 | tail -1)"
if out=$(keel-uplink nat 10.9.0.1/24 2>&1); then
	echo "$out"
	keelctl create natted --cpus 1 --memory 256M --kernel /images/kernel \
		--initrd /images/initrd.gz --net lan --start --cmdline \
		"console=$con loglevel=4 panic=-1 keel.wait=0 keel.after=hold keel.net=10.9.0.2/24 keel.netgw=10.9.0.1 keel.netpeer=10.0.2.2"
	keelctl console natted --wait "net-ping peer=10.0.2.2" --timeout 300 >/tmp/natted.out
	echo "NAT-RULE $(nft list table ip keel | grep masquerade)"
	echo "NAT done"
else
	echo "NAT FAIL $out"
fi
