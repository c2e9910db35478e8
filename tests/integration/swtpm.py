# SPDX-License-Identifier: MIT
"""A software TPM 2.0 for a QEMU run: Debian's swtpm behind QEMU's `-tpmdev emulator`.

The TPM is manufactured fresh (swtpm_setup) with one PCR bank, SHA-256, as a
real machine's TPM with SHA-1 disabled would be: every bank costs the firmware
one more hash of each file the loader measures. QEMU talks to swtpm over its
control socket; swtpm ends when QEMU closes it. The device is the arch's
usual one: the CRB interface on x86_64 (q35), TIS on the arm virt machine.
"""

import contextlib
import hashlib
import shutil
import subprocess
import time

DEVICE = {"x86_64": "tpm-crb", "aarch64": "tpm-tis-device"}


def replay(digests):
    """A SHA-256 PCR after extending it from zero with each of @digests (hex) in turn."""
    pcr = bytes(32)
    for d in digests:
        pcr = hashlib.sha256(pcr + bytes.fromhex(d)).digest()
    return pcr.hex()


@contextlib.contextmanager
def software_tpm(directory, arch):
    """Start swtpm with its state in @directory; yield QEMU's arguments for it."""
    for tool in ("swtpm", "swtpm_setup"):
        assert shutil.which(tool), f"{tool} is missing: run make deps (Debian: swtpm swtpm-tools)"
    state, sock = directory / "tpm-state", directory / "tpm.sock"
    state.mkdir(parents=True, exist_ok=True)
    setup = subprocess.run(["swtpm_setup", "--tpm2", "--tpmstate", str(state), "--pcr-banks",
                            "sha256", "--overwrite"], capture_output=True, text=True, timeout=120)
    assert setup.returncode == 0, f"swtpm_setup failed: {setup.stdout}{setup.stderr}"
    proc = subprocess.Popen(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}",
                             "--ctrl", f"type=unixio,path={sock}", "--terminate"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            assert proc.poll() is None, "swtpm ended before it listened"
            time.sleep(0.05)
        assert sock.exists(), "swtpm did not create its socket"
        yield ["-chardev", f"socket,id=swtpm,path={sock}",
               "-tpmdev", "emulator,id=tpm0,chardev=swtpm",
               "-device", f"{DEVICE[arch]},tpmdev=tpm0"]
    finally:
        proc.kill()
        proc.wait()
