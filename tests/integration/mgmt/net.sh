#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs in the Linux management partition (tests/integration/test_mgmt_linux.py),
# which keel.cfg puts on network "lan" beside an empty network "other":
# keelctl lists both, creates a microVM on "lan" (--net) and one on "other",
# and the management partition pings the first and must not reach the
# second, which in turn reaches nobody. Then the ports' counters (keelctl
# stats, keelctl net), an unknown network and a taken address refused, and
# both microVMs destroyed: their ports leave the networks.
# vsock: the manager is CID 2 (keel.cfg vsock = auto); nvm1 (CID 10) echoes
# port 5000. The manager streams 16 MiB through it (keelctl vsock), nvm3 (on
# "other") is reset by Keel's policy when it connects to nvm1, and by the
# manager's kernel on a port nobody listens on; a taken CID is refused; then
# nvm2 (on "lan", CID auto) streams 16 MiB through nvm1's echo.
# Prints "CHECK <name> ok|FAIL <detail>" per step and "NET PASS|FAIL".
fails=0
check() { # name, condition result (0 = ok), detail
	if [ "$2" = 0 ]; then echo "CHECK $1 ok"; else echo "CHECK $1 FAIL $3"; fails=$((fails + 1)); fi
}
json() { keelctl "$@" --json | tr -d '\n'; }

case "$(uname -m)" in
aarch64) con=ttyAMA0 ;;
*) con=ttyS0 ;;
esac
CMD="console=$con loglevel=4 panic=-1 keel.wait=0 keel.after=hold"
IMG="--kernel /images/kernel --initrd /images/initrd.gz"

# The management partition's own NIC: the virtio_net device on virtio-mmio.
ifc=
for n in /sys/class/net/*; do
	case "$(readlink -f "$n/device/driver")" in */virtio_net) ifc=${n##*/} ;; esac
	case "$(readlink -f "$n")" in */pci*) ifc= ;; esac
	[ -n "$ifc" ] && break
done
[ -n "$ifc" ]
check "mgmt-nic" $? "no virtio_net interface: $(ls /sys/class/net)"
ip link set "$ifc" up && ip addr add 10.2.0.1/24 dev "$ifc"
check "mgmt-addr" $? ""
echo "MGMT-NIC if=$ifc mac=$(cat /sys/class/net/$ifc/address)"
echo "NET-JSON-BEFORE $(json net)"

keelctl create nvm1 --cpus 1 --memory 256M $IMG --net lan --vsock 10 \
	--cmdline "$CMD keel.net=10.2.0.2/24 keel.netpeer=10.2.0.1 keel.vsockecho=5000" --start
check "create-nvm1" $? ""
keelctl create nvm3 --cpus 1 --memory 256M $IMG --net other,mac=02:00:00:00:00:03 --vsock 12 \
	--cmdline "$CMD keel.net=10.2.0.3/24 keel.netpeer=10.2.0.1,10.2.0.2 keel.nettries=3 keel.vsockto=10:5000,2:5999" --start
check "create-nvm3" $? ""

# Refused before anything is made: no such network; an address taken on it.
out=$(keelctl create bad1 --cpus 1 --memory 64M $IMG --net nowhere 2>&1)
echo "EXIT net-unknown $?: $out"
out=$(keelctl create bad2 --cpus 1 --memory 64M $IMG --net other,mac=02:00:00:00:00:03 2>&1)
echo "EXIT net-mac-taken $?: $out"

i=0
while ! ping -c 1 -W 1 10.2.0.2 >/dev/null 2>&1 && [ $i -lt 240 ]; do
	i=$((i + 1))
done
echo "MGMT-PING nvm1 $(ping -c 5 10.2.0.2 2>&1 | grep transmitted)"
keelctl console nvm3 --wait "net-ping peer=10.2.0.2" --timeout 300 >/tmp/nvm3.out
check "nvm3-tried" $? "$(tail -c 300 /tmp/nvm3.out)"
echo "MGMT-PING nvm3 $(ping -c 3 -W 1 10.2.0.3 2>&1 | grep transmitted)"
keelctl console nvm1 --wait "net-ping peer=10.2.0.1" --timeout 300 >/tmp/nvm1.out
check "nvm1-pinged" $? "$(tail -c 300 /tmp/nvm1.out)"

echo "NET-STATS $(json stats nvm1)"
echo "NET-JSON $(json net)"
keelctl net

# vsock: the manager and nvm1, nvm3 refused, a taken CID, then nvm2 and nvm1.
keelctl console nvm1 --wait "vsock-echo port=5000" --timeout 300 >/dev/null
check "nvm1-echo" $? ""
dd if=/dev/urandom of=/tmp/vs bs=1048576 count=16 2>/dev/null
sent=$(sha256sum </tmp/vs)
read -r t0 _ </proc/uptime
back=$(keelctl vsock nvm1 5000 </tmp/vs | sha256sum)
read -r t1 _ </proc/uptime
echo "VSOCK-MGMT sent=${sent%% *} back=${back%% *} secs=$(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }')"
rm -f /tmp/vs
out=$(keelctl vsock nvm1 5999 </dev/null 2>&1)
echo "EXIT vsock-noport $?: $out"
out=$(keelctl vsock plain 5000 </dev/null 2>&1)
echo "EXIT vsock-nodev $?: $out"
keelctl console nvm3 --wait "vsock-connect to=2:5999" --timeout 300 >/tmp/nvm3.out
check "nvm3-vsock" $? "$(tail -c 300 /tmp/nvm3.out)"
keelctl stop nvm3 --force >/dev/null && keelctl destroy nvm3
check "destroy-nvm3" $? ""
out=$(keelctl create bad3 --cpus 1 --memory 64M $IMG --vsock 10 2>&1)
echo "EXIT vsock-taken $?: $out"
keelctl create nvm2 --cpus 1 --memory 256M $IMG --net lan --vsock auto \
	--cmdline "$CMD keel.vsocksend=10:5000:16" --start >/tmp/nvm2.create
check "create-nvm2" $? "$(cat /tmp/nvm2.create)"
echo "VSOCK-CREATE $(grep vsock /tmp/nvm2.create)"
keelctl console nvm2 --wait "vsock-sent" --timeout 900 >/tmp/nvm2.out
check "nvm2-vsock" $? "$(tail -c 300 /tmp/nvm2.out)"
echo "VSOCK-STATS $(json stats nvm1)"
for vm in nvm1 nvm2; do
	keelctl stop $vm --force >/dev/null && keelctl destroy $vm
	check "destroy-$vm" $? ""
done
echo "NET-JSON-AFTER $(json net)"
ip addr del 10.2.0.1/24 dev "$ifc"
if [ $fails = 0 ]; then echo "NET PASS"; else echo "NET FAIL ($fails)"; fi
