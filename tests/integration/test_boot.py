# SPDX-License-Identifier: MIT
"""Boot with three small partitions: every CPU comes up, two guests on their
own cores print and make hypercalls, one shuts itself down, and once all have
stopped Keel powers the machine off (on_idle = poweroff)."""

import re

import pytest

from keelrig import ABI_RE, ARCHES, TESTGUEST, boot_timeline, check_timeline, keel, keel_cfg, out, partition

PARTS = [  # name, cpu, MiB, mode
    ("alpha", 1, 64, "hello"),
    ("beta", 2, 32, "hello"),
    ("quitter", 3, 16, "shutdown"),
]
CONFIG = keel_cfg(*(partition(n, c, f"mode={m}", memory=f"{mb}M") for n, c, mb, m in PARTS))
VIRT = {"x86_64": r"(svm\+npt|vmx\+ept)", "aarch64": r"el2\+stage2"}
# What QEMU's "max" CPUs need: x86 is an AMD CPU (no L1TF); arm64's is no core Arm lists
# (test_arm_cores.py boots the ones that need a branch-history loop).
SPECULATION = {
    "x86_64": r"x86: speculation: SPEC_CTRL .*, return-stack fill (on|off), L1TF not affected",
    "aarch64": r"aarch64: speculation: cpu 0 \(MIDR 0xf0510\): Spectre-BHB not needed "
               r"\(core not known to be affected\)",
}


@pytest.fixture(scope="module")
def basic(rig, arch):
    with rig.boot(arch, CONFIG, "basic") as q:
        yield q


def test_cpus_online(basic, arch):
    smp = basic.wait_for(keel(rf"smp: 4 of 4 CPUs online, {VIRT[arch]} on all"), 90)
    for cpu in (1, 2, 3):
        line = basic.find(keel(rf"cpu {cpu} online \(hwid 0x[0-9a-f]+\)"))
        assert line is not None and line.index < smp.index, f"no 'cpu {cpu} online' before: {smp}"


def test_memory_footprint_said(basic, arch):
    """Once every CPU is up and before any partition takes memory, Keel says what it
    holds itself, by part: the parts add up, it is a few MiB, the loader's data is a few
    pages, the boot image (the one test guest, page-rounded) is counted apart, and the
    rest is free."""
    smp = basic.wait_for(keel(r"smp: \d+ of \d+ CPUs online"), 90)
    line = basic.wait_for(keel(r"memory: Keel holds (\d+) KiB of (\d+) MiB \(core image "
                               r"(\d+) KiB, loader data (\d+) KiB, tables and state (\d+) "
                               r"KiB\); boot images (\d+) KiB; (\d+) MiB free$"), 30,
                          after=smp.index)
    first = basic.wait_for(keel(r"partition '\w+' \(id \d+\)"), 30)
    assert line.index < first.index, "the footprint came after a partition took memory"
    held, ram, core, loader, tables, images, free = map(int, re.findall(r"\d+", line.split(
        "Keel holds ")[1]))
    assert held == core + loader + tables, line
    assert 0 < core and 0 < tables and held < 8 * 1024, line
    # The loader keeps the firmware's device tree without its padding (QEMU's is 1 MiB).
    assert loader < 128, line
    assert 0 < images < 4096, line  # testguest.elf, a few hundred KiB
    assert ram - 8 <= free + (held + images) // 1024 <= ram, line


def test_boot_timeline(basic, arch, rig):
    """One table, once: the loader's steps (with the one image's size), the
    core's entry, every CPU online and each partition's first instruction, in
    time order (ms since the clock counter started at reset)."""
    rows = boot_timeline(basic)
    size = (rig.build / arch / "guests" / TESTGUEST).stat().st_size
    check_timeline(rows, 4, [n for n, *_ in PARTS], [(f"/guests/{TESTGUEST}", size)])
    assert len(basic.find_all(keel(r"boot timeline "))) == 1


def test_speculation_choices_said(basic, arch):
    basic.wait_for(keel(SPECULATION[arch]), 60)


def test_pci_enumerated(basic, arch):
    """The host's ECAM window (x86_64: the MCFG's; aarch64: the device tree's
    pci-host-ecam-generic) is enumerated before the partitions start; the machine's
    host bridge (q35's, virt's) is listed and bus mastering is off."""
    host_bridge = ARCHES[arch]["host_bridge"]
    bridge = basic.wait_for(keel(rf"pci 0000:00:00\.0 {host_bridge} class 060000 group \d+$"),
                            60)
    summary = basic.wait_for(keel(r"pci: \d+ functions on segment 0000, "
                                  r"bus master turned off on \d+$"), 30, after=bridge.index)
    started = basic.wait_for(keel(r"partition '\w+' started"), 90)
    assert summary.index < started.index, "PCI enumerated after a partition started"


def test_two_partitions_run_own_code(basic, arch):
    for name, cpu, mib, mode in PARTS:
        if mode == "hello":
            check_hello(basic, arch, name, cpu, mib)


def check_hello(q, arch, name, cpu, mib):
    """A hello guest's own lines: info, version, self info (its name, id, cpu), verdict.

    Ids are compared with the one Keel announced: a stopped partition's id is reused."""
    ready = q.wait_for(keel(rf"partition '{name}' \(id (\d+)\): cpus {cpu}, {mib} MiB"), 90)
    pid = ready.split("(id ")[1].split(")")[0]
    started = q.wait_for(keel(rf"partition '{name}' started"), 30, after=ready.index)
    base = ARCHES[arch]["ram_base"]
    q.wait_for(out(name, rf"info: name={name} id={pid} vcpus=1 "
                         rf"mem=0x{base:x}\+0x{mib << 20:x} cmdline='mode=hello'"),
               30, after=started.index)
    q.wait_for(out(name, rf"version: status 0 abi {ABI_RE} features 0x[0-9a-f]*3 via \w+"), 30)
    q.wait_for(out(name, rf"self: name={name} id={pid} cpus=0x{1 << cpu:x} vcpu=0/1 "), 30)
    q.wait_for(out(name, rf"hello from {name}$"), 30)
    verdict = q.wait_for(out(name, r"TEST hello (PASS|FAIL)"), 30)
    assert verdict.endswith("TEST hello PASS"), q.find_all(out(name, "check failed"))


def test_shutdown_stops_cleanly(basic, arch):
    said = basic.wait_for(out("quitter", "shutdown: calling KEEL_HC_SHUTDOWN"), 90)
    stopped = basic.wait_for(keel(r"partition 'quitter' stopped: "), 30, after=said.index)
    assert not basic.find(keel(r"error: partition 'quitter'")), "shutdown reported as an error"
    assert not basic.find(out("quitter", ""), after=stopped.index + 1), "output after the stop"
    assert not basic.find(out("quitter", "TEST shutdown FAIL"))


def test_poweroff_when_idle(basic, arch):
    for name, _, _, _ in PARTS:
        basic.wait_for(keel(rf"partition '{name}' stopped: "), 90)
    rc = basic.wait_exit(60)
    assert rc == 0, f"QEMU exit code {rc}"
    bad = basic.find_all(r"keel: error|PANIC")
    assert not bad, f"unexpected errors: {bad}"
