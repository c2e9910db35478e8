# SPDX-License-Identifier: MIT
"""pytest setup for Keel's QEMU integration tests.

Options: --arch (space or comma separated, default "x86_64 aarch64"),
--build (the build directory, default "build") and --no-linux (leave out
the tests marked `linux`: Debian kernels in microVMs). Every test that takes the
`arch` fixture runs once per selected arch. `rig` starts QEMU runs (each a
keelrig.Qemu, killed when its `with` block or fixture ends); a failing test
shows the last 60 serial lines of the runs it used.
"""

import os
import re
from pathlib import Path

import pytest

import keelrig
import postmortem

TAIL_LINES = 60


def pytest_addoption(parser):
    group = parser.getgroup("keel")
    group.addoption("--arch", default="x86_64 aarch64",
                    help="architectures to test, space or comma separated")
    group.addoption("--build", default="build", help="build directory (as make BUILD=)")
    group.addoption("--no-linux", action="store_true",
                    help="leave out the Linux microVM scenarios (marker `linux`)")
    group.addoption("--soak-seconds", type=int, default=0,
                    help="run the soak (marker `soak`, test_soak.py) for this long; "
                         "0 (the default) leaves it out")


def pytest_configure(config):
    config.addinivalue_line("markers", "linux: boots Debian kernels; left out with --no-linux")
    config.addinivalue_line("markers", "x86_64_only: left out when x86_64 is not in --arch")
    config.addinivalue_line("markers", "aarch64_only: left out when aarch64 is not in --arch")
    config.addinivalue_line("markers", "soak: runs for --soak-seconds; left out without it")


def pytest_collection_modifyitems(config, items):
    """Deselect what was not asked for: the `linux` tests with --no-linux, the soak
    without --soak-seconds, the VT-x (Bochs, x86_64-only) tests when x86_64 is not
    in --arch, and the aarch64-only ones when aarch64 is not; and a one-arch test's
    copy for the other arch."""
    no_vmx = "x86_64" not in selected_arches(config)
    no_arm = "aarch64" not in selected_arches(config)

    def unwanted(item):
        if item.get_closest_marker("linux") and config.getoption("no_linux"):
            return True
        if item.get_closest_marker("soak") and config.getoption("soak_seconds") <= 0:
            return True
        # A one-arch test that takes a fixture parametrized by arch: the other arch's copy goes.
        arch = item.callspec.params.get("arch") if hasattr(item, "callspec") else None
        if arch == "aarch64" and item.get_closest_marker("x86_64_only"):
            return True
        if arch == "x86_64" and item.get_closest_marker("aarch64_only"):
            return True
        if no_arm and item.get_closest_marker("aarch64_only"):
            return True
        return no_vmx and (item.path.name == "test_vmx.py" or item.get_closest_marker("x86_64_only"))

    dropped = [i for i in items if unwanted(i)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if not unwanted(i)]


ARCHES_KEY = pytest.StashKey[list]()


def selected_arches(config):
    """The --arch list, parsed once: pytest matches a module-scoped param by identity."""
    if ARCHES_KEY not in config.stash:
        arches = [a for a in re.split(r"[\s,]+", config.getoption("arch")) if a]
        unknown = [a for a in arches if a not in keelrig.ARCHES]
        if unknown or not arches:
            raise pytest.UsageError(f"--arch: unknown {unknown}; known: {list(keelrig.ARCHES)}")
        config.stash[ARCHES_KEY] = arches
    return config.stash[ARCHES_KEY]


def pytest_generate_tests(metafunc):
    if "arch" in metafunc.fixturenames:
        metafunc.parametrize("arch", selected_arches(metafunc.config), scope="module")


class Rig:
    """Builds an ESP directory per run and starts QEMU on it."""

    def __init__(self, build, tmp_factory):
        self.build = build
        self.tmp_factory = tmp_factory
        self.runs = []

    def boot(self, arch, config, name, smp=4, mem="2G", timeout=150.0, cpu=None, extra=()):
        """Start QEMU booting Keel with keel.cfg = @config (on QEMU CPU model
        @cpu if given, with the QEMU arguments @extra); returns a keelrig.Qemu.

        Use it as a context manager (or kill() it) so QEMU always stops.
        """
        esp = self.tmp_factory.mktemp(f"{arch}-{name}-esp", numbered=True)
        keelrig.make_esp(esp, arch, self.build, config)
        log = self.build / arch / "test-logs" / f"{name}.log"
        q = keelrig.Qemu(keelrig.qemu_argv(arch, esp, smp=smp, mem=mem, cpu=cpu, extra=extra), log,
                         hard_timeout=timeout, name=f"{arch} {name}")
        q.nodeid = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        self.runs.append(q)
        return q

    def boot_media(self, arch, name, usb=None, netboot=None, httpboot=None, smp=4, mem="2G",
                   timeout=150.0, extra=(), cls=keelrig.Qemu):
        """Start QEMU booting from @usb (a disk image, the only disk: a USB
        stick on xHCI), @netboot ((directory, boot file): PXE over TFTP) or
        @httpboot ((variable store, port): HTTP boot from 127.0.0.1:port), as a
        @cls (linuxrig.LinuxQemu to type into its console)."""
        log = self.build / arch / "test-logs" / f"{name}.log"
        q = cls(keelrig.qemu_argv(arch, None, smp=smp, mem=mem, extra=extra, usb=usb,
                                  netboot=netboot, httpboot=httpboot),
                log, hard_timeout=timeout, name=f"{arch} {name}")
        q.nodeid = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        self.runs.append(q)
        return q

    def kill_all(self):
        for q in self.runs:
            q.kill()


@pytest.fixture(scope="session")
def rig(request, tmp_path_factory):
    build = Path(request.config.getoption("build"))
    if not build.is_absolute():
        build = keelrig.ROOT / build
    r = Rig(build, tmp_path_factory)
    yield r
    r.kill_all()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed or rep.when == "teardown":
        return
    runs = [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, keelrig.Qemu)]
    r = item.funcargs.get("rig") if hasattr(item, "funcargs") else None
    if r:
        runs += [q for q in r.runs
                 if getattr(q, "nodeid", None) == item.nodeid and q not in runs]
    for q in runs:
        # A triple fault in Keel: what the post-mortem found comes first, so a CI
        # log that keeps only the head of a failure still has it.
        found = postmortem.summary(postmortem.read_text(q.reset_log))
        if found:
            rep.sections.append((f"post-mortem of {q.name} at its triple fault "
                                 f"(all of it in {q.reset_log})", "\n".join(found)))
        rep.sections.append((f"serial log of {q.name}: last {TAIL_LINES} lines "
                             f"(all of it in {q.log_path})", "\n".join(q.tail(TAIL_LINES))))
