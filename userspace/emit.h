/* SPDX-License-Identifier: MIT */
/*
 * emit.h — the one writer of records for people and pipelines: text lines
 * or JSON lines (schema: docs/SCHEMA.md).  Every verb's output goes
 * through here.
 */
#ifndef PYSEC_EMIT_H
#define PYSEC_EMIT_H

#include <stdint.h>
#include <stdio.h>

#include "pysectrace.h"

#define PYSEC_SCHEMA_VERSION 1

struct pysec_ctl;

enum pysec_format { PYSEC_FMT_TEXT, PYSEC_FMT_JSON };
enum pysec_show { PYSEC_SHOW_AUDIT, PYSEC_SHOW_ALERTS, PYSEC_SHOW_ALL };

struct pysec_emitter {
	FILE *out;
	enum pysec_format format;
	enum pysec_show show;
	int64_t wall_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	uint64_t records;       /* records written */
	uint64_t alerts;        /* alerts written */
	int color;              /* ANSI colours (text on a terminal) */
	uint64_t lost_mono_ns;  /* replay: when a loss or source record was written live (0: now) */
	char host[256];         /* this host's name, on alerts */
	const struct pysec_ctl *ctl; /* the run's policy: rule ids of audit records */
};

/* Parse --format / --show values; -1 when unknown. */
int pysec_parse_format(const char *s);
int pysec_parse_show(const char *s);

void pysec_emitter_init(struct pysec_emitter *e, FILE *out, enum pysec_format format,
			enum pysec_show show);

/*
 * One record from the ring buffer (any PYSEC_REC_*); size as received.
 * explained: for an unaudited syscall, the baseline rule that explains it.
 */
void pysec_emit_record(struct pysec_emitter *e, const void *data, size_t size,
		       const char *explained);

struct pysec_alert;
/* An alert: always written, whatever --show says. */
void pysec_emit_alert(struct pysec_emitter *e, const struct pysec_alert *a);

/* Name of a monitored syscall number. */
const char *pysec_syscall_name(uint32_t nr);

/* Loss report: written whenever lost > 0, whatever --show says. */
void pysec_emit_lost(struct pysec_emitter *e, const char *stage, uint64_t lost);

/* Records of (pid, kind) the rate limit held back, whatever --show says. */
void pysec_emit_rate_limited(struct pysec_emitter *e, uint32_t pid, const char *kind,
			     uint64_t dropped);

/* Whether pysec_emit_record would write this record under --show. */
int pysec_emit_shows(const struct pysec_emitter *e, const void *data, size_t size);

/* "audit", "syscall", "process" or "" for a record (rate-limit kinds). */
const char *pysec_record_kind(const void *data, size_t size);

/*
 * The first record of `attach`: which source feeds the trace of pid (hook,
 * stock, kernel), its probe file, and what that mode cannot see.
 */
void pysec_emit_source(struct pysec_emitter *e, uint32_t pid, const char *comm, const char *source,
		       const char *probe, const char *blind);

/*
 * Audit events that do no I/O and fire very often (builtins.id,
 * object.__getattr__, ...): hidden by --show audit, shown by --show all.
 */
int pysec_event_is_frequent(const char *event);
/* The i-th of those events, NULL past the end. */
const char *pysec_frequent_event(size_t i);

#endif
