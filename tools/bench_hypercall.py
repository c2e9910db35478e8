#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make bench`, part 2: the hypercall round trip, counted by QEMU's -icount.

    tools/bench_hypercall.py [--arch "x86_64 aarch64"] [--build build] [--runs 2]
                             [--count 10000] [--batch 100] [--icount shift=4,sleep=off]

Keel boots one partition running the test guest in mode=hcbench: it reads its
own clock (x86_64 RDTSC, aarch64 CNTVCT_EL0), makes --count KEEL_HC_VERSION
calls in batches of --batch, then turns the same loop as often without the
hypercall, and prints both totals and each side's fastest batch. Under
-icount QEMU's virtual clock advances by 2^shift ns per instruction executed
on any CPU, hypervisor and guest alike, and the guest clocks follow it (the
TSC counts its nanoseconds, the aarch64 counter ticks at CNTFRQ), so the
figures count instructions and repeat exactly from run to run. Per arch it
prints guest-clock ticks per call and per empty-loop turn, their ratio, the
instructions they stand for, and whether the runs agreed; everything goes to
<build>/bench/hypercall-<time>.json. Not a test: nothing here passes or fails.

One CPU (-smp 1, the partition on CPU 0): with a second one, how long Keel
takes to start it under -icount varies with the host's load, and with it the
phase of Keel's console poll (every 20 ms of virtual time, on the boot CPU)
against the timed loop. The totals include those polls that fall in the
loop; the fastest batch leaves them out when a batch is shorter than the
poll period.
"""

import argparse
import json
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import keelrig  # noqa: E402

NAME = "hcbench"  # the partition's name
# 16 ns per instruction: the aarch64 counter (62.5 MHz) ticks once per
# instruction, the TSC 16 times, and OVMF boots in ~6 s (~70 s with shift=0,
# its timeouts being virtual time). sleep=off: idle time skips ahead at once,
# never following the host's clock.
ICOUNT = "shift=4,sleep=off"
RESULT = r"hcbench: (.*)"
# The guest's raw figures compared between runs: the totals, and the fastest batches.
TOTALS = ("ticks", "loop_ticks")
FASTEST = ("best_batch", "best_loop_batch")


def log(msg):
    print(f"bench-hypercall: {msg}", flush=True)


def icount_shift(icount):
    """The fixed shift in an -icount option string, or None (off, auto or absent)."""
    m = re.search(r"(?:^|,)shift=(\d+)(?:,|$)", icount or "")
    return int(m.group(1)) if m and icount != "off" else None


def bench_argv(arch, build, workdir, count, batch, icount):
    """QEMU with one CPU, booting Keel with the hcbench partition on it."""
    config = keelrig.keel_cfg(
        keelrig.partition(NAME, 0, f"mode=hcbench count={count} batch={batch}", memory="16M"),
        on_idle="poweroff")
    guest = Path(build) / arch / "guests" / keelrig.TESTGUEST
    if not guest.is_file():
        raise FileNotFoundError(f"{guest} is missing: build it with `make ARCH={arch}`")
    esp = keelrig.make_esp(workdir / "esp", arch, build, config, guests={keelrig.TESTGUEST: guest})
    argv = keelrig.qemu_argv(arch, esp, smp=1, mem="1G")
    if icount != "off":
        # -icount is TCG only: keep TCG even where keelrig would pick KVM.
        argv[argv.index("-accel") + 1] = "tcg"
        argv[argv.index("-cpu") + 1] = keelrig.ARCHES[arch]["cpu"]
        argv += ["-icount", icount]
    return argv


def parse(line):
    """The key=value pairs of the guest's result line (numbers as int)."""
    text = re.search(RESULT, line).group(1)
    pairs = dict(kv.split("=", 1) for kv in text.split() if "=" in kv)
    return {k: int(v) if re.fullmatch(r"\d+", v) else v for k, v in pairs.items()}


def figures(raw, arch, shift, tsc_khz):
    """Per-call figures from the guest's raw line; instructions when -icount has a shift."""
    calls, batch = raw["calls"], raw["batch"]
    r = {
        "ticks_per_call": raw["ticks"] / calls,
        "ticks_per_loop": raw["loop_ticks"] / calls,
        "best_ticks_per_call": raw["best_batch"] / batch,
        "best_ticks_per_loop": raw["best_loop_batch"] / batch,
    }
    r["ratio"] = r["ticks_per_call"] / r["ticks_per_loop"] if raw["loop_ticks"] else None
    r["best_ratio"] = (r["best_ticks_per_call"] / r["best_ticks_per_loop"]
                       if raw["best_loop_batch"] else None)
    # One tick in ns of QEMU's virtual clock: aarch64 1e9 / CNTFRQ; x86 under
    # -icount the TSC reads that clock itself (Keel's calibration says ~1 GHz).
    tick_ns = 1e9 / raw["clock_hz"] if raw.get("clock_hz") else (1.0 if shift is not None else None)
    if shift is not None and tick_ns:
        per_insn = (1 << shift) / tick_ns  # ticks per instruction
        for k in ("ticks_per_call", "ticks_per_loop", "best_ticks_per_call", "best_ticks_per_loop"):
            r[k.replace("ticks", "insns")] = r[k] / per_insn
        r["net_insns_per_call"] = r["insns_per_call"] - r["insns_per_loop"]
        r["best_net_insns_per_call"] = r["best_insns_per_call"] - r["best_insns_per_loop"]
    if tsc_khz is not None:
        r["keel_tsc_khz"] = tsc_khz
    return r


def one_run(arch, build, n, args, logdir):
    """Boot once; the guest's raw figures plus the derived ones, or {'error': why}."""
    with tempfile.TemporaryDirectory(prefix=f"keel-hcbench-{arch}-") as tmp:
        try:
            argv = bench_argv(arch, build, Path(tmp), args.hc_count, args.hc_batch, args.icount)
        except (FileNotFoundError, OSError) as e:
            return {"error": str(e)}
        log_path = logdir / f"hypercall-{arch}-{n}.log"
        with keelrig.Qemu(argv, log_path, hard_timeout=args.hc_timeout + 30,
                          name=f"{arch} hcbench {n}") as q:
            try:
                line = q.wait_for(keelrig.out(NAME, "hcbench: "), args.hc_timeout)
                wall = q.elapsed()
                q.wait_for(keelrig.out(NAME, "TEST hcbench "), 30, after=line.index)
            except AssertionError as e:
                return {"error": f"{e} (log {log_path}; last lines: {' | '.join(q.tail(3))})"}
            failed = q.find(keelrig.out(NAME, "TEST hcbench FAIL"))
            tsc = q.find(keelrig.keel(r"x86: TSC (\d+) kHz"))
            tsc_khz = int(re.search(r"TSC (\d+) kHz", tsc).group(1)) if tsc else None
    raw = parse(line)
    r = {"raw": raw, "qemu_to_result_s": round(wall, 2)}
    r.update(figures(raw, arch, icount_shift(args.icount), tsc_khz))
    if failed:
        r["error"] = "a KEEL_HC_VERSION call failed (see the log)"
    return r


def bench_arch(arch, build, args, logdir):
    runs = []
    for n in range(1, args.hc_runs + 1):
        r = one_run(arch, build, n, args, logdir)
        runs.append(r)
        if "raw" in r:
            log(f"{arch} #{n}: " + " ".join(f"{k}={v}" for k, v in r["raw"].items()) +
                f" ({r['qemu_to_result_s']:.1f} s)")
        if "error" in r:
            log(f"{arch} #{n}: FAILED: {r['error']}")
    ok = [r for r in runs if "raw" in r and "error" not in r]

    def same(keys):
        return len({tuple(r["raw"][k] for k in keys) for r in ok}) == 1 if len(ok) >= 2 else None

    return {"arch": arch, "runs": runs, "ok": len(ok),
            "repeats_exactly": {"totals": same(TOTALS), "fastest_batches": same(FASTEST)}}


def fmt(v, digits=2):
    return "-" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def report(rec, args):
    arch, ok = rec["arch"], [r for r in rec["runs"] if "raw" in r]
    if not ok:
        print(f"\n{arch}: no result")
        for r in rec["runs"]:
            print(f"  failed: {r.get('error')}")
        return
    raw = ok[0]["raw"]
    clock = raw.get("clock", "?") + (f" {raw['clock_hz']} Hz" if raw.get("clock_hz") else "")
    if ok[0].get("keel_tsc_khz"):
        clock += f" (Keel measured {ok[0]['keel_tsc_khz']} kHz)"
    print(f"\n{arch}: {raw['calls']} KEEL_HC_VERSION calls in batches of {raw['batch']}, "
          f"-icount {args.icount}, guest clock {clock}")
    print(f"  {'':34}" + "".join(f"{'run ' + str(i):>12}" for i in range(1, len(ok) + 1)))
    rows = [("ticks per call", "ticks_per_call"),
            ("ticks per empty-loop turn", "ticks_per_loop"),
            ("ratio call / loop turn", "ratio"),
            ("fastest batch: ticks per call", "best_ticks_per_call"),
            ("fastest batch: ticks per turn", "best_ticks_per_loop"),
            ("instructions per call", "insns_per_call"),
            ("instructions per loop turn", "insns_per_loop"),
            ("instructions per call, net", "net_insns_per_call"),
            ("  fastest batch, net", "best_net_insns_per_call")]
    for label, key in rows:
        if any(key in r for r in ok):
            print(f"  {label:34}" + "".join(f"{fmt(r.get(key)):>12}" for r in ok))
    rep = rec["repeats_exactly"]
    if rep["totals"] is None:
        print("  runs repeat exactly: n/a (fewer than 2 runs)")
    else:
        print("  runs repeat exactly: " + ", ".join(
            f"{what} {'yes' if rep[key] else 'NO'}"
            for what, key in (("totals", "totals"), ("fastest batches", "fastest_batches"))))
    for r in rec["runs"]:
        if "error" in r:
            print(f"  failed: {r['error']}")


def options(ap, standalone=False):
    """The options of this benchmark; tools/bench.py offers them with the --hc- names only."""
    def opt(name, **kw):
        names = [f"--hc-{name}"] + ([f"--{name}"] if standalone else [])
        ap.add_argument(*names, dest=f"hc_{name}", **kw)

    opt("runs", type=int, default=2, help="hypercall benchmark: boots per arch (does it repeat?)")
    opt("count", type=int, default=10000, help="hypercall benchmark: calls timed per boot")
    opt("batch", type=int, default=100,
        help="hypercall benchmark: calls per batch (the fastest batch is shown too)")
    opt("timeout", type=float, default=300.0,
        help="hypercall benchmark: seconds per boot to the result line")
    ap.add_argument("--icount", default=ICOUNT,
                    help=f"QEMU -icount option (default {ICOUNT}), or 'off' for plain TCG")


def run(arches, build, args):
    """Run the benchmark for @arches; print the report and write the JSON. Returns its path."""
    build = Path(build)
    outdir = build / "bench"
    logdir = outdir / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(),
              "qemu": keelrig.qemu_version(), "icount": args.icount, "count": args.hc_count,
              "batch": args.hc_batch, "runs": args.hc_runs, "arches": {}}
    for arch in arches:
        log(f"{arch}: {args.hc_runs} boots, {args.hc_count} calls each, -icount {args.icount}")
        result["arches"][arch] = rec = bench_arch(arch, build, args, logdir)
        report(rec, args)
    path = outdir / f"hypercall-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nbench-hypercall: results in {path}")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="x86_64 aarch64", help="space or comma separated")
    ap.add_argument("--build", default="build", help="build directory (as make BUILD=)")
    options(ap, standalone=True)
    args = ap.parse_args()
    build = Path(args.build)
    if not build.is_absolute():
        build = ROOT / build
    run([x for x in re.split(r"[\s,]+", args.arch) if x], build, args)


if __name__ == "__main__":
    main()
