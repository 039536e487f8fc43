// SPDX-License-Identifier: MIT
/*
 * fuzz_stockargs.c — libFuzzer target for the user-space half of the stock
 * python:audit decoder (userspace/stockprobe.c): what it reads from files
 * it does not control.  The input is used three ways: as a _Py_DebugOffsets
 * block, as a file name to take a version from, and as an ELF file whose
 * notes and symbols are read.  The BPF half writes the hook's format, which
 * userspace/argdecode.c decodes (its hostile-input tests: test_argdecode.c).
 *
 *   make fuzz-stockargs && build/fuzz/fuzz_stockargs -max_total_time=60
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stockprobe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pysec_stock_cfg cfg;
	char name[256], path[64], why[512];
	int fd;

	pysec_stock_layout(13, &cfg);
	if (pysec_stock_apply_debug_offsets(data, size, &cfg) == 0 &&
	    (cfg.ob_type > 256 || cfg.str_compact_data != cfg.str_ascii_data + 16))
		abort(); /* accepted offsets stay in range */
	memcpy(name, data, size < sizeof(name) - 1 ? size : sizeof(name) - 1);
	name[size < sizeof(name) - 1 ? size : sizeof(name) - 1] = 0;
	int m = pysec_python_minor_of_name(name);

	if (m < -1 || m > 99)
		abort();
	fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		pysec_elf_has_usdt(path, "python", "audit");
		if (pysec_stock_runtime(path, "python3.11", &cfg, why, sizeof(why)) == 0 &&
		    pysec_stock_layout(cfg.minor, &(struct pysec_stock_cfg){ 0 }) != 0)
			abort(); /* a runtime is only accepted with a known layout */
	}
	close(fd);
	return 0;
}
