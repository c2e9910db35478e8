/* SPDX-License-Identifier: MIT */
/*
 * The local APIC model of each vCPU: xAPIC MMIO at 0xfee00000 and x2APIC
 * MSRs, IRR/ISR/TMR, TPR/PPR, EOI (broadcast to the IOAPIC), IPIs with
 * INIT/SIPI starting other vCPUs, and the timer (one-shot, periodic,
 * TSC-deadline) on a hypervisor timer of the vCPU's own CPU.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/pcpu.h>

#include "vplat.h"
#include "x86.h"

#define LAPIC_ID 0x020
#define LAPIC_VER 0x030
#define LAPIC_TPR 0x080
#define LAPIC_APR 0x090
#define LAPIC_PPR 0x0a0
#define LAPIC_EOI 0x0b0
#define LAPIC_LDR 0x0d0
#define LAPIC_DFR 0x0e0
#define LAPIC_SVR 0x0f0
#define LAPIC_ISR 0x100
#define LAPIC_TMR 0x180
#define LAPIC_IRR 0x200
#define LAPIC_ESR 0x280
#define LAPIC_LVT_CMCI 0x2f0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_ICR 0x380
#define LAPIC_TIMER_CCR 0x390
#define LAPIC_TIMER_DCR 0x3e0
#define LAPIC_SELF_IPI 0x3f0

#define LAPIC_VERSION 0x00050014u /* integrated APIC, 6 LVT entries */
#define LAPIC_SVR_ENABLE BIT(8)
#define LVT_MASKED BIT(16)
#define LVT_TIMER_MODE(v) (((v) >> 17) & 3)
#define LVT_TIMER_PERIODIC 1
#define LVT_TIMER_TSC_DEADLINE 2
#define LVT_TIMER 1 /* index in vlapic.lvt[] */

#define ICR_DM(v) (((v) >> 8) & 7)
#define ICR_LOGICAL BIT(11)
#define ICR_ASSERT BIT(14)
#define ICR_LEVEL BIT(15)
#define ICR_SHORTHAND(v) (((v) >> 18) & 3)
#define DM_FIXED 0
#define DM_LOWEST 1
#define DM_NMI 4
#define DM_INIT 5
#define DM_SIPI 6

#define MSR_TSC_DEADLINE 0x6e0
#define MSR_X2APIC_FIRST 0x800
#define MSR_X2APIC_LAST 0x8ff

static struct x86_vplat *vlapic_plat(struct vcpu *vcpu)
{
	return vcpu->part->arch.plat;
}

static struct vlapic *vlapic_of(struct vcpu *vcpu)
{
	return vcpu->arch.lapic;
}

bool vlapic_x2apic_mode(struct vcpu *vcpu)
{
	return vlapic_of(vcpu)->apic_base & MSR_APIC_BASE_EXTD;
}

static bool vlapic_hw_enabled(const struct vlapic *l)
{
	return l->apic_base & MSR_APIC_BASE_EN;
}

/* Highest set bit of a 256-bit vector register, or -1. */
static int vlapic_highest(const u32 *reg)
{
	for (int i = 7; i >= 0; i--) {
		u32 v = __atomic_load_n(&reg[i], __ATOMIC_ACQUIRE);

		if (v)
			return i * 32 + 31 - __builtin_clz(v);
	}
	return -1;
}

static u32 vlapic_ppr(const struct vlapic *l)
{
	int isr = vlapic_highest(l->isr);
	u32 isrv = isr < 0 ? 0 : (u32)isr & 0xf0;

	return (l->tpr & 0xf0) >= isrv ? l->tpr & 0xff : isrv;
}

/*
 * Make @v look at its IRR, out of the guest or out of HLT, if a core runs it:
 * a hot vCPU never powered on, or powered off, has none (pcpu NULL or stale).
 */
static void vlapic_kick(struct vcpu *v)
{
	struct pcpu *c = READ_ONCE(v->pcpu);

	if (c && c != pcpu_this() && (!v->hot || __atomic_load_n(&v->bound, __ATOMIC_ACQUIRE)))
		pcpu_kick(c);
}

void vlapic_deliver(struct vlapic *l, u8 vector, bool level)
{
	u32 bit = 1u << (vector % 32), idx = vector / 32;

	if (vector < 16) {
		__atomic_fetch_or(&l->esr, BIT(6), __ATOMIC_RELAXED); /* received illegal vector */
		return;
	}
	if (level)
		__atomic_fetch_or(&l->tmr[idx], bit, __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&l->tmr[idx], ~bit, __ATOMIC_RELEASE);
	__atomic_fetch_or(&l->irr[idx], bit, __ATOMIC_SEQ_CST);
	vlapic_kick(l->vcpu);
}

int vlapic_pending(struct vcpu *vcpu)
{
	struct vlapic *l = vlapic_of(vcpu);
	int irr;

	if (!l || !vlapic_hw_enabled(l) || !(l->svr & LAPIC_SVR_ENABLE))
		return -1;
	irr = vlapic_highest(l->irr);
	if (irr < 0 || ((u32)irr & 0xf0) <= (vlapic_ppr(l) & 0xf0))
		return -1;
	return irr;
}

void vlapic_nmi_taken(struct vcpu *vcpu)
{
	__atomic_store_n(&vlapic_of(vcpu)->nmi_pending, 0, __ATOMIC_RELEASE);
}

void vlapic_set_cr8(struct vcpu *vcpu, u64 cr8)
{
	struct vlapic *l = vlapic_of(vcpu);

	if (l)
		l->tpr = (u32)(cr8 & 0xf) << 4;
}

void vlapic_ack(struct vcpu *vcpu, u8 vector)
{
	struct vlapic *l = vlapic_of(vcpu);
	u32 bit = 1u << (vector % 32);

	__atomic_fetch_and(&l->irr[vector / 32], ~bit, __ATOMIC_ACQ_REL);
	l->isr[vector / 32] |= bit;
	__atomic_store_n(&l->taken, l->taken + 1, __ATOMIC_RELAXED); /* only this CPU writes it */
}

static void vlapic_eoi(struct vlapic *l)
{
	int vec = vlapic_highest(l->isr);
	u32 bit;

	if (vec < 0)
		return;
	bit = 1u << (vec % 32);
	l->isr[vec / 32] &= ~bit;
	if (__atomic_load_n(&l->tmr[vec / 32], __ATOMIC_ACQUIRE) & bit)
		vioapic_eoi(vlapic_plat(l->vcpu), (u8)vec);
}

/* ---- Timer ---------------------------------------------------------------- */

static u64 vlapic_timer_div(const struct vlapic *l)
{
	u32 v = (l->timer_dcr & 3) | ((l->timer_dcr >> 1) & 4);

	return v == 7 ? 1 : 2ull << v;
}

static void vlapic_timer_fire(struct timer *t)
{
	struct vlapic *l = t->data;
	u32 lvt = l->lvt[LVT_TIMER];
	u64 now = arch_time_ns(), next, period;

	if (!(lvt & LVT_MASKED))
		vlapic_deliver(l, (u8)lvt, false);
	if (LVT_TIMER_MODE(lvt) == LVT_TIMER_TSC_DEADLINE) {
		l->tsc_deadline = 0;
		return;
	}
	if (LVT_TIMER_MODE(lvt) != LVT_TIMER_PERIODIC || !l->timer_period_ns)
		return;
	/* Periodic: the next period, skipping the ones the vCPU could not see. */
	period = MAX(l->timer_period_ns, VPLAT_MIN_PERIOD_NS);
	next = t->deadline_ns + period;
	if (next <= now)
		next = now + period;
	l->timer_start_ns = next - l->timer_period_ns;
	timer_arm(t, next);
}

static void vlapic_timer_start(struct vlapic *l)
{
	u64 period = l->timer_icr * vlapic_timer_div(l); /* 1 ns per input tick */

	timer_cancel(&l->timer);
	l->timer_period_ns = period;
	l->timer_start_ns = arch_time_ns();
	if (period && LVT_TIMER_MODE(l->lvt[LVT_TIMER]) != LVT_TIMER_TSC_DEADLINE)
		timer_arm(&l->timer, l->timer_start_ns + period);
}

static u32 vlapic_timer_ccr(const struct vlapic *l)
{
	u64 elapsed, div = vlapic_timer_div(l);

	if (!l->timer_period_ns || LVT_TIMER_MODE(l->lvt[LVT_TIMER]) == LVT_TIMER_TSC_DEADLINE)
		return 0;
	elapsed = arch_time_ns() - l->timer_start_ns;
	if (LVT_TIMER_MODE(l->lvt[LVT_TIMER]) == LVT_TIMER_PERIODIC)
		elapsed %= l->timer_period_ns;
	else if (elapsed >= l->timer_period_ns)
		return 0;
	return (u32)((l->timer_period_ns - elapsed) / div);
}

/* TSC value to arch_time_ns(): the guest's TSC is the host's. */
static void vlapic_tsc_deadline(struct vlapic *l, u64 tsc)
{
	u64 now_tsc = x86_rdtsc(), now = arch_time_ns();

	l->tsc_deadline = tsc;
	timer_cancel(&l->timer);
	if (!tsc || LVT_TIMER_MODE(l->lvt[LVT_TIMER]) != LVT_TIMER_TSC_DEADLINE)
		return;
	if (tsc <= now_tsc)
		timer_arm(&l->timer, now);
	else
		timer_arm(&l->timer, now + x86_tsc_to_ns(tsc - now_tsc));
}

static void vlapic_lvt_timer_write(struct vlapic *l, u32 val)
{
	u32 old = LVT_TIMER_MODE(l->lvt[LVT_TIMER]);

	l->lvt[LVT_TIMER] = val & 0x700ff;
	if (LVT_TIMER_MODE(val) == 3)
		l->lvt[LVT_TIMER] &= ~(3u << 17); /* reserved mode: one-shot */
	if (LVT_TIMER_MODE(l->lvt[LVT_TIMER]) != old) {
		/* A mode change stops the timer (SDM 11.5.4.1). */
		timer_cancel(&l->timer);
		l->timer_period_ns = 0;
		l->timer_icr = 0;
		l->tsc_deadline = 0;
	}
}

/* ---- IPIs ----------------------------------------------------------------- */

static u32 vlapic_ldr(const struct vlapic *l, bool x2)
{
	if (x2)
		return ((l->id >> 4) << 16) | (1u << (l->id & 0xf));
	return l->ldr;
}

static bool vlapic_match(const struct vlapic *l, u32 dest, bool logical, bool x2)
{
	u32 ldr;

	if (!logical)
		return dest == l->id || dest == (x2 ? 0xffffffffu : 0xffu);
	if (x2) {
		ldr = vlapic_ldr(l, true);
		return dest == 0xffffffffu ||
		       ((dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff));
	}
	if (dest == 0xff)
		return true;
	ldr = l->ldr >> 24;
	if ((l->dfr >> 28) == 0xf) /* flat */
		return (ldr & dest) != 0;
	return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf); /* cluster */
}

/* Wake @v's CPU; a hot vCPU that is off has no core to wake (its last may serve another). */
/*
 * The SIPI of a hot vCPU that is off: it takes a free core if RESIZE allows
 * one more, else the SIPI goes nowhere, as to a socket with no CPU in it.
 */
static void vlapic_start_hot(struct vcpu *v, const struct vcpu_entry *e)
{
	int ret = part_vcpu_bind(v);

	if (ret == -KEEL_ENOSPC)
		pr_warn("partition '%s': vCPU %u not started: no free core", v->part->desc.h.name,
			v->index);
	if (ret)
		return;
	if (vcpu_start(v, e))
		part_vcpu_unbind(v);
}

/* An NMI IPI: latched until the backend can inject it (not while one is being handled). */
static void vlapic_deliver_nmi(struct vlapic *l)
{
	__atomic_store_n(&l->nmi_pending, 1, __ATOMIC_SEQ_CST);
	vlapic_kick(l->vcpu);
}

/*
 * INIT or SIPI to @target. One never started waits for its SIPI already and
 * starts through vcpu_start(). A started one (running, or halted after
 * Linux took its CPU offline) is held by INIT until a SIPI restarts it on
 * its own core (x86_ap_hold); a SIPI to a vCPU not waiting for one is
 * ignored, as by hardware (the second SIPI of INIT-SIPI-SIPI included).
 */
static void vlapic_start_ap(struct vlapic *target, u32 mode, u32 icr)
{
	struct vcpu_entry e = { .kind = VCPU_ENTRY_SIPI, .pc = (u64)(icr & 0xff) << 12 };
	struct vcpu *v = target->vcpu;
	u32 waiting = X86_AP_WAIT_SIPI;

	if (READ_ONCE(v->state) == VCPU_OFF) {
		if (mode == DM_SIPI && v->hot)
			vlapic_start_hot(v, &e);
		else if (mode == DM_SIPI)
			(void)vcpu_start(v, &e); /* -KEEL_EBUSY if it started meanwhile */
		return;
	}
	if (mode == DM_INIT) {
		__atomic_store_n(&v->arch.ap_state, X86_AP_WAIT_SIPI, __ATOMIC_RELEASE);
		vlapic_kick(v);
		return;
	}
	if (!__atomic_compare_exchange_n(&v->arch.ap_state, &waiting, X86_AP_CLAIMED, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	v->arch.sipi_vector = icr & 0xff;
	__atomic_store_n(&v->arch.ap_state, X86_AP_SIPI, __ATOMIC_RELEASE);
	vlapic_kick(v);
}

void vlapic_deliver_dest(struct x86_vplat *plat, u32 dest, bool logical, u32 mode, u8 vector,
			 bool level)
{
	struct partition *part = plat->part;

	for (u32 i = 0; i < part->vcpu_count; i++) {
		struct vlapic *l = &plat->lapic[i];

		if (!vlapic_match(l, dest, logical, l->apic_base & MSR_APIC_BASE_EXTD))
			continue;
		vlapic_deliver(l, vector, level);
		if (mode == DM_LOWEST)
			return;
	}
}

static void vlapic_icr_write(struct vlapic *src, u32 lo, u32 dest, bool x2)
{
	struct x86_vplat *plat = vlapic_plat(src->vcpu);
	struct partition *part = src->vcpu->part;
	u32 mode = ICR_DM(lo), sh = ICR_SHORTHAND(lo);

	if (mode == DM_INIT && !(lo & ICR_ASSERT) && (lo & ICR_LEVEL))
		return; /* INIT level de-assert: nothing on modern APICs */
	for (u32 i = 0; i < part->vcpu_count; i++) {
		struct vlapic *l = &plat->lapic[i];
		bool hit;

		if (sh == 1)
			hit = l == src;
		else if (sh == 2)
			hit = true;
		else if (sh == 3)
			hit = l != src;
		else
			hit = vlapic_match(l, dest, lo & ICR_LOGICAL, x2);
		if (!hit)
			continue;
		if (mode == DM_FIXED || mode == DM_LOWEST)
			vlapic_deliver(l, (u8)lo, false);
		else if ((mode == DM_INIT || mode == DM_SIPI) && l != src)
			vlapic_start_ap(l, mode, lo);
		else if (mode == DM_NMI)
			vlapic_deliver_nmi(l);
		/* SMI IPIs are ignored: a microVM has no SMM (docs/x86_64-microvm.md). */
		if (mode == DM_LOWEST && sh == 0)
			return;
	}
}

/* ---- Registers ------------------------------------------------------------ */

static u32 vlapic_read_reg(struct vlapic *l, u32 off, bool x2)
{
	if (off >= LAPIC_ISR && off < LAPIC_ISR + 0x80)
		return l->isr[(off - LAPIC_ISR) / 16];
	if (off >= LAPIC_TMR && off < LAPIC_TMR + 0x80)
		return __atomic_load_n(&l->tmr[(off - LAPIC_TMR) / 16], __ATOMIC_RELAXED);
	if (off >= LAPIC_IRR && off < LAPIC_IRR + 0x80)
		return __atomic_load_n(&l->irr[(off - LAPIC_IRR) / 16], __ATOMIC_RELAXED);
	if (off >= LAPIC_LVT_TIMER && off <= LAPIC_LVT_ERROR)
		return l->lvt[1 + (off - LAPIC_LVT_TIMER) / 16];
	switch (off) {
	case LAPIC_ID:
		return x2 ? l->id : l->id << 24;
	case LAPIC_VER:
		return LAPIC_VERSION;
	case LAPIC_TPR:
		return l->tpr;
	case LAPIC_PPR:
		return vlapic_ppr(l);
	case LAPIC_LDR:
		return vlapic_ldr(l, x2);
	case LAPIC_DFR:
		return l->dfr;
	case LAPIC_SVR:
		return l->svr;
	case LAPIC_ESR:
		return l->esr;
	case LAPIC_LVT_CMCI:
		return l->lvt[0];
	case LAPIC_ICR_HI:
		return l->icr_hi;
	case LAPIC_TIMER_ICR:
		return l->timer_icr;
	case LAPIC_TIMER_CCR:
		return vlapic_timer_ccr(l);
	case LAPIC_TIMER_DCR:
		return l->timer_dcr;
	default:
		return 0; /* APR, ICR low (never busy), reserved */
	}
}

static const u32 vlapic_lvt_mask[7] = {
	0x117ff, 0x700ff, 0x117ff, 0x117ff, 0x1f7ff, 0x1f7ff, 0x110ff,
};

static void vlapic_write_reg(struct vlapic *l, u32 off, u32 val, bool x2)
{
	switch (off) {
	case LAPIC_ID:
		if (!x2)
			l->id = val >> 24; /* Linux never moves it; allowed as on hardware */
		break;
	case LAPIC_TPR:
		l->tpr = val & 0xff;
		break;
	case LAPIC_EOI:
		vlapic_eoi(l);
		break;
	case LAPIC_LDR:
		if (!x2)
			l->ldr = val & 0xff000000u;
		break;
	case LAPIC_DFR:
		if (!x2)
			l->dfr = val | 0x0fffffffu;
		break;
	case LAPIC_SVR:
		l->svr = val & 0x1ff;
		if (!(val & LAPIC_SVR_ENABLE)) {
			for (u32 i = 0; i < 7; i++)
				l->lvt[i] |= LVT_MASKED;
		}
		break;
	case LAPIC_ESR:
		l->esr = 0;
		break;
	case LAPIC_LVT_CMCI:
		l->lvt[0] = val & vlapic_lvt_mask[0];
		break;
	case LAPIC_ICR_HI:
		if (!x2)
			l->icr_hi = val & 0xff000000u;
		break;
	case LAPIC_ICR_LO:
		vlapic_icr_write(l, val, l->icr_hi >> 24, false);
		break;
	case LAPIC_LVT_TIMER:
		vlapic_lvt_timer_write(l, val);
		break;
	case LAPIC_TIMER_ICR:
		if (LVT_TIMER_MODE(l->lvt[LVT_TIMER]) == LVT_TIMER_TSC_DEADLINE)
			break;
		l->timer_icr = val;
		vlapic_timer_start(l);
		break;
	case LAPIC_TIMER_DCR:
		l->timer_dcr = val & 0xb;
		break;
	case LAPIC_SELF_IPI:
		if (x2)
			vlapic_deliver(l, (u8)val, false);
		break;
	default:
		if (off > LAPIC_LVT_TIMER && off <= LAPIC_LVT_ERROR) {
			u32 i = 1 + (off - LAPIC_LVT_TIMER) / 16;

			l->lvt[i] = val & vlapic_lvt_mask[i];
			if (!(l->svr & LAPIC_SVR_ENABLE))
				l->lvt[i] |= LVT_MASKED;
		}
		break; /* read-only and reserved registers ignore writes */
	}
}

/* xAPIC MMIO: 32-bit accesses to the first dword of each 16-byte register. */
static int vlapic_mmio_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val)
{
	struct vlapic *l = vlapic_of(vcpu);

	*val = 0;
	if (!vlapic_hw_enabled(l) || vlapic_x2apic_mode(vcpu) || (off & 15) + size > 4)
		return 0;
	*val = vlapic_read_reg(l, (u32)off & ~15u, false) >> ((off & 3) * 8);
	return 0;
}

static int vlapic_mmio_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	struct vlapic *l = vlapic_of(vcpu);

	if (!vlapic_hw_enabled(l) || vlapic_x2apic_mode(vcpu) || (off & 15) || size != 4)
		return 0; /* as hardware: odd accesses go nowhere */
	vlapic_write_reg(l, (u32)off, (u32)val, false);
	return 0;
}

static int vlapic_apic_base_write(struct vlapic *l, u64 val)
{
	u64 keep = MSR_APIC_BASE_EN | MSR_APIC_BASE_EXTD;
	u64 bsp = l->apic_base & BIT(8);

	/* The window stays where the ACPI tables say; EXTD without EN is invalid. */
	if ((val & ~(keep | BIT(8))) != VPLAT_LAPIC_BASE ||
	    ((val & MSR_APIC_BASE_EXTD) && !(val & MSR_APIC_BASE_EN)))
		return -KEEL_EINVAL;
	/* x2APIC -> xAPIC directly is illegal (SDM 10.12.5). */
	if ((l->apic_base & MSR_APIC_BASE_EXTD) && !(val & MSR_APIC_BASE_EXTD) &&
	    (val & MSR_APIC_BASE_EN))
		return -KEEL_EINVAL;
	l->apic_base = VPLAT_LAPIC_BASE | bsp | (val & keep);
	return 0;
}

int vlapic_msr_read(struct vcpu *vcpu, u32 msr, u64 *val)
{
	struct vlapic *l = vlapic_of(vcpu);
	u32 off = (msr - MSR_X2APIC_FIRST) * 16;

	if (msr == MSR_APIC_BASE) {
		*val = l->apic_base;
		return 0;
	}
	if (msr == MSR_TSC_DEADLINE) {
		*val = l->tsc_deadline;
		return 0;
	}
	if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST || !vlapic_x2apic_mode(vcpu) ||
	    off == LAPIC_EOI || off == LAPIC_SELF_IPI || off == LAPIC_DFR || off == LAPIC_ICR_HI)
		return -KEEL_EINVAL;
	*val = vlapic_read_reg(l, off, true);
	if (off == LAPIC_ICR_LO)
		*val |= (u64)l->icr_hi << 32;
	return 0;
}

int vlapic_msr_write(struct vcpu *vcpu, u32 msr, u64 val)
{
	struct vlapic *l = vlapic_of(vcpu);
	u32 off = (msr - MSR_X2APIC_FIRST) * 16;

	if (msr == MSR_APIC_BASE)
		return vlapic_apic_base_write(l, val);
	if (msr == MSR_TSC_DEADLINE) {
		vlapic_tsc_deadline(l, val);
		return 0;
	}
	if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST || !vlapic_x2apic_mode(vcpu))
		return -KEEL_EINVAL;
	switch (off) {
	case LAPIC_ICR_LO:
		l->icr_hi = (u32)(val >> 32);
		vlapic_icr_write(l, (u32)val, l->icr_hi, true);
		return 0;
	case LAPIC_TPR:
	case LAPIC_EOI:
	case LAPIC_SVR:
	case LAPIC_ESR:
	case LAPIC_LVT_CMCI:
	case LAPIC_TIMER_ICR:
	case LAPIC_TIMER_DCR:
	case LAPIC_SELF_IPI:
		break;
	default:
		if (off >= LAPIC_LVT_TIMER && off <= LAPIC_LVT_ERROR)
			break;
		return -KEEL_EINVAL; /* read-only or absent in x2APIC mode */
	}
	if (val >> 32)
		return -KEEL_EINVAL;
	vlapic_write_reg(l, off, (u32)val, true);
	return 0;
}

/* Power-on state (also INIT): on the vCPU's own CPU, its timer stopped. */
void vlapic_reset(struct vcpu *vcpu)
{
	struct vlapic *l = vlapic_of(vcpu);

	if (!l)
		return;
	vlapic_stop(vcpu);
	memset(l->irr, 0, sizeof(l->irr));
	memset(l->isr, 0, sizeof(l->isr));
	memset(l->tmr, 0, sizeof(l->tmr));
	l->tpr = l->ldr = l->esr = l->icr_hi = 0;
	__atomic_store_n(&l->nmi_pending, 0, __ATOMIC_RELEASE);
	l->dfr = 0xffffffffu;
	l->svr = 0xff;
	for (u32 i = 0; i < 7; i++)
		l->lvt[i] = LVT_MASKED;
	l->timer_icr = l->timer_dcr = 0;
	l->timer_period_ns = l->tsc_deadline = 0;
	l->overdue_said = 0;
	l->apic_base = VPLAT_LAPIC_BASE | MSR_APIC_BASE_EN | (vcpu->index == 0 ? BIT(8) : 0);
}

void vlapic_stop(struct vcpu *vcpu)
{
	struct vlapic *l = vlapic_of(vcpu);

	if (l && l->timer.armed)
		timer_cancel(&l->timer);
}

#define VLAPIC_OVERDUE_NS 1000000000ull

void arch_vcpu_halt_audit(struct vcpu *vcpu)
{
	struct vlapic *l = vlapic_of(vcpu);
	u32 lvt = 0, ccr = 0;
	u64 now;

	if (!l || !l->timer.armed || l->overdue_said)
		return;
	now = arch_time_ns();
	if (now - l->timer.deadline_ns < VLAPIC_OVERDUE_NS || now < l->timer.deadline_ns)
		return;
	l->overdue_said = 1;
	x86_lapic_timer_state(&lvt, &ccr);
	pr_err("partition '%s': vCPU %u's LAPIC timer is %llu ms overdue on cpu %u (armed on cpu "
	       "%u, %s its list; host LAPIC timer lvt 0x%x count %u): a wake-up Keel lost; "
	       "guest lvt 0x%x, irr[7] 0x%x, isr[7] 0x%x, ppr 0x%x",
	       vcpu->part->desc.h.name, vcpu->index,
	       (unsigned long long)((now - l->timer.deadline_ns) / 1000000), pcpu_this()->id,
	       l->timer.cpu,
	       l->timer.cpu == pcpu_this()->id && timer_listed(&l->timer) ? "in" : "not in", lvt,
	       ccr, l->lvt[LVT_TIMER], l->irr[7], l->isr[7], vlapic_ppr(l));
}

/*
 * keel/arch.h. Waiting: a vector in the IRR above the guest's TPR while the
 * vCPU has interrupts enabled (RFLAGS.IF at its last exit; a vCPU that sets
 * IF with a vector waiting exits at once for it, through VINTR) and is not
 * held by INIT. A vector held back by one in service counts: an ISR bit Keel
 * set for an injection the guest never saw is one of the losses watched for.
 */
bool arch_vcpu_irq_waiting(struct vcpu *vcpu, u64 *taken)
{
	struct vlapic *l = vlapic_of(vcpu);
	int irr;

	if (!l)
		return false;
	*taken = __atomic_load_n(&l->taken, __ATOMIC_RELAXED);
	if (__atomic_load_n(&vcpu->arch.ap_state, __ATOMIC_ACQUIRE) != X86_AP_RUN ||
	    !vlapic_hw_enabled(l) || !(READ_ONCE(l->svr) & LAPIC_SVR_ENABLE) ||
	    !(READ_ONCE(vcpu->arch.rflags) & X86_RFLAGS_IF))
		return false;
	irr = vlapic_highest(l->irr);
	return irr >= 16 && ((u32)irr & 0xf0) > (READ_ONCE(l->tpr) & 0xf0);
}

bool arch_vcpu_timer_armed(struct vcpu *vcpu, u64 *deadline_ns)
{
	struct vlapic *l = vlapic_of(vcpu);

	if (!l || !READ_ONCE(l->timer.armed))
		return false;
	*deadline_ns = READ_ONCE(l->timer.deadline_ns);
	return true;
}

void arch_vcpu_irq_describe(struct vcpu *vcpu, char *buf, u32 len)
{
	struct vlapic *l = vlapic_of(vcpu);

	if (!l) {
		snprintf(buf, len, "no LAPIC");
		return;
	}
	snprintf(buf, len,
		 "last exit at rip 0x%llx, rflags 0x%llx, highest irr 0x%x isr 0x%x, ppr 0x%x, "
		 "timer lvt 0x%x %s, nmi pending %u masked %u step %u, last entry injected 0x%llx",
		 (unsigned long long)READ_ONCE(vcpu->arch.rip),
		 (unsigned long long)READ_ONCE(vcpu->arch.rflags), vlapic_highest(l->irr) & 0xff,
		 vlapic_highest(l->isr) & 0xff, vlapic_ppr(l), READ_ONCE(l->lvt[LVT_TIMER]),
		 READ_ONCE(l->timer.armed) ? "armed" : "idle", READ_ONCE(l->nmi_pending),
		 READ_ONCE(vcpu->arch.nmi_masked), READ_ONCE(vcpu->arch.nmi_step),
		 (unsigned long long)READ_ONCE(vcpu->arch.entry_event));
}

/*
 * Snapshots of one vCPU's LAPIC. The LAPIC's window is one vdev for every
 * vCPU and its timer runs on the vCPU's own CPU, so these are per vCPU, with
 * the vdev contract: on the vCPU's own CPU, the vCPU not running. The timer
 * goes as time relative to the save (since its count started, or to its TSC
 * deadline), so a restore at any later moment re-arms it as far from "now".
 * Restoring delivers nothing: pending vectors wait in the IRR, and a timer
 * that was due fires when the CPU next runs its timers.
 */
#define VLAPIC_STATE_MAGIC 0x3150414cu /* "LAP1" */
struct vlapic_state {
	u32 magic;
	u32 id;
	u32 irr[8], isr[8], tmr[8];
	u32 tpr, svr, ldr, dfr, esr, icr_hi;
	u32 lvt[7];
	u32 timer_icr, timer_dcr;
	u32 timer_armed, nmi_pending, pad;
	u64 apic_base;
	u64 timer_period_ns; /* the count's length as started: ICR times the divisor then */
	u64 timer_elapsed_ns; /* since the count started (one-shot, periodic); may be < 0 */
	u64 timer_left_ns; /* to the TSC deadline while armed; 0 if due */
	u64 tsc_deadline; /* IA32_TSC_DEADLINE as the guest reads it */
};
_Static_assert(sizeof(struct vlapic_state) == 216, "LAPIC snapshot layout (fuzz_x86_plat)");

/* Time to the next expiry of a one-shot/periodic count @elapsed_ns into @period. */
static u64 vlapic_timer_left(u64 elapsed, u64 period)
{
	if ((s64)elapsed < 0)
		return period - elapsed; /* a periodic count started ahead (VPLAT_MIN_PERIOD_NS) */
	return elapsed < period ? period - elapsed : 0;
}

int vlapic_save(const struct vlapic *l, void *buf, u32 len)
{
	struct vlapic_state st = { .magic = VLAPIC_STATE_MAGIC };
	bool deadline = LVT_TIMER_MODE(l->lvt[LVT_TIMER]) == LVT_TIMER_TSC_DEADLINE;
	u64 now = arch_time_ns();

	if (len < sizeof(st))
		return -KEEL_E2BIG;
	st.id = l->id;
	for (u32 i = 0; i < 8; i++) {
		st.irr[i] = __atomic_load_n(&l->irr[i], __ATOMIC_ACQUIRE);
		st.tmr[i] = __atomic_load_n(&l->tmr[i], __ATOMIC_ACQUIRE);
		st.isr[i] = l->isr[i];
	}
	st.tpr = l->tpr;
	st.svr = l->svr;
	st.ldr = l->ldr;
	st.dfr = l->dfr;
	st.esr = __atomic_load_n(&l->esr, __ATOMIC_RELAXED);
	st.icr_hi = l->icr_hi;
	memcpy(st.lvt, l->lvt, sizeof(st.lvt));
	st.timer_icr = l->timer_icr;
	st.timer_dcr = l->timer_dcr;
	st.timer_armed = l->timer.armed ? 1 : 0;
	st.nmi_pending = __atomic_load_n(&l->nmi_pending, __ATOMIC_ACQUIRE);
	st.apic_base = l->apic_base;
	st.timer_period_ns = l->timer_period_ns;
	if (!deadline && l->timer_period_ns)
		st.timer_elapsed_ns = now - l->timer_start_ns;
	if (deadline && l->timer.armed && l->timer.deadline_ns > now)
		st.timer_left_ns = l->timer.deadline_ns - now;
	st.tsc_deadline = l->tsc_deadline;
	memcpy(buf, &st, sizeof(st));
	return (int)sizeof(st);
}

/* At most one vector in service per priority class: each was taken above the last. */
static bool vlapic_isr_ok(const u32 *isr)
{
	for (u32 i = 0; i < 8; i++) {
		u32 lo = isr[i] & 0xffff, hi = isr[i] >> 16;

		if ((lo & (lo - 1)) || (hi & (hi - 1)))
			return false;
	}
	return true;
}

/*
 * The timer as the model could have left it. TSC-deadline mode ignores ICR
 * writes and is armed exactly while a deadline is set. Otherwise a count of
 * ICR times one of the eight divisors (none if ICR is 0) started no later
 * than now: one periodic short of VPLAT_MIN_PERIOD_NS may start its next
 * period up to that much ahead.
 */
static bool vlapic_timer_ok(const struct vlapic_state *st, u64 now)
{
	u32 mode = LVT_TIMER_MODE(st->lvt[LVT_TIMER]);
	s64 elapsed = (s64)st->timer_elapsed_ns;
	u64 period = st->timer_period_ns;
	bool divided = false;

	if (mode == LVT_TIMER_TSC_DEADLINE)
		return !st->timer_icr && !period && !elapsed &&
		       st->timer_armed == (st->tsc_deadline != 0) &&
		       (st->timer_armed || !st->timer_left_ns) && st->timer_left_ns <= ~0ull - now;
	if (st->timer_left_ns)
		return false;
	if (!st->timer_icr)
		return !period && !elapsed && !st->timer_armed;
	for (u32 k = 0; k < 8; k++)
		divided |= period == (u64)st->timer_icr << k;
	if (!divided)
		return false;
	if (elapsed >= 0)
		return true;
	return mode == LVT_TIMER_PERIODIC && period < VPLAT_MIN_PERIOD_NS &&
	       0 - st->timer_elapsed_ns <= VPLAT_MIN_PERIOD_NS - period;
}

/*
 * As the model could have made them: an 8-bit ID, the window where the ACPI
 * tables put it with the BSP bit of this vCPU and x2APIC only when enabled;
 * no vector under 16 requested, in service or level-triggered; the bits
 * each register's write keeps (TPR 8, SVR 9, LDR 8 at the top, DFR's low 28
 * set, ESR only "received illegal vector", each LVT its mask, the timer not
 * in the reserved mode, DCR one of its eight divisors); with the APIC
 * software-disabled, the LVTs its writes mask are masked; flags 0 or 1.
 */
static bool vlapic_state_ok(const struct vlapic *l, const struct vlapic_state *st, u64 now)
{
	u64 base = VPLAT_LAPIC_BASE | (l->vcpu->index == 0 ? BIT(8) : 0);
	u64 modes = st->apic_base & (MSR_APIC_BASE_EN | MSR_APIC_BASE_EXTD);

	if (st->magic != VLAPIC_STATE_MAGIC || st->id > 0xff || st->pad ||
	    (st->apic_base & ~(MSR_APIC_BASE_EN | MSR_APIC_BASE_EXTD)) != base ||
	    modes == MSR_APIC_BASE_EXTD || st->timer_armed > 1 || st->nmi_pending > 1)
		return false;
	if (((st->irr[0] | st->isr[0] | st->tmr[0]) & 0xffff) || !vlapic_isr_ok(st->isr))
		return false;
	if (st->tpr > 0xff || st->svr > 0x1ff || (st->ldr & 0x00ffffffu) ||
	    (st->dfr & 0x0fffffffu) != 0x0fffffffu || (st->esr & ~BIT(6)) ||
	    (st->timer_dcr & ~0xbu))
		return false;
	for (u32 i = 0; i < 7; i++) {
		if ((st->lvt[i] & ~vlapic_lvt_mask[i]) ||
		    (i >= 2 && !(st->svr & LAPIC_SVR_ENABLE) && !(st->lvt[i] & LVT_MASKED)))
			return false;
	}
	return LVT_TIMER_MODE(st->lvt[LVT_TIMER]) != 3 && vlapic_timer_ok(st, now);
}

int vlapic_restore(struct vlapic *l, const void *buf, u32 len)
{
	struct vlapic_state st;
	u64 now = arch_time_ns();

	if (len == sizeof(st))
		memcpy(&st, buf, sizeof(st));
	if (len != sizeof(st) || !vlapic_state_ok(l, &st, now)) {
		vlapic_reset(l->vcpu);
		return -KEEL_EINVAL;
	}
	timer_cancel(&l->timer);
	l->id = st.id;
	for (u32 i = 0; i < 8; i++) {
		__atomic_store_n(&l->irr[i], st.irr[i], __ATOMIC_RELEASE);
		__atomic_store_n(&l->tmr[i], st.tmr[i], __ATOMIC_RELEASE);
		l->isr[i] = st.isr[i];
	}
	l->tpr = st.tpr;
	l->svr = st.svr;
	l->ldr = st.ldr;
	l->dfr = st.dfr;
	__atomic_store_n(&l->esr, st.esr, __ATOMIC_RELAXED);
	l->icr_hi = st.icr_hi;
	memcpy(l->lvt, st.lvt, sizeof(l->lvt));
	l->timer_icr = st.timer_icr;
	l->timer_dcr = st.timer_dcr;
	__atomic_store_n(&l->nmi_pending, st.nmi_pending, __ATOMIC_RELEASE);
	l->apic_base = st.apic_base;
	l->timer_period_ns = st.timer_period_ns;
	l->timer_start_ns = now - st.timer_elapsed_ns;
	l->tsc_deadline = st.tsc_deadline;
	if (!st.timer_armed)
		return 0;
	if (LVT_TIMER_MODE(l->lvt[LVT_TIMER]) == LVT_TIMER_TSC_DEADLINE)
		timer_arm(&l->timer, now + st.timer_left_ns);
	else
		timer_arm(&l->timer,
			  now + vlapic_timer_left(st.timer_elapsed_ns, l->timer_period_ns));
	return 0;
}

static const struct vdev_ops vlapic_ops = {
	.read = vlapic_mmio_read,
	.write = vlapic_mmio_write,
};

int vlapic_create(struct x86_vplat *plat)
{
	struct partition *part = plat->part;

	for (u32 i = 0; i < part->vcpu_count; i++) {
		struct vlapic *l = &plat->lapic[i];

		l->vcpu = part->vcpus[i];
		l->id = i;
		l->timer.fn = vlapic_timer_fire;
		l->timer.data = l;
		part->vcpus[i]->arch.lapic = l;
		/* Registers get their values at the vCPU's first reset. */
		l->apic_base = VPLAT_LAPIC_BASE | MSR_APIC_BASE_EN | (i == 0 ? BIT(8) : 0);
		l->svr = 0xff;
		l->dfr = 0xffffffffu;
	}
	return vplat_add(plat, VPLAT_DEV_LAPIC, "lapic", VDEV_MMIO, VPLAT_LAPIC_BASE, PAGE_SIZE,
			 &vlapic_ops);
}
