#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs in the Linux management partition (tests/integration/test_mgmt_linux.py):
# keelctl pci as a table and as JSON, for the test to compare with what Keel
# enumerated at boot. Prints each line of the table as "PCI-TEXT <line>", then
# "PCI-RC <exit status>", "PCI-JSON rc=<exit status> <the JSON on one line>",
# "PCI-HELP <0 if keelctl --help names the command>", then keelctl create --pci
# refusals as "PCI-CREATE-<case> rc=<exit status> <stderr on one line>",
# "PCI-CREATE-HELP <0 if create --help names --pci>", "PCI-CREATE-NONE <1 if
# keelctl list shows no partition they made>", then keelctl pci assign/release
# on a created partition as "PCI-CHANGE-<case> rc=<exit status> <stderr on one
# line>" and "PCI-CHANGE-HELP <0 if keelctl --help names them>", and "PCI DONE".
keelctl pci >/tmp/pci.txt 2>&1
rc=$?
sed 's/^/PCI-TEXT /' /tmp/pci.txt
echo "PCI-RC $rc"
out=$(keelctl pci --json 2>&1)
rc=$?
echo "PCI-JSON rc=$rc $(echo "$out" | tr -d '\n')"
keelctl --help | grep -q '^  pci \[--json\] '
echo "PCI-HELP $?"
# The host bridge (x86_64; on aarch64 Keel lists no function at all): refused before CREATE.
out=$(keelctl create pcivm --cpus 1 --memory 16M --kernel /images/testguest.elf \
	--pci 00:00.0 2>&1)
rc=$?
echo "PCI-CREATE-HOSTBRIDGE rc=$rc $(echo "$out" | tr -d '\n')"
out=$(keelctl create pcivm --cpus 1 --memory 16M --kernel /images/testguest.elf \
	--pci 0000:00:20.0 2>&1)
rc=$?
echo "PCI-CREATE-BADADDR rc=$rc $(echo "$out" | tr -d '\n')"
keelctl create --help | grep -q -- '--pci ADDR'
echo "PCI-CREATE-HELP $?"
keelctl list | grep -q pcivm
echo "PCI-CREATE-NONE $?"
# assign/release on a partition that has not started: every refusal this rig can show.
change() { # case, keelctl arguments...
	name=$1
	shift
	out=$(keelctl pci "$@" 2>&1)
	echo "PCI-CHANGE-$name rc=$? $(echo "$out" | tr -d '\n')"
}
keelctl create pcitgt --cpus 1 --memory 16M --kernel /images/testguest.elf >/dev/null
change HOSTBRIDGE assign pcitgt 00:00.0
change NOTHELD release pcitgt 0000:00:00.0
change NOPART assign nosuch 00:00.0
change BADADDR assign pcitgt 00:20.0
change MANAGER assign mgmt 00:00.0
change USAGE assign pcitgt
change UNKNOWN frob
keelctl destroy pcitgt >/dev/null
keelctl --help | grep -q '^  pci assign|release NAME ADDR  '
echo "PCI-CHANGE-HELP $?"
echo "PCI DONE"
