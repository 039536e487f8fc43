// SPDX-License-Identifier: MIT
/*
 * fuzz_capture.c — libFuzzer target: the capture reader
 * (userspace/capture.c) and replay (userspace/replay.c: records through
 * the classifier and the JSON writer) on whatever a hostile capture file
 * holds.  Each input is read twice: as it is (the chain check must catch
 * the change), and re-chained — every block's SHA-256 recomputed, as a
 * forger without the key could — so that mutations reach decompression,
 * record framing, the header/lookup/loss decoders and the pipeline.
 * Seeds: real captures in tests/fuzz/corpus/capture/.
 */
#define _GNU_SOURCE
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capture.h"
#include "emit.h"
#include "pipeline.h"
#include "replay.h"

static void read_all(const uint8_t *data, size_t size)
{
	static const uint8_t key[32];
	struct pysec_cap_reader r;
	struct pysec_cap_rec rec;
	FILE *f = fmemopen((void *)data, size, "rb");

	if (!f)
		return;
	if (pysec_cap_open(&r, f) == 0) {
		while (pysec_cap_next(&r, &rec) > 0)
			if (rec.len > PYSEC_CAP_REC_MAX || (rec.len && !rec.data))
				abort(); /* the reader's contract */
		if (r.status == PYSEC_CAP_OK)
			abort(); /* the walk ends with a verdict */
		pysec_cap_check_hmac(&r, key, sizeof(key));
	}
	pysec_cap_close(&r);
	fclose(f);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Recompute the chain hash of every block in place (docs/capture-format.md). */
static void rechain(uint8_t *d, size_t size)
{
	uint8_t chain[PYSEC_CAP_HASH];
	size_t off = PYSEC_CAP_FILE_HDR;
	unsigned n = 0;

	if (size < PYSEC_CAP_FILE_HDR)
		return;
	EVP_Digest(d, PYSEC_CAP_FILE_HDR, chain, &n, EVP_sha256(), NULL);
	while (size - off >= PYSEC_CAP_BLOCK_HDR && !memcmp(d + off, "PSCB", 4)) {
		uint32_t clen = get32(d + off + 8);
		EVP_MD_CTX *ctx;

		if (clen > size - off - PYSEC_CAP_BLOCK_HDR ||
		    size - off - PYSEC_CAP_BLOCK_HDR - clen < PYSEC_CAP_HASH)
			return;
		ctx = EVP_MD_CTX_new();
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		EVP_DigestUpdate(ctx, chain, sizeof(chain));
		EVP_DigestUpdate(ctx, d + off, PYSEC_CAP_BLOCK_HDR + (size_t)clen);
		EVP_DigestFinal_ex(ctx, chain, &n);
		EVP_MD_CTX_free(ctx);
		off += PYSEC_CAP_BLOCK_HDR + clen;
		memcpy(d + off, chain, sizeof(chain));
		off += PYSEC_CAP_HASH;
	}
}

static void replay_all(const uint8_t *data, size_t size)
{
	struct pysec_pipeline pl;
	struct pysec_emitter em;
	char path[64];
	char *paths[1] = {path};
	int fd = memfd_create("capture", MFD_CLOEXEC);
	FILE *out = fopen("/dev/null", "we");

	if (fd < 0 || !out || write(fd, data, size) != (ssize_t)size)
		goto out;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	pysec_emitter_init(&em, out, PYSEC_FMT_JSON, PYSEC_SHOW_ALL);
	if (pysec_pipeline_init(&pl) == 0 && pysec_pipeline_add_emitter(&pl, &em) == 0)
		pysec_replay_files(paths, 1, &pl, &em, NULL);
	pysec_pipeline_free(&pl);
out:
	if (out)
		fclose(out);
	if (fd >= 0)
		close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	read_all(data, size);
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	rechain(copy, size);
	read_all(copy, size);
	replay_all(copy, size);
	free(copy);
	return 0;
}
