/* SPDX-License-Identifier: MIT */
/*
 * Ports 0xcf8-0xcff, as on PIIX/ICH: PCI configuration mechanism #1 and,
 * in the middle of it, the reset control register (a byte at 0xcf9, vpm.c).
 *
 * Behind mechanism #1 sits a PCI host bridge at 00:00.0 and nothing else:
 * the smallest PCI a PC has, so that Linux finds its configuration access
 * (it insists on a host bridge or VGA class before it trusts mechanism #1)
 * instead of logging "PCI: Fatal: No config space access function found".
 * Every other function reads all ones (no device), writes are dropped, and
 * the bridge's registers are read-only (vfio/vecam.c has its ID).
 *
 * The same bus answers through ECAM (PCIe's memory-mapped configuration) at
 * KEEL_PCI_ECAM_BASE (vfio/vecam.c). The guest's ACPI names it (MCFG) when
 * the partition has PCI functions (bzimage.c).
 */
#include <keel/arch.h>
#include <keel/lib.h>
#include <keel/vfio.h>

#include "vplat.h"

#define CONF1_ADDR_PORT 0xcf8u
#define CONF1_DATA_PORT 0xcfcu
#define CONF1_ENABLE BIT(31)
#define CONF1_BDF(a) (((a) >> 8) & 0xffffu) /* bus 15:8, device 7:3, function 2:0 */
#define CONF1_REG(a) ((a)&0xfcu)
static int vpci_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val)
{
	u32 port = CONF1_ADDR_PORT + (u32)off, addr = READ_ONCE(vplat_of(dev)->pci.addr);
	u32 shift;

	if (port == VPLAT_RESET_PORT && size == 1) {
		*val = 0;
		return 0;
	}
	if (port == CONF1_ADDR_PORT && size == 4) {
		*val = addr;
		return 0;
	}
	if (port >= CONF1_DATA_PORT && (addr & CONF1_ENABLE) && CONF1_BDF(addr) != 0) {
		u32 v;

		/* A function given to the partition (vfio/vbus.c), or nothing: all ones. */
		if (vfio_cfg_read(vcpu->part, (u16)CONF1_BDF(addr),
				  (u16)(CONF1_REG(addr) + port - CONF1_DATA_PORT), size, &v))
			*val = v;
		else
			*val = vfio_cfg_ones(size);
		return 0;
	}
	if (port < CONF1_DATA_PORT || !(addr & CONF1_ENABLE)) {
		*val = vfio_cfg_ones(size);
		return 0;
	}
	shift = 8 * (port - CONF1_DATA_PORT);
	*val = (vfio_hostb_dword(CONF1_REG(addr)) >> shift) & vfio_cfg_ones(size);
	return 0;
}

/* A data write: to a function given to the partition; the bridge itself is read-only. */
static void vpci_data_write(struct vcpu *vcpu, u32 addr, u32 port, u32 size, u32 val)
{
	if ((addr & CONF1_ENABLE) && CONF1_BDF(addr) != 0)
		vfio_cfg_write(vcpu->part, (u16)CONF1_BDF(addr),
			       (u16)(CONF1_REG(addr) + port - CONF1_DATA_PORT), size, val);
}

static int vpci_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	u32 port = CONF1_ADDR_PORT + (u32)off;

	if (port == VPLAT_RESET_PORT && size == 1)
		vpm_reset_control(vcpu, (u8)val);
	else if (port == CONF1_ADDR_PORT && size == 4)
		WRITE_ONCE(vplat_of(dev)->pci.addr, (u32)val & 0x80fffffcu);
	else if (port >= CONF1_DATA_PORT)
		vpci_data_write(vcpu, READ_ONCE(vplat_of(dev)->pci.addr), port, size, (u32)val);
	return 0;
}

static const struct vdev_ops vpci_ops = {
	.read = vpci_read,
	.write = vpci_write,
};

int vpci_create(struct x86_vplat *plat)
{
	int ret = vplat_add(plat, VPLAT_DEV_PCI, "pci-conf1", VDEV_PIO, CONF1_ADDR_PORT, 8,
			    &vpci_ops);

	return ret ? ret
		   : vplat_add(plat, VPLAT_DEV_ECAM, "pci-ecam", VDEV_MMIO, KEEL_PCI_ECAM_BASE,
			       KEEL_PCI_ECAM_SIZE, &vfio_ecam_ops);
}
