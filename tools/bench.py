#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make bench`: the same Debian kernel + initramfs (a) in a Keel microVM,
(b) as the dom0 of Debian's Xen 4.17 booted by the same firmware on the same
machine (tools/bench_xen.py) and (c) directly under QEMU -kernel on the same
machine type, alternating a b c a b c (x86_64: a v b c, v the same microVM
whose kernel is the uncompressed vmlinux).

    tools/bench.py [--arch "x86_64 aarch64"] [--build build] [--pairs 5]

Per boot it takes, from the serial lines' arrival times: QEMU start -> the
kernel's first line ("Linux version"), that line -> /init's first marker
("KEEL-INIT <arch> start"), and the guest kernel's own clock when /init
started (its "KEEL-INIT uptime=" line; printk timestamps otherwise); under a
hypervisor also QEMU start -> the firmware handing over (the hypervisor's EFI
loader's first line) -> the guest's first instruction (Keel starting the
partition; Xen freeing its init memory before dom0 runs). It prints the
medians per side and their ratios (Keel / direct, Keel / Xen), Keel's own
memory per microVM if Keel logs it ("keel: partition 'X' overhead: N KiB"),
and writes everything as JSON to <build>/bench/linux-boot-<time>.json (and
latest.json). A side that fails is reported as failed; it does not stop the
run. Not a test: nothing here passes or fails.

Then `keelctl create --start` -> the microVM's first instruction and its
/init in a Linux management partition, --starts times, beside the direct
boots above and Xen's `xl create` of the same domU from its dom0, with both
hypervisors' memory (tools/bench_keelctl.py, tools/bench_xen.py), and the
management partition's idle load while keelctl waits on Keel's interrupt and
while it polls, and the
hypercall round trip (tools/bench_hypercall.py, its --hc-* and --icount
options), and a passed-through NVMe drive and NIC against the same
devices in a direct boot (tools/bench_passthrough.py, its --pt-* options),
and TCP throughput and ping between two microVMs on Keel's switch against two
direct guests joined by QEMU's -netdev socket (tools/bench_net.py, its --net-*
options), and virtio-blk's sequential and random 4 KiB reads and writes
against QEMU's virtio-blk-device (tools/bench_blk.py, its --blk-* options),
and the lab bench that `make bench-image` ships for real hosts, under
-icount (tools/bench_lab.py, its --lab-* options); --only
linux|keelctl|hypercall|passthrough|net|blk|lab runs just one. Each run ends
by rewriting docs/bench.md (tools/bench_report.py).
"""

import argparse
import json
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import bench_blk  # noqa: E402
import bench_hypercall  # noqa: E402
import bench_keelctl  # noqa: E402
import bench_lab  # noqa: E402
import bench_net  # noqa: E402
import bench_passthrough  # noqa: E402
import bench_report  # noqa: E402
import bench_xen  # noqa: E402
import keelrig  # noqa: E402
import linuxrig  # noqa: E402

NAME = "bench"  # the microVM's partition name
CPUS, MEMORY = 2, "256M"
GIVE_UP_AFTER = 2  # consecutive failures of one side before it is skipped
# The sides of a round are in sides(); "pairs" (--pairs) is the number of rounds.


def log(msg):
    print(f"bench: {msg}", flush=True)


def bench_cmdline(arch):
    """Both sides boot with this: /init stops after its first lines (no console wait)."""
    return linuxrig.cmdline(arch, wait=0)


def keel_argv(arch, build, a, workdir, vmlinux=False):
    """QEMU booting Keel with one Linux microVM (cpus 1-2) from an ESP in @workdir
    (@vmlinux: its kernel the uncompressed vmlinux, x86_64)."""
    esp = workdir / "esp"
    disk = a.disk("disk-bench.img", workdir)
    part = linuxrig.linux_partition(NAME, f"1-{CPUS}", bench_cmdline(arch), disk=disk,
                                    memory=MEMORY, on_reboot="stop")
    if vmlinux:
        part = part.replace(f"\\{linuxrig.KERNEL_NAME_ANY}", "\\vmlinux")
    config = keelrig.keel_cfg(part, on_idle="poweroff")
    keelrig.make_esp(esp, arch, build, config)
    linuxrig.fill_esp(esp, a, [disk], vmlinux=vmlinux)
    return keelrig.qemu_argv(arch, esp, smp=CPUS + 1, mem="2G")


def sides(arch):
    """What one round boots: Keel, Keel with the vmlinux (x86_64: the same kernel
    uncompressed, skipping its self-decompression), Xen with the kernel as dom0,
    and the direct boot."""
    return (("keel", "keel-vmlinux", "xen", "direct") if arch == "x86_64" else
            ("keel", "xen", "direct"))


# The firmware handing over to the hypervisor, and the hypervisor to the guest's
# first instruction (tools/bench_xen.py has Xen's lines).
KEEL_LOADER = r"^keel: loader: "  # its first lines, before Keel's clock starts
HANDOFF = {"keel": KEEL_LOADER, "keel-vmlinux": KEEL_LOADER, "xen": bench_xen.HANDOFF}
GUEST_START = {"keel": keelrig.keel(f"partition '{NAME}' started"),
               "keel-vmlinux": keelrig.keel(f"partition '{NAME}' started"),
               "xen": bench_xen.GUEST_START}


def direct_argv(arch, a, workdir):
    disk = a.disk("disk-bench.img", workdir)
    return linuxrig.direct_argv(arch, a, disk, workdir / "hvc0.sock", bench_cmdline(arch),
                                smp=CPUS, mem=MEMORY)


def hypervisor_phases(q, side, before):
    """QEMU start -> the firmware's hand-off -> the guest's first instruction, for
    the sides with a hypervisor, from lines before line @before."""
    if side not in HANDOFF:
        return {}
    handoff = q.find(HANDOFF[side])
    start = q.find(GUEST_START[side])
    if not handoff or not start or start.index > before:
        return {}
    return {"qemu_to_handoff_s": q.time_of(handoff), "qemu_to_guest_start_s": q.time_of(start),
            "handoff_to_guest_start_s": q.time_of(start) - q.time_of(handoff)}


def measure(q, arch, name, timeout, side="keel"):
    """Wait for the markers of one boot; a dict of timings (seconds) or raise AssertionError."""
    first = q.wait_for(linuxrig.said(name, r"(\[ *\d+\.\d+\] )?Linux version "), timeout)
    start = q.wait_for(linuxrig.said(name, f"KEEL-INIT {arch} start"), timeout, after=first.index)
    r = {
        "qemu_to_linux_s": q.time_of(first),
        "linux_to_init_s": q.time_of(start) - q.time_of(first),
        "qemu_to_init_s": q.time_of(start),
    }
    try:
        up = q.wait_for(linuxrig.said(name, r"KEEL-INIT uptime="), 30, after=start.index)
        r["kernel_clock_at_init_s"] = float(linuxrig.value(up, "uptime"))
    except (AssertionError, ValueError, TypeError):
        stamps = [linuxrig.printk_time(t) for t in q.lines[first.index:start.index]]
        stamps = [s for s in stamps if s is not None]
        r["kernel_clock_at_init_s"] = max(stamps) if stamps else None
    r["printk_lines"] = sum(1 for t in q.lines[:start.index] if linuxrig.printk_time(t) is not None)
    r.update(hypervisor_phases(q, side, first.index))
    over = q.find(keelrig.keel(rf"partition '{name}' overhead: (\d+) KiB")) if name else None
    if over:
        r["keel_overhead_kib"] = int(re.search(r"overhead: (\d+) KiB", over).group(1))
    return r


def one_boot(side, arch, build, a, logdir, n, timeout):
    """Boot one side (sides()) once; its timings or {'error': why}."""
    with tempfile.TemporaryDirectory(prefix=f"keel-bench-{arch}-") as tmp:
        workdir = Path(tmp)
        try:
            if side == "direct":
                argv = direct_argv(arch, a, workdir)
            elif side == "xen":
                argv = bench_xen.xen_argv(arch, a, workdir, bench_cmdline(arch), CPUS, MEMORY,
                                          CPUS + 1)
            else:
                argv = keel_argv(arch, build, a, workdir, vmlinux=side == "keel-vmlinux")
        except (FileNotFoundError, OSError, SystemExit) as e:
            return {"error": str(e)}
        log_path = logdir / f"{arch}-{side}-{n}.log"
        with linuxrig.LinuxQemu(argv, log_path, hard_timeout=timeout + 30,
                                name=f"{arch} {side} {n}") as q:
            try:
                return measure(q, arch, None if side in ("direct", "xen") else NAME, timeout,
                               side)
            except AssertionError as e:
                tail = " | ".join(q.tail(3))
                return {"error": f"{e} (log {log_path}; last lines: {tail})"}


def median(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def summarize(runs):
    ok = [r for r in runs if "error" not in r]
    keys = ("qemu_to_linux_s", "linux_to_init_s", "qemu_to_init_s", "kernel_clock_at_init_s",
            "keel_overhead_kib", "qemu_to_handoff_s", "qemu_to_guest_start_s",
            "handoff_to_guest_start_s")
    s = {"boots": len(runs), "ok": len(ok)}
    s.update({f"median_{k}": median(ok, k) for k in keys})
    if len(ok) < len(runs):
        s["errors"] = sorted({r["error"].split(" (log ")[0] for r in runs if "error" in r})
    return s


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def bench_arch(arch, build, pairs, timeout, logdir):
    """a b a b ... for one arch; the JSON record of both sides."""
    a = linuxrig.assets(arch, build)
    runs = {side: [] for side in sides(arch)}
    fails = {side: 0 for side in sides(arch)}
    for n in range(1, pairs + 1):
        for side in sides(arch):
            if fails[side] >= GIVE_UP_AFTER:
                runs[side].append({"error": f"skipped after {GIVE_UP_AFTER} failures in a row"})
                continue
            r = one_boot(side, arch, build, a, logdir, n, timeout)
            fails[side] = fails[side] + 1 if "error" in r else 0
            runs[side].append(r)
            log(f"{arch} {side:6} #{n}: " + (f"FAILED: {r['error']}" if "error" in r else
                " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in r.items())))
    summary = {side: summarize(rs) for side, rs in runs.items()}
    k, d = summary["keel"], summary["direct"]
    vml, xen = summary.get("keel-vmlinux"), summary.get("xen")
    return {
        "arch": arch,
        "kernel": a.record.get("kernel_release"),
        "cmdline": bench_cmdline(arch),
        "microvm": {"cpus": CPUS, "memory": MEMORY},
        "runs": runs,
        "summary": summary,
        "ratio_keel_over_direct": {
            "linux_to_init": ratio(k["median_linux_to_init_s"], d["median_linux_to_init_s"]),
            "kernel_clock_at_init": ratio(k["median_kernel_clock_at_init_s"],
                                          d["median_kernel_clock_at_init_s"]),
            "qemu_to_init": ratio(k["median_qemu_to_init_s"], d["median_qemu_to_init_s"]),
        },
        **({"ratio_vmlinux_over_bzimage": {
            "qemu_to_linux": ratio(vml["median_qemu_to_linux_s"], k["median_qemu_to_linux_s"]),
            "qemu_to_init": ratio(vml["median_qemu_to_init_s"], k["median_qemu_to_init_s"]),
            "kernel_clock_at_init": ratio(vml["median_kernel_clock_at_init_s"],
                                          k["median_kernel_clock_at_init_s"]),
        }} if vml else {}),
        **({"ratio_keel_over_xen": {
            key: ratio(k[f"median_{key}_s"], xen[f"median_{key}_s"]) for key in XEN_PHASES
        }} if xen else {}),
    }


XEN_PHASES = ("qemu_to_handoff", "handoff_to_guest_start", "qemu_to_guest_start", "qemu_to_linux",
              "linux_to_init", "qemu_to_init", "kernel_clock_at_init")


def fmt(v, unit=" s"):
    return "failed" if v is None else (f"{v:.2f}{unit}" if isinstance(v, float) else f"{v}{unit}")


def print_against(title, names, a, b, ratios, keys):
    """Side summary @a against @b over @keys (their medians and ratios)."""
    print(f"  {title}")
    print(f"  {'':28} {names[0]:>10} {names[1]:>10} {'ratio':>7}")
    for key in keys:
        print(f"  {key.replace('_', ' '):28} {fmt(a[f'median_{key}_s']):>10} "
              f"{fmt(b[f'median_{key}_s']):>10} {fmt(ratios[key], ''):>7}")


def report(rec):
    arch, s, r = rec["arch"], rec["summary"], rec["ratio_keel_over_direct"]
    print(f"\n{arch} ({rec['kernel']}, {CPUS} vCPUs, {MEMORY}): medians "
          f"of {s['keel']['ok']}/{s['keel']['boots']} Keel and "
          f"{s['direct']['ok']}/{s['direct']['boots']} direct boots")
    print(f"  {'':28} {'Keel':>10} {'direct':>10} {'ratio':>7}")
    rows = [("Linux version -> init", "linux_to_init"),
            ("kernel clock at init", "kernel_clock_at_init"),
            ("QEMU start -> init", "qemu_to_init"),
            ("QEMU start -> Linux version", None)]
    for label, key in rows:
        mk = s["keel"][f"median_{key or 'qemu_to_linux'}_s"]
        md = s["direct"][f"median_{key or 'qemu_to_linux'}_s"]
        rt = r.get(key) if key else ratio(mk, md)
        print(f"  {label:28} {fmt(mk):>10} {fmt(md):>10} {fmt(rt, ''):>7}")
    kib = s["keel"]["median_keel_overhead_kib"]
    print(f"  Keel memory per microVM beyond guest RAM: "
          f"{'not reported' if kib is None else f'{kib} KiB'}")
    vml, xen = s.get("keel-vmlinux"), s.get("xen")
    if vml:
        print_against(f"Keel with the kernel as vmlinux ({vml['ok']}/{vml['boots']} boots), "
                      "against the bzImage above:", ("vmlinux", "bzImage"), vml, s["keel"],
                      rec["ratio_vmlinux_over_bzimage"],
                      ("qemu_to_linux", "qemu_to_init", "kernel_clock_at_init"))
    if xen:
        print_against(f"Keel against Xen {bench_xen.VERSION} with the same kernel as dom0 "
                      f"({xen['ok']}/{xen['boots']} boots):", ("Keel", "Xen"), s["keel"], xen,
                      rec["ratio_keel_over_xen"], XEN_PHASES)
    for side in s:
        for e in s[side].get("errors", []):
            print(f"  {side} failed: {e}")


def write_report(build):
    """docs/bench.md and its plots from the newest JSONs (tools/bench_report.py). A failure
    there is a warning: the benchmarks' own results are already written."""
    try:
        bench_report.write(build)
    except Exception as e:  # noqa: BLE001 - whatever breaks the page must not fail the bench
        log(f"warning: docs/bench.md not written: {e!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="x86_64 aarch64", help="space or comma separated")
    ap.add_argument("--build", default="build", help="build directory (as make BUILD=)")
    ap.add_argument("--pairs", type=int, default=5, help="a/b pairs per arch (at least 5 advised)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per boot to the marker")
    ap.add_argument("--only",
                    choices=("linux", "hypercall", "keelctl", "passthrough", "net", "blk", "lab"),
                    help="run one benchmark, not all seven")
    bench_hypercall.options(ap)
    bench_keelctl.options(ap)
    bench_passthrough.options(ap)
    bench_net.options(ap)
    bench_blk.options(ap)
    bench_lab.options(ap)
    args = ap.parse_args()
    build = Path(args.build)
    if not build.is_absolute():
        build = ROOT / build
    arches = [x for x in re.split(r"[\s,]+", args.arch) if x]
    if args.only == "hypercall":  # the hypercall round trip alone (see the end)
        bench_hypercall.run(arches, build, args)
        write_report(build)
        return
    if args.only == "passthrough":
        bench_passthrough.run(build, args)
        write_report(build)
        return
    if args.only == "net":
        bench_net.run(arches, build, args)
        write_report(build)
        return
    if args.only == "blk":
        bench_blk.run(arches, build, args)
        write_report(build)
        return
    if args.only == "lab":
        bench_lab.run(arches, build, args)
        write_report(build)
        return
    outdir = build / "bench"
    logdir = outdir / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    args.cpus, args.memory = CPUS, MEMORY

    def direct_boots(arch):
        """The same microVM booted directly, args.starts times (for bench_keelctl)."""
        a = linuxrig.assets(arch, build)
        runs = []
        for n in range(1, args.starts + 1):
            r = one_boot("direct", arch, build, a, logdir, f"k{n}", args.timeout)
            log(f"{arch} direct #{n}: " + r.get("error", f"qemu_to_init={r.get('qemu_to_init_s', 0):.2f} s"))
            runs.append(r)
        return runs

    if args.only == "keelctl":
        bench_keelctl.run(arches, build, args, direct_boots)
        write_report(build)
        return

    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(),
              "qemu": keelrig.qemu_version(), "pairs": args.pairs, "arches": {}}
    for arch in arches:
        log(f"{arch}: {args.pairs} rounds of {', '.join(sides(arch))}")
        result["arches"][arch] = rec = bench_arch(arch, build, args.pairs, args.timeout, logdir)
        report(rec)
    path = outdir / f"linux-boot-{time.strftime('%Y%m%d-%H%M%S')}.json"
    text = json.dumps(result, indent=2) + "\n"
    path.write_text(text)
    (outdir / "latest.json").write_text(text)
    print(f"\nbench: results in {path}")

    # ---- keelctl start -> init, beside direct boots (tools/bench_keelctl.py) ----
    # Its direct side: the direct boots of the pairs above (same kernel, cmdline, size).
    if args.only != "linux":
        bench_keelctl.run(arches, build, args, lambda arch: [
            r for r in result["arches"][arch]["runs"]["direct"] if "error" not in r])

    # ---- the hypercall round trip under -icount (tools/bench_hypercall.py) ----
    if args.only != "linux":
        bench_hypercall.run(arches, build, args)

    # ---- passthrough NVMe and NIC against a direct boot (tools/bench_passthrough.py) ----
    if args.only != "linux":
        bench_passthrough.run(build, args)

    # ---- two microVMs on Keel's switch against two direct guests (tools/bench_net.py) ----
    if args.only != "linux":
        bench_net.run(arches, build, args)

    # ---- virtio-blk against QEMU's virtio-blk-device (tools/bench_blk.py) ----
    if args.only != "linux":
        bench_blk.run(arches, build, args)

    # ---- the lab bench image's configuration under -icount (tools/bench_lab.py) ----
    if args.only != "linux":
        bench_lab.run(arches, build, args)
    write_report(build)


if __name__ == "__main__":
    main()
