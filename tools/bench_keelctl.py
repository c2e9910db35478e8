#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make bench`, part 3: `keelctl create --start` -> the microVM's first
instruction and its /init, against Xen's `xl create`, and both hypervisors'
memory.

Boots Keel with the Linux management partition (as tests/integration/
test_mgmt_linux.py does) and types /scripts/bench-start.sh into its shell:
N times it runs `keelctl create --start` for a microVM (the same kernel,
initramfs, cmdline, vCPUs and memory as tools/bench.py's microVM), printing
"BENCH-CREATE i" before and "BENCH-STARTED i" when that returns; the
microVM's first /init line ("KEEL-INIT <arch> start") then arrives on the
serial console. The times from those two lines to it are the first figures.
The next is Keel's own clock from the START call (the images already copied
in) to the boot vCPU's first guest instruction (`keelctl stats`
first_insn_ns; the issue's target is 0.3 s under TCG). Medians of N (>= 5),
beside the same kernel booted directly by QEMU -kernel (QEMU start -> the
same line) in the same run: tools/bench.py passes its direct boots in.

Then Xen 4.17 on the same machine: its dom0 runs `xl create` of a domU with
the same kernel, initramfs, command line, vCPUs and memory N times
(tools/bench_xen.py, tools/xen-dom0.init), timed the same way. Memory: Keel's
footprint from its boot line and, per microVM, the free memory each create
took less the microVM's RAM and images; Xen's from `xl info` (total - free -
dom0) and what each running domU took beyond its RAM. --no-xl leaves Xen out.
JSON in <build>/bench/keelctl-start-<time>.json. Not a test: nothing passes
or fails.
"""

import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import bench_xen  # noqa: E402
import keelrig  # noqa: E402
import linuxrig  # noqa: E402

NAME = "bvm"


def log(msg):
    print(f"bench-keelctl: {msg}", flush=True)


def mgmt_config(arch):
    mgmt = keelrig.partition(
        "mgmt", 1, "console=hvc0 loglevel=4 panic=-1", memory="384M",
        kernel=f"\\{linuxrig.ESP_DIR}\\{linuxrig.KERNEL_NAME_ANY}",
        initrd=f"\\{linuxrig.ESP_DIR}\\mgmt-initrd.gz", management="yes")
    return keelrig.keel_cfg(mgmt, on_idle="poweroff")


IDLE_LINE = re.compile(r"^BENCH-IDLE (none|watch|poll) busy_ticks=(\d+) total_ticks=(\d+) "
                       r"calls=(-?\d+)$")
USER_HZ = 100  # /proc/stat's ticks, on both arches


def idle_side(q, arch, vms, seconds, timeout, after):
    """The manager's load with @vms quiet microVMs (bench-idle.sh): with no
    keelctl (its baseline), then a keelctl console on each waiting on Keel's
    interrupt, then polling; per mode, the busy share of its CPU and its
    hypercalls per second."""
    q.send(f"/scripts/bench-idle.sh {vms} {seconds}\n")
    done = q.wait_for(r"^BENCH-IDLE-DONE$|BENCH-FAIL", timeout + 4 * seconds, after=after)
    if "FAIL" in done:
        return {"error": done}
    out = {"microvms": vms, "seconds": seconds}
    for line in q.find_all(r"^BENCH-IDLE (none|watch|poll) ", after=after):
        m = IDLE_LINE.match(line)
        if not m:
            continue
        busy, total, calls = int(m.group(2)), int(m.group(3)), int(m.group(4))
        out[m.group(1)] = {"busy_ticks": busy, "total_ticks": total,
                           "busy_pct": round(100.0 * busy / total, 2) if total else None,
                           "cpu_s": busy / USER_HZ,
                           "hypercalls_per_s": round(calls / seconds, 1)}
        log(f"{arch} manager with {vms} idle microVMs, keelctl: {m.group(1)}: "
            f"{out[m.group(1)]['busy_pct']}% busy, {out[m.group(1)]['hypercalls_per_s']} "
            f"hypercalls/s")
    return out


def smp_for(cpus, idle_vms):
    """QEMU's CPUs for the manager, the microVM (or the idle ones) and a spare;
    Xen's side gets as many."""
    return max(cpus, idle_vms) + 2


FOOTPRINT = re.compile(r"memory: Keel holds (\d+) KiB of (\d+) MiB")


def page_up(n):
    return (n + 4095) & ~4095


def keel_memory(q, a, memory, took):
    """Keel's own footprint (its boot line), and what it keeps per microVM beyond
    the microVM's RAM and images: the free memory each create --start took, less
    those (images are kept page by page, as the management ABI says)."""
    out = {}
    line = q.find(keelrig.keel(FOOTPRINT.pattern))
    if line:
        m = FOOTPRINT.search(line)
        out["keel_kib"], out["ram_mib"] = int(m.group(1)), int(m.group(2))
    images = sum(page_up(p.stat().st_size) for p in (a.kernel, a.initrd, a.dir / "disk.img"))
    ram = linuxrig.tool().parse_size(memory)
    out["per_microvm_kib"] = [(t - ram - images) // 1024 for t in took]
    return out


def keel_side(arch, build, n, cpus, memory, cmdline, logdir, timeout, idle_vms=4,
              idle_seconds=10):
    """Seconds from each BENCH-STARTED line to the microVM's first /init line,
    Keel's START -> first instruction, and the manager's idle load (idle_side)."""
    a = linuxrig.assets(arch, build)
    if not a.mgmt_initrd.is_file():
        return {"error": "no mgmt-initrd.gz (keelctl not built)"}
    with tempfile.TemporaryDirectory(prefix=f"keel-bench-mgmt-{arch}-") as tmp:
        esp = Path(tmp) / "esp"
        keelrig.make_esp(esp, arch, build, mgmt_config(arch))
        linuxrig.fill_esp(esp, a, mgmt=True)
        argv = keelrig.qemu_argv(arch, esp, smp=smp_for(cpus, idle_vms), mem="2G")
        log_path = logdir / f"{arch}-keelctl-start.log"
        with linuxrig.LinuxQemu(argv, log_path, hard_timeout=timeout * (n + 1),
                                name=f"{arch} keelctl start") as q:
            try:
                q.wait_for(r"KEEL-MGMT ready", timeout)
                q.send(f"/scripts/bench-start.sh {n} {cpus} {memory} {cmdline}\n")
                times, creates, firsts, took = [], [], [], []
                after = 0
                for i in range(1, n + 1):
                    create = q.wait_for(rf"^BENCH-CREATE {i}$|BENCH-FAIL", timeout, after=after)
                    started = q.wait_for(rf"^BENCH-STARTED {i}$|BENCH-FAIL", timeout,
                                         after=create.index)
                    if "FAIL" in started:
                        return {"error": started, "runs_s": times}
                    init = q.wait_for(linuxrig.said(NAME, f"KEEL-INIT {arch} start"), timeout,
                                      after=started.index)
                    times.append(q.time_of(init) - q.time_of(started))
                    creates.append(q.time_of(init) - q.time_of(create))
                    mem = q.wait_for(rf"^BENCH-MEM {i} took=-?\d+$", timeout, after=started.index)
                    took.append(int(linuxrig.value(mem, "took")))
                    first = q.wait_for(rf"^BENCH-FIRST {i} \d+$|BENCH-FAIL", timeout,
                                       after=max(init.index, mem.index))
                    if "FAIL" in first:
                        return {"error": first, "runs_s": times, "first_insn_s": firsts}
                    firsts.append(int(first.split()[-1]) / 1e9)
                    log(f"{arch} keelctl create --start #{i}: first instruction "
                        f"{firsts[-1] * 1000:.1f} ms, /init {times[-1]:.2f} s after it returned, "
                        f"{creates[-1]:.2f} s after the command")
                    after = first.index
                done = q.wait_for(rf"BENCH-DONE {n}", timeout, after=after)
                idle = idle_side(q, arch, idle_vms, idle_seconds, timeout, done.index)
                return {"runs_s": times, "create_to_init_s": creates, "first_insn_s": firsts,
                        "mgmt_idle": idle, "memory": keel_memory(q, a, memory, took)}
            except AssertionError as e:
                return {"error": f"{e} (log {log_path})"}


def med(values):
    return statistics.median(values) if values else None


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def run(arches, build, args, direct_boots):
    """Per arch: the Keel side here, the direct side from @direct_boots(arch) ->
    list of bench.py boot records (qemu_to_init_s)."""
    outdir = build / "bench"
    logdir = outdir / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "starts": args.starts, "arches": {}}
    for arch in arches:
        cmdline = linuxrig.cmdline(arch, wait=0)
        log(f"{arch}: {args.starts} keelctl starts in one management partition")
        keel = keel_side(arch, build, args.starts, args.cpus, args.memory, cmdline, logdir,
                         args.timeout, args.idle_vms, args.idle_seconds)
        direct = direct_boots(arch)
        xl = bench_xen.xl_side(arch, linuxrig.assets(arch, build), args.starts, args.cpus,
                               args.memory, cmdline, logdir, args.timeout,
                               smp_for(args.cpus, args.idle_vms)) if args.xl else None
        d = [r["qemu_to_init_s"] for r in direct if "qemu_to_init_s" in r]
        k = keel.get("runs_s", [])
        kc = keel.get("create_to_init_s", [])
        f = [x for x in keel.get("first_insn_s", []) if x > 0]
        rec = {"cpus": args.cpus, "memory": args.memory, "keel_start_to_init_s": k,
               "direct_qemu_to_init_s": d, "keel_create_to_init_s": kc,
               "keel_start_to_first_insn_s": f,
               "median_keel_s": med(k), "median_keel_create_s": med(kc),
               "median_first_insn_s": med(f), "median_direct_s": med(d)}
        for key in ("mgmt_idle", "memory", "error"):
            if key in keel:
                rec[key] = keel[key]
        if rec["median_keel_s"] and rec["median_direct_s"]:
            rec["ratio_keel_over_direct"] = round(rec["median_keel_s"] / rec["median_direct_s"], 3)
        if xl is not None:
            rec["xl"] = xl
            rec["median_xl_create_s"] = med(xl.get("create_to_init_s"))
            rec["median_xl_return_s"] = med(xl.get("return_to_init_s"))
            rec["ratio_keel_over_xl"] = {
                "command_to_init": ratio(rec["median_keel_create_s"], rec["median_xl_create_s"]),
                "return_to_init": ratio(rec["median_keel_s"], rec["median_xl_return_s"])}
        result["arches"][arch] = rec
        print(f"\n{arch}: keelctl create --start: START -> first guest instruction, median of "
              f"{len(f)}: {(rec['median_first_insn_s'] or 0) * 1000:.1f} ms (target 300 ms)")
        print(f"{arch}: keelctl create --start -> microVM /init, median of {len(k)}: "
              f"{rec['median_keel_s'] or 0:.2f} s; direct QEMU start -> /init, median of "
              f"{len(d)}: {rec['median_direct_s'] or 0:.2f} s; ratio "
              f"{rec.get('ratio_keel_over_direct', 'n/a')}"
              + (f"\n  Keel side failed: {rec['error']}" if "error" in rec else ""))
        print_xl(arch, rec)
        idle = rec.get("mgmt_idle", {})
        if all(m in idle for m in ("none", "watch", "poll")):
            alone, w, p = idle["none"], idle["watch"], idle["poll"]
            print(f"{arch}: the manager with {idle['microvms']} idle microVMs, over "
                  f"{idle['seconds']} s: alone {alone['busy_pct']}% busy, "
                  f"{alone['hypercalls_per_s']} hypercalls/s; a keelctl console on each "
                  f"waiting on Keel's interrupt {w['busy_pct']}% busy, "
                  f"{w['hypercalls_per_s']} hypercalls/s; polling every 50 ms "
                  f"{p['busy_pct']}% busy, {p['hypercalls_per_s']} hypercalls/s")
    path = outdir / f"keelctl-start-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nbench-keelctl: results in {path}")
    return result


def print_xl(arch, rec):
    """Keel's create --start against Xen's xl create, and both hypervisors' memory."""
    def s(v):
        return "failed" if v is None else f"{v:.2f} s"
    mem, xl = rec.get("memory") or {}, rec.get("xl")
    if mem.get("keel_kib") is not None:
        print(f"{arch}: Keel holds {mem['keel_kib']} KiB of {mem['ram_mib']} MiB; per "
              f"microVM {med(mem.get('per_microvm_kib'))} KiB beyond its RAM and images")
    if xl is None:
        return
    print(f"{arch}: command -> /init: keelctl create --start {s(rec['median_keel_create_s'])}, "
          f"xl create {s(rec['median_xl_create_s'])}; command returned -> /init: "
          f"{s(rec['median_keel_s'])} and {s(rec['median_xl_return_s'])}; Keel / Xen "
          f"{rec['ratio_keel_over_xl']}")
    xm = xl.get("memory_mib") or {}
    if "xen" in xm:
        print(f"{arch}: Xen {bench_xen.VERSION} holds {xm['xen']} MiB (xl info: total "
              f"{xm['total']} - free {xm['free']} - dom0 {xm['dom0']}); per domU "
              f"{med(xm.get('per_domu'))} MiB beyond its RAM")
    if "error" in xl:
        print(f"  Xen side failed: {xl['error']}")


def options(ap):
    ap.add_argument("--starts", type=int, default=5, help="keelctl starts per arch (>= 5)")
    ap.add_argument("--idle-vms", type=int, default=4,
                    help="quiet microVMs beside the idle manager (keelctl console on each)")
    ap.add_argument("--idle-seconds", type=int, default=10,
                    help="seconds the manager's idle load is measured, per mode")
    ap.add_argument("--no-xl", dest="xl", action="store_false",
                    help="leave out Xen's `xl create` beside keelctl")
