/* SPDX-License-Identifier: MIT */
/*
 * capture.h — the capture file format (docs/capture-format.md): a file
 * header, zstd-compressed blocks of length-prefixed records, each block
 * chained by SHA-256 to the one before, an end block and a trailer with an
 * HMAC-SHA256 of the final chain hash.  The writer appends records and
 * seals blocks; the reader walks a file of unknown origin, bounded
 * everywhere, and says where it stops being intact.
 */
#ifndef PYSEC_CAPTURE_H
#define PYSEC_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PYSEC_CAP_VERSION   1
#define PYSEC_CAP_MAGIC	    "PYSECCAP"
#define PYSEC_CAP_FILE_HDR  16 /* magic, u32 version, u32 flags */
#define PYSEC_CAP_BLOCK_HDR 24 /* magic, index, comp_len, raw_len, nrecords, flags */
#define PYSEC_CAP_HASH	    32
#define PYSEC_CAP_TRAILER   48	       /* magic, nblocks, hmac[32], key id[8] */
#define PYSEC_CAP_REC_HDR   8	       /* u32 type, u32 len */
#define PYSEC_CAP_REC_MAX   (1u << 20) /* one record's payload */
#define PYSEC_CAP_RAW_MAX   (4u << 20) /* a block, uncompressed */
#define PYSEC_CAP_COMP_MAX  (5u << 20) /* a block, compressed */
#define PYSEC_CAP_KEY_MIN   16
#define PYSEC_CAP_KEY_MAX   1024

#define PYSEC_CAP_BLOCK_END 0x1u /* the block holding the end record */

enum pysec_cap_rec_type {
	PYSEC_CAP_HEADER = 1, /* JSON: format/tool version, host, kernel, boot, policy */
	PYSEC_CAP_RAW = 2,    /* a ring-buffer record as received (bpf/pysectrace.h) */
	PYSEC_CAP_LOST = 3,   /* u64 mono_ns, u64 count, stage name */
	PYSEC_CAP_LOOKUP = 4, /* what a live /proc lookup answered (procinfo.h) */
	PYSEC_CAP_ALERT = 5,  /* an alert as the JSON emitter wrote it */
	PYSEC_CAP_END = 6,    /* JSON: Pythons seen, counts, losses */
	PYSEC_CAP_STATE = 7,  /* a change of the live source's state the classifier reads */
};

/* Default seal points (documented in docs/capture-format.md). */
#define PYSEC_CAP_BLOCK_RECORDS 512
#define PYSEC_CAP_BLOCK_MS	200
#define PYSEC_CAP_BLOCK_BYTES	(1u << 20)

struct pysec_cap_writer {
	int fd;
	uint8_t key[PYSEC_CAP_KEY_MAX];
	size_t keylen;
	uint8_t chain[PYSEC_CAP_HASH];
	uint8_t *raw; /* the open block */
	size_t rawlen, rawcap;
	uint32_t nrecords; /* in the open block */
	uint32_t nblocks;  /* sealed */
	uint64_t bytes;	   /* written to the file */
	uint64_t open_ms;  /* when the open block got its first record */
	int no_fsync;	   /* tests */
};

/*
 * Create path (mode 0600, O_EXCL unless overwrite) and write the file
 * header.  0, or -1 with errno set.
 */
int pysec_cap_create(struct pysec_cap_writer *w, const char *path, int overwrite,
		     const uint8_t *key, size_t keylen);
/* Append a record to the open block; seals it when full.  0 or -1. */
int pysec_cap_append(struct pysec_cap_writer *w, uint32_t type, const void *data, size_t len);
/* Compress, chain, write and fsync the open block (nothing if empty). */
int pysec_cap_seal(struct pysec_cap_writer *w, uint32_t flags);
/* Seal the open block if it is older than PYSEC_CAP_BLOCK_MS. */
int pysec_cap_tick(struct pysec_cap_writer *w);
/* Append the end record, seal, write the trailer, close.  0 or -1. */
int pysec_cap_finish(struct pysec_cap_writer *w, const char *end_json);
/* Close without an end record (a crash looks like this). */
void pysec_cap_abandon(struct pysec_cap_writer *w);

/* A key file: 16..1024 bytes.  0, or -1 with a message in err. */
int pysec_cap_load_key(const char *path, uint8_t *key, size_t *keylen, char *err, size_t errlen);
/* Create a new random 32-byte key at path, mode 0600 (directory 0700). */
int pysec_cap_make_key(const char *path, char *err, size_t errlen);
/* The default key file: $PYSECTRACE_KEY, else ~/.config/pysectrace/capture.key. */
void pysec_cap_default_key(char *out, size_t len);

enum pysec_cap_status {
	PYSEC_CAP_OK = 0,     /* records so far are intact */
	PYSEC_CAP_COMPLETE,   /* end block and trailer read */
	PYSEC_CAP_INCOMPLETE, /* the file stops cleanly at a block boundary or inside one */
	PYSEC_CAP_CORRUPT,    /* something does not check: err says what and where */
};

struct pysec_cap_rec {
	uint32_t type;
	uint32_t len;
	const uint8_t *data;
	uint32_t block;	 /* index of the block holding it */
	uint64_t offset; /* file offset of that block */
};

struct pysec_cap_reader {
	FILE *f;
	uint64_t off; /* next byte to read */
	uint8_t chain[PYSEC_CAP_HASH];
	uint8_t *comp, *raw; /* one block each, capped */
	size_t comp_cap, raw_cap;
	size_t rawlen, pos; /* the current block's records */
	uint32_t block;	    /* index of the next block to read */
	uint32_t cur_block; /* index of the block being walked */
	uint64_t cur_offset;
	uint32_t cur_flags;
	uint64_t records;	/* records returned */
	uint64_t intact_bytes;	/* file bytes checked good (header + whole blocks) */
	uint32_t intact_blocks; /* blocks checked good */
	uint32_t version;
	int ended; /* the end block was read */
	enum pysec_cap_status status;
	uint8_t hmac[PYSEC_CAP_HASH], key_id[8]; /* from the trailer */
	char err[256];
	void *zctx;
};

/* Read the file header.  0, or -1 (status CORRUPT/INCOMPLETE, err set). */
int pysec_cap_open(struct pysec_cap_reader *r, FILE *f);
/*
 * The next record: 1; 0 at the end (status COMPLETE or INCOMPLETE);
 * -1 when the file is changed or malformed (status CORRUPT, err names the
 * block and the byte offset).  Records before the error were intact.
 */
int pysec_cap_next(struct pysec_cap_reader *r, struct pysec_cap_rec *out);
/* After status COMPLETE: 1 when the trailer's HMAC matches key, else 0. */
int pysec_cap_check_hmac(const struct pysec_cap_reader *r, const uint8_t *key, size_t keylen);
/* After status COMPLETE: whether the capture was signed with this key. */
int pysec_cap_same_key(const struct pysec_cap_reader *r, const uint8_t *key, size_t keylen);
/* The chain hash after the last block read. */
const uint8_t *pysec_cap_chain(const struct pysec_cap_reader *r);
void pysec_cap_close(struct pysec_cap_reader *r);

/* Payload of a PYSEC_CAP_LOST record. */
struct pysec_cap_lost {
	uint64_t mono_ns;
	uint64_t count;
	char stage[64];
};
int pysec_cap_encode_lost(const struct pysec_cap_lost *l, uint8_t *out, size_t cap);
int pysec_cap_decode_lost(const uint8_t *p, size_t len, struct pysec_cap_lost *l);

/*
 * Payload of a PYSEC_CAP_LOOKUP record: u32 pid, u16 kind_len, u16 key_len,
 * u32 answer_len, u32 found, kind, key, answer.
 */
struct pysec_cap_lookup {
	uint32_t pid;
	int found;
	const char *kind, *key;
	const uint8_t *answer;
	size_t kind_len, key_len, answer_len;
};
/* Bytes written, or -1 when it does not fit. */
long pysec_cap_encode_lookup(const struct pysec_cap_lookup *l, uint8_t *out, size_t cap);
int pysec_cap_decode_lookup(const uint8_t *p, size_t len, struct pysec_cap_lookup *l);

#endif
