# SPDX-License-Identifier: MIT
"""Xen 4.17 as `make bench`'s peer (tools/bench.py): Debian's own
xen-hypervisor-4.17-<arch> package, booted by the same UEFI firmware on the
same QEMU machine as Keel, with the same kernel and initramfs as its dom0.

The package is fetched with `apt-get download` and unpacked (never installed)
into $KEEL_CACHE/xen/<version>/<debarch>, as tools/linux-assets.py does for
the kernels: a second run reads nothing from the network. Xen's EFI binary
boots from an ESP as EFI/BOOT/BOOT<ARCH>.EFI, reading its options, the dom0
kernel and ramdisk from BOOT<ARCH>.cfg beside it.

Xen's options, and why (each measured on this QEMU 7.2 under TCG):
- bootscrub=0: Xen scrubs free RAM on its idle CPUs at boot, which takes the
  two host cores from dom0;
- smap=0 (x86_64): with SMAP on, Xen faults writing a PV dom0's kernel stack
  and dom0 dies at its first instruction;
- dom0_mem and dom0_max_vcpus: dom0 gets the microVM's memory and vCPUs;
- console_timestamps=boot: Xen's lines carry its own clock (not used for the
  figures: under TCG they run wrong; the figures are the lines' arrival).
Xen/arm64 in Debian reads no ACPI: the machine runs with acpi=off, as Keel's.
"""

import re
import shutil
from pathlib import Path

import keelrig  # noqa: F401 - tools/bench.py puts tests/integration on sys.path
import linuxrig

VERSION = "4.17"
DEBARCH = {"x86_64": "amd64", "aarch64": "arm64"}
CONSOLE = {"x86_64": "console=com1 com1=115200,8n1 smap=0", "aarch64": "console=dtuart"}
# Lines of a Xen boot, in order: its EFI loader's banner (the firmware handed
# over), and Xen freeing its init memory just before dom0's first instruction.
HANDOFF = r"Xen 4\.17.*EFI"
GUEST_START = r"\(XEN\) .*Freed \d+kB init memory"


def log(msg):
    print(f"bench-xen: {msg}", flush=True)


def package(arch):
    return f"xen-hypervisor-{VERSION}-{DEBARCH[arch]}"


def xen_efi(arch):
    """Path of Xen's EFI binary for @arch, from the cache or Debian's archive."""
    t = linuxrig.tool()
    debarch, name = DEBARCH[arch], package(arch)
    top = t.CACHE / "xen"
    version = t.candidate(name, debarch)
    if version:
        dest = top / t.safe(version) / debarch
        if not (dest / ".complete").is_file():
            t.unpack(t.download(name, version, debarch), dest)
    else:
        dest = t.newest_complete(top, debarch)
        if not dest:
            raise FileNotFoundError(f"apt knows no {t.pkg(name, debarch)} and nothing is cached "
                                    "(for arm64: dpkg --add-architecture arm64 && apt-get update; "
                                    "make deps does it)")
        log(f"offline: using cached {dest}")
    found = sorted((dest / "boot").glob(f"xen-{VERSION}*-{debarch}.efi"))
    if not found:
        raise FileNotFoundError(f"{name}: no boot/xen-{VERSION}*-{debarch}.efi in {dest}")
    return found[-1]


def dom0_cmdline(cmdline):
    """The microVM's kernel command line with its console on Xen's (hvc0)."""
    return re.sub(r"\bconsole=\S+", "console=hvc0", cmdline)


def xen_argv(arch, a, workdir, cmdline, cpus, memory, smp):
    """QEMU booting Xen from an ESP in @workdir, dom0 = the kernel and initramfs of
    linuxrig assets @a with @cmdline, @cpus vCPUs and @memory (e.g. "256M")."""
    efi = xen_efi(arch)
    esp = workdir / "esp"
    boot = esp / "EFI" / "BOOT"
    boot.mkdir(parents=True)
    name = keelrig.ARCHES[arch]["efi_name"]
    shutil.copyfile(efi, boot / name)
    shutil.copyfile(a.kernel, boot / "vmlinuz")
    shutil.copyfile(a.initrd, boot / "initrd.gz")
    options = (f"{CONSOLE[arch]} dom0_mem={memory},max:{memory} dom0_max_vcpus={cpus} "
               "bootscrub=0 console_timestamps=boot noreboot")
    (boot / Path(name).with_suffix(".cfg").name).write_text(
        f"[global]\ndefault=xen\n\n[xen]\noptions={options}\n"
        f"kernel=vmlinuz {dom0_cmdline(cmdline)}\nramdisk=initrd.gz\n")
    return keelrig.qemu_argv(arch, esp, smp=smp, mem="2G")
