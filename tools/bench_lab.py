#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make bench`, the lab bench under QEMU: the configuration `make bench-image`
puts on a USB stick for real hosts (tests/configs/bench.cfg; the guest is
tests/guests/labbench.c), booted here under -icount.

    tools/bench.py --only lab [--arch "x86_64 aarch64"] [--build build]
                   [--lab-timeout 900] [--lab-icount shift=4,sleep=off]

One boot per arch, with as many CPUs as the configuration uses. The bench
partition prints one JSON document between the lines `labbench-json-begin`
and `labbench-json-end`: the hypercall round trip and a trapped MMIO read
(net of the same loop without them), the timer-interrupt latency and the
IPI latency between its two vCPUs (min/avg/p99/max over their samples) and
its memory bandwidth alone and while the noise partitions hammer memory on
the other CPUs. This tool reads the
document back, adds instruction counts (under -icount with a shift every
instruction advances QEMU's virtual clock by 2^shift ns, whichever CPU runs
it), and writes <build>/bench/lab-<time>.json. Under TCG one host thread runs
every vCPU in turn, so the noisy figure here says how QEMU shares its thread,
not what a real memory system does: that figure is for real hosts. Not a
test: nothing here passes or fails.
"""

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

CONFIG = ROOT / "tests" / "configs" / "bench.cfg"
GUEST = "labbench.elf"
NAME = "labbench"  # the measured partition
BEGIN, END = "labbench-json-begin", "labbench-json-end"
ICOUNT = "shift=4,sleep=off"  # as tools/bench_hypercall.py
# Figures in ns that become instruction counts under -icount.
NS_FIGURES = (("hypercall", "ns_per_call"), ("mmio", "ns_per_read"),
              *((g, f"{k}_ns") for g in ("timer", "ipi") for k in ("min", "avg", "p99", "max")))


def log(msg):
    print(f"bench-lab: {msg}", flush=True)


def config_cpus(text):
    """How many CPUs @text's partitions need: the highest CPU named, plus one."""
    top = 0
    for m in re.finditer(r"^\s*cpus\s*=\s*([\d,\s-]+)$", text, re.M):
        for part in m.group(1).replace(" ", "").split(","):
            if part:
                top = max(top, *(int(x) for x in part.split("-") if x))
    return top + 1


def lab_argv(arch, build, workdir, icount, config=CONFIG):
    """QEMU booting Keel with @config and the lab guest, TCG under @icount ('off': plain TCG)."""
    text = Path(config).read_text()
    guest = Path(build) / arch / "guests" / GUEST
    if not guest.is_file():
        raise FileNotFoundError(f"{guest} is missing: build it with `make ARCH={arch}`")
    esp = keelrig.make_esp(workdir / "esp", arch, build, text, guests={GUEST: guest})
    argv = keelrig.qemu_argv(arch, esp, smp=config_cpus(text), mem="2G")
    argv[argv.index("-accel") + 1] = "tcg"
    argv[argv.index("-cpu") + 1] = keelrig.ARCHES[arch]["cpu"]
    if icount != "off":
        argv += ["-icount", icount]
    return argv


def document(log_text, name=NAME):
    """The JSON document partition @name printed between the markers, parsed."""
    said = [m.group(1) for m in re.finditer(rf"\] {re.escape(name)}\| (.*)$", log_text, re.M)]
    if BEGIN not in said or END not in said[said.index(BEGIN):]:
        raise ValueError(f"no complete {BEGIN} ... {END} block from '{name}'")
    start = said.index(BEGIN) + 1
    return json.loads("\n".join(said[start:said.index(END, start)]))


def icount_shift(icount):
    m = re.search(r"(?:^|,)shift=(\d+)(?:,|$)", icount or "")
    return int(m.group(1)) if m and icount != "off" else None


def add_insns(doc, shift):
    """Beside each ns figure, the instructions it stands for under -icount shift=@shift."""
    if shift is None:
        return
    for group, key in NS_FIGURES:
        g = doc.get(group)
        if isinstance(g, dict) and isinstance(g.get(key), (int, float)):
            g[key.replace("ns", "insns", 1)] = round(g[key] / (1 << shift), 1)


def one_boot(arch, build, args, logdir):
    """The document with its instruction counts, or {'error': why}."""
    with tempfile.TemporaryDirectory(prefix=f"keel-lab-{arch}-") as tmp:
        try:
            argv = lab_argv(arch, build, Path(tmp), args.lab_icount)
        except (FileNotFoundError, OSError) as e:
            return {"error": str(e)}
        log_path = logdir / f"lab-{arch}.log"
        with keelrig.Qemu(argv, log_path, hard_timeout=args.lab_timeout + 60,
                          name=f"{arch} lab") as q:
            try:
                q.wait_for(keelrig.out(NAME, END), args.lab_timeout)
                wall = q.elapsed()
                q.wait_for(keelrig.keel("no partition is running"), 120)
            except AssertionError as e:
                return {"error": f"{e} (log {log_path}; last lines: {' | '.join(q.tail(3))})"}
            failed = q.find(r"\] [\w.-]+\| TEST lab(bench|noise) FAIL")
        try:
            doc = document(log_path.read_text(errors="replace"))
        except ValueError as e:
            return {"error": f"{e} (log {log_path})"}
    add_insns(doc, icount_shift(args.lab_icount))
    doc["qemu_to_result_s"] = round(wall, 1)
    if failed:
        doc["error"] = f"a lab partition failed a check (log {log_path})"
    return doc


def report(arch, doc):
    if "error" in doc and "arch" not in doc:
        print(f"\n{arch}: no result: {doc['error']}")
        return
    print(f"\n{arch}: lab bench ({doc['qemu_to_result_s']} s)")
    for group in ("hypercall", "mmio", "timer", "ipi", "memory"):
        g = doc.get(group)
        print(f"  {group:10} " + ("none" if g is None else
                                  " ".join(f"{k}={v}" for k, v in g.items())))
    if "error" in doc:
        print(f"  failed: {doc['error']}")


def options(ap):
    """This benchmark's options, as tools/bench.py offers them."""
    ap.add_argument("--lab-timeout", type=float, default=900.0,
                    help="lab bench: seconds to the JSON document")
    ap.add_argument("--lab-icount", default=ICOUNT,
                    help=f"lab bench: QEMU -icount option (default {ICOUNT}), or 'off' for TCG")


def run(arches, build, args):
    """Boot the lab configuration on each of @arches; print and write the results."""
    outdir = Path(build) / "bench"
    logdir = outdir / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(),
              "qemu": keelrig.qemu_version(), "icount": args.lab_icount,
              "config": str(CONFIG.relative_to(ROOT)), "arches": {}}
    for arch in arches:
        log(f"{arch}: {CONFIG.name} under -icount {args.lab_icount}")
        result["arches"][arch] = doc = one_boot(arch, build, args, logdir)
        report(arch, doc)
    path = outdir / f"lab-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nbench-lab: results in {path}")
    return path

