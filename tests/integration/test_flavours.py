# SPDX-License-Identifier: MIT
"""Debian's other kernel flavours under Keel (issue 17), on both arches.

One Keel boot per arch runs Debian's generic, cloud and rt kernels, each with
2 vCPUs and with 1, side by side on their own cores, beside a management
partition. Each microVM reaches its /init with virtio block and rng working,
echoes a line sent to its virtio console (hvc0) by `keelctl console --send`
from the management shell, sees its CPUs, ends on
the clocksource Linux trusts without exits (linuxrig.expected_clocksource),
prints no kernel warning or error line (beyond linuxrig.KLOG_ALLOWED), draws
no Keel warning, and then waits until `keelctl stop`, typed into the
management shell, powers it off cleanly (exit 0, cause "guest"). Each line
`flavour NAME: init at S s, clocksource C` in the log
(build/<arch>/test-logs/linux-flavours.log) gives the figures.

The cloud kernels are the smallest Debian builds (no gpio-keys on arm64: they
hear keelctl stop on the control port, docs/guest-control.md).
Marked `linux`: part of make test; --no-linux leaves them out.
"""

import hashlib
import re

import pytest

import linuxrig
from keelrig import keel, keel_cfg, partition
from linuxrig import cmdline, linux_partition, said, value

pytestmark = pytest.mark.linux

INIT_S = 300  # QEMU start -> /init's first line, five kernels booting at once
STEP_S = 120
# (partition name, flavour, vCPUs)
GUESTS = [("cloud2", "cloud", 2), ("rt2", "rt", 2), ("generic2", "generic", 2),
          ("cloud1", "cloud", 1), ("rt1", "rt", 1), ("generic1", "generic", 1)]
CONSOLE_WAIT_S = 600  # each /init waits this long at its virtio console for the test's line


@pytest.fixture(scope="module")
def flavours(rig, arch):
    generic = linuxrig.assets(arch, rig.build)
    assert generic.mgmt_initrd.is_file(), "no mgmt-initrd.gz: keelctl was not built"
    # The management partition: the generic kernel with keelctl, on core 1.
    sections = [partition("mgmt", 1, "console=hvc0 loglevel=4 panic=-1", memory="384M",
                          kernel=f"\\{generic.esp_dir}\\{linuxrig.KERNEL_NAME_ANY}",
                          initrd=f"\\{generic.esp_dir}\\mgmt-initrd.gz", management="yes")]
    more, shas, core = {"generic": (generic, [])}, {}, 2
    for name, flavour, vcpus in GUESTS:
        a = linuxrig.assets(arch, rig.build, flavour)
        disk = a.disk(f"disk-{name}.img")
        shas[name] = hashlib.sha256(disk.read_bytes()).hexdigest()
        cpus = str(core) if vcpus == 1 else f"{core}-{core + vcpus - 1}"
        core += vcpus
        sections.append(linux_partition(name, cpus,
                                        cmdline(arch, wait=CONSOLE_WAIT_S, after="hold"),
                                        disk=disk, esp_dir=a.esp_dir, on_reboot="stop"))
        more.setdefault(flavour, (a, []))[1].append(disk)
    (first, first_disks), *rest = more.values()
    q = linuxrig.boot_keel(rig, arch, keel_cfg(*sections, on_idle="poweroff"), "linux-flavours",
                           first, first_disks, smp=core, mem="3G", timeout=900, more=rest,
                           mgmt=True)
    with q:
        yield q, shas


def expect(q, name, text, timeout, after=0):
    """Partition @name's line matching @text; fails at once on a Keel error about it."""
    hit = q.wait_for(f"{said(name, text)}|{keel(f'error: partition {name!r}')}", timeout,
                     after=after)
    assert not re.search(keel("error: "), hit), f"Keel reported instead: {hit}"
    return hit


@pytest.mark.parametrize("name,flavour,vcpus", GUESTS, ids=[g[0] for g in GUESTS])
def test_flavour_boots_clean(flavours, arch, name, flavour, vcpus):
    q, shas = flavours
    start = expect(q, name, f"KEEL-INIT {arch} start", INIT_S)
    up = expect(q, name, r"KEEL-INIT uptime=", STEP_S, after=start.index)
    cpus = expect(q, name, r"cpus=\d+", STEP_S, after=start.index)
    assert value(cpus, "cpus") == str(vcpus), cpus
    disk = expect(q, name, r"(disk-sha256=|disk=none)", STEP_S, after=cpus.index)
    assert value(disk, "disk-sha256") == shas[name], disk
    wrote = expect(q, name, r"disk-rw=", STEP_S, after=disk.index)
    assert value(wrote, "disk-rw") == "ok", wrote
    rng = expect(q, name, r"rng=", STEP_S, after=disk.index)
    assert re.search(r"rng=ok [0-9a-f]{64} src=virtio_rng", rng), rng
    # The virtio console: a line sent from the management shell comes back.
    ready = expect(q, name, "console=ready hvc0", STEP_S, after=rng.index)
    q.wait_for(r"KEEL-MGMT (ready|error)", INIT_S)
    q.send(f"keelctl console {name} --send 'hello {name}'\n")
    expect(q, name, f"echo: hello {name}$", STEP_S, after=ready.index)
    findings = linuxrig.klog_findings(q, arch, name)
    assert not findings, f"{name}: kernel warnings/errors: {findings}"
    clock = expect(q, name, r"clocksource=\S+", STEP_S, after=start.index)
    want = linuxrig.expected_clocksource(q, arch, clock)
    print(f"flavour {name} ({flavour}, {vcpus} vCPU, {arch}): init at "
          f"{value(up, 'uptime')} s, clocksource {value(clock, 'clocksource')}")
    assert value(clock, "clocksource") == want, clock
    expect(q, name, "KEEL-INIT done .*after=hold", STEP_S, after=clock.index)
    # keelctl stop, typed into the management shell: a clean power-off, whatever the kernel.
    rc, stop = linuxrig.typed_json(q, f"STOP-{name}", f"keelctl stop {name} --timeout 60 --json",
                                   STEP_S)
    assert rc == 0 and stop["cause"] == "guest" and stop["clean"] is True, (rc, stop)
    assert q.find(said(name, "KEEL-INIT (power button|control port): powering off"))
    q.wait_for(keel(rf"partition '{name}' stopped: powered off by the guest"), 60)
    assert not linuxrig.keel_warnings(q, name), linuxrig.keel_warnings(q, name)
