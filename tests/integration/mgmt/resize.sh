#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs in the Linux management partition (tests/integration/test_mgmt_linux.py):
# a Linux microVM with 256M of memory and --max-memory 1G writes and checks
# its memory in a loop (keel.memload) while keelctl grows it to 1G and
# shrinks it back to 256M, three times. Its checks must never fail, its
# kernel must see each size, and Keel's free memory must come back exactly.
# It also has --max-cpus 3 and goes from 1 to 3 vCPUs and back, three times,
# under the same load (aarch64: PSCI; x86_64: ACPI CPU hotplug): nproc
# follows and the cores come back.
# Prints "CHECK <name> ok|FAIL <detail>" per step and "RESIZE PASS|FAIL".
fails=0
check() { # name, condition result (0 = ok), detail
	if [ "$2" = 0 ]; then echo "CHECK $1 ok"; else echo "CHECK $1 FAIL $3"; fails=$((fails + 1)); fi
}
json() { keelctl "$@" --json | tr -d '\n'; }
free_mem() { json info | sed -n 's/.*"mem_free": *\([0-9]*\).*/\1/p'; }
plugged() { json stats mem | sed -n 's/.*"plugged": *\([0-9]*\).*/\1/p'; }
free_cpus() { json info | sed -n 's/.*"free_cpus": *\(\[[^]]*\]\).*/\1/p'; }
vcpus_on() { json stats mem | sed -n 's/.*"vcpus": *\([0-9]*\).*/\1/p'; }

case "$(uname -m)" in
aarch64) con=ttyAMA0 ;;
*) con=ttyS0 ;;
esac
CMD="console=$con loglevel=4 panic=-1 memhp_default_state=online_movable"
CMD="$CMD keel.memload=1200 keel.wait=0 keel.after=hold"

keelctl create mem --cpus 1 --max-cpus 3 --memory 256M --max-memory 1G --kernel /images/kernel \
	--initrd /images/initrd.gz --cmdline "$CMD" --on-reboot restart --start
check create $? ""
keelctl console mem --wait "memload pass 1 " --timeout 300 >/dev/null
check load-running $? "$(keelctl console mem --dump | tail -c 400)"
free0=$(free_mem)
echo "RESIZE-FREE start $free0"

for round in 1 2 3; do
	out=$(keelctl resize mem --memory 1G --timeout 300 2>&1)
	check "grow-$round" $? "$out"
	echo "RESIZE-OUT $out"
	echo "RESIZE-STATS $(json stats mem)"
	keelctl console mem --new --wait "size=big" --timeout 300 >/dev/null
	check "guest-big-$round" $? "$(keelctl console mem --dump | tail -c 300)"
	out=$(keelctl resize mem --memory 256M --timeout 600 2>&1)
	check "shrink-$round" $? "$out"
	echo "RESIZE-OUT $out"
	keelctl console mem --new --wait "size=small" --timeout 300 >/dev/null
	check "guest-small-$round" $? "$(keelctl console mem --dump | tail -c 300)"
	[ "$(plugged)" = 0 ]
	check "plugged-0-$round" $? "$(plugged)"
	free=$(free_mem)
	echo "RESIZE-FREE round $round $free"
	[ "$free" = "$free0" ]
	check "free-back-$round" $? "$free0 -> $free"
done

# vCPUs: 1 -> 3 -> 1 under the same load, three times. Each vCPU the guest
# turns on takes a free core; each it turns off gives it back.
cpus0=$(free_cpus)
echo "RESIZE-CPUS start free=$cpus0 on=$(vcpus_on)"
for round in 1 2 3; do
	out=$(keelctl resize mem --cpus 3 --timeout 120 2>&1)
	check "cpus-grow-$round" $? "$out"
	# The guest may answer before resize returns: its answer is found by number.
	keelctl console mem --wait "seq=$((2 * round - 1)) want=3 online=3" --timeout 120 >/dev/null
	check "nproc-3-$round" $? "$(keelctl console mem --dump | tail -c 300)"
	echo "RESIZE-CPUS round $round on=$(vcpus_on) free=$(free_cpus)"
	[ "$(free_cpus)" != "$cpus0" ]
	check "cores-taken-$round" $? "$(free_cpus)"
	out=$(keelctl resize mem --cpus 1 --timeout 120 2>&1)
	check "cpus-shrink-$round" $? "$out"
	keelctl console mem --wait "seq=$((2 * round)) want=1 online=1" --timeout 120 >/dev/null
	check "nproc-1-$round" $? "$(keelctl console mem --dump | tail -c 300)"
	[ "$(free_cpus)" = "$cpus0" ]
	check "cores-back-$round" $? "$cpus0 -> $(free_cpus)"
done
keelctl resize mem --cpus 4 >/tmp/err 2>&1
[ $? = 2 ] && grep -q "more than its --max-cpus" /tmp/err
check "cpus-too-many" $? "$(cat /tmp/err)"

# A guest reboot with memory plugged: all of it goes back, the request stands,
# and the new kernel plugs it again; then back to 256M, and the memory is back.
keelctl resize mem --memory 1G --timeout 300 >/dev/null
check grow-before-reboot $? ""
keelctl console mem --send reboot >/dev/null
check send-reboot $? ""
keelctl console mem --new --wait "memload pass 1 " --timeout 300 >/dev/null
check rebooted $? "$(keelctl console mem --dump | tail -c 300)"
keelctl console mem --new --wait "size=big" --timeout 300 >/dev/null
check replugged $? "$(keelctl console mem --dump | tail -c 300)"
echo "RESIZE-REBOOT $(json stats mem)"
out=$(keelctl resize mem --memory 256M --timeout 600 2>&1)
check shrink-after-reboot $? "$out"
free=$(free_mem)
echo "RESIZE-FREE after-reboot $free"
[ "$free" = "$free0" ]
check free-back-after-reboot $? "$free0 -> $free"

# Errors a script relies on: beyond --max-memory, below --memory, not a microVM with it.
keelctl resize mem --memory 2G >/tmp/err 2>&1
[ $? = 2 ] && grep -q "more than its --max-memory" /tmp/err
check "too-big" $? "$(cat /tmp/err)"
keelctl resize mem --memory 128M >/tmp/err 2>&1
[ $? = 2 ] && grep -q "below its boot memory" /tmp/err
check "too-small" $? "$(cat /tmp/err)"
keelctl resize mgmt --memory 1G >/tmp/err 2>&1
[ $? = 5 ]
check "fixed" $? "$(cat /tmp/err)"

keelctl console mem --dump >/tmp/mem.out
bad=$(grep -c "bad=[1-9]" /tmp/mem.out)
passes=$(grep -c "memload pass" /tmp/mem.out)
kept=$(grep -c "kept=32" /tmp/mem.out)
echo "RESIZE-LOAD passes=$passes bad=$bad kept=$kept"
[ "$bad" = 0 ] && [ "$kept" -gt 0 ]
check load-intact $? "$(grep "bad=[1-9]" /tmp/mem.out | head -3)"
keelctl stop mem --timeout 30 >/dev/null
keelctl destroy mem
check destroy $? ""
[ $fails = 0 ] && echo "RESIZE PASS" || echo "RESIZE FAIL"
