#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make bench`, part 3: `keelctl start` returning -> the microVM's /init.

Boots Keel with the Linux management partition (as tests/integration/
test_mgmt_linux.py does) and types /scripts/bench-start.sh into its shell:
N times it creates a microVM (the same kernel, initramfs, cmdline, vCPUs and
memory as tools/bench.py's microVM), runs `keelctl start` and prints
"BENCH-STARTED i" when that returns; the microVM's first /init line
("KEEL-INIT <arch> start") then arrives on the serial console. The time
between the two lines' arrival is the figure, median of N (>= 5), beside the
same kernel booted directly by QEMU -kernel (QEMU start -> the same line) in
the same run: tools/bench.py passes its direct boots in. JSON in
<build>/bench/keelctl-start-<time>.json. Not a test: nothing passes or fails.
"""

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
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


def keel_side(arch, build, n, cpus, memory, cmdline, logdir, timeout):
    """Seconds from each BENCH-STARTED line to the microVM's first /init line."""
    a = linuxrig.assets(arch, build)
    if not a.mgmt_initrd.is_file():
        return {"error": "no mgmt-initrd.gz (keelctl not built)"}
    with tempfile.TemporaryDirectory(prefix=f"keel-bench-mgmt-{arch}-") as tmp:
        esp = Path(tmp) / "esp"
        keelrig.make_esp(esp, arch, build, mgmt_config(arch))
        linuxrig.fill_esp(esp, a, mgmt=True)
        argv = keelrig.qemu_argv(arch, esp, smp=cpus + 2, mem="2G")
        log_path = logdir / f"{arch}-keelctl-start.log"
        with linuxrig.LinuxQemu(argv, log_path, hard_timeout=timeout * (n + 1),
                                name=f"{arch} keelctl start") as q:
            try:
                q.wait_for(r"KEEL-MGMT ready", timeout)
                q.send(f"/scripts/bench-start.sh {n} {cpus} {memory} {cmdline}\n")
                times = []
                after = 0
                for i in range(1, n + 1):
                    started = q.wait_for(rf"^BENCH-STARTED {i}$|BENCH-FAIL", timeout, after=after)
                    if "FAIL" in started:
                        return {"error": started, "runs_s": times}
                    init = q.wait_for(linuxrig.said(NAME, f"KEEL-INIT {arch} start"), timeout,
                                      after=started.index)
                    times.append(q.time_of(init) - q.time_of(started))
                    log(f"{arch} keelctl start #{i}: {times[-1]:.2f} s")
                    after = init.index
                q.wait_for(rf"BENCH-DONE {n}", timeout, after=after)
                return {"runs_s": times}
            except AssertionError as e:
                return {"error": f"{e} (log {log_path})"}


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
                         args.timeout)
        direct = direct_boots(arch)
        d = [r["qemu_to_init_s"] for r in direct if "qemu_to_init_s" in r]
        k = keel.get("runs_s", [])
        rec = {"keel_start_to_init_s": k, "direct_qemu_to_init_s": d,
               "median_keel_s": statistics.median(k) if k else None,
               "median_direct_s": statistics.median(d) if d else None}
        if "error" in keel:
            rec["error"] = keel["error"]
        if rec["median_keel_s"] and rec["median_direct_s"]:
            rec["ratio_keel_over_direct"] = round(rec["median_keel_s"] / rec["median_direct_s"], 3)
        result["arches"][arch] = rec
        print(f"\n{arch}: keelctl start -> microVM /init, median of {len(k)}: "
              f"{rec['median_keel_s'] or 0:.2f} s; direct QEMU start -> /init, median of "
              f"{len(d)}: {rec['median_direct_s'] or 0:.2f} s; ratio "
              f"{rec.get('ratio_keel_over_direct', 'n/a')}"
              + (f"\n  Keel side failed: {rec['error']}" if "error" in rec else ""))
    path = outdir / f"keelctl-start-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nbench-keelctl: results in {path}")
    return result


def options(ap):
    ap.add_argument("--starts", type=int, default=5, help="keelctl starts per arch (>= 5)")
