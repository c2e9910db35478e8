# SPDX-License-Identifier: MIT
"""The machine's physical address space from outside, through QEMU's gdb stub
(-gdb chardev:...) in physical-memory mode: reads and writes reach RAM and MMIO
(a device's BAR, PCI ECAM) as a bus master outside every CPU would. QEMU stops
the machine while a client is connected and lets it run again on detach."""

import socket
import time


class PhysMem:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(path))
        self.buf = b""
        # QEMU stops the machine on connection and may say so unasked: drop that.
        time.sleep(0.5)
        self.sock.setblocking(False)
        try:
            while self.sock.recv(4096):
                pass
        except BlockingIOError:
            pass
        self.sock.settimeout(timeout)
        self.sock.sendall(b"+")
        reply = self.command("Qqemu.PhyMemMode:1")
        assert reply == "OK", f"gdb stub: physical memory mode refused: {reply!r}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.detach()

    def _packet(self):
        while True:
            start = self.buf.find(b"$")
            end = self.buf.find(b"#", start + 1)
            if start >= 0 and end >= 0 and len(self.buf) >= end + 3:
                data = self.buf[start + 1:end].decode()
                self.buf = self.buf[end + 3:]
                self.sock.sendall(b"+")
                return data
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("gdb stub closed the connection")
            self.buf += chunk

    def command(self, data):
        checksum = sum(data.encode()) % 256
        self.sock.sendall(f"${data}#{checksum:02x}".encode())
        return self._packet()

    def read(self, addr, size):
        reply = self.command(f"m{addr:x},{size:x}")
        assert not reply.startswith("E"), f"gdb stub: read of 0x{addr:x} failed: {reply}"
        return bytes.fromhex(reply)

    def write(self, addr, data):
        reply = self.command(f"M{addr:x},{len(data):x}:{data.hex()}")
        assert reply == "OK", f"gdb stub: write to 0x{addr:x} failed: {reply}"

    def read32(self, addr):
        return int.from_bytes(self.read(addr, 4), "little")

    def write16(self, addr, value):
        self.write(addr, value.to_bytes(2, "little"))

    def write64(self, addr, value):
        self.write(addr, value.to_bytes(8, "little"))

    def detach(self):
        """Let the machine run again; the connection ends."""
        if self.sock.fileno() < 0:
            return
        try:
            self.command("D")
        finally:
            self.sock.close()


# QEMU's edu test device (docs/specs/edu.txt): identification, DMA engine
# registers in BAR0, its 4 KiB DMA buffer at this device address.
EDU_ID = 0x11e81234
EDU_DMA_SRC, EDU_DMA_DST, EDU_DMA_COUNT, EDU_DMA_CMD = 0x80, 0x88, 0x90, 0x98
EDU_DMA_START, EDU_DMA_TO_RAM = 1, 2
EDU_BUFFER = 0x40000
PCI_COMMAND_MEMORY, PCI_COMMAND_MASTER = 0x2, 0x4


class Edu:
    """An edu on bus 0 of the ECAM at @ecam, found and driven from outside."""

    def __init__(self, mem, ecam):
        self.cfg = None
        for dev in range(32):
            if mem.read32(ecam + (dev << 15)) == EDU_ID:
                self.cfg = ecam + (dev << 15)
                self.dev = dev
                break
        assert self.cfg is not None, "no edu on bus 0"
        self.bar = mem.read32(self.cfg + 0x10) & ~0xF
        assert self.bar, "the firmware left the edu's BAR0 unassigned"

    def command(self, mem):
        return mem.read32(self.cfg + 4) & 0xFFFF

    def dma_to_ram(self, mem, dst, size):
        """Bus mastering on (behind Keel's back) and a DMA of its buffer to @dst."""
        mem.write16(self.cfg + 4, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)
        mem.write64(self.bar + EDU_DMA_SRC, EDU_BUFFER)
        mem.write64(self.bar + EDU_DMA_DST, dst)
        mem.write64(self.bar + EDU_DMA_COUNT, size)
        mem.write64(self.bar + EDU_DMA_CMD, EDU_DMA_START | EDU_DMA_TO_RAM)

    def dma_done(self, mem):
        return not mem.read32(self.bar + EDU_DMA_CMD) & EDU_DMA_START
