# SPDX-License-Identifier: MIT
"""The lab bench image (`make bench-image`): the USB stick a hardware lab boots.

tools/bootmedia.py builds the stick with tests/configs/bench.cfg, exactly as
`make bench-image` does, and QEMU boots it as its only disk with the 4 CPUs
the configuration needs, under -icount (tools/bench_lab.py boots the same
configuration for `make bench`). The measured partition (tests/guests/
labbench.c, two vCPUs) must print one well-formed JSON document between its
marker lines: the hypercall round trip, a trapped MMIO read, the latency of
100,000 timer interrupts and of 10,000 IPIs from its vCPU 0 to its vCPU 1,
each with min <= avg <= max and min <= p99 <= max, and its memory bandwidth
alone and with the two noise partitions hammering memory, the alone phase
over before they started. Every partition passes its own checks, and Keel
powers off when all three are done. The figures themselves are benchmarks
(docs/bench.md), never asserted here.
"""

import os
import importlib.util

import pytest

from keelrig import ARCHES, ROOT, Qemu, keel, out


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bootmedia = _tool("bootmedia")
bench_lab = _tool("bench_lab")
TIMEOUT_S = 420  # under -icount: ~35 s on x86_64, ~15 s on aarch64 here
NOISE = ("noise1", "noise2")


@pytest.fixture
def lab(rig, arch, tmp_path):
    image = tmp_path / "keel-bench.img"
    bootmedia.build_image(image, [arch], rig.build, bench_lab.CONFIG)
    argv = bench_lab.keelrig.qemu_argv(arch, None, smp=bench_lab.config_cpus(
        bench_lab.CONFIG.read_text()), mem="2G", usb=image)
    argv[argv.index("-accel") + 1] = "tcg"
    argv[argv.index("-cpu") + 1] = ARCHES[arch]["cpu"]
    argv += ["-icount", bench_lab.ICOUNT]
    log = rig.build / arch / "test-logs" / "labbench.log"
    q = Qemu(argv, log, hard_timeout=TIMEOUT_S + 60, name=f"{arch} labbench")
    q.nodeid = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    rig.runs.append(q)
    with q:
        q.wait_for(out(bench_lab.NAME, bench_lab.END), TIMEOUT_S)
        q.wait_for(keel("no partition is running"), 120)
        yield arch, q, bench_lab.document(log.read_text(errors="replace"))


def test_lab_bench_image_prints_its_document(lab):
    arch, q, doc = lab
    assert doc["keel_labbench"] == 1 and doc["arch"] == arch, doc
    assert doc["partition"] == "labbench" and doc["vcpus"] == 2, doc
    assert doc["clock_hz"] > 0, doc
    assert doc["hypercall"]["calls"] == 100000 and doc["hypercall"]["ns_per_call"] > 0, doc
    assert doc["mmio"]["reads"] == 100000 and doc["mmio"]["ns_per_read"] > 0, doc
    assert doc["timer"]["samples"] == 100000 and doc["timer"]["period_us"] == 100, doc["timer"]
    assert doc["ipi"]["samples"] == 10000, doc["ipi"]
    for t in (doc["timer"], doc["ipi"]):
        assert 0 < t["min_ns"] <= t["avg_ns"] <= t["max_ns"], t
        assert t["min_ns"] <= t["p99_ns"] <= t["max_ns"], t
    m = doc["memory"]
    assert m["alone_mib_s"] > 0 and m["noisy_mib_s"] > 0, m
    assert m["alone_clean"] is True, f"the alone phase overran the neighbours' start: {m}"
    assert q.find(out("labbench", "TEST labbench PASS")), "the bench partition failed a check"
    for name in NOISE:
        passes = q.find(out(name, r"labnoise: [1-9]\d* passes over 64 MiB"))
        assert passes, f"{name} never hammered memory"
        assert q.find(out(name, "TEST labnoise PASS")), f"{name} failed a check"
    assert not q.find(keel("(error|warning): ")), q.find(keel("(error|warning): "))
