/* SPDX-License-Identifier: MIT */
/*
 * INTx of assigned PCI functions (vfio/intx.c) against fake devices: a
 * function asserts its INTx while its Status bit is set and its Command's
 * INTx Disable is clear. Who is claimed when a host line fires, the device
 * held off until the guest's EOI, the guest's own INTx Disable, lines shared
 * between partitions, stray interrupts, and a function that leaves.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/partition.h>
#include <keel/pci.h>
#include <keel/vfio.h>

#include "unit.h"
#include "vfio_part.h"

extern char unit_log[];
extern size_t unit_log_len;

/* ---- fake functions: bdf 0x28 + n, command and status each ---- */

#define FUNCS 3
static struct pci_func funcs[FUNCS];
static u16 cmd[FUNCS], status[FUNCS];
static u32 cmd_writes;

static int func_of(u16 bdf)
{
	for (int i = 0; i < FUNCS; i++)
		if (funcs[i].bdf == bdf)
			return i;
	return -1;
}

u32 pci_cfg_read(u16 seg, u16 bdf, u16 off, u32 size)
{
	int i = func_of(bdf);

	if (i < 0 || size != 2)
		return 0xffffffffu;
	return off == PCI_COMMAND ? cmd[i] : off == PCI_STATUS ? status[i] : 0;
}

void pci_cfg_write(u16 seg, u16 bdf, u16 off, u32 size, u32 val)
{
	int i = func_of(bdf);

	if (i >= 0 && off == PCI_COMMAND && size == 2) {
		cmd[i] = (u16)val;
		cmd_writes++;
	}
}

static u32 host_read(void *ctx, u16 bdf, u16 off, u32 size)
{
	return pci_cfg_read(0, bdf, off, size);
}

static void host_write(void *ctx, u16 bdf, u16 off, u32 size, u32 val)
{
	pci_cfg_write(0, bdf, off, size, val);
}

const struct pci_cfg_ops pci_host_ops = { host_read, host_write };

/* ---- the arch: whether it listens, and the guests' lines ---- */

static int listen_answer;
static u32 listen_calls;
static struct partition parts[2];
static bool line_high[2][64];

int arch_intx_listen(void)
{
	listen_calls++;
	return listen_answer;
}

void arch_irq_set_level(struct partition *part, u32 irq, bool level)
{
	CHECK(irq < 64);
	if (irq < 64)
		line_high[part == &parts[1]][irq] = level;
}

/* ---- setup ---- */

static struct vfio_dev devs[FUNCS];

/* Function @n, owned by @part, its guest's line @virq, INTx pin @pin, as vconfig leaves it. */
static void func_setup(int n, struct partition *part, u32 virq, u8 pin)
{
	struct vfio_dev *d = &devs[n];

	memset(d, 0, sizeof(*d));
	funcs[n] = (struct pci_func){ .seg = 0, .bdf = (u16)(0x28 + n) };
	d->f = &funcs[n];
	cmd[n] = 0;
	status[n] = 0;
	d->vc.shadow[PCI_INTERRUPT_PIN] = pin;
	/* vconfig_init: decode on, INTx quiet until the guest writes its command. */
	vfio_intx_cfg_ops.write(d, d->f->bdf, PCI_COMMAND, 2, 0x0002 | PCI_COMMAND_INTX_OFF);
	CHECK_EQ(vfio_intx_attach(part, d, virq), 0);
}

/* The guest writes its command register (through vconfig, which adds decode). */
static void guest_cmd(int n, u16 v)
{
	vfio_intx_cfg_ops.write(&devs[n], funcs[n].bdf, PCI_COMMAND, 2, 0x0002 | v);
}

static void reset_all(void)
{
	for (int i = 0; i < FUNCS; i++)
		vfio_intx_detach(&devs[i]);
	memset(line_high, 0, sizeof(line_high));
	unit_log_len = 0;
	unit_log[0] = 0;
}

/* ---- tests ---- */

static void test_offered_asks_once(void)
{
	listen_answer = -KEEL_ENOTSUP;
	CHECK(!vfio_intx_offered());
	CHECK(!vfio_intx_offered());
	CHECK_EQ(listen_calls, 1);
}

static void test_claim_mask_eoi(void)
{
	reset_all();
	func_setup(0, &parts[0], 24, 1);
	CHECK(cmd[0] & PCI_COMMAND_INTX_OFF);
	guest_cmd(0, PCI_COMMAND_MASTER);
	CHECK_EQ(cmd[0], 0x0006); /* INTx on: the guest did not disable it */

	/* It asserts: claimed, held off at the device, its guest's line up. */
	status[0] = PCI_STATUS_INTX;
	CHECK(vfio_intx_fired(21));
	CHECK(cmd[0] & PCI_COMMAND_INTX_OFF);
	CHECK(line_high[0][24]);
	CHECK(strstr(unit_log, "its INTx arrives on host line 21, its guest's SPI 24") != NULL);

	/* The line fires again before the EOI (the device was slow to let go): no claim. */
	CHECK(vfio_intx_fired(21));
	CHECK(cmd[0] & PCI_COMMAND_INTX_OFF);

	/* A guest command write meanwhile keeps it held off. */
	guest_cmd(0, PCI_COMMAND_MASTER);
	CHECK_EQ(cmd[0], 0x0006 | PCI_COMMAND_INTX_OFF);

	/* Another partition's EOI, or another line's, lets nothing go. */
	vfio_intx_eoi(&parts[1], 24);
	vfio_intx_eoi(&parts[0], 25);
	CHECK(cmd[0] & PCI_COMMAND_INTX_OFF);

	/* Its guest's EOI: the device may interrupt again. */
	vfio_intx_eoi(&parts[0], 24);
	CHECK_EQ(cmd[0], 0x0006);
	CHECK(vfio_intx_fired(21)); /* still asserting: claimed again */
	CHECK(cmd[0] & PCI_COMMAND_INTX_OFF);
	CHECK(line_high[0][24]);
}

static void test_guest_disable(void)
{
	reset_all();
	func_setup(0, &parts[0], 24, 1);
	guest_cmd(0, 0);
	status[0] = PCI_STATUS_INTX;
	CHECK(vfio_intx_fired(20));
	CHECK(line_high[0][24]);

	/* The guest sets INTx Disable: its line drops, and Keel holds nothing. */
	guest_cmd(0, PCI_COMMAND_INTX_OFF);
	CHECK(!line_high[0][24]);
	CHECK(cmd[0] & PCI_COMMAND_INTX_OFF);
	CHECK(vfio_intx_fired(20)); /* asserting, but disabled: not claimed */
	CHECK(!line_high[0][24]);

	/* An EOI then does not turn INTx back on behind the guest's back. */
	vfio_intx_eoi(&parts[0], 24);
	CHECK(cmd[0] & PCI_COMMAND_INTX_OFF);

	/* Enabled again while still pending: the next firing claims it. */
	guest_cmd(0, 0);
	CHECK(!(cmd[0] & PCI_COMMAND_INTX_OFF));
	CHECK(vfio_intx_fired(20));
	CHECK(line_high[0][24]);
}

static void test_shared_line(void)
{
	reset_all();
	func_setup(0, &parts[0], 24, 1);
	func_setup(1, &parts[1], 25, 2);
	func_setup(2, &parts[1], 26, 0); /* no pin: never tracked */
	guest_cmd(0, 0);
	guest_cmd(1, 0);
	guest_cmd(2, 0);

	/* Only the second asserts: only its partition hears of it. */
	status[1] = PCI_STATUS_INTX;
	status[2] = PCI_STATUS_INTX;
	CHECK(vfio_intx_fired(22));
	CHECK(!line_high[0][24]);
	CHECK(line_high[1][25]);
	CHECK(!line_high[1][26]);
	CHECK(!(cmd[2] & PCI_COMMAND_INTX_OFF)); /* untouched */

	/* Both: both claimed, each held off and its own guest's line raised. */
	vfio_intx_eoi(&parts[1], 25);
	status[0] = PCI_STATUS_INTX;
	CHECK(vfio_intx_fired(22));
	CHECK(line_high[0][24] && line_high[1][25]);
	CHECK((cmd[0] & PCI_COMMAND_INTX_OFF) && (cmd[1] & PCI_COMMAND_INTX_OFF));
}

static void test_stray_line_masked(void)
{
	u32 i;

	reset_all();
	func_setup(0, &parts[0], 24, 1);
	guest_cmd(0, 0);
	/* Nobody asserts: the 100th firing in a row says mask the line. */
	for (i = 1; i < 100; i++)
		CHECK(vfio_intx_fired(19));
	CHECK(!vfio_intx_fired(19));
	/* A claim in between starts the count again. */
	for (i = 1; i < 99; i++)
		CHECK(vfio_intx_fired(18));
	status[0] = PCI_STATUS_INTX;
	CHECK(vfio_intx_fired(18));
	status[0] = 0;
	vfio_intx_eoi(&parts[0], 24);
	for (i = 1; i < 99; i++)
		CHECK(vfio_intx_fired(18));
	/* A line beyond those counted is never masked for strays. */
	for (i = 0; i < 200; i++)
		CHECK(vfio_intx_fired(100000));
}

static void test_detach(void)
{
	reset_all();
	func_setup(0, &parts[0], 24, 1);
	guest_cmd(0, 0);
	status[0] = PCI_STATUS_INTX;
	CHECK(vfio_intx_fired(21));
	CHECK(line_high[0][24]);
	vfio_intx_detach(&devs[0]);
	CHECK(!line_high[0][24]);
	/* Gone: a firing no longer reaches it, an EOI no longer writes it. */
	cmd_writes = 0;
	CHECK(vfio_intx_fired(21));
	vfio_intx_eoi(&parts[0], 24);
	CHECK_EQ(cmd_writes, 0);
}

static void test_routes(void)
{
	struct vfio_part *vp = calloc(1, sizeof(*vp));
	struct vfio_intx_route r[4];

	reset_all();
	CHECK(vp != NULL);
	if (!vp)
		return;
	parts[0].vfio = vp;
	vp->count = 3;
	for (int i = 0; i < 3; i++) {
		func_setup(i, &parts[0], 24 + (u32)i, i == 1 ? 0 : (u8)(i + 1));
		vp->dev[i] = devs[i];
		vp->dev[i].on_bus = true;
		vp->dev[i].vbdf = PCI_BDF(0, i + 1, 0);
	}
	/* The second has no pin; the others go where their lines are. */
	CHECK_EQ(vfio_intx_routes(&parts[0], r, 4), 2);
	CHECK(r[0].slot == 1 && r[0].pin == 1 && r[0].virq == 24);
	CHECK(r[1].slot == 3 && r[1].pin == 3 && r[1].virq == 26);
	CHECK_EQ(vfio_intx_routes(&parts[0], r, 1), 1);
	CHECK_EQ(vfio_intx_routes(&parts[1], r, 4), 0); /* no functions */
	parts[0].vfio = NULL;
	free(vp);
}

int main(void)
{
	test_offered_asks_once();
	test_claim_mask_eoi();
	test_guest_disable();
	test_shared_line();
	test_stray_line_masked();
	test_detach();
	test_routes();
	reset_all();
	return unit_done("test_intx");
}
