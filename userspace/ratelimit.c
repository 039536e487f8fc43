// SPDX-License-Identifier: MIT
/* ratelimit.c — token buckets per (pid, kind) (see ratelimit.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

#define RL_BUCKETS 1024

struct pysec_rl_entry {
	uint32_t pid;
	char kind[PYSEC_RL_KIND_MAX];
	double tokens;
	uint64_t last_ns;
	uint64_t dropped;	     /* since the last report */
	struct pysec_rl_entry *next; /* hash chain */
	struct pysec_rl_entry *lru_prev, *lru_next;
};

int pysec_ratelimit_parse(const char *s, double *rate, double *burst, char *err, unsigned errlen)
{
	char *end;

	errno = 0;
	*rate = strtod(s, &end);
	if (end == s || errno || !isfinite(*rate) || *rate < 0 || *rate > 1e6) {
		snprintf(err, errlen,
			 "'%s': the rate must be a number of records per second, "
			 "0 to 1000000 (at offset 0)",
			 s);
		return -1;
	}
	*burst = *rate < 1 ? 1 : *rate * 2;
	if (*end == '/') {
		const char *b = end + 1;

		errno = 0;
		*burst = strtod(b, &end);
		if (end == b || errno || !isfinite(*burst) || *burst < 1 || *burst > 1e7) {
			snprintf(err, errlen,
				 "'%s': the burst after '/' must be a number from 1 to "
				 "10000000 (at offset %d)",
				 s, (int)(b - s));
			return -1;
		}
	}
	if (*end) {
		snprintf(err, errlen, "'%s': unexpected '%c' at offset %d (RATE[/BURST])", s, *end,
			 (int)(end - s));
		return -1;
	}
	return 0;
}

int pysec_ratelimit_init(struct pysec_ratelimit *rl, double rate, double burst, unsigned max_keys,
			 pysec_rl_report_fn report, void *ctx)
{
	memset(rl, 0, sizeof(*rl));
	rl->rate = rate;
	rl->burst = burst < 1 ? 1 : burst;
	rl->max_keys = max_keys ? max_keys : PYSEC_RL_MAX_KEYS_DEFAULT;
	rl->report = report;
	rl->report_ctx = ctx;
	rl->buckets = calloc(RL_BUCKETS, sizeof(*rl->buckets));
	return rl->buckets ? 0 : -1;
}

static unsigned slot_of(uint32_t pid, const char *kind)
{
	uint32_t h = pid * 2654435761u;

	for (; *kind; kind++)
		h = (h ^ (unsigned char)*kind) * 16777619u;
	return h % RL_BUCKETS;
}

static void lru_unlink(struct pysec_ratelimit *rl, struct pysec_rl_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		rl->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		rl->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push(struct pysec_ratelimit *rl, struct pysec_rl_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = rl->lru_head;
	if (rl->lru_head)
		rl->lru_head->lru_prev = e;
	rl->lru_head = e;
	if (!rl->lru_tail)
		rl->lru_tail = e;
}

static void report(struct pysec_ratelimit *rl, struct pysec_rl_entry *e)
{
	if (e->dropped && rl->report)
		rl->report(rl->report_ctx, e->pid, e->kind, e->dropped);
	e->dropped = 0;
}

static void entry_free(struct pysec_ratelimit *rl, struct pysec_rl_entry *e)
{
	report(rl, e);
	for (struct pysec_rl_entry **pp = &rl->buckets[slot_of(e->pid, e->kind)]; *pp;
	     pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	lru_unlink(rl, e);
	free(e);
	rl->nkeys--;
}

void pysec_ratelimit_free(struct pysec_ratelimit *rl)
{
	while (rl->lru_head)
		entry_free(rl, rl->lru_head);
	free(rl->buckets);
	rl->buckets = NULL;
}

static void refill(struct pysec_ratelimit *rl, struct pysec_rl_entry *e, uint64_t now_ns)
{
	if (now_ns > e->last_ns) {
		e->tokens += (double)(now_ns - e->last_ns) / 1e9 * rl->rate;
		if (e->tokens > rl->burst)
			e->tokens = rl->burst;
		e->last_ns = now_ns;
	}
}

int pysec_ratelimit_allow(struct pysec_ratelimit *rl, uint32_t pid, const char *kind,
			  uint64_t now_ns)
{
	struct pysec_rl_entry *e;
	unsigned slot;

	if (rl->rate <= 0 || !rl->buckets)
		return 1;
	slot = slot_of(pid, kind);
	for (e = rl->buckets[slot]; e; e = e->next)
		if (e->pid == pid && !strncmp(e->kind, kind, PYSEC_RL_KIND_MAX - 1))
			break;
	if (!e) {
		if (rl->nkeys >= rl->max_keys && rl->lru_tail) {
			entry_free(rl, rl->lru_tail);
			rl->evictions++;
		}
		e = calloc(1, sizeof(*e));
		if (!e)
			return 1; /* no memory to limit with: let it through */
		e->pid = pid;
		snprintf(e->kind, sizeof(e->kind), "%s", kind);
		e->tokens = rl->burst;
		e->last_ns = now_ns;
		e->next = rl->buckets[slot];
		rl->buckets[slot] = e;
		rl->nkeys++;
	} else {
		lru_unlink(rl, e);
	}
	lru_push(rl, e);
	refill(rl, e, now_ns);
	if (e->tokens >= 1) {
		e->tokens -= 1;
		return 1;
	}
	e->dropped++;
	rl->dropped++;
	return 0;
}

void pysec_ratelimit_sweep(struct pysec_ratelimit *rl, uint64_t now_ns)
{
	for (struct pysec_rl_entry *e = rl->lru_head, *nx; e; e = nx) {
		nx = e->lru_next;
		refill(rl, e, now_ns);
		report(rl, e);
		if (!e->dropped && e->tokens >= rl->burst)
			entry_free(rl, e); /* idle: as good as new */
	}
}
