/* SPDX-License-Identifier: MIT */
/*
 * launch.h — start COMMAND with the hook preloaded under a live tracer,
 * follow it until it exits, forward signals: what run and record share.
 */
#ifndef PYSEC_LAUNCH_H
#define PYSEC_LAUNCH_H

#include <stddef.h>

#include "emit.h"
#include "enforce.h"
#include "tracer.h"

struct pysec_kenforce;
struct pysec_policy;

/*
 * The policy of a run: FILE, else the built-in one when *mode asks for
 * enforce/observe, else none (*out NULL).  *mode overrides the policy's
 * own; without one it becomes the policy's.  0, or -1 with a message.
 */
int pysec_launch_load_policy(const char *file, enum pysec_mode *mode, struct pysec_policy **out);

/*
 * Publish p as this run's control file, next to its private copy of the
 * hook (the hook looks for <library>.ctl first: other runs and the
 * host-wide file are not touched); path gets its name.  0, or -1.
 */
int pysec_launch_publish(const struct pysec_tracer *t, const struct pysec_policy *p,
			 enum pysec_show show, char *path, size_t len);

/*
 * Run command traced by t, in a private mount namespace whose
 * /etc/ld.so.preload names the hook unless no_namespace, in the cgroup of
 * k when k enforces (k may be NULL); tick(ctx) after
 * every poll of the ring buffer (flush output, seal capture blocks).
 * Drains and finishes the tracer when COMMAND exits.  Returns the exit
 * status to report: COMMAND's, 128+N for signal N, EXIT_TOOL_FAILED /
 * EXIT_CANNOT_EXEC / EXIT_NOT_FOUND.
 */
int pysec_launch_traced(struct pysec_tracer *t, struct pysec_kenforce *k, char **command,
			int no_namespace, void (*tick)(void *ctx), void *ctx);

#endif
