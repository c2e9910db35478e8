# SPDX-License-Identifier: MIT
"""The attack suite: partitions that attack Keel or each other, all in one
boot per arch (each on its own cores; tests/guests/attack.c), each scenario
asserting containment: the culprit stopped or refused, every other partition
and Keel unaffected, nothing leaked (docs/security.md lists them).

- mgr (the management partition, cpu 0) builds the attacks that need other
  partitions: DESTROY/START/LOAD racing the boot-time build of the "racer"
  partitions; a register-leak probe (a victim plants markers in every register
  class and leaves the core by shutting down or by a forced stop, then a new
  partition there reads them all); reads of guest-physical holes and of the
  host's device windows; #DB and #AC loops stopped from outside; an interrupt
  storm; then 200 restarts of "rebooter" with DESTROY, PAUSE and RESUME
  hitting it while Keel rebuilds it.
- sweep: every MSR or system register read and written back, every I/O port,
  100,000 random hypercalls from kernel mode and 10,000 from user mode.
- flood: console output as fast as Keel takes it, while "ticker" prints on a
  steady pace: the flood is cut to its share and counted, the ticker keeps
  its pace.
"""

import re

import pytest

from keelrig import keel, keel_cfg, out, partition

ATTACK = "/guests/attack.elf"
SMP = 8
RACERS = 3
LIVES = 200


def config():
    """mgr on cpu 1, so that it runs while the boot CPU still builds the partitions
    after it: racers on 2-4 (large, so their build takes a while; each ticks once
    and shuts down, and the ticker and the flood take cpus 2 and 3 later),
    rebooter 5, sweep 6; the manager's children on 7 and on the boot CPU, 0."""
    parts = [partition("mgr", 1, f"mode=manager racers={RACERS} lives={LIVES} leak=7 spare=0 "
                       "ticker=2 flood=3 last=sweep", memory="32M", kernel=ATTACK, initrd=ATTACK,
                       management="yes")]
    parts += [partition(f"racer{i}", 2 + i, "mode=ticker count=1 pace=100", memory="128M",
                        kernel=ATTACK) for i in range(RACERS)]
    parts += [partition("rebooter", 5, "mode=reboot", memory="16M", kernel=ATTACK,
                        autostart="no", on_reboot="restart"),
              partition("sweep", 6, "mode=sweep calls=100000", memory="16M", kernel=ATTACK)]
    return keel_cfg(*parts, on_idle="stay")


@pytest.fixture(scope="module")
def attack(rig, arch):
    with rig.boot(arch, config(), "attack", smp=SMP, timeout=900) as q:
        yield q


def manager_verdict(q):
    v = q.wait_for(out("mgr", r"TEST manager (PASS|FAIL)"), 840)
    assert v.endswith("PASS"), q.find_all(out("mgr", r"check failed|LEAK|race:|leak:"))


def test_no_panic_and_manager_verdict(attack):
    manager_verdict(attack)
    assert not attack.find_all(r"PANIC|keel: error: .*hypervisor")


def test_partition_memory_out_of_keels_map(attack):
    # Whatever ran and went, Keel's own map held none of any partition's memory.
    audits = attack.find_all(out("mgr", r"manager: audit .*"))
    assert len(audits) == 3, audits
    for line in audits:
        m = re.search(r"(\d+) bytes hidden, (\d+) held by partitions, (\d+) exposed", line)
        assert m and m.group(1) == m.group(2) and int(m.group(1)) > 0 and m.group(3) == "0", line


def test_register_leak(attack):
    q = attack
    manager_verdict(q)
    # Both ways of leaving the core: the probe ran twice and found every register reset.
    for how in ("shutdown", "spin"):
        assert q.find(out("mgr", rf"leak: round '{how}' on cpus 0x80 done"))
    assert len(q.find_all(out("mgr", r"leak: probe said: TEST probe PASS"))) == 2
    assert not q.find_all(r"probe: LEAK")
    checked = q.find_all(out("mgr", r"leak: probe said: probe: \d+ registers checked"))
    assert len(checked) == 2 and int(re.search(r"(\d+) registers", checked[0]).group(1)) > 40


def test_destroy_races_build(attack):
    q = attack
    manager_verdict(q)
    boot = q.find(out("mgr", r"race: at boot: \d+ management calls .*\((\d+) looks at one in BUILDING"))
    assert boot, "the boot race did not run"
    # It did race: the manager saw racers half built and its calls were refused then.
    assert int(re.search(r"\((\d+) looks", boot).group(1)) > 0, boot
    restart = q.find(out("mgr", r"race: at restart: (\d+) lives seen"))
    lives = int(re.search(r"(\d+) lives seen", restart).group(1))
    assert lives >= LIVES and "0 destroys taken" in restart
    # The rebooter was stopped and destroyed once the race was over, nothing else.
    assert q.find(keel(r"partition 'rebooter' \(id \d+\) destroyed by the management partition"))


def test_holes_and_host_devices(attack):
    q = attack
    manager_verdict(q)
    probed = q.find_all(out("mgr", r"holes: 0x[0-9a-f]+ (answered as a hole|stopped the reader)"))
    assert len(probed) >= 7
    # Whatever a hole read gave, it is all ones: never what the host has there.
    for line in q.find_all(r"\] peek\| peek: 0x[0-9a-f]+ reads 0x"):
        assert line.endswith("reads 0xffffffffffffffff"), line


def test_exception_loops_stopped(attack, arch):
    q = attack
    manager_verdict(q)
    for kind in ("db", "ac"):
        line = q.find(out("mgr", rf"excloop: {kind}: (\d+) exceptions intercepted"))
        if kind == "ac" and arch == "x86_64" and not line:
            # QEMU's TCG checks no alignment: no #AC to loop on (the VT-x run under Bochs has it).
            assert q.find(out("mgr", r"excloop: ac: the CPU raises none"))
            continue
        assert line, kind
        if arch == "x86_64":  # #DB and #AC are intercepted there: each round is an exit
            assert int(re.search(r"(\d+) exceptions", line).group(1)) > 100
    assert not q.find(keel(r"error: partition 'excloop' stopped"))
    assert len(q.find_all(keel(r"partition 'excloop' \(id \d+\) destroyed"))) == 2


def test_spinning_guest_stopped(attack):
    """A guest that never exits, interrupts masked or not: a forced stop ends it."""
    manager_verdict(attack)
    for irq in ("off", "on"):
        assert attack.find(out("mgr", rf"spinstop: a spinning guest \(interrupts {irq}\) stopped"))


def test_interrupt_storm(attack):
    q = attack
    manager_verdict(q)
    assert q.find(out("mgr", r"storm: child said: TEST storm PASS"))


def test_sweep(attack):
    q = attack
    v = q.wait_for(out("sweep", r"TEST sweep (PASS|FAIL)"), 840)
    assert v.endswith("PASS"), q.find_all(out("sweep", r"check failed|sweep: "))
    assert q.find(out("sweep", r"sweep: 100000 random hypercalls from kernel mode: .* 0 other"))
    assert q.find(out("sweep", r"sweep: 10000 random hypercalls from user mode: .* 0 reached Keel"))


def test_console_flood_contained(attack, arch):
    """The flood gets its share of the UART and no more; the ticker keeps its pace."""
    q = attack
    manager_verdict(q)
    # The manager starts both last, so the flood competes with the ticker alone.
    q.wait_for(keel(r"partition 'ticker' started"), 120)
    start = q.wait_for(keel(r"partition 'flood' started"), 120)
    ticks = []
    end = q.wait_for(out("ticker", r"tick 40 "), 300, after=start.index)
    for line in q.find_all(out("ticker", r"tick \d+ "), after=start.index):
        if line.index > end.index:
            break
        ticks.append(float(re.match(r"\[\s*([\d.]+)\]", line).group(1)))
    flood_lines = q.find_all(r"\] flood\| abcdefghij", after=start.index)
    window = ticks[-1] - ticks[0]
    flood_bytes = sum(len(l) for l in flood_lines if l.index <= end.index)
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    dropped = q.find(keel(r"warning: partition 'flood': \d+ console bytes dropped"))
    assert dropped, "the flood was never cut"
    # Its share: a 64 KiB burst plus 16 KiB/s (and one line of slack).
    assert flood_bytes <= 65536 + 16384 * window + 4200, (flood_bytes, window)
    # The ticker's lines come at its own pace: no gap much longer than the typical one.
    typical = sorted(gaps)[len(gaps) // 2]
    assert max(gaps) < max(10 * typical, 2.0), (typical, max(gaps))
