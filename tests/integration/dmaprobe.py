# SPDX-License-Identifier: MIT
"""A device that DMAs at memory it must not reach: QEMU's edu, driven through the gdb
stub (gdbphys) as a bus master outside every CPU, against a running partition's memory
and Keel's own code. Shared by the IOMMU tests of both arches (test_iommu.py,
test_smmuv3.py), with the tests both run the same way: each module takes them as its
own (test_x = dmaprobe.check_x, where it must run) and gives them its fixtures."""

import re
import time

from gdbphys import Edu, PhysMem
from keelrig import keel, out

PROBE = 64  # bytes the edu writes (zeros: its buffer was never filled)


class Machine:
    """A run whose edu the test drives: its QEMU (@q), the gdb stub's socket, what Keel
    calls its IOMMU ("VT-d"; None without one), the ECAM window the edu is found through,
    and how long its slow waits may take (@patience, seconds: aarch64 boots slower)."""

    def __init__(self, q, sock, kind, ecam, patience=60):
        self.q, self.sock, self.kind, self.ecam, self.patience = q, sock, kind, ecam, patience

    def mem(self):
        return PhysMem(self.sock)


def gdb_stub(rig, name):
    """QEMU arguments for a gdb stub on a unix socket of its own, and that socket."""
    sock = rig.tmp_factory.mktemp(name) / "gdb.sock"
    return ["-chardev", f"socket,id=gdb0,path={sock},server=on,wait=off",
            "-gdb", "chardev:gdb0"], sock


def part_hpa(q, name, size=32 << 20):
    """Where partition @name's RAM (@size bytes) starts, host-physical, from Keel's line."""
    line = q.wait_for(keel(rf"partition '{name}' \(id \d+\): cpus \d+, {size >> 20} MiB at "
                           r"0x[0-9a-f]+"), 30)
    return int(line.rsplit("at 0x", 1)[1].split(",")[0], 16)


def victim_probe(q, mem, name="victim", size=32 << 20):
    """A 64-byte block of partition @name's memory that is not all zeros (its code)."""
    hpa = part_hpa(q, name, size)
    for off in range(0, size, 64 << 10):
        if any(mem.read(hpa + off, PROBE)):
            return hpa + off
    raise AssertionError(f"{name}'s memory reads as all zeros")


def keel_probe(q):
    """An address in Keel's own code, from the loader's line."""
    return int(q.find(r"keel: loader: .*core at 0x([0-9a-f]+)").rsplit("core at 0x", 1)[1]
               .split(";")[0], 16) + 0x1000


def dma(machine, edu, target, watch=None):
    """The edu writes its (zeroed) buffer to device address @target; the 64 bytes at
    physical @watch (default: @target) before and after, and its command register.
    @machine.mem() opens the gdb stub."""
    watch = target if watch is None else watch
    with machine.mem() as mem:
        before = mem.read(watch, PROBE)
        assert any(before), f"0x{watch:x} reads as zeros: the probe would prove nothing"
        edu.dma_to_ram(mem, target, PROBE)
    for _ in range(50):
        time.sleep(0.2)
        with machine.mem() as mem:
            if edu.dma_done(mem):
                return before, mem.read(watch, PROBE), edu.command(mem)
    raise AssertionError("the edu's DMA never completed")


def start_dma(machine, ecam, timeout=90):
    """Once partition 'victim' runs: the edu (on bus 0 of the ECAM at @ecam), and a probe
    in the victim's memory."""
    q = machine.q
    q.wait_for(out("victim", r"TEST hello PASS"), timeout)
    q.wait_for(out("victim", r"keep: \d+ rounds"), timeout)
    with machine.mem() as mem:
        return Edu(mem, ecam), victim_probe(q, mem)


def given_before_start(q, name, addr, unit):
    """Partition @name was given the edu at 0000:00:@addr behind @unit ("iommu 0 (VT-d)")
    before it started."""
    given = q.wait_for(keel(rf"partition '{name}': pci 0000:00:{addr} 1234:11e8 given, DMA "
                            rf"confined to its memory by {re.escape(unit)}$"), 60)
    started = q.wait_for(keel(rf"partition '{name}' started"), 30)
    assert given.index < started.index
    return given


def check_partition_runs_on(machine):
    """After the blocked DMAs the victim still keeps every value it wrote and alpha
    passed: the only errors Keel logged are those DMAs' faults."""
    q = machine.q
    seen = len(q.lines)
    q.wait_for(out("victim", r"keep: \d+ rounds of \d+ registers, 0 values lost"),
               machine.patience, after=seen)
    q.wait_for(out("alpha", r"TEST hello PASS"), 30)
    bad = q.find_all(rf"keel: error: (?!iommu 0 \({re.escape(machine.kind)}\): DMA write)|PANIC")
    assert not bad, f"unexpected errors: {bad}"


def check_without_iommu_the_dma_lands(bare):
    """The control: the same DMA on a machine with no IOMMU overwrites the victim."""
    bare.q.wait_for(keel(r"iommu: none found: no PCI function can be assigned; bus mastering "
                         r"stays off on all \d+$"), bare.patience)
    edu, victim = start_dma(bare, bare.ecam, bare.patience + 30)
    before, after, _ = dma(bare, edu, victim)
    assert any(before) and after == bytes(PROBE), "without an IOMMU the DMA should have landed"
