# SPDX-License-Identifier: MIT
"""PCI passthrough on x86_64: QEMU's edu given to a partition (keel.cfg pci =)
and driven by its bare-metal guest (mode=edu, tests/guests/lib/edu.c with
x86_64/edu.c), on a q35 with Intel VT-d and on one with AMD-Vi.

The guest finds the edu through configuration mechanism #1 at virtual 00:01.0
(the host bridge is 00:00.0), its BAR0 placed by Keel in the guest's PCI window
with memory decode on and bus mastering off; maps BAR0 uncached; checks the
identification, liveness and factorial registers; turns bus mastering on; DMAs
a pattern from its RAM to the device and back at guest-physical addresses and
compares; then DMAs to guest-physical 4 GiB, beyond its memory, which the IOMMU
blocks (on VT-d Keel logs the fault naming the device and its owner; QEMU 7.2's
AMD-Vi writes no event log, so there only the guest's going on is checked). Then its
MSI: the guest programs vector 0x45 for itself, the edu's raise arrives there once
(remapped by the IOMMU to a host vector and delivered to the guest's LAPIC), and with
MSI off a raise reaches nobody. Another partition runs throughout.

Behind bridges (VT-d): an edu below a PCIe-to-PCI bridge DMAs as the bridge's alias
and shares its group; it works through that alias (DMA, MSI, a secondary bus reset
when given), and its blocked DMA is reported as its own, with its owner. An edu below
a root port of its own is a group alone.

The hand-off (issue 12; mode=pcihandoff, a bare-metal management partition): child
'first' gets the edu at CREATE, drives it and shuts down, and is destroyed; PCI_LIST
names it as owner while it exists and nobody after. Meanwhile the manager waits on a
word in its RAM: the test reads the edu's command register from outside (QEMU's gdb
stub, as test_iommu.py does), finds bus mastering off, and writes the go-ahead. Child
'second' then gets the same function and drives it again; while it holds it, CREATE
naming it is refused (-KEEL_EBUSY), and so is one naming a function the host does not
have (-KEEL_ENODEV).

A Linux partition with the edu, two disks and two NICs on PCI, on VT-d (there it is
the management partition, as on the README's real host) and on AMD-Vi: its
ACPI tables describe the bus (an MCFG for Keel's ECAM, a PNP0A08 host bridge whose
_CRS is the PCI window), so Linux takes the window and the ECAM (both in
/proc/iomem), enumerates the edu at 00:01.0 with the BAR Keel placed, and reads its
identification and liveness registers through that BAR. Linux's virtio_pci and nvme
drive a virtio disk (00:02.0) and an NVMe drive (00:03.0, reset by FLR when given)
with MSI-X: Keel traps the tables' pages, keeps the guest's entries and writes
remapped ones into the devices' tables; each disk's first MiB reads back as written
(its DMA through the IOMMU), their I/O interrupts arrive, and a write reads back.
"""

import hashlib
import os
import re
import socket
import time


import pytest

import handoff
from handoff import (  # noqa: F401 (collected here, with this module's handoff_run)
    test_bus_mastering_off_between_owners, test_handoff_keel_log,
    test_handoff_manager_finishes, test_handoff_passes, test_handoff_steps)
import linuxrig

from dmaprobe import gdb_stub
from keelrig import keel, keel_cfg, out, partition
from test_iommu import ECAM, IOMMUS, MACHINES, WIDE

pytestmark = pytest.mark.x86_64_only

EDU_ADDR = "05.0"  # the host's 00:05.0; the guest sees it at 00:01.0
BLK_ADDR = "06.0"  # a virtio disk (MSI-X, DMA through the IOMMU); the guest's 00:02.0
NVME_ADDR = "07.0"  # an NVMe drive (MSI-X, FLR); the guest's 00:03.0
# NICs on QEMU's user network (restrict=on: nothing leaves this machine), each with
# its own subnet and a host port forwarded to the guest's port 7000+n; the guest's
# 00:04.0 and 00:05.0.
NICS = [("08.0", "virtio-net-pci,iommu_platform=on,disable-legacy=on"), ("09.0", "e1000e")]
CONFIG = keel_cfg(
    partition("driver", 1, "mode=edu then=keep every=20000", memory="32M",
              pci=f"0000:00:{EDU_ADDR}"),
    partition("other", 2, "mode=hello then=keep every=20000", memory="32M"))
# The edu's own DMA mask (28 bits by default) would fold 4 GiB onto guest address 0:
# WIDE lets the DMA aimed beyond the partition leave as it was issued.
DEVICE = f"{WIDE},addr={EDU_ADDR}"
# One line each, "edu: check NAME: ... ok" (or WRONG), in the order the guest prints them.
CHECKS = ["bar0", "command", "map", "ident", "liveness", "factorial-5", "factorial-10",
          "busmaster", "dma-to-device", "dma-to-ram", "dma-compare", "dma-beyond-ram",
          "msi-cap", "msi", "msi-off", "intx-pin", "intx-ioapic", "intx", "intx-again",
          "intx-disabled", "intx-enabled"]
KEEP_OK = r"keep: \d+ rounds of \d+ registers, 0 values lost"


@pytest.fixture(scope="module", params=IOMMUS)
def machine(request, rig):
    """(the QEMU run, what Keel calls its IOMMU) with the edu at 00:05.0."""
    devices, kind, _ = MACHINES[request.param]
    extra = devices[:2] + ["-device", DEVICE]
    with rig.boot("x86_64", CONFIG, f"passthrough-{request.param}", smp=3, extra=extra) as q:
        yield q, kind


def driver_done(q):
    """The driver's verdict, or Keel's word that it stopped before one."""
    q.wait_for(out("driver", r"TEST edu (PASS|FAIL)") + "|" +
               keel(r"partition 'driver' stopped"), 120)


def test_edu_found_at_its_virtual_address(machine):
    q, _ = machine
    driver_done(q)
    found = q.find(out("driver", r"edu: found at 00:01\.0 bar0 0x[0-9a-f]+$"))
    assert found, (q.find_all(out("driver", r"edu: .*")) or
                   q.find_all(keel(r".*(pci|partition 'driver').*")))


@pytest.mark.parametrize("check", CHECKS)
def test_edu_check(machine, check):
    q, _ = machine
    driver_done(q)
    line = q.find(out("driver", rf"edu: check {check}: "))
    assert line and line.endswith(" ok"), line or q.find_all(out("driver", r"edu: .*"))


def test_edu_intx_learned_and_unassigned_lines_quiet(machine):
    """Keel found the host line the edu's INTx reaches by its Status bit, once, and
    wired it to the guest's GSI 24; no line fired for nobody (every function Keel
    does not give has INTx Disable set)."""
    q, _ = machine
    driver_done(q)
    learned = q.find_all(keel(rf"partition 'driver': pci 0000:00:{EDU_ADDR}: its INTx "
                              r"arrives on host line (1[6-9]|2[0-3]), its guest's GSI 24$"))
    assert len(learned) == 1, q.find_all(keel(r".*INTx.*"))
    assert not q.find(keel(r"error: x86: GSI \d+ keeps interrupting"))


def test_edu_passes_and_dma_round_trips(machine):
    q, _ = machine
    verdict = q.wait_for(out("driver", r"TEST edu (PASS|FAIL)"), 120)
    assert verdict.endswith("PASS"), q.find_all(out("driver", r"WRONG|check failed|edu: no"))
    assert q.find(out("driver", r"edu: dma round trip ok$"))


def test_dma_beyond_ram_blocked_and_driver_goes_on(machine):
    q, kind = machine
    issued = q.wait_for(out("driver", r"edu: dma beyond RAM issued"), 120)
    if kind == "VT-d":
        q.wait_for(keel(r"error: iommu 0 \(VT-d\): DMA write at 0x100000000 by "
                        rf"0000:00:{EDU_ADDR} blocked: [^;]+; partition 'driver' owns the "
                        r"device\b"), 30, after=issued.index)
    q.wait_for(out("driver", KEEP_OK), 60, after=issued.index)


def test_other_partition_runs_on(machine):
    q, _ = machine
    issued = q.wait_for(out("driver", r"edu: dma beyond RAM issued"), 120)
    q.wait_for(out("other", r"TEST hello PASS"), 30)
    q.wait_for(out("other", KEEP_OK), 60, after=issued.index)
    bad = q.find_all(keel(r"partition '\w+' stopped") + "|" +
                     keel(r"error: (?!iommu 0 \(VT-d\): DMA write at 0x100000000 )") + "|PANIC")
    assert not bad, f"unexpected: {bad}"


# ---- Behind bridges: an alias (PCIe-to-PCI bridge) and a root port of its own ----------------

# The firmware numbers the buses: root port 00:0a.0 -> bus 1, the PCIe-to-PCI bridge
# 01:00.0 -> bus 2 with the edu at 02:01.0, whose DMA the IOMMU sees as 02:00.0 (the
# bridge's alias); root port 00:0b.0 -> bus 3 with a second edu at 03:00.0. VT-d only:
# QEMU 7.2's amd-iommu takes a device's bus number when the device is created, before
# the firmware numbers the buses, so behind a bridge it translates for the wrong ID.
BRIDGED = ["-device", "intel-iommu,intremap=on",
           "-device", "pcie-root-port,id=rp1,chassis=1,slot=1,addr=0a.0",
           "-device", "pcie-pci-bridge,id=br1,bus=rp1",
           "-device", f"{WIDE},bus=br1,addr=1.0",
           "-device", "pcie-root-port,id=rp2,chassis=2,slot=2,addr=0b.0",
           "-device", "edu,bus=rp2,addr=0.0"]
BRIDGED_CONFIG = keel_cfg(
    partition("driver", 1, "mode=edu then=keep every=20000", memory="32M", pci="0000:02:01.0"),
    partition("other", 2, "mode=hello then=keep every=20000", memory="32M"))


@pytest.fixture(scope="module")
def bridged(rig):
    with rig.boot("x86_64", BRIDGED_CONFIG, "passthrough-bridged", smp=3, extra=BRIDGED) as q:
        yield q


def enumerated(q, bdf):
    """Keel's boot line for the function at @bdf, as a dict of what it says."""
    line = q.wait_for(keel(rf"pci 0000:{bdf} [0-9a-f]{{4}}:[0-9a-f]{{4}} class \S+ group \d+"), 60)
    m = re.search(r"group (\d+)(?: alias (\S+))?", line)
    return {"group": int(m.group(1)), "alias": m.group(2), "line": line}


def test_bridged_functions_grouped_by_what_can_be_isolated(bridged):
    """The edu behind the PCIe-to-PCI bridge DMAs as the bridge's alias and shares a
    group with the bridges above it; the one behind its own root port is alone."""
    behind = enumerated(bridged, "02:01.0")
    assert behind["alias"] == "02:00.0", behind["line"]
    assert enumerated(bridged, "01:00.0")["group"] == behind["group"]
    alone = enumerated(bridged, "03:00.0")
    assert alone["alias"] is None and alone["group"] != behind["group"], alone["line"]


def test_bridged_edu_works_through_its_alias(bridged):
    """DMA both ways and MSI work with the requester ID the IOMMU sees; the function
    is reset through its bridge's secondary bus before the guest starts."""
    bridged.wait_for(keel(r"partition 'driver': pci 0000:02:01\.0 reset before its guest "
                          r"starts \(bus reset, \d+ ms\)"), 60)
    verdict = bridged.wait_for(out("driver", r"TEST edu (PASS|FAIL)"), 120)
    assert verdict.endswith("PASS"), bridged.find_all(out("driver", r"WRONG|check failed"))
    assert bridged.find(out("driver", r"edu: check msi: 1 interrupt\(s\) .* ok$"))


def test_bridged_fault_names_the_function_and_owner(bridged):
    """A blocked DMA by the alias is reported as the aliased function's, with its
    owner (so the per-function fault cap applies to it), and the others run on."""
    issued = bridged.wait_for(out("driver", r"edu: dma beyond RAM issued"), 120)
    bridged.wait_for(keel(r"error: iommu 0 \(VT-d\): DMA write at 0x100000000 by "
                          r"0000:02:00\.0 \(the alias of 0000:02:01\.0\) blocked: [^;]+; "
                          r"partition 'driver' owns the device\b"), 30, after=issued.index)
    bridged.wait_for(out("driver", KEEP_OK), 60, after=issued.index)
    bridged.wait_for(out("other", KEEP_OK), 60, after=issued.index)


# ---- The hand-off (mode=pcihandoff): the edu from one child partition to the next ----------
# (handoff.py: the scenario and its checks, shared with aarch64's test_smmuv3.py)


@pytest.fixture(scope="module", params=IOMMUS)
def handoff_run(request, rig):
    devices, kind, _ = MACHINES[request.param]
    stub, sock = gdb_stub(rig, f"handoff-{request.param}")
    with rig.boot("x86_64", handoff.config(EDU_ADDR), f"passthrough-handoff-{request.param}",
                  smp=4, extra=devices[:2] + ["-device", DEVICE] + stub, timeout=300) as q:
        yield handoff.Run(q, f"iommu 0 ({kind})", EDU_ADDR, handoff.go(q, sock, ECAM))


# ---- A Linux microVM sees its function (keel.pci=1 in the test initramfs) ----------------

def disk_pattern(seed):
    """A passed-through disk's first MiB: no two 64 KiB blocks alike, nor two disks."""
    return bytes((i * 7 + (i >> 16) * 13 + seed) % 251 for i in range(1 << 20))


@pytest.fixture(scope="module", params=["vtd", "amdvi", "intx"])
def linux_edu(rig, request):
    """"intx": VT-d, and Linux takes no MSI or MSI-X (pci=nomsi), so every
    function's interrupts are INTx through Keel."""
    a = linuxrig.assets("x86_64", rig.build)
    intx = request.param == "intx"
    iommu = "vtd" if intx else request.param
    devices, _, _ = MACHINES[iommu]
    blk, ports = pci_linux_devices(rig)
    cmd = linuxrig.cmdline("x86_64", after="poweroff", wait=0,
                           extra="keel.pci=1" + (" pci=nomsi" if intx else ""))
    # On VT-d it is the management partition, as the README's real host is: the
    # owner of the machine's NIC and disks.
    mgmt = {"management": "yes"} if request.param == "vtd" else {}
    config = keel_cfg(linuxrig.linux_partition("lin", 1, cmd, pci=PCI_LINUX_FUNCS, **mgmt))
    q = linuxrig.boot_keel(rig, "x86_64", config, f"passthrough-linux-{request.param}", a,
                           smp=2, extra=devices[:2] + ["-device", DEVICE] + blk, timeout=400)
    q.management = bool(mgmt)
    q.intx = intx
    with q:
        pci_linux_run(q, ports)
        yield q


# The Linux microVM's functions: the edu, a virtio disk, an NVMe drive, the NICs.
PCI_LINUX_FUNCS = ", ".join(f"0000:00:{a}" for a in [EDU_ADDR, BLK_ADDR, NVME_ADDR] +
                            [addr for addr, _ in NICS])


def pci_linux_devices(rig):
    """QEMU arguments for the disks and NICs the Linux microVM is given (each disk's
    first MiB is disk_pattern(its seed)), and the host ports forwarded to the NICs."""
    disks = rig.tmp_factory.mktemp("pt-disk")
    (disks / "virtio.img").write_bytes(disk_pattern(0) + bytes(1 << 20))
    (disks / "nvme.img").write_bytes(disk_pattern(1) + bytes(1 << 20))
    blk = ["-drive", f"if=none,id=pt0,format=raw,file={disks / 'virtio.img'}",
           "-device", f"virtio-blk-pci,drive=pt0,addr={BLK_ADDR},iommu_platform=on,"
                      "disable-legacy=on",
           "-drive", f"if=none,id=pt1,format=raw,file={disks / 'nvme.img'}",
           "-device", f"nvme,drive=pt1,serial=keel0,addr={NVME_ADDR}"]
    ports = free_ports(len(NICS))
    for n, ((addr, model), port) in enumerate(zip(NICS, ports)):
        blk += ["-netdev", f"user,id=nic{n},restrict=on,net=10.0.{2 + n}.0/24,"
                           f"hostfwd=tcp:127.0.0.1:{port}-10.0.{2 + n}.15:{7000 + n}",
                "-device", f"{model},netdev=nic{n},addr={addr}"]
    return blk, ports


def pci_linux_run(q, ports):
    """While the microVM's /init drives its functions: each NIC's exchange once its
    listener is up (q.exchanges), then the end of its PCI step."""
    q.exchanges = {}
    for n, port in enumerate(ports):
        ready = q.wait_for(lin(q, rf"pci-net=\S+ .* port={7000 + n}$") + "|" +
                           keel(r"partition 'lin' stopped"), 300)
        q.exchanges[n] = exchange(port) if "pci-net=" in ready else None
    q.wait_for(lin(q, r"pci=done") + "|" + keel(r"partition 'lin' stopped"), 300)


def lin(q, text):
    """Regex for a line 'lin' printed: prefixed with its name, but as the management
    partition, whose console is the machine's, bare."""
    return rf"^{text}" if q.management else out("lin", text)


def free_ports(count):
    """Host TCP ports free now, for QEMU's hostfwd."""
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def exchange(port, size=1 << 20, timeout=120):
    """One exchange with the guest's listener through the forwarded @port: send @size
    bytes, read its "got=SHA256" line and the @size bytes it sends back. QEMU takes
    the connection before the guest's listener may be up (then resets it): tried
    again until @timeout. (sent, what the guest said it got, received), or an error."""
    data = os.urandom(size)
    end = time.monotonic() + timeout
    while True:
        try:
            return data, *exchange_once(port, data, timeout)
        except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError) as e:
            if time.monotonic() > end:
                return f"port {port}: {e}"
            time.sleep(1)
        except OSError as e:
            return f"port {port}: {e}"


def exchange_once(port, data, timeout):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.settimeout(timeout)
        c.sendall(data)
        line, back = linuxrig.recv_line(c)
        while len(back) < len(data):
            chunk = c.recv(65536)
            if not chunk:
                break
            back += chunk
    return line.decode(errors="replace"), back


@pytest.mark.linux
def test_linux_finds_its_function_through_acpi(linux_edu):
    """Linux enumerated the host bridge and the edu at 00:01.0, whose BAR0 is where
    Keel placed it, and took the bus's window and ECAM from the ACPI tables."""
    q = linux_edu
    lines = q.find_all(lin(q, r"(pci|iomem)=.*"))
    assert q.find(lin(q, r"pci=0000:00:00\.0 id=0x1b36:0x0008 class=0x060000 ")), lines
    assert q.find(lin(q, r"pci=0000:00:01\.0 id=0x1234:0x11e8 class=0x00ff00 "
                             r"bar0=0x00000000e0000000$")), lines
    assert q.find(lin(q, r"iomem=e0000000-fe9fffff : PCI Bus 0000:00$")), lines
    assert q.find(lin(q, r"iomem=fea00000-feafffff : PCI MMCONFIG 0000 \[bus 00-00\]$")), lines
    assert q.find(lin(q, r"pci=0000:00:02\.0 id=0x1af4:0x1042 class=0x010000 "
                             r"bar0=0x[0-9a-f]+$")), lines
    assert q.find(lin(q, r"pci=0000:00:03\.0 id=0x1b36:0x0010 class=0x010802 "
                             r"bar0=0x[0-9a-f]+$")), lines
    assert q.find(lin(q, r"pci=0000:00:04\.0 id=0x1af4:0x1041 class=0x020000 ")), lines
    assert q.find(lin(q, r"pci=0000:00:05\.0 id=0x8086:0x10d3 class=0x020000 ")), lines
    assert not q.find(lin(q, r"pci=0000:00:0[6-9a-f]")), lines  # nothing else


@pytest.mark.linux
def test_linux_reads_the_device_through_its_bar(linux_edu):
    q = linux_edu
    edu = q.find(lin(q, r"edu=.*"))
    assert edu and edu.endswith("edu=0000:00:01.0 ident=0x010000ED live=0xEDCBA987"), edu


def disk_irqs(q, addr):
    """{interrupt name: count} of function @addr's MSI-X vectors as the guest listed them,
    or with pci=nomsi ("intx") of its INTx line."""
    mode = "intx" if q.intx else "msix"
    lines = q.find_all(lin(q, rf"pci-irq={addr} .*"))
    return {l.split(" name=")[1]: int(l.split(" count=")[1].split()[0])
            for l in lines if f" mode={mode} " in l}


def irq_name(q, msix_name, driver):
    """The name /proc/interrupts gives the interrupt: an MSI-X vector's, or with
    pci=nomsi the INTx line's, which carries the driver's name for the device."""
    return driver if q.intx else msix_name


@pytest.mark.linux
@pytest.mark.parametrize("addr,dev,seed,vector,driver", [
    ("0000:00:02.0", "vd[a-z]", 0, r"virtio\d+-req\.0", r"virtio\d+"),  # virtio_pci
    ("0000:00:03.0", r"nvme0n1", 1, r"nvme0q1", r"nvme0q\d+"),  # nvme: its first I/O queue
])
def test_linux_disk_over_msix(linux_edu, addr, dev, seed, vector, driver):
    """Linux's drivers drove each passed-through disk with MSI-X: what they read is
    the disk's first MiB (DMA through the IOMMU), that MiB written to the second
    reads back the same, and their I/O interrupts arrived (remapped by the IOMMU,
    delivered by Keel). Keel refused none of their entries."""
    q = linux_edu
    lines = q.find_all(lin(q, r"pci-(disk|disk-rw|irq)=.*"))
    want = hashlib.sha256(disk_pattern(seed)).hexdigest()
    assert q.find(lin(q, rf"pci-disk={addr} dev={dev} sha256={want}$")), lines
    assert q.find(lin(q, rf"pci-disk-rw={addr} ok$")), lines  # written, read back
    irqs = disk_irqs(q, addr)
    name = irq_name(q, vector, driver)
    assert any(re.fullmatch(name, n) and c > 0 for n, c in irqs.items()), (irqs, lines)
    assert not q.find(keel(r"warning: partition 'lin': pci .* MSI-X")), lines


@pytest.mark.linux
def test_linux_writes_through_its_disk(linux_edu):
    """/init's disk step wrote the virtio disk's last sector and read it back."""
    q = linux_edu
    rw = q.wait_for(lin(q, r"disk-rw=.*"), 120)
    assert rw.endswith("disk-rw=ok sector=4095"), q.find_all(lin(q, r"disk.*"))



@pytest.mark.linux
@pytest.mark.parametrize("n,addr,vector,driver", [
    (0, "0000:00:04.0", r"virtio\d+-(input|output)\.0", r"virtio\d+"),  # virtio_net
    (1, "0000:00:05.0", r"eth\d+-(rx|tx)-0", r"eth\d+"),  # e1000e
])
def test_linux_nic_moves_data_both_ways(linux_edu, n, addr, vector, driver):
    """A TCP connection from this machine (QEMU's user network, hostfwd) to a
    listener in the microVM through each passed-through NIC: 1 MiB each way,
    both checked by sha256, and the NIC's interrupts arrived through MSI-X."""
    q = linux_edu
    result = q.exchanges.get(n)
    assert q.find(lin(q, rf"pci-net={addr} if=eth\d+ ip=10\.0\.{2 + n}\.15 "
                             rf"port={7000 + n}$")), q.find_all(lin(q, r"pci-net.*"))
    assert isinstance(result, tuple), result
    sent, line, back = result
    assert line == f"got={hashlib.sha256(sent).hexdigest()}", line
    said = q.wait_for(lin(q, rf"pci-net-exchange port={7000 + n} .*"), 60)
    assert said.endswith(f"sent={hashlib.sha256(back).hexdigest()}"), (said, len(back))
    irqs = disk_irqs(q, addr)
    want = irq_name(q, vector, driver)
    assert any(re.fullmatch(want, name) and c > 0 for name, c in irqs.items()), irqs


# ---- The management partition bridges Keel's network to the NIC it owns ----------------

UPLINK_NIC = "06.0"


@pytest.fixture(scope="module")
def uplink(rig):
    """VT-d; the management partition owns a virtio-net-pci NIC on QEMU's user
    network (10.0.2.0/24, gateway 10.0.2.2) and a port on 'lan', and bridges them
    (keel-uplink bridge, run by uplink.sh); microVM 'inside' is on 'lan' alone."""
    a = linuxrig.assets("x86_64", rig.build)
    assert a.mgmt_initrd.is_file(), "no mgmt-initrd.gz: keelctl was not built"
    nic = ["-netdev", "user,id=up0,restrict=on,net=10.0.2.0/24",
           "-device", f"virtio-net-pci,iommu_platform=on,disable-legacy=on,netdev=up0,"
                      f"addr={UPLINK_NIC}"]
    mgmt = partition("mgmt", 1, "console=hvc0 loglevel=4 panic=-1 keel.script=uplink.sh",
                     memory="384M", kernel=f"\\{linuxrig.ESP_DIR}\\{linuxrig.KERNEL_NAME_ANY}",
                     initrd=f"\\{linuxrig.ESP_DIR}\\mgmt-initrd.gz", management="yes",
                     net="lan", pci=f"0000:00:{UPLINK_NIC}")
    inside = linuxrig.linux_partition("inside", 2, linuxrig.cmdline(
        "x86_64", wait=0, after="hold", extra="keel.net=10.0.2.20/24 keel.netpeer=10.0.2.2"),
        net="lan")
    config = keel_cfg("[network lan]\n", mgmt, inside, on_idle="stay")
    q = linuxrig.boot_keel(rig, "x86_64", config, "passthrough-uplink", a, mgmt=True, smp=3,
                           extra=["-device", "intel-iommu,intremap=on"] + nic, timeout=600)
    with q:
        yield q


def test_uplink_bridges_a_network_to_the_outside(uplink):
    """keel-uplink puts the manager's port on 'lan' and its own NIC in one bridge; the
    microVM on 'lan' then pings the outside LAN's gateway: its frames leave through
    the manager's uplink port, and the gateway's come back from an address Keel
    learned behind that port."""
    q = uplink
    up = q.wait_for(r"UPLINK (up|FAIL).*", 300)
    assert "UPLINK up" in up, up
    assert len(up.split("members=", 1)[1].split()) == 2, up
    assert q.find(keel(r"partition 'mgmt': 02:[0-9a-f:]{14} on network 'lan' \(uplink\)"))
    ping = q.wait_for(linuxrig.said("inside", r"net-ping peer=10\.0\.2\.2 .*"), 300)
    assert re.search(r"5 packets transmitted, 5 (packets )?received", ping), ping


def test_uplink_nat_masquerades_a_network(uplink):
    """Then NAT instead of the bridge: the manager's NIC takes its address by DHCP
    (udhcpc, with the script its initramfs ships), keel-uplink nat gives its port on
    'lan' 10.9.0.1/24 and masquerades what leaves its NIC (nftables, shipped in its
    initramfs); microVM 'natted' (10.9.0.2, default route via 10.9.0.1) pings the
    outside gateway 10.0.2.2, and the masquerade rule counted its packets."""
    q = uplink
    done = q.wait_for(r"^NAT (done|FAIL).*", 600)
    assert "done" in done, done
    # The NIC's address came from QEMU's DHCP server, put on by udhcpc's script (a
    # restricted user network offers no router).
    dhcp = q.find(r"^DHCP .*")
    assert re.fullmatch(r"DHCP udhcpc: eth\d is 10\.0\.2\.15/24", dhcp or ""), dhcp
    assert q.find(r"keel-uplink: \S+ \(10\.9\.0\.1/24\) is NATed out of \S+")
    ping = q.find(linuxrig.said("natted", r"net-ping peer=10\.0\.2\.2 .*"))
    assert ping and re.search(r"5 packets transmitted, 5 (packets )?received", ping), ping
    rule = q.find(r"^NAT-RULE .*")
    m = re.search(r"counter packets (\d+) bytes \d+ masquerade", rule or "")
    assert m and int(m.group(1)) >= 1, rule
