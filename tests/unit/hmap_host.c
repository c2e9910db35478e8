/* SPDX-License-Identifier: MIT */
/*
 * keel/hmap.h for host tests: the host has one address space, so a window is
 * the identity and hiding only keeps count, in bytes: memory may be given
 * back in parts (as virtio-mem unplugs it), never more than was hidden. What
 * the tests check is that the callers pair their gets and puts and give back
 * only what they hid.
 */
#include <keel/hmap.h>
#include <keel/lib.h>

#include <stdio.h>
#include <stdlib.h>

static u32 hmap_host_depth;
static u64 hmap_host_hidden;

int hmap_hide(hpa_t pa, u64 size)
{
	if (!size || !IS_ALIGNED(pa | size, SZ_2M))
		return -1;
	hmap_host_hidden += size;
	return 0;
}

void hmap_unhide(hpa_t pa, u64 size)
{
	if (size > hmap_host_hidden) {
		fprintf(stderr, "hmap: unhide of 0x%llx+0x%llx, more than is hidden\n",
			(unsigned long long)pa, (unsigned long long)size);
		abort();
	}
	hmap_host_hidden -= size;
}

void hmap_scrub(hpa_t pa, u64 size)
{
	memset(hpa_to_hva(pa), 0, size);
}

void hmap_audit(u64 *hidden, u64 *exposed)
{
	*hidden = hmap_host_hidden;
	*exposed = 0;
}

void (*hmap_host_on_get)(hpa_t pa); /* a test's hook: called before each window is made */

void *hmap_window_get(const void *owner, hpa_t pa, u64 *avail)
{
	if (hmap_host_on_get)
		hmap_host_on_get(pa);
	if (!pa) {
		fprintf(stderr, "hmap: a window on host address 0\n");
		abort();
	}
	if (++hmap_host_depth > HMAP_WINDOW_SLOTS) {
		fprintf(stderr, "hmap: windows nested deeper than %u\n", HMAP_WINDOW_SLOTS);
		abort();
	}
	if (avail)
		*avail = ALIGN_DOWN(pa, HMAP_WINDOW_SIZE) + HMAP_WINDOW_SIZE - pa;
	return hpa_to_hva(pa);
}

void hmap_window_put(void)
{
	if (!hmap_host_depth) {
		fprintf(stderr, "hmap: window put without a get\n");
		abort();
	}
	hmap_host_depth--;
}

void hmap_window_put_drop(void)
{
	hmap_window_put();
}

void hmap_window_reset(void)
{
}

void hmap_windows_forget(void)
{
}

u32 hmap_window_epoch; /* never moves on the host: no window to forget */

void hmap_window_catch_up(void)
{
}
