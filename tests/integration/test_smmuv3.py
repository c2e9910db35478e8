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

import dmaprobe
import handoff
import linuxrig
import test_passthrough
from handoff import (  # noqa: F401 (collected here, with this module's handoff_run)
    test_bus_mastering_off_between_owners, test_handoff_keel_log,
    test_handoff_manager_finishes, test_handoff_passes, test_handoff_steps)
from test_passthrough import (  # noqa: F401 (collected here, with this module's linux_edu)
    test_linux_disk_over_msix, test_linux_nic_moves_data_both_ways,
    test_linux_reads_the_device_through_its_bar)
from dmaprobe import (PROBE, dma, gdb_stub, given_before_start, keel_probe, part_hpa,
                      start_dma)
from gdbphys import Edu
from keelrig import keel, keel_cfg, out, partition

pytestmark = pytest.mark.aarch64_only

ECAM = 0x4010000000  # QEMU virt's high ECAM window (the DT's pcie@10000000)
SMMU_BASE = 0x9050000
WIDE = "edu,dma_mask=0xffffffffffffffff"  # the edu reaches all of memory, Keel's too
MACHINES = {
    "smmuv3": ["-machine", "iommu=smmuv3", "-device", WIDE],
    "none": ["-device", WIDE],
}
CONFIG = keel_cfg(partition("victim", 1, "mode=hello then=keep every=20000", memory="32M"),
                  partition("alpha", 2, "mode=hello", memory="32M"))


class Machine(dmaprobe.Machine):
    def __init__(self, q, sock):
        super().__init__(q, sock, "SMMUv3", ECAM, patience=90)


def boot(rig, name):
    devices = list(MACHINES[name])
    stub, sock = gdb_stub(rig, f"smmu-{name}")
    devices += stub
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


test_partition_runs_on = dmaprobe.check_partition_runs_on
test_without_smmu_the_dma_lands = dmaprobe.check_without_iommu_the_dma_lands


# ---- Partitions that own an edu (keel.cfg pci =) ------------------------------------

OWNED_EDU = "03.0"  # driven from outside through the gdb stub
DRIVEN_EDU = "04.0"  # driven by its partition's guest (mode=edu, tests/guests/aarch64/edu.c)
OWNED_CONFIG = keel_cfg(
    partition("owner", 1, "mode=hello then=keep every=20000", memory="32M",
              pci=f"0000:00:{OWNED_EDU}"),
    partition("victim", 2, "mode=hello then=keep every=20000", memory="32M"),
    partition("driver", 3, "mode=edu", memory="32M", pci=f"0000:00:{DRIVEN_EDU}"))
# What the guest's driver checks, in order (each line ends "ok", or "WRONG").
EDU_CHECKS = ["bar0", "command", "map", "ident", "liveness", "factorial-5", "factorial-10",
              "busmaster", "dma-to-device", "dma-to-ram", "dma-compare", "dma-beyond-ram",
              "msi-cap", "msi-mbi", "msi", "msi-off", "intx-pin", "intx-gic", "intx", "intx-again",
              "intx-disabled", "intx-enabled"]
GUEST_RAM = 0x40000000  # where an aarch64 partition's RAM starts, guest-physical
SPARE = 30 << 20  # an offset of the owner's RAM its small guest never touches


@pytest.fixture(scope="module")
def owned(rig):
    devices = ["-machine", "iommu=smmuv3", "-device", f"{WIDE},addr={OWNED_EDU}",
               "-device", f"{WIDE},addr={DRIVEN_EDU}"]
    stub, sock = gdb_stub(rig, "smmu-owned")
    devices += stub
    m = Machine(rig.boot("aarch64", OWNED_CONFIG, "smmu-owned", smp=4, extra=devices), sock)
    with m.q:
        yield m


def test_function_given_behind_the_smmu(owned):
    given_before_start(owned.q, "owner", OWNED_EDU, "iommu 0 (SMMUv3)")


def test_dma_reaches_the_owner_at_its_guest_addresses(owned):
    """IOVA = guest-physical: a DMA to the owner's guest address is translated by the SMMU's
    stage-1 tables Keel built, and lands in the owner's memory."""
    q = owned.q
    q.wait_for(out("owner", r"keep: \d+ rounds"), 90)
    owner = part_hpa(q, "owner")
    with owned.mem() as mem:
        edu = Edu(mem, ECAM)
        mem.write(owner + SPARE, bytes(range(1, PROBE + 1)))  # something the DMA's zeros replace
    before, after, _ = dma(owned, edu, GUEST_RAM + SPARE, watch=owner + SPARE)
    assert before == bytes(range(1, PROBE + 1))
    assert after == bytes(PROBE), "a DMA to the owner's guest address did not land"
    assert not q.find(keel(rf"error: iommu 0 \(SMMUv3\): DMA \w+ at 0x{GUEST_RAM + SPARE:x} ")), \
        "a DMA that landed was reported"


def test_dma_beyond_the_owner_blocked(owned):
    """Aimed at another partition's memory and at Keel's (as device addresses: neither is
    the owner's guest memory), and at the owner's guest address just past its RAM: the
    memory watched does not change, each fault names the device and its owner. Both
    partitions run on."""
    q = owned.q
    q.wait_for(out("victim", r"keep: \d+ rounds"), 90)
    victim = part_hpa(q, "victim") + SPARE
    with owned.mem() as mem:
        edu = Edu(mem, ECAM)
        mem.write(victim, bytes(range(1, PROBE + 1)))
    for target, watch in ((victim, victim), (keel_probe(q), keel_probe(q)),
                          (GUEST_RAM + (32 << 20), victim)):
        before, after, _ = dma(owned, edu, target, watch=watch)
        assert after == before, f"0x{watch:x} changed under the SMMU"
        q.wait_for(keel(rf"error: iommu 0 \(SMMUv3\): DMA write at 0x{target:x} by "
                        rf"0000:00:{OWNED_EDU} blocked: address not mapped; partition 'owner' "
                        r"owns the device"), 30)
    seen = len(q.lines)
    for name in ("owner", "victim"):
        q.wait_for(out(name, r"keep: \d+ rounds of \d+ registers, 0 values lost"), 90,
                   after=seen)


def test_guest_drives_its_edu(owned):
    """The driver partition's own guest finds the edu at 00:01.0 of the bus Keel shows it
    (ECAM at 0x3f000000), its BAR in the PCI window, and drives it: registers, a DMA
    round trip at guest-physical addresses through the SMMU, a DMA past its RAM that
    the SMMU blocks and Keel reports naming the device and the partition, its MSI as a
    GICv3 MBI (the vGIC says it takes them; a raise arrives once at the INTID the guest
    chose, none with MSI off), and its INTx: a raise arrives once on its SPI (held at the
    device until the guest's EOI, then let go: a second raise arrives too), none with INTx
    Disable set, the pending one once it is cleared."""
    q = owned.q
    given = given_before_start(q, "driver", DRIVEN_EDU, "iommu 0 (SMMUv3)")
    q.wait_for(out("driver", r"edu: found at 00:01\.0 bar0 0x10000000$"), 90, after=given.index)
    verdict = q.wait_for(out("driver", r"TEST edu (PASS|FAIL)"), 120)
    lines = q.find_all(out("driver", r"edu: check [\w-]+: .*"))
    names = [re.search(r"edu: check ([\w-]+):", line).group(1) for line in lines]
    assert names == EDU_CHECKS, names
    wrong = [line for line in lines if not line.endswith(" ok")]
    assert not wrong and verdict.endswith("PASS"), wrong or verdict
    q.wait_for(keel(rf"error: iommu 0 \(SMMUv3\): DMA write at 0x100000000 by "
                    rf"0000:00:{DRIVEN_EDU} blocked: address not mapped; partition 'driver' "
                    r"owns the device"), 30)
    # Its MSI went through the host's ITS, which Keel turned on at boot.
    assert q.find(keel(r"gic: ITS at 0x8080000 on: MSIs of PCI functions become LPIs$"))
    assert not q.find(keel(r"is not delivered|the ITS kept")), \
        q.find_all(keel(r".*(MSI|ITS).*"))
    # Its INTx: the host line QEMU virt's interrupt-map gives slot 4 (SPI 3-6), its own SPI.
    assert q.find(keel(r"gic: INTx of PCI functions: 4 host lines listened to, on cpu 0$"))
    assert q.find(keel(rf"partition 'driver': pci 0000:00:{DRIVEN_EDU}: its INTx arrives on "
                       r"host line 3[5-8], its guest's SPI 48$"))


# ---- Release and reassignment (handoff.py, as on x86_64): the edu from child to child ----

HANDOFF_EDU = "03.0"


@pytest.fixture(scope="module")
def handoff_run(rig):
    stub, sock = gdb_stub(rig, "smmu-handoff")
    extra = ["-machine", "iommu=smmuv3", "-device", f"{WIDE},addr={HANDOFF_EDU}"] + stub
    with rig.boot("aarch64", handoff.config(HANDOFF_EDU), "smmu-handoff", smp=4, extra=extra,
                  timeout=300) as q:
        yield handoff.Run(q, "iommu 0 (SMMUv3)", HANDOFF_EDU, handoff.go(q, sock, ECAM))


# ---- A Linux microVM drives its functions (keel.pci=1 in the test initramfs) -------------
# The same functions at the same addresses as on x86_64 (test_passthrough.py), whose
# checks run here too, MSI-X among them: the guest's GIC offers MBIs (its device tree's
# mbi-ranges), which Keel raises from the LPIs the host ITS makes of the devices' messages.

@pytest.fixture(scope="module")
def linux_edu(rig):
    """A Debian arm64 kernel in a microVM given the edu, a virtio disk, an NVMe drive and
    two NICs: its device tree describes the bus (a pci-host-ecam-generic node with Keel's
    ECAM and window, each function's INTx line, and the GIC as its msi-parent)."""
    a = linuxrig.assets("aarch64", rig.build)
    blk, ports = test_passthrough.pci_linux_devices(rig)
    cmd = linuxrig.cmdline("aarch64", after="poweroff", wait=0, extra="keel.pci=1")
    config = keel_cfg(linuxrig.linux_partition("lin", 1, cmd,
                                               pci=test_passthrough.PCI_LINUX_FUNCS))
    extra = ["-machine", "iommu=smmuv3", "-device", test_passthrough.DEVICE] + blk
    q = linuxrig.boot_keel(rig, "aarch64", config, "smmu-linux", a, smp=2, extra=extra,
                           timeout=400)
    q.management, q.intx = False, False
    with q:
        test_passthrough.pci_linux_run(q, ports)
        yield q


@pytest.mark.linux
def test_linux_finds_its_functions_through_the_device_tree(linux_edu):
    """Linux found the bus in its device tree (Keel's ECAM, bus 0) and enumerated the host
    bridge and the five functions at 00:01.0-00:05.0, the edu's BAR0 where Keel placed it."""
    q = linux_edu
    given_before_start(q, "lin", test_passthrough.EDU_ADDR, "iommu 0 (SMMUv3)")
    lines = q.find_all(out("lin", r"pci=.*"))
    assert q.find(out("lin", r"pci=0000:00:00\.0 id=0x1b36:0x0008 class=0x060000 ")), lines
    assert q.find(out("lin", r"pci=0000:00:01\.0 id=0x1234:0x11e8 class=0x00ff00 "
                             r"bar0=0x0000000010000000$")), lines
    for addr, ident in (("02", "0x1af4:0x1042"), ("03", "0x1b36:0x0010"),
                        ("04", "0x1af4:0x1041"), ("05", "0x8086:0x10d3")):
        assert q.find(out("lin", rf"pci=0000:00:{addr}\.0 id={ident} ")), lines
    assert not q.find(out("lin", r"pci=0000:00:0[6-9a-f]")), lines  # nothing else
