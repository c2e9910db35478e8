# SPDX-License-Identifier: MIT
"""Boot Keel under QEMU and read its serial console.

Shared by the integration tests (tests/integration/) and `make run`
(tools/run.py): the per-arch QEMU command line, the ESP directory the
firmware boots from, and a QEMU process whose serial output is read line by
line on a thread so a test can wait for a line, check what came after what,
and always stop QEMU in the end.
"""

import ctypes
import os
import platform
import re
import shutil
import signal
import sys
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import postmortem

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b(\[[0-9;=?]*[A-Za-z]|[()][A-Z0-9])")

ARCHES = {
    "x86_64": {
        "qemu": "qemu-system-x86_64",
        "efi_name": "BOOTX64.EFI",
        "machine": ["-machine", "q35"],
        "cpu": "max",
        "firmware": ["-bios", "/usr/share/ovmf/OVMF.fd"],
        "ram_base": 0x0,
        "host_bridge": "8086:29c0",  # q35's, at 0000:00:00.0
    },
    "aarch64": {
        "qemu": "qemu-system-aarch64",
        "efi_name": "BOOTAA64.EFI",
        "machine": ["-machine", "virt,virtualization=on,gic-version=3,acpi=off"],
        "cpu": "max,pauth-impdef=on",
        "firmware": [
            "-bios", "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
            "-boot", "menu=on,splash-time=0",
        ],
        "ram_base": 0x40000000,
        "host_bridge": "1b36:0008",  # virt's generic PCIe host bridge, at 0000:00:00.0
    },
}

TESTGUEST = "testguest.elf"


def _abi_version():
    """The ABI version the tree builds, from core/include/keel/abi.h ("0.3")."""
    text = (ROOT / "core" / "include" / "keel" / "abi.h").read_text()
    major = re.search(r"#define KEEL_ABI_VERSION_MAJOR (\d+)", text).group(1)
    minor = re.search(r"#define KEEL_ABI_VERSION_MINOR (\d+)", text).group(1)
    return f"{major}.{minor}"


ABI = _abi_version()
ABI_RE = re.escape(ABI)


def _die_with_parent():
    """In the child before exec: get SIGKILL when the test process dies (Linux)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _read(path):
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def qemu_version():
    """QEMU's version line (for benchmark records), or None."""
    try:
        out = subprocess.run(["qemu-system-x86_64", "--version"], text=True,
                             stdout=subprocess.PIPE).stdout
        return out.splitlines()[0]
    except (OSError, IndexError):
        return None


def kvm_usable(arch):
    """KVM only where /dev/kvm works, the host is @arch and nests virtualization."""
    if platform.machine() != arch or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    if arch == "x86_64":
        nested = [_read(f"/sys/module/{m}/parameters/nested") for m in ("kvm_amd", "kvm_intel")]
        return any(v in ("1", "Y") for v in nested)
    return _read("/sys/module/kvm/parameters/nested") in ("1", "Y")


# HTTP boot: the firmware's code and a variable store (uefivars.py writes the boot option).
FLASH = {
    "x86_64": ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
    "aarch64": ("/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"),
}
HTTP_NIC_SLOT = 5  # the NIC's PCI slot, which the boot option's device path names
HTTP_NIC_MAC = "52:54:00:12:34:56"
HTTP_SERVER = "10.0.2.100"  # the guest's name for the host's web server (guestfwd)


def qemu_argv(arch, esp, smp=4, mem="2G", serial="stdio", extra=(), cpu=None, usb=None,
              netboot=None, httpboot=None):
    """The QEMU command line that boots @esp (a directory) on @arch (@cpu: a
    QEMU CPU model instead of the arch's default; it forces TCG), or with
    @usb (a disk image) instead, the machine's only disk: a USB stick on xHCI,
    or with @netboot = (directory, boot file) no disk: the firmware's own PXE
    boot (no iPXE option ROM) on a virtio NIC whose user-mode network serves
    the directory over TFTP, or with @httpboot = (variable store, port) no
    disk: the firmware boots the store's BootNext (an HTTP boot URL on
    HTTP_SERVER, see uefivars.py) on a virtio NIC whose user-mode network
    forwards HTTP_SERVER:80 to the host's 127.0.0.1:port."""
    a = ARCHES[arch]
    kvm = kvm_usable(arch) and cpu is None
    firmware = a["firmware"]
    if httpboot:
        firmware = ["-drive", f"if=pflash,format=raw,readonly=on,file={FLASH[arch][0]}",
                    "-drive", f"if=pflash,format=raw,file={httpboot[0]}"]
    argv = [a["qemu"], *a["machine"],
            "-accel", "kvm" if kvm else "tcg",
            "-cpu", "host" if kvm else cpu or a["cpu"],
            "-m", str(mem), "-smp", str(smp), *firmware]
    if httpboot:
        relay = Path(__file__).resolve().parent / "tcprelay.py"
        argv += ["-netdev", f"user,id=web,restrict=on,ipv6=off,guestfwd=tcp:{HTTP_SERVER}:80-"
                 f"cmd:{sys.executable} {relay} 127.0.0.1 {httpboot[1]}",
                 "-device", f"virtio-net-pci,netdev=web,addr={HTTP_NIC_SLOT:#x},"
                 f"mac={HTTP_NIC_MAC},romfile="]
    elif netboot:
        tftp, bootfile = netboot
        argv += ["-netdev", f"user,id=pxe,restrict=on,tftp={tftp},bootfile={bootfile}",
                 "-device", "virtio-net-pci,netdev=pxe,bootindex=1,romfile="]
    elif usb:
        argv += ["-drive", f"if=none,id=stick,format=raw,readonly=on,file={usb}",
                 "-device", "qemu-xhci,id=xhci",
                 "-device", "usb-storage,bus=xhci.0,drive=stick,removable=on"]
    elif arch == "aarch64":
        argv += ["-drive", f"if=none,id=esp,format=raw,file=fat:rw:{esp}",
                 "-device", "virtio-blk-pci,drive=esp"]
    else:
        argv += ["-drive", f"format=raw,file=fat:rw:{esp}"]
    argv += ["-display", "none", "-serial", serial]
    if not serial.startswith("mon:"):
        argv += ["-monitor", "none"]
    argv += ["-nic", "none", "-no-reboot", *extra]
    return argv


def make_esp(esp, arch, build, config, guests=None):
    """Fill @esp: EFI/BOOT/BOOT*.EFI, keel.cfg (@config text) and /guests/*.

    @guests maps a file name under /guests to its source path (default: every
    ELF in <build>/<arch>/guests). Missing build outputs raise FileNotFoundError.
    """
    esp = Path(esp)
    out = Path(build) / arch
    efi = out / "keel.efi"
    if not efi.is_file():
        raise FileNotFoundError(f"{efi} is missing: build it with `make ARCH={arch}`")
    if guests is None:
        guests = {p.name: p for p in sorted((out / "guests").glob("*.elf"))}
        if not guests:
            raise FileNotFoundError(f"no test guests in {out / 'guests'}")
    if esp.exists():
        shutil.rmtree(esp)
    (esp / "EFI" / "BOOT").mkdir(parents=True)
    (esp / "guests").mkdir()
    shutil.copyfile(efi, esp / "EFI" / "BOOT" / ARCHES[arch]["efi_name"])
    for name, src in guests.items():
        shutil.copyfile(src, esp / "guests" / name)
    (esp / "keel.cfg").write_text(config)
    return esp


NAMED_FILE = re.compile(r"^\s*(kernel|initrd|disk)\s*=\s*\"?([^\"#;\n]+?)\"?\s*$", re.M)


def named_files(config_text):
    """The files a keel.cfg names: (key, path as written, line), a disk's ',ro' cut."""
    found = []
    for m in NAMED_FILE.finditer(config_text):
        path = m.group(2).strip()
        if m.group(1) == "disk" and path.endswith(",ro"):
            path = path[:-3]
        found.append((m.group(1), path, config_text.count("\n", 0, m.start()) + 1))
    return found


def relative_path(path):
    """A keel.cfg path ('\\' or '/' separators, leading one optional) as a relative Path."""
    return Path(*[p for p in re.split(r"[/\\]", path) if p])


def find_named_file(path, search):
    """The first folder of @search holding keel.cfg path @path, as a Path, or None."""
    rel = relative_path(path)
    return next((d / rel for d in search if (d / rel).is_file()), None)


class Line(str):
    """One serial line (without its end of line) and its index in the log."""

    def __new__(cls, text, index):
        obj = super().__new__(cls, text)
        obj.index = index
        return obj


class Qemu:
    """A QEMU run with its serial console read on a thread.

    Every run has a hard deadline: QEMU is killed when it passes, and every
    wait ends there at the latest; it is killed too if the test process dies.
    The whole output goes to @log_path.
    """

    def __init__(self, argv, log_path, hard_timeout=120.0, name="qemu",
                 stdin=subprocess.DEVNULL):
        self.argv = argv
        self.name = name
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.lines = []
        self.start = time.monotonic()
        self.deadline = self.start + hard_timeout
        self._cond = threading.Condition()
        self._eof = False
        # QEMU's own record of CPU resets: a triple fault is named there, with the
        # faulting CPU's registers, where the serial log just ends.
        self.reset_log = Path(str(self.log_path) + ".qemu")
        if Path(argv[0]).name.startswith("qemu-system") and "-D" not in argv:
            argv = [*argv, "-d", "cpu_reset", "-D", str(self.reset_log)]
            self.argv = argv
        qmp = self._qmp_dir = None
        if Path(argv[0]).name == "qemu-system-x86_64" and "-no-reboot" in argv:
            # A reset pauses instead, for a post-mortem of memory (postmortem.py).
            self._qmp_dir = Path(tempfile.mkdtemp(prefix="keel-qmp-"))
            qmp = self._qmp_dir / "qmp"
            at = argv.index("-no-reboot")
            argv = [*argv[:at], "-action", "reboot=shutdown,shutdown=pause",
                    "-qmp", f"unix:{qmp},server=on,wait=off", *argv[at + 1:]]
            self.argv = argv
        self._log = open(self.log_path, "w", encoding="utf-8", errors="replace")
        self._log.write("# " + " ".join(argv) + "\n")
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        if qmp:
            threading.Thread(target=postmortem.watch, args=(qmp, self.reset_log, self._note),
                             daemon=True).start()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._watchdog = threading.Timer(hard_timeout, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        self.expired = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    def _read(self):
        partial = b""
        while True:
            chunk = self.proc.stdout.read1(4096)
            if not chunk:
                break
            partial += chunk
            *done, partial = partial.split(b"\n")
            if done:
                self._add(done)
        if partial:
            self._add([partial])
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _add(self, raw_lines):
        with self._cond:
            for raw in raw_lines:
                text = ANSI.sub("", raw.decode("utf-8", errors="replace")).rstrip("\r")
                self.lines.append(text)
                if not self._log.closed:
                    self._log.write(f"{time.monotonic() - self.start:8.3f} {text}\n")
            if not self._log.closed:
                self._log.flush()
            self._cond.notify_all()

    def _note(self, text):
        """A line of the harness's own in the run's log (not a console line)."""
        with self._cond:
            if not self._log.closed:
                self._log.write(text + "\n")
                self._log.flush()

    def _expire(self):
        self.expired = True
        self.kill()

    def elapsed(self):
        return time.monotonic() - self.start

    def find(self, pattern, after=0):
        """The first line at index >= @after matching @pattern (re.search), or None."""
        rx = re.compile(pattern)
        with self._cond:
            for i in range(max(after, 0), len(self.lines)):
                if rx.search(self.lines[i]):
                    return Line(self.lines[i], i)
        return None

    def find_all(self, pattern, after=0):
        rx = re.compile(pattern)
        with self._cond:
            return [Line(t, i) for i, t in enumerate(self.lines)
                    if i >= after and rx.search(t)]

    def wait_for(self, pattern, timeout=60.0, after=0):
        """Wait until a line at index >= @after matches @pattern; return it.

        Raises AssertionError (saying why) on timeout, QEMU exit or the hard
        deadline.
        """
        __tracebackhide__ = True
        rx = re.compile(pattern)
        end = min(time.monotonic() + timeout, self.deadline)
        i = max(after, 0)
        with self._cond:
            while True:
                while i < len(self.lines):
                    if rx.search(self.lines[i]):
                        return Line(self.lines[i], i)
                    i += 1
                if self._eof:
                    why = f"QEMU exited (rc {self.proc.poll()}{self._triple_fault()})"
                    break
                left = end - time.monotonic()
                if left <= 0:
                    why = ("the run's hard timeout passed" if end >= self.deadline
                           else f"{timeout:.0f} s passed")
                    break
                self._cond.wait(left)
        raise AssertionError(f"[{self.name}] no line matching /{pattern}/ "
                             f"(after line {after}): {why} at {self.elapsed():.1f} s")

    def _triple_fault(self):
        try:
            text = self.reset_log.read_text(errors="replace")
            if "Triple fault" in text:
                more = " (with a post-mortem of memory)" if "# post-mortem" in text else ""
                return f", a triple fault: see {self.reset_log}{more}"
        except OSError:
            pass
        return ""

    def wait_exit(self, timeout=60.0):
        """Wait for QEMU to exit by itself; its return code. AssertionError on timeout."""
        __tracebackhide__ = True
        left = min(timeout, self.deadline - time.monotonic())
        try:
            rc = self.proc.wait(timeout=max(left, 0))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"[{self.name}] QEMU still running after {timeout:.0f} s "
                                 f"({self.elapsed():.1f} s since start)") from None
        self._reader.join(5)
        return rc

    def running(self):
        return self.proc.poll() is None

    def kill(self):
        """Stop QEMU and the reader; safe to call twice."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self._watchdog.cancel()
        self._reader.join(5)
        if self._qmp_dir:
            shutil.rmtree(self._qmp_dir, ignore_errors=True)
        with self._cond:
            if not self._log.closed:
                self._log.write(f"# stopped after {self.elapsed():.1f} s, rc {self.proc.poll()}"
                                f"{' (hard timeout)' if self.expired else ''}\n")
                self._log.close()

    def tail(self, n=60):
        with self._cond:
            return list(self.lines[-n:])


# --------------------------------------------------------------- configs


def partition(name, cpus, cmdline, memory="64M", kernel="/guests/" + TESTGUEST, **keys):
    """One [partition NAME] section of keel.cfg."""
    lines = [f"[partition {name}]", f"cpus = {cpus}", f"memory = {memory}",
             f"kernel = {kernel}", f"cmdline = {cmdline}"]
    lines += [f"{k} = {v}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def keel_cfg(*parts, on_idle="poweroff"):
    """A whole keel.cfg: a [keel] section and the given partition sections."""
    return f"[keel]\non_idle = {on_idle}\n\n" + "\n".join(parts)


def line_of(text, needle, nth=1):
    """1-based number of the @nth line of @text containing @needle."""
    hits = [i for i, t in enumerate(text.splitlines(), 1) if needle in t]
    assert len(hits) >= nth, f"{needle!r} not in the config"
    return hits[nth - 1]


def out(name, text):
    """Regex for a line partition @name printed: '[ts] name| text'."""
    return rf"\] {re.escape(name)}\| {text}"


def keel(text):
    """Regex for a hypervisor line: '[ts] keel: text'."""
    return rf"\] keel: {text}"


PART_OUTPUT = re.compile(r"\] [\w.-]+\| ")
TIMELINE_ROW = re.compile(r"\] keel:\s+(\d+)\.(\d{3})  (.*)$")


def boot_timeline(q, timeout=60, settle=1.0):
    """The boot timeline Keel printed: [(ms since reset, what)], in its order."""
    head = q.wait_for(keel(r"boot timeline \(ms since the clock started at reset\):$"), timeout)
    # Its rows are indented ("keel:   ") and printed back to back by one CPU, but the
    # console interleaves other sources line by line: partitions' output ("name| ...")
    # and Keel's own lines from other CPUs ("partition 'x' stopped"). So the table is
    # every row after its head, once a line that is not a row has come and then no
    # row for @settle seconds (or QEMU ended).
    q.wait_for(r"^(?!.*\] keel:   )(?!.*\] [\w.-]+\| )", timeout, after=head.index + 1)
    last = head.index
    while True:
        try:
            last = q.wait_for(TIMELINE_ROW.pattern, settle, after=last + 1).index
        except AssertionError:
            break
    rows = []
    for line in q.lines[head.index + 1:last + 1]:
        m = TIMELINE_ROW.search(line)
        if m and not PART_OUTPUT.search(line):
            rows.append((int(m.group(1)) + int(m.group(2)) / 1000, m.group(3)))
    return rows


def check_timeline(rows, cpus, parts, images=()):
    """@rows are in time order and hold the loader's steps, @images (keel.cfg
    paths, with their sizes in bytes), ExitBootServices, the core's entry,
    cpus 1..@cpus-1 online and each of @parts' first instruction, in that order."""
    times = [t for t, _ in rows]
    assert times == sorted(times), f"not in time order: {rows}"
    assert times[0] > 0, rows
    whats = [w for _, w in rows]

    def at(what):
        hits = [i for i, w in enumerate(whats) if re.fullmatch(what, w)]
        assert len(hits) == 1, f"/{what}/: {len(hits)} rows in {whats}"
        return hits[0]

    steps = [at("loader entry"), at("keel.cfg read")]
    for path, size in images:
        steps.append(at(rf"image {re.escape(path)}: {size >> 10} KiB in \d+\.\d{{3}} ms "
                        r"\(\d+\.\d MiB/s\)"))
    steps += [at("ExitBootServices"), at("core entry")]
    assert steps == sorted(steps), f"loader steps out of order: {whats}"
    core = steps[-1]
    for cpu in range(1, cpus):
        assert at(f"cpu {cpu} online") > core
    for name in parts:
        assert at(rf"partition '{name}': first instruction") > core


def guest_check(q, part, check, timeout):
    """A conformance guest's line for @check: mode=@part prints `@part: CHECK ... ok`
    (or WRONG) per check. Fails with what Keel said of the partition if it is
    missing (the guest was stopped before it) or not ok."""
    q.wait_for(out(part, rf"TEST {part} (PASS|FAIL)") + "|" + keel(f"partition '{part}' stopped"),
               timeout)
    line = q.find(out(part, rf"{part}: {re.escape(check)}\s"))
    assert line and line.endswith(" ok"), line or q.find_all(keel(f"partition '{part}'"))


def guest_passed(q, part, timeout):
    """Conformance guest @part printed TEST PASS and then shut itself down."""
    verdict = q.wait_for(out(part, rf"TEST {part} (PASS|FAIL)"), timeout)
    assert verdict.endswith("PASS"), q.find_all(out(part, r"WRONG|want|check failed"))
    stopped = q.wait_for(keel(rf"partition '{part}' stopped: "), 30)
    assert "shutdown requested by the guest" in stopped, stopped


def fault_warned_once(q, part, got):
    """@part's one on_fault = deliver warning: its first read of a hole, answered with @got."""
    warned = q.find_all(keel(rf"warning: partition '{part}': read of guest-physical address "
                             rf"0x[0-9a-f]+ outside its memory at pc 0x[0-9a-f]+: the guest got "
                             rf"{re.escape(got)} \(on_fault = deliver; said once\)"))
    assert len(warned) == 1, q.find_all(keel(f"partition '{part}'"))
