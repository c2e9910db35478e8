# SPDX-License-Identifier: MIT
"""The x86_64 virtual platform against the architecture, one bare-metal guest
per behaviour:
- MMIO decoding: every instruction form Keel decodes (MOV, MOVZX, MOVSX to
  16-, 32- and 64-bit registers, MOVSXD, MOV with an absolute address A0,
  A1, A3, XCHG, MOVS and STOS once and with REP) against the LAPIC model's
  registers (and a hole, for many elements), each checked by reading back,
  the 32-bit forms clearing bits 32-63 as the CPU does.
- INIT/SIPI to a started vCPU, as Linux's CPU hotplug brings a CPU back:
  each round of INIT, SIPI, SIPI restarts vCPU 1 exactly once. Then a fixed
  IPI to all but itself, with a hot vCPU declared and never powered on (it
  has no core to kick), leaves Keel running.
- NMI IPIs and CR8: an NMI to itself is taken (with IF = 0 too), one sent
  inside the NMI handler waits for its IRET, an SMI IPI does nothing (no
  SMM); CR8 and the LAPIC's TPR are one register, CR8 holds back interrupts
  of its priority class, and CR8 above 15 is #GP.
- TSC rate: CPUID leaves 0x15/0x16, where the CPU has them, agree with
  Keel's timing leaf (test_vmx.py runs the same on an Intel model).
- Holes (on_fault = deliver, the default): reads of a guest-physical address
  with nothing behind it are all ones at every width, merged into the
  register as the instruction says; writes go nowhere; a fetch is #UD at the
  hole's address, at the guest's own IDT; and the guest goes on."""


import pytest

from keelrig import fault_warned_once, guest_check, guest_passed, keel_cfg, out, partition

pytestmark = pytest.mark.x86_64_only

FORMS = ["mov (m32), r32", "movzx r32, m8", "movsx r32, m8 (upper half cleared)",
         "movsx r64, m8", "movsx r64, m16", "movsx r16, m8 (bits 16-63 kept)",
         "mov eax, moffs64 (A1)", "mov al, moffs64 (A0)", "mov moffs64, eax (A3), read back",
         "movsxd r64, m32", "xchg (m32), r32: register", "xchg (m32), r32: device",
         "xchg (m8), r8: register (bits 8-63 kept)",
         "movs m32 (RAM to device)", "movs: rSI and rDI stepped by 4",
         "rep movs m32, count 1 (device to RAM)", "rep movs: rCX counted down to 0",
         "movs m32 (device to device)", "stos m32", "stos m32 with DF set: the device",
         "stos m32 with DF set: rDI stepped down", "rep movs m64 x4 from a hole: all ones",
         "rep movs x4: rSI, rDI, rCX at the end", "rep stos m16 x5 to a hole: rDI, rCX at the end",
         # The element Keel stores is checked as the CPU checks its own writes.
         "movs to a read-only page: #PF error code", "movs to a read-only page: CR2",
         "movs to a read-only page: stored once allowed", "movs to a read-only page: one fault",
         "movs from ring 3 to a supervisor page: #PF error code",
         "movs from ring 3 to a supervisor page: stored once allowed"]
ROUNDS = 10
CONFIG = keel_cfg(partition("veckeep", 0, "mode=veckeep rounds=100 spin=3000", memory="16M"),
                  partition("decode", 1, "mode=decode", memory="16M"),
                  partition("initsipi", "2,3", f"mode=initsipi rounds={ROUNDS}", memory="16M",
                            max_cpus=3),
                  partition("aborts", 4, "mode=aborts", memory="16M"),
                  partition("nmi", 5, "mode=nmi", memory="16M"),
                  partition("tscleaf", 6, "mode=tscleaf", memory="16M"))


@pytest.fixture(scope="module")
def conformance(rig):
    with rig.boot("x86_64", CONFIG, "x86-conformance", smp=7) as q:
        yield q


@pytest.mark.parametrize("form", FORMS)
def test_mmio_decoder_form(conformance, form):
    guest_check(conformance, "decode", form, 60)


def test_decoder_guest_survives(conformance):
    guest_passed(conformance, "decode", 60)


def test_init_sipi_restarts_a_started_vcpu(conformance):
    q = conformance
    verdict = q.wait_for(out("initsipi", r"TEST initsipi (PASS|FAIL)"), 120)
    assert verdict.endswith("PASS"), q.find_all(out("initsipi", r"initsipi: .*"))
    assert q.find(out("initsipi", rf"initsipi: {ROUNDS} rounds of INIT, SIPI, SIPI to vCPU 1: "
                                  rf"count {ROUNDS}$"))


def test_ipi_to_a_hot_vcpu_never_powered_on(conformance):
    """A fixed IPI to all but itself also reaches the partition's hot vCPU 2,
    which has no core yet: Keel keeps running, and so does every partition."""
    q = conformance
    q.wait_for(out("initsipi", r"TEST initsipi (PASS|FAIL)"), 120)
    assert q.find(out("initsipi", r"initsipi: a fixed IPI to all but itself sent, Keel still here"))
    assert not q.find(r"PANIC")
    guest_passed(q, "tscleaf", 60)


HOLE_CHECKS = ["read 8 bits: all ones, bits 8-63 kept", "read 16 bits: all ones, bits 16-63 kept",
               "read 32 bits: all ones, upper half cleared", "read 64 bits: all ones",
               "write, then read: the write went nowhere", "fetch: #UD taken",
               "fetch: #UD at the hole's address"]


@pytest.mark.parametrize("check", HOLE_CHECKS)
def test_hole_answered_as_on_a_pc(conformance, check):
    guest_check(conformance, "aborts", check, 60)


def test_hole_reader_goes_on(conformance):
    guest_passed(conformance, "aborts", 60)
    fault_warned_once(conformance, "aborts", "all ones")


NMI_CHECKS = ["NMI IPI to itself: taken",
              "NMI sent inside the handler: not taken before its IRET", "... then taken after it",
              "NMI taken with interrupts disabled (IF = 0)",
              "SMI IPI: nothing happens (no SMM), the guest goes on", "CR8 = 5: TPR reads 0x50",
              "TPR = 0xa0: CR8 reads 0xa", "CR8 = 0: TPR reads 0",
              "TPR = 0x35 keeps bits 3:0 across exits", "CR8 = 2 holds back vector 0x21",
              "CR8 = 1 lets vector 0x21 in", "CR8 = 16: #GP, CR8 unchanged",
              "CR8 written from ring 3: #GP, CR8 unchanged"]


@pytest.mark.parametrize("check", NMI_CHECKS)
def test_nmi_and_cr8(conformance, check):
    guest_check(conformance, "nmi", check, 60)


def test_nmi_guest_goes_on(conformance):
    guest_passed(conformance, "nmi", 60)


def test_tsc_rate_in_cpuid_leaves(conformance):
    """Leaves 0x15/0x16 agree with Keel's timing leaf where the CPU has them (this
    QEMU CPU has none: the guest's maximum basic leaf stays below, as the host's)."""
    guest_passed(conformance, "tscleaf", 60)


def test_vector_registers_kept_across_exits(conformance):
    """The widest vector state the CPU has (ZMM0-31 and k0-7 with AVX-512, else
    YMM0-15, else XMM0-15) keeps its values across hypercalls and the timer exits
    of 100 rounds: Keel's exit path touches none of it."""
    guest_passed(conformance, "veckeep", 180)
    assert conformance.find(out("veckeep", r"veckeep: 0 registers changed across exits"))
