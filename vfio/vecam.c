/* SPDX-License-Identifier: MIT */
/*
 * A partition's PCI configuration space as its guest reaches it through ECAM
 * (keel/vfio.h): KEEL_PCI_ECAM_BASE, bus 0 only, all 4 KiB of each function.
 * 00:00.0 is a host bridge (1b36:0008, the generic PCIe host bridge ID of
 * QEMU's Red Hat range; Linux needs only its class, 06/00/00) whose registers
 * are read-only; the partition's functions follow (vfio/vbus.c); every other
 * function reads all ones, and writes to it are dropped. x86_64 also shows
 * the same bus through ports 0xcf8-0xcff (arch/x86_64/vpci.c).
 */
#include <keel/arch.h>
#include <keel/partition.h>
#include <keel/vdev.h>
#include <keel/vfio.h>

#define HOSTB_VENDOR 0x1b36u
#define HOSTB_DEVICE 0x0008u
#define HOSTB_CLASS 0x06000000u /* class 06 (bridge), subclass 00 (host), prog-if 00; revision 0 */

/* ECAM offset -> function (bus 0: device 19:15, function 14:12) and register (11:0). */
#define ECAM_BDF(off) ((u16)((off) >> 12))
#define ECAM_REG(off) ((u16)((off)&0xfff))

u64 vfio_cfg_ones(u32 size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

u32 vfio_hostb_dword(u32 reg)
{
	switch (reg) {
	case 0x00:
		return HOSTB_DEVICE << 16 | HOSTB_VENDOR;
	case 0x08:
		return HOSTB_CLASS;
	default:
		return 0; /* command, status, header type 0, no BARs, no capabilities */
	}
}

/* What ECAM takes: 1, 2 or 4 bytes, naturally aligned (others read all ones, are dropped). */
static bool vecam_ok(u64 off, u32 size)
{
	return (size == 1 || size == 2 || size == 4) && !(off & (size - 1)) &&
	       off < KEEL_PCI_ECAM_SIZE;
}

int vfio_ecam_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val)
{
	u16 reg = ECAM_REG(off);
	u32 v;

	(void)dev;
	*val = vfio_cfg_ones(size);
	if (!vecam_ok(off, size))
		return 0;
	if (ECAM_BDF(off) == 0)
		*val = (vfio_hostb_dword(reg & ~3u) >> (8 * (reg & 3))) & vfio_cfg_ones(size);
	else if (vfio_cfg_read(vcpu->part, ECAM_BDF(off), reg, size, &v))
		*val = v;
	return 0;
}

int vfio_ecam_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	(void)dev;
	if (vecam_ok(off, size) && ECAM_BDF(off) != 0)
		vfio_cfg_write(vcpu->part, ECAM_BDF(off), ECAM_REG(off), size, (u32)val);
	return 0;
}

const struct vdev_ops vfio_ecam_ops = {
	.read = vfio_ecam_read,
	.write = vfio_ecam_write,
};
