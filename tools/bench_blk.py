#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make bench`, part 6: virtio-blk in a Keel microVM against QEMU's own
virtio-blk-device, the same kernel booted directly.

One side boots Keel with one Linux microVM (1 vCPU, 256 MiB) whose disk is a
fresh image on the ESP (Keel holds it in memory: virtio/blk.c); the other
boots the same kernel, initramfs and command line under QEMU -kernel with
the same image on virtio-blk-device (virtio-mmio, as Keel's), alternating
a b a b. In both, the test initramfs (keel.blkbench=MIB:OPS) runs
keel-blkbench on /dev/vda with O_DIRECT: MIB MiB read and written in 1 MiB
requests, OPS random 4 KiB reads and OPS random 4 KiB writes (the same
offsets on both sides), and OPS sequential 4 KiB reads, timed by the guest's
own clock. Both sides pay the same TCG and guest kernel; the ratios are the
device's and its backend's share: Keel's virtio-blk on memory against QEMU's
on a file in this machine's page cache.

JSON in <build>/bench/blk-<time>.json. Not a test: nothing passes or fails.
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

NAME = "blk"
MEMORY = "256M"
KEYS = ("seq_read_mibs", "seq_write_mibs", "rand_read_iops", "rand_write_iops",
        "seq4k_read_iops")
LABELS = {"seq_read_mibs": "sequential read, 1 MiB (MiB/s)",
          "seq_write_mibs": "sequential write, 1 MiB (MiB/s)",
          "rand_read_iops": "random read, 4 KiB (IOPS)",
          "rand_write_iops": "random write, 4 KiB (IOPS)",
          "seq4k_read_iops": "sequential read, 4 KiB (IOPS)"}


def log(msg):
    print(f"bench-blk: {msg}", flush=True)


def keel_argv(arch, build, a, workdir, cmdline, disk):
    esp = workdir / "esp"
    config = keelrig.keel_cfg(
        linuxrig.linux_partition(NAME, 1, cmdline, disk=disk, memory=MEMORY, on_reboot="stop"),
        on_idle="poweroff")
    keelrig.make_esp(esp, arch, build, config)
    linuxrig.fill_esp(esp, a, disks=[disk])
    return keelrig.qemu_argv(arch, esp, smp=2, mem="2G")


def direct_argv(arch, a, workdir, cmdline, disk):
    return linuxrig.direct_argv(arch, a, disk, workdir / "hvc0.sock", cmdline, smp=1,
                                mem=MEMORY)


def one_boot(side, arch, build, a, logdir, n, args):
    """One boot of @side: keel-blkbench's figures, or {'error': why}."""
    cmdline = linuxrig.cmdline(arch, wait=0,
                               extra=f"keel.blkbench={args.blk_mib}:{args.blk_ops}")
    name = NAME if side == "keel" else None
    with tempfile.TemporaryDirectory(prefix="keel-bench-blk-") as tmp:
        workdir = Path(tmp)
        # Room for the benchmark and the last sector /init's disk check writes.
        disk = a.disk("blkbench.img", workdir, size=(args.blk_mib + 1) << 20)
        argv = (keel_argv(arch, build, a, workdir, cmdline, disk) if side == "keel" else
                direct_argv(arch, a, workdir, cmdline, disk))
        log_path = logdir / f"blk-{arch}-{side}-{n}.log"
        with linuxrig.LinuxQemu(argv, log_path, hard_timeout=args.timeout * 3,
                                name=f"blk {arch} {side} {n}") as q:
            try:
                line = q.wait_for(linuxrig.said(name, r"blkbench( dev=|=fail)"),
                                  args.timeout * 2)
            except AssertionError as e:
                return {"error": f"{e} (log {log_path}; last lines: {' | '.join(q.tail(3))})"}
    if "blkbench=fail" in line:
        return {"error": f"keel-blkbench failed (log {log_path})"}
    return {k: float(linuxrig.value(line, k)) for k in KEYS}


def median(runs, key):
    vals = [r[key] for r in runs if r.get(key)]
    return statistics.median(vals) if vals else None


def run_arch(arch, build, args, logdir):
    a = linuxrig.assets(arch, build)
    runs = {"keel": [], "direct": []}
    for n in range(1, args.blk_pairs + 1):
        for side in ("keel", "direct"):
            r = one_boot(side, arch, build, a, logdir, n, args)
            runs[side].append(r)
            log(f"{arch} {side:6} #{n}: " + (f"FAILED: {r['error']}" if "error" in r else
                " ".join(f"{k}={v:.0f}" for k, v in r.items())))
    summary = {side: {k: median(rs, k) for k in KEYS} for side, rs in runs.items()}
    ratios = {k: round(summary["keel"][k] / summary["direct"][k], 3)
              if summary["keel"][k] and summary["direct"][k] else None for k in KEYS}
    print(f"\n{arch} virtio-blk ({a.record.get('kernel_release')}, 1 vCPU, {MEMORY}; "
          f"{args.blk_mib} MiB, {args.blk_ops} random 4 KiB ops, O_DIRECT): medians of "
          f"{args.blk_pairs}, higher is better")
    print(f"  {'':34} {'Keel':>9} {'QEMU':>9} {'ratio':>7}")
    for k in KEYS:
        cells = [f"{v:.0f}" if v else "failed" for v in (summary["keel"][k],
                                                         summary["direct"][k])]
        print(f"  {LABELS[k]:34} {cells[0]:>9} {cells[1]:>9} {ratios[k] or 'n/a':>7}")
    return {"kernel": a.record.get("kernel_release"), "runs": runs, "summary": summary,
            "ratio_keel_over_direct": ratios}


def run(arches, build, args):
    """a b a b ... per arch; prints the medians and the ratios Keel / QEMU's device."""
    outdir = build / "bench"
    logdir = outdir / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    log(f"{args.blk_pairs} pairs per arch: Keel microVM (a), direct -kernel with QEMU's "
        f"virtio-blk-device (b)")
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "qemu": keelrig.qemu_version(),
              "mib": args.blk_mib, "ops": args.blk_ops,
              "microvm": {"cpus": 1, "memory": MEMORY}, "arches": {}}
    for arch in arches:
        result["arches"][arch] = run_arch(arch, build, args, logdir)
    path = outdir / f"blk-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nbench-blk: results in {path}")
    return result


def options(ap):
    ap.add_argument("--blk-pairs", type=int, default=3, help="virtio-blk a/b pairs per arch")
    ap.add_argument("--blk-mib", type=int, default=32,
                    help="MiB read and written sequentially (the disk is 1 MiB more)")
    ap.add_argument("--blk-ops", type=int, default=2048, help="random 4 KiB reads and writes")
