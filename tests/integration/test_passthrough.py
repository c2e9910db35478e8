# SPDX-License-Identifier: MIT
"""PCI passthrough on x86_64: QEMU's edu given to a partition (keel.cfg pci =)
and driven by its bare-metal guest (mode=edu, tests/guests/x86_64/edu.c), on a
q35 with Intel VT-d and on one with AMD-Vi.

The guest finds the edu through configuration mechanism #1 at virtual 00:01.0
(the host bridge is 00:00.0), its BAR0 placed by Keel in the guest's PCI window
with memory decode on and bus mastering off; maps BAR0 uncached; checks the
identification, liveness and factorial registers; turns bus mastering on; DMAs
a pattern from its RAM to the device and back at guest-physical addresses and
compares; then DMAs to guest-physical 4 GiB, beyond its memory, which the IOMMU
blocks (on VT-d Keel logs the fault naming the device and its owner; QEMU 7.2's
AMD-Vi writes no event log, so there only the guest's going on is checked).
Interrupts are not routed: the guest polls. Another partition runs throughout.
"""

import pytest

from keelrig import keel, keel_cfg, out, partition
from test_iommu import IOMMUS, MACHINES, WIDE

pytestmark = pytest.mark.x86_64_only

EDU_ADDR = "05.0"  # the host's 00:05.0; the guest sees it at 00:01.0
CONFIG = keel_cfg(
    partition("driver", 1, "mode=edu then=keep every=20000", memory="32M",
              pci=f"0000:00:{EDU_ADDR}"),
    partition("other", 2, "mode=hello then=keep every=20000", memory="32M"))
# The edu's own DMA mask (28 bits by default) would fold 4 GiB onto guest address 0:
# WIDE lets the DMA aimed beyond the partition leave as it was issued.
DEVICE = f"{WIDE},addr={EDU_ADDR}"
# One line each, "edu: check NAME: ... ok" (or WRONG), in the order the guest prints them.
CHECKS = ["bar0", "command", "map", "ident", "liveness", "factorial-5", "factorial-10",
          "busmaster", "dma-to-device", "dma-to-ram", "dma-compare", "dma-beyond-ram"]
KEEP_OK = r"keep: \d+ rounds of \d+ registers, 0 values lost"


@pytest.fixture(scope="module", params=IOMMUS)
def machine(request, rig):
    """(the QEMU run, what Keel calls its IOMMU) with the edu at 00:05.0."""
    devices, kind, _ = MACHINES[request.param]
    extra = devices[:2] + ["-device", DEVICE]
    with rig.boot("x86_64", CONFIG, f"passthrough-{request.param}", smp=3, extra=extra) as q:
        yield q, kind


def driver_done(q):
    """The driver's verdict, or Keel's word that it stopped before one."""
    q.wait_for(out("driver", r"TEST edu (PASS|FAIL)") + "|" +
               keel(r"partition 'driver' stopped"), 120)


def test_edu_found_at_its_virtual_address(machine):
    q, _ = machine
    driver_done(q)
    found = q.find(out("driver", r"edu: found at 00:01\.0 bar0 0x[0-9a-f]+$"))
    assert found, (q.find_all(out("driver", r"edu: .*")) or
                   q.find_all(keel(r".*(pci|partition 'driver').*")))


@pytest.mark.parametrize("check", CHECKS)
def test_edu_check(machine, check):
    q, _ = machine
    driver_done(q)
    line = q.find(out("driver", rf"edu: check {check}: "))
    assert line and line.endswith(" ok"), line or q.find_all(out("driver", r"edu: .*"))


def test_edu_passes_and_dma_round_trips(machine):
    q, _ = machine
    verdict = q.wait_for(out("driver", r"TEST edu (PASS|FAIL)"), 120)
    assert verdict.endswith("PASS"), q.find_all(out("driver", r"WRONG|check failed|edu: no"))
    assert q.find(out("driver", r"edu: dma round trip ok$"))


def test_dma_beyond_ram_blocked_and_driver_goes_on(machine):
    q, kind = machine
    issued = q.wait_for(out("driver", r"edu: dma beyond RAM issued"), 120)
    if kind == "VT-d":
        q.wait_for(keel(r"error: iommu 0 \(VT-d\): DMA write at 0x100000000 by "
                        rf"0000:00:{EDU_ADDR} blocked: [^;]+; partition 'driver' owns the "
                        r"device\b"), 30, after=issued.index)
    q.wait_for(out("driver", KEEP_OK), 60, after=issued.index)


def test_other_partition_runs_on(machine):
    q, _ = machine
    issued = q.wait_for(out("driver", r"edu: dma beyond RAM issued"), 120)
    q.wait_for(out("other", r"TEST hello PASS"), 30)
    q.wait_for(out("other", KEEP_OK), 60, after=issued.index)
    bad = q.find_all(keel(r"partition '\w+' stopped") + "|" +
                     keel(r"error: (?!iommu 0 \(VT-d\): DMA write at 0x100000000 )") + "|PANIC")
    assert not bad, f"unexpected: {bad}"
