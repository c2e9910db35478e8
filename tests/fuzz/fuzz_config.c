/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for keel.cfg (boot/config.c) and the partition set check
 * (core/pdesc.c): any bytes parse to a clean config or to errors that each
 * name a line of the file; nothing crashes or reads past the text.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"

static struct keel_config cfg;

static u32 lines_in(const u8 *data, size_t size)
{
	u32 n = 1;

	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct pdesc_limits lim = { .cpu_count = 8,
				    .module_count = 0,
				    .mem_available = 1ull << 32 };
	/* An exact-size copy: the parser must not read a byte past @size. */
	char *text = malloc(size ? size : 1);
	u32 lines = lines_in(data, size), i;
	int ret;

	memcpy(text, data, size);
	ret = config_parse(text, size, &cfg);
	if (ret == 0) {
		lim.module_count = cfg.module_count;
		config_check(&cfg, &lim);
	}
	if (cfg.error_count > CFG_MAX_ERRORS || (ret != 0 && cfg.error_count == 0))
		abort();
	for (i = 0; i < cfg.error_count && i < CFG_MAX_ERRORS; i++)
		if (cfg.errors[i].line > lines ||
		    !memchr(cfg.errors[i].msg, 0, sizeof(cfg.errors[i].msg)))
			abort();
	if (cfg.part_count > KEEL_MAX_PARTITIONS)
		abort();
	free(text);
	return 0;
}
