/* SPDX-License-Identifier: MIT */
/* hook.h — arm the pysectrace audit hook in this process. */
#ifndef PYSEC_HOOK_H
#define PYSEC_HOOK_H

#include <stdint.h>

/*
 * Register the audit hook once per process.  handle: where to find the
 * CPython API (RTLD_DEFAULT, or libpython's own handle).  Returns 1 when
 * armed now, 0 when it already was, -1 when this is not a CPython we
 * support (nothing was changed).
 */
int pysec_hook_arm(void *handle, uint32_t origin_flags);

/* Nonzero once some copy of the hook armed in this process. */
int pysec_hook_armed(void);

#endif
