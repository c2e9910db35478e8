# SPDX-License-Identifier: MIT
"""Keel on QEMU's models of real Arm cores instead of "max": Cortex-A72 and
Cortex-A76 have no ECBHB and no CLRBHB, so Keel must overwrite the guest's
branch history with a loop of taken branches on every guest exit (8 and 24
branches, Arm's counts for them). One boot per core: Keel names its choice, and
a hello guest and 20,000 random hypercalls (an exit each) run through that
path."""

import pytest

from keelrig import keel, keel_cfg, out, partition
from test_boot import check_hello

pytestmark = pytest.mark.aarch64_only

ATTACK = "/guests/attack.elf"
CORES = {"cortex-a72": ("Cortex-A72", 8), "cortex-a76": ("Cortex-A76", 24)}
CONFIG = keel_cfg(partition("alpha", 1, "mode=hello", memory="32M"),
                  partition("sweep", 2, "mode=sweep calls=20000", memory="16M", kernel=ATTACK))


@pytest.fixture(scope="module", params=sorted(CORES))
def core(request, rig):
    with rig.boot("aarch64", CONFIG, f"core-{request.param}", smp=3, cpu=request.param) as q:
        yield request.param, q


def test_branch_history_loop_chosen(core):
    model, q = core
    name, loops = CORES[model]
    line = q.wait_for(keel(r"aarch64: speculation: cpu 0 \(MIDR 0x[0-9a-f]+\): Spectre-BHB .*"), 90)
    assert line.endswith(f"a branch loop of {loops} on every guest exit ({name})"), line
    # Every CPU is the same core: only the boot CPU says it.
    assert len(q.find_all(keel(r"aarch64: speculation: cpu \d+ .*Spectre-BHB"))) == 1


def test_guests_run_through_the_loop(core):
    model, q = core
    check_hello(q, "aarch64", "alpha", 1, 32)
    sweep = q.wait_for(out("sweep", r"TEST sweep (PASS|FAIL)"), 240)
    assert sweep.endswith("PASS"), q.find_all(out("sweep", r"check failed"))
    assert q.find(out("sweep", r"sweep: 20000 random hypercalls from kernel mode"))
    assert not q.find_all(r"PANIC|keel: error: ")
