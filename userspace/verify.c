// SPDX-License-Identifier: MIT
/*
 * verify.c — `pysectrace verify [--key K] FILE...`: walk a capture's
 * chain, check every block and record, the end record and the HMAC, and
 * say where it stops being intact.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "cli.h"

/* Exit codes (documented in --help and docs/capture-format.md). */
#define VERIFY_OK	  0
#define VERIFY_CHANGED	  1
#define VERIFY_INCOMPLETE 2
#define VERIFY_UNSIGNED	  3

static void usage(FILE *f)
{
	fprintf(f, "usage: pysectrace verify [--key KEYFILE] FILE [FILE.1 ...]\n\n"
		   "Check that a capture is whole and unchanged: every block's SHA-256 chain\n"
		   "hash, its records, the end record and the HMAC-SHA256 that signs the\n"
		   "final hash.  Says which block (index and byte offset) was changed or where\n"
		   "the file was cut.  Parts of a rotated capture, given in order, must also\n"
		   "follow each other (each names the previous part's final hash).\n\n"
		   "options:\n"
		   "  --key KEYFILE   the key record signed with (default $PYSECTRACE_KEY, else\n"
		   "                  ~/.config/pysectrace/capture.key)\n"
		   "  -h, --help      this help\n\n"
		   "exit status: 0 intact and signed with the key; 1 changed or malformed\n"
		   "(the block is named); 2 incomplete: no end record (cut, or the recorder\n"
		   "died), the intact part is named; 3 intact chain but the signature cannot\n"
		   "be checked (no key, or signed with another key); 125 usage, unreadable file.\n"
		   "With several files the worst status wins (1 > 2 > 3 > 0).\n");
}

static int worse(int a, int b)
{
	static const int rank[] = {0, 3, 2, 1}; /* OK < UNSIGNED < INCOMPLETE < CHANGED */

	if (a == EXIT_TOOL_FAILED || b == EXIT_TOOL_FAILED)
		return EXIT_TOOL_FAILED;
	return rank[a] >= rank[b] ? a : b;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static struct json_object *parse_obj(const struct pysec_cap_rec *r)
{
	struct json_tokener *tok = json_tokener_new_ex(16);
	struct json_object *o;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, (const char *)r->data, (int)r->len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

struct verify_key {
	uint8_t key[PYSEC_CAP_KEY_MAX];
	size_t len;
	char path[PATH_MAX];
	char err[PATH_MAX + 128];
	int ok;
};

static int verify_file(const char *path, const struct verify_key *k, char *prev_chain,
		       size_t prev_len)
{
	struct pysec_cap_reader rd;
	struct pysec_cap_rec rec;
	struct json_object *end = NULL, *hdr = NULL, *v;
	char chain[2 * PYSEC_CAP_HASH + 1], kid[17];
	const char *want_prev = NULL;
	FILE *f = fopen(path, "re");
	int k2, rc;

	if (!f) {
		printf("%s: cannot read: %s\n", path, strerror(errno));
		return EXIT_TOOL_FAILED;
	}
	if (pysec_cap_open(&rd, f) < 0) {
		printf("%s: %s: %s\n", path,
		       rd.status == PYSEC_CAP_INCOMPLETE ? "INCOMPLETE" : "CHANGED", rd.err);
		rc = rd.status == PYSEC_CAP_INCOMPLETE ? VERIFY_INCOMPLETE : VERIFY_CHANGED;
		goto out;
	}
	while ((k2 = pysec_cap_next(&rd, &rec)) > 0) {
		if (rec.type != PYSEC_CAP_HEADER && rec.type != PYSEC_CAP_END)
			continue;
		struct json_object *o = parse_obj(&rec);

		if (!o) {
			printf("%s: CHANGED: block %u at offset %" PRIu64 ": the %s record is not "
			       "a JSON object\n",
			       path, rec.block, rec.offset,
			       rec.type == PYSEC_CAP_HEADER ? "header" : "end");
			rc = VERIFY_CHANGED;
			goto out;
		}
		if (rec.type == PYSEC_CAP_HEADER)
			hdr = o;
		else
			end = o;
	}
	if (rd.status == PYSEC_CAP_CORRUPT) {
		printf("%s: CHANGED: %s; intact before it: %u blocks, %" PRIu64 " records, %" PRIu64
		       " bytes\n",
		       path, rd.err, rd.intact_blocks, rd.records, rd.intact_bytes);
		rc = VERIFY_CHANGED;
		goto out;
	}
	if (rd.status == PYSEC_CAP_INCOMPLETE) {
		printf("%s: INCOMPLETE: %s; intact: %u blocks, %" PRIu64 " records, %" PRIu64
		       " bytes (replay reads them)\n",
		       path, rd.err, rd.intact_blocks, rd.records, rd.intact_bytes);
		rc = VERIFY_INCOMPLETE;
		goto out;
	}
	hex(pysec_cap_chain(&rd), PYSEC_CAP_HASH, chain);
	hex(rd.key_id, sizeof(rd.key_id), kid);
	if (hdr && json_object_object_get_ex(hdr, "previous_chain", &v) &&
	    json_object_is_type(v, json_type_string))
		want_prev = json_object_get_string(v);
	if (prev_chain[0] && (!want_prev || strcmp(want_prev, prev_chain))) {
		printf("%s: CHANGED: block 0: this part does not follow the previous file (its "
		       "header names %s as the previous part's final hash, that file ends with "
		       "%s)\n",
		       path, want_prev ? want_prev : "no previous part", prev_chain);
		rc = VERIFY_CHANGED;
		goto out;
	}
	if (!k->ok) {
		printf("%s: UNSIGNED: the chain is intact (%u blocks, %" PRIu64 " records), but "
		       "the HMAC cannot be checked: %s\n",
		       path, rd.block, rd.records, k->err);
		rc = VERIFY_UNSIGNED;
	} else if (!pysec_cap_check_hmac(&rd, k->key, k->len)) {
		if (pysec_cap_same_key(&rd, k->key, k->len)) {
			printf("%s: CHANGED: the HMAC over the final chain hash (trailer at offset "
			       "%" PRIu64 ") does not match: blocks were changed and re-chained "
			       "without the key\n",
			       path, rd.intact_bytes - PYSEC_CAP_TRAILER);
			rc = VERIFY_CHANGED;
		} else {
			printf("%s: UNSIGNED: the chain is intact (%u blocks, %" PRIu64
			       " records), "
			       "but it was signed with another key (key id %s, not %s's)\n",
			       path, rd.block, rd.records, kid, k->path);
			rc = VERIFY_UNSIGNED;
		}
	} else {
		printf("%s: OK: %u blocks, %" PRIu64 " records, %" PRIu64 " bytes; chain %.16s...; "
		       "HMAC-SHA256 signed with key id %s",
		       path, rd.block, rd.records, rd.intact_bytes, chain, kid);
		if (end && json_object_object_get_ex(end, "counts", &v)) {
			struct json_object *a;

			if (json_object_object_get_ex(v, "alerts", &a))
				printf("; %" PRId64 " alerts", json_object_get_int64(a));
		}
		if (end && json_object_object_get_ex(end, "last_part", &v) &&
		    !json_object_get_boolean(v))
			printf("; continues in the next part");
		printf("\n");
		rc = VERIFY_OK;
	}
	snprintf(prev_chain, prev_len, "%s", chain);
out:
	json_object_put(hdr);
	json_object_put(end);
	pysec_cap_close(&rd);
	fclose(f);
	if (rc != VERIFY_OK && rc != VERIFY_UNSIGNED)
		prev_chain[0] = 0;
	return rc;
}

int cmd_verify(int argc, char **argv)
{
	/* clang-format off */
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* clang-format on */
	struct verify_key *k = calloc(1, sizeof(*k));
	const char *key = NULL;
	char prev[2 * PYSEC_CAP_HASH + 1] = "";
	int c, rc = VERIFY_OK;

	if (!k)
		return EXIT_TOOL_FAILED;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'K':
			key = optarg;
			break;
		case 'h':
			usage(stdout);
			free(k);
			return 0;
		default:
			usage(stderr);
			free(k);
			return EXIT_TOOL_FAILED;
		}
	}
	if (optind >= argc) {
		pysec_err("verify: no capture file given (pysectrace verify [--key K] FILE)");
		free(k);
		return EXIT_TOOL_FAILED;
	}
	if (key)
		snprintf(k->path, sizeof(k->path), "%s", key);
	else
		pysec_cap_default_key(k->path, sizeof(k->path));
	k->ok = pysec_cap_load_key(k->path, k->key, &k->len, k->err, sizeof(k->err)) == 0;
	for (int i = optind; i < argc; i++)
		rc = worse(rc, verify_file(argv[i], k, prev, sizeof(prev)));
	memset(k, 0, sizeof(*k));
	free(k);
	return rc;
}
