/* SPDX-License-Identifier: MIT */
/*
 * x86_64 test-guest exceptions and ring 3: an IDT whose stubs (traps.S) call
 * the test's handler, a GDT with user segments and a TSS, and the guest's
 * own page tables opened to ring 3.
 */
#include "guest.h"

/* As traps.S pushes it. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

struct tss64 {
	uint32_t rsvd0;
	uint64_t rsp0, rsp1, rsp2;
	uint64_t rsvd1;
	uint64_t ist[7];
	uint64_t rsvd2;
	uint16_t rsvd3, iomap;
} __attribute__((packed));

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

extern char trap_vec_0[], trap_vec_1[], trap_vec_2[], trap_vec_3[], trap_vec_4[],
	trap_vec_5[], trap_vec_6[], trap_vec_7[], trap_vec_8[], trap_vec_9[], trap_vec_10[],
	trap_vec_11[], trap_vec_12[], trap_vec_13[], trap_vec_14[], trap_vec_15[],
	trap_vec_16[], trap_vec_17[], trap_vec_18[], trap_vec_19[], trap_vec_20[],
	trap_vec_21[], trap_vec_22[], trap_vec_23[], trap_vec_24[], trap_vec_25[],
	trap_vec_26[], trap_vec_27[], trap_vec_28[], trap_vec_29[], trap_vec_30[],
	trap_vec_31[], trap_vec_32[], trap_vec_128[];

static char *const stubs[32] = {
	trap_vec_0,  trap_vec_1,  trap_vec_2,  trap_vec_3,  trap_vec_4,	 trap_vec_5,  trap_vec_6,
	trap_vec_7,  trap_vec_8,  trap_vec_9,  trap_vec_10, trap_vec_11, trap_vec_12, trap_vec_13,
	trap_vec_14, trap_vec_15, trap_vec_16, trap_vec_17, trap_vec_18, trap_vec_19, trap_vec_20,
	trap_vec_21, trap_vec_22, trap_vec_23, trap_vec_24, trap_vec_25, trap_vec_26, trap_vec_27,
	trap_vec_28, trap_vec_29, trap_vec_30, trap_vec_31,
};

static uint64_t idt[256][2] __attribute__((aligned(16)));
/* null, kernel code 0x08, kernel data 0x10, user data 0x18, user code 0x20, TSS 0x28 */
static uint64_t gdt[8] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
static uint8_t ring0_stack[8192] __attribute__((aligned(16)));
static uint8_t db_stack[4096] __attribute__((aligned(16)));
static bool (*handler)(struct trap *t);

uint64_t trap_run_user(void (*fn)(void), uint64_t user_stack_top);
int trap_dispatch(struct trap_frame *f);

/* An interrupt gate to @fn in ring 0, reachable from ring @dpl, on IST stack @ist (0: none). */
static void idt_gate(unsigned int vec, void *fn, unsigned int dpl, unsigned int ist)
{
	uint64_t a = (uintptr_t)fn;

	idt[vec][0] = (a & 0xffff) | (0x08ull << 16) | ((uint64_t)ist << 32) |
		      ((0x8eull | (uint64_t)dpl << 5) << 40) | ((a >> 16) & 0xffff) << 48;
	idt[vec][1] = a >> 32;
}

static void gdt_load(void)
{
	uint64_t t = (uintptr_t)&tss;
	struct desc_ptr p = { sizeof(gdt) - 1, (uintptr_t)gdt };

	gdt[1] = 0x00af9b000000ffffull; /* 64-bit code, DPL 0 */
	gdt[2] = 0x00cf93000000ffffull; /* data, DPL 0 */
	gdt[3] = 0x00cff3000000ffffull; /* data, DPL 3 */
	gdt[4] = 0x00affb000000ffffull; /* 64-bit code, DPL 3 */
	gdt[5] = (sizeof(tss) - 1) | (t & 0xffffff) << 16 | 0x89ull << 40 | ((t >> 24) & 0xff) << 56;
	gdt[6] = t >> 32;
	tss.rsp0 = (uintptr_t)ring0_stack + sizeof(ring0_stack);
	tss.ist[0] = (uintptr_t)db_stack + sizeof(db_stack);
	tss.iomap = sizeof(tss);
	/* Reload CS through a far return; the data selectors directly; then TR. */
	__asm__ volatile("lgdt %0\n\t"
			 "pushq $0x08\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\tmovw $0x10, %%ax\n\t"
			 "movw %%ax, %%ds; movw %%ax, %%es; movw %%ax, %%ss\n\t"
			 "movw $0x28, %%ax\n\t"
			 "ltr %%ax"
			 :
			 : "m"(p)
			 : "rax", "memory");
}

void trap_install(bool (*fn)(struct trap *t))
{
	struct desc_ptr p = { sizeof(idt) - 1, (uintptr_t)idt };
	unsigned int i;

	handler = fn;
	gdt_load();
	for (i = 0; i < 256; i++)
		idt_gate(i, i < 32 ? stubs[i] : trap_vec_32, 0, 0);
	/* #DB on its own stack: a #DB raised by its own delivery does not pile up. */
	idt_gate(1, stubs[1], 0, 1);
	idt_gate(0x80, trap_vec_128, 3, 0);
	__asm__ volatile("lidt %0" ::"m"(p));
}

int trap_dispatch(struct trap_frame *f)
{
	struct trap t = { .vector = f->vector, .code = f->error, .pc = f->rip,
			  .user = (f->cs & 3) != 0 };

	if (f->vector == 0x80 && t.user)
		return 1; /* back to trap_run_user's caller */
	if (f->vector == 14)
		__asm__ volatile("mov %%cr2, %0" : "=r"(t.addr));
	if (handler && handler(&t)) {
		f->rip = t.pc;
		return t.leave_user && t.user;
	}
	printf("trap: unexpected vector %lu error 0x%lx at rip 0x%lx (cs 0x%lx)\n", f->vector,
	       f->error, f->rip, f->cs);
	guest_shutdown();
}

#define PTE_P 1ull
#define PTE_U 4ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull

/* Set U in every present entry on the walk to the first GiBs Keel mapped for us. */
static void open_to_ring3(void)
{
	uint64_t cr3, *pml4;
	unsigned int i, j, k;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	pml4 = (uint64_t *)(uintptr_t)(cr3 & PTE_ADDR);
	for (i = 0; i < 512; i++) {
		uint64_t *pdpt;

		if (!(pml4[i] & PTE_P))
			continue;
		pml4[i] |= PTE_U;
		pdpt = (uint64_t *)(uintptr_t)(pml4[i] & PTE_ADDR);
		for (j = 0; j < 512; j++) {
			uint64_t *pd;

			if (!(pdpt[j] & PTE_P))
				continue;
			pdpt[j] |= PTE_U;
			if (pdpt[j] & PTE_PS)
				continue;
			pd = (uint64_t *)(uintptr_t)(pdpt[j] & PTE_ADDR);
			for (k = 0; k < 512; k++)
				if (pd[k] & PTE_P)
					pd[k] |= PTE_U;
		}
	}
	__asm__ volatile("mov %0, %%cr3" ::"r"(cr3) : "memory");
}

static uint8_t user_stack[16384] __attribute__((aligned(16)));

void trap_user(void (*fn)(void))
{
	static bool opened;

	if (!opened) {
		open_to_ring3();
		opened = true;
	}
	trap_run_user(fn, (uintptr_t)user_stack + sizeof(user_stack));
}

/* The end of a user-mode function: back to ring 0. */
void trap_user_return(void)
{
	__asm__ volatile("int $0x80");
	__builtin_unreachable();
}
