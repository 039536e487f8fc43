/* SPDX-License-Identifier: MIT */
/*
 * rulematch.h — the policy matcher, in plain C with no Python: validates a
 * control file (control_abi.h) and finds the first rule that matches an
 * audit event whose arguments were already extracted.  The hook
 * (hookmod/control.c) and the CLI (userspace/policy.c) share it, so what
 * `policy explain` says is what the hook does.
 */
#ifndef PYSEC_RULEMATCH_H
#define PYSEC_RULEMATCH_H

#include <stddef.h>
#include <stdint.h>

#include "control_abi.h"

#define PYSEC_EV_PATHS 2
#define PYSEC_GLOB_MAX 512

/*
 * The arguments of one audit event, by role.  NULL / -1: the event has no
 * such argument.  unknown: bit (1 << group) when the argument exists but
 * could not be read without running user code (a PathLike object, an
 * undecodable name): deny and kill rules match it, allow and log rules do
 * not (fail closed).
 */
struct pysec_evargs {
	const char *path[PYSEC_EV_PATHS]; /* absolute, lexically normalized */
	const char *host;		  /* as the program gave it */
	uint8_t family;			  /* 4 or 6 when host is an address literal, else 0 */
	uint8_t addr[16];
	int32_t port; /* -1: none */
	const char *exe;
	const char *argv; /* joined by single spaces */
	const char *module;
	uint32_t unknown;
};

/* Who raised it (scope).  NULL / uid -1: not known. */
struct pysec_procid {
	const char *exe;
	const char *script;
	const char *cgroup;
	int64_t uid;
};

/* How an event's arguments map to roles (one row per event). */
enum pysec_shape {
	PYSEC_SH_PATH = 1, /* path at a, second path at b (0xff: none) */
	PYSEC_SH_DIR,	   /* like PATH; None means "." */
	PYSEC_SH_SOCKADDR, /* (host, port, ...) tuple, or an AF_UNIX path, at a */
	PYSEC_SH_HOSTPORT, /* host at a, port at b (getaddrinfo) */
	PYSEC_SH_HOST,	   /* host at a */
	PYSEC_SH_EXEC,	   /* program at a, argv list at b */
	PYSEC_SH_SHELL,	   /* command at a: program /bin/sh, argv "sh -c CMD" */
	PYSEC_SH_MODULE,   /* module name at a */
};

struct pysec_event_shape {
	const char *event;
	uint8_t shape;
	uint8_t a, b;
};

/* The row for event, or NULL (an event with no argument roles). */
const struct pysec_event_shape *pysec_event_shape_of(const char *event);
/* Every row, for tools (n gets the count). */
const struct pysec_event_shape *pysec_event_shapes(size_t *n);
/* Bits (1 << group) of the roles an event of this shape can fill. */
uint32_t pysec_shape_groups(int shape);

/* Glob: '*' '?' '[...]' '\\'; PATH: '*' and '?' stop at '/', '**' does not. */
#define PYSEC_GLOB_PATH 0x1
#define PYSEC_GLOB_FOLD 0x2 /* ASCII case-insensitive (host names) */
int pysec_glob_match(const char *pat, const char *s, int flags);
/* NULL when pat is a valid glob, else what is wrong; *col: 0-based offset. */
const char *pysec_glob_check(const char *pat, size_t *col);
/* Glob flags that go with a matcher kind. */
int pysec_glob_flags(int kind);

/* Make path absolute (against cwd when relative) and drop ".", "..", "//". */
int pysec_path_normalize(const char *path, const char *cwd, char *out, size_t cap);

struct pysec_ctl {
	const uint8_t *base;
	const struct pysec_ctl_hdr *hdr;
	const struct pysec_ctl_rule *rules;
	const struct pysec_ctl_matcher *matchers;
	const uint32_t *idx;
	const struct pysec_ctl_event *events;
	const char *strtab;
};

/*
 * Check every offset, count and string of a control file of size bytes
 * and fill c.  0, or -1 with *why saying what is wrong.
 */
int pysec_ctl_open(struct pysec_ctl *c, const void *buf, size_t size, const char **why);

/* The bucket of event, or NULL when the table does not name it. */
const struct pysec_ctl_event *pysec_ctl_find_event(const struct pysec_ctl *c, const char *event);

/* The candidate rules (ascending indexes) for event; *n gets their count. */
const uint32_t *pysec_ctl_candidates(const struct pysec_ctl *c, const struct pysec_ctl_event *e,
				     uint32_t *n);

/* Does the probe fire for this event (bucket from pysec_ctl_find_event)? */
int pysec_ctl_fires(const struct pysec_ctl *c, const struct pysec_ctl_event *e);

/*
 * Does rule r match?  On no, *failed (may be NULL) gets the group
 * (PYSEC_M_*) that did not hold.
 */
int pysec_ctl_rule_matches(const struct pysec_ctl *c, uint32_t r, const char *event,
			   const struct pysec_evargs *ev, const struct pysec_procid *proc,
			   int *failed);

/* First matching rule among the candidates of event, or -1. */
int pysec_ctl_decide(const struct pysec_ctl *c, const char *event, const struct pysec_evargs *ev,
		     const struct pysec_procid *proc);

const char *pysec_ctl_str(const struct pysec_ctl *c, uint32_t off);

/* FNV-1a 32 of a NUL-terminated string: the event table's hash. */
uint32_t pysec_ctl_hash(const char *s);

/* Does addr (family 4|6) lie in net/prefix? */
int pysec_cidr_contains(int family, const uint8_t *net, unsigned prefix, const uint8_t *addr);

#endif
