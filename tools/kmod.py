#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Build keel.ko (tools/linux/) against Debian's headers for a kernel release.

    tools/kmod.py --arch x86_64 --release 6.1.0-56-amd64 --version 6.1.192-2 --out DIR

Downloads linux-headers-<release>, linux-headers-<abi>-common and
linux-kbuild-<major.minor> (the same Debian version as the kernel package;
kbuild is the build host's, Multi-Arch foreign), unpacks them into
$KEEL_CACHE/kheaders/<version>/ (once), points the flavour's Makefile at the
unpacked common tree, and runs Kbuild there (for arm64 with ARCH=arm64
CROSS_COMPILE=aarch64-linux-gnu-). Writes DIR/keel.ko; rebuilds only when a
source under tools/linux/ or core/include/keel/abi.h is newer than it.
Importable: build_module(arch, release, version, out).
"""

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = HERE / "linux"
ABI_INCLUDE = ROOT / "core" / "include"
CROSS = {"x86_64": "", "aarch64": "aarch64-linux-gnu-"}
KARCH = {"x86_64": "x86", "aarch64": "arm64"}

_spec = importlib.util.spec_from_file_location("linux_assets", HERE / "linux-assets.py")
assets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(assets)


def log(msg):
    print(f"kmod: {msg}", file=sys.stderr, flush=True)


def headers_tree(arch, release, version):
    """The unpacked kernel build tree for @release (cached), ready for M= builds."""
    debarch = assets.DEBARCH[arch]
    abi = release.rsplit("-", 1)[0]  # 6.1.0-56-amd64 -> 6.1.0-56
    kbuild = "linux-kbuild-" + ".".join(abi.split(".")[:2])
    top = assets.CACHE / "kheaders" / assets.safe(version)
    tree = top / "usr" / "src" / f"linux-headers-{release}"
    if (tree / ".keel-ready").is_file():
        return tree
    top.mkdir(parents=True, exist_ok=True)
    # (package, the arch apt names it by): common is Architecture: all, kbuild runs here.
    for name, darch in ((f"linux-headers-{release}", debarch),
                        (f"linux-headers-{abi}-common", "all"),
                        (kbuild, "amd64")):
        stamp = top / f".{name}.complete"
        if stamp.is_file():
            continue
        deb = assets.download(name, version, darch)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(top)], check=True)
        stamp.write_text(deb.name + "\n")
    # The flavour's Makefile includes the common tree by its installed path.
    mk = tree / "Makefile"
    text = mk.read_text()
    common = top / "usr" / "src" / f"linux-headers-{abi}-common"
    mk.write_text(re.sub(r"include /usr/src/\S+/Makefile", f"include {common}/Makefile", text))
    (tree / ".keel-ready").write_text(version + "\n")
    return tree


def sources():
    return sorted(p for p in SRC.iterdir() if p.is_file()) + [ABI_INCLUDE / "keel" / "abi.h"]


def build_module(arch, release, version, out):
    """out/keel.ko for @arch's kernel @release (Debian package version @version)."""
    out = Path(out)
    ko = out / "keel.ko"
    if ko.is_file() and ko.stat().st_mtime >= max(p.stat().st_mtime for p in sources()) \
            and (out / "keel.ko.release").is_file() \
            and (out / "keel.ko.release").read_text().strip() == release:
        return ko
    tree = headers_tree(arch, release, version)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="keel-kmod-") as tmp:
        for p in SRC.iterdir():
            if p.is_file():
                shutil.copy2(p, tmp)
        argv = ["make", "-s", "-C", str(tree), f"M={tmp}", f"KEEL_INCLUDE={ABI_INCLUDE}",
                f"ARCH={KARCH[arch]}", "modules"]
        if CROSS[arch]:
            argv.append(f"CROSS_COMPILE={CROSS[arch]}")
        r = subprocess.run(argv, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0 or not (Path(tmp) / "keel.ko").is_file():
            raise SystemExit(f"kmod: building keel.ko for {release} failed:\n{r.stdout}")
        warnings = [l for l in r.stdout.splitlines() if "warning" in l.lower()]
        if warnings:
            raise SystemExit("kmod: keel.ko builds with warnings:\n" + "\n".join(warnings))
        # Debug info is 90% of the file and the module rides in an initramfs.
        subprocess.run([f"{CROSS[arch]}strip", "--strip-debug", str(Path(tmp) / "keel.ko")],
                       check=True)
        shutil.copy2(Path(tmp) / "keel.ko", ko)
    (out / "keel.ko.release").write_text(release + "\n")
    log(f"{arch}: keel.ko for {release} -> {ko}")
    return ko


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", required=True, choices=sorted(CROSS))
    ap.add_argument("--release", required=True, help="kernel release, e.g. 6.1.0-56-amd64")
    ap.add_argument("--version", required=True, help="Debian package version, e.g. 6.1.192-2")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    build_module(args.arch, args.release, args.version, args.out)


if __name__ == "__main__":
    main()
