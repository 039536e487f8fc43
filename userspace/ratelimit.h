/* SPDX-License-Identifier: MIT */
/*
 * ratelimit.h — a token bucket per (pid, kind) so that one noisy process
 * cannot flood a log pipeline.  What a bucket refuses is counted, not
 * lost silently: the drops of each (pid, kind) are handed back, summed,
 * by pysec_ratelimit_sweep.  The table is bounded (LRU eviction; an
 * evicted bucket hands its drops back first).
 */
#ifndef PYSEC_RATELIMIT_H
#define PYSEC_RATELIMIT_H

#include <stdint.h>

#define PYSEC_RL_KIND_MAX	  16
#define PYSEC_RL_MAX_KEYS_DEFAULT 4096

struct pysec_rl_entry;

/* Drops of one (pid, kind) since its last report. */
typedef void (*pysec_rl_report_fn)(void *ctx, uint32_t pid, const char *kind, uint64_t dropped);

struct pysec_ratelimit {
	double rate;  /* records per second per (pid, kind); 0: no limit */
	double burst; /* bucket size */
	unsigned max_keys;
	unsigned nkeys;
	struct pysec_rl_entry **buckets;
	struct pysec_rl_entry *lru_head, *lru_tail; /* most recent first */
	uint64_t dropped;			    /* every record refused */
	uint64_t evictions;			    /* buckets evicted */
	pysec_rl_report_fn report;
	void *report_ctx;
};

/*
 * Parse "RATE[/BURST]" (records per second per process and kind; "0"
 * turns the limit off).  0, or -1 with a message in err.
 */
int pysec_ratelimit_parse(const char *s, double *rate, double *burst, char *err, unsigned errlen);

/* 0, or -1 when out of memory. */
int pysec_ratelimit_init(struct pysec_ratelimit *rl, double rate, double burst, unsigned max_keys,
			 pysec_rl_report_fn report, void *ctx);
void pysec_ratelimit_free(struct pysec_ratelimit *rl);

/* 1: let this record through; 0: refused (counted). */
int pysec_ratelimit_allow(struct pysec_ratelimit *rl, uint32_t pid, const char *kind,
			  uint64_t now_ns);

/*
 * Report the drops of every (pid, kind) since the last sweep (one report
 * each: the aggregation); buckets full again and idle are freed.
 */
void pysec_ratelimit_sweep(struct pysec_ratelimit *rl, uint64_t now_ns);

#endif
