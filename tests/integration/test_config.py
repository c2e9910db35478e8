# SPDX-License-Identifier: MIT
"""Bad keel.cfg files: each gives its precise error with file and line, the
boot is aborted and no partition starts (the loader returns to the firmware,
so QEMU is stopped once the abort line is seen)."""

import re

import pytest

from keelrig import keel_cfg, line_of, partition

ABORT = r"keel: boot aborted: keel\.cfg has errors; no partition started"


def two(a_keys=None, b_keys=None, b_cpus=2, a_mem="32M", a_kernel=None):
    a_extra = {"kernel": a_kernel} if a_kernel else {}
    return keel_cfg(partition("alpha", 1, "mode=hello", memory=a_mem, **a_extra, **(a_keys or {})),
                    partition("beta", b_cpus, "mode=hello", memory="32M", **(b_keys or {})))


CASES = {  # id: (config, text on the offending line (nth match), reason regex)
    "unknown_key": (two(a_keys={"colour": "blue"}), ("colour", 1),
                    r"unknown key 'colour' in \[partition alpha\]"),
    "overlapping_cores": (two(b_cpus=1), ("cpus = 1", 2),
                          r"partition 'beta': cpu 1 is already owned by partition 'alpha'"),
    "too_much_memory": (two(a_mem="4G"), ("memory = 4G", 1),
                        r"partition 'alpha': memory 4096 MiB is more than the \d+ MiB"),
    "missing_kernel": (two(a_kernel="/guests/nothere.elf"), ("nothere.elf", 1),
                       r"kernel: cannot load '/guests/nothere\.elf': no such file"),
    "two_management": (two(a_keys={"management": "yes"}, b_keys={"management": "yes"}),
                       ("management = yes", 2), r"partition 'beta': only one management partition is allowed \('alpha' is one already\)"),
    "pci_bad_address": (two(a_keys={"pci": "00:03.0, 00:20.0"}), ("pci = ", 1),
                        r"pci: '00:20\.0': device 20 is out of range \(00-1f\)"),
    "pci_in_two_partitions": (two(a_keys={"pci": "00:03.0"}, b_keys={"pci": "0000:00:03.0"}),
                              ("pci = ", 2), r"partition 'beta': pci 0000:00:03\.0 is already "
                              r"given to partition 'alpha'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config(rig, arch, case):
    config, (needle, nth), reason = CASES[case]
    line = line_of(config, needle, nth)
    with rig.boot(arch, config, f"badcfg-{case}", mem="512M", timeout=90) as q:
        abort = q.wait_for(ABORT, 60)
        errors = q.find_all(r"keel\.cfg:\d+: error: ")
        want = rf"keel\.cfg:{line}: error: {reason}"
        assert [e for e in errors if re.search(want, e)], f"no /{want}/ among {errors}"
        assert len(errors) == 1, f"other errors reported too: {errors}"
        assert errors[0].index < abort.index
        started = q.find_all(r"keel: partition '\w+' (started|\(id)") + \
            q.find_all(r"\] \w+\| ")
        assert not started, f"a partition started: {started}"


SMT = "4,sockets=1,cores=2,threads=2"  # cpus 0,1 share a core, and 2,3


@pytest.mark.x86_64_only
def test_smt_siblings_refused(rig):
    """Two partitions on the two threads of one physical core (x86_64: QEMU's
    SMT topology; arm64's virt machine has none): refused with the line, unless
    [keel] smt_split = allow."""
    config = keel_cfg(partition("alpha", 2, "mode=hello", memory="32M"),
                      partition("beta", 3, "mode=hello", memory="32M"))
    line = line_of(config, "cpus = 3")
    with rig.boot("x86_64", config, "badcfg-smt", smp=SMT, mem="512M", timeout=90) as q:
        abort = q.wait_for(ABORT, 60)
        err = q.find(rf"keel\.cfg:{line}: error: partition 'beta': cpu 3 shares a physical core "
                     r"with cpu 2 of partition 'alpha' \(SMT threads\)")
        assert err and err.index < abort.index, q.find_all(r"keel\.cfg:\d+: error: ")
    allowed = config.replace("[keel]\n", "[keel]\nsmt_split = allow\n")
    with rig.boot("x86_64", allowed, "smt-allowed", smp=SMT, mem="512M", timeout=90) as q:
        for name in ("alpha", "beta"):
            q.wait_for(rf"\] {name}\| TEST hello PASS", 60)
        assert not q.find(ABORT)
