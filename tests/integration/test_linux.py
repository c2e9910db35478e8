# SPDX-License-Identifier: MIT
"""Debian's own kernels in Keel microVMs (issue 3), on both arches.

A kernel with 2 vCPUs reaches the busybox initramfs, which sees 2 CPUs,
reads the virtio-blk disk (the checksum the test computes from the image),
writes a sector and reads it back, reads /dev/hwrng and answers a line typed
on the console, then powers off; two microVMs run side by side while a
bare-metal ticker prints, on one network of Keel's switch they ping each other
and move 64 MiB over TCP, one powers off and the others go on; reboot
restarts a microVM or stops it, per on_reboot. test_assets_boot_without_keel
boots the same files straight under QEMU, so a failure there is the assets'.

Marked `linux`: part of make test; --no-linux leaves them out. The
lines /init prints are listed in linuxrig.py.
"""

import hashlib
import os
import re

import pytest

import linuxrig
from keelrig import keel, keel_cfg, partition
from linuxrig import cmdline, linux_partition, said, value

pytestmark = pytest.mark.linux

FIRST_MARKER_S = 240  # QEMU start -> /init's first line; ~7 s direct under TCG
STEP_S = 90  # between two /init lines


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def typed_line(arch):
    """What the test types on the console: different on every run."""
    return f"keel says hi {arch} {os.getpid()}"


@pytest.fixture(scope="module")
def assets(rig, arch):
    return linuxrig.assets(arch, rig.build)


def expect(q, name, text, timeout, after=0):
    """The line partition @name (None: a direct boot) prints matching @text;
    fails at once if Keel reports an error for that partition instead."""
    __tracebackhide__ = True
    if name is None:
        return q.wait_for(said(None, text), timeout, after=after)
    hit = q.wait_for(f"{said(name, text)}|{keel(f'error: partition {name!r}')}", timeout,
                     after=after)
    assert not re.search(keel("error: "), hit), f"Keel reported instead: {hit}"
    return hit


def check_init(q, arch, name, disk_sha, rw=True, to_disk=STEP_S):
    """/init's lines in order: start, cpus, disk checksum, write-back, rng. The cpus= line.
    @to_disk: seconds from cpus to the disk line (the network and vsock steps come between)."""
    start = expect(q, name, f"KEEL-INIT {arch} start", FIRST_MARKER_S)
    cpus = q.wait_for(said(name, r"cpus=\d+"), STEP_S, after=start.index)
    disk = q.wait_for(said(name, r"(disk-sha256=|disk=none)"), to_disk, after=cpus.index)
    assert value(disk, "disk-sha256") == disk_sha, f"disk checksum: {disk}, image has {disk_sha}"
    if rw:
        wrote = q.wait_for(said(name, r"disk-rw="), STEP_S, after=disk.index)
        assert value(wrote, "disk-rw") == "ok", wrote
    rng = q.wait_for(said(name, r"rng="), STEP_S, after=disk.index)
    m = re.search(r"rng=ok ([0-9a-f]{64}) src=(\S+)", rng)
    assert m, rng
    assert m.group(1) != "0" * 64, f"/dev/hwrng gave zeros: {rng}"
    assert m.group(2).startswith("virtio_rng"), f"hwrng source is not virtio-rng: {rng}"
    return cpus


# ------------------------------------------------- the assets, without Keel


def test_assets_boot_without_keel(rig, arch, assets, tmp_path):
    """The kernel + initramfs under plain QEMU -kernel (virtio-pci on q35, virtio-mmio on virt)."""
    disk = assets.disk("disk-direct.img", tmp_path)
    disk_sha = sha256(disk)
    sock = tmp_path / "hvc0.sock"
    argv = linuxrig.direct_argv(arch, assets, disk, sock, cmdline(arch, wait=120))
    log = rig.build / arch / "test-logs" / "linux-direct.log"
    with linuxrig.LinuxQemu(argv, log, hard_timeout=240, name=f"{arch} linux-direct") as q:
        q.nodeid = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        rig.runs.append(q)
        cpus = check_init(q, arch, None, disk_sha)
        assert value(cpus, "cpus") == "2", cpus
        q.wait_for(said(None, "console=ready hvc0"), STEP_S)
        line = typed_line(arch)
        linuxrig.send_socket(sock, line + "\n")
        q.wait_for(said(None, f"echo: {re.escape(line)}$"), STEP_S)
        q.wait_for(said(None, "KEEL-INIT done .*after=poweroff"), STEP_S)
        assert q.wait_exit(60) == 0
    last = disk.read_bytes()[-512:]
    assert last.startswith(f"KEEL-RW {arch} ".encode()), f"written sector not on the disk: {last[:40]}"


# ------------------------------------------------------ one Linux microVM


@pytest.fixture(scope="module")
def single(rig, arch, assets):
    disk = assets.disk("disk.img")
    sha = sha256(disk)
    config = keel_cfg(linux_partition("linux", "1-2", cmdline(arch, wait=180, hotplug=True),
                                      disk=disk, on_reboot="stop"), on_idle="poweroff")
    q = linuxrig.boot_keel(rig, arch, config, "linux-single", assets, [disk], smp=3,
                           timeout=420)
    line = typed_line(arch)
    q.answer(said("linux", "console=ready"), line + "\n")
    with q:
        yield q, sha, line


def test_kernel_reaches_initramfs(single, arch):
    q, _, _ = single
    banner = expect(q, "linux", r"(\[ *\d+\.\d+\] )?Linux version ", FIRST_MARKER_S)
    q.wait_for(said("linux", f"KEEL-INIT {arch} start"), FIRST_MARKER_S, after=banner.index)


def test_sees_two_cpus(single, arch):
    q, sha, _ = single
    cpus = expect(q, "linux", r"cpus=\d+", FIRST_MARKER_S)
    assert value(cpus, "cpus") == "2", cpus
    assert value(cpus, "online") == "0-1", cpus


def test_cpu_hotplug(single, arch):
    """CPU 1 goes offline and comes back (x86_64: INIT/SIPI to a started vCPU;
    arm64: PSCI CPU_OFF, AFFINITY_INFO, CPU_ON)."""
    q, _, _ = single
    line = expect(q, "linux", r"hotplug: ", FIRST_MARKER_S)
    assert line.endswith("hotplug: offline=0 online=0-1"), line


def test_disk_rng(single, arch):
    q, sha, _ = single
    check_init(q, arch, "linux", sha)


def test_console_line_answered(single, arch):
    q, _, line = single
    expect(q, "linux", "console=ready hvc0", FIRST_MARKER_S)
    answer = q.wait_for(said("linux", "echo: "), STEP_S)
    assert answer.endswith(f"echo: {line}"), answer


def test_clean_log_and_trusted_clock(single, arch):
    """No Keel warning about the partition and no kernel warning or error line
    (beyond linuxrig.KLOG_ALLOWED); the clocksource Linux trusts without exits."""
    q, _, _ = single
    findings = linuxrig.klog_findings(q, arch, "linux")
    assert not findings, f"kernel warnings/errors: {findings}"
    clock = q.wait_for(said("linux", r"clocksource=\S+"), STEP_S)
    assert value(clock, "clocksource") == linuxrig.expected_clocksource(q, arch, clock), clock
    assert not q.find(said("linux", r".*clocksource .* unstable")), "a clocksource went unstable"
    assert not linuxrig.keel_warnings(q, "linux"), linuxrig.keel_warnings(q, "linux")


def test_poweroff_stops_partition(single, arch):
    q, _, _ = single
    done = expect(q, "linux", "KEEL-INIT done .*after=poweroff", FIRST_MARKER_S + STEP_S)
    stopped = q.wait_for(keel(r"partition 'linux' stopped"), 60, after=done.index)
    assert q.find(said("linux", ""), after=stopped.index + 1) is None, "output after the stop"
    rc = q.wait_exit(60)  # on_idle = poweroff
    assert rc == 0, f"QEMU exit code {rc}"
    bad = q.find_all(r"keel: error|PANIC|Kernel panic")
    assert not bad, f"unexpected errors: {bad}"


# ------------------------------- two microVMs and a ticker, one powers off


NET_MIB = 64  # moved from linb to lina over Keel's switch
VSOCK_CID = {"lina": 3, "linb": 4}  # vsock = auto, in file order
VSOCK_STALLED = 5  # nethost's: it posts no receive buffers
VSOCK_PORT = 5000  # linb's echo (linb stays up; lina powers off once done)
VSOCK_MIB = 16  # lina -> linb's echo -> lina


@pytest.fixture(scope="module")
def pair(rig, arch, assets):
    disks = {n: assets.disk(f"disk-{n}.img") for n in ("lina", "linb")}
    net = f"keel.netpeer={{}} keel.netmb={NET_MIB}"
    config = keel_cfg(
        "[network lan]\n",
        linux_partition("lina", "1-2", cmdline(arch, wait=0, extra=(
            "keel.net=10.1.0.1/24 keel.netrole=recv " + net.format("10.1.0.2")
            + f" keel.vsockto={VSOCK_STALLED}:1"
            + f" keel.vsocksend={VSOCK_CID['linb']}:{VSOCK_PORT}:{VSOCK_MIB}")),
            disk=disks["lina"], on_reboot="stop", net="lan", vsock="auto"),
        linux_partition("linb", "3-4", cmdline(arch, wait=0, alive=900, extra=(
            "keel.net=10.1.0.2/24 keel.netrole=send keel.netflood=10.1.0.99 "
            + net.format("10.1.0.1") + f" keel.vsockecho={VSOCK_PORT}")),
            disk=disks["linb"], on_reboot="stop", net="lan, mac=02:6b:65:65:6c:02",
            vsock="auto"),
        partition("ticker", 5, "mode=ticker pace=30000", memory="16M"),
        # A bare-metal NIC and vsock device on the same network, used wrongly on
        # purpose (testguest.c); it lingers past linb's vsock steps.
        partition("nethost", 0, "mode=nethostile linger=150", memory="16M", net="lan",
                  vsock=str(VSOCK_STALLED)),
        # Floods the network while linb pings lina, cued by linb's ARP for 10.1.0.99.
        partition("flood", 6, "mode=netflood target=10.1.0.99 for=10 then=idle", memory="16M",
                  net="lan"),
        on_idle="stay")
    with linuxrig.boot_keel(rig, arch, config, "linux-pair", assets, disks.values(),
                            smp=7, timeout=600) as q:
        yield q, {n: sha256(p) for n, p in disks.items()}


def test_pair_both_boot(pair, arch):
    q, shas = pair
    assert shas["lina"] != shas["linb"]
    for name in ("lina", "linb"):
        check_init(q, arch, name, shas[name], to_disk=4 * STEP_S)


def test_pair_on_one_network(pair, arch):
    """Both join network 'lan' (lina's address derived, linb's as given), ping each
    other through Keel's switch, and 64 MiB from linb reach lina intact (TCP, sha256
    on both ends)."""
    q, _ = pair
    q.wait_for(keel(r"partition 'lina': 02:[0-9a-f:]{14} on network 'lan'"), 60)
    q.wait_for(keel(r"partition 'linb': 02:6b:65:65:6c:02 on network 'lan'"), 60)
    for name, peer in (("lina", "10.1.0.2"), ("linb", "10.1.0.1")):
        up = expect(q, name, r"net=up if=\S+ addr=\S+ mac=\S+", FIRST_MARKER_S)
        ping = expect(q, name, rf"net-ping peer={peer} .*", STEP_S, after=up.index)
        assert re.search(r"5 packets transmitted, 5 (packets )?received", ping), ping
    sent = expect(q, "linb", r"net-sent mib=\d+ sha256=[0-9a-f]{64}", 2 * STEP_S)
    got = expect(q, "lina", r"net-got mib=\d+ sha256=[0-9a-f]{64}", 2 * STEP_S)
    assert value(sent, "sha256") == value(got, "sha256"), (sent, got)
    assert value(got, "mib") == str(NET_MIB)


def test_hostile_nic_dropped_and_counted(pair, arch):
    """nethost sends good frames, spoofed source addresses, oversized and runt
    frames, then a chain with a 4-byte header, beside the pair's traffic, and never
    refills its receive queue after the first frame. Each bad frame is dropped and
    counted and the device goes on; the bad header makes it want a reset, after which
    it works again; frames to it are dropped at its port, never waited for. Keel's
    line as its port leaves the network gives the counts. (The pair's ping and
    64 MiB transfer, checked beside, go on.)"""
    q, _ = pair
    verdict = q.wait_for(said("nethost", r"TEST nethostile (PASS|FAIL.*)"), 4 * STEP_S)
    assert "PASS" in verdict, q.find_all(said("nethost", r"nethostile: .*|.*FAIL.*"))
    heard = q.find(said("nethost", r"nethostile: heard \d+ bytes from (\S+)"))
    assert heard, "nethost heard nothing from the pair"
    macs = {value(q.find(said(n, r"net=up .*")), "mac") for n in ("lina", "linb")}
    assert heard.split()[-1] in macs, (heard, macs)
    assert q.find(said("nethost", r"nethostile: 8-byte chain \(header 12\) -> status 0x\w+ NEEDS_RESET"))
    assert q.find(keel(r"warning: partition 'nethost': virtio-net at \w+ needs reset: transmit chain "
                       r"without a whole header"))
    left = q.wait_for(keel(r"partition 'nethost': left network 'lan': .*"), 300)
    m = re.search(r"sent (\d+) frames \((\d+) bytes\), received (\d+) \(\d+ bytes\), dropped "
                  r"spoofed=(\d+) runt=(\d+) oversize=(\d+) malformed=(\d+) no_buffer=(\d+)", left)
    assert m, left
    sent, sent_bytes, got, spoofed, runt, oversize, malformed, no_buffer = map(int, m.groups())
    assert (sent, sent_bytes, got) == (5, 300, 1), left
    assert (spoofed, runt, oversize, malformed) == (3, 2, 2, 1), left
    assert no_buffer >= 1, left  # the pair's later broadcasts found no buffer


def test_vsock_past_a_stalled_receiver(pair, arch):
    """lina connects to nethost, whose vsock device never posts a receive buffer:
    the request waits in Keel, and after 10 s Keel resets that connection (a
    warning naming both) so lina's queue moves on. Then 16 MiB from lina go
    through linb's echo and come back intact (sha256 both ways). nethost's own
    packet with another source CID is dropped and counted, and one whose length
    lies makes its device want a reset; neither touches the others."""
    q, _ = pair
    assert q.find(keel(rf"partition 'nethost': vsock CID {VSOCK_STALLED}(?!\d)"))
    assert expect(q, "linb", rf"vsock-echo port={VSOCK_PORT}", 3 * STEP_S)
    tried = expect(q, "lina", rf"vsock-connect to={VSOCK_STALLED}:1 .*", 3 * STEP_S)
    assert "error=" in tried, tried  # nobody took the request: timed out or reset
    sent = expect(q, "lina", r"vsock-sent .*", 5 * STEP_S, after=tried.index)
    assert value(sent, "to") == f"{VSOCK_CID['linb']}:{VSOCK_PORT}", sent
    assert value(sent, "sha256") == value(sent, "back") and value(sent, "mib") == str(VSOCK_MIB), sent
    print(f"vsock {arch}: lina <-> linb's echo, {VSOCK_MIB} MiB each way in "
          f"{value(sent, 'secs')} s, after a stalled receiver")
    assert q.find(keel(rf"warning: partition 'lina': vsock: partition 'nethost' \(CID "
                       rf"{VSOCK_STALLED}\) took nothing for 10 s: connection from port \d+ "
                       r"to port 1 reset"))
    for line in (r"vsockhostile: source cid 77 -> taken 1, status 0x[0-9a-f]+$",
                 r"vsockhostile: len 100 with 10 bytes -> status 0x\w+ NEEDS_RESET",
                 r"vsockhostile: reset; no receive buffers from now on"):
        assert q.find(said("nethost", line)), line
    assert q.find(keel(r"warning: partition 'nethost': virtio-vsock at \w+ needs reset: "
                       r"transmit chain"))
    closed = q.wait_for(keel(r"partition 'nethost': vsock CID \d+ closed: .*"), 300)
    m = re.search(r"sent (\d+) packets .* dropped spoofed=(\d+)", closed)
    assert m and (m.group(1), m.group(2)) == ("0", "1"), closed


def test_ping_during_a_flood(pair, arch):
    """'flood' sends 1514-byte broadcasts as fast as Keel takes them for 10 s, each
    reaching every other port of 'lan', while linb pings lina 20 times: the round
    trip stays bounded and the pings get through. The figures are printed."""
    q, _ = pair
    calm = expect(q, "linb", r"net-ping peer=10\.1\.0\.1 .*", FIRST_MARKER_S)
    during = expect(q, "linb", r"net-flood-ping peer=10\.1\.0\.1 .*", STEP_S, after=calm.index)
    sent = q.wait_for(said("flood", r"netflood: sent \d+ frames .*"), STEP_S)
    print(f"\n[{arch}] calm:   {calm.split('| ', 1)[1]}\n[{arch}] during: "
          f"{during.split('| ', 1)[1]}\n[{arch}] {sent.split('| ', 1)[1]}")
    assert q.wait_for(said("flood", r"TEST netflood PASS"), 60)
    frames = int(re.search(r"sent (\d+) frames", sent).group(1))
    assert frames >= 1000, sent  # a flood, not a trickle
    m = re.search(r"20 packets transmitted, (\d+) (packets )?received", during)
    assert m and int(m.group(1)) >= 18, during
    rtt = re.search(r"min/avg/max = ([\d.]+)/([\d.]+)/([\d.]+) ms", during)
    assert rtt and float(rtt.group(3)) < 1000, during  # bounded: no reply waited a second


def test_one_powers_off_others_go_on(pair, arch):
    q, _ = pair
    expect(q, "linb", f"KEEL-INIT {arch} start", FIRST_MARKER_S)
    done = expect(q, "lina", "KEEL-INIT done .*after=poweroff", FIRST_MARKER_S + 2 * STEP_S)
    stopped = q.wait_for(keel(r"partition 'lina' stopped"), 60, after=done.index)
    alive = q.wait_for(said("linb", r"alive \d+"), STEP_S, after=stopped.index)
    q.wait_for(said("linb", r"alive \d+"), STEP_S, after=alive.index + 1)
    tick = q.wait_for(said("ticker", r"tick \d+"), STEP_S, after=stopped.index)
    q.wait_for(said("ticker", r"tick \d+"), STEP_S, after=tick.index + 1)
    assert q.running(), "QEMU exited"
    assert not q.find(keel(r"partition 'linb' stopped")), "linb stopped too"
    bad = q.find_all(r"keel: error|PANIC|Kernel panic")
    assert not bad, f"unexpected errors: {bad}"


# ----------------------------------------------- reboot: restart or stop


@pytest.fixture(scope="module")
def reboots(rig, arch, assets):
    """Also, on x86_64, 'vml': the same kernel as an uncompressed vmlinux ELF."""
    names = ("again", "once", "vml") if arch == "x86_64" else ("again", "once")
    disks = {n: assets.disk(f"disk-{n}.img") for n in names}
    parts = [
        linux_partition("again", 1, cmdline(arch, after="reboot", wait=0),
                        disk=disks["again"], on_reboot="restart"),
        linux_partition("once", 2, cmdline(arch, after="reboot", wait=0),
                        disk=disks["once"], on_reboot="stop")]
    if "vml" in disks:
        parts.append(linux_partition("vml", 3, cmdline(arch, wait=0), disk=disks["vml"],
                                     on_reboot="stop").replace(
            f"\\{linuxrig.KERNEL_NAME_ANY}", "\\vmlinux"))
    config = keel_cfg(*parts, on_idle="stay")
    with linuxrig.boot_keel(rig, arch, config, "linux-reboot", assets, disks.values(),
                            smp=len(names) + 1, timeout=600, vmlinux="vml" in disks) as q:
        yield q, {n: sha256(p) for n, p in disks.items()}


def test_reboot_restarts(reboots, arch):
    q, _ = reboots
    done = expect(q, "again", "KEEL-INIT done .*after=reboot", FIRST_MARKER_S + STEP_S)
    again = q.wait_for(said("again", f"KEEL-INIT {arch} start"), FIRST_MARKER_S, after=done.index)
    cpus = q.wait_for(said("again", r"cpus=\d+"), STEP_S, after=again.index)
    assert value(cpus, "cpus") == "1", cpus


def test_reboot_with_on_reboot_stop(reboots, arch):
    q, _ = reboots
    done = expect(q, "once", "KEEL-INIT done .*after=reboot", FIRST_MARKER_S + STEP_S)
    stopped = q.wait_for(keel(r"partition 'once' stopped"), 60, after=done.index)
    assert q.find(said("once", f"KEEL-INIT {arch} start"), after=stopped.index) is None, \
        "restarted despite on_reboot = stop"


@pytest.mark.x86_64_only
def test_vmlinux_boots_uncompressed(reboots, arch):
    """keel.cfg's kernel may be the vmlinux ELF: Keel loads its segments where they
    say and enters startup_64 with boot_params it writes itself (a vmlinux has no
    setup header), so the kernel skips its own decompression and still finds its
    command line, initrd, ACPI tables and memory map: /init runs its checks."""
    q, shas = reboots
    loaded = q.wait_for(keel(r"partition 'vml': Linux boot protocol 2\.15, uncompressed "
                             r"vmlinux at 0x1000000 \(image \d+ KiB\)"), FIRST_MARKER_S)
    check_init(q, arch, "vml", shas["vml"])
    done = expect(q, "vml", "KEEL-INIT done .*after=poweroff", STEP_S)
    q.wait_for(keel(r"partition 'vml' stopped: powered off by the guest"), STEP_S,
               after=done.index)
    assert not linuxrig.klog_findings(q, arch, "vml"), linuxrig.klog_findings(q, arch, "vml")
    assert loaded.index < done.index


# --------------------------- 4 vCPUs under a CPU- and timer-heavy load


# Longer than the kernel's RCU stall timeout (21 s) and soft-lockup threshold (20 s) in
# Debian's config, so a stall or lockup under load would be reported; no longer than that
# needs (each second of it is ~2 s of wall clock per arch under TCG).
LOAD_S = 30


@pytest.fixture(scope="module")
def loaded(rig, arch, assets):
    disk = assets.disk("disk-load.img")
    config = keel_cfg(linux_partition("load", "1-4", cmdline(arch, wait=0, load=LOAD_S),
                                      disk=disk, on_reboot="stop"), on_idle="poweroff")
    with linuxrig.boot_keel(rig, arch, config, "linux-load", assets, [disk], smp=5,
                            timeout=900) as q:
        yield q


def test_four_vcpus_under_load(loaded, arch):
    """30 s of a busy loop per vCPU and 1 ms sleeps: the clocksource does not
    change and the kernel reports no RCU stall, soft lockup or other warning."""
    q = loaded
    cpus = expect(q, "load", r"cpus=\d+", FIRST_MARKER_S)
    assert value(cpus, "cpus") == "4", cpus
    done = expect(q, "load", r"load: \d+s on \d+ cpus", LOAD_S * 4 + STEP_S, after=cpus.index)
    m = re.search(r"load: (\d+)s on (\d+) cpus, clocksource (\S+) -> (\S+)$", done)
    assert m and m.group(1) == str(LOAD_S) and m.group(2) == "4", done
    assert m.group(3) == m.group(4), f"the clocksource changed under load: {done}"
    findings = linuxrig.klog_findings(q, arch, "load")
    assert not findings, f"kernel warnings/errors under load: {findings}"
    clock = q.wait_for(said("load", r"clocksource=\S+"), STEP_S)
    assert value(clock, "clocksource") == linuxrig.expected_clocksource(q, arch, clock), clock
    q.wait_for(keel(r"partition 'load' stopped: powered off by the guest"), STEP_S)
    assert not linuxrig.keel_warnings(q, "load"), linuxrig.keel_warnings(q, "load")
