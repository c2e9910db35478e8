# SPDX-License-Identifier: MIT
"""Linux microVMs for the integration tests and `make bench`.

The Debian kernel, busybox initramfs and disk images that
tools/linux-assets.py builds; the keel.cfg section of a Linux partition; the
direct QEMU boot (-kernel, no Keel) of the same files; a QEMU run that also
takes console input (what a user types goes to QEMU's stdin) and remembers
when each line arrived; and the lines the initramfs's /init prints
(tools/linux-assets.init):

    KEEL-INIT <arch> start            first thing /init does
    KEEL-INIT uptime=<s>              kernel clock when /init started
    cpus=<N> online=<list>
    hotplug: offline=<list> online=<list>   with keel.hotplug=1: CPU 1 offline, then online
    disk-sha256=<hex> size=<bytes>    of the whole /dev/vda, before writing
    disk-rw=ok sector=<n>             a sector written, flushed and read back
    rng=ok <64 hex> src=<rng>         32 bytes from /dev/hwrng
    alive <k>                         once a second, k = 1..N, with keel.alive=N
    console=ready hvc0                then it reads one line from hvc0...
    echo: <line>                      ...and prints it
    load: <S>s on <N> cpus, clocksource <a> -> <b>   with keel.load=S
    klog: <N>text ... klog-end         the kernel's warning and error lines (levels 0-4)
    clocksource=<name> invtsc=yes|no available=<a,...>  at the end; invtsc: the CPU says constant_tsc and nonstop_tsc
    KEEL-INIT done uptime=<s> after=poweroff|reboot|halt
"""

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import keelrig

ASSETS_TOOL = keelrig.ROOT / "tools" / "linux-assets.py"
KERNEL_NAME = {"x86_64": "vmlinuz", "aarch64": "Image"}
# The kernel console: the UART model's device. /init's input comes from hvc0.
CONSOLE = {"x86_64": "ttyS0", "aarch64": "ttyAMA0"}
ESP_DIR = "linux"  # files go to \linux\ on the ESP
# The kernel's name on the ESP, the same on both arches: Keel tells a bzImage
# from an arm64 Image by its header.
KERNEL_NAME_ANY = "vmlinuz"
DIRECT = {  # direct QEMU boots: same machine and CPU as keelrig, virtio transport per machine
    "x86_64": {"machine": "q35", "bus": "pci"},
    "aarch64": {"machine": "virt,gic-version=3", "bus": "device"},
}

_tool = None
_built = {}


def tool():
    """tools/linux-assets.py as a module (its name has a dash)."""
    global _tool
    if _tool is None:
        spec = importlib.util.spec_from_file_location("linux_assets", ASSETS_TOOL)
        _tool = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_tool)
    return _tool


class Assets:
    """One arch's kernel, initrd and assets.json record, in <build>/<arch>/linux
    (Debian's generic kernel) or <build>/<arch>/linux-<flavour>; on the ESP
    under esp_dir (linux, linux-cloud, linux-rt)."""

    def __init__(self, arch, folder, record, flavour="generic"):
        self.arch = arch
        self.flavour = flavour
        self.esp_dir = ESP_DIR if flavour == "generic" else f"{ESP_DIR}-{flavour}"
        self.dir = Path(folder)
        self.kernel = self.dir / KERNEL_NAME[arch]
        self.initrd = self.dir / "initrd.gz"
        # The management partition's initramfs: keel.ko, keelctl, /images, /scripts.
        self.mgmt_initrd = self.dir / "mgmt-initrd.gz"
        self.record = record

    def disk(self, name, folder=None, size=None):
        """A fresh disk image @name (its pattern seeded by the name) in @folder
        (default: the assets folder); its path."""
        path = Path(folder or self.dir) / name
        tool().make_disk(path, size or tool().DISK_SIZE, name)
        return path


def assets(arch, build, flavour="generic"):
    """Build (or find up to date) the Linux assets for @arch and Debian kernel
    @flavour (generic, cloud, rt); once per process. The management partition's
    files (keel.ko, mgmt-initrd.gz) come with the generic kernel only."""
    key = (arch, str(build), flavour)
    if key not in _built:
        generic = flavour == "generic"
        folder = Path(build) / arch / ("linux" if generic else f"linux-{flavour}")
        keelctl = Path(build) / arch / "keelctl"
        guest = Path(build) / arch / "guests" / keelrig.TESTGUEST
        _built[key] = Assets(arch, folder, tool().build(
            arch, folder, keelctl=keelctl if generic and keelctl.is_file() else None,
            guest=guest if generic and guest.is_file() else None, flavour=flavour), flavour)
    return _built[key]


def cmdline(arch, after="poweroff", wait=60, alive=0, extra="", hotplug=False, load=0):
    """The kernel command line of a test microVM (quiet: loglevel=6 shows ~25 lines)."""
    words = [f"console={CONSOLE[arch]}", "panic=-1", "loglevel=6",
             f"keel.after={after}", f"keel.wait={wait}"]
    if alive:
        words.append(f"keel.alive={alive}")
    if hotplug:
        words.append("keel.hotplug=1")
    if load:
        words.append(f"keel.load={load}")
    return " ".join(words + ([extra] if extra else []))


def linux_partition(name, cpus, cmdline, disk=None, memory="256M", readonly=False,
                    esp_dir=ESP_DIR, **keys):
    """A [partition NAME] section booting the Debian kernel with our initramfs
    (from the ESP folder @esp_dir: Assets.esp_dir for another flavour)."""
    kernel = f"\\{esp_dir}\\{KERNEL_NAME_ANY}"
    keys["initrd"] = f"\\{esp_dir}\\initrd.gz"
    if disk:
        keys["disk"] = f"\\{esp_dir}\\{Path(disk).name}" + (",ro" if readonly else "")
    return keelrig.partition(name, cpus, cmdline, memory=memory, kernel=kernel, **keys)


def fill_esp(esp, a, disks=(), mgmt=False, vmlinux=False):
    """Copy the kernel, initrd and @disks (paths) into <esp>/<a.esp_dir>/ (with
    @mgmt also the management partition's mgmt-initrd.gz, with @vmlinux the
    x86_64 kernel uncompressed, as vmlinux, and as vmlinux.img: the same bytes
    padded to whole sectors, a disk a partition can read it from)."""
    d = Path(esp) / a.esp_dir
    d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(a.kernel, d / KERNEL_NAME_ANY)
    if vmlinux:
        shutil.copyfile(a.dir / "vmlinux", d / "vmlinux")
        data = (a.dir / "vmlinux").read_bytes()
        (d / "vmlinux.img").write_bytes(data + bytes(-len(data) % 512))
    shutil.copyfile(a.initrd, d / "initrd.gz")
    if mgmt:
        shutil.copyfile(a.mgmt_initrd, d / "mgmt-initrd.gz")
    for disk in disks:
        shutil.copyfile(disk, d / Path(disk).name)


# ------------------------------------------------------------------ QEMU


class LinuxQemu(keelrig.Qemu):
    """keelrig.Qemu with a pipe on QEMU's stdin (send()) and arrival times per line."""

    def __init__(self, argv, log_path, hard_timeout=180.0, name="qemu"):
        self.times = []  # before the reader thread starts
        super().__init__(argv, log_path, hard_timeout, name, stdin=subprocess.PIPE)

    def _add(self, raw_lines):
        now = time.monotonic() - self.start
        with self._cond:
            self.times.extend([now] * len(raw_lines))
            super()._add(raw_lines)

    def time_of(self, line):
        """Seconds from QEMU's start to the arrival of @line (a keelrig.Line)."""
        with self._cond:
            return self.times[line.index]

    def send(self, text):
        """Type @text on QEMU's stdin (the serial port Keel reads)."""
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def answer(self, pattern, text, timeout=240.0):
        """On a thread: once a line matches @pattern, send() @text. Returns the thread."""
        def run():
            try:
                self.wait_for(pattern, timeout)
            except AssertionError:
                return
            time.sleep(0.2)
            self.send(text)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t


def boot_keel(rig, arch, config, name, a, disks=(), smp=4, mem="2G", timeout=240.0, mgmt=False,
              more=(), extra=(), vmlinux=False):
    """Start QEMU booting Keel with @config and the Linux files on the ESP:
    @a's with @disks, and each (Assets, disks) of @more in its own folder;
    @extra: more QEMU arguments (devices).

    Registered with @rig so a failing test prints this run's log tail."""
    esp = rig.tmp_factory.mktemp(f"{arch}-{name}-esp", numbered=True)
    keelrig.make_esp(esp, arch, rig.build, config)
    fill_esp(esp, a, disks, mgmt, vmlinux)
    for other, other_disks in more:
        fill_esp(esp, other, other_disks)
    log = rig.build / arch / "test-logs" / f"{name}.log"
    q = LinuxQemu(keelrig.qemu_argv(arch, esp, smp=smp, mem=mem, extra=extra), log,
                  hard_timeout=timeout, name=f"{arch} {name}")
    q.nodeid = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    rig.runs.append(q)
    return q


def direct_argv(arch, a, disk, console_sock, cmdline, smp=2, mem="256M"):
    """QEMU booting the kernel directly (-kernel, no firmware, no Keel) with
    virtio blk, console (hvc0 on the unix socket @console_sock) and rng."""
    d = DIRECT[arch]
    k = keelrig.ARCHES[arch]
    bus = d["bus"]
    return [k["qemu"], "-machine", d["machine"], "-accel", "tcg", "-cpu", k["cpu"],
            "-m", str(mem), "-smp", str(smp),
            "-kernel", str(a.kernel), "-initrd", str(a.initrd), "-append", cmdline,
            "-display", "none", "-serial", "stdio", "-monitor", "none", "-nic", "none",
            "-no-reboot",
            "-drive", f"if=none,id=d0,format=raw,file={disk}",
            "-device", f"virtio-blk-{bus},drive=d0",
            "-device", f"virtio-serial-{bus}", "-device", "virtconsole,chardev=c0",
            "-chardev", f"socket,id=c0,path={console_sock},server=on,wait=off",
            "-device", f"virtio-rng-{bus}"]


def recv_line(sock):
    """Bytes from @sock up to the first newline: (the line, what came after it).
    ConnectionResetError if the peer closes first."""
    got = b""
    while b"\n" not in got:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed before the guest's answer")
        got += chunk
    line, _, rest = got.partition(b"\n")
    return line, rest


def send_socket(path, text, timeout=10.0):
    """Write @text to the QEMU chardev socket at @path (the direct boot's hvc0)."""
    end = time.monotonic() + timeout
    while True:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(path))
                s.sendall(text.encode())
                time.sleep(0.5)  # let QEMU read it before the socket closes
                return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


# --------------------------------------------------------- what /init says


def typed_json(q, tag, command, timeout):
    """Type @command into the management shell; (exit status, its JSON output).

    The answer is the line '@tag rc=N {...}'. Other partitions' lines may split
    the shell's echo of the typed command anywhere, so a piece of that echo can
    start a line with @tag too: only 'rc=' and digits mark the answer.
    """
    after = len(q.lines)
    q.send(f"out=$({command}); echo {tag} rc=$? $(echo $out | tr -d '\\n')\n")
    line = q.wait_for(rf"^{tag} rc=\d+ ", timeout, after=after)
    m = re.match(rf"^{tag} rc=(\d+) (.*)$", line)
    return int(m.group(1)), json.loads(m.group(2))


def said(name, text):
    """Regex for a line @text from partition @name, or from a direct boot if @name is None."""
    return rf"^{text}" if name is None else keelrig.out(name, text)


def value(line, key):
    """The value of 'key=value' in @line, or None."""
    m = re.search(rf"(?:^|[\s|]){re.escape(key)}=(\S+)", line)
    return m.group(1) if m else None


PRINTK = re.compile(r"^\[\s*(\d+\.\d+)\]")
KEEL_PREFIX = re.compile(r"^\[[^\]]*\] [^|]*\| ")


def guest_text(line):
    """@line without Keel's '[ts] name| ' prefix, if it has one."""
    return KEEL_PREFIX.sub("", line, count=1)


def printk_time(line):
    """The guest kernel's printk timestamp ('[    1.234567] ...') of @line, or None."""
    m = PRINTK.match(guest_text(line))
    return float(m.group(1)) if m else None


# Kernel warning/error lines (klog:) a Keel guest may print, each with the reason
# it is not Keel's to fix.
HRTIMER_SLOW = (r"hrtimer: interrupt took \d+ ns",
                "printed once when one timer interrupt ran for milliseconds: under TCG, "
                "with more emulated CPUs than the 2 host cores (linux-flavours runs 8), "
                "a vCPU's thread is descheduled in the middle of the handler; a fact of "
                "the test host's load, not of Keel's platform")


def _clocks_agree(m):
    """The watchdog's two clocks measured the same long interval (within 0.1%):
    the interval was long because the timer ran late, not because a clock drifted."""
    cs, wd = int(m.group("cs")), int(m.group("wd"))
    return abs(cs - wd) * 1000 <= max(cs, wd)


WATCHDOG_LATE = (r"clocksource: Long readout interval, skipping watchdog check: "
                 r"cs_nsec: (?P<cs>\d+) wd_nsec: (?P<wd>\d+)",
                 "the clocksource watchdog's timer ran over 1 s after its last run (a vCPU "
                 "thread descheduled under TCG on the 2 loaded host cores), so the kernel "
                 "skips one check; allowed only while both clocks agree on the interval, "
                 "since a disagreement would be a clock Keel got wrong",
                 _clocks_agree)
KLOG_ALLOWED = {
    "x86_64": [
        HRTIMER_SLOW,
        WATCHDOG_LATE,
        (r"RETBleed: WARNING: Spectre v2 mitigation leaves CPU vulnerable to RETBleed",
         "Bochs's Skylake-like CPU model has no IBRS (IA32_SPEC_CTRL), so the guest "
         "honestly reports RETBleed exposure: true of that emulated CPU, and Keel "
         "passes SPEC_CTRL through wherever the CPU has it"),
    ],
    "aarch64": [HRTIMER_SLOW, WATCHDOG_LATE],
}


def klog_allowed(arch, line):
    """Whether kernel line @line is one KLOG_ALLOWED lists for @arch (and, where
    the entry has a third element, that predicate accepts its match)."""
    for entry in KLOG_ALLOWED[arch]:
        m = re.search(entry[0], line)
        if m and (len(entry) < 3 or entry[2](m)):
            return True
    return False


def klog_findings(q, arch, name):
    """The kernel's warning and error lines (levels 0-4) that /init of
    partition @name printed, minus KLOG_ALLOWED; waits for its klog-end."""
    end = q.wait_for(said(name, "klog-end"), 240)
    lines = [guest_text(l) for l in q.lines[:end.index]
             if re.search(said(name, "klog: "), l)]
    return [l for l in lines if not klog_allowed(arch, l)]


def keel_warnings(q, name):
    """Keel's warning lines about partition @name."""
    return q.find_all(keelrig.keel(rf"warning: partition '{name}'"))


def expected_clocksource(q, arch, clock_line):
    """What the guest's clocksource must be: on arm64 the architected counter;
    on x86_64 the TSC where the CPU states it invariant (Keel's boot log says
    which, and the guest's invtsc= must agree), else kvm-clock, Keel's
    paravirtual clock. Never tsc-early, a port-I/O timer, HPET or jiffies."""
    if arch == "aarch64":
        return "arch_sys_counter"
    said_keel = q.find(keelrig.keel(r"x86: TSC \d+ kHz, "))
    assert said_keel, "Keel did not say whether the TSC is invariant"
    invariant = " invariant (guests can run on tsc)" in said_keel
    assert value(clock_line, "invtsc") == ("yes" if invariant else "no"), (said_keel, clock_line)
    return "tsc" if invariant else "kvm-clock"
