# SPDX-License-Identifier: MIT
"""Hypercalls: hostile arguments get the ABI's error codes and nothing else
happens; both x86_64 instructions (VMMCALL, VMCALL) reach Keel, and on
aarch64 HVC answers the SMCCC vendor-hypervisor queries."""

import re

import pytest

from keelrig import ABI_RE, keel, keel_cfg, out, partition

# What guest-abi.md promises for each hostile call (status codes from abi.h).
EPERM, EFAULT, E2BIG, EINVAL, ENOSYS = -1, -14, -7, -22, -38
# An unknown call number: -KEEL_ENOSYS on x86_64, SMCCC's NOT_SUPPORTED on aarch64.
UNKNOWN = {"x86_64": ENOSYS, "aarch64": -1}
HOSTILE = [
    ("console write, GPA at end of RAM", EFAULT),
    ("console write, range crossing end of RAM", EFAULT),
    ("console write, range wrapping past 2^64", EFAULT),
    ("console write, GPA far outside RAM", EFAULT),
    ("console write, length max + 1", E2BIG),
    ("console write, length 2^64 - 1", E2BIG),
    ("unknown call KEEL_HC_NR_CALLS", "unknown"),
    ("unknown call 0x7ff", "unknown"),
    ("management call from a normal partition", EPERM),
    ("self info, size 0", EINVAL),
    ("self info, GPA at end of RAM", EFAULT),
    ("self info, buffer crossing end of RAM", EFAULT),
    ("self info, buffer wrapping past 2^64", EFAULT),
    ("self info, size 8", 0),
    ("console write, length 0", 0),
]
CONFIG = keel_cfg(partition("hostile", 1, "mode=hostile", memory="32M"),
                  partition("conduit", 2, "mode=conduit", memory="16M"))


@pytest.fixture(scope="module")
def hypercalls(rig, arch):
    with rig.boot(arch, CONFIG, "hypercalls") as q:
        yield q


def test_hostile_arguments(hypercalls, arch):
    q = hypercalls
    verdict = q.wait_for(out("hostile", r"TEST hostile (PASS|FAIL)"), 120)
    got = {m.group(1).strip(): int(m.group(2)) for m in
           (re.search(r"hostile: (.+?)\s+status (-?\d+) want", t)
            for t in q.find_all(out("hostile", "hostile: .* status")))}
    for what, want in HOSTILE:
        want = UNKNOWN[arch] if want == "unknown" else want
        assert got.get(what) == want, f"{what}: status {got.get(what)}, want {want}"
    assert q.find(out("hostile", r"hostile: self info size 8 wrote 8 bytes, rest untouched"))
    assert q.find(out("hostile", r"hostile: raw bytes \[\?\?\?\?\]$")), "non-printables not '?'"
    assert verdict.endswith("PASS"), q.find_all(out("hostile", "check failed"))
    stopped = q.wait_for(keel(r"partition 'hostile' stopped: "), 30, after=verdict.index)
    assert "error" not in stopped, "hostile calls stopped the partition"
    assert not q.find(r"PANIC")


def test_hypercall_conduits(hypercalls, arch):
    q = hypercalls
    if arch == "x86_64":
        # The hostile partition uses VMMCALL, the conduit one VMCALL only.
        q.wait_for(out("hostile", rf"version: status 0 abi {ABI_RE} .* via vmmcall"), 120)
        q.wait_for(out("conduit", rf"version: status 0 abi {ABI_RE} .* via vmcall"), 120)
    else:
        q.wait_for(out("conduit", r"smccc: call count [1-9]\d*, uid 6c65654b 52535648 "
                                  rf"4942412d 312e3076, revision {ABI_RE}$"), 120)
        q.wait_for(out("conduit", rf"version: status 0 abi {ABI_RE} .* via hvc"), 30)
    verdict = q.wait_for(out("conduit", r"TEST conduit (PASS|FAIL)"), 60)
    assert verdict.endswith("PASS"), q.find_all(out("conduit", "check failed"))


def test_all_stopped_poweroff(hypercalls, arch):
    for name in ("hostile", "conduit"):
        hypercalls.wait_for(keel(rf"partition '{name}' stopped: "), 120)
    assert hypercalls.wait_exit(60) == 0
    bad = hypercalls.find_all(r"keel: error|PANIC")
    assert not bad, f"unexpected errors: {bad}"
