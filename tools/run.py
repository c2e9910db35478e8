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
"""

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import bochs  # noqa: E402
import keelrig  # noqa: E402

CONFIGS = ROOT / "tests" / "configs"


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
    ap.add_argument("--iommu", choices=["intel", "amd"], default=None,
                    help="x86_64: give the machine an IOMMU (intel-iommu with interrupt "
                         "remapping, or amd-iommu), so its PCI functions can be given")
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
    try:
        keelrig.make_esp(esp, args.arch, build, args.config.read_text())
    except FileNotFoundError as e:
        sys.exit(f"run.py: {e}")
    copy_named_files(args.config, esp, search=(build / args.arch,))
    extra = []
    if args.iommu:
        if args.arch != "x86_64":
            sys.exit("run.py: --iommu is x86_64 only (aarch64's SMMUv3 is not driven yet)")
        extra += ["-device", "intel-iommu,intremap=on" if args.iommu == "intel" else "amd-iommu"]
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
