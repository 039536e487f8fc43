/* SPDX-License-Identifier: MIT */
/*
 * launch.h — start COMMAND with the hook preloaded under a live tracer,
 * follow it until it exits, forward signals: what run and record share.
 */
#ifndef PYSEC_LAUNCH_H
#define PYSEC_LAUNCH_H

#include "tracer.h"

/*
 * Run command traced by t, in a private mount namespace whose
 * /etc/ld.so.preload names the hook unless no_namespace; tick(ctx) after
 * every poll of the ring buffer (flush output, seal capture blocks).
 * Drains and finishes the tracer when COMMAND exits.  Returns the exit
 * status to report: COMMAND's, 128+N for signal N, EXIT_TOOL_FAILED /
 * EXIT_CANNOT_EXEC / EXIT_NOT_FOUND.
 */
int pysec_launch_traced(struct pysec_tracer *t, char **command, int no_namespace,
			void (*tick)(void *ctx), void *ctx);

#endif
