#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs in the Linux management partition (tests/integration/test_mgmt_linux.py):
# keelctl pci as a table and as JSON, for the test to compare with what Keel
# enumerated at boot. Prints each line of the table as "PCI-TEXT <line>", then
# "PCI-RC <exit status>", "PCI-JSON rc=<exit status> <the JSON on one line>",
# "PCI-HELP <0 if keelctl --help names the command>", then keelctl create --pci
# refusals as "PCI-CREATE-<case> rc=<exit status> <stderr on one line>",
# "PCI-CREATE-HELP <0 if create --help names --pci>", "PCI-CREATE-NONE <1 if
# keelctl list shows no partition they made>" and "PCI DONE".
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
echo "PCI DONE"
