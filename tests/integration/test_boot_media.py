# SPDX-License-Identifier: MIT
"""Boot media (issue 14): Keel from a USB stick.

`tools/usb-image.py` (make usb-image) builds one GPT disk whose EFI system
partition boots both arches. QEMU boots it as a USB mass-storage device on
xHCI, the machine's only disk:

- the stick with the demo configuration reaches the management shell on each
  arch, the loader read that arch's keel.cfg and images, the SHA-256 it
  printed for each image is the one the test computes of the file, and the
  boot timeline shows each image's read in order;
- broken sticks: a missing image, a truncated one (keel.cfg gives its
  kernel_sha256), a corrupted keel.cfg: each gives one error with keel.cfg's
  line, and nothing starts; the same stick unbroken, with that kernel_sha256,
  boots.
"""

import hashlib
import importlib.util
import json
import re

import pytest

import conftest
import linuxrig
from keelrig import (ROOT, TESTGUEST, boot_timeline, check_timeline, keel, keel_cfg, line_of, out,
                     partition)

ABORT = r"keel: boot aborted: keel\.cfg has errors; no partition started"

_spec = importlib.util.spec_from_file_location("usb_image", ROOT / "tools" / "usb-image.py")
usb_image = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(usb_image)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="session")
def demo_stick(rig, request, tmp_path_factory):
    """One stick with the demo for every arch under test (both in make test)."""
    arches = conftest.selected_arches(request.config)
    for a in arches:
        linuxrig.assets(a, rig.build)  # the management partition's initramfs
    image = tmp_path_factory.mktemp("usb") / "keel-usb.img"
    usb_image.build_image(image, arches, rig.build)
    return image, arches


@pytest.mark.linux
def test_usb_stick_boots_the_management_shell(rig, arch, demo_stick):
    image, arches = demo_stick
    assert arch in arches
    kernel = linuxrig.KERNEL_NAME[arch]
    with rig.boot_usb(arch, image, "usb-demo", timeout=400, cls=linuxrig.LinuxQemu) as q:
        ready = q.wait_for(r"KEEL-MGMT (ready|error)", 300)
        assert "ready" in ready, ready
        # The firmware booted the stick, and the loader found this arch's files on it.
        assert q.find(r"BdsDxe: starting Boot\w+ .*USB"), "the firmware did not boot the USB disk"
        want = {
            rf"\linux\{kernel}": linuxrig.assets(arch, rig.build).kernel,
            r"\linux\mgmt-initrd.gz": linuxrig.assets(arch, rig.build).mgmt_initrd,
            f"/guests/{TESTGUEST}": rig.build / arch / "guests" / TESTGUEST,
        }
        for name, path in want.items():
            line = q.find(rf"keel: loader: {re.escape(name)}: \d+ bytes, sha256 [0-9a-f]{{64}}$")
            assert line, f"the loader did not report {name}"
            assert line.endswith(sha256_of(path)), f"{line}: not the sha256 of {path}"
            assert f": {path.stat().st_size} bytes," in line
        assert q.find(out("hello", r"hello from hello$"))
        # The boot timeline: the three images read from the stick, with their sizes.
        rows = boot_timeline(q)
        check_timeline(rows, 4, ["mgmt", "hello"],
                       [(name, path.stat().st_size) for name, path in want.items()])
        q.send("keelctl list\n")
        q.wait_for(r"^\s*\d+\s+hello\s", 120, after=len(q.lines) - 1)
        # keelctl info --json carries the same timeline, in ns.
        q.send("echo INFO-JSON $(keelctl info --json)\n")
        info = json.loads(q.wait_for(r"^INFO-JSON \{", 120, after=len(q.lines) - 1)
                          .split("INFO-JSON ", 1)[1])
        events = info["boot_timeline"]
        assert [e["at_ns"] // 1000000 for e in events] == [int(t) for t, _ in rows], events
        images = {e["name"]: e["bytes"] for e in events if e["event"] == "image"}
        assert images == {n: p.stat().st_size for n, p in want.items()}
        first = [e["name"] for e in events if e["event"] == "first_instruction"]
        assert sorted(first) == ["hello", "mgmt"]


def stick_config(kernel_sha256=None):
    keys = {"kernel_sha256": kernel_sha256} if kernel_sha256 else {}
    return keel_cfg(partition("alpha", 1, "mode=hello", memory="32M", **keys),
                    on_idle="poweroff")


def remove_guest(arch):
    def mutate(stage):
        (stage / arch / "guests" / TESTGUEST).unlink()
    return mutate


def truncate_guest(arch):
    def mutate(stage):
        path = stage / arch / "guests" / TESTGUEST
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    return mutate


def corrupt_config(arch, line):
    def mutate(stage):
        path = stage / arch / "keel.cfg"
        lines = path.read_bytes().split(b"\n")
        lines[line - 1] = b"\x7fELF\x00\xff\xfe garbage"
        path.write_bytes(b"\n".join(lines))
    return mutate


def broken_stick(rig, arch, tmp_path, case):
    """(keel.cfg text, the mutation, the offending line, its error regex) for @case."""
    guest_sha = sha256_of(rig.build / arch / "guests" / TESTGUEST)
    kernel_line = line_of(stick_config(), "kernel =")
    if case == "missing":
        return (stick_config(), remove_guest(arch), kernel_line,
                rf"kernel: cannot load '/guests/{TESTGUEST}': no such file")
    if case == "truncated":
        text = stick_config(guest_sha)
        return (text, truncate_guest(arch), line_of(text, "kernel_sha256"),
                rf"'/guests/{TESTGUEST}' has SHA-256 [0-9a-f]{{64}}, not {guest_sha}$")
    cmdline = line_of(stick_config(), "cmdline =")
    return (stick_config(), corrupt_config(arch, cmdline), cmdline, r"")


@pytest.mark.parametrize("case", ["missing", "truncated", "corrupt_cfg"])
def test_broken_usb_stick_starts_nothing(rig, arch, tmp_path, case):
    text, mutate, line, reason = broken_stick(rig, arch, tmp_path, case)
    config = tmp_path / "keel.cfg"
    config.write_text(text)
    image = tmp_path / "stick.img"
    usb_image.build_image(image, [arch], rig.build, config, mutate=mutate)
    with rig.boot_usb(arch, image, f"usb-{case}", mem="512M", timeout=150) as q:
        abort = q.wait_for(ABORT, 120)
        errors = q.find_all(r"keel\.cfg:\d+: error: ")
        assert len(errors) == 1, f"not one error: {errors}"
        # Named as on the stick, where each arch's keel.cfg is in its own folder.
        assert re.search(rf"\\{arch}\\keel\.cfg:{line}: error: {reason}", errors[0]), errors[0]
        assert errors[0].index < abort.index
        assert not q.find(keel(r"partition '\w+' (started|\(id)")), "a partition started"
        assert not q.find(r"\] \w+\| "), "a partition ran"


def test_usb_stick_with_the_right_sha256_boots(rig, arch, tmp_path):
    guest_sha = sha256_of(rig.build / arch / "guests" / TESTGUEST)
    config = tmp_path / "keel.cfg"
    config.write_text(stick_config(guest_sha))
    image = tmp_path / "stick.img"
    usb_image.build_image(image, [arch], rig.build, config)
    with rig.boot_usb(arch, image, "usb-sha256", mem="512M", timeout=150) as q:
        q.wait_for(out("alpha", r"hello from alpha$"), 120)
        assert not q.find(r"keel\.cfg:\d+: error: ")
        assert q.find(rf"keel: loader: /guests/{TESTGUEST}: \d+ bytes, sha256 {guest_sha}$")
