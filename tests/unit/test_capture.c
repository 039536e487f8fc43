// SPDX-License-Identifier: MIT
/*
 * test_capture.c — the capture format (userspace/capture.c): records come
 * back as written across blocks; the HMAC checks with the key and not with
 * another; a flipped byte in any block, a cut at any offset and a removed
 * block are each caught and named by block index and offset; the reader
 * stays bounded on hostile lengths; loss/lookup payloads round-trip and
 * reject bad lengths; the replay provider answers as recorded.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t OTHER_KEY[32] = "fedcba9876543210fedcba9876543210";

#define NBLOCKS	  4
#define PER_BLOCK 5

struct built {
	uint8_t *data;
	size_t len;
	uint64_t block_off[NBLOCKS + 2]; /* header block, NBLOCKS data blocks, end block */
	unsigned nblocks;
};

static void payload(unsigned b, unsigned i, char *buf, size_t len)
{
	snprintf(buf, len, "block %u record %u %s", b, i, i % 2 ? "odd" : "even and longer");
}

/* Offsets of every block, found by walking the headers (test-side parser). */
static void find_blocks(struct built *c)
{
	size_t off = PYSEC_CAP_FILE_HDR;

	c->nblocks = 0;
	while (off + PYSEC_CAP_BLOCK_HDR <= c->len && !memcmp(c->data + off, "PSCB", 4)) {
		uint32_t clen;

		memcpy(&clen, c->data + off + 8, 4);
		c->block_off[c->nblocks++] = off;
		off += PYSEC_CAP_BLOCK_HDR + clen + PYSEC_CAP_HASH;
	}
}

/* header block, NBLOCKS blocks of PER_BLOCK raw records, end block, trailer */
static void build(struct built *c)
{
	char path[] = "/tmp/test_capture.XXXXXX";
	struct pysec_cap_writer w;
	char buf[128];
	struct stat st;
	FILE *f;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(pysec_cap_create(&w, path, 1, KEY, sizeof(KEY)), 0);
	w.no_fsync = 1;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(pysec_cap_append(&w, PYSEC_CAP_HEADER, "{\"x\":1}", 7), 0);
	assert_int_equal(pysec_cap_seal(&w, 0), 0);
	for (unsigned b = 0; b < NBLOCKS; b++) {
		for (unsigned i = 0; i < PER_BLOCK; i++) {
			payload(b, i, buf, sizeof(buf));
			assert_int_equal(pysec_cap_append(&w, PYSEC_CAP_RAW, buf, strlen(buf)), 0);
		}
		assert_int_equal(pysec_cap_seal(&w, 0), 0);
	}
	assert_int_equal(pysec_cap_finish(&w, "{\"end\":true}"), 0);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	c->len = (size_t)ftell(f);
	rewind(f);
	c->data = malloc(c->len);
	assert_int_equal(fread(c->data, 1, c->len, f), c->len);
	fclose(f);
	unlink(path);
	find_blocks(c);
	assert_int_equal(c->nblocks, NBLOCKS + 2);
}

/* Read data fully: the records returned, status, error text. */
static int read_all(const uint8_t *data, size_t len, struct pysec_cap_reader *r,
		    unsigned *raw_records)
{
	FILE *f = fmemopen((void *)data, len, "rb");
	struct pysec_cap_rec rec;
	int k;

	assert_non_null(f);
	*raw_records = 0;
	if (pysec_cap_open(r, f) == 0) {
		while ((k = pysec_cap_next(r, &rec)) > 0) {
			if (rec.type == PYSEC_CAP_RAW) {
				char want[128];

				payload(*raw_records / PER_BLOCK, *raw_records % PER_BLOCK, want,
					sizeof(want));
				assert_int_equal(rec.len, strlen(want));
				assert_memory_equal(rec.data, want, rec.len);
				(*raw_records)++;
			}
		}
	}
	r->f = NULL;
	fclose(f);
	return r->status;
}

static void test_round_trip(void **state)
{
	struct built c;
	struct pysec_cap_reader r;
	unsigned n;

	build(&c);
	assert_int_equal(read_all(c.data, c.len, &r, &n), PYSEC_CAP_COMPLETE);
	assert_int_equal(n, NBLOCKS * PER_BLOCK);
	assert_int_equal(r.records, NBLOCKS * PER_BLOCK + 2);
	assert_int_equal(r.block, NBLOCKS + 2);
	assert_true(pysec_cap_check_hmac(&r, KEY, sizeof(KEY)));
	assert_true(pysec_cap_same_key(&r, KEY, sizeof(KEY)));
	assert_false(pysec_cap_check_hmac(&r, OTHER_KEY, sizeof(OTHER_KEY)));
	assert_false(pysec_cap_same_key(&r, OTHER_KEY, sizeof(OTHER_KEY)));
	pysec_cap_close(&r);
	free(c.data);
}

/* A flipped bit anywhere in block b is caught, and block b is named. */
static void test_bit_flip_names_block(void **state)
{
	struct built c;
	struct pysec_cap_reader r;
	char want[64];
	unsigned n;

	build(&c);
	for (unsigned b = 0; b < c.nblocks; b++) {
		uint64_t end = b + 1 < c.nblocks ? c.block_off[b + 1] : c.len - PYSEC_CAP_TRAILER;

		for (uint64_t off = c.block_off[b]; off < end; off++) {
			c.data[off] ^= 0x10;
			int st = read_all(c.data, c.len, &r, &n);

			c.data[off] ^= 0x10;
			snprintf(want, sizeof(want), "block %u at offset %llu", b,
				 (unsigned long long)c.block_off[b]);
			if (st != PYSEC_CAP_CORRUPT || !strstr(r.err, want))
				fail_msg("flip at %llu: status %d, '%s' (want CORRUPT naming '%s')",
					 (unsigned long long)off, st, r.err, want);
			/* the blocks before it were read whole */
			assert_int_equal(r.intact_blocks, b);
			pysec_cap_close(&r);
		}
	}
	free(c.data);
}

/* A flip in the trailer's HMAC: the chain is intact, the signature is not. */
static void test_trailer_flip(void **state)
{
	struct built c;
	struct pysec_cap_reader r;
	unsigned n;

	build(&c);
	c.data[c.len - PYSEC_CAP_TRAILER + 8] ^= 1;
	assert_int_equal(read_all(c.data, c.len, &r, &n), PYSEC_CAP_COMPLETE);
	assert_false(pysec_cap_check_hmac(&r, KEY, sizeof(KEY)));
	assert_true(pysec_cap_same_key(&r, KEY, sizeof(KEY)));
	pysec_cap_close(&r);
	free(c.data);
}

/* Cut at every length: never complete, never a crash; the prefix is whole blocks. */
static void test_truncation(void **state)
{
	struct built c;
	struct pysec_cap_reader r;
	char want[64];
	unsigned n;

	build(&c);
	for (size_t len = 0; len < c.len; len++) {
		int st = read_all(c.data, len, &r, &n);
		unsigned b = 0;

		assert_int_equal(st, PYSEC_CAP_INCOMPLETE);
		while (b + 1 < c.nblocks && c.block_off[b + 1] <= len)
			b++;
		/* records of blocks wholly present were returned, no more */
		unsigned whole = 0;

		for (unsigned k = 0; k < c.nblocks; k++) {
			uint64_t end =
			    k + 1 < c.nblocks ? c.block_off[k + 1] : c.len - PYSEC_CAP_TRAILER;

			if (end <= len)
				whole = k + 1;
		}
		assert_int_equal(r.intact_blocks, whole);
		if (whole >= 2)
			assert_int_equal(n,
					 (whole - 1 > NBLOCKS ? NBLOCKS : whole - 1) * PER_BLOCK);
		if (len > c.block_off[b] && len < c.len - PYSEC_CAP_TRAILER &&
		    len != c.block_off[b]) {
			snprintf(want, sizeof(want), "block %u at offset %llu", b,
				 (unsigned long long)c.block_off[b]);
			if (!strstr(r.err, want))
				fail_msg("cut at %zu: '%s' does not name '%s'", len, r.err, want);
		}
		pysec_cap_close(&r);
	}
	free(c.data);
}

static void test_removed_block(void **state)
{
	struct built c;
	struct pysec_cap_reader r;
	unsigned n;

	build(&c);
	for (unsigned b = 1; b + 1 < c.nblocks; b++) {
		size_t blen = c.block_off[b + 1] - c.block_off[b];
		uint8_t *d = malloc(c.len - blen);
		char want[64];

		memcpy(d, c.data, c.block_off[b]);
		memcpy(d + c.block_off[b], c.data + c.block_off[b + 1], c.len - c.block_off[b + 1]);
		assert_int_equal(read_all(d, c.len - blen, &r, &n), PYSEC_CAP_CORRUPT);
		snprintf(want, sizeof(want), "block %u at offset %llu: it says it is block %u", b,
			 (unsigned long long)c.block_off[b], b + 1);
		if (!strstr(r.err, want))
			fail_msg("removed block %u: '%s'", b, r.err);
		assert_int_equal(n, (b - 1) * PER_BLOCK);
		pysec_cap_close(&r);
		free(d);
	}
	free(c.data);
}

/* Hostile block headers: lengths past the caps are refused before any allocation. */
static void test_hostile_lengths(void **state)
{
	struct built c;
	struct pysec_cap_reader r;
	uint32_t big = 0xffffffffu;
	unsigned n;

	build(&c);
	for (int field = 8; field <= 16; field += 4) {
		uint8_t *d = malloc(c.len);

		memcpy(d, c.data, c.len);
		memcpy(d + c.block_off[1] + field, &big, 4);
		assert_int_equal(read_all(d, c.len, &r, &n), PYSEC_CAP_CORRUPT);
		assert_non_null(strstr(r.err, "block 1"));
		pysec_cap_close(&r);
		free(d);
	}
	/* not a capture at all */
	assert_int_equal(read_all((const uint8_t *)"hello, world, not a capture", 27, &r, &n),
			 PYSEC_CAP_CORRUPT);
	assert_non_null(strstr(r.err, "not a pysectrace capture"));
	pysec_cap_close(&r);
	free(c.data);
}

static void test_append_limits(void **state)
{
	char path[] = "/tmp/test_capture.XXXXXX";
	struct pysec_cap_writer w;
	int fd = mkstemp(path);
	char *big = calloc(1, PYSEC_CAP_REC_MAX + 1);

	close(fd);
	assert_int_equal(pysec_cap_create(&w, path, 1, KEY, 8), -1); /* key too short */
	pysec_cap_abandon(&w);
	assert_int_equal(pysec_cap_create(&w, path, 0, KEY, sizeof(KEY)), -1); /* exists */
	pysec_cap_abandon(&w);
	assert_int_equal(pysec_cap_create(&w, path, 1, KEY, sizeof(KEY)), 0);
	w.no_fsync = 1;
	assert_int_equal(pysec_cap_append(&w, PYSEC_CAP_RAW, big, PYSEC_CAP_REC_MAX + 1), -1);
	assert_int_equal(pysec_cap_append(&w, PYSEC_CAP_HEADER, big, PYSEC_CAP_REC_MAX), 0);
	/* records seal blocks by count */
	for (int i = 0; i < PYSEC_CAP_BLOCK_RECORDS; i++)
		assert_int_equal(pysec_cap_append(&w, PYSEC_CAP_RAW, "x", 1), 0);
	assert_true(w.nblocks >= 1);
	pysec_cap_abandon(&w);
	unlink(path);
	free(big);
}

static void test_payloads(void **state)
{
	struct pysec_cap_lost l = {.mono_ns = 123456789, .count = 42, .stage = "kernel_ringbuf"},
			      l2;
	struct pysec_cap_lookup q = {.pid = 77,
				     .found = 1,
				     .kind = "identity",
				     .kind_len = 8,
				     .key = "",
				     .key_len = 0,
				     .answer = (const uint8_t *)"{}",
				     .answer_len = 2},
				q2;
	uint8_t buf[256];
	int n = pysec_cap_encode_lost(&l, buf, sizeof(buf));
	long m;

	assert_true(n > 16);
	assert_int_equal(pysec_cap_decode_lost(buf, (size_t)n, &l2), 0);
	assert_int_equal(l2.mono_ns, l.mono_ns);
	assert_int_equal(l2.count, 42);
	assert_string_equal(l2.stage, "kernel_ringbuf");
	assert_int_equal(pysec_cap_decode_lost(buf, 15, &l2), -1);
	assert_int_equal(pysec_cap_decode_lost(buf, 16 + 64, &l2), -1);

	m = pysec_cap_encode_lookup(&q, buf, sizeof(buf));
	assert_int_equal(m, 16 + 8 + 2);
	assert_int_equal(pysec_cap_decode_lookup(buf, (size_t)m, &q2), 0);
	assert_int_equal(q2.pid, 77);
	assert_true(q2.found);
	assert_int_equal(q2.kind_len, 8);
	assert_memory_equal(q2.kind, "identity", 8);
	assert_int_equal(q2.answer_len, 2);
	assert_memory_equal(q2.answer, "{}", 2);
	assert_int_equal(pysec_cap_decode_lookup(buf, (size_t)m - 1, &q2), -1);
	buf[8] = 0xff; /* answer_len past the record */
	assert_int_equal(pysec_cap_decode_lookup(buf, (size_t)m, &q2), -1);
	assert_int_equal(pysec_cap_encode_lookup(&q, buf, 20), -1);
}

static void test_keys(void **state)
{
	char dir[] = "/tmp/test_capkey.XXXXXX", path[128], err[256];
	uint8_t key[PYSEC_CAP_KEY_MAX];
	size_t len = 0;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/capture.key", dir);
	assert_int_equal(pysec_cap_make_key(path, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(pysec_cap_load_key(path, key, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 32);
	assert_int_equal(pysec_cap_make_key(path, err, sizeof(err)), -1); /* never overwritten */
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
	assert_int_equal(pysec_cap_load_key("/nonexistent/key", key, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/key"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),	  cmocka_unit_test(test_bit_flip_names_block),
	    cmocka_unit_test(test_trailer_flip),  cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_removed_block), cmocka_unit_test(test_hostile_lengths),
	    cmocka_unit_test(test_append_limits), cmocka_unit_test(test_payloads),
	    cmocka_unit_test(test_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
