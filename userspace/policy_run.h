/* SPDX-License-Identifier: MIT */
/*
 * policy_run.h — a policy as the live verbs hand it to the hook: the
 * control file with the event filter that --show and the correlation need.
 */
#ifndef PYSEC_POLICY_RUN_H
#define PYSEC_POLICY_RUN_H

#include <stddef.h>

#include "emit.h"
#include "policy.h"

/*
 * The control file for policy p (NULL: no rules, only the filter) in mode,
 * firing what correlation, the classifier, p's rules and --show need.
 * malloc'd; NULL when out of memory.
 */
void *pysec_policy_compile_for(const struct pysec_policy *p, int mode, enum pysec_show show,
			       size_t *size);

/* Compile as above and publish at path (pysec_ctl_publish).  0 or -1 (errno). */
int pysec_policy_publish(const struct pysec_policy *p, int mode, enum pysec_show show,
			 const char *path);

#endif
