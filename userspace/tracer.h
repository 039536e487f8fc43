/* SPDX-License-Identifier: MIT */
/*
 * tracer.h — the live source: the BPF object loaded and attached to the
 * hook's USDT probe, its ring buffer feeding a pipeline.  run (and the
 * other live verbs) open one, tell it which processes to follow, poll it
 * and finish it.
 */
#ifndef PYSEC_TRACER_H
#define PYSEC_TRACER_H

#include <limits.h>
#include <sys/types.h>

#include "pipeline.h"

struct pysectrace_bpf;
struct ring_buffer;
struct bpf_link;

struct pysec_tracer_opts {
	const char *hook_lib; /* explicit --hook-lib, or NULL */
	int show_all;         /* forward audited syscalls too (--show all) */
	int verbose;          /* libbpf's messages */
};

struct pysec_tracer {
	struct pysectrace_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *module_link;
	struct pysec_pipeline *pl;
	char hook_lib[PATH_MAX];     /* the library found */
	char copy[PATH_MAX + 64];    /* this run's private copy ("" if none) */
};

/* Root, BTF; 0 or -1 with a message printed. */
int pysec_check_host(const char *verb);

/*
 * Find the hook library, make the private copy, load and attach the BPF
 * object, create the ring-buffer reader feeding pl.  0, or -1 with a
 * message printed (call pysec_tracer_close anyway).
 */
int pysec_tracer_open(struct pysec_tracer *t, const struct pysec_tracer_opts *o,
		      struct pysec_pipeline *pl);

/* The library a traced process must preload (the private copy if any). */
const char *pysec_tracer_preload(const struct pysec_tracer *t);

/* Follow pid (and its future descendants). */
int pysec_tracer_track(struct pysec_tracer *t, pid_t pid, pid_t ppid);

/* Wait up to timeout_ms and feed what arrived; 0, or a negative errno. */
int pysec_tracer_poll(struct pysec_tracer *t, int timeout_ms);

/* Whether the kernel has lost ring-buffer records so far. */
int pysec_tracer_kernel_lost(const struct pysec_tracer *t);

/* Drain what is queued, finish the pipeline, report kernel-side losses. */
void pysec_tracer_finish(struct pysec_tracer *t);

void pysec_tracer_close(struct pysec_tracer *t);

#endif
