// SPDX-License-Identifier: MIT
/*
 * seedgen_argdecode.c — seeds for fuzz_argdecode from the hook's own
 * serializer: runs a Python script in an embedded interpreter with a C
 * audit hook that serializes every event's args exactly as
 * libpysechook.so does (hookmod/serialize.c) and writes each distinct
 * buffer to OUTDIR.  `make fuzz-seeds` runs it; the seeds are committed.
 *   usage: seedgen_argdecode SCRIPT OUTDIR
 */
#include <Python.h>

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pysechook_abi.h"
#include "pyapi.h"
#include "serialize.h"

static struct pysec_pyapi api;
static const char *outdir;
static unsigned written;
static uint64_t seen[4096];

static uint64_t hash_bytes(const uint8_t *b, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* Keep one buffer per distinct content; skip the flood of repeats. */
static int is_new(uint64_t h)
{
	for (unsigned i = 0; i < written && i < 4096; i++)
		if (seen[i] == h)
			return 0;
	return written < 4096 ? (seen[written] = h, 1) : 0;
}

static int seed_hook(const char *event, PyObject *args, void *ud)
{
	uint8_t buf[PYSEC_ARGS_MAX];
	uint32_t flags = 0;
	char path[4096];
	size_t n = pysec_serialize(&api, (pyobj *)args, buf, sizeof(buf), &flags);
	FILE *f;

	(void)ud;
	if (!is_new(hash_bytes(buf, n)) || written > 200)
		return 0;
	snprintf(path, sizeof(path), "%s/%03u-%.40s", outdir, written, event);
	f = fopen(path, "wb");
	if (f) {
		fwrite(buf, 1, n, f);
		fclose(f);
	}
	written++;
	return 0;
}

int main(int argc, char **argv)
{
	FILE *script;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SCRIPT OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[2];
	Py_InitializeEx(0);
	if (pyapi_resolve(&api, RTLD_DEFAULT) != 0 || PySys_AddAuditHook(seed_hook, NULL) != 0) {
		fprintf(stderr, "seedgen: cannot set up the hook\n");
		return 1;
	}
	script = fopen(argv[1], "r");
	if (!script) {
		perror(argv[1]);
		return 1;
	}
	rc = PyRun_SimpleFileEx(script, argv[1], 1);
	fprintf(stderr, "seedgen: %u seeds in %s\n", written, outdir);
	Py_FinalizeEx();
	return rc ? 1 : 0;
}
