/* SPDX-License-Identifier: MIT */
/*
 * A PL061 GPIO controller model (ARM DDI 0190) carrying a Linux guest's
 * gpio-keys power key on line 3: STOP presses it, and it is let go once the
 * guest has read it pressed.
 */
#include <keel/arch.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pmm.h>
#include <keel/vdev.h>

#include "vplat.h"

#define GPIODATA_END 0x400 /* GPIODATA: address bits [9:2] mask the access */
#define GPIODIR 0x400
#define GPIOIS 0x404
#define GPIOIBE 0x408
#define GPIOIEV 0x40c
#define GPIOIE 0x410
#define GPIORIS 0x414
#define GPIOMIS 0x418
#define GPIOIC 0x41c
#define GPIOAFSEL 0x420
#define GPIO_ID 0xfe0 /* GPIOPeriphID0..3, GPIOPCellID0..3 */
#define GPIO_ID_END 0x1000

#define KEY_BIT ((u8)BIT(VPLAT_POWER_KEY_LINE))

/* Registers are 8 bits wide, one per 32-bit word. */
struct pl061 {
	struct vdev vdev;
	u8 out; /* GPIODATA as written: the levels of lines set as outputs */
	u8 in; /* levels driven from outside on the lines: the power key */
	u8 dir; /* 1 = output */
	u8 is; /* 1 = level-sensitive, 0 = edge-sensitive */
	u8 ibe; /* edge-sensitive: 1 = both edges */
	u8 iev; /* 1 = rising edge / high level, 0 = falling / low */
	u8 ie; /* 1 = interrupt unmasked */
	u8 afsel; /* stored only: there is no alternate function */
	u8 edge; /* edges detected, latched until GPIOIC */
	u8 lines; /* what the lines were at the last update: edges are changes */
	u8 irq_level;
};

/* An ARM PL061: the AMBA bus matches the driver on these. */
static const u8 pl061_id[8] = { 0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };

static u8 pl061_lines(const struct pl061 *g)
{
	return (g->out & g->dir) | (g->in & (u8)~g->dir);
}

/* Edge-sensitive lines: the latch; level-sensitive ones: their level as GPIOIEV asks. */
static u8 pl061_ris(const struct pl061 *g)
{
	u8 as_asked = ~(g->lines ^ g->iev); /* high where IEV says high, low where low */

	return (g->edge & (u8)~g->is) | (g->is & as_asked);
}

/* Latch the edges since the last update and drive the SPI. Device lock held. */
static void pl061_update(struct pl061 *g)
{
	u8 now = pl061_lines(g), changed = now ^ g->lines;
	u8 rising = changed & now, falling = changed & (u8)~now;
	u8 one = (g->iev & rising) | ((u8)~g->iev & falling);
	bool level;

	g->edge |= (u8)~g->is & ((g->ibe & changed) | ((u8)~g->ibe & one));
	g->lines = now;
	level = (pl061_ris(g) & g->ie) != 0;
	if (level != g->irq_level) {
		g->irq_level = level;
		arch_irq_set_level(g->vdev.part, VPLAT_PL061_SPI, level);
	}
}

static u8 *pl061_reg(struct pl061 *g, u64 off)
{
	switch (off) {
	case GPIODIR:
		return &g->dir;
	case GPIOIS:
		return &g->is;
	case GPIOIBE:
		return &g->ibe;
	case GPIOIEV:
		return &g->iev;
	case GPIOIE:
		return &g->ie;
	case GPIOAFSEL:
		return &g->afsel;
	default:
		return NULL;
	}
}

/*
 * GPIODATA read through @mask. A read that sees the power key pressed is the
 * guest's acknowledgement (gpio-keys reads the line once its debounce time is
 * over): the key is let go, and the falling edge tells it so.
 */
static u8 pl061_data_read(struct pl061 *g, u8 mask)
{
	u8 v = g->lines & mask;

	if (v & KEY_BIT & (u8)~g->dir) {
		g->in &= (u8)~KEY_BIT;
		pl061_update(g);
	}
	return v;
}

/* One 32-bit word at @off (4-byte aligned, inside the window). */
static u32 pl061_word_read(struct pl061 *g, u64 off)
{
	u8 *reg = pl061_reg(g, off);

	if (off < GPIODATA_END)
		return pl061_data_read(g, (u8)(off >> 2));
	if (reg)
		return *reg;
	if (off == GPIORIS)
		return pl061_ris(g);
	if (off == GPIOMIS)
		return pl061_ris(g) & g->ie;
	if (off >= GPIO_ID && off < GPIO_ID_END)
		return pl061_id[(off - GPIO_ID) / 4];
	return 0; /* write-only GPIOIC, reserved words */
}

static void pl061_word_write(struct pl061 *g, u64 off, u8 v)
{
	u8 *reg = pl061_reg(g, off);

	if (off < GPIODATA_END) {
		u8 mask = (u8)(off >> 2) & g->dir;

		g->out = (g->out & (u8)~mask) | (v & mask);
	} else if (off == GPIOIC) {
		g->edge &= (u8)~v;
	} else if (reg) {
		*reg = v;
		if (off == GPIOIS)
			g->edge &= (u8)~v; /* a level-sensitive line latches nothing */
	}
	pl061_update(g);
}

/*
 * Accesses of any size: a 4-byte aligned one reaches the word there (8 bytes:
 * two words); the upper bytes of a word are zero; other offsets read as zero
 * and ignore writes.
 */
static int pl061_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *value)
{
	struct pl061 *g = dev->priv;
	unsigned long flags = spin_lock_irqsave(&dev->lock);
	u64 v = 0;

	if (IS_ALIGNED(off, 4) && off < GPIO_ID_END && size) {
		v = pl061_word_read(g, off);
		if (size == 8 && off + 4 < GPIO_ID_END)
			v |= (u64)pl061_word_read(g, off + 4) << 32;
	}
	spin_unlock_irqrestore(&dev->lock, flags);
	*value = size < 8 ? v & (BIT(8 * size) - 1) : v;
	return 0;
}

static int pl061_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 value)
{
	struct pl061 *g = dev->priv;
	unsigned long flags = spin_lock_irqsave(&dev->lock);

	if (IS_ALIGNED(off, 4) && off < GPIO_ID_END && size) {
		pl061_word_write(g, off, (u8)value);
		if (size == 8 && off + 4 < GPIO_ID_END)
			pl061_word_write(g, off + 4, (u8)(value >> 32));
	}
	spin_unlock_irqrestore(&dev->lock, flags);
	return 0;
}

static void pl061_reset(struct vdev *dev)
{
	struct pl061 *g = dev->priv;
	unsigned long flags = spin_lock_irqsave(&dev->lock);

	g->out = g->in = g->dir = g->is = g->ibe = g->iev = g->ie = g->afsel = 0;
	g->edge = g->lines = 0;
	g->irq_level = 0;
	spin_unlock_irqrestore(&dev->lock, flags);
}

static void pl061_destroy(struct vdev *dev)
{
	pmm_free_page(dev->priv);
}

/* Snapshots: every register and the lines as last seen; the SPI follows from them. */
#define PL061_STATE_MAGIC 0x31363150u /* "P161" */
struct pl061_state {
	u32 magic;
	u8 out, in, dir, is, ibe, iev, ie, afsel, edge, lines;
	u8 pad[2];
};

static int pl061_save(struct vdev *dev, void *buf, u32 len)
{
	const struct pl061 *g = dev->priv;
	struct pl061_state st = { .magic = PL061_STATE_MAGIC };
	unsigned long flags;

	if (len < sizeof(st))
		return -KEEL_E2BIG;
	flags = spin_lock_irqsave(&dev->lock);
	st.out = g->out, st.in = g->in, st.dir = g->dir, st.is = g->is, st.ibe = g->ibe;
	st.iev = g->iev, st.ie = g->ie, st.afsel = g->afsel, st.edge = g->edge;
	st.lines = g->lines;
	spin_unlock_irqrestore(&dev->lock, flags);
	memcpy(buf, &st, sizeof(st));
	return (int)sizeof(st);
}

/*
 * Any value of an 8-bit register is one a driver could write. The lines
 * must be what the data and direction make them: the model latches edges at
 * every change, so a saved state never differs, and a blob that does would
 * invent an edge.
 */
static bool pl061_state_ok(const struct pl061_state *st)
{
	return st->magic == PL061_STATE_MAGIC && !st->pad[0] && !st->pad[1] &&
	       st->lines == ((st->out & st->dir) | (st->in & (u8)~st->dir));
}

static int pl061_restore(struct vdev *dev, const void *buf, u32 len)
{
	struct pl061 *g = dev->priv;
	struct pl061_state st;
	unsigned long flags;
	bool level;

	if (len == sizeof(st))
		memcpy(&st, buf, sizeof(st));
	if (len != sizeof(st) || !pl061_state_ok(&st)) {
		pl061_reset(dev);
		arch_irq_set_level(dev->part, VPLAT_PL061_SPI, false);
		return -KEEL_EINVAL;
	}
	flags = spin_lock_irqsave(&dev->lock);
	g->out = st.out, g->in = st.in, g->dir = st.dir, g->is = st.is, g->ibe = st.ibe;
	g->iev = st.iev, g->ie = st.ie, g->afsel = st.afsel, g->edge = st.edge;
	g->lines = st.lines;
	level = (pl061_ris(g) & g->ie) != 0;
	g->irq_level = level;
	arch_irq_set_level(dev->part, VPLAT_PL061_SPI, level);
	spin_unlock_irqrestore(&dev->lock, flags);
	return 0;
}

static const struct vdev_ops pl061_ops = {
	.read = pl061_read,
	.write = pl061_write,
	.reset = pl061_reset,
	.destroy = pl061_destroy,
	.save = pl061_save,
	.restore = pl061_restore,
};

int pl061_create(struct partition *part)
{
	struct pl061 *g = pmm_alloc_page();
	int ret;

	_Static_assert(sizeof(struct pl061) <= PAGE_SIZE, "pl061 fits a page");
	if (!g)
		return -KEEL_ENOMEM;
	memset(g, 0, sizeof(*g));
	g->vdev = (struct vdev){ .name = "pl061",
				 .space = VDEV_MMIO,
				 .irq = VPLAT_PL061_SPI,
				 .base = VPLAT_PL061_BASE,
				 .size = VPLAT_PL061_SIZE,
				 .ops = &pl061_ops,
				 .priv = g };
	pl061_reset(&g->vdev);
	ret = vdev_add(part, &g->vdev);
	if (ret)
		pmm_free_page(g);
	return ret;
}

/*
 * Press the power key of @part: line 3 high until the guest reads it so.
 * Any CPU. Under part->lock a running partition keeps its devices (they go
 * only after part_stop has moved it on). False if it has no PL061 or is not
 * running.
 */
bool pl061_press_power_key(struct partition *part)
{
	unsigned long flags = spin_lock_irqsave(&part->lock);
	struct vdev *dev = NULL;

	if (BIT(part->state) & (PS(RUNNING) | PS(PAUSED)))
		dev = vdev_find(part, VDEV_MMIO, VPLAT_PL061_BASE, VPLAT_PL061_SIZE);
	if (dev && dev->ops == &pl061_ops) {
		struct pl061 *g = dev->priv;

		spin_lock(&dev->lock);
		g->in |= KEY_BIT; /* already down: stays down, no new edge */
		pl061_update(g);
		spin_unlock(&dev->lock);
	} else {
		dev = NULL;
	}
	spin_unlock_irqrestore(&part->lock, flags);
	return dev != NULL;
}
