# SPDX-License-Identifier: MIT
"""tools/run.py (`make run`) without booting anything: --pci-nic gives the NIC to the
management partition of the config it boots, and refuses what cannot work (no
management partition, an address off bus 0, an IOMMU the arch does not have), with
--dry-run printing the QEMU command line it would run."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import run  # noqa: E402  (tools/run.py)

CONFIG = """[keel]
on_idle = stay

[partition mgmt]
cpus = 1
management = yes
kernel = \\\\linux\\\\Image

[partition other]
cpus = 2
kernel = /guests/testguest.elf
"""


def section(text, name):
    """The lines of [partition @name] in keel.cfg @text."""
    body = text.split(f"[partition {name}]\n", 1)[1]
    return body.split("\n[", 1)[0].splitlines()


def test_pci_nic_goes_to_the_management_partition():
    out = run.give_to_manager(CONFIG, "06.0")
    assert "pci = 0000:00:06.0" in section(out, "mgmt")
    assert not any(l.startswith("pci") for l in section(out, "other"))
    assert out.replace("pci = 0000:00:06.0\n", "") == CONFIG  # nothing else changed


def test_pci_nic_joins_a_list_the_manager_already_has():
    cfg = CONFIG.replace("management = yes\n", "management = yes\npci = 0000:00:05.0  ; edu\n")
    out = run.give_to_manager(cfg, "06.0")
    assert "pci = 0000:00:05.0, 0000:00:06.0  ; edu" in section(out, "mgmt")
    assert out.count("pci =") == 1


def test_pci_nic_needs_a_management_partition():
    with pytest.raises(SystemExit, match="no partition with management = yes"):
        run.give_to_manager(CONFIG.replace("management = yes\n", ""), "06.0")


def tool(*args):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "run.py"), *args],
                          capture_output=True, text=True, timeout=60)


def test_pci_nic_refuses_an_address_off_bus_0():
    r = tool("--arch", "aarch64", "--pci-nic", "0000:01:00.0", "--dry-run")
    assert r.returncode == 1 and "--pci-nic 0000:01:00.0: want DD.F on bus 0" in r.stderr, r


def test_iommu_must_be_the_arch_s():
    r = tool("--arch", "aarch64", "--iommu", "intel", "--dry-run")
    assert r.returncode == 1 and "--iommu intel: aarch64 offers smmuv3" in r.stderr, r
    r = tool("--arch", "x86_64", "--iommu", "smmuv3", "--dry-run")
    assert r.returncode == 1 and "--iommu smmuv3: x86_64 offers intel, amd" in r.stderr, r


@pytest.mark.aarch64_only
def test_pci_nic_on_aarch64_brings_the_smmu(rig):
    """The dry run's command line has the SMMUv3 and the NIC behind it, and the ESP's
    keel.cfg gives the NIC to the demo's management partition."""
    r = tool("--arch", "aarch64", "--build", str(rig.build), "--pci-nic", "06.0", "--dry-run")
    assert r.returncode == 0, r.stderr
    argv = r.stdout.split()
    assert "iommu=smmuv3" in argv
    assert "virtio-net-pci,iommu_platform=on,disable-legacy=on,netdev=pcinic,addr=06.0" in argv
    cfg = (Path(rig.build) / "aarch64" / "run-esp" / "keel.cfg").read_text()
    assert "pci = 0000:00:06.0" in section(cfg, "mgmt")
