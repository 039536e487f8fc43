/* SPDX-License-Identifier: MIT */
/*
 * control_abi.h — the control file: the tracer/policy → hook ABI.
 *
 * One read-only binary file that the hook maps when it arms: the mode, the
 * compiled audit-event rules of the policy (what the hook can evaluate in
 * process) and the set of audit events the tracer wants the probe fired
 * for.  Written by `pysectrace run --policy` (next to the run's private hook
 * library, as <library>.ctl) and `pysectrace policy install` (host-wide,
 * PYSEC_CTL_HOST_PATH).  Documented for users in docs/control-abi.md.
 * Changing anything here changes PYSEC_CTL_VERSION.
 *
 * Layout: struct pysec_ctl_hdr at offset 0, then sections at the offsets the
 * header gives, each 4-byte aligned.  All integers little-endian (host).
 * Every offset and count is validated by the reader (pysec_ctl_validate):
 * the file is treated as hostile.
 */
#ifndef PYSEC_CONTROL_ABI_H
#define PYSEC_CONTROL_ABI_H

#include <stdint.h>

#define PYSEC_CTL_MAGIC	      "PYSECCTL" /* 8 bytes, no NUL */
#define PYSEC_CTL_VERSION     1
#define PYSEC_CTL_HOST_PATH   "/run/pysectrace/control"
#define PYSEC_CTL_SUFFIX      ".ctl"
#define PYSEC_CTL_SIZE_MAX    (4u << 20)
#define PYSEC_CTL_RULES_MAX   4096
#define PYSEC_CTL_BUCKETS_MAX 65536

/* hdr.flags */
#define PYSEC_CTL_STALE 0x1u /* a newer file replaced this one: map it again */

/* hdr.mode */
#define PYSEC_CTL_OBSERVE 0 /* deny rules only mark the event (PYSEC_F_WOULD_DENY) */
#define PYSEC_CTL_ENFORCE 1 /* deny rules make the event fail (PermissionError) */

/* rule.action */
enum pysec_action {
	PYSEC_ACT_ALLOW = 0,
	PYSEC_ACT_LOG = 1,
	PYSEC_ACT_DENY = 2,
	PYSEC_ACT_KILL = 3,
};

/* matcher.kind; matchers of one group are alternatives, groups all must hold */
enum pysec_mkind {
	PYSEC_M_EVENT = 1,     /* glob on the event name */
	PYSEC_M_PATH = 2,      /* glob on a path argument (absolute, normalized) */
	PYSEC_M_HOSTNAME = 3,  /* glob on a host name (not an address literal) */
	PYSEC_M_CIDR = 4,      /* address literal within addr/prefix */
	PYSEC_M_PORT = 5,      /* lo <= port <= hi */
	PYSEC_M_EXE = 6,       /* glob on the program (basename when no '/') */
	PYSEC_M_ARGV = 7,      /* glob on argv joined by single spaces */
	PYSEC_M_MODULE = 8,    /* glob on the imported module name */
	PYSEC_M_S_EXE = 9,     /* scope: glob on /proc/self/exe */
	PYSEC_M_S_SCRIPT = 10, /* scope: glob on the cpython.run_file/run_module target */
	PYSEC_M_S_UID = 11,    /* scope: lo <= real uid <= hi */
	PYSEC_M_S_CGROUP = 12, /* scope: glob on the cgroup v2 path */
	PYSEC_M_MAX = 13,
};

/* the group of a kind: PYSEC_M_HOSTNAME and PYSEC_M_CIDR are one ("host") */
#define PYSEC_M_GROUP(k) ((k) == PYSEC_M_CIDR ? PYSEC_M_HOSTNAME : (k))

/* event.flags */
#define PYSEC_CTL_EV_FIRE 0x1u /* filter 1: fire the probe for this event */

struct pysec_ctl_hdr {
	char magic[8];
	uint32_t version;
	uint32_t hdr_size;	    /* sizeof(struct pysec_ctl_hdr) */
	uint32_t size;		    /* bytes in the file */
	uint32_t flags;		    /* PYSEC_CTL_STALE; the only field written after publication */
	uint32_t mode;		    /* PYSEC_CTL_OBSERVE | PYSEC_CTL_ENFORCE */
	uint32_t filter;	    /* 0: fire every event; 1: the table decides (below) */
	uint32_t rules_off, nrules; /* struct pysec_ctl_rule[nrules] */
	uint32_t matchers_off, nmatchers; /* struct pysec_ctl_matcher[nmatchers] */
	uint32_t idx_off, nidx;		  /* uint32_t rule indexes, lists of them */
	uint32_t events_off, nbuckets;	  /* struct pysec_ctl_event[nbuckets], power of 2 */
	uint32_t other_idx, nother;	  /* rules for events not in the table (idx list) */
	uint32_t strtab_off, strtab_len;  /* NUL-terminated strings; offset 0 is "" */
	uint32_t fire_other; /* filter 1: fire events the table does not name (1) or not (0) */
	uint32_t reserved[3];
};

struct pysec_ctl_rule {
	uint32_t id;	 /* strtab offset of the rule id */
	uint16_t action; /* enum pysec_action */
	uint16_t signal; /* PYSEC_ACT_KILL: the signal */
	uint32_t first;	 /* first matcher */
	uint32_t count;	 /* matchers, sorted by group */
};

struct pysec_ctl_matcher {
	uint16_t kind;	  /* enum pysec_mkind */
	uint16_t family;  /* PYSEC_M_CIDR: 4 or 6 */
	uint32_t str;	  /* glob kinds: strtab offset of the glob */
	uint32_t lo, hi;  /* PORT, S_UID ranges; CIDR: lo = prefix length */
	uint8_t addr[16]; /* PYSEC_M_CIDR: network address */
};

struct pysec_ctl_event {
	uint32_t name;	/* strtab offset; 0: empty bucket */
	uint32_t flags; /* PYSEC_CTL_EV_* */
	uint32_t idx;	/* the rules that may match it, ascending (idx list) */
	uint32_t nidx;
};

_Static_assert(sizeof(struct pysec_ctl_hdr) == 96, "control file header layout");
_Static_assert(sizeof(struct pysec_ctl_rule) == 16, "control file rule layout");
_Static_assert(sizeof(struct pysec_ctl_matcher) == 32, "control file matcher layout");
_Static_assert(sizeof(struct pysec_ctl_event) == 16, "control file event layout");

#endif /* PYSEC_CONTROL_ABI_H */
