/* SPDX-License-Identifier: MIT */
/* correlate.h — the expectation token an audit event leaves for the kernel. */
#ifndef PYSEC_CORRELATE_H
#define PYSEC_CORRELATE_H

#include <stddef.h>
#include <stdint.h>

#include "pyapi.h"

struct pysec_token {
	uint64_t key;
	uint32_t flags; /* PYSEC_TK_* << PYSEC_TK_SHIFT | PYSEC_F_KEY_* */
};

/*
 * If event announces a monitored syscall (table in correlate.c), fill tok
 * and return 1; else 0.  Same rules as serialize: GIL held, exact builtin
 * types only, no user code, exception state untouched.
 */
int pysec_token_for(const struct pysec_pyapi *api, const char *event, pyobj *args,
		    struct pysec_token *tok);

/* The events of the table (names[0..cap)); returns how many there are. */
size_t pysec_announce_events(const char **names, size_t cap);

uint64_t pysec_hash_bytes(const void *data, size_t n);
uint64_t pysec_hash_basename(const char *path, size_t n);
/* family, port in host order, addr of 4 (AF_INET) or 16 (AF_INET6) bytes */
uint64_t pysec_sockaddr_key(uint16_t family, uint16_t port, const uint8_t *addr);

#endif
