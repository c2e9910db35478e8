# SPDX-License-Identifier: MIT
"""x86_64 on q35 with an IOMMU: Intel VT-d (intel-iommu, interrupt remapping on)
and, on a second machine, AMD-Vi (amd-iommu), each with QEMU's edu DMA test device.

Keel finds the unit in ACPI (DMAR / IVRS), turns translation on with every device
blocked before any partition starts, and says that every PCI function, the edu
among them, is behind it. Then the test plays a device that DMAs although no
partition owns it: through QEMU's gdb stub (physical memory, as a bus master
outside the CPUs) it turns the edu's bus mastering on behind Keel's back and has
it write its buffer over a running partition's memory and over Keel's own code.
Both stay unchanged; on VT-d the fault is logged naming the device, and the
device's bus mastering is off again. The partition runs on.

A third machine without an IOMMU runs the same DMA against the partition: there
it lands, which is what the IOMMU machines are compared with.

QEMU 7.2's AMD-Vi never writes its event log (its status test is wrong), so on
AMD-Vi the blocked DMA is checked in memory only: no fault line can appear.
"""

import re

import pytest

import dmaprobe
from dmaprobe import (PROBE, dma, gdb_stub, given_before_start, keel_probe, part_hpa,
                      start_dma)
from gdbphys import Edu
from keelrig import keel, keel_cfg, out, partition

ECAM = 0xB0000000  # q35's MCFG window
WIDE = "edu,dma_mask=0xffffffffffffffff"  # the edu reaches all of memory, Keel's too
# name: QEMU devices, what Keel calls the unit, its register base on q35
MACHINES = {
    "vtd": (["-device", "intel-iommu,intremap=on", "-device", WIDE], "VT-d", 0xFED90000),
    "amdvi": (["-device", "amd-iommu", "-device", WIDE], "AMD-Vi", 0xFED80000),
    "none": (["-device", WIDE], None, None),
}
IOMMUS = ["amdvi", "vtd"]
CONFIG = keel_cfg(partition("victim", 1, "mode=hello then=keep every=20000", memory="32M"),
                  partition("alpha", 2, "mode=hello", memory="32M"))


class Machine(dmaprobe.Machine):
    def __init__(self, q, name, sock):
        super().__init__(q, sock, MACHINES[name][1], ECAM)
        self.name, self.base = name, MACHINES[name][2]


def boot(rig, name):
    devices = list(MACHINES[name][0])
    stub, sock = gdb_stub(rig, f"iommu-{name}")
    devices += stub
    return Machine(rig.boot("x86_64", CONFIG, f"iommu-{name}", smp=3, extra=devices), name, sock)


@pytest.fixture(scope="module", params=IOMMUS)
def machine(request, rig):
    m = boot(rig, request.param)
    with m.q:
        yield m


@pytest.fixture(scope="module")
def bare(rig):
    m = boot(rig, "none")
    with m.q:
        yield m


def test_unit_found_and_on_before_partitions(machine):
    q = machine.q
    started = q.wait_for(keel(r"partition '\w+' started"), 90)
    found = q.wait_for(keel(rf"iommu 0 \({machine.kind}\) at 0x{machine.base:x}, "
                            r"segment 0000: "), 30)
    on = q.wait_for(keel(rf"iommu 0 \({machine.kind}\) at 0x{machine.base:x}: translation on, "
                         r"every device blocked until assigned$"), 30, after=found.index)
    assert on.index < started.index, "the IOMMU came on after a partition started"
    assert not q.find(keel(r"iommu \d+ .*not enabled")), q.find(keel(r"iommu \d+ .*not enabled"))


def test_every_function_behind_it(machine):
    q = machine.q
    edu = q.wait_for(keel(r"pci 0000:00:[0-9a-f]{2}\.0 1234:11e8 class 00ff00 "), 60)
    summary = q.wait_for(keel(r"iommu: (\d+) of (\d+) PCI functions behind an IOMMU$"), 30,
                         after=edu.index)
    covered, total = re.search(r"(\d+) of (\d+)", summary).groups()
    assert covered == total and int(total) >= 4, summary
    assert not q.find(keel(r"no IOMMU translates its DMA")), q.find(keel(r"no IOMMU"))


def test_unowned_device_dma_blocked(machine):
    q = machine.q
    edu, victim = start_dma(machine, ECAM)
    before, after, command = dma(machine, edu, victim)
    assert after == before, f"the victim's memory at 0x{victim:x} changed under {machine.kind}"
    before, after, command = dma(machine, edu, keel_probe(q))
    assert after == before, f"Keel's code changed under {machine.kind}"
    if machine.kind == "VT-d":
        for target in (victim, keel_probe(q)):
            q.wait_for(keel(rf"error: iommu 0 \(VT-d\): DMA write at 0x{target:x} by "
                            rf"0000:00:{edu.dev:02x}\.0 blocked: root entry not present; the "
                            r"device belongs to no partition"), 30)
        assert not command & 0x4, f"bus mastering still on after its faults: 0x{command:x}"


test_partition_runs_on = dmaprobe.check_partition_runs_on
test_without_iommu_the_dma_lands = dmaprobe.check_without_iommu_the_dma_lands


# ---- A partition that owns the edu (keel.cfg pci =) ----------------------------------

EDU_ADDR = "05.0"
OWNED_CONFIG = keel_cfg(
    partition("owner", 1, "mode=hello then=keep every=20000", memory="32M",
              pci=f"0000:00:{EDU_ADDR}"),
    partition("victim", 2, "mode=hello then=keep every=20000", memory="32M"))
SPARE = 30 << 20  # an offset of the owner's RAM its small guest never touches


@pytest.fixture(scope="module", params=IOMMUS)
def owned(request, rig):
    name = request.param
    devices = [MACHINES[name][0][0], MACHINES[name][0][1], "-device", f"{WIDE},addr={EDU_ADDR}"]
    stub, sock = gdb_stub(rig, f"owned-{name}")
    devices += stub
    m = Machine(rig.boot("x86_64", OWNED_CONFIG, f"iommu-owned-{name}", smp=3, extra=devices),
                name, sock)
    with m.q:
        yield m


def test_function_given_behind_the_iommu(owned):
    given_before_start(owned.q, "owner", EDU_ADDR, f"iommu 0 ({owned.kind})")


def test_dma_reaches_the_owner_at_its_guest_addresses(owned):
    """IOVA = guest-physical: a DMA to the owner's guest address lands in its memory."""
    q = owned.q
    q.wait_for(out("owner", r"keep: \d+ rounds"), 90)
    owner = part_hpa(q, "owner")
    with owned.mem() as mem:
        edu = Edu(mem, ECAM)
        mem.write(owner + SPARE, bytes(range(1, PROBE + 1)))  # something the DMA's zeros replace
    before, after, _ = dma(owned, edu, SPARE, watch=owner + SPARE)
    assert before == bytes(range(1, PROBE + 1))
    assert after == bytes(PROBE), f"a DMA to the owner's guest address 0x{SPARE:x} did not land"


def test_dma_beyond_the_owner_blocked(owned):
    """Aimed at another partition's memory and at Keel's (both beyond the owner's 32 MiB
    of guest addresses): neither changes; on VT-d each fault names the device and its
    owner. Both partitions run on."""
    q = owned.q
    q.wait_for(out("victim", r"keep: \d+ rounds"), 90)
    victim = part_hpa(q, "victim") + SPARE
    with owned.mem() as mem:
        edu = Edu(mem, ECAM)
        mem.write(victim, bytes(range(1, PROBE + 1)))
    for target in (victim, keel_probe(q)):
        assert target >= 32 << 20
        before, after, _ = dma(owned, edu, target)
        assert after == before, f"0x{target:x} changed under {owned.kind}"
        if owned.kind == "VT-d":
            q.wait_for(keel(rf"error: iommu 0 \(VT-d\): DMA write at 0x{target:x} by "
                            rf"0000:00:{EDU_ADDR} blocked: [^;]+; partition 'owner' owns the "
                            r"device"), 30)
    seen = len(q.lines)
    for name in ("owner", "victim"):
        q.wait_for(out(name, r"keep: \d+ rounds of \d+ registers, 0 values lost"), 60,
                   after=seen)
