# SPDX-License-Identifier: MIT
"""The x86_64 virtual platform against the architecture, one bare-metal guest
per behaviour:
- MMIO decoding: every instruction form Keel decodes (MOV, MOVZX, MOVSX to
  16-, 32- and 64-bit registers, MOVSXD, MOV with an absolute address A0,
  A1, A3) against the LAPIC model's registers, each checked by reading back,
  the 32-bit forms clearing bits 32-63 as the CPU does.
- INIT/SIPI to a started vCPU, as Linux's CPU hotplug brings a CPU back:
  each round of INIT, SIPI, SIPI restarts vCPU 1 exactly once."""

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
                  partition("initsipi", "2,3", f"mode=initsipi rounds={ROUNDS}", memory="16M"))


@pytest.fixture(scope="module")
def conformance(rig):
    with rig.boot("x86_64", CONFIG, "x86-conformance", smp=4) as q:
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
