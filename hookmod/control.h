/* SPDX-License-Identifier: MIT */
/*
 * control.h — the hook's side of the control file (control_abi.h): map it
 * when the hook arms, evaluate the policy's rules per audit event, make a
 * denied event fail with PermissionError before the operation happens.
 */
#ifndef PYSEC_CONTROL_H
#define PYSEC_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "pyapi.h"

struct pysec_ctl_state;

/* The mapped control file, or NULL (then the hook behaves as without one). */
extern struct pysec_ctl_state *pysec_ctl_current;

/* Called right before the hook opens a file of its own (to announce it). */
typedef void (*pysec_announce_fn)(const char *path);

/*
 * Find and map the control file: <this library's path>.ctl, else
 * PYSEC_CTL_HOST_PATH.  Only a regular file owned by root and not writable
 * by group or others is taken, and only after every offset in it checked.
 */
void pysec_control_attach(const struct pysec_pyapi *api, pysec_announce_fn announce);

/*
 * One audit event.  listening: a tracer raised the probe's semaphore.
 * *fire gets whether the probe should fire for it, *flags the
 * PYSEC_F_DENIED / PYSEC_F_WOULD_DENY / rule bits.  Returns -1 when the
 * event must fail: msg gets the PermissionError text, *sig a signal to
 * send ourselves (kill rules, else 0) once the event has been fired.
 * No exception is set here: the caller sets it last.
 */
int pysec_control_check(const struct pysec_pyapi *api, const char *event, pyobj *args,
			int listening, int *fire, uint32_t *flags, int *sig, char *msg, size_t cap);

#endif
