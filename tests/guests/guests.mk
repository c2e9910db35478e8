# SPDX-License-Identifier: MIT
# Bare-metal test guests: static ELF64 images entered per docs/guest-abi.md.
# Each tests/guests/*.c is one image; lib/*.c, <arch>/*.{c,S} and the core's
# own libc subset (core/lib: string functions, vsnprintf) link into each.
GUEST_NAMES := $(basename $(notdir $(wildcard tests/guests/*.c)))
GUEST_LIB_SRCS := $(wildcard tests/guests/lib/*.c) $(wildcard tests/guests/$(KEEL_ARCH)/*.c) \
	$(wildcard tests/guests/$(KEEL_ARCH)/*.S) core/lib/string.c core/lib/vsnprintf.c
GUEST_ELFS := $(patsubst %,$(O)/guests/%.elf,$(GUEST_NAMES))
GUEST_CFLAGS := $(COMMON_CFLAGS) $(CORE_ARCH_CFLAGS) -fno-pie -fno-builtin \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -Icore/include -Itests/guests/lib -Itests/guests/$(KEEL_ARCH)

.PHONY: guests
guests: $(GUEST_ELFS)

$(O)/guest-objs/%.c.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(O)/guest-objs/%.S.o: %.S
	@mkdir -p $(dir $@)
	@echo "  AS      $@"
	@$(CC) $(GUEST_CFLAGS) -D__ASSEMBLY__ -c $< -o $@

GUEST_LIB_OBJS := $(patsubst %,$(O)/guest-objs/%.o,$(GUEST_LIB_SRCS))

$(O)/guests/%.elf: $(O)/guest-objs/tests/guests/%.c.o $(GUEST_LIB_OBJS) linker/$(KEEL_ARCH)/guest.lds
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(LD) -nostdlib -static -z noexecstack -z max-page-size=4096 -T linker/$(KEEL_ARCH)/guest.lds \
		$< $(GUEST_LIB_OBJS) -o $@

# Keep the objects (they are intermediate to make) so rebuilds are incremental.
.SECONDARY: $(GUEST_LIB_OBJS) $(patsubst %,$(O)/guest-objs/tests/guests/%.c.o,$(GUEST_NAMES))
