/* SPDX-License-Identifier: MIT */
/*
 * capwrite.h — the capture writer as a sink of the pipeline: raw records,
 * losses, alerts and the live /proc answers into FILE, FILE.1, ... (each
 * part a whole, signed capture), with the end record's summary.
 */
#ifndef PYSEC_CAPWRITE_H
#define PYSEC_CAPWRITE_H

#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "capture.h"
#include "emit.h"
#include "pipeline.h"
#include "pysectrace.h"

#define PYSEC_CW_PIDS	 65536 /* processes whose identity is recorded */
#define PYSEC_CW_PYTHONS 64    /* distinct Python executables listed */
#define PYSEC_CW_EXECS	 1024  /* distinct exec'd file names remembered */

struct pysec_capwriter_opts {
	const char *path;
	int overwrite;
	const uint8_t *key;
	size_t keylen;
	struct json_object *header; /* borrowed: copied into each part's header */
	uint64_t max_size;	    /* rotate when a part reaches it (0: never) */
	uint64_t duration_s;	    /* rotate after this long (0: never) */
};

struct pysec_cw_python {
	char *exe; /* JSON text of the identity's exe */
	uint64_t processes;
};

#define PYSEC_CW_RECENT 8 /* last live answers, reused for the alert's own JSON */

struct pysec_cw_answer {
	char kind[16];
	uint32_t pid;
	char *key, *answer; /* owned */
	long len;
};

struct pysec_capwriter {
	struct pysec_cap_writer w;
	struct pysec_capwriter_opts o;
	char path[PATH_MAX];
	unsigned part;
	uint64_t part_start_ms;
	int failed;	/* a write failed: said once, capture stops */
	uint32_t *pids; /* open addressing: pid | flags in a second array */
	uint8_t *pid_flags;
	uint16_t *pid_exec; /* index + 1 into execs of what pid exec'd last */
	char (*execs)[PYSEC_PATH_MAX];
	unsigned nexecs;
	uint64_t pid_table_full;
	struct pysec_cw_python pythons[PYSEC_CW_PYTHONS];
	unsigned npythons;
	uint64_t counts[8]; /* by PYSEC_REC_* type (0: malformed) */
	uint64_t lookups, alerts, lost_total;
	struct json_object *lost;      /* stage -> count, this part */
	struct pysec_emitter alert_em; /* writes an alert's JSON for the capture */
	struct pysec_cw_answer recent[PYSEC_CW_RECENT];
	unsigned recent_next;
};

/* Create the first part.  0, or -1 with a message printed. */
int pysec_capwriter_open(struct pysec_capwriter *cw, const struct pysec_capwriter_opts *o);
/* Add the writer as a sink of pl and record pl's /proc answers. */
int pysec_capwriter_add_sink(struct pysec_capwriter *cw, struct pysec_pipeline *pl);
/* A state change of the live source, by name ("kernel_lost"). */
void pysec_capwriter_note_state(struct pysec_capwriter *cw, const char *name);
/* Between polls: seal an old block, rotate by duration. */
void pysec_capwriter_tick(struct pysec_capwriter *cw);
/* End record (with COMMAND's exit status), trailer, close.  0 or -1. */
int pysec_capwriter_close(struct pysec_capwriter *cw, int exit_status);

#endif
