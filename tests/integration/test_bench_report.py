# SPDX-License-Identifier: MIT
"""tools/bench_report.py (docs/bench.md) without running a benchmark: a run of one
arch keeps the other arch's figures from an older result, a benchmark with no
result in the build keeps the section the page had, and a build with nothing
says so. The page and plots go to a temporary folder."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import bench_report  # noqa: E402  (tools/bench_report.py)


def hypercall_result(date, **per_arch):
    """A tools/bench_hypercall.py JSON with @per_arch: arch -> net instructions per call."""
    def run(n):
        return {"raw": {"clock": "tsc"}, "insns_per_call": n + 17.0, "insns_per_loop": 17.0,
                "best_insns_per_call": n + 17.0, "best_insns_per_loop": 17.0,
                "net_insns_per_call": float(n), "best_net_insns_per_call": float(n)}
    return {"date": date, "count": 10000, "batch": 100, "runs": 1, "icount": "shift=4,sleep=off",
            "arches": {arch: {"runs": [run(n)]} for arch, n in per_arch.items()}}


@pytest.fixture
def page(tmp_path, monkeypatch):
    """Where write() puts the page and its plots, and the build folder it reads."""
    monkeypatch.setattr(bench_report, "PAGE", tmp_path / "docs" / "bench.md")
    monkeypatch.setattr(bench_report, "PLOTS", tmp_path / "docs" / "bench")
    build = tmp_path / "build"
    (build / "bench").mkdir(parents=True)
    return build


def write_json(build, name, data):
    (build / "bench" / name).write_text(json.dumps(data))


def section(text, title):
    """The lines of the page's section @title."""
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_one_arch_run_keeps_the_other_arch(page):
    write_json(page, "hypercall-20261201-100000.json",
               hypercall_result("2026-12-01T10:00:00+0000", x86_64=300, aarch64=260))
    write_json(page, "hypercall-20261202-100000.json",
               hypercall_result("2026-12-02T10:00:00+0000", aarch64=250))
    text = bench_report.write(page).read_text()
    hc = section(text, "Hypercall round trip")
    assert hc.index("### x86_64") < hc.index("### aarch64")
    assert "`hypercall-20261201-100000.json` (2026-12-01 10:00:00 +0000) for x86_64" in hc
    assert "`hypercall-20261202-100000.json` (2026-12-02 10:00:00 +0000) for aarch64" in hc
    # Each arch's figure is its own file's.
    assert "one round trip costs 300 instructions" in hc.split("### aarch64")[0]
    assert "one round trip costs 250 instructions" in hc.split("### aarch64")[1]
    files = section(text, "Result files")
    assert "hypercall-20261201-100000.json" in files and "hypercall-20261202-100000.json" in files


def test_a_benchmark_without_results_keeps_its_section(page):
    bench_report.PAGE.parent.mkdir(parents=True)
    bench_report.PAGE.write_text("# Benchmark results\n\n## Lab bench (`make bench-image`) under "
                                 "-icount\n\nFrom `lab-x.json`.\n\n| a | b |\n\n")
    write_json(page, "hypercall-20261202-100000.json",
               hypercall_result("2026-12-02T10:00:00+0000", x86_64=288))
    text = bench_report.write(page).read_text()
    lab = section(text, "Lab bench (`make bench-image`) under -icount")
    assert "From `lab-x.json`." in lab and "| a | b |" in lab
    assert "none in this build: its section is the page's earlier one" in \
        section(text, "Result files")
    # Kinds the earlier page did not have either: said to be not run.
    assert "Not run in this build yet: no `blk-*.json`" in text


def test_nothing_run_says_so(page):
    text = bench_report.write(page).read_text()
    assert text.count("Not run in this build yet") == len(bench_report.KINDS)
