// SPDX-License-Identifier: MIT
/* capture.c — capture file writer and reader (see capture.h, docs/capture-format.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "capture.h"

static const char BLOCK_MAGIC[4] = {'P', 'S', 'C', 'B'};
static const char TRAILER_MAGIC[4] = {'P', 'S', 'C', 'E'};
static const char KEY_ID_LABEL[] = "pysectrace capture key id";

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* SHA-256 over up to three pieces. */
static void sha256_3(const void *a, size_t alen, const void *b, size_t blen, const void *c,
		     size_t clen, uint8_t out[PYSEC_CAP_HASH])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n = 0;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, a, alen) || (blen && !EVP_DigestUpdate(ctx, b, blen)) ||
	    (clen && !EVP_DigestUpdate(ctx, c, clen)) || !EVP_DigestFinal_ex(ctx, out, &n))
		memset(out, 0, PYSEC_CAP_HASH); /* cannot happen with a working libcrypto */
	EVP_MD_CTX_free(ctx);
}

/* HMAC-SHA256(key, chain || le32 nblocks): binds the count of blocks too. */
static void seal_hmac(const uint8_t *key, size_t keylen, const uint8_t chain[PYSEC_CAP_HASH],
		      uint32_t nblocks, uint8_t out[PYSEC_CAP_HASH])
{
	uint8_t msg[PYSEC_CAP_HASH + 4];
	unsigned n = 0;

	memcpy(msg, chain, PYSEC_CAP_HASH);
	put32(msg + PYSEC_CAP_HASH, nblocks);
	if (!HMAC(EVP_sha256(), key, (int)keylen, msg, sizeof(msg), out, &n))
		memset(out, 0, PYSEC_CAP_HASH);
}

static void key_id(const uint8_t *key, size_t keylen, uint8_t out[8])
{
	uint8_t h[PYSEC_CAP_HASH];

	sha256_3(KEY_ID_LABEL, sizeof(KEY_ID_LABEL) - 1, key, keylen, NULL, 0, h);
	memcpy(out, h, 8);
}

static void file_header(uint8_t hdr[PYSEC_CAP_FILE_HDR], uint32_t version)
{
	memcpy(hdr, PYSEC_CAP_MAGIC, 8);
	put32(hdr + 8, version);
	put32(hdr + 12, 0);
}

/* ------------------------------------------------------------------ writer */

static int write_all(struct pysec_cap_writer *w, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(w->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		w->bytes += (uint64_t)n;
	}
	return 0;
}

int pysec_cap_create(struct pysec_cap_writer *w, const char *path, int overwrite,
		     const uint8_t *key, size_t keylen)
{
	uint8_t hdr[PYSEC_CAP_FILE_HDR];

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	if (keylen < PYSEC_CAP_KEY_MIN || keylen > PYSEC_CAP_KEY_MAX) {
		errno = EINVAL;
		return -1;
	}
	memcpy(w->key, key, keylen);
	w->keylen = keylen;
	w->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL), 0600);
	/* an existing file keeps its mode on O_TRUNC: a capture is always 0600 */
	if (w->fd < 0 || fchmod(w->fd, 0600) != 0)
		return -1;
	w->rawcap = 64 * 1024;
	w->raw = malloc(w->rawcap);
	if (!w->raw)
		return -1;
	file_header(hdr, PYSEC_CAP_VERSION);
	sha256_3(hdr, sizeof(hdr), NULL, 0, NULL, 0, w->chain);
	return write_all(w, hdr, sizeof(hdr));
}

int pysec_cap_append(struct pysec_cap_writer *w, uint32_t type, const void *data, size_t len)
{
	size_t need;

	if (w->fd < 0 || len > PYSEC_CAP_REC_MAX) {
		errno = w->fd < 0 ? EBADF : EMSGSIZE;
		return -1;
	}
	if (w->nrecords && w->rawlen + PYSEC_CAP_REC_HDR + len > PYSEC_CAP_BLOCK_BYTES &&
	    pysec_cap_seal(w, 0) < 0)
		return -1;
	need = w->rawlen + PYSEC_CAP_REC_HDR + len;
	if (need > w->rawcap) {
		size_t cap = w->rawcap;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		p = realloc(w->raw, cap);
		if (!p)
			return -1;
		w->raw = p;
		w->rawcap = cap;
	}
	put32(w->raw + w->rawlen, type);
	put32(w->raw + w->rawlen + 4, (uint32_t)len);
	if (len)
		memcpy(w->raw + w->rawlen + PYSEC_CAP_REC_HDR, data, len);
	w->rawlen = need;
	if (!w->nrecords++)
		w->open_ms = now_ms();
	if (w->nrecords >= PYSEC_CAP_BLOCK_RECORDS)
		return pysec_cap_seal(w, 0);
	return 0;
}

int pysec_cap_seal(struct pysec_cap_writer *w, uint32_t flags)
{
	uint8_t hdr[PYSEC_CAP_BLOCK_HDR];
	size_t bound, clen;
	uint8_t *comp;
	int rc = -1;

	if (w->fd < 0)
		return -1;
	if (!w->nrecords)
		return 0;
	bound = ZSTD_compressBound(w->rawlen);
	comp = malloc(bound);
	if (!comp)
		return -1;
	clen = ZSTD_compress(comp, bound, w->raw, w->rawlen, 3);
	if (ZSTD_isError(clen) || clen > PYSEC_CAP_COMP_MAX) {
		errno = EIO;
		goto out;
	}
	memcpy(hdr, BLOCK_MAGIC, 4);
	put32(hdr + 4, w->nblocks);
	put32(hdr + 8, (uint32_t)clen);
	put32(hdr + 12, (uint32_t)w->rawlen);
	put32(hdr + 16, w->nrecords);
	put32(hdr + 20, flags);
	sha256_3(w->chain, PYSEC_CAP_HASH, hdr, sizeof(hdr), comp, clen, w->chain);
	if (write_all(w, hdr, sizeof(hdr)) || write_all(w, comp, clen) ||
	    write_all(w, w->chain, PYSEC_CAP_HASH))
		goto out;
	/* a crash of the tracer loses at most the block still open */
	if (!w->no_fsync && fdatasync(w->fd) != 0 && errno != EINVAL)
		goto out;
	w->nblocks++;
	w->rawlen = 0;
	w->nrecords = 0;
	rc = 0;
out:
	free(comp);
	return rc;
}

int pysec_cap_tick(struct pysec_cap_writer *w)
{
	if (w->nrecords && now_ms() - w->open_ms >= PYSEC_CAP_BLOCK_MS)
		return pysec_cap_seal(w, 0);
	return 0;
}

int pysec_cap_finish(struct pysec_cap_writer *w, const char *end_json)
{
	uint8_t tr[PYSEC_CAP_TRAILER];
	int rc;

	if (w->fd < 0)
		return -1;
	/* the end record alone in the last block: a reader finds it by the flag */
	rc = pysec_cap_seal(w, 0);
	if (!rc)
		rc = pysec_cap_append(w, PYSEC_CAP_END, end_json, strlen(end_json));
	if (!rc)
		rc = pysec_cap_seal(w, PYSEC_CAP_BLOCK_END);
	if (!rc) {
		memcpy(tr, TRAILER_MAGIC, 4);
		put32(tr + 4, w->nblocks);
		seal_hmac(w->key, w->keylen, w->chain, w->nblocks, tr + 8);
		key_id(w->key, w->keylen, tr + 40);
		rc = write_all(w, tr, sizeof(tr));
	}
	if (!rc && !w->no_fsync)
		fsync(w->fd);
	if (close(w->fd) != 0)
		rc = -1;
	w->fd = -1;
	OPENSSL_cleanse(w->key, sizeof(w->key));
	free(w->raw);
	w->raw = NULL;
	return rc;
}

void pysec_cap_abandon(struct pysec_cap_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	OPENSSL_cleanse(w->key, sizeof(w->key));
	free(w->raw);
	w->raw = NULL;
}

/* ------------------------------------------------------------------ keys */

int pysec_cap_load_key(const char *path, uint8_t *key, size_t *keylen, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		snprintf(err, errlen, "cannot read key file %s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, key, PYSEC_CAP_KEY_MAX);
	if (n == PYSEC_CAP_KEY_MAX) {
		uint8_t extra;

		if (read(fd, &extra, 1) == 1)
			n = PYSEC_CAP_KEY_MAX + 1;
	}
	close(fd);
	if (n < PYSEC_CAP_KEY_MIN || n > PYSEC_CAP_KEY_MAX) {
		snprintf(err, errlen, "key file %s: %zd bytes, a key has %d to %d", path, n,
			 PYSEC_CAP_KEY_MIN, PYSEC_CAP_KEY_MAX);
		return -1;
	}
	*keylen = (size_t)n;
	return 0;
}

static int mkdir_parents(const char *path)
{
	char dir[4096];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -1;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(dir, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

int pysec_cap_make_key(const char *path, char *err, size_t errlen)
{
	uint8_t key[32];
	int fd;

	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	if (mkdir_parents(path) != 0) {
		snprintf(err, errlen, "cannot create the directory of %s: %s", path,
			 strerror(errno));
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write key file %s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		OPENSSL_cleanse(key, sizeof(key));
		return -1;
	}
	close(fd);
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

void pysec_cap_default_key(char *out, size_t len)
{
	const char *env = getenv("PYSECTRACE_KEY"), *home = getenv("HOME");

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return;
	}
	if (!home || !*home) {
		struct passwd *pw = getpwuid(geteuid());

		home = pw ? pw->pw_dir : "/";
	}
	snprintf(out, len, "%s/.config/pysectrace/capture.key", home);
}

/* ------------------------------------------------------------------ reader */

static int fail(struct pysec_cap_reader *r, enum pysec_cap_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct pysec_cap_reader *r, enum pysec_cap_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->status = st;
	return st == PYSEC_CAP_CORRUPT ? -1 : 0;
}

/* Read exactly len bytes: 1; 0 at a clean end of file before any byte; -1 cut short. */
static int read_exact(struct pysec_cap_reader *r, void *buf, size_t len, size_t *got)
{
	size_t n = fread(buf, 1, len, r->f);

	*got = n;
	r->off += n;
	if (n == len)
		return 1;
	return n == 0 ? 0 : -1;
}

int pysec_cap_open(struct pysec_cap_reader *r, FILE *f)
{
	uint8_t hdr[PYSEC_CAP_FILE_HDR];
	size_t got;

	memset(r, 0, sizeof(r[0]));
	r->f = f;
	r->zctx = ZSTD_createDCtx();
	if (!r->zctx) {
		fail(r, PYSEC_CAP_CORRUPT, "out of memory");
		return -1;
	}
	/* our blocks are at most 4 MiB: no frame needs a larger window */
	ZSTD_DCtx_setParameter(r->zctx, ZSTD_d_windowLogMax, 23);
	if (read_exact(r, hdr, sizeof(hdr), &got) != 1) {
		/* a cut capture still starts with the magic */
		if (!got)
			fail(r, PYSEC_CAP_INCOMPLETE, "the file is empty: no capture header");
		else if (!memcmp(hdr, PYSEC_CAP_MAGIC, got < 8 ? got : 8))
			fail(r, PYSEC_CAP_INCOMPLETE, "the file header is cut at byte %zu of %d",
			     got, PYSEC_CAP_FILE_HDR);
		else
			fail(r, PYSEC_CAP_CORRUPT, "not a pysectrace capture (%zu bytes)", got);
		return -1;
	}
	if (memcmp(hdr, PYSEC_CAP_MAGIC, 8)) {
		fail(r, PYSEC_CAP_CORRUPT, "not a pysectrace capture (offset 0: magic differs)");
		return -1;
	}
	r->version = get32(hdr + 8);
	if (r->version != PYSEC_CAP_VERSION) {
		fail(r, PYSEC_CAP_CORRUPT,
		     "capture format version %u at offset 8: this build reads %d", r->version,
		     PYSEC_CAP_VERSION);
		return -1;
	}
	sha256_3(hdr, sizeof(hdr), NULL, 0, NULL, 0, r->chain);
	r->intact_bytes = r->off;
	r->status = PYSEC_CAP_OK;
	return 0;
}

static int read_trailer(struct pysec_cap_reader *r, uint64_t at)
{
	uint8_t tr[PYSEC_CAP_TRAILER - 4], extra;
	size_t got;

	if (!r->ended)
		return fail(r, PYSEC_CAP_CORRUPT,
			    "block %u at offset %" PRIu64 ": a trailer where a block was expected "
			    "(the end block is missing)",
			    r->block, at);
	if (read_exact(r, tr, sizeof(tr), &got) != 1)
		return fail(r, PYSEC_CAP_INCOMPLETE,
			    "trailer at offset %" PRIu64 " cut after %zu of %d bytes", at, got + 4,
			    PYSEC_CAP_TRAILER);
	if (get32(tr) != r->block)
		return fail(r, PYSEC_CAP_CORRUPT,
			    "trailer at offset %" PRIu64 " counts %u blocks, the file has %u", at,
			    get32(tr), r->block);
	memcpy(r->hmac, tr + 4, PYSEC_CAP_HASH);
	memcpy(r->key_id, tr + 4 + PYSEC_CAP_HASH, 8);
	if (fread(&extra, 1, 1, r->f) == 1)
		return fail(r, PYSEC_CAP_CORRUPT, "data after the trailer at offset %" PRIu64,
			    r->off);
	r->intact_bytes = r->off;
	r->status = PYSEC_CAP_COMPLETE;
	return 0;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;

	if (need <= *cap)
		return 0;
	p = realloc(*buf, need);
	if (!p)
		return -1;
	*buf = p;
	*cap = need;
	return 0;
}

/*
 * A block that runs past the end of the file: cut (incomplete), unless the
 * file still ends with a trailer — then a length in the block was changed.
 */
static int past_end(struct pysec_cap_reader *r, uint64_t at, const char *what)
{
	uint8_t m[4];
	int signed_end = fseeko(r->f, -(off_t)PYSEC_CAP_TRAILER, SEEK_END) == 0 &&
			 fread(m, 1, 4, r->f) == 4 && !memcmp(m, TRAILER_MAGIC, 4) &&
			 (uint64_t)ftello(r->f) - 4 > at;

	if (signed_end)
		return fail(r, PYSEC_CAP_CORRUPT,
			    "block %u at offset %" PRIu64 ": its length (%s) "
			    "runs past the end of a file that ends with its trailer: the block "
			    "header was changed",
			    r->block, at, what);
	return fail(r, PYSEC_CAP_INCOMPLETE,
		    "cut inside block %u at offset %" PRIu64
		    " (a block of %s; the file ends at %" PRIu64 ")",
		    r->block, at, what, r->off);
}

/* Read, check and decompress the next block: 1, or the end (0) / error (-1). */
static int load_block(struct pysec_cap_reader *r)
{
	uint8_t hdr[PYSEC_CAP_BLOCK_HDR], stored[PYSEC_CAP_HASH], h[PYSEC_CAP_HASH];
	uint64_t at = r->off;
	uint32_t idx, clen, rlen, nrec, flags;
	size_t got, dn;

	int k = read_exact(r, hdr, 4, &got);

	if (k == 0) {
		if (r->ended)
			return fail(r, PYSEC_CAP_INCOMPLETE,
				    "the trailer (HMAC) after block %u is "
				    "missing at offset %" PRIu64,
				    r->block - 1, at);
		return fail(r, PYSEC_CAP_INCOMPLETE,
			    "no end record: the file stops after block %u at offset %" PRIu64,
			    r->block ? r->block - 1 : 0, at);
	}
	if (k < 0)
		return fail(r, PYSEC_CAP_INCOMPLETE,
			    "cut inside block %u at offset %" PRIu64 " (%zu bytes of it present)",
			    r->block, at, got);
	if (!memcmp(hdr, TRAILER_MAGIC, 4))
		return read_trailer(r, at) < 0 ? -1 : 0;
	if (memcmp(hdr, BLOCK_MAGIC, 4))
		return fail(r, PYSEC_CAP_CORRUPT,
			    "block %u at offset %" PRIu64
			    ": no block magic (the file was changed here)",
			    r->block, at);
	if (r->ended)
		return fail(r, PYSEC_CAP_CORRUPT,
			    "block %u at offset %" PRIu64 ": a block after the end block", r->block,
			    at);
	if (read_exact(r, hdr + 4, sizeof(hdr) - 4, &got) != 1)
		return fail(r, PYSEC_CAP_INCOMPLETE,
			    "cut inside block %u at offset %" PRIu64 " (%zu bytes of it present)",
			    r->block, at, got + 4);
	idx = get32(hdr + 4);
	clen = get32(hdr + 8);
	rlen = get32(hdr + 12);
	nrec = get32(hdr + 16);
	flags = get32(hdr + 20);
	if (idx != r->block)
		return fail(r, PYSEC_CAP_CORRUPT,
			    "block %u at offset %" PRIu64 ": it says it is "
			    "block %u (a block was removed, reordered or changed)",
			    r->block, at, idx);
	if (clen == 0 || clen > PYSEC_CAP_COMP_MAX || rlen == 0 || rlen > PYSEC_CAP_RAW_MAX ||
	    nrec == 0 || nrec > rlen / PYSEC_CAP_REC_HDR || (flags & ~PYSEC_CAP_BLOCK_END))
		return fail(r, PYSEC_CAP_CORRUPT,
			    "block %u at offset %" PRIu64 ": header out of "
			    "bounds (compressed %u, raw %u, records %u, flags %#x)",
			    r->block, at, clen, rlen, nrec, flags);
	/* buffers grow to the largest block met, within the caps checked above */
	if (grow(&r->comp, &r->comp_cap, clen) < 0 || grow(&r->raw, &r->raw_cap, rlen) < 0)
		return fail(r, PYSEC_CAP_CORRUPT, "out of memory for block %u at offset %" PRIu64,
			    r->block, at);
	if (read_exact(r, r->comp, clen, &got) != 1 ||
	    read_exact(r, stored, sizeof(stored), &got) != 1) {
		char what[64];

		snprintf(what, sizeof(what), "%zu bytes",
			 (size_t)PYSEC_CAP_BLOCK_HDR + clen + PYSEC_CAP_HASH);
		return past_end(r, at, what);
	}
	sha256_3(r->chain, PYSEC_CAP_HASH, hdr, sizeof(hdr), r->comp, clen, h);
	if (memcmp(h, stored, PYSEC_CAP_HASH))
		return fail(r, PYSEC_CAP_CORRUPT,
			    "block %u at offset %" PRIu64 " (%" PRIu64
			    " bytes) was changed: its SHA-256 chain hash does not match",
			    r->block, at, r->off - at);
	dn = ZSTD_decompressDCtx(r->zctx, r->raw, rlen, r->comp, clen);
	if (ZSTD_isError(dn) || dn != rlen)
		return fail(r, PYSEC_CAP_CORRUPT,
			    "block %u at offset %" PRIu64 ": does not "
			    "decompress to its %u bytes (%s)",
			    r->block, at, rlen,
			    ZSTD_isError(dn) ? ZSTD_getErrorName(dn) : "size differs");
	memcpy(r->chain, h, PYSEC_CAP_HASH);
	r->rawlen = rlen;
	r->pos = 0;
	r->cur_block = r->block++;
	r->cur_offset = at;
	r->cur_flags = flags;
	/* check the record framing of the whole block before handing any out */
	uint32_t n = 0;

	for (size_t pos = 0; pos < rlen; n++) {
		uint32_t type, len;

		if (rlen - pos < PYSEC_CAP_REC_HDR)
			return fail(r, PYSEC_CAP_CORRUPT,
				    "block %u at offset %" PRIu64
				    ": record %u cut at byte %zu of the block",
				    r->cur_block, at, n, pos);
		type = get32(r->raw + pos);
		len = get32(r->raw + pos + 4);
		if (len > PYSEC_CAP_REC_MAX || len > rlen - pos - PYSEC_CAP_REC_HDR)
			return fail(r, PYSEC_CAP_CORRUPT,
				    "block %u at offset %" PRIu64
				    ": record %u at byte %zu has length %u (past the block)",
				    r->cur_block, at, n, pos, len);
		if (type < PYSEC_CAP_HEADER || type > PYSEC_CAP_STATE)
			return fail(r, PYSEC_CAP_CORRUPT,
				    "block %u at offset %" PRIu64
				    ": record %u at byte %zu has unknown type %u",
				    r->cur_block, at, n, pos, type);
		if ((type == PYSEC_CAP_HEADER) != (r->cur_block == 0 && pos == 0))
			return fail(
			    r, PYSEC_CAP_CORRUPT, "block %u at offset %" PRIu64 ": record %u: %s",
			    r->cur_block, at, n,
			    type == PYSEC_CAP_HEADER ? "a second header record"
						     : "the first record is not the header");
		if ((type == PYSEC_CAP_END) !=
		    ((flags & PYSEC_CAP_BLOCK_END) && pos + PYSEC_CAP_REC_HDR + len == rlen))
			return fail(r, PYSEC_CAP_CORRUPT,
				    "block %u at offset %" PRIu64
				    ": record %u: the end record must close the end block",
				    r->cur_block, at, n);
		pos += PYSEC_CAP_REC_HDR + len;
	}
	if (n != nrec)
		return fail(r, PYSEC_CAP_CORRUPT,
			    "block %u at offset %" PRIu64 ": holds %u records, its header says %u",
			    r->cur_block, at, n, nrec);
	if (flags & PYSEC_CAP_BLOCK_END)
		r->ended = 1;
	r->intact_bytes = r->off;
	r->intact_blocks = r->block;
	return 1;
}

int pysec_cap_next(struct pysec_cap_reader *r, struct pysec_cap_rec *out)
{
	if (r->status != PYSEC_CAP_OK)
		return r->status == PYSEC_CAP_CORRUPT ? -1 : 0;
	while (r->pos >= r->rawlen) {
		int k = load_block(r);

		if (k <= 0)
			return k;
	}
	out->type = get32(r->raw + r->pos);
	out->len = get32(r->raw + r->pos + 4);
	out->data = r->raw + r->pos + PYSEC_CAP_REC_HDR;
	out->block = r->cur_block;
	out->offset = r->cur_offset;
	r->pos += PYSEC_CAP_REC_HDR + out->len;
	r->records++;
	return 1;
}

int pysec_cap_check_hmac(const struct pysec_cap_reader *r, const uint8_t *key, size_t keylen)
{
	uint8_t mac[PYSEC_CAP_HASH];

	if (r->status != PYSEC_CAP_COMPLETE)
		return 0;
	seal_hmac(key, keylen, r->chain, r->block, mac);
	return CRYPTO_memcmp(mac, r->hmac, PYSEC_CAP_HASH) == 0;
}

int pysec_cap_same_key(const struct pysec_cap_reader *r, const uint8_t *key, size_t keylen)
{
	uint8_t id[8];

	key_id(key, keylen, id);
	return memcmp(id, r->key_id, sizeof(id)) == 0;
}

const uint8_t *pysec_cap_chain(const struct pysec_cap_reader *r)
{
	return r->chain;
}

void pysec_cap_close(struct pysec_cap_reader *r)
{
	free(r->comp);
	free(r->raw);
	ZSTD_freeDCtx(r->zctx);
	r->comp = r->raw = NULL;
	r->zctx = NULL;
}

/* ------------------------------------------------------------------ payloads */

int pysec_cap_encode_lost(const struct pysec_cap_lost *l, uint8_t *out, size_t cap)
{
	size_t n = strnlen(l->stage, sizeof(l->stage) - 1);

	if (cap < 16 + n)
		return -1;
	put64(out, l->mono_ns);
	put64(out + 8, l->count);
	memcpy(out + 16, l->stage, n);
	return (int)(16 + n);
}

int pysec_cap_decode_lost(const uint8_t *p, size_t len, struct pysec_cap_lost *l)
{
	if (len < 16 || len - 16 >= sizeof(l->stage))
		return -1;
	l->mono_ns = get64(p);
	l->count = get64(p + 8);
	memcpy(l->stage, p + 16, len - 16);
	l->stage[len - 16] = 0;
	return 0;
}

long pysec_cap_encode_lookup(const struct pysec_cap_lookup *l, uint8_t *out, size_t cap)
{
	size_t need = 16 + l->kind_len + l->key_len + l->answer_len;

	if (l->kind_len > 0xffff || l->key_len > 0xffff || need > cap)
		return -1;
	put32(out, l->pid);
	out[4] = (uint8_t)l->kind_len;
	out[5] = (uint8_t)(l->kind_len >> 8);
	out[6] = (uint8_t)l->key_len;
	out[7] = (uint8_t)(l->key_len >> 8);
	put32(out + 8, (uint32_t)l->answer_len);
	put32(out + 12, (uint32_t) !!l->found);
	memcpy(out + 16, l->kind, l->kind_len);
	memcpy(out + 16 + l->kind_len, l->key, l->key_len);
	if (l->answer_len)
		memcpy(out + 16 + l->kind_len + l->key_len, l->answer, l->answer_len);
	return (long)need;
}

int pysec_cap_decode_lookup(const uint8_t *p, size_t len, struct pysec_cap_lookup *l)
{
	if (len < 16)
		return -1;
	l->pid = get32(p);
	l->kind_len = (size_t)p[4] | (size_t)p[5] << 8;
	l->key_len = (size_t)p[6] | (size_t)p[7] << 8;
	l->answer_len = get32(p + 8);
	l->found = get32(p + 12) != 0;
	if (l->answer_len > len || l->kind_len + l->key_len + l->answer_len != len - 16)
		return -1;
	l->kind = (const char *)p + 16;
	l->key = l->kind + l->kind_len;
	l->answer = (const uint8_t *)l->key + l->key_len;
	return 0;
}
