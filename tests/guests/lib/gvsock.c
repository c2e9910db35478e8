/* SPDX-License-Identifier: MIT */
/*
 * A minimal virtio-vsock driver for the test guests (virtio-mmio,
 * VERSION_1): finds the device, reads its CID, and sends packets whose
 * header the caller writes, right or wrong. It posts no receive buffers, so
 * whatever is sent to it waits in Keel: a receiver that stalls.
 */
#include "guest.h"
#include "vio.h"

#define GVSOCK_ID 19u
#define VQ_RX 0u
#define VQ_TX 1u
#define VQ_EV 2u

static struct vq rxq, txq, evq;
static uint8_t txhdr[64], txdata[256];

uint64_t gvsock_find(void)
{
	return vio_find(GVSOCK_ID);
}

bool gvsock_init(uint64_t base, uint64_t *cid, const char **why)
{
	if (!virtio_negotiate(base, 0, why))
		return false;
	if (!vio_queue_setup(base, VQ_RX, &rxq) || !vio_queue_setup(base, VQ_TX, &txq) ||
	    !vio_queue_setup(base, VQ_EV, &evq)) {
		*why = "a queue is too small";
		return false;
	}
	*cid = (uint64_t)vio_read(base, VIO_CONFIG) | (uint64_t)vio_read(base, VIO_CONFIG + 4)
							      << 32;
	vio_write(base, VIO_STATUS, 1 | 2 | 8 | 4); /* DRIVER_OK */
	return true;
}

bool gvsock_tx(uint64_t base, const struct gvsock_hdr *h, uint32_t hdr_len, const void *payload,
	       uint32_t len)
{
	if (hdr_len > sizeof(txhdr) || len > sizeof(txdata))
		return false;
	memset(txhdr, 0, sizeof(txhdr));
	memcpy(txhdr, h, hdr_len < sizeof(*h) ? hdr_len : sizeof(*h));
	memcpy(txdata, payload, len);
	txq.desc[0] = (struct vq_desc){ (uintptr_t)txhdr, hdr_len, len ? DESC_F_NEXT : 0, 1 };
	txq.desc[1] = (struct vq_desc){ (uintptr_t)txdata, len, 0, 0 };
	return vio_send_wait(base, VQ_TX, &txq, 0);
}
