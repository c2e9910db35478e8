#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs in the Linux management partition (tests/integration/test_mgmt_linux.py):
# keelctl creates two Linux microVMs from /images, starts them, talks to each
# through its console, lists them as JSON, stops one, destroys both and shows
# the resources back; then the error cases a script relies on (exit codes).
# Prints "CHECK <name> ok|FAIL <detail>" per step and "LIFECYCLE PASS|FAIL".
fails=0
check() { # name, condition result (0 = ok), detail
	if [ "$2" = 0 ]; then echo "CHECK $1 ok"; else echo "CHECK $1 FAIL $3"; fails=$((fails + 1)); fi
}
expect_exit() { # name, wanted exit code, command...
	name=$1 want=$2
	shift 2
	out=$("$@" 2>&1)
	got=$?
	echo "EXIT $name $got: $out"
	[ "$got" = "$want" ]
	check "$name" $? "exit $got, wanted $want"
}
json() { # keelctl read command as one line of JSON
	keelctl "$@" --json | tr -d '\n'
}
free_mem() { json info | sed -n 's/.*"mem_free": *\([0-9]*\).*/\1/p'; }
info_num() { json info | sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p"; }
free_cpus() { json info | sed -n 's/.*"free_cpus": *\(\[[^]]*\]\).*/\1/p' | tr -d ' '; }

case "$(uname -m)" in
aarch64) con=ttyAMA0 ;;
*) con=ttyS0 ;;
esac
CMD="console=$con loglevel=4 panic=-1 keel.wait=120 keel.after=poweroff"

echo "INFO-JSON $(json info)"
mem0=$(free_mem)
cpus0=$(free_cpus)
hidden0=$(info_num mem_hidden)
scrub0=$(info_num mem_scrubbed)
echo "before: free memory $mem0, free cpus $cpus0, hidden $hidden0, scrubbed $scrub0"

# x86_64: vm2 boots the same kernel uncompressed (a vmlinux ELF), which the test
# gives this partition as a read-only disk, padded to whole sectors.
k2=/images/kernel
if [ "$(uname -m)" = x86_64 ] && [ -b /dev/vda ]; then
	dd if=/dev/vda of=/tmp/vmlinux bs=1M 2>/dev/null
	check "vmlinux-from-disk" $? ""
	k2=/tmp/vmlinux
fi
echo "VM2-KERNEL $k2"

for vm in vm1 vm2; do
	k=/images/kernel
	[ $vm = vm2 ] && k=$k2
	keelctl create $vm --cpus 1 --memory 256M --kernel $k \
		--initrd /images/initrd.gz --disk /images/disk.img --cmdline "$CMD"
	check "create-$vm" $? ""
	keelctl start $vm
	check "start-$vm" $? ""
done
rm -f /tmp/vmlinux # Keel holds its own copy now
echo "LIST-JSON $(json list)"
# Keel's own map leaves out all of both microVMs' RAM, and maps none of it.
hidden=$(info_num mem_hidden)
exposed=$(info_num mem_exposed)
echo "AUDIT hidden=$hidden exposed=$exposed"
[ "$hidden" = $((hidden0 + 512 * 1048576)) ]
check "audit-hidden" $? "$hidden0 -> $hidden"
[ "$exposed" = 0 ]
check "audit-exposed" $? "$exposed bytes of partition memory mapped in Keel"
for vm in vm1 vm2; do
	keelctl console $vm --wait "console=ready" --timeout 240 >/tmp/$vm.out
	check "console-ready-$vm" $? "$(tail -c 300 /tmp/$vm.out)"
	grep -q "disk-sha256=" /tmp/$vm.out
	check "console-output-$vm" $? ""
done
echo "LIST-JSON $(json list)"

# vm1: a line typed through keelctl console comes back, then it powers off.
keelctl console vm1 --send "hello from keelctl"
check "console-send-vm1" $? ""
keelctl console vm1 --wait "echo: hello from keelctl" --timeout 60 >/dev/null
check "console-echo-vm1" $? ""
out=$(keelctl stop vm1 --timeout 30 --json)
check "stop-vm1" $? "$out"
echo "STOP-JSON $out"
echo "$out" | grep -q '"cause":"guest".*"clean":true'
check "stop-vm1-clean" $? "$out"
# vm2 is still running; stop it: Keel presses its power button, its /init powers off.
state=$(keelctl list | awk '$2 == "vm2" {print $3}')
[ "$state" = running ]
check "vm2-running" $? "state $state"
# PAUSE returns once vm2's vCPU has parked: the stats right after it say so.
keelctl pause vm2
check "pause-vm2" $? ""
parked=$(json stats vm2 | sed -n 's/.*"vcpus_parked": *\([0-9]*\).*/\1/p')
echo "PAUSED vm2 vcpus_parked=$parked"
[ "$parked" = 1 ]
check "pause-parked-vm2" $? "vcpus_parked $parked"
keelctl resume vm2
check "resume-vm2" $? ""
# PAUSE saves each vCPU's whole state and wipes its core's registers; RESUME puts it
# back. Ten more round trips, then vm2 still echoes a line typed to it: its kernel,
# FPU/SIMD, timers and interrupts came through.
i=0
while [ $i -lt 10 ] && keelctl pause vm2 && keelctl resume vm2; do
	i=$((i + 1))
done
[ $i = 10 ]
check "pause-resume-x10-vm2" $? "$i round trips"
keelctl console vm2 --send "after ten round trips"
check "console-send-vm2" $? ""
keelctl console vm2 --wait "echo: after ten round trips" --timeout 60 >/dev/null
check "console-echo-after-resume-vm2" $? ""
out=$(keelctl stop vm2 --timeout 60)
check "stop-vm2" $? "$out"
[ "$out" = "stopped vm2 (the guest powered off)" ]
check "stop-vm2-clean" $? "$out"
echo "LIST-JSON $(json list)"
for vm in vm1 vm2; do
	keelctl destroy $vm
	check "destroy-$vm" $? ""
done
mem1=$(free_mem)
cpus1=$(free_cpus)
echo "after: free memory $mem1, free cpus $cpus1"
[ "$(info_num mem_hidden)" = "$hidden0" ] && [ "$(info_num mem_exposed)" = 0 ]
check "audit-back" $? "hidden $(info_num mem_hidden), was $hidden0"
[ "$cpus1" = "$cpus0" ]
check "cpus-back" $? "$cpus0 -> $cpus1"
echo "MEM-BACK before=$mem0 after=$mem1"
# Both microVMs' RAM and image buffers were scrubbed once, when they were given back.
scrub1=$(info_num mem_scrubbed)
echo "SCRUBBED before=$scrub0 after=$scrub1"
[ "$scrub1" -ge $((scrub0 + 512 * 1048576)) ]
check "scrubbed" $? "$scrub0 -> $scrub1"

# Errors a script relies on.
expect_exit unknown-partition 3 keelctl stop nosuch
expect_exit no-free-core 4 keelctl create big --cpus 64 --memory 64M --kernel /images/kernel
expect_exit not-enough-memory 4 keelctl create big --cpus 1 --memory 64G --kernel /images/kernel
expect_exit not-a-kernel 6 keelctl create bad --cpus 1 --memory 64M --kernel /etc/profile
expect_exit missing-file 6 keelctl create bad --cpus 1 --memory 64M --kernel /images/nope
expect_exit bad-memory 2 keelctl create bad --cpus 1 --memory 3M --kernel /images/kernel
expect_exit usage 2 keelctl frobnicate
keelctl create run1 --cpus 1 --memory 128M --kernel /images/kernel --initrd /images/initrd.gz \
	--cmdline "$CMD" --start >/dev/null
check "create-start-run1" $? ""
expect_exit destroy-running 5 keelctl destroy run1
expect_exit self-stop 5 keelctl stop mgmt
keelctl destroy run1 --force
check "destroy-force-run1" $? ""
# A guest deaf to the power button: the stop is forced when the timeout runs out,
# and keelctl says so with exit 9 (a script can tell it from a clean power-off).
keelctl create deaf --cpus 1 --memory 16M --kernel /images/testguest.elf \
	--cmdline "mode=hello then=idle" --start >/dev/null
check "create-start-deaf" $? ""
expect_exit stop-forced 9 keelctl stop deaf --timeout 1
stats=$(json stats deaf)
echo "DEAF-STATS $stats"
echo "$stats" | grep -q '"stop_cause":"forced","stop_reason":"stopped by the management partition: it did not power off in time"'
check "stats-forced" $? "$stats"
keelctl destroy deaf
check "destroy-deaf" $? ""
# on_reboot = restart: a guest that reboots every life is rebuilt in place (stats counts
# it); an asked stop is then answered by its next reboot: a clean stop, no restart after.
expect_exit bad-on-reboot 2 keelctl create bad --cpus 1 --memory 16M \
	--kernel /images/testguest.elf --on-reboot sometimes
keelctl create bouncer --cpus 1 --memory 16M --kernel /images/testguest.elf \
	--cmdline "mode=hello then=reboot pace=20000" --on-reboot restart --start >/dev/null
check "create-start-bouncer" $? ""
tries=0
until [ "$(json stats bouncer | sed -n 's/.*"restarts":\([0-9]*\).*/\1/p')" -ge 3 ] ||
	[ $tries -ge 600 ]; do
	sleep 0.1
	tries=$((tries + 1))
done
stats=$(json stats bouncer)
echo "BOUNCER-STATS $stats"
echo "$stats" | grep -q '"on_reboot":"restart","restarts":[3-9]'
check "bouncer-restarts" $? "$stats"
expect_exit stop-bouncer 0 keelctl stop bouncer --timeout 30
stats=$(json stats bouncer)
echo "BOUNCER-STOPPED $stats"
echo "$stats" | grep -qE '"state":"stopped".*"stop_cause":"guest","stop_reason":"(reboot requested by the guest|rebooted by the guest while asked to stop)"'
check "bouncer-stopped-by-its-reboot" $? "$stats"
keelctl destroy bouncer
check "destroy-bouncer" $? ""
! keelctl list | grep -qE ' (vm1|vm2|run1|deaf|bouncer) '
check "test-vms-gone" $? "$(keelctl list)"

[ "$fails" = 0 ] && echo "LIFECYCLE PASS" || echo "LIFECYCLE FAIL ($fails)"
