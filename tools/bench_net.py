#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make bench`, part 5: two Linux microVMs on a network of Keel's switch
against two QEMU guests booted directly and joined by QEMU's -netdev socket.

One side boots Keel with `[network lan]` and two microVMs (1 vCPU, 256 MiB
each) on it; the other boots the same kernel, initramfs and command line
twice under QEMU -kernel, each with a virtio-net-pci NIC, the two NICs joined
by a TCP socket on 127.0.0.1 (QEMU's own user-space switch), alternating
a b a b. In both, the test initramfs (keel.net, keel.netpeer, keel.netrole,
keel.netmb) has the sender ping the receiver 5 times, then send it N MiB of
random bytes over TCP (nc), timed by the guest's own clock, checked by
sha256 at both ends. Both sides pay the same TCG and the same guest kernel,
so the ratios are what moving frames costs: Keel's switch and virtio-net
(one copy, offloads passed through) against QEMU's virtio-net-pci and its
socket backend.

On the Keel side the pair then does the same over vsock (keel.vsocksend: N
MiB through an echo on the receiver, so N MiB each way at once). QEMU's own
vsock needs the host kernel's vhost-vsock, which a TCG host may not have, so
vsock is set beside TCP on the same Keel pair: the ratio vsock/TCP says what
an agent channel costs against the network.

JSON in <build>/bench/net-<time>.json. Not a test: nothing passes or fails.
"""

import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import keelrig  # noqa: E402
import linuxrig  # noqa: E402
from bench_passthrough import free_port, median  # noqa: E402

MEMORY = "256M"
KEYS = ("tcp_mibs", "ping_avg_ms", "ping_min_ms")
VSOCK_PORT = 5000
VSOCK_CID = {"recv": 3, "send": 4}  # vsock = auto, in file order
ADDR = {"recv": "10.1.0.1", "send": "10.1.0.2"}


def log(msg):
    print(f"bench-net: {msg}", flush=True)


def guest_cmdline(arch, role, mib, pci):
    """@pci: a direct boot (a PCI NIC, no vsock); else under Keel, with vsock."""
    peer = ADDR["send" if role == "recv" else "recv"]
    extra = (f"keel.net={ADDR[role]}/24 keel.netpeer={peer} keel.netrole={role} "
             f"keel.netmb={mib}" + (" keel.netpci=1" if pci else ""))
    if not pci:
        extra += (f" keel.vsockecho={VSOCK_PORT}" if role == "recv" else
                  f" keel.vsocksend={VSOCK_CID['recv']}:{VSOCK_PORT}:{mib}")
    return linuxrig.cmdline(arch, wait=0, extra=extra)


def keel_argv(arch, build, a, workdir, mib):
    config = keelrig.keel_cfg(
        "[network lan]\n",
        *(linuxrig.linux_partition(role, cpu, guest_cmdline(arch, role, mib, False),
                                   memory=MEMORY, net="lan", vsock="auto", on_reboot="stop")
          for role, cpu in (("recv", 1), ("send", 2))),
        on_idle="poweroff")
    esp = workdir / "esp"
    keelrig.make_esp(esp, arch, build, config)
    linuxrig.fill_esp(esp, a)
    return keelrig.qemu_argv(arch, esp, smp=3, mem="2G")


def direct_argv(arch, a, workdir, role, mib, port):
    """One guest; its NIC listens on (recv) or connects to (send) 127.0.0.1:@port."""
    bus = linuxrig.DIRECT[arch]["bus"]
    disk = a.disk(f"disk-{role}.img", workdir)
    end = f"listen=127.0.0.1:{port}" if role == "recv" else f"connect=127.0.0.1:{port}"
    mac = "02:00:00:00:00:01" if role == "recv" else "02:00:00:00:00:02"
    return linuxrig.direct_argv(arch, a, disk, workdir / f"hvc0-{role}.sock",
                                guest_cmdline(arch, role, mib, True), smp=1, mem=MEMORY) + [
        "-netdev", f"socket,id=n0,{end}", "-device", f"virtio-net-{bus},netdev=n0,mac={mac}"]


def vsock_result(q, mib, timeout):
    """MiB/s each way through the receiver's echo, from the Keel sender's line."""
    line = q.wait_for(linuxrig.said("send", r"vsock-sent .*"), timeout)
    if linuxrig.value(line, "sha256") != linuxrig.value(line, "back"):
        raise AssertionError(f"vsock: the bytes differ: {line}")
    secs = float(linuxrig.value(line, "secs"))
    return mib / secs if secs > 0 else None


def results(send_q, recv_q, send_name, recv_name, mib, timeout):
    """Ping and transfer figures from the sender's and receiver's lines."""
    said = linuxrig.said
    ping = send_q.wait_for(said(send_name, r"net-ping peer=\S+ .*"), timeout)
    sent = send_q.wait_for(said(send_name, r"net-sent mib=\d+ sha256=\S+ secs=\S+"), timeout)
    got = recv_q.wait_for(said(recv_name, r"net-got mib=\d+ sha256=\S+"), timeout)
    if linuxrig.value(sent, "sha256") != linuxrig.value(got, "sha256"):
        return {"error": f"the bytes differ: {sent} / {got}"}
    rtt = re.search(r"min/avg/max = ([\d.]+)/([\d.]+)/([\d.]+) ms", ping)
    secs = float(linuxrig.value(sent, "secs"))
    return {"tcp_mibs": mib / secs if secs > 0 else None,
            "ping_avg_ms": float(rtt.group(2)) if rtt else None,
            "ping_min_ms": float(rtt.group(1)) if rtt else None}


def one_run(side, arch, build, a, logdir, n, args):
    mib, timeout = args.net_mib, args.timeout
    with tempfile.TemporaryDirectory(prefix="keel-bench-net-") as tmp:
        workdir = Path(tmp)
        try:
            if side == "keel":
                argv = keel_argv(arch, build, a, workdir, mib)
                path = logdir / f"net-{arch}-keel-{n}.log"
                with linuxrig.LinuxQemu(argv, path, hard_timeout=timeout * 2,
                                        name=f"net keel {n}") as q:
                    r = results(q, q, "send", "recv", mib, timeout)
                    if "error" not in r:
                        r["vsock_mibs"] = vsock_result(q, mib, timeout)
                    return r
            port = free_port()
            paths = {r: logdir / f"net-{arch}-direct-{r}-{n}.log" for r in ("recv", "send")}
            with linuxrig.LinuxQemu(direct_argv(arch, a, workdir, "recv", mib, port),
                                    paths["recv"], hard_timeout=timeout * 2,
                                    name=f"net direct recv {n}") as rq:
                time.sleep(1)  # its socket listens before the sender connects
                with linuxrig.LinuxQemu(direct_argv(arch, a, workdir, "send", mib, port),
                                        paths["send"], hard_timeout=timeout * 2,
                                        name=f"net direct send {n}") as sq:
                    return results(sq, rq, None, None, mib, timeout)
        except (AssertionError, OSError, ValueError, TypeError) as e:
            return {"error": str(e)}


def run_arch(arch, build, args, logdir):
    a = linuxrig.assets(arch, build)
    runs = {"keel": [], "direct": []}
    log(f"{arch}: {args.net_pairs} pairs, {args.net_mib} MiB over TCP and 5 pings: Keel's "
        "switch (a), two direct -kernel guests on -netdev socket (b)")
    for n in range(1, args.net_pairs + 1):
        for side in ("keel", "direct"):
            r = one_run(side, arch, build, a, logdir, n, args)
            runs[side].append(r)
            log(f"{arch} {side:6} #{n}: " + (f"FAILED: {r['error']}" if "error" in r else
                " ".join(f"{k}={v:.2f}" for k, v in r.items() if v is not None)))
    summary = {side: {k: median(rs, k) for k in KEYS} for side, rs in runs.items()}
    ratios = {k: round(summary["keel"][k] / summary["direct"][k], 3)
              if summary["keel"][k] and summary["direct"][k] else None for k in KEYS}
    print(f"\n{arch} network ({a.record.get('kernel_release')}, 2 guests of 1 vCPU, {MEMORY}; "
          f"{args.net_mib} MiB over TCP): medians")
    print(f"  {'':32} {'Keel':>8} {'direct':>8} {'ratio':>7}")
    for label, k in (("TCP, MiB/s (higher is better)", "tcp_mibs"),
                     ("ping avg, ms (lower is better)", "ping_avg_ms"),
                     ("ping min, ms", "ping_min_ms")):
        cells = [f"{v:.2f}" if v else "failed" for v in (summary["keel"][k], summary["direct"][k])]
        print(f"  {label:32} {cells[0]:>8} {cells[1]:>8} {ratios[k] or 'n/a':>7}")
    vsock = median(runs["keel"], "vsock_mibs")
    tcp = summary["keel"]["tcp_mibs"]
    vsock_ratio = round(vsock / tcp, 3) if vsock and tcp else None
    summary["keel"]["vsock_mibs"] = vsock
    print(f"  {'vsock echo, MiB/s each way':32} {vsock or 0:>8.2f} {'-':>8} {'':>7}"
          f"  (vsock/TCP on Keel: {vsock_ratio or 'n/a'})")
    return {"kernel": a.record.get("kernel_release"), "runs": runs, "summary": summary,
            "ratio_keel_over_direct": ratios, "ratio_vsock_over_tcp_keel": vsock_ratio}


def run(arches, build, args):
    outdir = build / "bench"
    logdir = outdir / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "qemu": keelrig.qemu_version(),
              "net_mib": args.net_mib, "microvm": {"cpus": 1, "memory": MEMORY},
              "arches": {arch: run_arch(arch, build, args, logdir) for arch in arches}}
    path = outdir / f"net-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nbench-net: results in {path}")
    return result


def options(ap):
    ap.add_argument("--net-pairs", type=int, default=3, help="network a/b pairs per arch")
    ap.add_argument("--net-mib", type=int, default=64, help="MiB sent over TCP")
