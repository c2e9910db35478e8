# SPDX-License-Identifier: MIT
"""Boot Keel under Bochs, the one emulator here with Intel VT-x (VMX + EPT).

The counterpart of keelrig's QEMU runner for the VT-x tests (test_vmx.py)
and `make run HV=vmx`: a FAT disk image sized to the CHS geometry the
bochsrc names, OVMF as the Bochs ROM, a headless run (rfb display that waits
for no client), COM1 on Bochs's stdout, a hard timeout. Bochs exits 1 even
on a clean power-off, so runs are judged by serial markers and by the
"soft power off" line in Bochs's own log.
"""

import shutil
import subprocess
import time
from pathlib import Path

import keelrig

BOCHS = "bochs"
OVMF = "/usr/share/ovmf/OVMF.fd"
VGABIOS = "/usr/share/vgabios/vgabios.bin"
CPU_MODEL = "corei7_skylake_x"  # VMX with EPT, VPID, unrestricted guest
# Emulated instructions per emulated second: with `clock: sync=none` time is
# counted in instructions, so a lower value makes timer waits cheaper.
IPS = 50_000_000
# Disk geometry: the image must be exactly cylinders * heads * spt sectors.
CYLINDERS, HEADS, SPT = 130, 16, 63
POWER_OFF = "ACPI control: soft power off"


def image_bytes(cylinders=CYLINDERS):
    return cylinders * HEADS * SPT * 512


def make_disk(esp, image, cylinders=CYLINDERS):
    """A FAT "superfloppy" @image holding the tree @esp (OVMF boots it)."""
    image = Path(image)
    image.unlink(missing_ok=True)
    kib = image_bytes(cylinders) // 1024
    subprocess.run(["mkfs.vfat", "-C", "-n", "KEELESP", str(image), str(kib)],
                   check=True, capture_output=True)
    items = [str(p) for p in sorted(Path(esp).iterdir())]
    subprocess.run(["mcopy", "-s", "-Q", "-i", str(image), *items, "::/"],
                   check=True, capture_output=True)
    return image


def bochsrc(image, cpus=2, mem_mb=512, cpu_model=CPU_MODEL, serial="/dev/stdout",
            log="bochs.log", cylinders=CYLINDERS, ips=IPS):
    """The bochsrc text (PLATFORM.md §5): OVMF ROM, one ATA disk, COM1 to @serial."""
    return "\n".join([
        'display_library: rfb, options="timeout=0"',
        f"romimage: file={OVMF}",
        f"vgaromimage: file={VGABIOS}",
        f"cpu: model={cpu_model}, count={cpus}, ips={ips}, "
        "reset_on_triple_fault=1, ignore_bad_msrs=1",
        f"memory: guest={mem_mb}, host={mem_mb}",
        "pci: enabled=1, chipset=i440fx",
        f"ata0-master: type=disk, path={image}, mode=flat, "
        f"cylinders={cylinders}, heads={HEADS}, spt={SPT}",
        "boot: disk",
        f"com1: enabled=1, mode=file, dev={serial}",
        "sound: driver=dummy",  # else the ALSA mixer thread aborts Bochs
        "speaker: enabled=0",
        "clock: sync=none",
        f"log: {log}",
        "",
    ])


def prepare(run_dir, build, config, cpus=2, mem_mb=512, cpu_model=CPU_MODEL,
            serial="/dev/stdout", guests=None, fill=None, ips=IPS):
    """Fill @run_dir (ESP tree, disk image, bochsrc, debugger rc); the Bochs argv.

    @fill(esp), if given, adds files to the ESP tree before the image is made."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    esp = keelrig.make_esp(run_dir / "esp", "x86_64", build, config, guests)
    if fill:
        fill(esp)
    image = make_disk(esp, run_dir / "esp.img")
    (run_dir / "bochsrc").write_text(bochsrc(image, cpus, mem_mb, cpu_model, serial,
                                             run_dir / "bochs.log", ips=ips))
    # The Debian build has the internal debugger: without commands it reads stdin.
    (run_dir / "debugger.rc").write_text("c\nquit\n")
    return [BOCHS, "-q", "-f", str(run_dir / "bochsrc"), "-rc", str(run_dir / "debugger.rc")]


class Bochs(keelrig.Qemu):
    """A Bochs run: keelrig's reader, deadline and waits; Bochs's log in the tail."""

    def __init__(self, argv, run_dir, log_path, hard_timeout=120.0, name="bochs"):
        self.run_dir = Path(run_dir)
        super().__init__(argv, log_path, hard_timeout, name)

    def bochs_log(self):
        try:
            return (self.run_dir / "bochs.log").read_text(errors="replace").splitlines()
        except OSError:
            return []

    def powered_off(self, timeout=30.0):
        """Wait for Bochs to end; True if it ended by an ACPI soft power-off."""
        try:
            self.proc.wait(timeout=max(min(timeout, self.deadline - time.monotonic()), 0))
        except subprocess.TimeoutExpired:
            return False
        return any(POWER_OFF in t for t in self.bochs_log())

    def tail(self, n=60):
        extra = [t for t in self.bochs_log() if "PANIC" in t or ">>" in t][-10:]
        return super().tail(n) + (["--- bochs.log (panics) ---"] + extra if extra else [])


def boot(build, config, run_dir, name, cpus=2, mem_mb=512, cpu_model=CPU_MODEL,
         timeout=150.0, log_path=None, fill=None, ips=IPS):
    """Start Bochs booting Keel with keel.cfg = @config; a Bochs run (context manager).

    @fill(esp) adds files to the ESP (the Linux scenario's kernel, initrd, disk)."""
    if shutil.which(BOCHS) is None:
        raise FileNotFoundError("bochs is not installed: run `make deps`")
    argv = prepare(run_dir, build, config, cpus, mem_mb, cpu_model, fill=fill, ips=ips)
    log = log_path or Path(run_dir) / "serial.log"
    for attempt in range(RFB_TRIES):
        q = Bochs(argv, run_dir, log, hard_timeout=timeout, name=f"bochs {name}")
        if not rfb_port_busy(q):
            return q
        # Another Bochs (or VNC server) holds every port Bochs's headless display tries.
        q.kill()
        time.sleep(2.0 * (attempt + 1))
    return q


RFB_TRIES = 3
RFB_BUSY = r"RFB could not bind any port"


def rfb_port_busy(q, wait_s=1.5):
    """True if Bochs gave up at once because no RFB display port was free.

    That happens within ~0.2 s of start, before the firmware runs.
    """
    end = time.monotonic() + wait_s
    while time.monotonic() < end and q.running():
        if q.find(RFB_BUSY):
            return True
        time.sleep(0.05)
    return q.find(RFB_BUSY) is not None
