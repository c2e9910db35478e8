# SPDX-License-Identifier: MIT
"""Boot media (issue 14): Keel from a USB stick and over the network.

`tools/bootmedia.py usb` (make usb-image) builds one GPT disk whose EFI system
partition boots both arches; QEMU boots it as a USB mass-storage device on
xHCI, the machine's only disk. `tools/bootmedia.py pxe` (make pxe) builds a
tree to serve over TFTP and HTTP. QEMU's firmware PXE-boots <arch>/keel.efi
from its user network's TFTP server on a virtio NIC, or HTTP-boots it from
Python's http.server on the host's 127.0.0.1, which the guest reaches as
10.0.2.100:80 through guestfwd (the URL is a boot option in the firmware's
variable store, written by uefivars.py: QEMU's DHCP server cannot hand out
an HTTP boot URL). Keel's loader then fetches keel.cfg and every image from
the same server and directory. On each medium:

- the stick with the demo configuration reaches the management shell on each
  arch, the loader read that arch's keel.cfg and images, the SHA-256 it
  printed for each image is the one the test computes of the file, and the
  boot timeline shows each image's read in order;
- broken media: a missing image, a truncated one (keel.cfg gives its
  kernel_sha256), a corrupted keel.cfg: each gives one error with keel.cfg's
  line, and nothing starts; a stick with the right kernel_sha256 boots.
"""

import contextlib
import functools
import http.server
import importlib.util
import json
import re
import threading

import pytest

import conftest
import linuxrig
import swtpm
import uefivars
from keelrig import (FLASH, HTTP_NIC_MAC, HTTP_NIC_SLOT, HTTP_SERVER, ROOT, TESTGUEST,
                     boot_timeline, check_timeline, keel, keel_cfg, line_of, out, partition)

ABORT = r"keel: boot aborted: keel\.cfg has errors; no partition started"

_spec = importlib.util.spec_from_file_location("bootmedia", ROOT / "tools" / "bootmedia.py")
bootmedia = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bootmedia)


def sha256_of(path):
    return linuxrig.tool().sha256_file(path)


@pytest.fixture(scope="session")
def demo_media(rig, request, tmp_path_factory):
    """One stick and one network-boot tree with the demo, for every arch
    under test (both in make test)."""
    arches = conftest.selected_arches(request.config)
    for a in arches:
        linuxrig.assets(a, rig.build)  # the management partition's initramfs
    top = tmp_path_factory.mktemp("media")
    bootmedia.build_image(top / "keel-usb.img", arches, rig.build)
    bootmedia.build_pxe(top / "pxe", arches, rig.build)
    return top, arches


class _Handler(http.server.SimpleHTTPRequestHandler):
    """http.server's file handler; each request line goes to server.requests."""

    def log_message(self, fmt, *args):
        self.server.requests.append(fmt % args)


@contextlib.contextmanager
def web_server(root):
    """Python's http.server serving @root on 127.0.0.1 (a free port), on a thread."""
    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    srv.requests = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def http_boot(tmp, arch, srv):
    """(variable store, port): the firmware HTTP-boots <arch>/keel.efi from @srv."""
    store = tmp / f"vars-{arch}.fd"
    uefivars.write_http_boot(FLASH[arch][1], store, HTTP_NIC_SLOT, HTTP_NIC_MAC,
                             f"http://{HTTP_SERVER}/{arch}/keel.efi")
    return store, srv.server_address[1]


def media_for(medium, arch, tree, srv=None, image=None):
    """boot_media()'s keyword for @medium: the stick @image, or the tree served over TFTP/HTTP."""
    if medium == "usb":
        return {"usb": image}
    if medium == "pxe":
        return {"netboot": (tree, f"{arch}/keel.efi")}
    return {"httpboot": http_boot(tree.parent, arch, srv)}


@pytest.fixture(scope="session")
def demo_web(demo_media):
    with web_server(demo_media[0] / "pxe") as srv:
        yield srv


def boot_demo(rig, arch, demo_media, medium, srv, extra=()):
    top, arches = demo_media
    assert arch in arches
    media = media_for(medium, arch, top / "pxe", srv, top / "keel-usb.img")
    return rig.boot_media(arch, f"{medium}-demo", timeout=600, cls=linuxrig.LinuxQemu,
                          extra=extra, **media)


@pytest.mark.linux
@pytest.mark.parametrize("medium", ["usb", "pxe", "http"])
def test_demo_boots_the_management_shell(rig, arch, demo_media, demo_web, medium, tmp_path):
    """From the stick (USB mass storage on xHCI, the only disk) or over the
    network (the firmware's PXE or HTTP boot, then Keel fetches keel.cfg and
    every image over TFTP or HTTP from the boot file's directory). The machine
    booting the stick has a TPM 2.0 (swtpm): the measured launch is checked
    there; the network boots have none."""
    kernel = linuxrig.KERNEL_NAME[arch]
    asked = len(demo_web.requests)
    with contextlib.ExitStack() as stack:
        tpm = stack.enter_context(swtpm.software_tpm(tmp_path, arch)) if medium == "usb" else ()
        q = stack.enter_context(boot_demo(rig, arch, demo_media, medium, demo_web, tpm))
        ready = q.wait_for(r"KEEL-MGMT (ready|error)", 500)
        assert "ready" in ready, ready
        if medium == "usb":
            assert q.find(r"BdsDxe: starting Boot\w+ .*USB"), "the firmware did not boot the stick"
            assert not q.find(r"keel: loader: network boot")
        else:
            server = {"pxe": r"tftp://10\.0\.2\.2", "http": rf"http://{HTTP_SERVER}"}[medium]
            assert q.find(rf"keel: loader: network boot: reading keel\.cfg and its files from "
                          rf"{server}/{arch}/$")
        if medium == "http":
            assert q.find(rf"BdsDxe: starting Boot0100 .*"
                          rf"Uri\(http://{HTTP_SERVER}/{arch}/keel\.efi\)")
            # The firmware fetched keel.efi, then Keel's loader each file: its size, then its bytes.
            got = [r.split('"')[1] for r in demo_web.requests[asked:]
                   if '"' in r and f"/{arch}/" in r]
            for name in ("keel.cfg", f"linux/{kernel}", "linux/mgmt-initrd.gz",
                         f"guests/{TESTGUEST}"):
                assert [f"HEAD /{arch}/{name} HTTP/1.1", f"GET /{arch}/{name} HTTP/1.1"] == \
                    [r for r in got if r.split()[1] == f"/{arch}/{name}"], got
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
        # The boot timeline: the three images read from the medium, with their sizes.
        rows = boot_timeline(q)
        check_timeline(rows, 4, ["mgmt", "hello"],
                       [(name, path.stat().st_size) for name, path in want.items()])
        print(f"{arch} {medium} boot timeline (ms since reset):")
        for t, what in rows:
            print(f"  {t:10.3f}  {what}")
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
        m = check_measure(q, arch, want, info)
        check_tpm(q, m, want, rows, tpm=medium == "usb")


def shell_json(q, command, tag):
    q.send(f"echo {tag} $({command})\n")
    line = q.wait_for(rf"^{tag} [{{\[]", 180, after=len(q.lines) - 1)
    return json.loads(line.split(f"{tag} ", 1)[1])


def check_measure(q, arch, want, info):
    """keelctl measure: keel.cfg's and the boot images' SHA-256 as the host computes
    them (keelctl info --json has the same); an image keelctl create LOADs is
    unmeasured until START, then has the SHA-256 the management partition's own
    sha256sum gives of the file."""
    m = shell_json(q, "keelctl measure --json", "MEASURE-ALL")
    assert info["measure"] == m, (info["measure"], m)
    assert m["keel_cfg_sha256"] == sha256_of(ROOT / "tests" / "configs" / f"demo-{arch}.cfg")
    parts = {p["name"]: p for p in m["partitions"]}
    mgmt = {i["name"]: i for i in parts["mgmt"]["images"]}
    kernel, initrd = [n for n in want if "mgmt-initrd" not in n and "guests" not in n][0], \
        r"\linux\mgmt-initrd.gz"
    assert mgmt[kernel]["role"] == "kernel" and mgmt[initrd]["role"] == "initrd"
    for name in (kernel, initrd):
        assert mgmt[name]["sha256"] == sha256_of(want[name]), mgmt[name]
        assert mgmt[name]["size"] == want[name].stat().st_size
    hello = parts["hello"]["images"]
    assert [(i["name"], i["sha256"]) for i in hello] == \
        [(f"/guests/{TESTGUEST}", sha256_of(want[f"/guests/{TESTGUEST}"]))]
    # A microVM made by the management partition: LOADed piece by piece.
    q.send("keelctl create meas --cpus 1 --memory 128M --kernel /images/kernel "
           "--initrd /images/initrd.gz --cmdline 'keel.wait=600' && echo MEAS-CREATED\n")
    q.wait_for(r"^MEAS-CREATED", 180, after=len(q.lines) - 1)
    before = shell_json(q, "keelctl measure meas --json", "MEASURE-BEFORE")
    images = before["partitions"][0]["images"]
    assert [i["role"] for i in images] == ["kernel", "initrd"]
    assert all(i["sha256"] is None for i in images), images
    q.send("keelctl start meas && echo MEAS-STARTED\n")
    q.wait_for(r"^MEAS-STARTED", 180, after=len(q.lines) - 1)
    after = shell_json(q, "keelctl measure meas --json", "MEASURE-AFTER")["partitions"][0]
    q.send("echo SUMS $(sha256sum /images/kernel /images/initrd.gz | cut -c1-64)\n")
    sums = q.wait_for(r"^SUMS [0-9a-f]{64} [0-9a-f]{64}$", 60, after=len(q.lines) - 1).split()[1:]
    assert [i["sha256"] for i in after["images"]] == sums, (after, sums)
    q.send("keelctl stop meas --force --timeout 1; keelctl destroy meas && echo MEAS-GONE\n")
    q.wait_for(r"^MEAS-GONE", 180, after=len(q.lines) - 1)
    return m


def check_tpm(q, m, want, rows, tpm):
    """The measured launch: with a TPM, keel.cfg's event in PCR 12 and each
    image's in PCR 9, in the order the loader read them, with the SHA-256
    the host computes of each file; replaying the log's digests from zero
    gives the PCR values the TPM held (and the loader printed); keelctl
    measure shows them. Without one, keelctl says so."""
    if not tpm:
        assert q.find(r"keel: loader: no TPM 2\.0: files are hashed, not measured$")
        assert m["tpm"] == {"state": "none"}, m["tpm"]
        return
    t = m["tpm"]
    assert t["state"] == "measured" and t["why"] is None, t
    assert t["events_total"] == len(t["events"]), t
    pcr12 = [e for e in t["events"] if e["pcr"] == 12]
    pcr9 = [e for e in t["events"] if e["pcr"] == 9]
    assert len(pcr12) + len(pcr9) == len(t["events"])
    assert [(e["type"], e["data"], e["sha256"]) for e in pcr12] == \
        [(13, "keel.cfg", m["keel_cfg_sha256"])], pcr12
    read = [what.split("image ", 1)[1].split(":")[0] for _, what in rows
            if what.startswith("image ")]
    assert [e["data"] for e in pcr9] == read, (pcr9, read)
    assert all(e["type"] == 13 and e["data_size"] == len(e["data"]) for e in pcr9), pcr9
    assert [e["sha256"] for e in pcr9] == [sha256_of(want[name]) for name in read], pcr9
    assert t["pcrs"] == {"9": swtpm.replay(e["sha256"] for e in pcr9),
                         "12": swtpm.replay(e["sha256"] for e in pcr12)}, t["pcrs"]
    for pcr, value in t["pcrs"].items():
        assert q.find(rf"keel: loader: TPM 2\.0: PCR {pcr} {value}$"), f"loader: PCR {pcr}"
    assert q.find(r"keel: loader: TPM 2\.0: keel\.cfg into PCR 12, 3 images into PCR 9, "
                  r"4 events logged$")
    # The text form names what each PCR holds.
    q.send("keelctl measure | grep -E '^(PCR|TPM)' | sed 's/^/MEASURE-TEXT /'\n")
    q.wait_for(r"^MEASURE-TEXT TPM log", 120, after=len(q.lines) - 1)
    assert q.find(rf"^MEASURE-TEXT PCR 9 +{t['pcrs']['9']}  \(images\)$")
    assert q.find(rf"^MEASURE-TEXT PCR 12 +{t['pcrs']['12']}  \(keel\.cfg\)$")


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


def broken_case(rig, arch, case):
    """(keel.cfg text, the mutation, the offending line, its error regex) for @case."""
    guest_sha = sha256_of(rig.build / arch / "guests" / TESTGUEST)
    kernel_line = line_of(stick_config(), "kernel =")
    if case == "missing":
        return (stick_config(), remove_guest(arch), kernel_line,
                rf"kernel: cannot load '/guests/{TESTGUEST}': ")
    if case == "truncated":
        text = stick_config(guest_sha)
        return (text, truncate_guest(arch), line_of(text, "kernel_sha256"),
                rf"'/guests/{TESTGUEST}' has SHA-256 [0-9a-f]{{64}}, not {guest_sha}$")
    cmdline = line_of(stick_config(), "cmdline =")
    return (stick_config(), corrupt_config(arch, cmdline), cmdline, r"")


# Where each medium's loader says keel.cfg was, and how a missing file is named.
CFG_NAME = {"usb": r"\\{arch}\\keel\.cfg", "pxe": r"{arch}/keel\.cfg", "http": r"{arch}/keel\.cfg"}
# (A TFTP server says "file not found" as code 1, or as QEMU's does with its words only.)
MISSING_WHERE = {"usb": r"$", "pxe": r" on tftp://10\.0\.2\.2/{arch}/$",
                 "http": rf" on http://{re.escape(HTTP_SERVER)}/{{arch}}/$"}
MISSING_WHAT = {"usb": r"no such file",
                "pxe": r"(no such file|the server answered 'File not found' \(TFTP error \d+\))",
                "http": r"no such file"}


@pytest.mark.parametrize("medium", ["usb", "pxe", "http"])
@pytest.mark.parametrize("case", ["missing", "truncated", "corrupt_cfg"])
def test_broken_medium_starts_nothing(rig, arch, tmp_path, medium, case):
    """A missing image, a truncated one (keel.cfg gives its kernel_sha256) and a
    corrupted keel.cfg, on a stick, on a TFTP server and on a web server: one
    error each, with keel.cfg's line (and the server for a file it does not
    have), and nothing starts."""
    text, mutate, line, reason = broken_case(rig, arch, case)
    config = tmp_path / "keel.cfg"
    config.write_text(text)
    tree, image = tmp_path / "pxe", tmp_path / "stick.img"
    if medium == "usb":
        bootmedia.build_image(image, [arch], rig.build, config, mutate=mutate)
    else:
        bootmedia.build_pxe(tree, [arch], rig.build, config, mutate=mutate)
    if case == "missing":
        reason += MISSING_WHAT[medium] + MISSING_WHERE[medium].format(arch=arch)
    with web_server(tree) as srv, \
            rig.boot_media(arch, f"{medium}-{case}", mem="512M", timeout=240,
                           **media_for(medium, arch, tree, srv, image)) as q:
        abort = q.wait_for(ABORT, 200)
        errors = q.find_all(r"keel\.cfg:\d+: error: ")
        assert len(errors) == 1, f"not one error: {errors}"
        # Named as on the medium, where each arch's keel.cfg is in its own folder.
        name = CFG_NAME[medium].format(arch=arch)
        assert re.search(rf"{name}:{line}: error: {reason}", errors[0]), errors[0]
        assert errors[0].index < abort.index
        assert not q.find(keel(r"partition '\w+' (started|\(id)")), "a partition started"
        assert not q.find(r"\] \w+\| "), "a partition ran"


def test_usb_stick_with_the_right_sha256_boots(rig, arch, tmp_path):
    guest_sha = sha256_of(rig.build / arch / "guests" / TESTGUEST)
    config = tmp_path / "keel.cfg"
    config.write_text(stick_config(guest_sha))
    image = tmp_path / "stick.img"
    bootmedia.build_image(image, [arch], rig.build, config)
    with rig.boot_media(arch, "usb-sha256", usb=image, mem="512M", timeout=150) as q:
        q.wait_for(out("alpha", r"hello from alpha$"), 120)
        assert not q.find(r"keel\.cfg:\d+: error: ")
        assert q.find(rf"keel: loader: /guests/{TESTGUEST}: \d+ bytes, sha256 {guest_sha}$")
