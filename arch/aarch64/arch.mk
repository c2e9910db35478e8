# SPDX-License-Identifier: MIT
# aarch64 toolchain and flags (Debian's cross gcc, picolibc and the arm64
# gnu-efi / libfdt packages that tools/deps.sh unpacks into $(KEEL_CACHE)).
CC := aarch64-linux-gnu-gcc
LD := aarch64-linux-gnu-ld
OBJCOPY := aarch64-linux-gnu-objcopy
READELF := aarch64-linux-gnu-readelf
PICOLIBC := /usr/lib/picolibc/aarch64-linux-gnu
AA64_SYSROOT := $(KEEL_CACHE)/sysroot-aarch64
# -mno-outline-atomics: atomics inline as LL/SC loops, which every ARMv8.0
# CPU runs, rather than a call that picks LSE at run time (20 instructions
# for each lock on the exit path).
CORE_ARCH_CFLAGS := -mgeneral-regs-only -mstrict-align -march=armv8-a -mno-outline-atomics
CORE_LIBC_SRCS := core/lib/strlcpy.c
CORE_LIBC_INC := -isystem $(PICOLIBC)/include -isystem $(AA64_SYSROOT)/usr/include
CORE_LIBS := $(AA64_SYSROOT)/usr/lib/aarch64-linux-gnu/libfdt.a $(PICOLIBC)/lib/libc.a \
	$(shell $(CC) -print-libgcc-file-name)

EFI_INC := $(AA64_SYSROOT)/usr/include/efi
EFI_LIB := $(AA64_SYSROOT)/usr/lib
EFI_CRT0 := $(EFI_LIB)/crt0-efi-aarch64.o
EFI_LDS := $(EFI_LIB)/elf_aarch64_efi.lds
EFI_CFLAGS := -I$(EFI_INC) -I$(EFI_INC)/aarch64 -fpic -fshort-wchar -mgeneral-regs-only \
	-fno-jump-tables -mstrict-align
EFI_LDFLAGS := --defsym=EFI_SUBSYSTEM=0xa
EFI_OBJCOPY_FMT := -O binary
EFI_NAME := BOOTAA64.EFI
ELF_MACHINE := 183
