# SPDX-License-Identifier: MIT
# x86_64 toolchain and flags (native gcc; no picolibc in Debian for x86_64, so
# the core links the small libc subset in core/lib/).
CC := gcc
LD := ld
OBJCOPY := objcopy
READELF := readelf
CORE_ARCH_CFLAGS := -m64 -mno-red-zone -mgeneral-regs-only -mcmodel=small
# Retpolines: no indirect branch of Keel is predicted from what a guest trained.
CORE_RETPOLINE := -mindirect-branch=thunk -mindirect-branch-register
CORE_LIBC_SRCS := $(wildcard core/lib/*.c)
CORE_LIBC_INC := -Icore/lib/include
CORE_LIBS :=

# gnu-efi (Debian package gnu-efi, native).
EFI_INC := /usr/include/efi
EFI_LIB := /usr/lib
EFI_CRT0 := $(EFI_LIB)/crt0-efi-x86_64.o
EFI_LDS := $(EFI_LIB)/elf_x86_64_efi.lds
EFI_CFLAGS := -I$(EFI_INC) -I$(EFI_INC)/x86_64 -fpic -fshort-wchar -mno-red-zone \
	-maccumulate-outgoing-args -mgeneral-regs-only -DGNU_EFI_USE_MS_ABI
EFI_LDFLAGS :=
EFI_OBJCOPY_FMT := --target=efi-app-x86_64 --subsystem=10
EFI_NAME := BOOTX64.EFI
ELF_MACHINE := 62
