/* SPDX-License-Identifier: MIT */
/*
 * The vGIC's hardware side: the GICv3 virtual CPU interface's list registers
 * and controls (ICH_*_EL2) of this CPU. Everything else of the vGIC
 * (vgic.c) is a model in memory.
 */
#include <keel/types.h>

#include "aarch64.h"
#include "vplat.h"

static u32 vgic_nr_lrs;

/* ---- List registers (system registers: one accessor per number) ------- */

#define LR_CASE_READ(n, reg) \
	case n:              \
		return read_sysreg(reg)
#define LR_CASE_WRITE(n, reg)         \
	case n:                       \
		write_sysreg(reg, v); \
		break

u64 vgic_hw_lr_read(u32 n)
{
	switch (n) {
		LR_CASE_READ(0, s3_4_c12_c12_0);
		LR_CASE_READ(1, s3_4_c12_c12_1);
		LR_CASE_READ(2, s3_4_c12_c12_2);
		LR_CASE_READ(3, s3_4_c12_c12_3);
		LR_CASE_READ(4, s3_4_c12_c12_4);
		LR_CASE_READ(5, s3_4_c12_c12_5);
		LR_CASE_READ(6, s3_4_c12_c12_6);
		LR_CASE_READ(7, s3_4_c12_c12_7);
		LR_CASE_READ(8, s3_4_c12_c13_0);
		LR_CASE_READ(9, s3_4_c12_c13_1);
		LR_CASE_READ(10, s3_4_c12_c13_2);
		LR_CASE_READ(11, s3_4_c12_c13_3);
		LR_CASE_READ(12, s3_4_c12_c13_4);
		LR_CASE_READ(13, s3_4_c12_c13_5);
		LR_CASE_READ(14, s3_4_c12_c13_6);
		LR_CASE_READ(15, s3_4_c12_c13_7);
	default:
		return 0;
	}
}

void vgic_hw_lr_write(u32 n, u64 v)
{
	switch (n) {
		LR_CASE_WRITE(0, s3_4_c12_c12_0);
		LR_CASE_WRITE(1, s3_4_c12_c12_1);
		LR_CASE_WRITE(2, s3_4_c12_c12_2);
		LR_CASE_WRITE(3, s3_4_c12_c12_3);
		LR_CASE_WRITE(4, s3_4_c12_c12_4);
		LR_CASE_WRITE(5, s3_4_c12_c12_5);
		LR_CASE_WRITE(6, s3_4_c12_c12_6);
		LR_CASE_WRITE(7, s3_4_c12_c12_7);
		LR_CASE_WRITE(8, s3_4_c12_c13_0);
		LR_CASE_WRITE(9, s3_4_c12_c13_1);
		LR_CASE_WRITE(10, s3_4_c12_c13_2);
		LR_CASE_WRITE(11, s3_4_c12_c13_3);
		LR_CASE_WRITE(12, s3_4_c12_c13_4);
		LR_CASE_WRITE(13, s3_4_c12_c13_5);
		LR_CASE_WRITE(14, s3_4_c12_c13_6);
		LR_CASE_WRITE(15, s3_4_c12_c13_7);
	default:
		break;
	}
}

/* This CPU's virtual interface: empty, off until a vCPU enters. */
void vgic_cpu_init(void)
{
	vgic_nr_lrs = MIN((u32)(read_sysreg(ICH_VTR_EL2) & 0x1f) + 1, VGIC_MAX_LRS);
	for (u32 n = 0; n < vgic_nr_lrs; n++)
		vgic_hw_lr_write(n, 0);
	write_sysreg(ICH_VMCR_EL2, 0);
	write_sysreg(ICH_HCR_EL2, 0);
	isb();
}

u32 vgic_hw_nr_lrs(void)
{
	return vgic_nr_lrs;
}

void vgic_hw_set_hcr(u64 hcr)
{
	write_sysreg(ICH_HCR_EL2, hcr);
}

/* ICH_AP0R<n>/AP1R<n> in use: 1, 2 or 4 by the priority bits (ICH_VTR_EL2.PREbits). */
static u32 vgic_hw_nr_aprs(void)
{
	u32 pre = (u32)((read_sysreg(ICH_VTR_EL2) >> 26) & 7) + 1;

	return pre >= 7 ? 4 : pre == 6 ? 2 : 1;
}

/* ICH_AP0R<n>_EL2 and ICH_AP1R<n>_EL2: one accessor per number, as for the LRs. */
#define AP_SAVE(n)                                             \
	case n:                                                \
		a->ich_ap0r[n] = read_sysreg(s3_4_c12_c8_##n); \
		a->ich_ap1r[n] = read_sysreg(s3_4_c12_c9_##n); \
		break
#define AP_RESTORE(n)                                          \
	case n:                                                \
		write_sysreg(s3_4_c12_c8_##n, a->ich_ap0r[n]); \
		write_sysreg(s3_4_c12_c9_##n, a->ich_ap1r[n]); \
		break

static void vgic_hw_apr_save(struct vcpu_arch *a, u32 n)
{
	switch (n) {
		AP_SAVE(0);
		AP_SAVE(1);
		AP_SAVE(2);
		AP_SAVE(3);
	default:
		break;
	}
}

static void vgic_hw_apr_restore(const struct vcpu_arch *a, u32 n)
{
	switch (n) {
		AP_RESTORE(0);
		AP_RESTORE(1);
		AP_RESTORE(2);
		AP_RESTORE(3);
	default:
		break;
	}
}

void vgic_hw_save(struct vcpu_arch *a)
{
	for (u32 n = 0; n < vgic_nr_lrs; n++)
		a->ich_lr[n] = vgic_hw_lr_read(n);
	for (u32 n = 0; n < vgic_hw_nr_aprs(); n++)
		vgic_hw_apr_save(a, n);
	a->ich_vmcr = read_sysreg(ICH_VMCR_EL2);
	a->ich_hcr = read_sysreg(ICH_HCR_EL2);
}

void vgic_hw_restore(const struct vcpu_arch *a)
{
	for (u32 n = 0; n < vgic_nr_lrs; n++)
		vgic_hw_lr_write(n, a->ich_lr[n]);
	for (u32 n = 0; n < vgic_hw_nr_aprs(); n++)
		vgic_hw_apr_restore(a, n);
	write_sysreg(ICH_VMCR_EL2, a->ich_vmcr);
	write_sysreg(ICH_HCR_EL2, a->ich_hcr);
}

/* A vCPU's virtual interface as after reset: no priorities, nothing active or listed. */
void vgic_hw_cpuif_reset(void)
{
	static const struct vcpu_arch none; /* all zero */

	write_sysreg(ICH_VMCR_EL2, 0);
	for (u32 n = 0; n < vgic_hw_nr_aprs(); n++)
		vgic_hw_apr_restore(&none, n);
	for (u32 n = 0; n < vgic_nr_lrs; n++)
		vgic_hw_lr_write(n, 0);
}
