#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make bench`, part 4 (x86_64 and aarch64): a passed-through NVMe drive and NIC
in a Keel microVM against the same devices in a QEMU guest booted directly.

One side boots Keel (x86_64: q35 with VT-d, intel-iommu with interrupt
remapping; aarch64: virt with the SMMUv3) and a Linux microVM (1 vCPU, 256 MiB)
that owns an NVMe drive and a virtio-net-pci NIC through the IOMMU; the other
boots the same kernel, initramfs and command line directly under QEMU -kernel
with the same two devices (1 vCPU, 256 MiB), alternating a b a b. The test
initramfs (keel.pci=1 keel.ptbench=D keel.ptnet=N) reads D MiB of the NVMe
drive with O_DIRECT, timed by the guest's own clock (and by this machine,
between its two console lines, as a check on that clock), and its NIC takes N
MiB from this machine and sends N MiB back through QEMU's user network
(hostfwd, restrict=on), timed here. Both sides pay the same QEMU device models
and the same TCG, so the ratios are Keel's share: the IOMMU's translation of
every DMA, MSI-X through interrupt remapping (x86_64) or the host's GICv3 ITS
(aarch64, where the guest sees GICv3 MBIs) and Keel's injection. --arch picks
the arches.

Then (x86_64) the MSI's latency under -icount (tools/bench_hypercall.py's clock: each
guest TSC tick is a nanosecond of QEMU's virtual clock, 2^shift per
instruction): the test guest drives an edu given to it (mode=edu lat=N), N
times raising its MSI (through VT-d interrupt remapping, Keel's host handler
and its injection) and sending itself an IPI (Keel's LAPIC model alone), each
timed from the write that starts it to the handler's first instruction.

JSON in <build>/bench/passthrough-<time>.json. Not a test: nothing passes or
fails.
"""

import json
import os
import re
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import bench_hypercall  # noqa: E402
import keelrig  # noqa: E402
import linuxrig  # noqa: E402

NAME = "pt"
ARCHES = ("x86_64", "aarch64")
# Each arch's IOMMU (QEMU arguments) and what the report calls it and the interrupts.
IOMMU = {"x86_64": (["-device", "intel-iommu,intremap=on"], "VT-d", "MSI-X, remapped"),
         "aarch64": (["-machine", "iommu=smmuv3"], "SMMUv3", "MSI-X, as MBIs via the ITS")}
MEMORY = "256M"
NVME_ADDR, NIC_ADDR = "05.0", "06.0"  # host addresses; Linux finds them by class
GUEST_PORT = 7000  # the initramfs's first NIC listens here
KEYS = ("nvme_read_mibs", "nvme_read_host_clock_mibs", "net_in_mibs", "net_out_mibs")


def log(msg):
    print(f"bench-passthrough: {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def devices(disk, port, iommu):
    """The NVMe drive and the NIC (its guest port forwarded to this machine's @port)."""
    nic = "virtio-net-pci,disable-legacy=on" + (",iommu_platform=on" if iommu else "")
    return ["-drive", f"if=none,id=pt0,format=raw,file={disk}",
            "-device", f"nvme,drive=pt0,serial=bench0,addr={NVME_ADDR}",
            "-netdev", f"user,id=n0,restrict=on,net=10.0.2.0/24,"
                       f"hostfwd=tcp:127.0.0.1:{port}-10.0.2.15:{GUEST_PORT}",
            "-device", f"{nic},netdev=n0,addr={NIC_ADDR}"]


def keel_argv(arch, build, a, workdir, cmdline, disk, port):
    esp = workdir / "esp"
    pci = f"0000:00:{NVME_ADDR}, 0000:00:{NIC_ADDR}"
    config = keelrig.keel_cfg(
        linuxrig.linux_partition(NAME, 1, cmdline, memory=MEMORY, pci=pci, on_reboot="stop"),
        on_idle="poweroff")
    keelrig.make_esp(esp, arch, build, config)
    linuxrig.fill_esp(esp, a)
    return keelrig.qemu_argv(arch, esp, smp=2, mem="2G",
                             extra=IOMMU[arch][0] + devices(disk, port, iommu=True))


def direct_argv(arch, a, workdir, cmdline, disk, port):
    root = a.disk("disk-bench.img", workdir)
    return linuxrig.direct_argv(arch, a, root, workdir / "hvc0.sock", cmdline, smp=1,
                                mem=MEMORY) + devices(disk, port, iommu=False)


def net_round(port, size, timeout):
    """Send @size bytes to the guest's sink, wait for its line, take @size bytes back:
    (MiB/s in, MiB/s out) as this machine saw them. QEMU accepts for the guest
    before its listener may be up (then resets): tried again until @timeout."""
    data = bytes(size)
    end = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
                c.settimeout(timeout)
                t0 = time.monotonic()
                c.sendall(data)
                back = len(linuxrig.recv_line(c)[1])
                t1 = time.monotonic()
                while back < size:
                    chunk = c.recv(1 << 20)
                    if not chunk:
                        raise ConnectionResetError(f"closed after {back} of {size} bytes")
                    back += len(chunk)
                t2 = time.monotonic()
            mib = size / (1 << 20)
            return mib / (t1 - t0), mib / (t2 - t1)
        except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError):
            if time.monotonic() > end:
                raise
            time.sleep(1)


def measure(q, name, port, disk_mib, net_mib, timeout):
    disk = q.wait_for(linuxrig.said(name, r"ptbench-disk=\S+ dev=nvme"), timeout)
    # The guest's own clock, and this machine's between the two lines (a check on it).
    secs = float(linuxrig.value(disk, "s"))
    starts = [ln for ln in q.find_all(linuxrig.said(name, r"ptbench-disk-start="))
              if ln.index < disk.index]
    host_secs = q.time_of(disk) - q.time_of(starts[-1]) if starts else None
    q.wait_for(linuxrig.said(name, rf"pci-net=\S+ .* port={GUEST_PORT}$"), timeout,
               after=disk.index)
    net_in, net_out = net_round(port, net_mib << 20, timeout)
    q.wait_for(linuxrig.said(name, r"pci=done"), timeout)
    return {"nvme_read_mibs": disk_mib / secs if secs > 0 else None,
            "nvme_read_host_clock_mibs": disk_mib / host_secs if host_secs else None,
            "net_in_mibs": net_in, "net_out_mibs": net_out}


def one_boot(arch, side, build, a, logdir, n, args):
    disk_mib, net_mib, timeout = args.pt_disk_mib, args.pt_net_mib, args.timeout
    cmdline = linuxrig.cmdline(arch, wait=0,
                               extra=f"keel.pci=1 keel.ptbench={disk_mib} keel.ptnet={net_mib}")
    with tempfile.TemporaryDirectory(prefix="keel-bench-pt-") as tmp:
        workdir = Path(tmp)
        disk = workdir / "nvme.img"
        disk.write_bytes(os.urandom((disk_mib + 2) << 20))
        port = free_port()
        try:
            argv = (keel_argv(arch, build, a, workdir, cmdline, disk, port) if side == "keel"
                    else direct_argv(arch, a, workdir, cmdline, disk, port))
        except (FileNotFoundError, OSError) as e:
            return {"error": str(e)}
        log_path = logdir / f"passthrough-{arch}-{side}-{n}.log"
        with linuxrig.LinuxQemu(argv, log_path, hard_timeout=timeout * 2,
                                name=f"passthrough {arch} {side} {n}") as q:
            try:
                return measure(q, NAME if side == "keel" else None, port, disk_mib, net_mib,
                               timeout)
            except (AssertionError, OSError, ValueError, TypeError) as e:
                return {"error": f"{e} (log {log_path}; last lines: {' | '.join(q.tail(3))})"}


MSI_ARCH = "x86_64"  # the edu guest times its MSI on x86_64 only (aarch64's checks it untimed)


def msi_argv(build, workdir, rounds, icount):
    """One CPU (as the hypercall benchmark) running the test guest with the edu."""
    config = keelrig.keel_cfg(
        keelrig.partition("lat", 0, f"mode=edu lat={rounds} then=shutdown", memory="32M",
                          pci=f"0000:00:{NVME_ADDR}"),
        on_idle="poweroff")
    guest = Path(build) / MSI_ARCH / "guests" / keelrig.TESTGUEST
    esp = keelrig.make_esp(workdir / "esp", MSI_ARCH, build, config,
                           guests={keelrig.TESTGUEST: guest})
    argv = keelrig.qemu_argv(MSI_ARCH, esp, smp=1, mem="1G", extra=[
        "-device", "intel-iommu,intremap=on", "-device", f"edu,addr={NVME_ADDR}"])
    argv[argv.index("-accel") + 1] = "tcg"
    argv[argv.index("-cpu") + 1] = keelrig.ARCHES[MSI_ARCH]["cpu"]
    return argv + ["-icount", icount]


def msi_latency(build, args, logdir, n):
    """One boot: the guest's latency line in instructions, or {'error': why}."""
    shift = bench_hypercall.icount_shift(args.icount)
    with tempfile.TemporaryDirectory(prefix="keel-bench-msi-") as tmp:
        log_path = logdir / f"msi-latency-{n}.log"
        try:
            argv = msi_argv(build, Path(tmp), args.pt_msi_rounds, args.icount)
        except (FileNotFoundError, OSError) as e:
            return {"error": str(e)}
        with keelrig.Qemu(argv, log_path, hard_timeout=args.timeout * 2,
                          name=f"msi latency {n}") as q:
            try:
                line = q.wait_for(keelrig.out("lat", "edu: latency "), args.timeout)
                q.wait_for(keelrig.out("lat", "TEST edu PASS"), 60, after=line.index)
            except AssertionError as e:
                return {"error": f"{e} (log {log_path}; last lines: {' | '.join(q.tail(3))})"}
    raw = {k: int(v) for k, v in (kv.split("=") for kv in line.split("latency ", 1)[1].split())}
    per_insn = (1 << shift) if shift is not None else None  # ticks (ns) per instruction
    r = {"raw": raw}
    if per_insn:
        for k in ("msi_least", "msi_mean", "ipi_least", "ipi_mean"):
            r[f"{k}_insns"] = raw[k] / per_insn
    return r


def msi_report(runs, args):
    ok = [r for r in runs if "error" not in r]
    print(f"\n{MSI_ARCH} MSI latency, write -> guest handler, {args.pt_msi_rounds} rounds, "
          f"-icount {args.icount}: instructions")
    print(f"  {'':30}" + "".join(f"{'run ' + str(i):>10}" for i in range(1, len(ok) + 1)))
    for label, k in (("edu MSI (VT-d remapped), least", "msi_least_insns"),
                     ("  mean", "msi_mean_insns"),
                     ("self-IPI (LAPIC model), least", "ipi_least_insns"),
                     ("  mean", "ipi_mean_insns")):
        print(f"  {label:30}" + "".join(f"{r.get(k, 0):>10.0f}" for r in ok))
    for r in ok:
        if r.get("ipi_least_insns"):
            r["ratio_msi_over_ipi"] = round(r["msi_least_insns"] / r["ipi_least_insns"], 3)
    print(f"  {'ratio MSI / self-IPI (least)':30}" +
          "".join(f"{r.get('ratio_msi_over_ipi', 0):>10}" for r in ok))
    for r in runs:
        if "error" in r:
            print(f"  failed: {r['error']}")


def median(runs, key):
    vals = [r[key] for r in runs if r.get(key)]
    return statistics.median(vals) if vals else None


def run_arch(arch, build, args, logdir):
    """a b a b ... args.pt_pairs times on @arch: its record, with the medians and the
    ratios Keel / direct (printed)."""
    a = linuxrig.assets(arch, build)
    runs = {"keel": [], "direct": []}
    iommu, irqs = IOMMU[arch][1:]
    log(f"{arch}: {args.pt_pairs} pairs, NVMe {args.pt_disk_mib} MiB, NIC {args.pt_net_mib} "
        f"MiB each way: Keel microVM with {iommu} (a), direct -kernel (b)")
    for n in range(1, args.pt_pairs + 1):
        for side in ("keel", "direct"):
            r = one_boot(arch, side, build, a, logdir, n, args)
            runs[side].append(r)
            log(f"{arch} {side:6} #{n}: " + (f"FAILED: {r['error']}" if "error" in r else
                " ".join(f"{k}={v:.1f}" for k, v in r.items() if v is not None)))
    summary = {side: {k: median(rs, k) for k in KEYS} for side, rs in runs.items()}
    ratios = {k: round(summary["keel"][k] / summary["direct"][k], 3)
              if summary["keel"][k] and summary["direct"][k] else None for k in KEYS}
    rec = {"kernel": a.record.get("kernel_release"), "iommu": iommu, "keel_interrupts": irqs,
           "runs": runs, "summary": summary, "ratio_keel_over_direct": ratios}
    print(f"\n{arch} passthrough behind {iommu} ({rec['kernel']}, 1 vCPU, {MEMORY}; NVMe "
          f"{args.pt_disk_mib} MiB, NIC {args.pt_net_mib} MiB; Keel's guest: {irqs}): "
          "medians, MiB/s (higher is better)")
    print(f"  {'':30} {'Keel':>8} {'direct':>8} {'ratio':>7}")
    for label, k in (("NVMe O_DIRECT read", "nvme_read_mibs"),
                     ("  timed by this machine", "nvme_read_host_clock_mibs"),
                     ("NIC, this machine -> guest", "net_in_mibs"),
                     ("NIC, guest -> this machine", "net_out_mibs")):
        cells = [f"{v:.1f}" if v else "failed" for v in (summary["keel"][k], summary["direct"][k])]
        print(f"  {label:30} {cells[0]:>8} {cells[1]:>8} {ratios[k] or 'n/a':>7}")
    return rec


def run(build, args):
    """Each arch of --arch that has passthrough, then the MSI latency (x86_64)."""
    outdir = build / "bench"
    logdir = outdir / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "qemu": keelrig.qemu_version(),
              "disk_mib": args.pt_disk_mib, "net_mib": args.pt_net_mib,
              "microvm": {"cpus": 1, "memory": MEMORY},
              "arches": {arch: run_arch(arch, build, args, logdir)
                         for arch in re.split(r"[\s,]+", args.arch) if arch in ARCHES}}
    if MSI_ARCH in result["arches"]:
        log(f"MSI latency: {args.pt_msi_runs} boots, {args.pt_msi_rounds} rounds, "
            f"-icount {args.icount}")
        result["arches"][MSI_ARCH]["msi_latency"] = [
            msi_latency(build, args, logdir, n) for n in range(1, args.pt_msi_runs + 1)]
        msi_report(result["arches"][MSI_ARCH]["msi_latency"], args)
    path = outdir / f"passthrough-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nbench-passthrough: results in {path}")
    return result


def options(ap):
    ap.add_argument("--pt-pairs", type=int, default=3, help="passthrough a/b pairs")
    ap.add_argument("--pt-disk-mib", type=int, default=512,
                    help="MiB read from the NVMe drive")
    ap.add_argument("--pt-net-mib", type=int, default=64, help="MiB moved each way over the NIC")
    ap.add_argument("--pt-msi-runs", type=int, default=2, help="MSI latency: boots")
    ap.add_argument("--pt-msi-rounds", type=int, default=1000,
                    help="MSI latency: MSIs and self-IPIs timed per boot")
