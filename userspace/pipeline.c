// SPDX-License-Identifier: MIT
/* pipeline.c — source → classify → sinks (see pipeline.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pipeline.h"

static void on_alert(void *ctx, const struct pysec_alert *a)
{
	struct pysec_pipeline *p = ctx;
	struct pysec_alert decided = *a;

	if (p->decide)
		p->decide(p->decide_ctx, &decided);
	for (unsigned i = 0; i < p->nsinks; i++)
		if (p->sinks[i].alert)
			p->sinks[i].alert(p->sinks[i].ctx, &decided);
}

int pysec_pipeline_init(struct pysec_pipeline *p)
{
	memset(p, 0, sizeof(*p));
	p->cls = pysec_classifier_new(on_alert, p);
	return p->cls ? 0 : -1;
}

void pysec_pipeline_free(struct pysec_pipeline *p)
{
	pysec_seqgap_close_all(&p->seq);
	pysec_classifier_free(p->cls);
	p->cls = NULL;
}

int pysec_pipeline_add(struct pysec_pipeline *p, const struct pysec_sink *s)
{
	if (p->nsinks >= PYSEC_MAX_SINKS)
		return -1;
	p->sinks[p->nsinks++] = *s;
	return 0;
}

static void emitter_record(void *ctx, const void *data, size_t size, const char *explained)
{
	pysec_emit_record(ctx, data, size, explained);
}

static void emitter_alert(void *ctx, const struct pysec_alert *a)
{
	pysec_emit_alert(ctx, a);
}

static void emitter_lost(void *ctx, const char *stage, uint64_t n)
{
	pysec_emit_lost(ctx, stage, n);
}

int pysec_pipeline_add_emitter(struct pysec_pipeline *p, struct pysec_emitter *em)
{
	struct pysec_sink s = {
		.record = emitter_record, .alert = emitter_alert, .lost = emitter_lost, .ctx = em
	};

	return pysec_pipeline_add(p, &s);
}

/* Follow the hook's seq numbers: one count per process image. */
static void account_seq(struct pysec_pipeline *p, const void *data, size_t size)
{
	const struct pysec_hdr *h = data;

	switch (pysec_record_type(data, size)) {
	case PYSEC_REC_AUDIT:
		pysec_seqgap_audit(&p->seq, h->pid, ((const struct pysec_audit_rec *)data)->seq);
		break;
	case PYSEC_REC_EXEC:
	case PYSEC_REC_EXIT:
		pysec_seqgap_close(&p->seq, h->pid,
				   ((const struct pysec_proc_rec *)data)->last_seq);
		break;
	}
}

void pysec_pipeline_record(struct pysec_pipeline *p, const void *data, size_t size)
{
	const char *explained = NULL;

	account_seq(p, data, size);

	pysec_classify(p->cls, data, size, &explained);
	for (unsigned i = 0; i < p->nsinks; i++)
		if (p->sinks[i].record)
			p->sinks[i].record(p->sinks[i].ctx, data, size, explained);
}

static void tally_loss(struct pysec_pipeline *p, const char *stage, uint64_t n)
{
	unsigned i;

	for (i = 0; i < p->nlost && strcmp(p->lost[i].stage, stage); i++)
		;
	if (i == p->nlost) {
		if (p->nlost == PYSEC_MAX_LOSS_STAGES)
			i = p->nlost - 1; /* the last slot takes the rest */
		else
			p->lost[p->nlost++].stage = stage;
	}
	p->lost[i].n += n;
}

void pysec_pipeline_lost(struct pysec_pipeline *p, const char *stage, uint64_t n)
{
	if (!n)
		return;
	tally_loss(p, stage, n);
	for (unsigned i = 0; i < p->nsinks; i++)
		if (p->sinks[i].lost)
			p->sinks[i].lost(p->sinks[i].ctx, stage, n);
}

void pysec_pipeline_report_losses(struct pysec_pipeline *p)
{
	struct pysec_classifier_stats st;
	uint64_t dropped = pysec_classifier_prearm_dropped(p->cls) - p->prearm_reported;

	p->prearm_reported += dropped;
	pysec_pipeline_lost(p, "prearm_queue", dropped);
	pysec_classifier_stats(p->cls, &st);
	pysec_pipeline_lost(p, "classifier_evicted", st.unjudged - p->unjudged_reported);
	p->unjudged_reported = st.unjudged;
}

void pysec_pipeline_audit_lost(struct pysec_pipeline *p, uint64_t n)
{
	p->audit_lost_known += n;
}

/* "pysectrace: lost 12 events: kernel_ringbuf 10, prearm_queue 2" */
static void print_loss_summary(const struct pysec_pipeline *p, uint64_t total)
{
	char line[512];
	size_t n;

	n = (size_t)snprintf(line, sizeof(line), "lost %llu events:", (unsigned long long)total);
	for (unsigned i = 0; i < p->nlost && n < sizeof(line); i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %s %llu", i ? "," : "",
				      p->lost[i].stage, (unsigned long long)p->lost[i].n);
	if (n < sizeof(line))
		snprintf(line + n, sizeof(line) - n,
			 " (hook seq numbers: %llu produced, %llu received)",
			 (unsigned long long)p->seq.produced, (unsigned long long)p->seq.received);
	pysec_err("%s", line);
}

uint64_t pysec_pipeline_finish(struct pysec_pipeline *p)
{
	uint64_t missing, total = 0;

	pysec_classifier_flush(p->cls);
	pysec_pipeline_report_losses(p);
	pysec_seqgap_close_all(&p->seq);
	/* the cross-check: what the hooks produced and no stage owned up to */
	missing = pysec_seqgap_missing(&p->seq);
	if (missing > p->audit_lost_known)
		pysec_pipeline_lost(p, "unaccounted", missing - p->audit_lost_known);
	pysec_pipeline_lost(p, "seq_accounting_oom", p->seq.untracked);
	for (unsigned i = 0; i < p->nlost; i++)
		total += p->lost[i].n;
	if (total && !p->quiet_summary)
		print_loss_summary(p, total);
	return total;
}
