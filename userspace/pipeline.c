// SPDX-License-Identifier: MIT
/* pipeline.c — source → classify → sinks (see pipeline.h). */
#include <string.h>

#include "cli.h"
#include "pipeline.h"

static void on_alert(void *ctx, const struct pysec_alert *a)
{
	struct pysec_pipeline *p = ctx;

	for (unsigned i = 0; i < p->nsinks; i++)
		if (p->sinks[i].alert)
			p->sinks[i].alert(p->sinks[i].ctx, a);
}

int pysec_pipeline_init(struct pysec_pipeline *p)
{
	memset(p, 0, sizeof(*p));
	p->cls = pysec_classifier_new(on_alert, p);
	return p->cls ? 0 : -1;
}

void pysec_pipeline_free(struct pysec_pipeline *p)
{
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

void pysec_pipeline_record(struct pysec_pipeline *p, const void *data, size_t size)
{
	const char *explained = NULL;

	pysec_classify(p->cls, data, size, &explained);
	for (unsigned i = 0; i < p->nsinks; i++)
		if (p->sinks[i].record)
			p->sinks[i].record(p->sinks[i].ctx, data, size, explained);
}

void pysec_pipeline_lost(struct pysec_pipeline *p, const char *stage, uint64_t n)
{
	if (!n)
		return;
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

void pysec_pipeline_finish(struct pysec_pipeline *p)
{
	uint64_t before = p->prearm_reported;

	pysec_classifier_flush(p->cls);
	pysec_pipeline_report_losses(p);
	if (p->prearm_reported > before)
		pysec_err("%llu syscalls made before a hook armed were not judged: queue full",
			  (unsigned long long)(p->prearm_reported - before));
}
