/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the virtio-mmio register file (virtio/mmio.c) and the
 * devices behind it: the input is a sequence of register reads and writes of
 * any size at any offset of any device, with guest RAM filled from it too.
 * Nothing crashes, nothing outside RAM is touched, and every byte Keel took
 * for the devices comes back when they go. Two virtio-net NICs (slots 5 and
 * 6) share a network, so what one transmits lands in the other's receive
 * queue; two vsock devices (slots 7 and 8, CIDs 3 and 4) pass packets to
 * each other, or answer them with RST while the input keeps them apart.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/console.h>
#include <keel/guest_mem.h>
#include <keel/netsw.h>
#include <keel/partition.h>
#include <keel/pmm.h>
#include <keel/vdev.h>
#include <keel/virtio.h>

#include "virtio.h"
#include "virtio_env.h"

#define FUZZ_NICS 2u
#define FUZZ_VSOCKS 2u
#define FUZZ_VSOCK_SLOT (5u + FUZZ_NICS)
#define FUZZ_SLOTS (FUZZ_VSOCK_SLOT + FUZZ_VSOCKS)

static void fuzz_add_nics(void)
{
	struct netsw_net *net = netsw_network("fuzz");

	for (u32 i = 0; i < FUZZ_NICS; i++) {
		const u8 mac[6] = { 0x02, 0, 0, 0, 0, (u8)(i + 1) };
		u32 slot = 5 + i;

		if (!net ||
		    vnet_create(&fuzz_part, KEEL_VIRTIO_MMIO_BASE + slot * KEEL_VIRTIO_MMIO_STRIDE,
				KEEL_VIRTIO_IRQ_BASE + slot, net, mac, false))
			abort();
	}
}

/*
 * The vsock policy compares the partition's description with itself: a NIC
 * entry last in it (no device: they are made already) lets the two talk, as
 * partitions on one network; without it each answers the other with RST.
 */
static void fuzz_vsock_flip_policy(void)
{
	struct pdesc *d = &fuzz_part.desc;

	if (d->device[d->h.device_count - 1].type == KEEL_DEV_NET)
		d->h.device_count--;
	else
		pdesc_add_device(d, KEEL_DEV_NET, 0, 0);
}

static void fuzz_add_vsocks(void)
{
	for (u32 i = 0; i < FUZZ_VSOCKS; i++) {
		u32 slot = FUZZ_VSOCK_SLOT + i, cid = KEEL_VSOCK_CID_FIRST + i;

		if (vsock_create(&fuzz_part, KEEL_VIRTIO_MMIO_BASE + slot * KEEL_VIRTIO_MMIO_STRIDE,
				 KEEL_VIRTIO_IRQ_BASE + slot, &cid))
			abort(); /* a CID left behind by the last run */
	}
	fuzz_vsock_flip_policy(); /* they may talk */
}

/*
 * Input: 4 KiB copied over RAM at 0 (where a guest would put rings), then
 * 8-byte records: device, size code, offset (2 bytes), value (4 bytes).
 * Queue addresses written are steered into RAM half of the time; a device
 * byte with its top bit set also asks for a power-off on the control port,
 * or (size byte bit 1) for a virtio-mem size of r[6] blocks. Size byte bit 5
 * flips the vsock policy (talk, apart).
 */
int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static const u32 sizes[4] = { 1, 2, 4, 8 };
	size_t at;

	fuzz_virtio_setup();
	if (virtio_create_devices(&fuzz_part))
		abort();
	fuzz_add_nics();
	fuzz_add_vsocks();
	memcpy(fuzz_ram, data, size < 4096 ? size : 4096);
	for (at = 4096; at + 8 <= size; at += 8) {
		const u8 *r = data + at;
		u32 slot = (r[0] & 0x7f) % FUZZ_SLOTS, sz = sizes[r[1] & 3];
		u32 off = (u32)(r[2] | r[3] << 8) & 0x1ff;
		u32 val = (u32)r[4] | (u32)r[5] << 8 | (u32)r[6] << 16 | (u32)r[7] << 24;
		struct vdev *d =
			vdev_find(&fuzz_part, VDEV_MMIO,
				  KEEL_VIRTIO_MMIO_BASE + slot * KEEL_VIRTIO_MMIO_STRIDE, 4);
		u64 v = 0;

		if (r[1] & 0x20)
			fuzz_vsock_flip_policy();
		if ((r[0] & 0x80) && (r[1] & 2))
			virtio_mem_resize(&fuzz_part, (u64)r[6] * KEEL_HOTMEM_BLOCK);
		else if (r[0] & 0x80)
			virtio_control_request(&fuzz_part, r[1] & 1 ? VIRTIO_CTL_POWEROFF : r[7]);
		if (!d)
			continue;
		if ((r[1] & 0x80) && (off == 0x080 || off == 0x090 || off == 0x0a0))
			val = (u32)FUZZ_RAM_BASE + (val & (FUZZ_RAM_SIZE - 1));
		if (r[1] & 0x40)
			d->ops->read(d, NULL, off, sz, &v);
		else
			d->ops->write(d, NULL, off, sz, val);
	}
	fuzz_virtio_teardown();
	if (pmm_free_bytes() != pool_free)
		abort();
	return 0;
}
