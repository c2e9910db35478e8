#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Keel's boot media: a bootable USB image (`make usb-image`) and a network-boot
tree (`make pxe`), each for x86_64 and aarch64 at once.

  bootmedia.py usb [--out IMG]: a GPT disk with one EFI system partition holding
    /EFI/BOOT/BOOTX64.EFI, /EFI/BOOT/BOOTAA64.EFI   keel.efi of each arch
    /x86_64/keel.cfg, /aarch64/keel.cfg             the configuration of each arch
    /x86_64/..., /aarch64/...                       the files each keel.cfg names
  bootmedia.py pxe [--out DIR]: a directory to serve over TFTP (and HTTP) with
    DIR/x86_64/keel.efi, DIR/x86_64/keel.cfg, DIR/x86_64/...   and the same for aarch64

Keel's loader reads \\<arch>\\keel.cfg when it exists on its volume, and over the
network keel.cfg from the boot file's own directory; either way the paths in it
are relative to that folder, so each arch finds its own kernel under the same
names. The default configuration is the management-partition demo
(tests/configs/demo-<arch>.cfg); --config FILE uses FILE for every arch. Every
file a configuration names must exist, beside the configuration or in
<build>/<arch>: a missing one is an error with the configuration's file:line.
"""

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import uuid
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import keelrig  # noqa: E402

SECTOR = 512
ALIGN = 1 << 20  # the partition starts and the disk ends on a MiB
GPT_ENTRIES = 128
GPT_ENTRY_SIZE = 128
ESP_TYPE = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")


class ImageError(Exception):
    pass


def sbin(tool):
    """@tool from PATH or the sbin folders a non-root PATH may lack."""
    found = shutil.which(tool) or next(
        (str(d / tool) for d in (Path("/usr/sbin"), Path("/sbin")) if (d / tool).exists()), None)
    if not found:
        raise ImageError(f"{tool} not found (make deps installs dosfstools and mtools)")
    return found


def stage_arch(stage, arch, build, config, pxe=False):
    """Copy @arch's keel.efi (as EFI/BOOT/BOOT*.EFI, or with @pxe as <arch>/keel.efi),
    @config (as <arch>/keel.cfg) and the files it names into @stage."""
    efi = build / arch / "keel.efi"
    if not efi.is_file():
        raise ImageError(f"{efi}: not built (make ARCH={arch})")
    home = stage / arch
    home.mkdir(parents=True)
    if pxe:
        shutil.copyfile(efi, home / "keel.efi")
    else:
        boot = stage / "EFI" / "BOOT"
        boot.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(efi, boot / keelrig.ARCHES[arch]["efi_name"])
    text = config.read_text()
    shutil.copyfile(config, home / "keel.cfg")
    search = (config.parent, build / arch)
    missing = []
    for key, path, line in keelrig.named_files(text):
        src = keelrig.find_named_file(path, search)
        if not src:
            missing.append(f"{config}:{line}: error: {key}: '{path}' is neither beside the "
                           f"configuration nor in {build / arch}")
            continue
        dst = home / keelrig.relative_path(path)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    if missing:
        raise ImageError("\n".join(missing))


def tree_bytes(top):
    return sum(f.stat().st_size for f in Path(top).rglob("*") if f.is_file())


def make_fat(stage, fat):
    """A FAT32 file system image holding @stage's tree, with room to spare."""
    payload = tree_bytes(stage)
    size = max(64 << 20, (payload * 5 // 4 + (16 << 20) + ALIGN - 1) // ALIGN * ALIGN)
    subprocess.run([sbin("mkfs.fat"), "-F", "32", "-n", "KEEL", "-C", str(fat),
                    str(size // 1024)], check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    items = sorted(str(p) for p in Path(stage).iterdir())
    subprocess.run(["mcopy", "-i", str(fat), "-s", "-Q", *items, "::/"], check=True, env=env)
    return size


def gpt_header(current, backup, last_usable, disk_guid, entries_lba, entries_crc):
    fields = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x00010000, 92, 0, 0,
                         current, backup, 34, last_usable, disk_guid.bytes_le,
                         entries_lba, GPT_ENTRIES, GPT_ENTRY_SIZE, entries_crc)
    crc = zlib.crc32(fields)
    fields = fields[:16] + struct.pack("<I", crc) + fields[20:]
    return fields.ljust(SECTOR, b"\0")


def write_disk(out, fat, fat_size):
    """@out: protective MBR, GPT, the ESP from @fat at 1 MiB, backup GPT."""
    first = ALIGN // SECTOR
    total = (ALIGN + fat_size + ALIGN) // SECTOR
    last = total - 1
    part_last = first + fat_size // SECTOR - 1
    name = "Keel EFI system partition".encode("utf-16-le")
    entry = struct.pack("<16s16sQQQ72s", ESP_TYPE.bytes_le, uuid.uuid4().bytes_le, first,
                        part_last, 0, name)
    entries = entry.ljust(GPT_ENTRIES * GPT_ENTRY_SIZE, b"\0")
    entries_crc = zlib.crc32(entries)
    disk_guid = uuid.uuid4()
    mbr = bytearray(SECTOR)
    mbr[446:462] = struct.pack("<BBBBBBBBII", 0, 0, 2, 0, 0xEE, 0xFF, 0xFF, 0xFF, 1,
                               min(total - 1, 0xFFFFFFFF))
    mbr[510:512] = b"\x55\xaa"
    entry_sectors = len(entries) // SECTOR
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "wb") as f:
        f.write(mbr)
        f.write(gpt_header(1, last, last - entry_sectors - 1, disk_guid, 2, entries_crc))
        f.write(entries)
        f.seek(first * SECTOR)
        with open(fat, "rb") as src:
            shutil.copyfileobj(src, f, 4 << 20)
        f.seek((last - entry_sectors) * SECTOR)
        f.write(entries)
        f.write(gpt_header(last, 1, last - entry_sectors - 1, disk_guid, last - entry_sectors,
                           entries_crc))
    os.replace(tmp, out)
    return total * SECTOR


def build_image(out, arches, build, config=None, mutate=None):
    """Write the USB image @out for @arches; returns its size in bytes.
    @mutate(stage), if given, may change the staged tree first (the tests
    make broken sticks with it)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="keel-usb-", dir=out.parent) as tmp:
        stage = Path(tmp) / "esp"
        stage.mkdir()
        for arch in arches:
            stage_arch(stage, arch, Path(build), config_for(arch, config))
        if mutate:
            mutate(stage)
        fat = Path(tmp) / "esp.fat"
        fat_size = make_fat(stage, fat)
        return write_disk(out, fat, fat_size)


def config_for(arch, config):
    cfg = Path(config) if config else ROOT / "tests" / "configs" / f"demo-{arch}.cfg"
    if not cfg.is_file():
        raise ImageError(f"{cfg}: no such configuration")
    return cfg


def build_pxe(out, arches, build, config=None, mutate=None):
    """Fill the directory @out (replaced) with a network-boot tree for @arches;
    returns its size in bytes. @mutate(tree) as for build_image."""
    out = Path(out)
    tmp = out.with_name(out.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for arch in arches:
            stage_arch(tmp, arch, Path(build), config_for(arch, config), pxe=True)
        if mutate:
            mutate(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return tree_bytes(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("medium", choices=["usb", "pxe"])
    ap.add_argument("--arch", default="x86_64 aarch64", help="arches, space separated")
    ap.add_argument("--build", default="build", help="build directory (as make BUILD=)")
    ap.add_argument("--config", default=None, help="keel.cfg for every arch (default: the demo)")
    ap.add_argument("--out", default=None,
                    help="usb: the image (default <build>/keel-usb.img); "
                         "pxe: the directory (default <build>/pxe)")
    args = ap.parse_args()
    build = Path(args.build)
    if not build.is_absolute():
        build = ROOT / build
    arches = args.arch.replace(",", " ").split()
    try:
        if args.medium == "usb":
            out = Path(args.out) if args.out else build / "keel-usb.img"
            size = build_image(out, arches, build, args.config)
        else:
            out = Path(args.out) if args.out else build / "pxe"
            size = build_pxe(out, arches, build, args.config)
    except (ImageError, subprocess.CalledProcessError) as e:
        sys.exit(f"{args.medium}: {e}")
    print(f"{args.medium}: {out}: {size >> 20} MiB, boots {' and '.join(arches)}")


if __name__ == "__main__":
    main()
