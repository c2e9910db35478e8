# SPDX-License-Identifier: MIT
"""The arm64 virtual platform against the architecture's documents, the way
a conformance suite checks it, one bare-metal guest per behaviour:
- PSCI: a 2-vCPU partition turns its vCPU 1 on with CPU_ON; vCPU 1 turns
  itself off with CPU_OFF; AFFINITY_INFO must say OFF again (Linux's CPU
  hotplug waits for exactly that), 20 rounds."""

import pytest

from keelrig import keel, keel_cfg, out, partition

pytestmark = pytest.mark.aarch64_only

ROUNDS = 20
CONFIG = keel_cfg(partition("psci", "1,2", f"mode=psci rounds={ROUNDS}", memory="16M"))


@pytest.fixture(scope="module")
def conformance(rig):
    with rig.boot("aarch64", CONFIG, "conformance", smp=3) as q:
        yield q


def test_psci_affinity_info_follows_cpu_off(conformance):
    q = conformance
    verdict = q.wait_for(out("psci", r"TEST psci (PASS|FAIL)"), 90)
    assert verdict.endswith("PASS"), q.find_all(out("psci", r"check failed|psci: round"))
    assert q.find(out("psci", rf"psci: {ROUNDS} rounds of CPU_ON, CPU_OFF and AFFINITY_INFO"))
    q.wait_for(keel(r"partition 'psci' stopped: "), 30)
