# SPDX-License-Identifier: MIT
"""A guest that reads outside its memory (with on_fault = stop), and one that
triple-faults (x86_64) or takes an undefined instruction with no vectors
(aarch64: the abort at its missing vector has nowhere to go), are each
stopped with a report naming them, while a third partition keeps printing.
With the default on_fault = deliver, the same read is answered (the
conformance tests check how) and is not stopped."""

import pytest

from keelrig import ARCHES, keel, keel_cfg, out, partition

EVIL_MIB = 64


def config(arch):
    end = ARCHES[arch]["ram_base"] + (EVIL_MIB << 20)
    return keel_cfg(
        partition("evil", 1, f"mode=peek addr=0x{end:x}", memory=f"{EVIL_MIB}M", on_fault="stop"),
        partition("ticker", 2, "mode=ticker pace=3000", memory="16M"),
        partition("crash", 3, "mode=triple", memory="16M"),
        on_idle="stay")


@pytest.fixture(scope="module")
def faults(rig, arch):
    with rig.boot(arch, config(arch), "faults") as q:
        yield q


def stopped_with_report(q, name, cpu, said):
    """The error report for @name after its line @said; no output from it later."""
    report = q.wait_for(keel(rf"error: partition '{name}' stopped: .+ at pc 0x[0-9a-f]+ "
                             rf"on cpu {cpu}\b"), 60, after=said.index)
    later = q.find(out(name, ""), after=report.index + 1)
    assert later is None, f"'{name}' printed after its stop report: {later}"
    return report


def test_read_outside_memory(faults, arch):
    end = ARCHES[arch]["ram_base"] + (EVIL_MIB << 20)
    said = faults.wait_for(out("evil", rf"peek: reading 0x{end:x} "), 90)
    report = stopped_with_report(faults, "evil", 1, said)
    assert f"0x{end:x}" in report, "the report does not name the address"
    assert not faults.find(out("evil", "peek: read 0x")), "the read returned"
    faults.wait_for(out("ticker", r"tick \d+"), 60, after=report.index)


def test_triple_fault(faults, arch):
    said = faults.wait_for(out("crash", "triple: faulting with no exception vectors"), 90)
    report = stopped_with_report(faults, "crash", 3, said)
    if arch == "x86_64":
        # The state it died in, for whoever reads the report: the event Keel
        # injected at that entry (the guest's own #UD) and the empty IDT it met.
        dump = faults.find(keel(r"error: svm: partition 'crash' vCPU 0 shut down "
                                r"\(triple fault\): rip 0x"), after=said.index)
        assert dump and dump.index < report.index, "no state dump before the report"
        assert faults.find(keel(r"error:\s+injected 0x80000306 "), after=dump.index), \
            "the dump does not name the #UD Keel injected"
        assert faults.find(keel(r"error:\s+idt 0x0/0x0 "), after=dump.index), \
            "the dump does not show the empty IDT"
    faults.wait_for(out("ticker", r"tick \d+"), 60, after=report.index)


def test_hypervisor_survives(faults, arch):
    last = faults.wait_for(out("ticker", r"tick \d+"), 60)
    faults.wait_for(out("ticker", r"tick \d+"), 60, after=last.index + 1)
    assert faults.running(), "QEMU exited"
    assert not faults.find(r"PANIC"), "the hypervisor panicked"
