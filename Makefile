# SPDX-License-Identifier: MIT
# Keel build. `make` builds keel.efi for x86_64 and aarch64; `make ARCH=x86_64`
# for one. `make test`, `make run`, `make deps`: see README.md.

ARCHES := $(if $(ARCH),$(ARCH),x86_64 aarch64)
RUN_ARCH := $(if $(ARCH),$(ARCH),x86_64)
BUILD ?= build
KEEL_CACHE ?= $(HOME)/.cache/keel
PYTEST ?= /usr/bin/python3 -m pytest
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SMOKE_SECONDS ?= 5
export KEEL_CACHE

ifndef KEEL_ARCH
# ---------------------------------------------------------------- outer level

.PHONY: all deps unit test soak integration run check clean linux-assets bench bench-image usb-image pxe FORCE
all: $(addprefix build-,$(ARCHES))

build-%: FORCE
	@$(MAKE) --no-print-directory KEEL_ARCH=$* arch-all

deps:
	@tools/deps.sh

# Host unit tests of the arch-neutral code, with ASan and UBSan.
unit:
	@$(MAKE) --no-print-directory -f tests/unit/unit.mk BUILD=$(BUILD)

# Everything: dependencies, both images, unit tests, QEMU integration tests.
# One scenario: make test ARCH=x86_64 T=test_boot.py::test_cpus_online
test: deps
	@tools/check.sh
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@$(MAKE) --no-print-directory -j$(JOBS) unit
	@$(MAKE) --no-print-directory -j$(JOBS) fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)
	$(PYTEST) tests/integration -v -rfE --durations=25 --arch="$(ARCHES)" --build=$(BUILD) \
		$(if $(T),-k "$(T)") $(PYTEST_ARGS)

# Hours of live changes on one Keel, for the rare races (tests/integration/test_soak.py):
# make soak ARCH=x86_64 SOAK_S=28800 for a night.
SOAK_S ?= 3600
soak: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	$(PYTEST) tests/integration/test_soak.py -v -rfE --arch="$(ARCHES)" --build=$(BUILD) \
		--soak-seconds=$(SOAK_S) $(PYTEST_ARGS)

integration: all
	$(PYTEST) tests/integration -v -rfE --arch="$(ARCHES)" --build=$(BUILD) \
		$(if $(T),-k "$(T)") $(PYTEST_ARGS)

# Boot the demo configuration in QEMU (Ctrl-A X quits).
run: deps
	@$(MAKE) --no-print-directory ARCH=$(RUN_ARCH) all
	@$(if $(HV),,tools/linux-assets.py --arch $(RUN_ARCH) --out $(BUILD)/$(RUN_ARCH)/linux \
		--keelctl $(BUILD)/$(RUN_ARCH)/keelctl --guest $(BUILD)/$(RUN_ARCH)/guests/testguest.elf)
	@tools/run.py --arch $(RUN_ARCH) --build $(BUILD) $(RUN_ARGS) $(if $(HV),--hv $(HV))

# A bootable USB image, $(BUILD)/keel-usb.img: one GPT disk whose EFI system
# partition boots every arch in ARCHES, with the demo's keel.cfg (the Linux
# management partition and its images) or KEEL_CFG=FILE for every arch.
usb-image: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@$(if $(KEEL_CFG),,for a in $(ARCHES); do tools/linux-assets.py --arch $$a --out $(BUILD)/$$a/linux \
		--keelctl $(BUILD)/$$a/keelctl --guest $(BUILD)/$$a/guests/testguest.elf || exit 1; done)
	@tools/bootmedia.py usb --arch "$(ARCHES)" --build $(BUILD) $(if $(KEEL_CFG),--config $(KEEL_CFG))

# The lab bench on a USB image, $(BUILD)/keel-bench.img (both arches): boot it on
# a real host to measure Keel there; it prints one JSON document on the serial
# console and powers off (tests/configs/bench.cfg; docs/bench.md, "On a real host").
bench-image: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@tools/bootmedia.py usb --arch "$(ARCHES)" --build $(BUILD) --config tests/configs/bench.cfg \
		--out $(BUILD)/keel-bench.img

# A network-boot tree, $(BUILD)/pxe/<arch>/keel.efi with keel.cfg and its files
# beside it, to serve over TFTP (docs/network-boot.md); KEEL_CFG as for usb-image.
pxe: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@$(if $(KEEL_CFG),,for a in $(ARCHES); do tools/linux-assets.py --arch $$a --out $(BUILD)/$$a/linux \
		--keelctl $(BUILD)/$$a/keelctl --guest $(BUILD)/$$a/guests/testguest.elf || exit 1; done)
	@tools/bootmedia.py pxe --arch "$(ARCHES)" --build $(BUILD) $(if $(KEEL_CFG),--config $(KEEL_CFG))

# Debian kernel + busybox initramfs + disk image per arch for the Linux
# scenarios (tests marked `linux`; PYTEST_ARGS=--no-linux leaves them out), cached in
# $(KEEL_CACHE)/linux: the generic kernel (with the management partition's files),
# then the cloud and rt flavours. `make bench`: Keel microVM vs direct QEMU -kernel boot.
linux-assets: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@for a in $(ARCHES); do tools/linux-assets.py --arch $$a --out $(BUILD)/$$a/linux \
		--keelctl $(BUILD)/$$a/keelctl --guest $(BUILD)/$$a/guests/testguest.elf || exit 1; \
		for f in cloud rt; do tools/linux-assets.py --arch $$a --flavour $$f \
			--out $(BUILD)/$$a/linux-$$f || exit 1; done; done

bench: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@tools/bench.py --arch "$(ARCHES)" --build $(BUILD) $(BENCH_ARGS)

# Fuzz every parser of guest, management and config input for a while
# (FUZZ_SECONDS each, default 30; make test runs each for FUZZ_SMOKE_SECONDS).
fuzz:
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk BUILD=$(BUILD) \
		$(if $(FUZZ_SECONDS),FUZZ_SECONDS=$(FUZZ_SECONDS))

# Layering, SPDX lines and clang-format (make test runs it first).
check:
	@tools/check.sh

clean:
	rm -rf $(BUILD)

else
# ------------------------------------------------------- one architecture

O := $(BUILD)/$(KEEL_ARCH)
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wundef -Wvla -Wno-unused-parameter
COMMON_CFLAGS := -std=gnu11 -O2 -g $(WARN) -ffreestanding -fno-stack-protector \
	-fno-common -fno-strict-aliasing -fno-omit-frame-pointer -MMD -MP

# Per-arch tools and flags: CC, LD, OBJCOPY, CORE_ARCH_CFLAGS, CORE_LIBS,
# CORE_LIBC_SRCS, EFI_* (see the file).
include arch/$(KEEL_ARCH)/arch.mk

CORE_CFLAGS := $(COMMON_CFLAGS) $(CORE_ARCH_CFLAGS) $(CORE_RETPOLINE) -fpie -fvisibility=hidden \
	-Icore/include -Iarch/$(KEEL_ARCH)/include $(CORE_LIBC_INC)

CORE_SRCS := $(wildcard core/*.c) $(wildcard virtio/*.c) $(wildcard vfio/*.c) $(CORE_LIBC_SRCS) \
	$(wildcard arch/$(KEEL_ARCH)/*.c) $(wildcard arch/$(KEEL_ARCH)/*.S)
CORE_OBJS := $(patsubst %,$(O)/core-objs/%.o,$(CORE_SRCS))

.PHONY: arch-all
arch-all: $(O)/keel.efi guests $(O)/keelctl $(O)/keel-vsock $(O)/keel-blkbench

# keelctl, the management CLI: a static Linux binary for this arch, run in the
# management partition (its initramfs is built by tools/linux-assets.py --keelctl),
# and keel-vsock and keel-blkbench, the vsock tool and block benchmark of every
# Linux initramfs, built with it.
$(O)/keelctl $(O)/keel-vsock $(O)/keel-blkbench &: $(wildcard tools/keelctl/*.[ch]) tools/keelctl/Makefile tools/linux/keel_dev.h \
		core/include/keel/abi.h core/include/keel/pci_addr.h
	@echo "  KEELCTL $@"
	@$(MAKE) --no-print-directory -C tools/keelctl ARCH=$(KEEL_ARCH) OUT=$(abspath $(O)/keelctl)

$(O)/core-objs/%.c.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CORE_CFLAGS) -c $< -o $@

# The arch-neutral code is also free of implicit narrowing and sign changes.
$(O)/core-objs/core/%.c.o $(O)/core-objs/virtio/%.c.o $(O)/core-objs/vfio/%.c.o: \
	CORE_CFLAGS += -Wconversion

$(O)/core-objs/%.S.o: %.S
	@mkdir -p $(dir $@)
	@echo "  AS      $@"
	@$(CC) $(CORE_CFLAGS) -D__ASSEMBLY__ -c $< -o $@

# The core: a freestanding position-independent ELF. The loader copies it and
# applies its R_*_RELATIVE relocations; it carries no other kind.
$(O)/core.elf: $(CORE_OBJS) linker/$(KEEL_ARCH)/core.lds
	@echo "  LD      $@"
	@$(LD) -nostdlib -pie --no-dynamic-linker -z noexecstack -z max-page-size=4096 \
		-z norelro --hash-style=sysv --gc-sections -T linker/$(KEEL_ARCH)/core.lds \
		$(CORE_OBJS) $(CORE_LIBS) -o $@
	@tools/check-relocs.sh $(READELF) $@

include boot/boot.mk
include tests/guests/guests.mk

-include $(shell find $(O) -name '*.d' 2>/dev/null)
endif
