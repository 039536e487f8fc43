/* SPDX-License-Identifier: MIT */
/* serialize.h — audit args → the byte format of pysechook_abi.h. */
#ifndef PYSEC_SERIALIZE_H
#define PYSEC_SERIALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "pyapi.h"

/*
 * Serialize obj (the audit args tuple) into buf[0..cap).  Runs with the GIL
 * held, calls no user code, leaves the thread's exception state as it found
 * it.  Returns the number of bytes written; *flags gets PYSEC_F_TRUNCATED
 * when the buffer filled up.  cap must be at least 16.
 */
size_t pysec_serialize(const struct pysec_pyapi *api, pyobj *obj, uint8_t *buf,
		       size_t cap, uint32_t *flags);

#endif
