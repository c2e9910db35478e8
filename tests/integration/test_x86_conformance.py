# SPDX-License-Identifier: MIT
"""The x86_64 virtual platform against the architecture, one bare-metal guest
per behaviour:
- MMIO decoding: every instruction form Keel decodes (MOV, MOVZX, MOVSX to
  16-, 32- and 64-bit registers, MOVSXD, MOV with an absolute address A0,
  A1, A3) against the LAPIC model's registers, each checked by reading back,
  the 32-bit forms clearing bits 32-63 as the CPU does.
- INIT/SIPI to a started vCPU, as Linux's CPU hotplug brings a CPU back:
  each round of INIT, SIPI, SIPI restarts vCPU 1 exactly once.
- Holes (on_fault = deliver, the default): reads of a guest-physical address
  with nothing behind it are all ones at every width, merged into the
  register as the instruction says; writes go nowhere; a fetch is #UD at the
  hole's address, at the guest's own IDT; and the guest goes on."""

import re

import pytest

from keelrig import keel, keel_cfg, out, partition

pytestmark = pytest.mark.x86_64_only

FORMS = ["mov (m32), r32", "movzx r32, m8", "movsx r32, m8 (upper half cleared)",
         "movsx r64, m8", "movsx r64, m16", "movsx r16, m8 (bits 16-63 kept)",
         "mov eax, moffs64 (A1)", "mov al, moffs64 (A0)", "mov moffs64, eax (A3), read back",
         "movsxd r64, m32"]
ROUNDS = 10
CONFIG = keel_cfg(partition("decode", 1, "mode=decode", memory="16M"),
                  partition("initsipi", "2,3", f"mode=initsipi rounds={ROUNDS}", memory="16M"),
                  partition("aborts", 4, "mode=aborts", memory="16M"))


@pytest.fixture(scope="module")
def conformance(rig):
    with rig.boot("x86_64", CONFIG, "x86-conformance", smp=5) as q:
        yield q


@pytest.mark.parametrize("form", FORMS)
def test_mmio_decoder_form(conformance, form):
    q = conformance
    q.wait_for(out("decode", r"TEST decode (PASS|FAIL)") + "|" + keel("partition 'decode' stopped"),
               60)
    line = q.find(out("decode", rf"decode: {re.escape(form)}\s"))
    assert line and line.endswith(" ok"), line or q.find_all(keel("partition 'decode'"))


def test_decoder_guest_survives(conformance):
    q = conformance
    verdict = q.wait_for(out("decode", r"TEST decode (PASS|FAIL)"), 60)
    assert verdict.endswith("PASS"), q.find_all(out("decode", "WRONG"))
    stopped = q.wait_for(keel(r"partition 'decode' stopped: "), 30)
    assert "shutdown requested by the guest" in stopped, stopped


def test_init_sipi_restarts_a_started_vcpu(conformance):
    q = conformance
    verdict = q.wait_for(out("initsipi", r"TEST initsipi (PASS|FAIL)"), 120)
    assert verdict.endswith("PASS"), q.find_all(out("initsipi", r"initsipi: .*"))
    assert q.find(out("initsipi", rf"initsipi: {ROUNDS} rounds of INIT, SIPI, SIPI to vCPU 1: "
                                  rf"count {ROUNDS}$"))


HOLE_CHECKS = ["read 8 bits: all ones, bits 8-63 kept", "read 16 bits: all ones, bits 16-63 kept",
               "read 32 bits: all ones, upper half cleared", "read 64 bits: all ones",
               "write, then read: the write went nowhere", "fetch: #UD taken",
               "fetch: #UD at the hole's address"]


@pytest.mark.parametrize("check", HOLE_CHECKS)
def test_hole_answered_as_on_a_pc(conformance, check):
    q = conformance
    q.wait_for(out("aborts", r"TEST aborts (PASS|FAIL)") + "|" + keel("partition 'aborts' stopped"),
               60)
    line = q.find(out("aborts", rf"aborts: {re.escape(check)}\s"))
    assert line and line.endswith(" ok"), line or q.find_all(keel("partition 'aborts'"))


def test_hole_reader_goes_on(conformance):
    q = conformance
    verdict = q.wait_for(out("aborts", r"TEST aborts (PASS|FAIL)"), 60)
    assert verdict.endswith("PASS"), q.find_all(out("aborts", "WRONG"))
    warned = q.find_all(keel(r"warning: partition 'aborts': read of guest-physical address "
                             r"0x[0-9a-f]+ outside its memory at pc 0x[0-9a-f]+: the guest got "
                             r"all ones \(on_fault = deliver; said once\)"))
    assert len(warned) == 1, q.find_all(keel("partition 'aborts'"))
    stopped = q.wait_for(keel(r"partition 'aborts' stopped: "), 30)
    assert "shutdown requested by the guest" in stopped, stopped
