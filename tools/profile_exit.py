#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Where the hypercall round trip's instructions go, per function of Keel.

    tools/profile_exit.py [--arch x86_64] [--build build] [--calls 2000,8000]
                          [--top 25] [--func NAME]

Boots the hypercall benchmark's guest (tools/bench_hypercall.py) twice under
-icount, with two call counts, and QEMU's translation-block trace limited to
Keel's core (-d in_asm,exec,nochain -dfilter; the load address is the one the
loader prints, "core at 0x..."). Every executed block is charged to the
core.elf symbol it starts in, times its instruction count. The difference
between the two runs, divided by the difference of the counts, is each
function's cost per call: the boot, much the same in both runs, cancels out.
Not exactly: functions whose work does not follow the call count (seen:
pmm_start and the PCI scan on x86_64, memset on aarch64) can show tens of
instructions of noise either way, and their neighbours a little. So read the
list by name, check its sum against bench_hypercall.py's figure, and repeat
with another pair of counts (--calls) before trusting a small difference.
Counts of the same number of digits keep the command lines, and with them
the boot, the most alike (the default, 2000 and 8000). --func
NAME also lists that function's blocks, as offsets into core.elf, to read
against `objdump -d`. The sum comes within a few instructions of
bench_hypercall.py's figure (which also counts the guest's call site, net of
its empty loop).

A tool for finding costs, not a benchmark: the trace makes each run slow
(about a minute) and nothing here is compared or kept.
"""

import argparse
import bisect
import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import bench_hypercall  # noqa: E402

CORE_SPAN = 0x200000  # traced bytes from the core's load address
BLOCK_INSN = re.compile(r"^0x([0-9a-f]+):\s")
BLOCK_RUN = re.compile(r"Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")


def symbols(elf, base):
    """(address, name) of every function in @elf, loaded at @base, sorted."""
    out = subprocess.run(["nm", "-n", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.append((int(parts[0], 16) + base, parts[2]))
    return syms


def read_trace(log):
    """({block address: instructions}, Counter of block runs) from a -d in_asm,exec log."""
    size, runs, cur = {}, collections.Counter(), None
    with open(log, errors="replace") as f:
        for line in f:
            if line.startswith("IN:") or not line.strip():
                cur = None
                continue
            m = BLOCK_INSN.match(line)
            if m:
                if cur is None:
                    cur = int(m.group(1), 16)
                    size[cur] = 0
                size[cur] += 1
                continue
            m = BLOCK_RUN.search(line)
            if m:
                runs[int(m.group(1), 16)] += 1
    return size, runs


def core_base(argv):
    """Keel's core load address, from a plain boot's console."""
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600).stdout
    m = re.search(r"core at (0x[0-9a-f]+)", out)
    if not m:
        sys.exit("profile-exit: no 'core at 0x...' line on the console")
    return int(m.group(1), 16)


def profile(arch, build, calls, func):
    """{function: instructions} and {block: runs} of one traced boot with @calls calls."""
    work = Path(tempfile.mkdtemp(prefix=f"profile-exit-{arch}-"))
    argv = bench_hypercall.bench_argv(arch, build, work, calls, 100, bench_hypercall.ICOUNT)
    base = core_base(argv)
    syms = symbols(Path(build) / arch / "core.elf", base)
    addrs = [a for a, _ in syms]
    log = work / "trace.log"
    subprocess.run(argv + ["-d", "in_asm,exec,nochain", "-dfilter",
                           f"{base:#x}+{CORE_SPAN:#x}", "-D", str(log)],
                   capture_output=True, timeout=1200)
    size, runs = read_trace(log)
    per_func, blocks = collections.Counter(), collections.Counter()
    for pc, n in runs.items():
        i = bisect.bisect_right(addrs, pc) - 1
        name = syms[i][1] if i >= 0 else "?"
        per_func[name] += n * size.get(pc, 0)
        if name == func:
            blocks[(pc - base, size.get(pc, 0))] += n
    return per_func, blocks


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="x86_64", choices=("x86_64", "aarch64"))
    ap.add_argument("--build", default="build")
    ap.add_argument("--calls", default="2000,8000", help="the two call counts (default 2000,8000)")
    ap.add_argument("--top", type=int, default=25, help="functions listed (default 25)")
    ap.add_argument("--func", help="also list this function's blocks")
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.calls.split(","))
    if hi <= lo:
        sys.exit("profile-exit: --calls LO,HI with HI > LO")
    a, blocks_lo = profile(args.arch, args.build, lo, args.func)
    b, blocks_hi = profile(args.arch, args.build, hi, args.func)
    span = hi - lo
    cost = {k: (b.get(k, 0) - a.get(k, 0)) / span for k in set(a) | set(b)}
    hot = sum(v for v in cost.values() if v >= 1)
    print(f"{args.arch}: instructions per call in Keel, {hot:.1f} in the functions with 1 or more"
          " (boot-only functions, e.g. pmm_start, may show noise)")
    for name, v in sorted(cost.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"{v:8.1f}  {name}")
    if args.func:
        print(f"{args.func}, per call: block offset in core.elf x instructions")
        for key in sorted(set(blocks_lo) | set(blocks_hi)):
            per = (blocks_hi.get(key, 0) - blocks_lo.get(key, 0)) / span
            if per:
                print(f"  {key[0]:#x} x {key[1]}: {per:.2f}")


if __name__ == "__main__":
    main()
