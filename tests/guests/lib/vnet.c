/* SPDX-License-Identifier: MIT */
/*
 * A minimal virtio-net driver for the test guests (virtio-mmio, VERSION_1,
 * MAC; no merged buffers, so each receive buffer holds a whole frame): finds
 * the NIC, sends frames right and wrong on purpose, and receives into as
 * many buffers as the caller posts, never more.
 */
#include "guest.h"
#include "vio.h"

#define VNET_SLOTS 8u /* slots every arch has */
#define VNET_STRIDE 0x200u
#define VNET_ID 1u
#define VNET_F_MAC 5u
#define VQ_RX 0u
#define VQ_TX 1u
#define RX_BUF 2048u

static struct vq rxq, txq;
static uint8_t rxbuf[VQ_SIZE][RX_BUF] __attribute__((aligned(64)));
static uint8_t txhdr[64], txframe[4096];

uint64_t vio_find(uint32_t device_id)
{
	for (uint32_t i = 0; i < VNET_SLOTS; i++) {
		uint64_t base = arch_virtio_base() + (uint64_t)i * VNET_STRIDE;

		arch_map_gpa(base);
		if (vio_read(base, VIO_MAGIC) == VIO_MAGIC_VALUE &&
		    vio_read(base, VIO_VERSION) == 2 && vio_read(base, VIO_DEVICE_ID) == device_id)
			return base;
	}
	return 0;
}

uint64_t vnet_find(void)
{
	return vio_find(VNET_ID);
}

bool vnet_init(uint64_t base, uint8_t mac[6], const char **why)
{
	if (!virtio_negotiate(base, 1u << VNET_F_MAC, why))
		return false;
	if (!vio_queue_setup(base, VQ_RX, &rxq) || !vio_queue_setup(base, VQ_TX, &txq)) {
		*why = "a queue is too small";
		return false;
	}
	for (uint32_t i = 0; i < 6; i++)
		mac[i] = *(volatile uint8_t *)(uintptr_t)(base + VIO_CONFIG + i);
	vio_write(base, VIO_STATUS, 1 | 2 | 8 | 4); /* DRIVER_OK */
	return true;
}

void vnet_rx_post(uint64_t base, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint16_t slot = rxq.avail.idx % VQ_SIZE;

		rxq.desc[slot] =
			(struct vq_desc){ (uintptr_t)rxbuf[slot], RX_BUF, DESC_F_WRITE, 0 };
		rxq.avail.ring[slot] = slot;
		__atomic_thread_fence(__ATOMIC_RELEASE);
		rxq.avail.idx++;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vio_write(base, VIO_QUEUE_NOTIFY, VQ_RX);
}

int vnet_rx_poll(const uint8_t **frame)
{
	uint16_t idx = *(volatile uint16_t *)&rxq.used.idx;
	uint32_t id, len;

	if (idx == rxq.seen)
		return -1;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	id = rxq.used.ring[rxq.seen % VQ_SIZE].id % VQ_SIZE;
	len = rxq.used.ring[rxq.seen % VQ_SIZE].len;
	rxq.seen++;
	if (len < VNET_HDR_LEN || len > RX_BUF)
		return -2;
	*frame = rxbuf[id] + VNET_HDR_LEN;
	return (int)(len - VNET_HDR_LEN);
}

/*
 * One transmit chain: a @hdr_len-byte header (zeros: no offloads) and @len
 * bytes of @frame in a second descriptor. True once the device used it.
 */
bool vnet_tx_raw(uint64_t base, uint32_t hdr_len, const void *frame, uint32_t len)
{
	if (hdr_len > sizeof(txhdr) || len > sizeof(txframe))
		return false;
	memset(txhdr, 0, sizeof(txhdr));
	memcpy(txframe, frame, len);
	txq.desc[0] = (struct vq_desc){ (uintptr_t)txhdr, hdr_len, DESC_F_NEXT, 1 };
	txq.desc[1] = (struct vq_desc){ (uintptr_t)txframe, len, 0, 0 };
	return vio_send_wait(base, VQ_TX, &txq, 0);
}

bool vnet_tx(uint64_t base, const void *frame, uint32_t len)
{
	return vnet_tx_raw(base, VNET_HDR_LEN, frame, len);
}

/*
 * Send @frame (set by vnet_tx_raw's buffer rules) @n times, up to four
 * chains in flight per notify: as fast as the device takes them. Returns
 * how many it took before it stopped taking any for a while.
 */
uint32_t vnet_tx_burst(uint64_t base, const void *frame, uint32_t len, uint32_t n)
{
	uint32_t sent = 0;

	if (len > sizeof(txframe))
		return 0;
	memset(txhdr, 0, sizeof(txhdr));
	memcpy(txframe, frame, len);
	for (uint16_t i = 0; i < 4; i++) {
		txq.desc[2 * i] = (struct vq_desc){ (uintptr_t)txhdr, VNET_HDR_LEN, DESC_F_NEXT,
						    (uint16_t)(2 * i + 1) };
		txq.desc[2 * i + 1] = (struct vq_desc){ (uintptr_t)txframe, len, 0, 0 };
	}
	while (sent < n) {
		uint16_t before = *(volatile uint16_t *)&txq.used.idx;
		uint32_t k = n - sent < 4 ? n - sent : 4;
		int spin;

		for (uint32_t i = 0; i < k; i++) {
			txq.avail.ring[txq.avail.idx % VQ_SIZE] = (uint16_t)(2 * i);
			__atomic_thread_fence(__ATOMIC_RELEASE);
			txq.avail.idx++;
		}
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		vio_write(base, VIO_QUEUE_NOTIFY, VQ_TX);
		for (spin = 0; spin < 1000; spin++) {
			if ((uint16_t)(*(volatile uint16_t *)&txq.used.idx - before) >= k)
				break;
			delay(1);
		}
		if (spin == 1000)
			break;
		sent += k;
	}
	return sent;
}
