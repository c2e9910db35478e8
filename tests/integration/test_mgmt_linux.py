# SPDX-License-Identifier: MIT
"""The Linux management partition (issue 4), on both arches.

keel.cfg boots a Debian kernel as the management partition, with the
initramfs tools/linux-assets.py --keelctl builds (busybox, keel.ko, keelctl,
the microVM images in /images, the scripts of tests/integration/mgmt in
/scripts), and a bare-metal partition whose management calls must be refused.
The management partition's /init gives the serial console a root shell, and
the test types into it as an operator would: lifecycle.sh (keelctl creates two
Linux microVMs, on x86_64 the second from the kernel as an uncompressed vmlinux
that the manager reads off a read-only disk, talks to each through its console, lists them as JSON, stops
one, destroys both, then the error exit codes), the refused partition's stats,
the host's PCI functions (pci.sh: keelctl pci as a table and as JSON), the
100-cycle create/destroy loop, keelctl waiting on Keel's event interrupt
instead of polling (nopoll.sh), Keel's networks (net.sh: the manager on network
"lan" creates microVMs on "lan" and "other" with keelctl create --net, reaches the
first only, and reads the ports' counters), a microVM that must survive the
management partition's reboot, and poweroff. Beside them keel.cfg boots Debian's cloud
kernel ("cloud"; on arm64 it has no gpio-keys driver), which `keelctl stop`
must power off cleanly through its control port.
"""

import json
import re

import pytest

import linuxrig
from keelrig import ARCHES, keel, keel_cfg, partition
from linuxrig import said

pytestmark = pytest.mark.linux

BOOT_S = 300  # QEMU start -> the management shell, under TCG
PROMPT = "keel-mgmt:"


def config(arch, cloud_assets):
    # x86_64: the kernel uncompressed on a read-only disk, which lifecycle.sh copies
    # out and gives to keelctl create (vm2 boots it).
    disk = {"disk": f"\\{linuxrig.ESP_DIR}\\vmlinux.img,ro"} if arch == "x86_64" else {}
    mgmt = partition(
        "mgmt", 1, "console=hvc0 loglevel=4 panic=-1",
        memory="384M", kernel=f"\\{linuxrig.ESP_DIR}\\{linuxrig.KERNEL_NAME_ANY}",
        initrd=f"\\{linuxrig.ESP_DIR}\\mgmt-initrd.gz", management="yes", net="lan",
        vsock="auto", **disk)
    plain = partition("plain", 3, "mode=denied then=shutdown", memory="16M")
    # Waits at its console prompt (up to 900 s) until keelctl stops it.
    cloud = linuxrig.linux_partition("cloud", 4, linuxrig.cmdline(arch, wait=900),
                                     esp_dir=cloud_assets.esp_dir)
    return keel_cfg("[network lan]\n", "[network other]\n", mgmt, plain, cloud,
                    on_idle="poweroff")


@pytest.fixture(scope="module")
def mgmt(rig, arch):
    a = linuxrig.assets(arch, rig.build)
    cloud = linuxrig.assets(arch, rig.build, "cloud")
    assert a.mgmt_initrd.is_file(), "no mgmt-initrd.gz: keelctl was not built"
    q = linuxrig.boot_keel(rig, arch, config(arch, cloud), "mgmt-linux", a, mgmt=True, timeout=1500,
                           smp=5, more=[(cloud, [])], vmlinux=arch == "x86_64")
    with q:
        yield q


def shell(q, command, done, timeout=240.0):
    """Type @command into the management shell; the line matching @done."""
    q.send(command + "\n")
    return q.wait_for(done, timeout, after=len(q.lines) - 1 if q.lines else 0)


def json_after(line, tag):
    return json.loads(line.split(tag, 1)[1])


def test_mgmt_boots_with_keel_driver(mgmt):
    q = mgmt
    ready = q.wait_for(r"KEEL-MGMT (ready|error)", BOOT_S)
    assert "ready" in ready, ready
    assert re.search(r"keelctl \d+\.\d+", ready), ready  # keelctl --version ran
    assert not q.find(r"KEEL-MGMT error|insmod-fail")
    assert q.find(keel(r"console input goes to partition 'mgmt'"))


def test_stop_reaches_a_kernel_without_power_button_driver(mgmt, arch):
    """keelctl stop powers off Debian's cloud kernel cleanly: on arm64 it has no
    gpio-keys, so it hears the "poweroff" line on its control port."""
    q = mgmt
    q.wait_for(r"KEEL-MGMT (ready|error)", BOOT_S)
    q.wait_for(said("cloud", "console=ready hvc0"), BOOT_S)
    q.wait_for(said("cloud", r"control-port=vport\d+p0"), 60)
    rc, stop = linuxrig.typed_json(q, "CLOUD-STOP", "keelctl stop cloud --timeout 60 --json", 120)
    assert rc == 0 and stop["cause"] == "guest" and stop["clean"] is True, (rc, stop)
    heard = "control port" if arch == "aarch64" else "(control port|power button)"
    assert q.find(said("cloud", f"KEEL-INIT {heard}: powering off"))
    assert q.find(keel(r"partition 'cloud': .*poweroff sent on its control port"))
    assert q.find(keel(r"partition 'cloud' stopped: powered off by the guest"))


def test_stop_before_the_guest_listens(mgmt, arch):
    """keelctl stop right after start, while the kernel is still booting: the
    power button press may be lost, the control port's request waits for /init,
    and the stop is still a clean power-off."""
    q = mgmt
    q.wait_for(r"KEEL-MGMT (ready|error)", BOOT_S)
    line = linuxrig.CONSOLE[arch]
    cmd = (f"keelctl create early --cpus 1 --memory 256M --kernel /images/kernel "
           f"--initrd /images/initrd.gz --cmdline 'console={line} loglevel=4 panic=-1 "
           f"keel.wait=0 keel.after=hold' --start >/dev/null && "
           f"out=$(keelctl stop early --timeout 120 --json); echo EARLY-STOP rc=$? $out; "
           f"keelctl destroy early")
    stopped = shell(q, cmd, r"^EARLY-STOP rc=\d+ ", 240)
    rc, doc = stopped.split("EARLY-STOP ", 1)[1].split(" ", 1)
    stop = json.loads(doc)
    assert rc == "rc=0" and stop["cause"] == "guest" and stop["clean"] is True, stopped
    asked = q.find(keel(r"partition 'early': .*poweroff sent on its control port"))
    started = q.find(said("early", r"KEEL-INIT \S+ start"))
    assert asked and started and asked.index < started.index, "stopped after /init started"
    assert q.find(said("early", "KEEL-INIT control port: powering off"))


def test_lifecycle_script(mgmt, arch):
    q = mgmt
    q.wait_for(r"KEEL-MGMT (ready|error)", BOOT_S)
    verdict = shell(q, "/scripts/lifecycle.sh", r"^LIFECYCLE (PASS|FAIL)", 900)
    assert "PASS" in verdict, q.find_all(r"CHECK \S+ FAIL|EXIT ")
    # No microVM took 15 s to sync and power off (its /init says so, with its blocked tasks).
    assert not q.find(r"KEEL-INIT power-off stuck"), q.find(r"KEEL-INIT power-off stuck")
    # With both microVMs running, Keel's own map held none of their memory (keelctl info).
    audit = q.find(r"AUDIT hidden=\d+ exposed=\d+")
    assert audit and audit.endswith(" exposed=0"), audit
    for what in ("hidden", "exposed", "back"):
        assert q.find(rf"CHECK audit-{what} ok"), what
    # Both microVMs ran their /init under Keel, and one answered a line sent by keelctl.
    for vm in ("vm1", "vm2"):
        assert q.find(said(vm, f"KEEL-INIT {arch} start")), vm
    # x86_64: vm2's kernel was the uncompressed vmlinux, read off the manager's disk.
    if arch == "x86_64":
        assert q.find(r"^VM2-KERNEL /tmp/vmlinux$"), q.find(r"VM2-KERNEL|CHECK vmlinux")
        assert q.find(keel(r"partition 'vm2': Linux boot protocol 2\.15, uncompressed vmlinux "
                           r"at 0x1000000"))
    assert q.find(said("vm1", "echo: hello from keelctl"))
    # list --json showed both running on their own cores, beside the manager.
    listed = [json_after(line, "LIST-JSON ") for line in q.find_all(r"LIST-JSON \{")]
    running = [{p["name"]: p for p in doc["partitions"]} for doc in listed]
    both = next(r for r in running if {"vm1", "vm2"} <= set(r))
    assert both["vm1"]["state"] == "running" and both["vm2"]["state"] == "running", both
    assert not set(both["vm1"]["cpus"]) & set(both["vm2"]["cpus"]), both
    assert both["mgmt"]["management"] is True
    # Every resource came back.
    m = re.search(r"MEM-BACK before=(\d+) after=(\d+)", q.find(r"MEM-BACK "))
    assert m and m.group(1) == m.group(2), m and m.group(0)
    # Their memory was scrubbed when it came back (keelctl info counts it), and
    # keelctl pause returned with vm2's vCPU parked.
    assert q.find(r"CHECK scrubbed ok"), q.find(r"SCRUBBED ")
    assert q.find(r"PAUSED vm2 vcpus_parked=1"), q.find(r"CHECK pause-parked-vm2 ")
    # keelctl stop pressed vm2's power button (ACPI / GPIO key), wrote "poweroff" on its
    # control port, and its /init powered off on whichever came first.
    assert q.find(keel(r"partition 'vm2': power button pressed, poweroff sent on its control port"))
    assert q.find(said("vm2", "KEEL-INIT (power button|control port): powering off"))
    assert q.find(keel(r"partition 'vm2' stopped: powered off by the guest"))
    assert q.find(keel(r"partition 'run1' stopped: stopped by the management partition"))
    assert q.find(keel(r"partition 'vm1' stopped: powered off by the guest"))
    # keelctl stop told a clean power-off (exit 0) from a forced stop (exit 9).
    stop = json_after(q.find(r"STOP-JSON \{"), "STOP-JSON ")
    assert stop["cause"] == "guest" and stop["clean"] is True, stop
    assert q.find(r"EXIT stop-forced 9: stopped deaf \(forced: .*did not power off in time\)")


def test_bare_metal_manager_calls_refused(mgmt):
    q = mgmt
    q.wait_for(r"^LIFECYCLE (PASS|FAIL)", 900)
    assert q.find(r"plain\| .*TEST denied PASS")
    line = shell(q, "echo PLAIN-STATS $(keelctl stats plain --json | tr -d '\\n')",
                 r"^PLAIN-STATS \{", 60)
    stats = json_after(line, "PLAIN-STATS ")
    assert stats["denied"] == 4, stats


def test_pci_functions_listed(mgmt, arch):
    """keelctl pci shows the host's PCI functions Keel found at boot, as a table
    and as JSON with the same functions: the machine's host bridge (q35's 8086:29c0,
    virt's 1b36:0008) at 0000:00:00.0, owned by nobody, with no IOMMU translating it
    (this rig has none), so not assignable, and no function is. keelctl create --pci
    refuses a malformed address (exit 2) and a function that cannot be given (exit 1)
    before CREATE."""
    q = mgmt
    q.wait_for(r"KEEL-MGMT (ready|error)", BOOT_S)
    start = len(q.lines)
    shell(q, "/scripts/pci.sh", r"^PCI DONE", 120)
    out = q.lines[start:]
    text = [l.split("PCI-TEXT ", 1)[1] for l in out if l.startswith("PCI-TEXT ")]
    assert "PCI-RC 0" in out, out
    assert "PCI-HELP 0" in out, out
    rc, doc = next(l for l in out if l.startswith("PCI-JSON ")).split(" ", 2)[1:]
    assert rc == "rc=0", (rc, doc)
    devs = json.loads(doc)
    # keelctl create --pci: a malformed address is a usage error; a function that cannot
    # be given is refused before CREATE, naming it and why; no partition is left behind.
    created = {l.split(" ", 1)[0]: l.split(" ", 2)[1:] for l in out
               if l.startswith("PCI-CREATE-")}
    assert created["PCI-CREATE-BADADDR"] == [
        "rc=2", "keelctl: create pcivm: --pci '0000:00:20.0': device 20 is out of range (00-1f)"], \
        created
    why = "it is a host, ISA or other bridge: the platform's own"
    assert created["PCI-CREATE-HOSTBRIDGE"] == [
        "rc=1", f"keelctl: create pcivm: pci 0000:00:00.0: {why}"], created
    assert "PCI-CREATE-HELP 0" in out, out
    assert "PCI-CREATE-NONE 1" in out, out
    # keelctl pci assign/release (ABI 1.4) on a created partition: each refusal with its
    # exit code and words, from Keel's answer (nothing here can be given: no IOMMU).
    changed = {l.split(" ", 1)[0]: l.split(" ", 2)[1:] for l in out
               if l.startswith("PCI-CHANGE-") and not l.startswith("PCI-CHANGE-HELP")}
    assert changed == {
        "PCI-CHANGE-HOSTBRIDGE": ["rc=1", "keelctl: pci assign pcitgt 00:00.0: not on this host, "
                                          "or not a function Keel gives (see keelctl pci)"],
        "PCI-CHANGE-NOTHELD": ["rc=1", "keelctl: pci release pcitgt 0000:00:00.0: pcitgt does "
                                       "not hold it"],
        "PCI-CHANGE-NOPART": ["rc=3", "keelctl: nosuch: no such partition"],
        "PCI-CHANGE-BADADDR": ["rc=2", "keelctl: pci: '00:20.0' is not a PCI address "
                                       "(SSSS:BB:DD.F or BB:DD.F, in hex)"],
        "PCI-CHANGE-MANAGER": ["rc=5", "keelctl: pci assign mgmt: the management partition "
                                       "itself"],
        "PCI-CHANGE-USAGE": ["rc=2", "keelctl: usage: keelctl pci assign NAME ADDR"],
        "PCI-CHANGE-UNKNOWN": ["rc=2", "keelctl: pci: unknown subcommand 'frob' (assign, "
                                       "release)"],
    }, changed
    assert "PCI-CHANGE-HELP 0" in out, out
    # Keel's boot log counted the functions keelctl lists.
    found = re.search(r"pci: (\d+) functions? on segment 0000",
                      q.find(keel(r"pci: \d+ functions? on segment 0000")) or "")
    assert found, "Keel logged no PCI summary"
    assert text[0].split() == ["ADDRESS", "ID", "CLASS", "GROUP", "IOMMU", "OWNER", "FLAGS"], text
    rows = {cols[0]: cols for cols in (re.split(r"\s{2,}", r) for r in text[1:])}
    assert len(rows) == len(text) - 1 == len(devs) == int(found.group(1)), (text, devs)
    assert {d["address"] for d in devs} == set(rows), (text, devs)
    host_bridge = ARCHES[arch]["host_bridge"]
    vendor, device = host_bridge.split(":")
    assert rows["0000:00:00.0"] == ["0000:00:00.0", host_bridge, "060000", "0", "none", "-", "-"], \
        rows["0000:00:00.0"]
    host = next(d for d in devs if d["address"] == "0000:00:00.0")
    assert (host["vendor"], host["device"], host["class"]) == (vendor, device, "060000"), host
    assert host["owner"] is None and host["iommu"] is None and host["assignable"] is False, host
    # No IOMMU on this rig: nothing is assignable, nobody owns anything.
    assert all(c[4] == "none" and c[5] == "-" and "assignable" not in c[6]
               for c in rows.values()), text
    assert not any(d["assignable"] or d["owner"] is not None for d in devs), devs


def test_create_destroy_cycles_from_the_shell(mgmt):
    q = mgmt
    q.wait_for(r"^LIFECYCLE (PASS|FAIL)", 900)
    line = shell(q, "/scripts/cycles.sh 100", r"CYCLES (PASS|FAIL)", 900)
    counts = q.find(r"CYCLES \d+ before=")
    assert "PASS" in line, counts
    assert re.search(r"CYCLES 100 before=(\d+) after=\1$", counts), counts


def test_keelctl_waits_without_polling(mgmt):
    """keelctl sleeps on Keel's event interrupt (KEEL_HC_MGMT_WATCH), not a 50 ms
    poll: the driver bound the event device (keel-events in /proc/interrupts);
    five seconds of `console --wait` for text a quiet partition never prints
    cost the manager a handful of hypercalls (a poll would make about 200);
    and `keelctl stop` returned once the partition stopped, on an interrupt."""
    q = mgmt
    q.wait_for(r"^CYCLES (PASS|FAIL)", 900)
    shell(q, "/scripts/nopoll.sh", r"^NOPOLL DONE", 300)
    irq = q.find(r"^NOPOLL-IRQ ")
    assert irq and "keel-events" in irq, irq
    waited = re.search(r"^NOPOLL calls=(-?\d+) exit=(\d+)", q.find(r"^NOPOLL calls="))
    assert waited and waited.group(2) == "8", waited  # KC_EXIT_TIMEOUT: the text never came
    assert 0 <= int(waited.group(1)) <= 20, waited.group(0)
    stop = re.search(r"^NOPOLL-STOP exit=(\d+) irqs=(\d+)->(\d+)", q.find(r"^NOPOLL-STOP "))
    assert stop and stop.group(1) == "0", stop
    assert int(stop.group(3)) > int(stop.group(2)), stop.group(0)


def test_resize_memory_under_load(mgmt, arch):
    """keelctl resize grows a loaded Linux microVM from 256M to 1G and back, three
    times, through virtio-mem: its checksums hold, its kernel sees each size, and
    Keel's free memory returns exactly to where it started. A guest reboot with
    memory plugged gives it all back, and the rebuilt guest plugs the request again.
    The same loaded microVM also goes from 1 to 3 vCPUs and back three times
    (--max-cpus 3; aarch64: PSCI, x86_64: ACPI CPU hotplug): nproc follows and
    the cores come back."""
    q = mgmt
    q.wait_for(r"^LIFECYCLE (PASS|FAIL)", 900)
    verdict = shell(q, "/scripts/resize.sh", r"^RESIZE (PASS|FAIL)", 2400)
    assert "PASS" in verdict, q.find_all(r"CHECK \S+ FAIL|RESIZE-")
    frees = [int(l.split()[-1]) for l in q.find_all(r"^RESIZE-FREE ")]
    assert len(frees) == 5 and len(set(frees)) == 1, frees
    load = q.find(r"RESIZE-LOAD passes=")
    assert re.search(r"passes=([1-9]\d*) bad=0 kept=[1-9]", load), load
    stats = json_after(q.find(r"RESIZE-STATS \{"), "RESIZE-STATS ")
    assert stats["memory_hotplug"] == {"max": 768 << 20, "plugged": 768 << 20,
                                       "requested": 768 << 20}, stats
    assert q.find(keel(r"partition 'mem': memory to 1024 MiB asked of its guest"))
    # Its guest rebooted with 768M plugged: the rebuilt partition plugged it all again.
    again = json_after(q.find(r"RESIZE-REBOOT \{"), "RESIZE-REBOOT ")
    assert again["restarts"] == 1 and again["memory_hotplug"]["plugged"] == 768 << 20, again
    # Each round bound two free cores and gave them back (the script checks the
    # free set and the guest's nproc; this checks it ran, and Keel said so).
    assert len(q.find_all(r"^CHECK nproc-3-\d ok")) == 3, q.find_all(r"CHECK nproc")
    assert len(q.find_all(r"^CHECK cores-back-\d ok")) == 3
    assert len(q.find_all(keel(r"partition 'mem': vCPU 2 on cpu \d+"))) == 3
    assert q.find(keel(r"partition 'mem': 1 vCPU asked of its guest \(it has 3 on now\)"))


def test_networks_from_the_shell(mgmt, arch):
    """The management partition is on network 'lan' (keel.cfg) as an uplink port.
    net.sh lists the networks, creates microVM nvm1 on 'lan' and nvm3 on 'other'
    (keelctl create --net): the manager and nvm1 ping each other; nvm3 reaches
    neither and the manager cannot reach it. keelctl stats and net show each
    port's counters; an unknown network and a taken address are refused; the
    ports leave with their partitions."""
    q = mgmt
    q.wait_for(r"^LIFECYCLE (PASS|FAIL)", 900)
    verdict = shell(q, "/scripts/net.sh", r"^NET (PASS|FAIL)", 1200)
    assert "PASS" in verdict, q.find_all(r"CHECK \S+ FAIL")
    assert q.find(keel(r"partition 'mgmt': 02:[0-9a-f:]{14} on network 'lan' \(uplink\)"))

    def networks(tag):
        return {n["name"]: n for n in json_after(q.find(rf"{tag} \{{"), f"{tag} ")["networks"]}

    before = networks("NET-JSON-BEFORE")
    assert set(before) == {"lan", "other"}, before
    assert [p["owner_name"] for p in before["lan"]["ports"]] == ["mgmt"], before
    assert before["lan"]["ports"][0]["uplink"] is True and before["other"]["ports"] == []
    mgmt_mac = before["lan"]["ports"][0]["mac"]
    assert q.find(rf"MGMT-NIC if=\S+ mac={mgmt_mac}$"), "the guest's NIC has the port's address"

    got = re.compile(r"5 packets transmitted, 5 (packets )?received")
    none = re.compile(r"packets transmitted, 0 (packets )?received")
    assert got.search(q.find(r"MGMT-PING nvm1 ")), q.find(r"MGMT-PING nvm1 ")
    assert none.search(q.find(r"MGMT-PING nvm3 ")), q.find(r"MGMT-PING nvm3 ")
    assert got.search(q.find(said("nvm1", r"net-ping peer=10\.2\.0\.1 .*")))
    for peer in ("10.2.0.1", "10.2.0.2"):
        line = q.find(said("nvm3", rf"net-ping peer={re.escape(peer)} .*"))
        assert line and none.search(line), line

    stats = json_after(q.find(r"NET-STATS \{"), "NET-STATS ")
    [port] = stats["net"]
    assert port["network"] == "lan" and port["owner_name"] == "nvm1", port
    assert port["uplink"] is False
    assert port["tx_packets"] >= 6 and port["rx_packets"] >= 6, port  # pings both ways
    assert port["tx_bytes"] > 6 * 98 and port["drops"]["spoofed"] == 0, port
    during = networks("NET-JSON")
    assert sorted(p["owner_name"] for p in during["lan"]["ports"]) == ["mgmt", "nvm1"], during
    [iso] = during["other"]["ports"]
    assert iso["owner_name"] == "nvm3" and iso["mac"] == "02:00:00:00:00:03", iso
    assert iso["tx_packets"] > 0 and iso["rx_packets"] == 0, iso  # its ARP went nowhere
    assert q.find(r"^EXIT net-unknown 1: .*--net nowhere: no such network")
    assert q.find(r"^EXIT net-mac-taken 4: .*02:00:00:00:00:03 is taken by nvm3")
    after = networks("NET-JSON-AFTER")
    assert [p["owner_name"] for p in after["lan"]["ports"]] == ["mgmt"], after
    assert after["other"]["ports"] == [], after
    check_vsock(q)


def check_vsock(q):
    """The vsock half of net.sh: 16 MiB through nvm1's echo from the manager
    (keelctl vsock) and from nvm2, both intact; nvm3, on another network, is
    reset by Keel's policy; a port nobody listens on is reset by the guest."""
    assert q.find(keel(r"partition 'mgmt': vsock CID 2(?!\d)")), "keel.cfg vsock = auto: the host's"
    assert q.find(keel(r"partition 'nvm1': vsock CID 10(?!\d)"))
    line = q.find(r"^VSOCK-MGMT ")
    m = re.search(r"sent=(\w+) back=(\w+) secs=([\d.]+)", line or "")
    assert m and m.group(1) == m.group(2), line
    print(f"vsock: manager <-> nvm1, 16 MiB each way in {m.group(3)} s")
    assert q.find(r"^EXIT vsock-noport 1: .*nvm1 \(CID 10\) port 5999: Connection reset by peer")
    assert q.find(r"^EXIT vsock-nodev 1: .*vsock plain: it has no vsock device")
    for to in ("10:5000", "2:5999"):  # Keel's policy; the manager's kernel (no listener)
        line = q.find(said("nvm3", rf"vsock-connect to={to} .*"))
        assert line and "error=Connection reset by peer" in line, line
    assert q.find(r"^EXIT vsock-taken 4: .*create bad3: --vsock 10: the CID of nvm1"), \
        q.find(r"^EXIT vsock-taken")
    assert q.find(r"^VSOCK-CREATE nvm2: vsock CID 3$"), q.find(r"^VSOCK-CREATE")
    line = q.find(said("nvm2", r"vsock-sent .*"))
    m = re.search(r"to=10:5000 mib=16 sha256=(\w+) back=(\w+) secs=([\d.]+)", line or "")
    assert m and m.group(1) == m.group(2), line
    print(f"vsock: nvm2 <-> nvm1, 16 MiB each way in {m.group(3)} s")
    stats = json_after(q.find(r"VSOCK-STATS \{"), "VSOCK-STATS ")
    assert stats["vsock_cid"] == 10, stats
    closed = q.find(keel(r"partition 'nvm1': vsock CID 10 closed: .*"))
    m = re.search(r"sent \d+ packets \((\d+) bytes\), received \d+ \((\d+) bytes\), "
                  r"refused with RST (\d+), dropped spoofed=0", closed or "")
    assert m and int(m.group(1)) >= 32 << 20 and int(m.group(2)) >= 32 << 20, closed
    closed = q.find(keel(r"partition 'nvm3': vsock CID 12 closed: .*"))
    assert closed and not re.search(r"refused with RST 0,", closed), closed


def test_microvm_survives_manager_reboot(mgmt):
    q = mgmt
    q.wait_for(r"^LIFECYCLE (PASS|FAIL)", 900)
    started = shell(q, "/scripts/keep.sh start 60", r"KEEP (started|FAIL)", 300)
    assert "started" in started
    rebooted = shell(q, "reboot -f", keel(r"partition 'mgmt' stopped: reset by the guest"), 120)
    q.wait_for(keel(r"partition 'mgmt' started"), 60, after=rebooted.index)
    ready = q.wait_for(r"KEEL-MGMT (ready|error)", BOOT_S, after=rebooted.index)
    assert "ready" in ready, ready
    # keep went on printing while its manager was down and booting again.
    alive = [l for l in q.lines[rebooted.index:ready.index] if re.search(r"keep\| alive \d+", l)]
    assert alive, "microVM 'keep' printed nothing while the manager rebooted"
    verdict = shell(q, "/scripts/keep.sh check", r"KEEP (PASS|FAIL)", 400)
    assert "PASS" in verdict, q.find_all(r"KEEP state=")
    assert q.find(said("keep", "echo: after the reboot"))


def test_poweroff_ends_the_machine(mgmt):
    q = mgmt
    q.send("poweroff -f\n")
    q.wait_for(keel(r"partition 'mgmt' stopped: "), 120)
    assert q.wait_exit(60) == 0
    assert not q.find_all(r"keel: error|PANIC")
