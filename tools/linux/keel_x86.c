// SPDX-License-Identifier: MIT OR GPL-2.0
/* keel.ko on x86_64: VMCALL/VMMCALL, detected through CPUID 0x40000000. */
#include <asm/cpufeature.h>
#include <asm/processor.h>

#include "keel_conduit.h"
#include "keel_dev.h"

static bool keel_use_vmmcall;

/* VMMCALL on AMD, VMCALL on Intel (Keel takes either; the native one is cheaper). */
void keel_hypercall(u64 nr, u64 a0, u64 a1, u64 a2, struct keel_hc_result *res)
{
	register u64 r10 asm("r10") = 0;
	register u64 r8 asm("r8") = 0;
	register u64 r9 asm("r9") = 0;
	u64 rax = nr, rdi = a0, rsi = a1, rdx = a2;

	if (keel_use_vmmcall)
		asm volatile("vmmcall"
			     : "+a"(rax), "+D"(rdi), "+S"(rsi), "+d"(rdx)
			     : "r"(r10), "r"(r8), "r"(r9)
			     : "memory");
	else
		asm volatile("vmcall"
			     : "+a"(rax), "+D"(rdi), "+S"(rsi), "+d"(rdx)
			     : "r"(r10), "r"(r8), "r"(r9)
			     : "memory");
	res->status = (long)rax;
	res->r[0] = rdi;
	res->r[1] = rsi;
	res->r[2] = rdx;
}

/* Keel answers CPUID 0x40000000 with "KeelKeelKeel". */
bool keel_detect(void)
{
	unsigned int eax, ebx, ecx, edx;

	if (!boot_cpu_has(X86_FEATURE_HYPERVISOR))
		return false;
	cpuid(0x40000000, &eax, &ebx, &ecx, &edx);
	if (ebx != 0x6c65654b || ecx != 0x6c65654b || edx != 0x6c65654b)
		return false;
	keel_use_vmmcall = boot_cpu_data.x86_vendor == X86_VENDOR_AMD ||
			   boot_cpu_data.x86_vendor == X86_VENDOR_HYGON;
	return true;
}
