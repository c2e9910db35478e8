# SPDX-License-Identifier: MIT
"""aarch64 on QEMU virt with an Arm SMMUv3 (iommu=smmuv3) and QEMU's edu DMA test device.

Keel finds the PCI host bridge and the SMMU in the device tree (the bridge's iommu-map
names the SMMU's streams), turns translation on with every stream blocked before any
partition starts, and says that every PCI function, the edu among them, is behind it.
Then the test plays a device that DMAs although no partition owns it: through QEMU's gdb
stub (physical memory, as a bus master outside the CPUs) it turns the edu's bus mastering
on behind Keel's back and has it write its buffer over a running partition's memory and
over Keel's own code. Both stay unchanged; each fault is logged naming the device, the
address and that no partition owns it, and the device's bus mastering is off again. The
partition runs on.

A second machine without the SMMU runs the same DMA against the partition: there it
lands, which is what the SMMU machine is compared with.

QEMU 7.2's SMMUv3 has stage 1 only, so this tests Keel's stage-1 path (its own tables,
IOVA = guest-physical); the stage-2 path is covered by the host unit tests
(tests/unit/test_smmuv3.c) until the QEMU the tests run on has stage 2.
"""

import re

import pytest

from dmaprobe import PROBE, dma, keel_probe, start_dma
from gdbphys import PhysMem
from keelrig import keel, keel_cfg, out, partition

ECAM = 0x4010000000  # QEMU virt's high ECAM window (the DT's pcie@10000000)
SMMU_BASE = 0x9050000
WIDE = "edu,dma_mask=0xffffffffffffffff"  # the edu reaches all of memory, Keel's too
MACHINES = {
    "smmuv3": ["-machine", "iommu=smmuv3", "-device", WIDE],
    "none": ["-device", WIDE],
}
CONFIG = keel_cfg(partition("victim", 1, "mode=hello then=keep every=20000", memory="32M"),
                  partition("alpha", 2, "mode=hello", memory="32M"))


class Machine:
    def __init__(self, q, sock):
        self.q, self.sock = q, sock

    def mem(self):
        return PhysMem(self.sock)


def boot(rig, name):
    devices = list(MACHINES[name])
    sock = rig.tmp_factory.mktemp(f"smmu-{name}") / "gdb.sock"
    devices += ["-chardev", f"socket,id=gdb0,path={sock},server=on,wait=off",
                "-gdb", "chardev:gdb0"]
    return Machine(rig.boot("aarch64", CONFIG, f"smmu-{name}", smp=3, extra=devices), sock)


@pytest.fixture(scope="module")
def machine(rig):
    m = boot(rig, "smmuv3")
    with m.q:
        yield m


@pytest.fixture(scope="module")
def bare(rig):
    m = boot(rig, "none")
    with m.q:
        yield m


def test_unit_found_and_on_before_partitions(machine):
    q = machine.q
    started = q.wait_for(keel(r"partition '\w+' started"), 120)
    found = q.wait_for(keel(rf"iommu 0 \(SMMUv3\) at 0x{SMMU_BASE:x}, segment 0000: 1 device "
                            r"scope$"), 30)
    on = q.wait_for(keel(rf"iommu 0 \(SMMUv3\) at 0x{SMMU_BASE:x}: translation on, every "
                         r"device blocked until assigned$"), 30, after=found.index)
    assert on.index < started.index, "the SMMU came on after a partition started"
    q.wait_for(keel(r"iommu 0 \(SMMUv3\): stage 1, 16-bit stream table \(linear\), \d+ commands, "
                    r"\d+ events, coherent, event interrupt on$"), 30)
    assert not q.find(keel(r"iommu \d+ .*not enabled")), q.find(keel(r"iommu \d+ .*not enabled"))


def test_every_function_behind_it(machine):
    q = machine.q
    edu = q.wait_for(keel(r"pci 0000:00:[0-9a-f]{2}\.0 1234:11e8 class 00ff00 "), 60)
    summary = q.wait_for(keel(r"iommu: (\d+) of (\d+) PCI functions behind an IOMMU$"), 30,
                         after=edu.index)
    covered, total = re.search(r"(\d+) of (\d+)", summary).groups()
    assert covered == total and int(total) >= 3, summary
    assert not q.find(keel(r"no IOMMU translates its DMA")), q.find(keel(r"no IOMMU"))


def test_unowned_device_dma_blocked_and_logged(machine):
    q = machine.q
    edu, victim = start_dma(machine, ECAM, 120)
    for target in (victim, keel_probe(q)):
        before, after, command = dma(machine, edu, target)
        assert after == before, f"0x{target:x} changed although the SMMU is on"
        q.wait_for(keel(rf"error: iommu 0 \(SMMUv3\): DMA write at 0x{target:x} by "
                        rf"0000:00:{edu.dev:02x}\.0 blocked: address not mapped; the device "
                        r"belongs to no partition"), 30)
        assert not command & 0x4, f"bus mastering still on after its fault: 0x{command:x}"


def test_partition_runs_on(machine):
    q = machine.q
    seen = len(q.lines)
    q.wait_for(out("victim", r"keep: \d+ rounds of \d+ registers, 0 values lost"), 90,
               after=seen)
    q.wait_for(out("alpha", r"TEST hello PASS"), 30)
    bad = q.find_all(r"keel: error: (?!iommu 0 \(SMMUv3\): DMA write)|PANIC")
    assert not bad, f"unexpected errors: {bad}"


def test_without_smmu_the_dma_lands(bare):
    """The control: the same DMA on a machine without the SMMU overwrites the victim."""
    bare.q.wait_for(keel(r"iommu: none found: no PCI function can be assigned; bus mastering "
                         r"stays off on all \d+$"), 90)
    edu, victim = start_dma(bare, ECAM, 120)
    before, after, _ = dma(bare, edu, victim)
    assert any(before) and after == bytes(PROBE), "without an IOMMU the DMA should have landed"
