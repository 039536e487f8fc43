/* SPDX-License-Identifier: MIT */
/*
 * logsink.h — outputs for log pipelines: a JSON-lines file rotated by
 * size (rotated files optionally gzip-compressed), syslog, and the output
 * sink that sends records and alerts to them through the rate limiter.
 */
#ifndef PYSEC_LOGSINK_H
#define PYSEC_LOGSINK_H

#include <stdint.h>
#include <stdio.h>

#include "emit.h"
#include "pipeline.h"
#include "ratelimit.h"

struct pysec_metrics;

struct pysec_rotfile {
	char path[4096];
	int fd;
	uint64_t size;	   /* bytes in the current file */
	uint64_t max_size; /* rotate past this (0: never) */
	unsigned keep;	   /* rotated files kept: path.1 ... path.keep */
	int compress;	   /* gzip rotated files: path.1.gz ... */
	int at_line_start; /* the last byte written ended a line */
	uint64_t rotations;
	uint64_t lost_lines; /* lines that could not be written */
};

/*
 * A FILE that appends to path and rotates it by size, only between lines
 * (so it is made line-buffered).  NULL with a message printed on error.
 */
FILE *pysec_rotfile_open(struct pysec_rotfile *rf, const char *path, uint64_t max_size,
			 unsigned keep, int compress);
/* Close and open path again (after an outside rotation); 0 or -1. */
int pysec_rotfile_reopen(struct pysec_rotfile *rf);

/* A FILE whose every line goes to syslog (ident "pysectrace", LOG_DAEMON). */
FILE *pysec_syslog_open(int *priority);

#define PYSEC_OUTPUT_MAX 2

/* The emitters of a verb behind one rate limit. */
struct pysec_output {
	struct pysec_emitter *em[PYSEC_OUTPUT_MAX];
	int *syslog_prio[PYSEC_OUTPUT_MAX]; /* set per record for a syslog emitter */
	unsigned nem;
	struct pysec_ratelimit rl;
	struct pysec_metrics *metrics; /* may be NULL */
};

/* rate 0: no limit.  0, or -1 when out of memory. */
int pysec_output_init(struct pysec_output *o, double rate, double burst,
		      struct pysec_metrics *metrics);
void pysec_output_add_emitter(struct pysec_output *o, struct pysec_emitter *em, int *syslog_prio);
int pysec_output_add_sink(struct pysec_output *o, struct pysec_pipeline *p);
/* Report what the rate limit held back since the last call. */
void pysec_output_sweep(struct pysec_output *o);
void pysec_output_free(struct pysec_output *o);

#endif
