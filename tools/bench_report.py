#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make bench`, last step: docs/bench.md and its plots from the benchmarks' JSON.

    tools/bench_report.py [--build build]

For each benchmark (tools/bench.py's Linux boot, tools/bench_keelctl.py,
tools/bench_hypercall.py, tools/bench_passthrough.py, tools/bench_net.py,
tools/bench_blk.py, tools/bench_lab.py) it takes the newest
<build>/bench/<kind>-<time>.json, by the time in its name, with each arch's
record from the newest JSON that has that arch (so a run of one arch keeps
the other's figures), and writes one section of docs/bench.md: what is
measured, a table of the medians beside the reference measured in the same
run and their ratio (the figure to compare: the absolute ones follow this
machine and TCG), and a plot of those ratios, docs/bench/<kind>.png
(matplotlib, Agg backend; without it the page is written all the same and
says so). A benchmark with no JSON in this build keeps the section the page
had (a `--only` run rewrites its own section alone), or is reported as not
run; a failed side shows the error its JSON carries.
Runs nothing but `git describe` and, when no JSON carries QEMU's version,
`qemu-system-x86_64 --version`.
"""

import argparse
import dataclasses
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "bench.md"
PLOTS = ROOT / "docs" / "bench"
# Where Debian's python3-matplotlib lives: `make deps` installs it for
# /usr/bin/python3; a python3 from elsewhere first in PATH (pyenv, a venv) does
# not look there, and the same minor version can use it.
DEBIAN_DIST = Path("/usr/lib/python3/dist-packages")
XEN_VERSION = "4.17"  # tools/bench_xen.py
TARGET_FIRST_INSN_MS = 300.0  # tools/bench_keelctl.py: "the target is 0.3 s under TCG"
ERROR_CHARS = 400  # an error string is cut there: a log's tail can be long
DASH = "—"

# Per unit: decimals and the suffix shown after the number.
UNITS = {"s": (2, " s"), "ms": (1, " ms"), "insns": (0, ""), "ticks": (1, ""), "ns": (0, " ns"),
         "KiB": (0, " KiB"), "MiB": (0, " MiB"), "MiB/s": (1, " MiB/s"), "%": (1, " %"),
         "/s": (1, "/s"), "IOPS": (0, " IOPS")}


@dataclasses.dataclass
class Row:
    """One measure: the Keel side's median beside the reference's, and their ratio."""
    label: str
    unit: str
    keel: object = None
    ref: object = None
    ratio: object = None  # as the JSON states it; computed from the medians if absent
    keel_runs: list = dataclasses.field(default_factory=list)
    ref_runs: list = dataclasses.field(default_factory=list)
    ref_text: str = None  # shown instead of the reference when there is none to measure

    def the_ratio(self):
        """The JSON's ratio, else Keel's median over the reference's."""
        if num(self.ratio) is not None:
            return self.ratio
        return ratio(self.keel, self.ref)


@dataclasses.dataclass
class Table:
    """One comparison: a Markdown table, and one panel of the kind's plot."""
    title: str
    sides: tuple  # (the Keel side's name, the reference's)
    rows: list
    ratio_label: str = None  # the ratio column's heading; "<side 0> / <side 1>" by default

    def heading(self):
        return self.ratio_label or f"{self.sides[0]} / {self.sides[1]}"


# ---- small helpers ----

def num(v):
    """@v if it is a number (not a bool), else None: older or failed JSONs hold anything."""
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def get(d, *keys):
    """d[k1][k2]... or None where a level is missing or not a dict."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def median(values):
    """The median of the numbers among @values, or None."""
    vals = [v for v in (num(x) for x in values or []) if v is not None]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    a, b = num(a), num(b)
    return a / b if a is not None and b else None


def either(v, fallback):
    """@v if it is a number, else @fallback (a median computed here from the runs)."""
    return v if num(v) is not None else fallback


def scaled(v, k):
    """@v times @k, keeping None (seconds shown as ms)."""
    return None if num(v) is None else v * k


def runs_of(runs, key, k=1.0):
    """The @key figures of the runs that did not fail (for medians and the plot's dots)."""
    return [r[key] * k for r in runs or []
            if isinstance(r, dict) and "error" not in r and num(r.get(key)) is not None]


def fmt(v, unit):
    """A figure with its unit's precision, or a dash where it is missing."""
    if num(v) is None:
        return DASH
    digits, suffix = UNITS.get(unit, (2, f" {unit}"))
    return f"{v:,.{digits}f}{suffix}".replace(",", "\u2009")  # thin space: 10 000


def fmt_ratio(r):
    """A ratio in bold (the figure to compare), or a plain dash."""
    return DASH if num(r) is None else f"**{r:.2f}**"


def plural(n, word):
    return f"{n} {word}" + ("" if n == 1 else "s")


def code(text):
    """@text as a Markdown code span (its own backticks and newlines made harmless)."""
    text = " ".join(str(text).split()).replace("`", "'")
    if len(text) > ERROR_CHARS:
        text = text[:ERROR_CHARS] + " …"
    return f"`{text}`"


def errors(items):
    """Bullet lines for (who, error string) pairs, each distinct error once."""
    seen, out = set(), []
    for who, err in items:
        if err and (who, str(err)) not in seen:
            seen.add((who, str(err)))
            out.append(f"- {who} failed: {code(err)}")
    return ["", *out] if out else []


def run_errors(who, runs):
    """(who, error) for the runs that carry one."""
    return [(who, r["error"]) for r in runs or [] if isinstance(r, dict) and r.get("error")]


def arches(data):
    """The per-arch records of a result, in the JSON's order."""
    a = data.get("arches")
    return [(k, v) for k, v in a.items() if isinstance(v, dict)] if isinstance(a, dict) else []


def plain(label):
    """A Markdown label as plot text."""
    return label.replace("`", "").replace("**", "")


# ---- the benchmarks, one builder each: a list of Markdown lines and Tables ----

BOOT_PHASES = (("QEMU start → the firmware hands over", "qemu_to_handoff"),
               ("hand-over → the guest's first instruction", "handoff_to_guest_start"),
               ("QEMU start → the guest's first instruction", "qemu_to_guest_start"),
               ("QEMU start → Linux's first line", "qemu_to_linux"),
               ("Linux's first line → /init", "linux_to_init"),
               ("QEMU start → /init", "qemu_to_init"),
               ("kernel clock at /init", "kernel_clock_at_init"))


DIRECT_PHASES = ("qemu_to_linux", "linux_to_init", "qemu_to_init", "kernel_clock_at_init")


def boot_median(summary, runs, side, key):
    """A side's median from the summary, else from its runs (JSONs without a summary)."""
    m = get(summary, side, f"median_{key}_s")
    return m if num(m) is not None else median(runs_of(runs.get(side), f"{key}_s"))


def boot_table(arch, rec, a, b, names, ratios, phases):
    """Side @a against side @b over @phases (key list), ratios from the JSON's @ratios."""
    s, runs = rec.get("summary") or {}, rec.get("runs") or {}
    rows = [Row(label, "s", boot_median(s, runs, a, key), boot_median(s, runs, b, key),
                get(rec, ratios, key), runs_of(runs.get(a), f"{key}_s"),
                runs_of(runs.get(b), f"{key}_s"))
            for label, key in BOOT_PHASES if key in phases]
    return Table(f"{arch}: {names[0]} / {names[1]}", names, rows)


def count(summary, runs, side):
    """'ok/boots' of a side, from the summary or its runs."""
    ok, n = get(summary, side, "ok"), get(summary, side, "boots")
    if num(n) is None:
        rs = runs.get(side) or []
        ok, n = len([r for r in rs if "error" not in r]), len(rs)
    return f"{ok}/{n}"


def setup(*parts):
    """'(a; b)' of the parts the JSON carries (older files carry fewer), or ''."""
    parts = [p for p in parts if p]
    return f" ({'; '.join(parts)})" if parts else ""


def linux_boot(data):
    """tools/bench.py: Keel microVM against QEMU -kernel, per phase of the boot."""
    vm = get(next(iter(arches(data)), (None, {}))[1], "microvm") or {}
    size = f"{vm['cpus']} vCPUs, {vm['memory']}" if "cpus" in vm and "memory" in vm else None
    pairs = f"{data['pairs']} rounds" if num(data.get("pairs")) is not None else None
    out = [f"The same Debian kernel and initramfs booted (a) in a Keel microVM, (b) as Xen "
           f"4.17's dom0 (Debian's xen-hypervisor-4.17 from the same firmware; "
           f"[tools/bench_xen.py](../tools/bench_xen.py)) and (c) directly by QEMU `-kernel` "
           f"on the same machine type, alternating a b c a b c"
           f"{setup(pairs, size)}. Times come from the arrival of the serial lines; on "
           "Keel's side QEMU start → Linux includes the UEFI firmware and Keel's own start. "
           "The kernel clock is the guest's own uptime when /init starts. On x86_64 a third "
           "side boots the same kernel in Keel as an uncompressed vmlinux, set against the "
           "bzImage. Lower is better. ([tools/bench.py](../tools/bench.py))"]
    for arch, rec in arches(data):
        s, runs = rec.get("summary") or {}, rec.get("runs") or {}
        out += ["", f"### {arch}", "",
                f"Guest kernel {rec.get('kernel') or 'not recorded'}; medians of "
                f"{count(s, runs, 'keel')} Keel and {count(s, runs, 'direct')} direct boots.",
                boot_table(arch, rec, "keel", "direct", ("Keel", "direct"),
                           "ratio_keel_over_direct", DIRECT_PHASES)]
        if runs.get("xen"):
            out += ["", f"Keel against Xen 4.17 ({count(s, runs, 'xen')} boots) with the same "
                    "kernel and initramfs as its dom0 (PV on x86_64), the same vCPUs and memory: "
                    "the firmware's hand-over is the hypervisor's EFI loader's first line, the "
                    "guest's first instruction Keel starting the partition and Xen freeing its "
                    "init memory before dom0 runs.",
                    boot_table(arch, rec, "keel", "xen", ("Keel", "Xen"), "ratio_keel_over_xen",
                               [k for _, k in BOOT_PHASES])]
        kib = get(s, "keel", "median_keel_overhead_kib")
        if num(kib) is None:
            kib = median(runs_of(runs.get("keel"), "keel_overhead_kib"))
        if num(kib) is not None:
            out += ["", f"Keel's own memory per microVM, beyond its guest RAM: {fmt(kib, 'KiB')}."]
        if runs.get("keel-vmlinux"):
            out += ["", f"The kernel as an uncompressed vmlinux in Keel "
                    f"({count(s, runs, 'keel-vmlinux')} boots) against the bzImage above:",
                    boot_table(arch, rec, "keel-vmlinux", "keel", ("vmlinux", "bzImage"),
                               "ratio_vmlinux_over_bzimage",
                               ("qemu_to_linux", "qemu_to_init", "kernel_clock_at_init"))]
        out += errors([e for side in runs for e in run_errors(f"{side} boot", runs[side])])
    return out


def keelctl_start(data):
    """tools/bench_keelctl.py: keelctl create --start, and the idle manager's load."""
    out = [f"In a Keel running the Linux management partition, `keelctl create --start` of a "
           f"microVM with the same kernel, initramfs, command line, vCPUs and memory as the "
           f"Linux boot above, {data.get('starts', '?')} times: from keelctl returning to the "
           "microVM's first /init line on the serial console, beside QEMU start → /init of "
           "the same kernel booted directly in the same run; and, on Keel's own clock, from "
           "the START call (images already copied in) to the boot vCPU's first guest "
           "instruction (`keelctl stats` first_insn_ns), against the target of "
           f"{TARGET_FIRST_INSN_MS:.0f} ms under TCG. Lower is better. "
           "([tools/bench_keelctl.py](../tools/bench_keelctl.py))"]
    for arch, rec in arches(data):
        k, d = rec.get("keel_start_to_init_s") or [], rec.get("direct_qemu_to_init_s") or []
        f = [x * 1000 for x in rec.get("keel_start_to_first_insn_s") or [] if num(x)]  # > 0
        rows = [Row("→ the microVM's /init", "s", either(rec.get("median_keel_s"), median(k)),
                    either(rec.get("median_direct_s"), median(d)),
                    rec.get("ratio_keel_over_direct"), [x for x in k if num(x) is not None],
                    [x for x in d if num(x) is not None])]
        first = scaled(rec.get("median_first_insn_s"), 1000)
        if first is not None or f:
            rows.append(Row("START → first guest instruction", "ms",
                            first if first is not None else median(f), keel_runs=f,
                            ref_text=f"target {TARGET_FIRST_INSN_MS:.1f} ms"))
        out += ["", f"### {arch}", "",
                f"Medians of {len(k)} `keelctl create --start` and {len(d)} direct boots; "
                "Keel's side is timed from keelctl returning, the direct one from QEMU start.",
                Table(f"{arch}: keelctl create --start / direct boot",
                      ("Keel (keelctl)", "direct (QEMU)"), rows)]
        out += xl_block(arch, rec)
        out += memory_block(arch, rec)
        out += idle_block(arch, rec.get("mgmt_idle"))
        out += errors([("Keel side", rec.get("error"))])
    return out


def xl_block(arch, rec):
    """keelctl create --start against Xen's xl create from dom0, the same domU."""
    xl = rec.get("xl")
    if not isinstance(xl, dict):
        return []
    kc, k = rec.get("keel_create_to_init_s") or [], rec.get("keel_start_to_init_s") or []
    xc, xr = xl.get("create_to_init_s") or [], xl.get("return_to_init_s") or []
    r = rec.get("ratio_keel_over_xl") or {}
    rows = [Row("the command → the microVM's /init", "s",
                either(rec.get("median_keel_create_s"), median(kc)),
                either(rec.get("median_xl_create_s"), median(xc)), r.get("command_to_init"),
                [x for x in kc if num(x) is not None], [x for x in xc if num(x) is not None]),
            Row("the command returned → /init", "s", either(rec.get("median_keel_s"), median(k)),
                either(rec.get("median_xl_return_s"), median(xr)), r.get("return_to_init"),
                [x for x in k if num(x) is not None], [x for x in xr if num(x) is not None]),
            Row("the command itself", "s", median([a - b for a, b in zip(kc, k)]),
                median(xl.get("create_s")))]
    out = ["", f"Against Xen {XEN_VERSION}: its dom0 (Debian's xen-utils-{XEN_VERSION} in the "
           f"microVM's kernel; [tools/xen-dom0.init](../tools/xen-dom0.init)) runs `xl create` "
           f"of a domU with the same kernel, initramfs, command line, vCPUs and memory "
           f"({'PVH' if arch == 'x86_64' else 'an Arm guest'}, no disk), "
           f"{len(xc)} times in one boot; times from the arrival of dom0's lines around the "
           "command and of the domU's first /init line in its console log (dom0 looks every "
           "20 ms). Keel's command copies the images in through the management ABI, xl's "
           "reads them from dom0's files. Lower is better.",
           Table(f"{arch}: keelctl create --start / xl create", ("Keel (keelctl)", "Xen (xl)"),
                 rows)]
    return out + errors([("Xen side", xl.get("error"))])


def memory_block(arch, rec):
    """Keel's footprint and per-microVM cost against Xen's (xl info)."""
    mem, xm = rec.get("memory") or {}, get(rec, "xl", "memory_mib") or {}
    keel, per = num(mem.get("keel_kib")), median(mem.get("per_microvm_kib"))
    xen = num(xm.get("xen"))
    xen_per = median(xm.get("per_domu"))
    if keel is None and xen is None:
        return []
    rows = [Row("the hypervisor itself", "KiB", keel, scaled(xen, 1024)),
            Row(f"per running microVM ({rec.get('cpus', '?')} vCPUs), beyond its RAM", "KiB",
                per, scaled(xen_per, 1024))]
    return ["", "Memory on the same machine "
            f"({fmt(num(mem.get('ram_mib')) or num(xm.get('total')), 'MiB')} of RAM): Keel's "
            "footprint is its boot line (`memory: Keel holds ...`: core image, loader data, "
            "tables and state) and, per microVM, the free memory `keelctl create --start` took "
            "less the microVM's RAM and its images; Xen's is `xl info` total − free − dom0, "
            "and per domU the free memory it took less its RAM (xl counts in MiB). Targets: "
            "Keel ≤ 4 MiB, ≤ 64 KiB per 1-vCPU microVM. Lower is better.",
            Table(f"{arch}: hypervisor memory", ("Keel", "Xen"), rows)]


def idle_rate(mode):
    """A mode's hypercalls per second; a negative one (the count unread) is no figure."""
    v = num(get(mode, "hypercalls_per_s"))
    return v if v is not None and v >= 0 else None


def idle_block(arch, idle):
    """The management partition's idle load, keelctl waiting on an interrupt vs polling."""
    if not isinstance(idle, dict):
        return []
    if not (idle.get("watch") or idle.get("poll")):
        return errors([("idle measure", idle.get("error") or "no BENCH-IDLE line")])
    out = ["", f"The management partition's load while {idle.get('microvms', '?')} quiet "
           f"microVMs run, each with a `keelctl console --wait` attached, over "
           f"{idle.get('seconds', '?')} s per mode: keelctl waiting on Keel's event interrupt "
           "against polling every 50 ms (`KEELCTL_POLL=1`, as before ABI 1.9); the busy share "
           "of the manager's CPU (/proc/stat) and the hypercalls it made. Lower is better."]
    w, p = idle.get("watch") or {}, idle.get("poll") or {}
    rows = [Row("busy share of the manager's CPU", "%", w.get("busy_pct"), p.get("busy_pct")),
            Row("CPU time", "s", w.get("cpu_s"), p.get("cpu_s")),
            Row("hypercalls", "/s", idle_rate(w), idle_rate(p))]
    out.append(Table(f"{arch}: idle manager, interrupt / polling", ("interrupt", "polling"),
                     [r for r in rows if num(r.keel) is not None or num(r.ref) is not None]))
    alone = idle.get("none") or {}
    if num(alone.get("busy_pct")) is not None:
        # The manager's own baseline: what "no measurable load" is measured against.
        out += ["", f"The manager with no keelctl running, the same {idle.get('seconds', '?')} s:"
                f" {fmt(alone.get('busy_pct'), '%')} busy, "
                f"{fmt(idle_rate(alone), '/s')} hypercalls."]
    return out + errors([("idle measure", idle.get("error"))])


def hypercall(data):
    """tools/bench_hypercall.py: one KEEL_HC_VERSION round trip against an empty loop turn."""
    icount = data.get("icount") if isinstance(data.get("icount"), str) else None
    # As bench_hypercall.icount_shift: only a fixed shift makes the clock count instructions.
    if icount and icount != "off" and re.search(r"(?:^|,)shift=\d+(?:,|$)", icount):
        clock = (f"under QEMU `-icount {icount}`: the virtual clock advances with every "
                 "instruction executed, hypervisor and guest alike, so the figures count "
                 "instructions and repeat exactly from run to run")
    else:
        clock = (f"under QEMU `-icount {icount or '?'}`, so in guest clock ticks that vary "
                 "with this machine's load")
    out = [f"A test guest makes {data.get('count', '?')} `KEEL_HC_VERSION` calls in batches of "
           f"{data.get('batch', '?')}, then turns the same loop as often without the call, "
           f"timed by its own clock {clock}. The reference is "
           "the empty loop turn; the fastest batch leaves out Keel's console polls (every "
           "20 ms of virtual time) that fall in the loop. One CPU, "
           f"{plural(data.get('runs', '?'), 'boot')} per arch. Lower is better. "
           "([tools/bench_hypercall.py](../tools/bench_hypercall.py))"]
    for arch, rec in arches(data):
        runs = rec.get("runs") or []
        ok = [r for r in runs if isinstance(r, dict) and "raw" in r and "error" not in r]
        out += ["", f"### {arch}", ""]
        out += hypercall_arch(arch, rec, ok, len(runs))
        out += errors(run_errors("boot", runs))
    return out


def hypercall_arch(arch, rec, ok, n):
    """The table of one arch: instructions if -icount had a shift, else clock ticks."""
    if not ok:
        return [f"No result: none of its {n} boots got through."]
    unit = "insns" if any("insns_per_call" in r for r in ok) else "ticks"
    word = "instructions" if unit == "insns" else "guest clock ticks"
    pre = "insns" if unit == "insns" else "ticks"
    rows = [Row(f"{word} per round trip, all calls", unit,
                median(runs_of(ok, f"{pre}_per_call")), median(runs_of(ok, f"{pre}_per_loop")),
                keel_runs=runs_of(ok, f"{pre}_per_call"), ref_runs=runs_of(ok, f"{pre}_per_loop")),
            Row(f"{word} per round trip, fastest batch", unit,
                median(runs_of(ok, f"best_{pre}_per_call")),
                median(runs_of(ok, f"best_{pre}_per_loop")),
                keel_runs=runs_of(ok, f"best_{pre}_per_call"),
                ref_runs=runs_of(ok, f"best_{pre}_per_loop"))]
    raw = ok[0].get("raw") or {}
    clock = raw.get("clock", "?") + (f" at {raw['clock_hz']} Hz" if raw.get("clock_hz") else "")
    if ok[0].get("keel_tsc_khz"):
        clock += f" (Keel measured {ok[0]['keel_tsc_khz']} kHz)"
    out = [f"{'Medians' if len(ok) > 1 else 'Figures'} of {len(ok)}/{plural(n, 'boot')}; "
           f"guest clock {clock}.",
           Table(f"{arch}: hypercall / empty loop turn", ("with the call", "empty loop"), rows,
                 "call / loop turn")]
    net = median(runs_of(ok, "net_insns_per_call"))
    if net is not None:
        best = median(runs_of(ok, "best_net_insns_per_call"))
        out += ["", f"Net of the loop, one round trip costs {fmt(net, 'insns')} instructions "
                f"({fmt(best, 'insns')} in the fastest batch)."]
    rep = rec.get("repeats_exactly") or {}
    if rep.get("totals") is not None:
        out += ["", "The runs repeat exactly: " + ", ".join(
            f"{what} {'yes' if rep.get(key) else '**no**'}"
            for what, key in (("totals", "totals"), ("fastest batches", "fastest_batches")))
            + "."]
    return out


PT_ROWS = (("NVMe O_DIRECT read (guest clock)", "nvme_read_mibs"),
           ("NVMe read, timed by this machine", "nvme_read_host_clock_mibs"),
           ("NIC, this machine → guest", "net_in_mibs"),
           ("NIC, guest → this machine", "net_out_mibs"))


def passthrough(data):
    """tools/bench_passthrough.py: NVMe and NIC passed through behind the IOMMU, and MSI
    latency. A result from before it ran on aarch64 is x86_64's alone (no "arches")."""
    vm = data.get("microvm") or {}
    recs = arches(data) or [("x86_64", dict(data, iommu="VT-d", keel_interrupts="MSI-X, remapped"))]
    out = [f"A Linux microVM ({vm.get('cpus', '?')} vCPU, {vm.get('memory', '?')}) owns an "
           "NVMe drive and a virtio-net-pci NIC behind the IOMMU (x86_64: VT-d, intel-iommu "
           "with interrupt remapping; aarch64: the SMMUv3); the reference boots the same "
           "kernel directly with the same two devices, alternating a b a b. The guest reads "
           f"{data.get('disk_mib', '?')} MiB of the drive with O_DIRECT, timed by its own "
           "clock (and by this machine, as a check on it), and its NIC takes "
           f"{data.get('net_mib', '?')} MiB from this machine and sends as much back. Both "
           "sides pay the same device models and TCG, so the ratios are Keel's share: the "
           "IOMMU's translation of every DMA and Keel's interrupt injection (x86_64: MSI-X "
           "through interrupt remapping; aarch64: INTx, as Keel offers no MSI there yet, "
           "while the direct guest uses MSI-X). Higher is better. "
           "([tools/bench_passthrough.py](../tools/bench_passthrough.py))"]
    for arch, rec in recs:
        runs = rec.get("runs") or {}
        s = rec.get("summary") or {}
        out += ["", f"{arch}: behind {rec.get('iommu', '?')}, Keel's guest interrupts "
                f"{rec.get('keel_interrupts', '?')}; guest kernel "
                f"{rec.get('kernel') or 'not recorded'}; medians of "
                f"{len(runs_of_ok(runs.get('keel')))}/{len(runs.get('keel') or [])} Keel and "
                f"{len(runs_of_ok(runs.get('direct')))}/{len(runs.get('direct') or [])} direct "
                "boots.",
                Table(f"{arch}: passthrough, Keel / direct", ("Keel", "direct"), [
                    Row(label, "MiB/s", side_median(s, runs, "keel", k),
                        side_median(s, runs, "direct", k), get(rec, "ratio_keel_over_direct", k),
                        runs_of(runs.get("keel"), k), runs_of(runs.get("direct"), k))
                    for label, k in PT_ROWS])]
        out += errors([e for side in runs for e in run_errors(f"{arch} {side} boot", runs[side])])
    msi = next((rec.get("msi_latency") for arch, rec in recs if rec.get("msi_latency")), None)
    return out + msi_block(msi)


def runs_of_ok(runs):
    return [r for r in runs or [] if isinstance(r, dict) and "error" not in r]


def side_median(summary, runs, side, key):
    """A side's median from the summary, else from its runs."""
    m = get(summary, side, key)
    return m if num(m) is not None else median(runs_of(runs.get(side), key))


def msi_block(lat):
    """An edu MSI through VT-d and Keel against a self-IPI, in instructions."""
    if not isinstance(lat, list):
        return []
    ok = runs_of_ok(lat)
    out = ["", "### MSI latency (x86_64)", "",
           "Under `-icount` (as the hypercall benchmark), a test guest on one CPU raises an edu "
           "device's MSI (through VT-d interrupt remapping, Keel's host handler and its "
           "injection) and sends itself an IPI (Keel's LAPIC model alone), each timed from "
           "the write that starts it to the handler's first instruction. The reference is the "
           f"self-IPI. Medians of {len(ok)}/{len(lat)} boots, in instructions. Lower is better."]
    if any("msi_least_insns" in r for r in ok):
        out.append(Table("x86_64: edu MSI / self-IPI", ("MSI", "self-IPI"), [
            Row(f"instructions, {what}", "insns", median(runs_of(ok, f"msi_{k}_insns")),
                median(runs_of(ok, f"ipi_{k}_insns")), None,
                runs_of(ok, f"msi_{k}_insns"), runs_of(ok, f"ipi_{k}_insns"))
            for what, k in (("least", "least"), ("mean", "mean"))]))
    elif ok:
        out += ["", "No instruction counts: `-icount` had no fixed shift."]
    return out + errors(run_errors("MSI boot", lat))


NET_ROWS = (("TCP throughput (higher is better)", "tcp_mibs", "MiB/s"),
            ("ping, average (lower is better)", "ping_avg_ms", "ms"),
            ("ping, least (lower is better)", "ping_min_ms", "ms"))


def net(data):
    """tools/bench_net.py: two microVMs on Keel's switch against two QEMU guests."""
    vm = data.get("microvm") or {}
    out = [f"Two Linux microVMs ({vm.get('cpus', '?')} vCPU, {vm.get('memory', '?')} each) on "
           "a network of Keel's switch, against the same kernel booted twice directly by QEMU, "
           "the two NICs joined by `-netdev socket` (QEMU's own user-space switch), "
           "alternating a b a b. The sender pings the receiver 5 times, then sends it "
           f"{data.get('net_mib', '?')} MiB over TCP, timed by the guest's own clock and "
           "checked by sha256. Both sides pay the same TCG and guest kernel, so the ratios are "
           "what moving frames costs: Keel's switch and virtio-net against QEMU's "
           "virtio-net-pci and its socket backend. Then the Keel pair moves the same over "
           "vsock through an echo on the receiver (as much each way at once), set beside its "
           "own TCP: QEMU's vsock needs the host's vhost-vsock. "
           "([tools/bench_net.py](../tools/bench_net.py))"]
    for arch, rec in arches(data):
        runs, s = rec.get("runs") or {}, rec.get("summary") or {}
        out += keel_vs_direct(arch, rec, "network", ("Keel", "direct"), NET_ROWS, "runs")
        vsock = side_median(s, runs, "keel", "vsock_mibs")
        if vsock is not None:
            out += ["", "vsock against TCP on the same Keel pair (higher is better):",
                    Table(f"{arch}: vsock / TCP on Keel", ("vsock", "TCP"), [
                        Row("throughput", "MiB/s", vsock,
                            side_median(s, runs, "keel", "tcp_mibs"),
                            rec.get("ratio_vsock_over_tcp_keel"),
                            runs_of(runs.get("keel"), "vsock_mibs"),
                            runs_of(runs.get("keel"), "tcp_mibs"))])]
        out += errors([e for side in runs for e in run_errors(f"{side} run", runs[side])])
    return out


def keel_vs_direct(arch, rec, what, cols, rows, noun):
    """An arch's heading, its guest kernel and run counts, and the table of @rows
    ((label, key, unit)) from @rec's runs: Keel against the direct side."""
    runs, s = rec.get("runs") or {}, rec.get("summary") or {}
    return ["", f"### {arch}", "",
            f"Guest kernel {rec.get('kernel') or 'not recorded'}; medians of "
            f"{len(runs_of_ok(runs.get('keel')))}/{len(runs.get('keel') or [])} Keel and "
            f"{len(runs_of_ok(runs.get('direct')))}/{len(runs.get('direct') or [])} "
            f"direct {noun}.",
            Table(f"{arch}: {what}, {cols[0]} / {cols[1]}", cols, [
                Row(label, unit, side_median(s, runs, "keel", k),
                    side_median(s, runs, "direct", k), get(rec, "ratio_keel_over_direct", k),
                    runs_of(runs.get("keel"), k), runs_of(runs.get("direct"), k))
                for label, k, unit in rows])]


BLK_ROWS = (("sequential read, 1 MiB", "seq_read_mibs", "MiB/s"),
            ("sequential write, 1 MiB", "seq_write_mibs", "MiB/s"),
            ("random read, 4 KiB", "rand_read_iops", "IOPS"),
            ("random write, 4 KiB", "rand_write_iops", "IOPS"),
            ("sequential read, 4 KiB", "seq4k_read_iops", "IOPS"))


def blk(data):
    """tools/bench_blk.py: Keel's virtio-blk against QEMU's virtio-blk-device."""
    vm = data.get("microvm") or {}
    out = [f"A Linux microVM ({vm.get('cpus', '?')} vCPU, {vm.get('memory', '?')}) whose disk "
           "Keel holds in memory, against the same kernel booted directly by QEMU with the "
           "same image on its own virtio-blk-device (virtio-mmio, as Keel's), alternating "
           "a b a b. keel-blkbench (in the test initramfs) opens /dev/vda with O_DIRECT and "
           f"reads and writes {data.get('mib', '?')} MiB in 1 MiB requests, then "
           f"{data.get('ops', '?')} random 4 KiB reads and as many writes (the same offsets "
           "on both sides) and as many sequential 4 KiB reads, timed by the guest's own "
           "clock. Both sides pay the same TCG and guest kernel, so the ratios are the "
           "device's share; under TCG, Keel's device model runs emulated while QEMU's runs "
           "natively. Higher is better. ([tools/bench_blk.py](../tools/bench_blk.py))"]
    for arch, rec in arches(data):
        runs = rec.get("runs") or {}
        out += keel_vs_direct(arch, rec, "virtio-blk", ("Keel", "QEMU"), BLK_ROWS, "boots")
        out += errors([e for side in runs for e in run_errors(f"{side} boot", runs[side])])
    return out


LAB_ON_A_HOST = (
    "**On a real host.** `make bench-image` writes `<build>/keel-bench.img`: a USB stick for both "
    "arches with this configuration (`make usb-image KEEL_CFG=tests/configs/bench.cfg` and `make "
    "pxe KEEL_CFG=tests/configs/bench.cfg` make the same for any stick or network boot). Write it "
    "to a stick (`dd if=<build>/keel-bench.img of=/dev/sdX bs=4M conv=fsync`), boot the host "
    "from it with the serial console captured (115200 8N1), and wait about a minute: Keel powers "
    "the host off when the three partitions are done. The document is the partition's lines "
    "between `labbench| labbench-json-begin` and `labbench| labbench-json-end`; "
    "`tools/bench_lab.py`'s `document()` reads it out of a captured log. The host needs 4 "
    "logical CPUs (0-1 measured, 2-3 noisy); on a bigger one add `[partition noiseN]` "
    "sections for the other CPUs so none sits idle. There the figures are nanoseconds of the "
    "host's own clock (`clock_hz`), and `noisy_per_mille` is the interference figure: the "
    "measured partition's bandwidth with its neighbours hammering memory, per mille of its "
    "bandwidth alone.")


def lab(data):
    """tools/bench_lab.py: the lab bench image's configuration under -icount."""
    icount = data.get("icount") if isinstance(data.get("icount"), str) else "?"
    out = [f"The configuration `make bench-image` ships for real hosts "
           f"(`{data.get('config', 'tests/configs/bench.cfg')}`, guest "
           "[tests/guests/labbench.c](../tests/guests/labbench.c)), booted here under QEMU "
           f"`-icount {icount}`: a bare-metal partition on CPUs 0-1 measures the hypercall round "
           "trip, a trapped MMIO read, 100 000 timer interrupts and 10 000 IPIs from its vCPU 0 "
           "to its vCPU 1 (as cyclictest: min, avg, p99, max) and its memory bandwidth, then "
           "two neighbours on CPUs 2-3 hammer memory and it measures its bandwidth again. "
           "Under `-icount` the paths are instruction counts, and the noisy ratio only shows "
           "QEMU's one TCG thread shared among the vCPUs: the interference figure is for real "
           "hosts. "
           "([tools/bench_lab.py](../tools/bench_lab.py))", "", LAB_ON_A_HOST]
    for arch, doc in arches(data):
        out += ["", f"### {arch}", ""]
        if "arch" not in doc:
            out += errors([("the boot", doc.get("error", "no document"))])
            continue
        out += lab_arch(arch, doc)
        out += errors([("this boot", doc.get("error"))])
    return out


def lab_arch(arch, doc):
    """Keel's paths as a plain table (no reference but the loop they are net of), and the
    bandwidth with neighbours against alone."""
    insns = num(get(doc, "hypercall", "insns_per_call")) is not None
    unit = "insns" if insns else "ns"

    def fig(group, key):
        return num(get(doc, group, key.replace("ns", "insns", 1) if insns else key))

    t = doc.get("timer") or {}
    rows = [("hypercall round trip, net of the same loop without it",
             fig("hypercall", "ns_per_call")),
            ("trapped MMIO read, net of a RAM read", fig("mmio", "ns_per_read"))]
    rows += [(f"{what} latency, {k}", fig(group, f"{k}_ns"))
             for group, what in (("timer", "timer interrupt"), ("ipi", "IPI vCPU 0 → vCPU 1"))
             for k in ("min", "avg", "p99", "max")]
    word = "instructions" if insns else "ns"
    ipi = doc.get("ipi") or {}
    out = [f"Timer: {t.get('samples', '?')} samples, each due {t.get('period_us', '?')} µs after "
           f"it was armed; IPIs: {ipi.get('samples', '?')} samples; guest clock "
           f"{doc.get('clock_hz', '?')} Hz.", "",
           f"| {arch}: Keel's paths | {word} |", "|---|--:|"]
    out += [f"| {label} | {fmt(v, unit)} |" for label, v in rows]
    mem = doc.get("memory") or {}
    bw = Row(f"memory bandwidth, {mem.get('mib', '?')} MiB written and read", "MiB/s",
             num(mem.get("noisy_mib_s")), num(mem.get("alone_mib_s")))
    out.append(Table(f"{arch}: memory bandwidth", ("noisy neighbours", "alone"), [bw],
                     "noisy / alone"))
    if mem.get("alone_clean") is False:
        out += ["", "The alone phase ran past the neighbours' start: its figure is not clean."]
    return out


# (file name prefix, section title, builder), in the order `make bench` runs them.
KINDS = (("linux-boot", "Linux boot: Keel microVM against Xen's dom0 and a direct QEMU boot",
          linux_boot),
         ("keelctl-start", "`keelctl create --start`, and the idle manager", keelctl_start),
         ("hypercall", "Hypercall round trip", hypercall),
         ("passthrough", "Passthrough: NVMe drive, NIC and MSI latency", passthrough),
         ("net", "Network: two microVMs on Keel's switch", net),
         ("blk", "virtio-blk: Keel's against QEMU's", blk),
         ("lab", "Lab bench (`make bench-image`) under -icount", lab))


# ---- the newest JSON of each kind ----

def found_files(outdir, kind):
    """[(time stamp, path)] of every <kind>-YYYYmmdd-HHMMSS.json, newest first."""
    pat = re.compile(rf"^{re.escape(kind)}-(\d{{8}}-\d{{6}})\.json$")
    return sorted(((m.group(1), p) for p in outdir.glob(f"{kind}-*.json")
                   if (m := pat.match(p.name))), reverse=True)


ARCH_ORDER = ("x86_64", "aarch64")


def merged(outdir, kind):
    """(path, stamp, data) of the newest JSON of @kind, its "arches" completed with
    each arch's record from the newest JSON that has that arch: a run of one arch
    (--arch) leaves the other's figures as they were. data["_sources"] names the
    file of each arch when they differ. None if there is no JSON."""
    found = found_files(outdir, kind)
    if not found:
        return None
    stamp, path = found[0]
    data = load(path)
    if unreadable(data) or not isinstance(data.get("arches"), dict):
        return path, stamp, data
    recs, sources = {}, {}
    for st, p in found:
        d = data if p == path else load(p)
        for arch, rec in (d.get("arches") or {}).items() if isinstance(d, dict) else ():
            if arch not in recs and isinstance(rec, dict):
                recs[arch], sources[arch] = rec, (p.name, when(d, st))
    order = sorted(recs, key=lambda a: ARCH_ORDER.index(a) if a in ARCH_ORDER else 99)
    data = {**data, "arches": {a: recs[a] for a in order}}
    if len({name for name, _ in sources.values()}) > 1:
        data["_sources"] = {a: sources[a] for a in order}
    return path, stamp, data


def kept_sections(page):
    """{section title: its Markdown lines} of an earlier docs/bench.md, to keep the
    sections of benchmarks this build has no result for."""
    try:
        text = page.read_text()
    except OSError:
        return {}
    out, title = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:]
            out[title] = []
        elif title is not None:
            out[title].append(line)
    return out


def load(path):
    """The JSON's object, or {'error': why} (a run cut short can leave a broken file)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return {"error": f"could not read {path.name}: {e}"}
    return data if isinstance(data, dict) else {"error": f"{path.name} is not a JSON object"}


def unreadable(data):
    """True for load()'s {'error': why} (or a JSON holding nothing but an error)."""
    return set(data) == {"error"}


def when(data, stamp):
    """The result's date as the JSON states it, else from its file name."""
    d = data.get("date")
    if isinstance(d, str):
        m = re.match(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)([+-]\d{4})?$", d)
        return f"{m.group(1)} {m.group(2)} {m.group(3) or ''}".strip() if m else d
    t = time.strptime(stamp, "%Y%m%d-%H%M%S")
    return time.strftime("%Y-%m-%d %H:%M:%S", t) + ", as the file is named"


# ---- this machine and the versions ----

def read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model():
    """/proc/cpuinfo's model name (x86), or what an arm64 kernel says of its cores."""
    info = read("/proc/cpuinfo")
    for key in ("model name", "Model", "Hardware", "cpu model"):
        m = re.search(rf"^{key}\s*:\s*(.+)$", info, re.M)
        if m:
            return m.group(1).strip()
    m = re.search(r"^CPU part\s*:\s*(\S+)$", info, re.M)
    return f"CPU part {m.group(1)}" if m else (platform.processor() or "unknown")


def memory_gib():
    m = re.search(r"^MemTotal:\s*(\d+) kB", read("/proc/meminfo"), re.M)
    return f"{int(m.group(1)) / (1 << 20):.1f} GiB" if m else "unknown"


def command(argv):
    """The first line @argv prints, or None if it cannot run."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd=ROOT)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def keel_version():
    return (command(["git", "describe", "--always", "--dirty"])
            or command(["git", "rev-parse", "--short", "HEAD"]) or "unknown")


def qemu_versions(results):
    """QEMU's version line as the JSONs record it ({line: [kinds]}), else as installed now."""
    seen = {}
    for kind, (_, _, data) in results.items():
        if isinstance(data.get("qemu"), str):
            seen.setdefault(data["qemu"], []).append(kind)
    if seen:
        return [f"{v} ({', '.join(kinds)})" if len(seen) > 1 else v for v, kinds in seen.items()]
    now = command(["qemu-system-x86_64", "--version"])
    return [f"{now} (installed now; the JSONs do not record it)" if now else "unknown"]


def guest_kernels(results):
    """{arch: {kernel release}} from the JSONs that carry it."""
    out = {}
    for kind, (_, _, data) in results.items():
        if kind == "passthrough" and isinstance(data.get("kernel"), str):  # before "arches"
            out.setdefault("x86_64", set()).add(data["kernel"])
        for arch, rec in arches(data):
            if isinstance(rec.get("kernel"), str):
                out.setdefault(arch, set()).add(rec["kernel"])
    return out


def machine(results):
    """The machine and versions section, as a two-column table."""
    debian = read("/etc/debian_version").strip() or "not Debian"
    kernels = guest_kernels(results)
    rows = [("CPU", f"{cpu_model()} ({platform.machine()})"),
            ("cores", str(os.cpu_count() or "unknown")),
            ("memory", memory_gib()),
            ("Debian", debian),
            ("host kernel", platform.release()),
            *(("QEMU", v) for v in qemu_versions(results)),
            *((f"guest kernel, {arch}", ", ".join(sorted(v))) for arch, v in kernels.items()),
            ("Keel", f"`{keel_version()}` (the tree this page was generated from)")]
    return ["## Machine and versions", "",
            "The machine this page was generated on (with `make bench`, the one that ran "
            "the benchmarks).", "",
            "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


# ---- Markdown ----

def table_md(t):
    """A Table as Markdown: the ratio first (the figure to compare), then both medians."""
    out = ["", f"| | **{t.heading()}** | {t.sides[0]} | {t.sides[1]} |", "|---|--:|--:|--:|"]
    for r in t.rows:
        ref = fmt(r.ref, r.unit) if num(r.ref) is not None or not r.ref_text else r.ref_text
        out.append(f"| {r.label} | {fmt_ratio(r.the_ratio())} | {fmt(r.keel, r.unit)} "
                   f"| {ref} |")
    return out


def header(build_name, plots_note):
    return ["# Benchmark results", "",
            "<!-- Generated by tools/bench_report.py; do not edit by hand. -->", "",
            "Generated by `make bench` at the end of every run (any `BENCH_ARGS=--only ...`) "
            f"from the newest JSON of each benchmark and arch in `{build_name}/bench/`, a "
            "benchmark without one keeping its earlier section: do not edit "
            "it by hand. To regenerate it from those files without running anything: "
            f"`python3 tools/bench_report.py --build {build_name}`.", "",
            "Each figure is a median of the runs of one `make bench`, set beside a reference "
            "measured in the same run on the same QEMU, and the **ratio** Keel / reference is "
            "the figure to compare: the absolute ones follow this machine and QEMU's TCG, "
            "the ratios much less. Benchmarks are not tests: nothing here passes or fails.",
            *(["", plots_note] if plots_note else [])]


def files_md(results, build_name, kept=()):
    out = ["", "## Result files", "", "| benchmark | file | date |", "|---|---|---|"]
    for kind, title, _ in KINDS:
        if kind in results:
            path, stamp, data = results[kind]
            rows = data["_sources"].values() if "_sources" in data else \
                [(path.name, when(data, stamp))]
            for name, date in rows:
                out.append(f"| {kind} | `{build_name}/bench/{name}` | {date} |")
        elif title in kept:
            out.append(f"| {kind} | {DASH} | none in this build: its section is the page's "
                       "earlier one |")
        else:
            out.append(f"| {kind} | {DASH} | not run in this build yet |")
    return out


def trim(lines):
    """@lines without the blank lines at their end."""
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def section_md(kind, title, result, blocks, plot, build_name):
    """One benchmark's section: its text and tables, or why there is none."""
    out = ["", f"## {title}", ""]
    if result is None:
        return out + [f"Not run in this build yet: no `{kind}-*.json` in `{build_name}/bench/`."]
    path, stamp, data = result
    sources = data.get("_sources")
    if sources:
        out.append("From " + ", ".join(f"`{n}` ({d}) for {arch}"
                                       for arch, (n, d) in sources.items()) + ".")
    else:
        out.append(f"From `{path.name}` ({when(data, stamp)}).")
    if unreadable(data):
        return out + errors([("this run", data["error"])])
    out.append("")
    for b in blocks:
        out += table_md(b) if isinstance(b, Table) else [b]
    if plot:
        out += ["", f"![{plain(title)}: ratios](bench/{plot.name})"]
    return out


# ---- plots ----

def matplotlib_pyplot():
    """matplotlib.pyplot with the Agg backend (no display), or (None, why)."""
    try:
        import matplotlib
    except ImportError as e:
        if not DEBIAN_DIST.is_dir() or str(DEBIAN_DIST) in sys.path:
            return None, str(e)
        sys.path.append(str(DEBIAN_DIST))  # appended: this interpreter's own packages win
        try:
            import matplotlib
        except Exception as e2:  # noqa: BLE001 - a mismatched build fails in many ways
            return None, str(e2)
    try:
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # noqa: BLE001 - as above
        return None, str(e)
    return plt, None


def plottable(t):
    return [r for r in t.rows if num(r.the_ratio()) is not None]


def panel(ax, t):
    """One Table as horizontal bars of its ratios, a line at 1 (the reference), the runs of
    both sides as dots over the reference's median (their spread), and the medians."""
    rows = plottable(t)
    ys = list(range(len(rows)))[::-1]  # the table's first row on top
    right = 1.0
    for y, r in zip(ys, rows):
        rt = r.the_ratio()
        # One colour: whether above 1 is worse depends on the measure (time or throughput).
        ax.barh(y, rt, height=0.5, color="#4c72b0")
        ref = num(r.ref)
        kdots = [v / ref for v in r.keel_runs] if ref else []
        rdots = [v / ref for v in r.ref_runs] if ref else []
        ax.plot(kdots, [y + 0.12] * len(kdots), "o", color="black", ms=3.5)
        ax.plot(rdots, [y - 0.12] * len(rdots), "|", color="#777777", ms=7)
        end = max([rt, *kdots, *rdots])
        right = max(right, end)
        ax.text(end + right * 0.02, y,
                f"{rt:.2f}   {fmt(r.keel, r.unit)} vs {fmt(r.ref, r.unit)}",
                va="center", fontsize=8)
    ax.axvline(1.0, color="#c44e52", lw=1, ls="--")
    ax.set_xlim(0, right * 1.6)  # room for the text right of the longest bar
    ax.set_yticks(ys, [textwrap.fill(plain(r.label), 30) for r in rows], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_title(plain(t.title), fontsize=9)
    ax.tick_params(axis="x", labelsize=8)


def plot(plt, title, tables, path):
    """The kind's PNG: one panel per Table with a ratio; False if there is nothing to plot."""
    tables = [t for t in tables if plottable(t)]
    if not tables:
        return False
    heights = [len(plottable(t)) * 0.55 + 0.9 for t in tables]
    fig, axes = plt.subplots(len(tables), 1, figsize=(9, sum(heights) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, t in zip(axes[:, 0], tables):
        panel(ax, t)
    axes[-1, 0].set_xlabel("median / the reference's median (dashed: 1, the same); "
                           "dots: the runs, black Keel's side, grey the reference's", fontsize=8)
    fig.suptitle(plain(title), fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # No Software entry: the file changes only when the figures do.
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return True


def make_plot(plt, kind, title, blocks):
    """docs/bench/<kind>.png, or None (nothing to plot, or the plot failed: a warning)."""
    path = PLOTS / f"{kind}.png"
    try:
        if plot(plt, title, [b for b in blocks if isinstance(b, Table)], path):
            return path
    except Exception as e:  # noqa: BLE001 - a plot's failure leaves the tables standing
        print(f"bench-report: warning: no plot for {kind}: {e!r}", file=sys.stderr)
    path.unlink(missing_ok=True)  # no stale plot beside a page that does not link it
    return None


# ---- the page ----

def build_name(build):
    """@build as the page names it: relative to the repository when inside it."""
    try:
        return str(build.resolve().relative_to(ROOT))
    except ValueError:
        return str(build)


def write(build):
    """Write docs/bench.md (and docs/bench/<kind>.png) from <build>/bench/; returns the page."""
    build = Path(build)
    if not build.is_absolute():
        build = ROOT / build
    name = build_name(build)
    results = {}
    for kind, _, _ in KINDS:
        found = merged(build / "bench", kind)
        if found:
            results[kind] = found
    kept = kept_sections(PAGE)
    plt, why = matplotlib_pyplot()
    note = None if plt else (f"Plots need python3-matplotlib (`make deps` installs it); "
                             f"this page was written without them ({why}).")
    body = []
    for kind, title, builder in KINDS:
        res = results.get(kind)
        blocks, png = [], None
        if res and not unreadable(res[2]):
            try:
                blocks = builder(res[2])
            except Exception as e:  # noqa: BLE001 - a JSON shaped unlike any seen: say so
                blocks = [f"Its JSON could not be read as expected: {code(repr(e))}."]
            png = make_plot(plt, kind, title, blocks) if plt else None
        if res is None and kept.get(title):
            # No result in this build: the section stays as the page had it.
            body += ["", f"## {title}"] + trim(kept[title])
            continue
        body += section_md(kind, title, res, blocks, png, name)
    lines = header(name, note) + [""] + machine(results) + \
        files_md(results, name, [t for k, t, _ in KINDS if k not in results and kept.get(t)]) + \
        body
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text("\n".join(lines) + "\n")
    plots = sum(1 for k in results if (PLOTS / f"{k}.png").is_file()) if plt else 0
    shown = PAGE.relative_to(ROOT) if PAGE.is_relative_to(ROOT) else PAGE
    print(f"bench-report: {shown} written from {name}/bench/ "
          f"({len(results)} of {len(KINDS)} benchmarks, {plots} plots)")
    return PAGE


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build", help="build directory (as make BUILD=)")
    args = ap.parse_args()
    write(Path(args.build))


if __name__ == "__main__":
    main()
