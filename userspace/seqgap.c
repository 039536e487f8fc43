// SPDX-License-Identifier: MIT
/* seqgap.c — loss accounting from the hook's sequence numbers (see seqgap.h). */
#include <stdlib.h>

#include "seqgap.h"

struct pysec_seq_proc {
	struct pysec_seq_proc *next;
	uint32_t pid;
	uint64_t min_seq; /* first seq seen: attach may join a process late */
	uint64_t max_seq;
	uint64_t got;
};

static struct pysec_seq_proc **slot_of(struct pysec_seqgap *g, uint32_t pid)
{
	struct pysec_seq_proc **pp = &g->b[pid % PYSEC_SEQGAP_BUCKETS];

	while (*pp && (*pp)->pid != pid)
		pp = &(*pp)->next;
	return pp;
}

void pysec_seqgap_audit(struct pysec_seqgap *g, uint32_t pid, uint64_t seq)
{
	struct pysec_seq_proc **pp = slot_of(g, pid), *p = *pp;

	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			g->untracked++;
			return;
		}
		p->pid = pid;
		*pp = p;
	}
	/* an image that armed again without an exec record: a new count */
	if (seq == 1 && p->got) {
		g->produced += p->max_seq - p->min_seq + 1;
		g->received += p->got;
		p->max_seq = p->got = 0;
	}
	if (!p->got || seq < p->min_seq)
		p->min_seq = seq ? seq : 1;
	if (seq > p->max_seq)
		p->max_seq = seq;
	p->got++;
}

void pysec_seqgap_close(struct pysec_seqgap *g, uint32_t pid, uint64_t last_seq)
{
	struct pysec_seq_proc **pp = slot_of(g, pid), *p = *pp;

	if (!p) {
		g->produced += last_seq; /* every record of the image was lost */
		return;
	}
	/* the tail may be lost: the kernel's count says how far the hook got */
	g->produced += (p->max_seq > last_seq ? p->max_seq : last_seq) - p->min_seq + 1;
	g->received += p->got;
	*pp = p->next;
	free(p);
}

void pysec_seqgap_close_all(struct pysec_seqgap *g)
{
	for (unsigned i = 0; i < PYSEC_SEQGAP_BUCKETS; i++)
		while (g->b[i])
			pysec_seqgap_close(g, g->b[i]->pid, 0);
}
