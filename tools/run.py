#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Boot Keel in QEMU with its console on this terminal (`make run`, `make run ARCH=aarch64`).

With --hv vmx (`make run HV=vmx`) the x86_64 image boots under Bochs instead,
the emulator with Intel VT-x (VMX + EPT): slower (~20-30 s to Keel), 3 CPUs by
default so the demo's cpus 1 and 2 exist. Ctrl-C ends Bochs.

Builds an ESP directory under <build>/<arch>/run-esp holding keel.efi, the test
guests under /guests and a keel.cfg: the demo (tests/configs/demo-<arch>.cfg:
the Linux management partition on cpu 1 with its shell on this terminal and
keelctl ready, a bare-metal `hello` on cpu 2; under Bochs
tests/configs/demo-baremetal.cfg) or your own with --config FILE.
Files the config names as kernel/initrd/disk are copied from beside it, or from
<build>/<arch> (where `make run` / `make linux-assets` put linux/vmlinuz or
Image, initrd.gz, mgmt-initrd.gz, disk.img) when newer. Ctrl-A X quits QEMU,
Ctrl-A C switches to its monitor.

--iommu gives the machine an IOMMU (x86_64: intel or amd; aarch64: smmuv3), so
its PCI functions can be given to partitions. --pci-nic ADDR adds a
virtio-net-pci NIC on QEMU's user network (10.0.2.0/24, gateway 10.0.2.2) at
0000:00:ADDR and gives it to the config's management partition (`pci =`), with
the arch's IOMMU unless --iommu names one: the management partition's own NIC,
the uplink `keel-uplink` bridges or NATs Keel's networks to.
"""

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import bochs  # noqa: E402
import keelrig  # noqa: E402

CONFIGS = ROOT / "tests" / "configs"
# The IOMMUs QEMU offers each arch: --iommu's name -> QEMU arguments. The first is the default.
IOMMUS = {
    "x86_64": {"intel": ["-device", "intel-iommu,intremap=on"], "amd": ["-device", "amd-iommu"]},
    "aarch64": {"smmuv3": ["-machine", "iommu=smmuv3"]},
}
PCI_SLOT = re.compile(r"^[0-1][0-9a-f]\.[0-7]$")  # DD.F on bus 0 (device 00-1f)


def demo_config(arch, hv):
    """The demo keel.cfg: bare metal only under Bochs (no Linux on VT-x yet)."""
    return CONFIGS / ("demo-baremetal.cfg" if hv == "vmx" else f"demo-{arch}.cfg")


def copy_named_files(config_path, esp, search=()):
    """Copy each kernel/initrd/disk the config names from beside the config or
    from a folder in @search, the first that has it (newer copies only)."""
    for _key, path, _line in keelrig.named_files(config_path.read_text()):
        src = keelrig.find_named_file(path, (config_path.parent, *search))
        dst = esp / keelrig.relative_path(path)
        if src and (not dst.is_file() or dst.stat().st_size != src.stat().st_size
                    or dst.stat().st_mtime < src.stat().st_mtime):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def give_to_manager(config, addr):
    """@config (keel.cfg text) with 0000:00:@addr added to its management partition's
    `pci =`. SystemExit if it has no management partition."""
    lines = config.splitlines(keepends=True)
    sections = [i for i, l in enumerate(lines) if l.lstrip().startswith("[")] + [len(lines)]
    for start, end in zip(sections, sections[1:]):
        body = lines[start + 1:end]
        if not any(re.match(r"\s*management\s*=\s*yes\b", l) for l in body):
            continue
        func = f"0000:00:{addr}"
        for i, l in enumerate(body, start + 1):
            m = re.match(r"(\s*pci\s*=\s*)([^;#\n]*?)(\s*([;#].*)?)$", l.rstrip("\n"))
            if m:
                lines[i] = f"{m.group(1)}{m.group(2)}, {func}{m.group(3)}\n"
                return "".join(lines)
        lines.insert(start + 1, f"pci = {func}\n")
        return "".join(lines)
    sys.exit("run.py: --pci-nic: the config has no partition with management = yes")


def run_bochs(args, build):
    """Boot @args.config under Bochs (VT-x) with COM1 on this terminal."""
    if args.arch != "x86_64":
        sys.exit("run.py: --hv vmx is x86_64 only")
    run_dir = build / "x86_64" / "run-bochs"
    try:
        argv = bochs.prepare(run_dir, build, args.config.read_text(), cpus=args.smp or 3)
    except FileNotFoundError as e:
        sys.exit(f"run.py: {e}")
    copy_named_files(args.config, run_dir / "esp")
    bochs.make_disk(run_dir / "esp", run_dir / "esp.img")
    print(" ".join(argv), flush=True)
    print(f"run.py: Bochs's own log is {run_dir / 'bochs.log'}; Ctrl-C ends it", flush=True)
    if not args.dry_run:
        os.execvp(argv[0], argv)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="x86_64", choices=sorted(keelrig.ARCHES))
    ap.add_argument("--build", default="build", help="build directory (as make BUILD=)")
    ap.add_argument("--config", type=Path, default=None,
                    help="the keel.cfg to boot (default: the demo)")
    ap.add_argument("--hv", choices=["auto", "svm", "vmx"], default="auto",
                    help="x86_64: svm/auto = QEMU (AMD SVM), vmx = Bochs (Intel VT-x)")
    ap.add_argument("--smp", type=int, default=None, help="CPUs (QEMU 4, Bochs 3)")
    ap.add_argument("--mem", default="2G")
    ap.add_argument("--iommu", choices=["intel", "amd", "smmuv3"], default=None,
                    help="give the machine an IOMMU, so its PCI functions can be given: "
                         "x86_64 intel (VT-d, interrupt remapping on) or amd (AMD-Vi), "
                         "aarch64 smmuv3")
    ap.add_argument("--pci-nic", metavar="DD.F", default=None,
                    help="a virtio-net-pci NIC on QEMU's user network at 0000:00:DD.F, "
                         "given to the management partition (implies the arch's IOMMU)")
    ap.add_argument("--device", action="append", default=[], metavar="QEMU_DEVICE",
                    help="one more QEMU -device, e.g. edu,addr=05.0 (repeatable)")
    ap.add_argument("--dry-run", action="store_true", help="prepare the ESP, print the command")
    args = ap.parse_args()

    build = Path(args.build)
    if not build.is_absolute():
        build = ROOT / build
    args.config = args.config or demo_config(args.arch, args.hv)
    if args.hv == "vmx":
        run_bochs(args, build)
        return
    args.smp = args.smp or 4
    esp = build / args.arch / "run-esp"
    config = args.config.read_text()
    extra = []
    if args.pci_nic:
        if not PCI_SLOT.match(args.pci_nic):
            sys.exit(f"run.py: --pci-nic {args.pci_nic}: want DD.F on bus 0, e.g. 06.0")
        config = give_to_manager(config, args.pci_nic)
        args.iommu = args.iommu or next(iter(IOMMUS[args.arch]))
        extra += ["-netdev", "user,id=pcinic,net=10.0.2.0/24",
                  "-device", f"virtio-net-pci,iommu_platform=on,disable-legacy=on,"
                             f"netdev=pcinic,addr={args.pci_nic}"]
    if args.iommu:
        if args.iommu not in IOMMUS[args.arch]:
            sys.exit(f"run.py: --iommu {args.iommu}: {args.arch} offers "
                     f"{', '.join(IOMMUS[args.arch])}")
        extra = IOMMUS[args.arch][args.iommu] + extra
    try:
        keelrig.make_esp(esp, args.arch, build, config)
    except FileNotFoundError as e:
        sys.exit(f"run.py: {e}")
    copy_named_files(args.config, esp, search=(build / args.arch,))
    for d in args.device:
        extra += ["-device", d]
    argv = keelrig.qemu_argv(args.arch, esp, smp=args.smp, mem=args.mem, serial="mon:stdio",
                             extra=extra)
    print(" ".join(argv), flush=True)
    if args.dry_run:
        return
    print("run.py: Ctrl-A X quits", flush=True)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
