# SPDX-License-Identifier: MIT
# Host unit tests: real Keel sources compiled for the host with ASan and UBSan,
# each test with the sources it exercises (UNIT_SRCS_<name>) and tests/unit/shim.c.
BUILD ?= build
U := $(BUILD)/host
UNIT_CC ?= gcc
UNIT_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	-Icore/include -Itests/unit -Itests/unit/include -Iboot

# One line per test: the Keel sources it links.
UNIT_SRCS_test_pt := core/pt.c tests/unit/pt_format.c
UNIT_SRCS_test_hmap := core/hmap.c core/pt.c tests/unit/pt_format.c
UNIT_SRCS_test_pmm := core/pmm.c
UNIT_SRCS_test_conq := core/conq.c
UNIT_SRCS_test_pdesc := core/pdesc.c
UNIT_SRCS_test_elf := core/elf.c
UNIT_SRCS_test_config := boot/config.c core/pdesc.c core/sha256.c
UNIT_SRCS_test_hypercall := core/hypercall.c core/guest_mem.c tests/unit/hmap_host.c
UNIT_SRCS_test_mgmt := tests/unit/mgmt_env.c tests/unit/hmap_host.c core/mgmt.c core/mgmt_watch.c core/hypercall.c core/guest_mem.c core/partition.c core/pdesc.c core/pmm.c \
	core/hotmem.c core/lib/strlcpy.c vfio/assign.c core/netsw.c core/timeline.c core/sha256.c
# The vCPU run loop and exit dispatch (core/vcpu.c) with a scripted arch.
UNIT_SRCS_test_vcpu := tests/unit/mgmt_env.c tests/unit/hmap_host.c core/vcpu.c core/mgmt_watch.c core/partition.c core/guest_mem.c \
	core/pdesc.c core/pmm.c core/hotmem.c core/lib/strlcpy.c vfio/assign.c core/timeline.c
# The aarch64 Linux guest's device tree, read back with the host's libfdt.
UNIT_SRCS_test_dtb := arch/aarch64/dtb.c $(shell $(UNIT_CC) -print-file-name=libfdt.a)
# aarch64 discovery of ECAM windows and SMMUv3s from the device tree, on trees the host's libfdt writes.
UNIT_SRCS_test_dt_pci := arch/aarch64/dt_pci.c $(shell $(UNIT_CC) -print-file-name=libfdt.a)
# The switch inside Keel.
UNIT_SRCS_test_netsw := core/netsw.c core/lib/strlcpy.c
# TCP segmentation in software, on hand-made and hostile frames.
UNIT_SRCS_test_netgso := core/netgso.c
# The per-CPU timer lists.
UNIT_SRCS_test_timer := core/timer.c
# INTx of assigned PCI functions, against fake devices.
UNIT_SRCS_test_intx := vfio/intx.c
UNIT_CFLAGS_test_intx := -Ivfio
# The boot timeline: order, first entries only, the table once.
UNIT_SRCS_test_timeline := core/timeline.c core/lib/strlcpy.c
# The interrupt-delivery watch's decision.
UNIT_SRCS_test_irqwatch := core/irqwatch.c
# The aarch64 Spectre-BHB choice.
UNIT_SRCS_test_bhb := arch/aarch64/bhb.c
# The aarch64 PL061 GPIO model (the Linux guest's power key).
UNIT_SRCS_test_pl061 := arch/aarch64/pl061.c core/vdev.c core/pmm.c
# The aarch64 PL011 UART model (its snapshot).
UNIT_SRCS_test_pl011 := arch/aarch64/pl011.c core/vdev.c core/pmm.c

VIRTIO_UNIT_SRCS := $(wildcard virtio/*.c) core/guest_mem.c tests/unit/hmap_host.c core/vdev.c core/pmm.c \
	core/pdesc.c core/hotmem.c tests/unit/vfio_none.c core/netsw.c core/netgso.c core/lib/strlcpy.c
UNIT_SRCS_test_virtq := $(VIRTIO_UNIT_SRCS)
UNIT_SRCS_test_virtio_mmio := $(VIRTIO_UNIT_SRCS)
UNIT_SRCS_test_virtio_console := $(VIRTIO_UNIT_SRCS)
UNIT_SRCS_test_virtio_control := $(VIRTIO_UNIT_SRCS)
UNIT_SRCS_test_virtio_blk := $(VIRTIO_UNIT_SRCS)
UNIT_SRCS_test_virtio_net := $(VIRTIO_UNIT_SRCS)
UNIT_SRCS_test_virtio_vsock := $(VIRTIO_UNIT_SRCS)
UNIT_SRCS_test_virtio_rng := $(VIRTIO_UNIT_SRCS)
UNIT_SRCS_test_virtio_state := $(VIRTIO_UNIT_SRCS)
UNIT_CFLAGS_test_virtq := -Ivirtio
UNIT_CFLAGS_test_virtio_mmio := -Ivirtio
UNIT_CFLAGS_test_virtio_console := -Ivirtio
UNIT_CFLAGS_test_virtio_control := -Ivirtio
UNIT_CFLAGS_test_virtio_blk := -Ivirtio
UNIT_CFLAGS_test_virtio_net := -Ivirtio
UNIT_CFLAGS_test_virtio_vsock := -Ivirtio
UNIT_CFLAGS_test_virtio_rng := -Ivirtio
UNIT_CFLAGS_test_virtio_state := -Ivirtio
UNIT_SRCS_test_virtio_mem := $(VIRTIO_UNIT_SRCS)
UNIT_CFLAGS_test_virtio_mem := -Ivirtio

# The host PCI layer: enumeration on a fake config space, ECAM windows on an array.
UNIT_SRCS_test_pci := vfio/pci.c vfio/ecam.c core/pmm.c
UNIT_SRCS_test_vconfig := vfio/vconfig.c vfio/pci.c
UNIT_SRCS_test_pci_reset := vfio/reset.c vfio/pci.c
# The x86 IOMMU tables (ACPI DMAR, IVRS), each parser on hostile tables.
UNIT_SRCS_test_dmar := arch/x86_64/dmar.c
UNIT_CFLAGS_test_dmar := -Iarch/x86_64
UNIT_SRCS_test_ivrs := arch/x86_64/ivrs.c
UNIT_CFLAGS_test_ivrs := -Iarch/x86_64
# The IOMMU drivers' page-table formats and tables, through the one walker.
UNIT_SRCS_test_vtd := vfio/vtd.c vfio/iommu_poll.c core/poll.c core/pt.c
UNIT_SRCS_test_amdvi := tests/unit/iommu_env.c vfio/amdvi.c vfio/iommu_poll.c core/poll.c core/pt.c
UNIT_SRCS_test_smmuv3 := tests/unit/iommu_env.c vfio/smmuv3.c vfio/iommu_poll.c core/poll.c core/pt.c
# aarch64's MSI routing (guest MBI messages to ITS events and LPIs), ITS and vGIC faked.
UNIT_SRCS_test_msi := arch/aarch64/msi.c

# The aarch64 GICv3 ITS driver, against a fake ITS whose register writes are trapped.
UNIT_SRCS_test_its := arch/aarch64/its.c core/poll.c

# SHA-256 (measured launch): known answers, and every split of the input.
UNIT_SRCS_test_sha256 := core/sha256.c
# The measured launch: the TPM event, PCR_Read and the firmware event log, hostile ones too.
UNIT_SRCS_test_tcg := boot/tcg.c
UNIT_SRCS_test_acpi_gen := arch/x86_64/acpi_gen.c
UNIT_SRCS_test_x86_decode := arch/x86_64/decode.c

# keelctl's pure parts (parsing, formatting, image sniffing; no ioctl).
UNIT_SRCS_test_keelctl := tools/keelctl/util.c core/pdesc.c
UNIT_CFLAGS_test_keelctl := -Itools/keelctl

UNIT_SRCS_test_vsnprintf := core/lib/vsnprintf.c core/lib/string.c
# Keel's libc subset is tested beside the host's under other names.
UNIT_CFLAGS_test_vsnprintf := -fno-builtin -Dvsnprintf=keel_vsnprintf -Dsnprintf=keel_snprintf \
	-Dmemcpy=keel_memcpy -Dmemmove=keel_memmove -Dmemset=keel_memset -Dmemcmp=keel_memcmp \
	-Dmemchr=keel_memchr -Dstrlen=keel_strlen -Dstrnlen=keel_strnlen -Dstrcmp=keel_strcmp \
	-Dstrncmp=keel_strncmp -Dstrchr=keel_strchr -Dstrrchr=keel_strrchr

UNIT_TESTS := $(basename $(notdir $(wildcard tests/unit/test_*.c)))

.SECONDEXPANSION:
.SECONDARY:
.PHONY: all
all: $(UNIT_TESTS:%=$(U)/%.ok)

# Every header a test may include, so a change to one rebuilds what uses it.
UNIT_HEADERS := $(wildcard tests/unit/*.h tests/unit/include/arch/*.h core/include/keel/*.h \
	virtio/*.h vfio/*.h tools/keelctl/*.h)

$(U)/%: tests/unit/%.c tests/unit/shim.c $$(UNIT_SRCS_$$*) $(UNIT_HEADERS)
	@mkdir -p $(U)
	@echo "  HOSTCC  $@"
	@$(UNIT_CC) $(UNIT_CFLAGS) $(UNIT_CFLAGS_$*) $< tests/unit/shim.c $(UNIT_SRCS_$*) -o $@

$(U)/%.ok: $(U)/%
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $< && touch $@
