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

import json
import re
import shutil
import subprocess
import tempfile
import types
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


# ---- `xl create` of a domU from dom0: the peer of `keelctl create --start` ----

# Xen's toolstack in dom0: its daemons and xl, with every library they load.
TOOLS_DIR = f"usr/lib/xen-{VERSION}/bin"
XL_PROGRAMS = [f"{TOOLS_DIR}/{p}" for p in ("xl", "xenstored", "xenconsoled", "xen-init-dom0")]
XL_PACKAGES = (f"xen-utils-{VERSION}", f"libxenmisc{VERSION}", "libxenstore4", "libxencall1",
               "libxenevtchn1", "libxenforeignmemory1", "libxengnttab1", "libxentoollog1",
               "libxendevicemodel1", "libxentoolcore1", "libxenhypfs1", "libyajl2", "libc6",
               "libgcc-s1", "libuuid1", "zlib1g", "liblzma5", "libzstd1", "libsystemd0",
               "liblz4-1", "libcap2", "libgcrypt20", "libgpg-error0", "libtinfo6",
               "libncursesw6")
# Arm's libxl builds the domU's device tree with libfdt.
XL_PACKAGES_OF = {"amd64": XL_PACKAGES, "arm64": XL_PACKAGES + ("libfdt1",)}
XL_DLOPENED = ("libgcc_s.so.1",)  # glibc loads it for pthread_cancel (xl's children)
# dom0's kernel modules for the toolstack, in load order (drivers/xen in Debian's kernel).
XEN_MODULES = ("xen-privcmd.ko", "xenfs/xenfs.ko", "xen-evtchn.ko", "xen-gntdev.ko",
               "xen-gntalloc.ko")
DOM0_INIT = Path(__file__).resolve().parent / "xen-dom0.init"
DOM0_MEMORY = "512M"  # dom0 holds the domU's kernel and initramfs in its own initramfs
XL_LINES = ("XEN-XL-CREATE", "XEN-XL-CREATED", "XEN-XL-DOMU-INIT")


def xl_versions(debarch):
    """{package: version} of XL_PACKAGES_OF[@debarch], kept in the cache until apt's
    lists change (apt-cache takes seconds a query here)."""
    t = linuxrig.tool()
    memo = t.CACHE / "xen" / f"xl-resolved-{debarch}.json"
    stamp = t.lists_stamp()
    try:
        old = json.loads(memo.read_text())
        if old["stamp"] == stamp and all(old["versions"].values()):
            return old["versions"]
    except (OSError, ValueError, KeyError):
        pass
    versions = {n: t.candidate(n, debarch) for n in XL_PACKAGES_OF[debarch]}
    missing = [n for n, v in versions.items() if not v]
    if missing:
        raise FileNotFoundError(f"apt knows no {', '.join(missing)} for {debarch}")
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text(json.dumps({"stamp": stamp, "versions": versions}) + "\n")
    return versions


def xen_modules(a):
    """[(name, bytes)] of XEN_MODULES from the kernel package of assets @a, taken
    out of its .deb once and kept in $KEEL_CACHE/xen/modules/<package>/."""
    t = linuxrig.tool()
    deb = t.CACHE / "debs" / a.record["kernel_package"]
    release = a.record["kernel_release"]
    dest = t.CACHE / "xen" / "modules" / deb.stem
    if not (dest / ".complete").is_file():
        if not deb.is_file():
            raise FileNotFoundError(f"{deb} is not cached (make linux-assets)")
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True,
                             stdout=subprocess.PIPE).stdout
        subprocess.run(["tar", "-x", "-C", str(dest), "--wildcards",
                        f"./lib/modules/{release}/kernel/drivers/xen/*"], input=tar, check=True)
        (dest / ".complete").write_text(deb.name + "\n")
    moddir = dest / "lib" / "modules" / release / "kernel" / "drivers" / "xen"
    out = []
    for rel in XEN_MODULES:
        found = sorted(moddir.glob(rel + "*"))
        if not found:
            raise FileNotFoundError(f"{release} has no drivers/xen/{rel}")
        out.append((Path(rel).name, t.module_bytes(found[0])))
    return out


def busybox_of(a):
    """The busybox binary the assets @a were built with (from the cache)."""
    t = linuxrig.tool()
    for done in (t.CACHE / "busybox").glob(f"*/{DEBARCH[a.arch]}/.complete"):
        if done.read_text().strip() == a.record["busybox_package"]:
            return done.parent / "bin" / "busybox"
    raise FileNotFoundError(f"{a.record['busybox_package']} is not cached (make linux-assets)")


def domu_config(arch, cmdline, cpus, memory_mib):
    """xl's config of the domU: the microVM's kernel, initramfs, command line,
    vCPUs and memory. x86_64: PVH (Linux's own entry, no device model), with the
    TSC native: with Xen's TSC emulation QEMU 7.2's SVM reports RDTSCP as an
    RDTSC intercept and the guest never boots."""
    lines = ['name = "bvm"', 'kernel = "/images/kernel"', 'ramdisk = "/images/initrd.gz"',
             f'extra = "{dom0_cmdline(cmdline)}"', f"memory = {memory_mib}", f"vcpus = {cpus}",
             'on_poweroff = "destroy"', 'on_reboot = "destroy"', 'on_crash = "destroy"']
    if arch == "x86_64":
        lines += ['type = "pvh"', 'tsc_mode = "native"']
    return "\n".join(lines) + "\n"


def dom0_initrd(arch, a, cmdline, cpus, memory_mib):
    """gzip'd initramfs of the toolstack dom0 (tools/xen-dom0.init) with the domU's
    kernel and initramfs under /images."""
    t = linuxrig.tool()
    debarch = DEBARCH[arch]
    init = DOM0_INIT.read_text().replace("@XENV@", VERSION).replace("@ARCH@", arch)
    extra = [("etc", None, 0), ("etc/xen", None, 0), ("images", None, 0),
             ("lib/modules/xen", None, 0),
             ("etc/xen/bvm.cfg", domu_config(arch, cmdline, cpus, memory_mib).encode(), 0o644),
             ("images/kernel", a.kernel.read_bytes(), 0o644),
             ("images/initrd.gz", a.initrd.read_bytes(), 0o644)]
    extra += [(f"lib/modules/xen/{i}-{name}", data, 0o644)
              for i, (name, data) in enumerate(xen_modules(a))]
    extra += t.userland(debarch, xl_versions(debarch), XL_PROGRAMS, XL_DLOPENED)
    with tempfile.NamedTemporaryFile("w", suffix=".init") as f:
        f.write(init)
        f.flush()
        return t.build_initramfs(arch, busybox_of(a), Path("/nonexistent"), [],
                                 init=Path(f.name), extra=extra)


def xl_argv(arch, a, workdir, cmdline, cpus, memory, rounds, smp):
    """QEMU booting Xen whose dom0 (tools/xen-dom0.init) creates the domU @rounds times."""
    memory_mib = linuxrig.tool().parse_size(memory) >> 20
    initrd = workdir / "dom0-initrd.gz"
    initrd.write_bytes(dom0_initrd(arch, a, cmdline, cpus, memory_mib))
    dom0 = types.SimpleNamespace(kernel=a.kernel, initrd=initrd)
    line = f"console=hvc0 loglevel=4 panic=-1 xen.rounds={rounds}"
    return xen_argv(arch, dom0, workdir, line, 1, DOM0_MEMORY, smp)


def xl_side(arch, a, n, cpus, memory, cmdline, logdir, timeout, smp):
    """`xl create` of the domU @n times in one Xen boot: per round the seconds from
    the command, and from its return, to the domU's first /init line; Xen's memory
    (xl info total - free - dom0) and what each running domU took beyond its RAM.
    QEMU gets @smp CPUs."""
    with tempfile.TemporaryDirectory(prefix=f"keel-bench-xl-{arch}-") as tmp:
        workdir = Path(tmp)
        try:
            argv = xl_argv(arch, a, workdir, cmdline, cpus, memory, n, smp)
        except (FileNotFoundError, OSError, SystemExit, subprocess.CalledProcessError) as e:
            return {"error": f"Xen's dom0 not built: {e}"}
        log_path = logdir / f"{arch}-xl-create.log"
        with linuxrig.LinuxQemu(argv, log_path, hard_timeout=timeout * (n + 2),
                                name=f"{arch} xl create") as q:
            out = {"create_to_init_s": [], "return_to_init_s": [], "create_s": []}
            try:
                mem = q.wait_for(r"XEN-XL-MEM total=|XEN-XL-FAIL", timeout * 2)
                if "FAIL" in mem:
                    return {"error": f"{mem} (log {log_path})"}
                total, free, dom0 = (int(linuxrig.value(mem, k) or 0)
                                     for k in ("total", "free", "dom0"))
                out["memory_mib"] = {"total": total, "free": free, "dom0": dom0,
                                     "xen": total - free - dom0}
                after, domu_free = mem.index, []
                for i in range(1, n + 1):
                    lines = []
                    for what in XL_LINES:
                        line = q.wait_for(rf"^{what} {i}$|XEN-XL-FAIL", timeout, after=after)
                        if "FAIL" in line:
                            return {**out, "error": f"{line} (log {log_path})"}
                        lines.append(line)
                        after = line.index
                    create, created, init = (q.time_of(x) for x in lines)
                    out["create_to_init_s"].append(init - create)
                    out["return_to_init_s"].append(init - created)
                    out["create_s"].append(created - create)
                    m = q.wait_for(rf"^XEN-XL-MEM-DOMU {i} free=", timeout, after=after)
                    domu_free.append(int(linuxrig.value(m, "free") or 0))
                    log(f"{arch} xl create #{i}: returned after {created - create:.2f} s, "
                        f"domU /init {init - create:.2f} s after the command")
                q.wait_for(rf"^XEN-XL-DONE {n}$|XEN-XL-FAIL", timeout, after=after)
                # A running domU's cost beyond its RAM, in MiB as xl shows it.
                mib = linuxrig.tool().parse_size(memory) >> 20
                out["memory_mib"]["per_domu"] = [free - f - mib for f in domu_free]
                return out
            except AssertionError as e:
                return {**out, "error": f"{e} (log {log_path})"}
