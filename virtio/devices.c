/* SPDX-License-Identifier: MIT */
/*
 * A partition's virtio-mmio devices, as its description lists them: device n
 * of the list at KEEL_VIRTIO_MMIO_BASE + n * KEEL_VIRTIO_MMIO_STRIDE,
 * interrupt KEEL_VIRTIO_IRQ_BASE + n. Guests find them in the tables Keel
 * generates (ACPI or DT), so a slot says nothing about a type. A host PCI
 * function (KEEL_DEV_PCI, vfio/) in the list leaves its slot empty.
 */
#include <keel/abi.h>
#include <keel/console.h>
#include <keel/netsw.h>
#include <keel/partition.h>
#include <keel/pdesc.h>
#include <keel/virtio.h>

#include "virtio.h"

static u64 virtio_slot_base(u32 n)
{
	return KEEL_VIRTIO_MMIO_BASE + n * KEEL_VIRTIO_MMIO_STRIDE;
}

static int virtio_create_blk(struct partition *part, u32 slot, const struct keel_pd_device *dev)
{
	const struct keel_boot_module *m =
		dev->backend < KEEL_PD_MAX_IMAGES ? part->images[dev->backend] : NULL;

	if (!m)
		return -KEEL_EINVAL; /* pdesc_check refused it already */
	return vblk_create(part, virtio_slot_base(slot), KEEL_VIRTIO_IRQ_BASE + slot,
			   hpa_to_hva(m->base), m->size, dev->flags & KEEL_DISK_RO);
}

/*
 * A NIC on network dev->backend: its address as given, else derived from the
 * names. The management partition's NICs are uplinks: it bridges a network
 * to the world outside, so frames from addresses behind it are its to send.
 */
static int virtio_create_net(struct partition *part, u32 slot, const struct keel_pd_device *dev)
{
	struct netsw_net *net = netsw_at(dev->backend);
	u8 mac[6];
	int ret;

	if (!net) {
		pr_err("partition '%s': net device %u: no network %u", part->desc.h.name, slot,
		       dev->backend);
		return -KEEL_ENOENT;
	}
	pdesc_net_mac(dev, mac);
	if (!dev->flags && !dev->pad)
		netsw_mac_derive(part->desc.h.name, net->name, mac);
	ret = vnet_create(part, virtio_slot_base(slot), KEEL_VIRTIO_IRQ_BASE + slot, net, mac,
			  part->desc.h.flags & KEEL_PD_MANAGEMENT);
	if (ret == -KEEL_EEXIST)
		pr_err("partition '%s': net device %u: %02x:%02x:%02x:%02x:%02x:%02x is taken on "
		       "network '%s'",
		       part->desc.h.name, slot, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
		       net->name);
	else if (!ret)
		pr_info("partition '%s': %02x:%02x:%02x:%02x:%02x:%02x on network '%s'%s",
			part->desc.h.name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
			net->name, part->desc.h.flags & KEEL_PD_MANAGEMENT ? " (uplink)" : "");
	return ret;
}

/*
 * The partition's vsock device. A CID Keel picks is written into its
 * description, so a restart and STATS show the same one.
 */
static int virtio_create_vsock(struct partition *part, u32 slot)
{
	u32 cid = part->desc.device[slot].backend;
	int ret = vsock_create(part, virtio_slot_base(slot), KEEL_VIRTIO_IRQ_BASE + slot, &cid);

	if (ret == -KEEL_EEXIST)
		pr_err("partition '%s': vsock: CID %u is another partition's", part->desc.h.name,
		       cid);
	if (ret)
		return ret;
	part->desc.device[slot].backend = cid;
	pr_info("partition '%s': vsock CID %u", part->desc.h.name, cid);
	return 0;
}

static int virtio_create_one(struct partition *part, u32 slot)
{
	const struct keel_pd_device *dev = &part->desc.device[slot];
	u64 base = virtio_slot_base(slot);
	u32 irq = KEEL_VIRTIO_IRQ_BASE + slot;

	switch (dev->type) {
	case KEEL_DEV_CONSOLE:
		return vcon_create(part, base, irq);
	case KEEL_DEV_RNG:
		return vrng_create(part, base, irq);
	case KEEL_DEV_BLK:
		return virtio_create_blk(part, slot, dev);
	case KEEL_DEV_CONTROL:
		return vctl_create(part, base, irq);
	case KEEL_DEV_MEM:
		return vmem_create(part, base, irq);
	case KEEL_DEV_NET:
		return virtio_create_net(part, slot, dev);
	case KEEL_DEV_VSOCK:
		return virtio_create_vsock(part, slot);
	default:
		return -KEEL_EINVAL; /* pdesc_check refused it already */
	}
}

/*
 * On an error the devices already added stay in part->vdevs; the partition's
 * teardown (vdev_destroy_all) frees them.
 */
int virtio_create_devices(struct partition *part)
{
	u32 slot;
	int ret;

	for (slot = 0; slot < part->desc.h.device_count && slot < KEEL_PD_MAX_DEVICES; slot++) {
		if (part->desc.device[slot].type == KEEL_DEV_PCI)
			continue; /* no window: vfio_assign() gives it */
		if (slot >= KEEL_VIRTIO_MAX)
			return -KEEL_EINVAL; /* pdesc_check refused it already */
		ret = virtio_create_one(part, slot);
		if (ret)
			return ret;
	}
	return 0;
}
