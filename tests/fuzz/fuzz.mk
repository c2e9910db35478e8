# SPDX-License-Identifier: MIT
# libFuzzer targets (clang): `make -f tests/fuzz/fuzz.mk BUILD=dir [FUZZ_SECONDS=n]`
# builds each tests/fuzz/fuzz_*.c with the virtio sources and runs it briefly.
BUILD ?= build
F := $(BUILD)/fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Icore/include -Itests/unit/include -Ivirtio
FUZZ_SRCS := $(wildcard virtio/*.c) core/guest_mem.c core/vdev.c core/pmm.c
FUZZ_TARGETS := $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))

.SECONDARY:
.PHONY: all
all: $(FUZZ_TARGETS:%=$(F)/%.run)

$(F)/%: tests/fuzz/%.c $(FUZZ_SRCS) $(wildcard virtio/*.h core/include/keel/*.h)
	@mkdir -p $(F)
	@echo "  CLANG   $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(FUZZ_SRCS) -o $@

$(F)/%.run: $(F)/%
	@mkdir -p $(F)/corpus-$*
	@echo "  FUZZ    $< ($(FUZZ_SECONDS) s)"
	@$< -max_total_time=$(FUZZ_SECONDS) -max_len=8192 $(F)/corpus-$* >$@.log 2>&1 || \
		{ tail -40 $@.log; exit 1; }
	@tail -1 $@.log
