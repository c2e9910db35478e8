# SPDX-License-Identifier: MIT
"""Write a UEFI boot option into a copy of the firmware's variable store.

QEMU's user-mode network hands out DHCP answers without the "HTTPClient"
vendor class, so the firmware will not take a boot URL from DHCP. An HTTP
boot with a URL the operator chose is a boot option instead, as the
firmware's own "HTTP Boot Configuration" page makes it: the NIC's device path,
an IPv4 node and a URI node. This module writes such an option (Boot0100,
made BootNext) into a copy of OVMF_VARS / AAVMF_VARS, the variable store
QEMU maps as the second flash device.

Formats (UEFI 2.9 section 3.1.3 and 10.3; edk2's variable store): the file is a
firmware volume whose header is followed by a variable store header and the
variables, each a header (StartId 0x55AA, State 0x3F when added), its UTF-16
name and its data, every header 4-byte aligned; free space is 0xFF.
"""

import struct
import uuid

GLOBAL_VARIABLE = uuid.UUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
AUTH_STORE = uuid.UUID("aaf32c78-947b-439a-a180-2e144ec37792")
PLAIN_STORE = uuid.UUID("ddcf3616-3275-4164-98b6-fe85707ffe7d")
NV_BS_RT = 0x7
VAR_ADDED = 0x3F
LOAD_OPTION_ACTIVE = 0x1


def _node(kind, sub, body=b""):
    return struct.pack("<BBH", kind, sub, 4 + len(body)) + body


def http_boot_path(pci_dev, mac, url):
    """PciRoot(0)/Pci(@pci_dev,0)/MAC(@mac,1)/IPv4(DHCP)/Uri(@url)/End."""
    mac_bytes = bytes.fromhex(mac.replace(":", "")).ljust(32, b"\0")
    return (_node(2, 1, struct.pack("<II", 0x0A0341D0, 0))  # PciRoot(0): PNP0A03
            + _node(1, 1, struct.pack("<BB", 0, pci_dev))  # Pci(dev, 0)
            + _node(3, 11, mac_bytes + b"\x01")  # MAC, IfType 1 (Ethernet)
            + _node(3, 12, bytes(27 - 4))  # IPv4: all zero, DHCP
            + _node(3, 24, url.encode("ascii"))  # URI
            + _node(0x7F, 0xFF))


def load_option(description, path):
    desc = (description + "\0").encode("utf-16-le")
    return struct.pack("<IH", LOAD_OPTION_ACTIVE, len(path)) + desc + path


SYSTEM_NV_DATA_FV = uuid.UUID("fff12b8d-7696-4c8b-a985-2747075b4f50")
FTW_WORKING_BLOCK = uuid.UUID("9e58292b-7c68-497d-a0ce-6500fd9f1b95")
# ArmVirtQemu's flash layout (edk2 2022.11, Debian's AAVMF): the variables,
# the fault-tolerant-write working block and its spare, 256 KiB each, at
# the start of the 64 MiB variable flash, which ships all zeros.
ARM_BLOCK = 0x40000


def _format_arm(fv):
    """Format the all-zero AAVMF variable flash as the firmware does on its first boot."""
    fv[:3 * ARM_BLOCK] = b"\xff" * (3 * ARM_BLOCK)
    hdr = bytearray(0x48)
    hdr[16:32] = SYSTEM_NV_DATA_FV.bytes_le
    struct.pack_into("<Q4sIHHHBB", hdr, 32, 3 * ARM_BLOCK, b"_FVH", 0xE36, 0x48, 0, 0, 0, 2)
    struct.pack_into("<IIII", hdr, 0x38, len(fv) // ARM_BLOCK, ARM_BLOCK, 0, 0)
    struct.pack_into("<H", hdr, 50, -sum(struct.unpack("<36H", hdr)) & 0xFFFF)
    fv[:0x48] = hdr
    fv[0x48:0x48 + 28] = AUTH_STORE.bytes_le + struct.pack("<IBBHI", ARM_BLOCK - 0x48, 0x5A,
                                                           0xFE, 0, 0)
    # The working block's header: valid, with an empty write queue (its CRC as edk2's).
    fv[ARM_BLOCK:ARM_BLOCK + 32] = (FTW_WORKING_BLOCK.bytes_le
                                    + struct.pack("<IIQ", 0x86C6E75B, 0xFFFFFFFE,
                                                  ARM_BLOCK - 32))


def _store(fv):
    """(offset of the first variable, end of the store, authenticated?)."""
    if fv[40:44] != b"_FVH":
        raise ValueError("not a firmware volume")
    header_len = struct.unpack_from("<H", fv, 48)[0]
    guid = uuid.UUID(bytes_le=bytes(fv[header_len:header_len + 16]))
    if guid not in (AUTH_STORE, PLAIN_STORE):
        raise ValueError(f"unknown variable store {guid}")
    size, fmt, state = struct.unpack_from("<IBB", fv, header_len + 16)
    if fmt != 0x5A or state != 0xFE:
        raise ValueError("the variable store is not formatted and healthy")
    return (header_len + 28 + 3) & ~3, header_len + size, guid == AUTH_STORE


def _variables_end(fv, at, end, auth):
    hdr = 60 if auth else 32
    while at + hdr <= end and struct.unpack_from("<H", fv, at)[0] == 0x55AA:
        name_size, data_size = struct.unpack_from("<II", fv, at + (36 if auth else 8))
        at = (at + hdr + name_size + data_size + 3) & ~3
    return at


def _variable(name, data, auth):
    name_bytes = (name + "\0").encode("utf-16-le")
    if auth:  # StartId, State, Reserved, Attributes, MonotonicCount, TimeStamp, PubKeyIndex
        head = struct.pack("<HBBIQ16sI", 0x55AA, VAR_ADDED, 0, NV_BS_RT, 0, bytes(16), 0)
    else:
        head = struct.pack("<HBBI", 0x55AA, VAR_ADDED, 0, NV_BS_RT)
    head += struct.pack("<II", len(name_bytes), len(data)) + GLOBAL_VARIABLE.bytes_le
    raw = head + name_bytes + data
    return raw + b"\xff" * (-len(raw) % 4)


def write_http_boot(template, out, pci_dev, mac, url, description="Keel over HTTP"):
    """Copy the variable store @template to @out with Boot0100 = an HTTP boot of
    @url on the NIC at PCI slot @pci_dev with address @mac, and BootNext = 0x0100."""
    fv = bytearray(open(template, "rb").read())
    if not any(fv[:4096]):
        _format_arm(fv)
    first, end, auth = _store(fv)
    at = _variables_end(fv, first, end, auth)
    for name, data in (("Boot0100", load_option(description, http_boot_path(pci_dev, mac, url))),
                       ("BootNext", struct.pack("<H", 0x0100))):
        raw = _variable(name, data, auth)
        if at + len(raw) > end or fv[at:at + len(raw)] != b"\xff" * len(raw):
            raise ValueError("no free space in the variable store")
        fv[at:at + len(raw)] = raw
        at += len(raw)
    open(out, "wb").write(bytes(fv))
