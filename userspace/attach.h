/* SPDX-License-Identifier: MIT */
/*
 * attach.h — trace a running process with the best source it has (hook,
 * stock python:audit probe, kernel alone): what attach and record -p share.
 */
#ifndef PYSEC_ATTACH_H
#define PYSEC_ATTACH_H

#include <stdint.h>
#include <sys/types.h>

#include "emit.h"
#include "pipeline.h"
#include "tracer.h"

struct pysec_attach_ops {
	void (*tick)(void *ctx); /* after every poll of the ring buffer */
	/* the source chosen, before it is written as the first record */
	void (*source)(void *ctx, uint64_t mono_ns, uint32_t pid, const char *comm,
		       const char *source, const char *probe, const char *blind);
	void *ctx;
};

/* A pidfd for pid (its exit ends the trace), or -1 with a message. */
int pysec_attach_open(pid_t pid);

/*
 * Open t on pl, choose the source, write the `source` record through em,
 * then trace pid and its new children until pid exits or SIGINT/SIGTERM.
 * Finishes the tracer; the caller closes it (that detaches).  0, or -1
 * with a message.
 */
int pysec_attach_trace(struct pysec_tracer *t, struct pysec_pipeline *pl,
		       struct pysec_emitter *em, pid_t pid, int pidfd, int show_all, int verbose,
		       const struct pysec_attach_ops *ops);

#endif
