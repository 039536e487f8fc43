/* SPDX-License-Identifier: MIT */
/*
 * seqgap.h — end-to-end loss accounting from the hook's sequence numbers.
 * Every probe hit carries a per-process seq (1, 2, ...; restarted by exec
 * and fork), so for each process image, events produced = highest seq seen
 * and events missing = that minus events received.  Threads may deliver
 * out of order: only totals per image are compared, when the image ends
 * (exec, exit) or the source does.
 */
#ifndef PYSEC_SEQGAP_H
#define PYSEC_SEQGAP_H

#include <stdint.h>

#define PYSEC_SEQGAP_BUCKETS 1024

struct pysec_seq_proc;

struct pysec_seqgap {
	struct pysec_seq_proc *b[PYSEC_SEQGAP_BUCKETS];
	uint64_t produced;  /* closed images: sum of their highest seq */
	uint64_t received;  /* closed images: audit records received */
	uint64_t untracked; /* records not accounted: out of memory */
};

/* An audit record of pid with this seq arrived. */
void pysec_seqgap_audit(struct pysec_seqgap *g, uint32_t pid, uint64_t seq);
/*
 * pid's image ended (exec or exit): fold its counts into the totals.
 * last_seq: the highest seq the kernel saw the hook fire (0: unknown).
 */
void pysec_seqgap_close(struct pysec_seqgap *g, uint32_t pid, uint64_t last_seq);
/* The source ended: close every image, free everything. */
void pysec_seqgap_close_all(struct pysec_seqgap *g);
/* Events the hooks produced that never arrived (closed images). */
static inline uint64_t pysec_seqgap_missing(const struct pysec_seqgap *g)
{
	return g->produced > g->received ? g->produced - g->received : 0;
}

#endif
