# SPDX-License-Identifier: MIT
# libFuzzer targets (clang): `make -f tests/fuzz/fuzz.mk BUILD=dir [FUZZ_SECONDS=n]`
# builds each tests/fuzz/fuzz_*.c with the Keel sources it drives
# (FUZZ_SRCS_<target>) and runs it for FUZZ_SECONDS from the committed seeds in
# tests/fuzz/corpus/<target> (new inputs go to <build>/fuzz/corpus-<target>).
# A crash, a leak or a sanitizer report fails the run; the last line of each
# log gives the executions.
BUILD ?= build
F := $(BUILD)/fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
# Core sources against the host stand-in <arch/types.h>, unless a target says otherwise.
FUZZ_INC := -Icore/include -Itests/unit -Itests/unit/include -Itests/fuzz -Ivirtio -Iboot -Iarch/x86_64

VIRTIO_FUZZ_SRCS := tests/fuzz/virtio_env.c tests/unit/hmap_host.c $(wildcard virtio/*.c) core/guest_mem.c core/vdev.c core/pmm.c \
	core/pdesc.c core/hotmem.c tests/unit/vfio_none.c core/netsw.c core/netgso.c core/lib/strlcpy.c
FUZZ_SRCS_fuzz_virtq := $(VIRTIO_FUZZ_SRCS)
FUZZ_SRCS_fuzz_virtio_mmio := $(VIRTIO_FUZZ_SRCS)
FUZZ_SRCS_fuzz_config := boot/config.c core/pdesc.c core/sha256.c tests/unit/shim.c
FUZZ_SRCS_fuzz_elf := core/elf.c
FUZZ_SRCS_fuzz_x86_decode := arch/x86_64/decode.c
FUZZ_SRCS_fuzz_mgmt := tests/unit/mgmt_env.c tests/unit/shim.c tests/unit/hmap_host.c core/mgmt.c core/mgmt_watch.c core/hypercall.c \
	core/guest_mem.c core/partition.c core/pdesc.c core/pmm.c core/hotmem.c core/lib/strlcpy.c \
	vfio/assign.c core/netsw.c core/timeline.c core/sha256.c
FUZZ_SRCS_fuzz_conq := core/conq.c
FUZZ_SRCS_fuzz_netgso := core/netgso.c
FUZZ_SRCS_fuzz_tcg := boot/tcg.c
# The arch platform models, with their real <arch/types.h> and a host <arch/inline.h>.
FUZZ_SRCS_fuzz_x86_plat := tests/fuzz/plat_env.c arch/x86_64/vplatform.c arch/x86_64/vlapic.c arch/x86_64/vioapic.c \
	arch/x86_64/vpit.c arch/x86_64/vpm.c arch/x86_64/vcpuhp.c arch/x86_64/vpci.c arch/x86_64/vuart.c \
	arch/x86_64/vlegacy.c vfio/vecam.c \
	core/vdev.c core/pmm.c
FUZZ_INC_fuzz_x86_plat := -Itests/fuzz/host -Itests/fuzz -Icore/include -Iarch/x86_64/include -Iarch/x86_64

FUZZ_SRCS_fuzz_vgic := tests/fuzz/plat_env.c arch/aarch64/vgic.c core/vdev.c core/pmm.c
FUZZ_INC_fuzz_vgic := -Itests/fuzz/host -Itests/fuzz -Icore/include -Iarch/aarch64/include -Iarch/aarch64

# The kernel loaders: one source built per arch, with that arch's <arch/types.h>.
KERNEL_FUZZ_SRCS := tests/fuzz/kernel_env.c tests/unit/hmap_host.c core/guest_mem.c core/pmm.c
FUZZ_MAIN_fuzz_kernel_x86_64 := tests/fuzz/fuzz_kernel.c
FUZZ_SRCS_fuzz_kernel_x86_64 := $(KERNEL_FUZZ_SRCS) tests/fuzz/kernel_x86_64.c \
	arch/x86_64/bzimage.c arch/x86_64/acpi_gen.c core/elf.c
FUZZ_INC_fuzz_kernel_x86_64 := -Itests/fuzz/host -Itests/fuzz -Icore/include \
	-Iarch/x86_64/include -Iarch/x86_64
FUZZ_MAIN_fuzz_kernel_aarch64 := tests/fuzz/fuzz_kernel.c
FUZZ_SRCS_fuzz_kernel_aarch64 := $(KERNEL_FUZZ_SRCS) arch/aarch64/image.c arch/aarch64/dtb.c \
	$(shell $(FUZZ_CC) -print-file-name=libfdt.a)
FUZZ_INC_fuzz_kernel_aarch64 := -Itests/fuzz/host -Itests/fuzz -Icore/include \
	-Iarch/aarch64/include -Iarch/aarch64

FUZZ_TARGETS := $(filter-out fuzz_kernel,$(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))) \
	fuzz_kernel_x86_64 fuzz_kernel_aarch64

.SECONDEXPANSION:
.SECONDARY:
.PHONY: all
all: $(FUZZ_TARGETS:%=$(F)/%.run)

$(F)/%: $$(or $$(FUZZ_MAIN_$$*),tests/fuzz/$$*.c) $$(FUZZ_SRCS_$$*) \
		$(wildcard virtio/*.h core/include/keel/*.h boot/*.h tests/fuzz/*.h tests/unit/*.h)
	@mkdir -p $(F)
	@echo "  CLANG   $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) $(or $(FUZZ_INC_$*),$(FUZZ_INC)) $< $(FUZZ_SRCS_$*) -o $@

$(F)/%.run: $(F)/% FORCE
	@mkdir -p $(F)/corpus-$*
	@echo "  FUZZ    $< ($(FUZZ_SECONDS) s)"
	@$< -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 \
		-artifact_prefix=$(F)/$*- \
		$(F)/corpus-$* $(wildcard tests/fuzz/corpus/$*) >$@.log 2>&1 || \
		{ tail -40 $@.log; exit 1; }
	@echo "  FUZZ    $*: $$(grep -o 'stat::number_of_executed_units: *[0-9]*' $@.log | grep -o '[0-9]*$$') executions in $(FUZZ_SECONDS) s, no crash"

.PHONY: FORCE
FORCE:
