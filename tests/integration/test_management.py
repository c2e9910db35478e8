# SPDX-License-Identifier: MIT
"""Management hypercalls: the management partition (a bare-metal test guest)
creates a partition from the ELF it got as its initrd, loads, starts, reads its
console, pauses, stops and destroys it, and sees the free memory back to the
byte on every cycle; a normal partition's management calls are refused and
counted."""

import re

import pytest

from keelrig import TESTGUEST, keel, keel_cfg, out, partition

CONFIG = keel_cfg(
    partition("mgr", 1, "mode=manage pauses=1000", memory="32M", management="yes",
              initrd="/guests/" + TESTGUEST),
    partition("plain", 3, "mode=denied then=idle", memory="16M"))


@pytest.fixture(scope="module")
def managed(rig, arch):
    with rig.boot(arch, CONFIG, "management") as q:
        yield q


def test_manage_lifecycle(managed):
    q = managed
    verdict = q.wait_for(out("mgr", r"TEST manage (PASS|FAIL)"), 240)
    assert verdict.endswith("PASS"), (q.find_all(out("mgr", "check failed")) +
                                      q.find_all(out("mgr", "hostile: .*WRONG")))
    # The child ran under Keel, and the manager saw its output through CONSOLE_READ.
    assert q.find(out("child", r"hello from child"))
    assert q.find(out("mgr", r"manage: child said: hello from child"))
    assert q.find(out("mgr", r"manage: child said: TEST hello PASS"))
    assert q.find(keel(r"partition 'child' paused by the management partition \(every vCPU "
                       r"parked within \d+ us\)"))
    # PAUSE returns once the child's vCPU has parked: STATS right after shows it
    # parked, and the child makes no exit until RESUME, 1,000 times over.
    assert q.find(out("mgr", r"manage: paused: state 6, 1 of 1 vCPUs parked"))
    cycles = q.find(out("mgr", r"manage: \d+ pause/resume cycles: "))
    assert re.search(r"1000 pause/resume cycles: 0 with a vCPU not parked, 0 with the child "
                     r"moving while paused; it wrote [1-9]\d* console bytes", cycles or ""), cycles
    # The round trip: PAUSE saved the child's state and wiped its core, RESUME put it
    # back; the child (then=keep) read back its markers in every register class all
    # along (FP/SIMD, XCR0/PKRU, CR2, debug registers, MSRs; EL1 registers, timers,
    # PAuth keys) and lost none, before and after the 1,000 cycles.
    assert q.find(out("child", r"plant: markers in "))
    kept = q.find_all(out("child", r"keep: \d+ rounds of \d+ registers, \d+ values lost"))
    assert kept and all(k.endswith(", 0 values lost") for k in kept), kept[-3:]
    after = q.wait_for(out("child", r"keep: \d+ rounds"), 60, after=cycles.index)
    assert after.endswith(", 0 values lost"), after
    assert not q.find_all(out("child", r"keep: LOST"))
    assert q.find(keel(r"partition 'child' stopped: stopped by the management partition: "
                       r"it did not power off in time"))
    assert q.find(keel(r"partition 'child' \(id \d+\) destroyed"))
    # The manager measures once Keel has finished booting 'plain'; from there
    # every cycle, the first after boot included, gives back every byte.
    for cycle in ("first", "second"):
        m = re.search(rf"{cycle} cycle: free memory (\d+) bytes before, (\d+) after",
                      q.find(out("mgr", rf"manage: {cycle} cycle: ")) or "")
        assert m and m.group(1) == m.group(2), (cycle, m)


def test_normal_partition_refused(managed):
    q = managed
    v = q.wait_for(out("plain", r"TEST denied (PASS|FAIL)"), 120)
    assert v.endswith("PASS")
    q.wait_for(out("mgr", r"manage: plain was refused 4 management calls"), 120)
    assert q.find(keel(r"warning: partition 'plain': management call 0x10[0-9a-f] refused"))


def test_all_stopped_poweroff(managed):
    q = managed
    for name in ("mgr", "plain"):
        q.wait_for(keel(rf"partition '{name}' stopped: "), 120)
    assert q.wait_exit(60) == 0
    assert not q.find_all(r"keel: error|PANIC")


def test_quick_cycles(rig, arch):
    """Create, start, force-stop and destroy a child over and over, the stop
    often before the child's CPU has entered it: each stop must complete (a vCPU
    stopped before it ever ran once left its partition STOPPING for ever)."""
    config = keel_cfg(partition("mgr", 1, "mode=manage cycles=150", memory="32M",
                                management="yes", initrd="/guests/" + TESTGUEST))
    with rig.boot(arch, config, "management-cycles") as q:
        verdict = q.wait_for(out("mgr", r"TEST cycles (PASS|FAIL)"), 120)
        assert verdict.endswith("PASS"), (q.find_all(out("mgr", "check failed")) +
                                          q.find_all(out("mgr", "cycles: ")))
        assert q.find(out("mgr", r"cycles: 150 cycles, "))
        assert q.wait_exit(60) == 0
        assert not q.find_all(r"keel: error|PANIC")


def test_destroy_stop_reboot_race(rig, arch):
    """Destroy racing stop racing a guest reboot, 500 times: a child with
    on_reboot = restart reboots as fast as it can, so Keel rebuilds it in its
    slot over and over; the manager stops it (forced, or asked) at a random
    moment and calls DESTROY until it is taken. No round leaves a partition
    stuck, an asked stop is answered by the guest's next reboot (no restart
    after it), and free memory, cores and slots end where they began."""
    config = keel_cfg(partition("mgr", 1, "mode=manage races=500", memory="32M",
                                management="yes", initrd="/guests/" + TESTGUEST))
    with rig.boot(arch, config, "management-races") as q:
        verdict = q.wait_for(out("mgr", r"TEST races (PASS|FAIL)"), 900)
        summary = q.find(out("mgr", r"races: \d+ rounds, "))
        assert verdict.endswith("PASS"), (q.find_all(out("mgr", "check failed")) +
                                          q.find_all(out("mgr", "races: ")))
        m = re.search(r"races: 500 rounds, (\d+) restarts; at the stop (\d+) running, "
                      r"(\d+) stopping, (\d+) building; (\d+) DESTROYs refused on the way "
                      r"down; (\d+) of (\d+) asked stops seen answered by a reboot", summary or "")
        assert m, summary
        restarts, running, stopping, building = (int(m.group(i)) for i in range(1, 5))
        # The rounds met the child in each phase of its reboot loop, hundreds of times.
        assert restarts >= 100 and min(running, stopping, building) >= 10, summary
        assert int(m.group(6)) == int(m.group(7)) > 0, summary
        assert q.find(out("mgr", r"races: free memory (\d+) bytes before, \1 after; "
                                 r"free cpus (0x[0-9a-f]+) before, \2 after"))
        assert q.find(keel(r"partition 'rbt' stopped: reboot requested by the guest"))
        assert not q.find_all(r"keel: error|PANIC")

