/* SPDX-License-Identifier: MIT */
/*
 * metrics.h — Prometheus counters of the pipeline and the kernel, served
 * as the text exposition format (libmicrohttpd).  Every label takes its
 * values from a fixed table here: no pids, paths or free text as labels.
 */
#ifndef PYSEC_METRICS_H
#define PYSEC_METRICS_H

#include <stdint.h>

#include "pipeline.h"
#include "pysectrace.h"

/* Label values; the last of each table is the catch-all "other". */
extern const char *const pysec_metric_events[];
extern const char *const pysec_metric_kinds[];
extern const char *const pysec_metric_rules[];
extern const char *const pysec_metric_stages[];
extern const char *const pysec_metric_tables[];
extern const unsigned pysec_metric_nevents, pysec_metric_nkinds, pysec_metric_nrules,
    pysec_metric_nstages, pysec_metric_ntables;

#define PYSEC_METRIC_MAX_LABELS 64

enum pysec_metric_table {
	PYSEC_TABLE_PROCS,	/* classifier process states */
	PYSEC_TABLE_ALERT_AGGS, /* classifier identical-alert counters */
	PYSEC_TABLE_RATE_LIMIT, /* rate limiter (pid, kind) buckets */
	PYSEC_TABLE_MAX,
};

struct pysec_metrics {
	uint64_t audit[PYSEC_METRIC_MAX_LABELS];
	uint64_t alerts[8][PYSEC_METRIC_MAX_LABELS]; /* [kind][rule] */
	uint64_t lost[PYSEC_METRIC_MAX_LABELS];
	uint64_t evictions[PYSEC_TABLE_MAX];
	/* filled by refresh() before each rendering */
	uint64_t sys[PYSEC_SLOT_MAX][PYSEC_SYS_VERDICTS];
	uint64_t tracked, ringbuf_bytes, classifier_procs, hook_copies;
	double start_time; /* seconds since the epoch */
	const char *version;
	void (*refresh)(struct pysec_metrics *m, void *ctx);
	void *refresh_ctx;
	struct MHD_Daemon *httpd;
	uint64_t scrapes;
};

void pysec_metrics_init(struct pysec_metrics *m, const char *version);

/* The metrics as a pipeline sink (audit events, alerts, losses). */
int pysec_metrics_add_sink(struct pysec_metrics *m, struct pysec_pipeline *p);

/* Index of a label value in its table (the "other" index when unknown). */
unsigned pysec_metric_event_index(const char *event);
unsigned pysec_metric_rule_index(const char *kind, const char *reason);
unsigned pysec_metric_kind_index(const char *kind);
unsigned pysec_metric_stage_index(const char *stage);

void pysec_metrics_count_alert(struct pysec_metrics *m, const char *kind, const char *reason);
void pysec_metrics_count_lost(struct pysec_metrics *m, const char *stage, uint64_t n);

/* The exposition text (malloc'd, NUL-terminated), or NULL when out of memory. */
char *pysec_metrics_render(struct pysec_metrics *m, size_t *len);

/*
 * Serve GET /metrics on "ADDR:PORT" (IPv4 or [IPv6]; PORT alone binds
 * 127.0.0.1).  The daemon runs in the caller's thread: call
 * pysec_metrics_run from the main loop.  0, or -1 with a message printed.
 */
int pysec_metrics_serve(struct pysec_metrics *m, const char *addr);
void pysec_metrics_run(struct pysec_metrics *m);
void pysec_metrics_stop(struct pysec_metrics *m);

#endif
