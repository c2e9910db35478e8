# SPDX-License-Identifier: MIT
"""The harness's post-mortem of an x86_64 machine that reset itself
(postmortem.py): the page-table walk and the register parser on made-up
memory, then a real triple fault under QEMU, which must end the run (as
-no-reboot did) with the CPUs' registers written down while QEMU was paused.
That every other shutdown still ends a run at once, the rest of the suite shows
(Keel's on_idle = poweroff ends most of its runs)."""

import pytest

import keelrig
import postmortem

pytestmark = pytest.mark.x86_64_only

# A 4-level tree: CR3 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000 for
# 0xffffffff80000000 and a 2 MiB page at 0x200000 (through the same PD).
TEXT_VA = 0xFFFFFFFF80001000
MEMORY = {
    0x1000 + 511 * 8: 0x2003,
    0x2000 + 510 * 8: 0x3003,
    0x3000 + 0 * 8: 0x4003,
    0x4000 + 1 * 8: 0x8000000000123063,  # NX, 4 KiB at 0x123000
    0x1000 + 0 * 8: 0x5003,
    0x5000 + 0 * 8: 0x6003,
    0x6000 + 1 * 8: 0x2000E3,  # 2 MiB page at 0x200000
}


def read(pa):
    return MEMORY.get(pa, 0)


def test_walk_reaches_a_4k_page_through_every_level():
    steps, pa, why = postmortem.walk(read, 0x1000, TEXT_VA + 0x10)
    assert [s[0] for s in steps] == ["PML4E", "PDPTE", "PDE", "PTE"]
    assert [s[1] for s in steps] == [0x1000 + 511 * 8, 0x2000 + 510 * 8, 0x3000, 0x4008]
    assert pa == 0x123010 and why == "4 KiB page"


def test_walk_stops_at_a_large_page_and_at_a_hole():
    steps, pa, why = postmortem.walk(read, 0x1000, 0x234567)
    assert len(steps) == 3 and pa == 0x234567 and why == "large page"
    steps, pa, why = postmortem.walk(read, 0x1000, 0x7F0000000000)
    assert pa is None and why == "PML4E not present" and steps[0][2] == 0


REGS = """CPU#0
RAX=0000000000000000 RBX=0000000000000001
RSI=0000000000000000 RDI=0000000000000000 RBP=0000000000000000 RSP=ffffffff80001ff0
RIP=ffffffff80001010 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0
IDT=     ffffffff80001000 00000fff
CR0=80050033 CR2=ffffffff80001080 CR3=0000000000001000 CR4=00350ef0
EFER=0000000000000d01
CPU#1
RIP=000000000000fff0 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=1
IDT=     00000000 0000ffff
CR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000
EFER=0000000000000000
"""


def test_report_walks_rip_cr2_and_the_fault_gates_of_cpus_in_long_mode():
    cpus = postmortem.parse_cpus(REGS)
    assert cpus[0]["RIP"] == 0xFFFFFFFF80001010 and cpus[0]["IDT"] == 0xFFFFFFFF80001000
    assert cpus[1]["CR0"] == 0x60000010
    lines = postmortem.report(cpus, read)
    assert lines[0] == ("cpu 0: CR3 0x1000 RIP 0xffffffff80001010 RSP 0xffffffff80001ff0 "
                        "CR2 0xffffffff80001080 CPL 0 HLT 0")
    assert lines[1].startswith("  RIP 0xffffffff80001010: PML4E@0x1ff8=0x0000000000002003")
    assert lines[1].endswith("-> 0x123010 (4 KiB page)")
    assert any(l.startswith("  #PF gate 0xffffffff800010e0:") for l in lines)
    assert any(l.startswith("  #DF gate 0xffffffff80001080:") for l in lines)
    # The stack is read through the walk, quadword by quadword, up to a hole.
    assert "  stack at 0xffffffff80001ff0: 0x0 0x0 unmapped" in lines
    assert lines[-1] == "cpu 1: not in long mode with paging on"


def test_a_triple_fault_is_written_down_and_ends_the_run(tmp_path):
    """Firmware that loads an empty IDT and raises #BP: a triple fault at once.
    The run must end by itself, with the registers taken while QEMU was paused."""
    rom = bytearray(64 * 1024)
    # At the reset vector (F000:FFF0): lidt [0] (the zeroed RAM there: limit 0), int3.
    code = bytes([0x0F, 0x01, 0x1E, 0x00, 0x00, 0xCC, 0xF4])
    rom[0xFFF0:0xFFF0 + len(code)] = code
    bios = tmp_path / "tf.rom"
    bios.write_bytes(bytes(rom))
    argv = ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", "64M",
            "-bios", str(bios), "-display", "none", "-serial", "stdio", "-monitor", "none",
            "-nic", "none", "-no-reboot"]
    q = keelrig.Qemu(argv, tmp_path / "tf.log", hard_timeout=60, name="triple-fault")
    with q:
        assert q.wait_exit(30) == 0
    assert "-action reboot=shutdown,shutdown=pause" in " ".join(q.argv)
    text = q.reset_log.read_text()
    assert "Triple fault" in text
    assert "# post-mortem at the reset (QEMU paused)" in text
    assert "CPU#0" in text and "CR0=60000010" in text  # real mode, as at reset
    assert postmortem.summary(text) == ["cpu 0: not in long mode with paging on"]
    assert "# post-mortem of the reset in" in (tmp_path / "tf.log").read_text()

