# SPDX-License-Identifier: MIT
"""The PCI hand-off scenario (mode=pcihandoff, a bare-metal management partition), shared
by test_passthrough.py (x86_64: VT-d, AMD-Vi) and test_smmuv3.py (aarch64: SMMUv3).

The manager creates child 'first' with the edu (a KEEL_DEV_PCI entry in its CREATE),
which drives it (mode=edu) and shuts down; destroys it; then child 'second' gets the same
function by PCI_ASSIGN (back by PCI_RELEASE, then again) and drives it again. Between
the two the manager waits on a word in its RAM: the test reads the edu's command
register from outside (QEMU's gdb stub, as a bus master outside every CPU), finds bus
mastering off, and writes the go-ahead. While 'second' holds the function, CREATE naming
it is refused (-KEEL_EBUSY), and so is one naming a function the host does not have
(-KEEL_ENODEV). The manager's core: 1; the children's (and the refused CREATEs'): 2, 3.

A test module imports the tests below and defines the fixture they take, `handoff_run`
(a Run), for its machine.
"""

import re
from dataclasses import dataclass

from dmaprobe import part_hpa
from gdbphys import Edu, PhysMem
from keelrig import TESTGUEST, keel, keel_cfg, out, partition

GO_WAITING, GO = 0x54494157, 0x4E4F4F47  # "WAIT", "GOON": the manager's go-ahead word


def config(edu_addr):
    """keel.cfg: the manager alone, allowed to hand out the edu at 0000:00:@edu_addr."""
    return keel_cfg(partition("manager", 1, f"mode=pcihandoff pci=0000:00:{edu_addr}",
                              memory="32M", management="yes", initrd="/guests/" + TESTGUEST))


@dataclass
class Run:
    q: object  # the QEMU run
    unit: str  # what Keel calls the IOMMU: "iommu 0 (VT-d)"
    edu_addr: str  # the edu's host address on bus 0: "05.0"
    command: int  # the edu's command register while nobody owned it


def go(q, sock, ecam):
    """Between 'first' and 'second': check the go-ahead word is where the manager said,
    read the edu's command register (on bus 0 of the host ECAM at @ecam), write the
    go-ahead. The edu's command."""
    waiting = q.wait_for(out("manager", r"pcihandoff: first destroyed; waiting for the "
                                        r"go-ahead at RAM \+ 0x[0-9a-f]+ "), 120)
    offset = int(waiting.split("RAM + 0x", 1)[1].split(" ", 1)[0], 16)
    base = part_hpa(q, "manager")
    with PhysMem(sock) as mem:
        command = Edu(mem, ecam).command(mem)
        word = mem.read32(base + offset)
        assert word == GO_WAITING, f"no go-ahead word at 0x{base + offset:x}: 0x{word:x}"
        mem.write(base + offset, GO.to_bytes(4, "little"))
    return command


def verdict(q):
    return q.wait_for(out("manager", r"TEST pcihandoff (PASS|FAIL)") + "|" +
                      keel(r"partition 'manager' stopped"), 180)


def step(q, text, after=0):
    line = q.find(out("manager", rf"pcihandoff: {text}"), after=after)
    assert line, (text, q.find_all(out("manager", r"pcihandoff: .*|check failed.*")))
    return line


def test_handoff_passes(handoff_run):
    run = handoff_run
    v = verdict(run.q)
    assert v.endswith("TEST pcihandoff PASS"), (
        run.q.find_all(out("manager", r"check failed.*|pcihandoff: .*")) or v)


def assigned_by_call(q, edu, cid, after):
    """'second''s PCI_ASSIGN / PCI_RELEASE steps, each with the status and owner it must
    have, in order; the last line's index."""
    want = [rf"second created without it: pci_list owner of {edu}: none \(want none\)$",
            r"assign to second: status 0 \(want 0\)$",
            rf"assigned: pci_list owner of {edu}: id {cid} \(want id {cid}\)$",
            r"assign again: status -17 \(want -17\)$",
            r"assign of 0000:00:1c\.7: status -19 \(want -19\)$",
            r"assign of the host bridge: status -19 \(want -19\)$",
            r"release from second: status 0 \(want 0\)$",
            rf"released: pci_list owner of {edu}: none \(want none\)$",
            r"release again: status -2 \(want -2\)$",
            r"assign to second again: status 0 \(want 0\)$",
            rf"assigned again: pci_list owner of {edu}: id {cid} \(want id {cid}\)$"]
    line = None
    for text in want:
        line = step(q, text, after=after)
        after = line.index
    return line


def test_handoff_steps(handoff_run):
    run = handoff_run
    q = run.q
    verdict(q)
    edu = f"0000:00:{run.edu_addr}"
    step(q, rf"{edu} is 1234:11e8, flags 0x[0-9a-f]*[89a-f], iommu 0$")  # ASSIGNABLE
    for name in ("first", "second"):
        created = step(q, rf"create {name} on cpus 0x[0-9a-f]+: status 0 id \d+$")
        cid = created.rsplit(" id ", 1)[1]
        if name == "first":  # a KEEL_DEV_PCI entry in its CREATE
            owned = step(q, rf"first created: pci_list owner of {edu}: id {cid} "
                            rf"\(want id {cid}\)$", after=created.index)
        else:  # none: PCI_ASSIGN gives it, PCI_RELEASE takes it back, PCI_ASSIGN again
            owned = assigned_by_call(q, edu, cid, created.index)
        started = step(q, rf"{name} started$", after=owned.index)
        step(q, r"release once started: status -16 \(want -16\)$", after=started.index)
        ran = step(q, rf"{name} stopped by itself: cause 1 ", after=owned.index)
        step(q, rf"{name} said: TEST edu PASS$", after=ran.index)
        seen = step(q, rf"{name}: TEST edu PASS seen$", after=ran.index)
        gone = step(q, rf"{name} destroyed$", after=seen.index)
        step(q, rf"no owner: pci_list owner of {edu}: none \(want none\)$", after=gone.index)
        assert q.find(out(name, r"TEST edu PASS$"))
    go_seen = step(q, r"go-ahead seen after \d+ polls$")
    second = step(q, r"create second on ", after=go_seen.index)
    taken = step(q, r"taken function: status -16 \(want -16\)$", after=second.index)
    step(q, r"0000:00:1c\.7 is not in pci_list$", after=taken.index)
    step(q, r"missing function: status -19 \(want -19\)$", after=taken.index)
    # Keel says why it refused each: the function is 'second''s; there is no 1c.7.
    assert q.find(keel(rf"error: partition 'taken': pci {edu}: another partition has it$"))
    assert q.find(keel(r"error: partition 'ghost': pci 0000:00:1c\.7: no such PCI function "
                       r"on this host$"))


def test_handoff_keel_log(handoff_run):
    run = handoff_run
    """Keel gave it to 'first', took it back when 'first' stopped, gave it to 'second'."""
    q = run.q
    verdict(q)
    given = rf"pci 0000:00:{run.edu_addr} 1234:11e8 given, DMA confined to its memory by " \
            rf"{re.escape(run.unit)}$"
    first = q.find(keel(rf"partition 'first': {given}"))
    assert first, q.find_all(keel(r".*(pci|partition 'first').*"))
    stopped = q.find(keel(r"partition 'first' stopped: "), after=first.index)
    assert stopped, q.find_all(keel(r"partition 'first'.*"))
    destroyed = q.find(keel(r"partition 'first' \(id \d+\) destroyed"), after=stopped.index)
    assert destroyed, q.find_all(keel(r"partition 'first'.*"))
    # 'second': by PCI_ASSIGN, back by PCI_RELEASE (reset on its way), by PCI_ASSIGN again.
    edu = f"pci 0000:00:{run.edu_addr}"
    second = q.find(keel(rf"partition 'second': {given}"), after=destroyed.index)
    assert second, q.find_all(keel(r".*(pci|partition 'second').*"))
    line = second
    for text in (rf"{edu} assigned by the management partition$",
                 # QEMU's edu has no FLR, and no bus reset on the root bus
                 rf"{edu} (reset on its way back to the pool \(|has no reset )",
                 rf"{edu} released by the management partition$",
                 given, rf"{edu} assigned by the management partition$"):
        line = q.find(keel(rf"(warning: )?partition 'second': {text}"), after=line.index)
        assert line, (text, q.find_all(keel(r".*partition 'second'.*")))
    assert q.find(keel(r"partition 'second' stopped: "), after=line.index)
    # Unexpected trouble: a PANIC, or an error line but the refusals and blocked DMA.
    unit = re.escape(run.unit)
    bad = q.find_all(r"PANIC|" + keel(rf"error: (?!{unit}: DMA write at 0x100000000 |"
                                      r"partition '(taken|ghost)': pci )"))
    # PCI_ASSIGN's refusals are the manager's to handle: warnings, each naming why.
    assert q.find(keel(r"warning: partition 'second': pci 0000:00:1c\.7 not assigned: no such "
                       r"PCI function on this host$"))
    assert not bad, f"unexpected: {bad}"


def test_bus_mastering_off_between_owners(handoff_run):
    run = handoff_run
    """'first' turned bus mastering on (its DMA worked); read from outside while
    nobody owns the function, it is off. 'second' finds it off as well."""
    q = run.q
    verdict(q)
    assert q.find(out("first", r"edu: check busmaster: command 0x0006 after setting bus "
                               r"master ok$"))
    assert not run.command & 0x4, \
        f"bus mastering on after 'first' was destroyed: 0x{run.command:x}"
    assert q.find(out("second", r"edu: check command: 0x0002, memory decode on, bus master off "
                                r"ok$"))


def test_handoff_manager_finishes(handoff_run):
    run = handoff_run
    q = run.q
    verdict(q)
    q.wait_for(keel(r"partition 'manager' stopped: "), 60)
    assert q.wait_exit(60) == 0
