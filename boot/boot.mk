# SPDX-License-Identifier: MIT
# The UEFI loader: gnu-efi application with the core image embedded.
# Shared arch-neutral sources (pdesc validator, ELF checks, the core/lib string
# and printf subset) are compiled again here with the loader's flags; the loader
# pulls nothing from gnu-efi's libefi (whose memcpy/memset would clash).
BOOT_SRCS := boot/main.c boot/source_volume.c boot/source_tftp.c boot/source_http.c boot/tpm.c boot/tcg.c boot/config.c boot/core_load.c boot/memmap.c boot/lib.c \
	boot/efi_$(KEEL_ARCH).c core/pdesc.c core/elf.c core/sha256.c \
	core/lib/string.c core/lib/vsnprintf.c core/lib/strlcpy.c
BOOT_OBJS := $(patsubst %,$(O)/boot-objs/%.o,$(BOOT_SRCS)) $(O)/boot-objs/core_image.o
# gnu-efi's headers as system headers: they do not pass our warning flags.
BOOT_CFLAGS := $(COMMON_CFLAGS) $(EFI_CFLAGS) -isystem $(EFI_INC) -isystem $(EFI_INC)/$(KEEL_ARCH) \
	-Icore/include -Iarch/$(KEEL_ARCH)/include -Iboot -DKEEL_ELF_MACHINE=$(ELF_MACHINE)

$(O)/boot-objs/%.c.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(BOOT_CFLAGS) -c $< -o $@

$(O)/boot-objs/core_image.o: boot/core_image.S $(O)/core.elf
	@mkdir -p $(dir $@)
	@echo "  AS      $@"
	@$(CC) $(BOOT_CFLAGS) -DCORE_ELF='"$(O)/core.elf"' -c $< -o $@

$(O)/keel.so: $(BOOT_OBJS)
	@echo "  LD      $@"
	@$(LD) -nostdlib -znocombreloc -shared -Bsymbolic -z defs --no-warn-rwx-segments \
		$(EFI_LDFLAGS) -T $(EFI_LDS) $(EFI_CRT0) $(BOOT_OBJS) -o $@ -L$(EFI_LIB) -lefi -lgnuefi \
		$(shell $(CC) -print-libgcc-file-name)

$(O)/keel.efi: $(O)/keel.so
	@echo "  EFI     $@"
	@$(OBJCOPY) -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel -j .rela \
		-j '.rel.*' -j '.rela.*' -j .reloc $(EFI_OBJCOPY_FMT) $< $@
