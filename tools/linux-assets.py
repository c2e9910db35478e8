#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Debian kernel, busybox initramfs and test disk for Keel's Linux microVMs.

    tools/linux-assets.py --arch x86_64 --out build/x86_64/linux
    tools/linux-assets.py --arch aarch64 --out DIR [--disk-size 2M] [--disk-seed S]
    tools/linux-assets.py --arch x86_64 --flavour cloud --out build/x86_64/linux-cloud

Fetches with `apt-get download` the kernel package the metapackage
linux-image-amd64 (or linux-image-arm64:arm64; with --flavour cloud or rt,
linux-image-cloud-amd64, linux-image-rt-arm64...) depends on and busybox-static
for that arch, unpacks them into $KEEL_CACHE (default ~/.cache/keel) under
linux/<kernel package version>/<debarch>/ and busybox/<version>/<debarch>/,
and writes into --out:

    vmlinuz (x86_64 bzImage) or Image (arm64)  the kernel, unmodified
    vmlinux        x86_64: the same kernel uncompressed (the ELF the bzImage
                   carries, xz or gzip), which Keel enters without the
                   decompression a bzImage spends its first seconds on
    initrd.gz      busybox + the virtio modules in load order + /init
                   (tools/linux-assets.init), a gzip'd newc cpio
    disk.img       a raw disk with a known pattern (see make_disk())
    keel.ko, mgmt-initrd.gz   with --keelctl: the driver (tools/kmod.py) and
                   the management partition's initramfs: busybox, the virtio
                   modules, keel.ko, keelctl, /images (the three files above),
                   /scripts (tests/integration/mgmt/*.sh), /init = tools/mgmt.init
    assets.json    versions, module order and sha256 of each file

Everything is cached: a second run reads nothing from the network and
rewrites nothing that is up to date. Offline, the newest complete cache entry
is used. Importable (tests/integration/linuxrig.py uses make_disk()).
"""

import argparse
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
INIT = HERE / "linux-assets.init"
MGMT_INIT = HERE / "mgmt.init"
MGMT_PROFILE = HERE / "mgmt.profile"
MGMT_SCRIPTS = HERE.parent / "tests" / "integration" / "mgmt"
UPLINK = HERE / "keel-uplink"
UDHCPC_SCRIPT = HERE / "udhcpc.script"  # udhcpc puts its lease on the interface
CACHE = Path(os.environ.get("KEEL_CACHE") or Path.home() / ".cache" / "keel")

DEBARCH = {"x86_64": "amd64", "aarch64": "arm64"}
KERNEL_NAME = {"x86_64": "vmlinuz", "aarch64": "Image"}
CONSOLE = {"x86_64": "ttyS0", "aarch64": "ttyAMA0"}  # a microVM's kernel console
# Debian's kernel flavours: the metapackage of each, by Debian architecture.
FLAVOURS = ("generic", "cloud", "rt")
# Modules /init can do without when the flavour does not build them: the power
# button's (Debian's cloud kernels have no gpio-keys on arm64).
OPTIONAL = {"button", "gpio_keys", "nvme", "virtio_net", "e1000e", "bridge",
            "vmw_vsock_virtio_transport", "crc32c_generic", "nft_chain_nat", "nft_masq"}
PCI_ONLY = {"nvme", "virtio_net", "e1000e", "bridge"}
# Modules /init loads, with the config symbol that builds each; their
# dependencies (virtio, virtio_ring...) come from each module's .modinfo.
# virtio_pci is for direct QEMU boots (q35 has no virtio-mmio); under Keel
# it loads and finds nothing.
WANTED = [
    ("virtio_mmio", "VIRTIO_MMIO"),
    ("virtio_pci", "VIRTIO_PCI"),
    ("virtio_blk", "VIRTIO_BLK"),
    ("virtio_console", "VIRTIO_CONSOLE"),
    ("virtio_rng", "HW_RANDOM_VIRTIO"),
    # Memory resizing (keelctl resize --memory); loads and finds nothing without a device.
    ("virtio_mem", "VIRTIO_MEM"),
    # The power button Keel's STOP presses: x86_64 ACPI (built in on arm64),
    # arm64 gpio-keys; /init reads its events through evdev.
    ("evdev", "INPUT_EVDEV"),
    ("button", "ACPI_BUTTON"),
    ("gpio_keys", "KEYBOARD_GPIO"),
    # Passed-through NVMe drives and NICs (PCI passthrough tests): in /lib/modules/pci,
    # loaded only with keel.pci=1 (each load patches kernel text with IPIs to every CPU).
    ("nvme", "BLK_DEV_NVME"),
    ("virtio_net", "VIRTIO_NET"),
    ("e1000e", "E1000E"),
    # The management partition's uplink (keel-uplink bridge): a Linux bridge.
    ("bridge", "BRIDGE"),
    # virtio-vsock (keel-vsock, keelctl vsock); vsock and the common transport come with it.
    ("vmw_vsock_virtio_transport", "VIRTIO_VSOCKETS"),
    # NAT in the management partition (keel-uplink nat): in /lib/modules/nat, loaded by it.
    # crc32c_generic first: libcrc32c (conntrack's) wants a crc32c, a soft dependency.
    ("crc32c_generic", "CRYPTO_CRC32C"),
    ("nft_chain_nat", "NFT_NAT"),
    ("nft_masq", "NFT_MASQ"),
]
NAT_ONLY = {"crc32c_generic", "nft_chain_nat", "nft_masq"}
# nft and the libraries it needs, from Debian's packages, for keel-uplink nat.
NAT_PACKAGES = ("nftables", "libnftables1", "libedit2", "libgmp10", "libjansson4", "libmnl0",
                "libnftnl11", "libxtables12", "libbsd0", "libmd0", "libtinfo6", "libc6")
TRIPLET = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
SHOWN_CONFIG = ["VIRTIO", "VIRTIO_MMIO", "VIRTIO_MMIO_CMDLINE_DEVICES", "VIRTIO_PCI",
                "VIRTIO_BLK", "VIRTIO_CONSOLE", "HW_RANDOM", "HW_RANDOM_VIRTIO"]
DISK_SIZE = 2 << 20
SECTOR = 512


def log(msg):
    print(f"linux-assets: {msg}", file=sys.stderr, flush=True)


def run(argv, cwd=None):
    """Run @argv; its stdout as text. CalledProcessError on failure."""
    return subprocess.run(argv, cwd=cwd, check=True, text=True,
                          stdout=subprocess.PIPE).stdout


def apt_out(argv):
    """Output of an apt-cache query, or "" when apt cannot answer (offline, no index)."""
    try:
        return subprocess.run(argv, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL).stdout
    except OSError:
        return ""


def pkg(name, debarch):
    """apt's name of @name for @debarch on this (amd64) host."""
    return name if debarch in ("amd64", "all") else f"{name}:{debarch}"


def candidate(name, debarch):
    m = re.search(r"^\s*Candidate:\s*(\S+)", apt_out(["apt-cache", "policy", pkg(name, debarch)]), re.M)
    return m.group(1) if m and m.group(1) != "(none)" else None


def metapackage(debarch, flavour):
    """linux-image-amd64, linux-image-cloud-amd64, linux-image-rt-arm64..."""
    return f"linux-image-{debarch}" if flavour == "generic" else f"linux-image-{flavour}-{debarch}"


def kernel_package(debarch, flavour="generic"):
    """The linux-image-<abi>-<flavour> package the metapackage points at."""
    meta = pkg(metapackage(debarch, flavour), debarch)
    m = re.search(r"Depends:\s*(linux-image-\d\S*)", apt_out(["apt-cache", "depends", meta]))
    return m.group(1).split(":")[0] if m else None


def lists_stamp():
    """Changes whenever apt's package lists do (apt-get update): mtimes and sizes."""
    lists = sorted(Path("/var/lib/apt/lists").glob("*Packages*"))
    return [[p.name, p.stat().st_mtime, p.stat().st_size] for p in lists]


def resolve(debarch, flavour="generic"):
    """{kernel: (package, version), busybox: version} for @debarch, values None if
    apt cannot tell. apt-cache takes ~2 s a query here (no pkgcache.bin), so the
    answer is kept in $KEEL_CACHE/linux/resolved-<debarch>[-<flavour>].json until
    the lists change."""
    suffix = "" if flavour == "generic" else f"-{flavour}"
    memo = CACHE / "linux" / f"resolved-{debarch}{suffix}.json"
    stamp = lists_stamp()
    try:
        old = json.loads(memo.read_text())
        if old["stamp"] == stamp and all(old["answer"].values()) and \
                all(old["answer"]["nat"].values()):
            return old["answer"]
    except (OSError, ValueError, KeyError):
        pass
    name = kernel_package(debarch, flavour)
    answer = {"kernel": name, "kernel_version": candidate(name, debarch) if name else None,
              "busybox_version": candidate("busybox-static", debarch),
              "nat": {n: candidate(n, debarch) for n in NAT_PACKAGES}}
    if stamp and all(answer.values()) and all(answer["nat"].values()):
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(json.dumps({"stamp": stamp, "answer": answer}) + "\n")
    return answer


def safe(version):
    """A version as a directory name (no epoch colon)."""
    return re.sub(r"[^A-Za-z0-9.+_~-]", "_", version.split(":", 1)[-1])


def newest_complete(top, debarch, accept=lambda name: True):
    """Offline fallback: the most recently completed top/<name>/@debarch whose
    <name> @accept takes, or None."""
    done = sorted((p for p in top.glob(f"*/{debarch}/.complete") if accept(p.parents[1].name)),
                  key=lambda p: p.stat().st_mtime)
    return done[-1].parent if done else None


def download(name, version, debarch):
    """The .deb of @name=@version for @debarch, from $KEEL_CACHE/debs or apt-get download."""
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    path = debs / f"{name}_{safe(version)}_{debarch}.deb"
    if not path.is_file():
        log(f"downloading {name}:{debarch} {version}")
        before = set(debs.glob(f"{name}_*_{debarch}.deb"))
        # As root, apt drops to _apt to download, which cannot write to $HOME: say so.
        sandbox = ["-o", "APT::Sandbox::User=root"] if os.geteuid() == 0 else []
        run(["apt-get", "download", "-q", *sandbox, f"{pkg(name, debarch)}={version}"], cwd=debs)
        new = set(debs.glob(f"{name}_*_{debarch}.deb")) - before
        if not path.is_file() and new:
            new.pop().rename(path)
    return path


def unpack(deb, dest):
    """dpkg-deb -x @deb into @dest, marked complete only once it all worked."""
    tmp = dest.with_name(dest.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    run(["dpkg-deb", "-x", str(deb), str(tmp)])
    (tmp / ".complete").write_text(deb.name + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def fetch_kernel(debarch, name, version, flavour="generic"):
    """Directory holding the unpacked kernel package @name=@version (cached;
    the newest cached one of @flavour if @version is None)."""
    if not version:
        # Cache entries: <abi>_<version> (generic), <abi>-<flavour>_<version> (6.1.0-57-rt_...).
        def ours(name):
            tags = [f"-{f}_" for f in FLAVOURS if f != "generic"]
            return f"-{flavour}_" in name if flavour != "generic" else not any(t in name for t in tags)
        hit = newest_complete(CACHE / "linux", debarch, ours)
        if not hit:
            raise SystemExit(f"linux-assets: apt knows no linux-image-{debarch} and nothing is cached "
                             f"(for arm64: dpkg --add-architecture arm64 && apt-get update; make deps does it)")
        log(f"offline: using cached {hit}")
        return hit
    dest = CACHE / "linux" / f"{name.removeprefix('linux-image-').rsplit('-', 1)[0]}_{safe(version)}" / debarch
    if not (dest / ".complete").is_file():
        unpack(download(name, version, debarch), dest)
    return dest


def prune(kdir, moddir, keep):
    """Keep of the unpacked kernel package only boot/, modules.builtin* and the
    modules in @keep (the whole package is ~400 MB unpacked). The .deb stays in
    $KEEL_CACHE/debs: a later run that needs another module unpacks it again."""
    if (kdir / ".pruned").is_file():
        return
    keep = {moddir / k for k in keep}
    for p in sorted((moddir / "kernel").rglob("*"), reverse=True):
        if p.is_file() and p not in keep:
            p.unlink()
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    shutil.rmtree(kdir / "usr", ignore_errors=True)
    (kdir / ".pruned").write_text("".join(f"{k.relative_to(moddir)}\n" for k in sorted(keep)))


def fetch_busybox(debarch, version):
    """Path of the static busybox binary for @debarch (cached; the newest cached
    one if @version is None)."""
    if version:
        dest = CACHE / "busybox" / safe(version) / debarch
        if not (dest / ".complete").is_file():
            unpack(download("busybox-static", version, debarch), dest)
    else:
        dest = newest_complete(CACHE / "busybox", debarch)
        if not dest:
            raise SystemExit(f"linux-assets: apt knows no busybox-static:{debarch} and nothing is cached")
        log(f"offline: using cached {dest}")
    return dest / "bin" / "busybox"


def read_in(root, rel):
    """Bytes of @rel inside the unpacked package @root, its symlinks resolved
    inside @root (an absolute target is @root's, not this host's)."""
    p = root / rel
    for _ in range(16):
        if not p.is_symlink():
            return p.read_bytes() if p.is_file() else None
        t = os.readlink(p)
        p = root / t.lstrip("/") if t.startswith("/") else p.parent / t
    return None


def elf_needs(data):
    """(interpreter or None, [NEEDED libraries]) of an ELF file, by readelf."""
    # A file of this process's own: builds for the two arches run side by side.
    with tempfile.NamedTemporaryFile(prefix="elf-", suffix=".probe") as tmp:
        tmp.write(data)
        tmp.flush()
        out = run(["readelf", "-d", "-l", "-W", tmp.name])
    interp = re.search(r"Requesting program interpreter: (\S+)\]", out)
    return (interp.group(1) if interp else None,
            re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", out))


def nat_userland(debarch, versions):
    """Initramfs entries for /usr/sbin/nft, its libraries and its dynamic loader,
    from Debian's packages (cached); [] if apt knows no version of one (then
    keel-uplink nat says nft is missing)."""
    if not all((versions or {}).get(n) for n in NAT_PACKAGES):
        log(f"{debarch}: no nftables packages known to apt: keel-uplink nat will lack nft")
        return []
    return userland(debarch, {n: versions[n] for n in NAT_PACKAGES}, ["usr/sbin/nft"])


def userland(debarch, versions, programs, dlopened=()):
    """Initramfs entries for @programs (paths inside the packages of @versions,
    {package: version}, unpacked into the cache), every library they need
    (NEEDED, transitively) and the libraries in @dlopened (loaded at run time)
    in /lib/<triplet>, and their dynamic loader: (path, bytes or None for a
    directory, mode), parents first. SystemExit naming what is missing."""
    roots = []
    for name, version in versions.items():
        dest = CACHE / "userland" / f"{name}_{safe(version)}" / debarch
        if not (dest / ".complete").is_file():
            unpack(download(name, version, debarch), dest)
        roots.append(dest)
    triplet = TRIPLET[debarch]

    def find(rel):
        return next((d for r in roots for d in (read_in(r, rel),) if d), None)

    files, todo, seen, interp = {}, [], set(dlopened), None
    for rel in programs:
        files[rel] = find(rel)
        if files[rel] is None:
            raise SystemExit(f"linux-assets: {rel} is in none of {sorted(versions)}")
        todo.append(files[rel])
    for lib in dlopened:
        data = find(f"lib/{triplet}/{lib}") or find(f"usr/lib/{triplet}/{lib}")
        if data is None:
            raise SystemExit(f"linux-assets: {lib} is in none of {sorted(versions)}")
        files[f"lib/{triplet}/{lib}"] = data
        todo.append(data)
    while todo:
        i, needed = elf_needs(todo.pop())
        interp = interp or i
        for lib in needed:
            if lib in seen:
                continue
            seen.add(lib)
            data = find(f"lib/{triplet}/{lib}") or find(f"usr/lib/{triplet}/{lib}")
            if data is None:
                raise SystemExit(f"linux-assets: {lib} (needed by {', '.join(programs)}) is "
                                 f"in none of {sorted(versions)}")
            files[f"lib/{triplet}/{lib}"] = data
            todo.append(data)
    if interp:
        files[interp.lstrip("/")] = find(interp.lstrip("/"))
    dirs = set()
    for p in files:
        for parent in Path(p).parents:
            if str(parent) not in (".", "lib"):  # build_initramfs makes /lib
                dirs.add(str(parent))
    return [(d, None, 0) for d in sorted(dirs, key=lambda d: (d.count("/"), d))] + \
        [(p, data, 0o755) for p, data in sorted(files.items())]


# ------------------------------------------------------------------ kernel


def kernel_files(kdir):
    """(kernel image, config file, modules directory) inside an unpacked kernel package."""
    images = sorted((kdir / "boot").glob("vmlinuz-*"))
    configs = sorted((kdir / "boot").glob("config-*"))
    mods = sorted(p for p in (kdir / "lib" / "modules").glob("*") if (p / "kernel").is_dir())
    if not (images and configs and mods):
        raise SystemExit(f"linux-assets: {kdir} lacks boot/vmlinuz-*, boot/config-* or lib/modules/*/kernel")
    return images[-1], configs[-1], mods[-1]


def read_config(path):
    """CONFIG_X=value pairs of a kernel config, without the CONFIG_ prefix."""
    cfg = {}
    for line in path.read_text().splitlines():
        m = re.match(r"CONFIG_(\w+)=(.*)", line)
        if m:
            cfg[m.group(1)] = m.group(2)
    return cfg


def modname(path):
    """Module name of a module path: kernel/drivers/char/hw_random/rng-core.ko -> rng_core."""
    return re.sub(r"\.ko(\.\w+)?$", "", Path(path).name).replace("-", "_")


def module_index(moddir):
    """{name: path relative to @moddir} of every module file; set of built-in names.

    The package carries no modules.dep (depmod makes it at install time), so
    dependencies are read from each module's own .modinfo (module_depends())."""
    files = {modname(p): p.relative_to(moddir) for p in (moddir / "kernel").rglob("*.ko*")}
    builtin = set()
    if (moddir / "modules.builtin").is_file():
        builtin = {modname(p) for p in (moddir / "modules.builtin").read_text().split()}
    return files, builtin


def module_depends(data):
    """Names in the 'depends=' string of a module's .modinfo section."""
    m = re.search(rb"\0depends=([^\0]*)\0", data)
    return [d.decode().replace("-", "_") for d in m.group(1).split(b",") if d] if m else []


class ModuleMissing(Exception):
    pass


def module_order(moddir, config, wanted=None):
    """The module paths /init loads for @wanted (default WANTED), dependencies first;
    checks each against the config."""
    files, builtin = module_index(moddir)
    order = []

    def visit(name, stack=()):
        if name in stack:
            raise SystemExit(f"linux-assets: dependency loop at {name}")
        if name in builtin:
            return
        if name not in files:
            raise ModuleMissing(f"linux-assets: module {name} (needed by {stack[-1]}) not found")
        for d in module_depends(module_bytes(moddir / files[name])):
            visit(d, stack + (name,))
        if files[name] not in order:
            order.append(files[name])

    for name, sym in WANTED if wanted is None else wanted:
        value = config.get(sym, "n")
        if value == "y" and name in builtin:
            continue
        if value != "m" and name in OPTIONAL:
            continue  # this flavour has no such driver; /init copes
        if value != "m" or name not in files:
            raise ModuleMissing(f"linux-assets: {name}: CONFIG_{sym}={value} but "
                             f"{'a' if name in files else 'no'} module file "
                             f"({'' if name in builtin else 'not '}built in)")
        visit(name)
    return order


def module_bytes(path):
    """A module's contents, decompressed if packaged as .ko.xz/.ko.gz/.ko.zst."""
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix == ".zst":
        return run_bytes(["zstd", "-dc", str(path)])
    return data


def run_bytes(argv):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE).stdout


# --------------------------------------------------------------- initramfs


class Cpio:
    """A newc cpio archive written in memory: device nodes need no root."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name_b = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0]
        self.ino += 1
        self.buf.write(b"070701" + b"".join(b"%08X" % f for f in fields) + name_b)
        self.buf.write(b"\0" * (-(110 + len(name_b)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def dir(self, name):
        self._entry(name, 0o040755)

    def file(self, name, data, mode=0o644):
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name, target):
        self._entry(name, 0o120777, target.encode())

    def chardev(self, name, major, minor):
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def busybox_applets(busybox):
    """Applet names of a busybox binary (it cannot run here if foreign: read its list)."""
    data = busybox.read_bytes()
    # The applet name table is one NUL-separated run of lowercase names starting at "[\0[[\0".
    start = data.find(b"[\0[[\0")
    if start < 0:
        return ["sh", "mount", "insmod", "poweroff", "reboot"]
    names = []
    for raw in data[start:start + 16384].split(b"\0"):
        if not raw or not re.fullmatch(rb"[\[a-z0-9_.\-]+\]?\]?", raw):
            break
        names.append(raw.decode())
    return names


def build_initramfs(arch, busybox, moddir, order, init=INIT, extra=(), pci=(), nat=()):
    """gzip'd newc cpio: /bin/busybox + applet links, /lib/modules/NN-name.ko,
    /lib/modules/pci/NN-name.ko (@pci, after @order), /lib/modules/nat (@nat,
    after both), /init (from @init) and @extra: (path, bytes, mode) files,
    parents first."""
    c = Cpio()
    for d in ("bin", "dev", "lib", "lib/modules", "lib/modules/pci", "lib/modules/nat", "proc",
              "sys", "tmp"):
        c.dir(d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3)
    c.file("bin/busybox", busybox.read_bytes(), 0o755)
    for applet in busybox_applets(busybox):
        if applet != "busybox":
            c.symlink(f"bin/{applet}", "busybox")
    for i, rel in enumerate(order):
        name = re.sub(r"\.(xz|gz|zst)$", "", Path(rel).name)
        c.file(f"lib/modules/{i:02d}-{name}", module_bytes(moddir / rel))
    for sub, mods in (("pci", pci), ("nat", nat)):
        for i, rel in enumerate(mods):
            name = re.sub(r"\.(xz|gz|zst)$", "", Path(rel).name)
            c.file(f"lib/modules/{sub}/{i:02d}-{name}", module_bytes(moddir / rel))
    c.file("init", init.read_text().replace("@ARCH@", arch).encode(), 0o755)
    for path, data, mode in extra:
        if data is None:
            c.dir(path)
        else:
            c.file(path, data, mode)
    return gzip.compress(c.finish(), compresslevel=6, mtime=0)


def mgmt_extra(arch, out, keelctl, keel_ko, guest=None):
    """Files the management partition's initramfs adds: keelctl, keel-uplink,
    udhcpc's script, keel.ko, the microVM images under /images (kernel, initrd.gz, disk.img) and
    the scenario scripts of tests/integration/mgmt under /scripts."""
    files = [("etc", None, 0), ("images", None, 0), ("scripts", None, 0), ("lib/keel", None, 0),
             ("bin/keelctl", Path(keelctl).read_bytes(), 0o755),
             ("bin/keel-uplink", UPLINK.read_bytes(), 0o755),
             ("etc/udhcpc", None, 0),
             ("etc/udhcpc/default.script", UDHCPC_SCRIPT.read_bytes(), 0o755),
             ("lib/keel/keel.ko", Path(keel_ko).read_bytes(), 0o644),
             ("etc/profile", MGMT_PROFILE.read_text().replace("@CONSOLE@", CONSOLE[arch])
              .encode(), 0o644)]
    for name, image in (("kernel", KERNEL_NAME[arch]), ("initrd.gz", "initrd.gz"),
                        ("disk.img", "disk.img")):
        files.append((f"images/{name}", (out / image).read_bytes(), 0o644))
    if guest:
        files.append(("images/testguest.elf", Path(guest).read_bytes(), 0o644))
    for script in sorted(MGMT_SCRIPTS.glob("*.sh")):
        files.append((f"scripts/{script.name}", script.read_bytes(), 0o755))
    return files


# -------------------------------------------------------------------- disk


def disk_bytes(size=DISK_SIZE, seed="keel"):
    """A raw disk: sector N holds 'KEEL-DISK <seed> sector N' padded with a
    byte pattern that depends on N and @seed, so every sector differs."""
    if size % SECTOR or size <= 0:
        raise ValueError(f"disk size {size} is not a positive multiple of {SECTOR}")
    salt = hashlib.sha256(seed.encode()).digest()
    out = bytearray()
    for n in range(size // SECTOR):
        head = f"KEEL-DISK {seed} sector {n}\n".encode()
        fill = hashlib.sha256(salt + n.to_bytes(8, "little")).digest()
        out += (head + fill * (SECTOR // len(fill) + 1))[:SECTOR]
    return bytes(out)


def make_disk(path, size=DISK_SIZE, seed="keel"):
    """Write the disk image to @path (if its content differs); its sha256 hex."""
    data = disk_bytes(size, seed)
    path = Path(path)
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMG]?)", text.strip().upper())
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 2M)")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


# -------------------------------------------------------------------- main


def write_if_changed(path, data):
    if not path.is_file() or path.read_bytes() != data:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build(arch, out, disk_size=DISK_SIZE, disk_seed="keel", keelctl=None, guest=None,
          flavour="generic"):
    """Make every asset for @arch (Debian kernel @flavour) in @out; the
    assets.json record (also returned).
    With @keelctl (path of the keelctl binary) also keel.ko and mgmt-initrd.gz,
    the management partition's initramfs (with @guest, Keel's test guest ELF,
    as /images/testguest.elf)."""
    debarch = DEBARCH[arch]
    want = resolve(debarch, flavour)
    kdir = fetch_kernel(debarch, want["kernel"], want["kernel_version"], flavour)
    busybox = fetch_busybox(debarch, want["busybox_version"])
    image, config_path, moddir = kernel_files(kdir)
    config = read_config(config_path)
    try:
        order = module_order(moddir, config)
    except ModuleMissing as e:
        if not (kdir / ".pruned").is_file() or not want["kernel_version"]:
            raise SystemExit(str(e)) from None
        log(f"{e} in the pruned cache; unpacking the package again")
        unpack(download(want["kernel"], want["kernel_version"], debarch), kdir)
        order = module_order(moddir, config)
    prune(kdir, moddir, order)
    base = module_order(moddir, config, [w for w in WANTED
                                         if w[0] not in PCI_ONLY and w[0] not in NAT_ONLY])
    pci = [m for m in module_order(moddir, config, [w for w in WANTED if w[0] in PCI_ONLY])
           if m not in base]
    nat = [m for m in order if m not in base and m not in pci]
    order = base
    out.mkdir(parents=True, exist_ok=True)

    kernel_out = out / KERNEL_NAME[arch]
    if not kernel_out.is_file() or kernel_out.stat().st_size != image.stat().st_size \
            or sha256_file(kernel_out) != sha256_file(image):
        shutil.copyfile(image, kernel_out)
    vmlinux = {"vmlinux": write_vmlinux(kdir, image, out)} \
        if arch == "x86_64" and flavour == "generic" else {}
    # keel-vsock and keel-blkbench, built beside keelctl, in every initramfs of the
    # generic kernel.
    vsock = []
    for name in ("keel-vsock", "keel-blkbench"):
        tool = Path(keelctl).with_name(name) if keelctl else None
        if tool and tool.is_file():
            vsock.append((f"bin/{name}", tool.read_bytes(), 0o755))
    write_if_changed(out / "initrd.gz",
                     build_initramfs(arch, busybox, moddir, order, extra=vsock, pci=pci))
    disk_sha = make_disk(out / "disk.img", disk_size, disk_seed)
    mgmt = {}
    if keelctl:
        kmod = load_sibling("kmod")
        version = want["kernel_version"] or \
            (kdir / ".complete").read_text().split("_")[1]
        ko = kmod.build_module(arch, moddir.name, version, out)
        write_if_changed(out / "mgmt-initrd.gz", build_initramfs(
            arch, busybox, moddir, order, MGMT_INIT,
            vsock + mgmt_extra(arch, out, keelctl, ko, guest)
            + nat_userland(debarch, want.get("nat")),
            pci=pci, nat=nat))
        mgmt = {"keel.ko": sha256_file(ko), "mgmt-initrd.gz": sha256_file(out / "mgmt-initrd.gz")}

    record = {
        "arch": arch,
        "flavour": flavour,
        "kernel_release": moddir.name,
        "kernel_package": (kdir / ".complete").read_text().strip(),
        "busybox_package": (busybox.parents[1] / ".complete").read_text().strip(),
        "config": {s: config.get(s, "n") for s in SHOWN_CONFIG},
        "modules": [modname(p) for p in order],
        "pci_modules": [modname(p) for p in pci],
        "nat_modules": [modname(p) for p in nat],
        "files": {
            KERNEL_NAME[arch]: sha256_file(kernel_out),
            **vmlinux,
            "initrd.gz": sha256_file(out / "initrd.gz"),
            "disk.img": disk_sha,
            **mgmt,
        },
        "disk_size": disk_size,
        "disk_seed": disk_seed,
    }
    write_if_changed(out / "assets.json", (json.dumps(record, indent=2) + "\n").encode())
    return record


def extract_vmlinux(bzimage):
    """The uncompressed ELF kernel inside an x86 bzImage: the payload its setup
    header points at (payload_offset/length, boot protocol 2.08+), decompressed."""
    d = bzimage.read_bytes()
    if d[0x202:0x206] != b"HdrS" or int.from_bytes(d[0x206:0x208], "little") < 0x208:
        raise SystemExit(f"linux-assets: {bzimage} is not a bzImage of boot protocol 2.08+")
    start = ((d[0x1F1] or 4) + 1) * 512
    offset, length = struct.unpack_from("<II", d, 0x248)
    payload = d[start + offset:start + offset + length]
    if payload[:6] == b"\xfd7zXZ\x00":
        data = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    elif payload[:2] == b"\x1f\x8b":
        data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
    else:
        raise SystemExit(f"linux-assets: {bzimage}: payload compressed with an unknown method "
                         f"(magic {payload[:4].hex()})")
    if data[:4] != b"\x7fELF":
        raise SystemExit(f"linux-assets: {bzimage}: its payload is not an ELF file")
    return data


def write_vmlinux(kdir, image, out):
    """out/vmlinux, decompressed once per kernel package (kept beside it in the cache)."""
    cached = kdir / "vmlinux"
    if not cached.is_file():
        tmp = kdir / "vmlinux.tmp"
        tmp.write_bytes(extract_vmlinux(image))
        tmp.rename(cached)
    dest = out / "vmlinux"
    if not dest.is_file() or dest.stat().st_size != cached.stat().st_size \
            or sha256_file(dest) != sha256_file(cached):
        shutil.copyfile(cached, dest)
    return sha256_file(dest)


def load_sibling(name):
    """tools/@name.py as a module (tools/ is not a package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", required=True, choices=sorted(DEBARCH))
    ap.add_argument("--out", required=True, type=Path, help="directory for the assets")
    ap.add_argument("--disk-size", type=parse_size, default=DISK_SIZE, help="e.g. 2M (default)")
    ap.add_argument("--disk-seed", default="keel", help="varies the disk pattern")
    ap.add_argument("--keelctl", type=Path,
                    help="keelctl binary: also build keel.ko and mgmt-initrd.gz")
    ap.add_argument("--guest", type=Path, help="with --keelctl: Keel's test guest ELF for /images")
    ap.add_argument("--flavour", choices=FLAVOURS, default="generic",
                    help="Debian kernel flavour (default generic)")
    args = ap.parse_args()
    t0 = time.monotonic()
    rec = build(args.arch, args.out, args.disk_size, args.disk_seed, args.keelctl, args.guest,
                args.flavour)
    log(f"{args.arch}: {rec['kernel_release']}, modules {' '.join(rec['modules']) or '-'} "
        f"(with keel.pci=1 {' '.join(rec['pci_modules']) or '-'}) "
        f"-> {args.out} ({time.monotonic() - t0:.1f} s)")


if __name__ == "__main__":
    main()
