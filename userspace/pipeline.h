/* SPDX-License-Identifier: MIT */
/*
 * pipeline.h — the one user-space pipeline every verb runs:
 * source → classify → sinks.  A source (the live ring buffer, a capture
 * file) feeds records; the classifier judges them; each sink (text/JSON
 * emitter, capture writer, metrics, enforcement) sees every record with
 * its verdict, every alert and every loss.
 */
#ifndef PYSEC_PIPELINE_H
#define PYSEC_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "classify.h"
#include "emit.h"
#include "seqgap.h"

struct pysec_sink {
	/* a record as received; explained: the baseline rule, or NULL */
	void (*record)(void *ctx, const void *data, size_t size, const char *explained);
	void (*alert)(void *ctx, const struct pysec_alert *a);
	void (*lost)(void *ctx, const char *stage, uint64_t n);
	void *ctx;
};

#define PYSEC_MAX_SINKS 8

#define PYSEC_MAX_LOSS_STAGES 12

struct pysec_pipeline {
	struct pysec_classifier *cls;
	struct pysec_sink sinks[PYSEC_MAX_SINKS];
	unsigned nsinks;
	/* loss accounting: every stage's drops, and the hook's seq numbers */
	struct {
		const char *stage;
		uint64_t n;
	} lost[PYSEC_MAX_LOSS_STAGES];
	unsigned nlost;
	struct pysec_seqgap seq;
	uint64_t audit_lost_known; /* audit records a stage reported lost */
	int quiet_summary;	   /* no summary line on stderr */
	/* the enforcement decision point: fills an alert's action before any sink sees it */
	void (*decide)(void *ctx, struct pysec_alert *a);
	void *decide_ctx;
	uint64_t prearm_reported;   /* losses already reported (long-running verbs) */
	uint64_t unjudged_reported;
};

/* 0, or -1 when out of memory. */
int pysec_pipeline_init(struct pysec_pipeline *p);
void pysec_pipeline_free(struct pysec_pipeline *p);

/* Add a sink (any callback may be NULL); -1 when the table is full. */
int pysec_pipeline_add(struct pysec_pipeline *p, const struct pysec_sink *s);
/* The text/JSON emitter as a sink. */
int pysec_pipeline_add_emitter(struct pysec_pipeline *p, struct pysec_emitter *em);

/* Feed one record from a source. */
void pysec_pipeline_record(struct pysec_pipeline *p, const void *data, size_t size);
/* Report a loss at some stage to every sink. */
void pysec_pipeline_lost(struct pysec_pipeline *p, const char *stage, uint64_t n);
/*
 * Audit records lost at some stage (also reported with pysec_pipeline_lost):
 * what the hook's seq numbers say is missing beyond these is "unaccounted".
 */
void pysec_pipeline_audit_lost(struct pysec_pipeline *p, uint64_t n);
/* User-space losses since the last call (pre-arm queue, evicted state). */
void pysec_pipeline_report_losses(struct pysec_pipeline *p);
/*
 * End of the source: repeated alerts with their final counts, queue losses,
 * the seq-number cross-check; one summary line on stderr when anything was
 * lost.  Returns the number of events lost (all stages).
 */
uint64_t pysec_pipeline_finish(struct pysec_pipeline *p);

#endif
