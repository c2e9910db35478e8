# SPDX-License-Identifier: MIT
"""The arm64 virtual platform against the architecture's documents, the way
a conformance suite checks it, one bare-metal guest per behaviour:
- PSCI: a 2-vCPU partition turns its vCPU 1 on with CPU_ON; vCPU 1 turns
  itself off with CPU_OFF; AFFINITY_INFO must say OFF again (Linux's CPU
  hotplug waits for exactly that), 20 rounds. CPU_SUSPEND: supported, bad
  arguments refused, and a standby that returns once the timer's interrupt
  is pending.
- SMCCC: version and feature queries, the vendor-hypervisor general queries,
  and an unknown ID of every owner, fast and yielding, over HVC and SMC: each
  answers NOT_SUPPORTED and the prober lives on (x0 = 3 once shut it down).
- Timers: the EL1 virtual (PPI 27) and physical (PPI 30) timers fire when
  due, never when masked at the timer, are no longer pending once disabled,
  masked or clear-pended before the CPU took them, and fire again after.
- PMU: the cycle counter's overflow raises PPI 23 when enabled, not when
  PMINTENSET is off, is no longer pending once disabled before the CPU took
  it, and is raised again after.
- SVE (not offered): an SVE instruction is an Undefined Instruction
  exception at the guest's own vector, and the guest goes on.
- Aborts: a load, a store (from EL1 and EL0) and an instruction fetch at a
  guest-physical address with nothing behind it are synchronous external
  aborts at the guest's own vectors with the syndrome, FAR and ELR the
  architecture gives (on_fault = deliver, the default), and the guest goes on."""

import re

import pytest

from keelrig import fault_warned_once, guest_check, guest_passed, keel, keel_cfg, out, partition

pytestmark = pytest.mark.aarch64_only

ROUNDS = 20
CONFIG = keel_cfg(partition("veckeep", 0, "mode=veckeep rounds=100 spin=3000", memory="16M"),
                  partition("psci", "1,2", f"mode=psci rounds={ROUNDS}", memory="16M"),
                  partition("smccc", 3, "mode=smccc", memory="16M"),
                  partition("timers", 4, "mode=timers", memory="16M"),
                  partition("pmu", 5, "mode=pmu", memory="16M"),
                  partition("sve", 6, "mode=sve", memory="16M"),
                  partition("aborts", 7, "mode=aborts", memory="16M"))


@pytest.fixture(scope="module")
def conformance(rig):
    with rig.boot("aarch64", CONFIG, "conformance", smp=8) as q:
        yield q


def test_psci_affinity_info_follows_cpu_off(conformance):
    q = conformance
    verdict = q.wait_for(out("psci", r"TEST psci (PASS|FAIL)"), 90)
    assert verdict.endswith("PASS"), q.find_all(out("psci", r"check failed|psci: round"))
    assert q.find(out("psci", rf"psci: {ROUNDS} rounds of CPU_ON, CPU_OFF and AFFINITY_INFO"))
    assert q.find(out("psci", r"psci: CPU_SUSPEND standby returned 0 after \d+ us, at or after the timer's deadline"))
    q.wait_for(keel(r"partition 'psci' stopped: "), 30)


def test_smccc_probing(conformance):
    q = conformance
    verdict = q.wait_for(out("smccc", r"TEST smccc (PASS|FAIL)"), 90)
    assert verdict.endswith("PASS"), q.find_all(out("smccc", r"check failed|smccc: .* want"))
    probed = q.find(out("smccc", r"smccc: (\d+) unknown IDs probed, (\d+) answered otherwise"))
    assert probed, "the prober did not finish"
    # 64 owners x (SMC32, SMC64, over SMC), 11 yielding IDs, Keel's call over SMC, HVC #1.
    assert "smccc: 205 unknown IDs probed, 0 answered otherwise" in probed, probed
    stopped = q.wait_for(keel(r"partition 'smccc' stopped: "), 30)
    assert "shutdown requested by the guest" in stopped, stopped


TIMER_CHECKS = ["fires when enabled and due", "masked at the timer: not pending",
                "masked at the timer: never taken", "fired with PSTATE.I set: pending",
                "disabled before taken: not pending", "disabled before taken: never taken",
                "fired again: pending", "masked before taken: not pending",
                "masked before taken: never taken", "fired a third time: pending",
                "clear-pending: not pending", "clear-pending: never taken",
                "fires again afterwards"]


@pytest.mark.parametrize("timer", ["virtual", "physical"])
def test_timer_interrupts(conformance, timer):
    q = conformance
    q.wait_for(out("timers", r"TEST timers (PASS|FAIL)"), 120)
    for what in TIMER_CHECKS:
        line = q.find(out("timers", rf"timers: {timer} timer: {re.escape(what)}\s"))
        assert line and line.endswith(" ok"), line or f"{timer}: '{what}' never checked"


PMU_CHECKS = ["ID_AA64DFR0_EL1 says there is a PMUv3",
              "overflow with PMINTENSET: the interrupt arrives",
              "overflow with PMINTENSET off: status set", "overflow with PMINTENSET off: not pending",
              "overflow with PMINTENSET off: never taken", "overflow with PSTATE.I set: status set",
              "overflow with PSTATE.I set: pending", "interrupt disabled before taken: not pending",
              "interrupt disabled before taken: never taken", "the next overflow arrives again"]


def test_pmu_overflow_interrupt(conformance):
    q = conformance
    verdict = q.wait_for(out("pmu", r"TEST pmu (PASS|FAIL)"), 120)
    for what in PMU_CHECKS:
        line = q.find(out("pmu", rf"pmu: {re.escape(what)}\s"))
        assert line and line.endswith(" ok"), line or f"'{what}' never checked"
    assert verdict.endswith("PASS"), q.find_all(out("pmu", "check failed"))


def test_sve_is_undefined_not_fatal(conformance):
    q = conformance
    verdict = q.wait_for(out("sve", r"TEST sve (PASS|FAIL)"), 60)
    assert q.find(out("sve", r"sve: RDVL raised EC 0x0 at pc (0x[0-9a-f]+) .* undefined, as without SVE"))
    assert verdict.endswith("PASS"), q.find_all(out("sve", "sve: .*"))
    assert q.wait_for(keel(r"partition 'sve' stopped: shutdown requested by the guest"), 30)


ABORT_CHECKS = ["read: data abort, same EL, SEA, FAR, ELR", "read: the register was not written",
                "write: data abort with WnR", "read from EL0: data abort from a lower EL",
                "read from EL0: taken as from EL0",
                "fetch: instruction abort, same EL, SEA, FAR = ELR", "a second read aborts too"]


@pytest.mark.parametrize("check", ABORT_CHECKS)
def test_abort_delivered_to_guest_vectors(conformance, check):
    guest_check(conformance, "aborts", check, 90)


def test_aborted_guest_goes_on(conformance):
    guest_passed(conformance, "aborts", 90)
    fault_warned_once(conformance, "aborts", "a data abort at its vector")


def test_vector_registers_kept_across_exits(conformance):
    """V0-V31 keep their values across hypercalls and the timer exits of 100 rounds."""
    guest_passed(conformance, "veckeep", 180)
    assert conformance.find(out("veckeep", r"veckeep: 0 registers changed across exits"))
