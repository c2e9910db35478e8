/* SPDX-License-Identifier: MIT */
/* Ticket spinlocks (fair, FIFO) built on compiler atomics; same code on every arch. */
#ifndef KEEL_SPINLOCK_H
#define KEEL_SPINLOCK_H

#include <arch/types.h>
#include <keel/types.h>

struct spinlock {
	u16 next;
	u16 owner;
} __attribute__((aligned(4)));

#define SPINLOCK_INIT \
	{             \
		0, 0  \
	}

static inline void spin_lock(struct spinlock *l)
{
	u16 ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);

	while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != ticket)
		arch_cpu_relax();
}

/* Take the lock only if it is free now (no ticket is drawn otherwise). */
static inline bool spin_trylock(struct spinlock *l)
{
	u32 *word = (u32 *)l; /* next in the low half, owner in the high half */
	u32 old = __atomic_load_n(word, __ATOMIC_RELAXED);
	u16 next = (u16)old, owner = (u16)(old >> 16);

	if (next != owner)
		return false;
	return __atomic_compare_exchange_n(word, &old, (u32)(u16)(next + 1) | (u32)owner << 16,
					   false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void spin_unlock(struct spinlock *l)
{
	__atomic_store_n(&l->owner, (u16)(l->owner + 1), __ATOMIC_RELEASE);
}

/* Lock with interrupts off on this CPU; returns the state to restore. */
static inline unsigned long spin_lock_irqsave(struct spinlock *l)
{
	unsigned long flags = arch_irq_save();

	spin_lock(l);
	return flags;
}

static inline void spin_unlock_irqrestore(struct spinlock *l, unsigned long flags)
{
	spin_unlock(l);
	arch_irq_restore(flags);
}

#endif /* KEEL_SPINLOCK_H */
