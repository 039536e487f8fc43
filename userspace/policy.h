/* SPDX-License-Identifier: MIT */
/*
 * policy.h — the policy language (YAML, docs/policy.md): load and check a
 * policy file, match audit events and kernel findings against its rules,
 * compile its audit-event rules into the hook's control file
 * (hookmod/control_abi.h), print it back as YAML.
 */
#ifndef PYSEC_POLICY_H
#define PYSEC_POLICY_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../hookmod/rulematch.h"

#define PYSEC_POLICY_FILE_MAX (1u << 20)
#define PYSEC_POLICY_ID_MAX   64

/* Kernel findings a rule can name (bits). */
enum pysec_finding {
	PYSEC_FIND_BYPASS = 1u << 0,
	PYSEC_FIND_HOOK_CLEARED = 1u << 1,
	PYSEC_FIND_HOOK_MISSING = 1u << 2,
	PYSEC_FIND_TAMPER = 1u << 3,
};

struct pysec_strlist {
	char **v;
	unsigned n;
};

struct pysec_range {
	uint32_t lo, hi;
};

struct pysec_hostpat {
	int family; /* 4 or 6: an address/prefix; 0: a host-name glob */
	uint8_t addr[16];
	unsigned prefix;
	char *text; /* as written */
};

struct pysec_rule {
	char *id;
	char *description;
	int action;	    /* enum pysec_action */
	int signal;	    /* PYSEC_ACT_KILL: the signal number */
	unsigned line, col; /* where the rule starts (1-based) */
	uint32_t findings;  /* PYSEC_FIND_*; 0: an audit-event rule */
	struct pysec_strlist events, paths, exes, argv, modules, syscalls;
	struct pysec_hostpat *hosts;
	unsigned nhosts;
	struct pysec_range *ports;
	unsigned nports;
	/* scope */
	struct pysec_strlist s_exe, s_script, s_cgroup;
	struct pysec_range *uids;
	unsigned nuids;
};

struct pysec_policy {
	int version;
	int mode;	    /* PYSEC_CTL_OBSERVE | PYSEC_CTL_ENFORCE */
	int default_action; /* PYSEC_ACT_ALLOW | PYSEC_ACT_LOG */
	char *description;
	struct pysec_rule *rules;
	unsigned nrules;
	/* the audit-event rules compiled for the matcher (no event filter) */
	void *ctl_buf;
	size_t ctl_size;
	struct pysec_ctl ctl;
	unsigned *ctl_rule; /* control-file rule index -> rules[] index */
};

struct pysec_policy_error {
	int unreadable; /* the file could not be read (errno in err) */
	int err;
	unsigned line, col; /* 1-based; 0 when not about a place in the file */
	char msg[256];
	char hint[320];
};

/* NULL on error (err filled). name: used in nothing but messages. */
struct pysec_policy *pysec_policy_load_file(const char *path, struct pysec_policy_error *err);
struct pysec_policy *pysec_policy_load_buf(const char *buf, size_t len,
					   struct pysec_policy_error *err);
/* The built-in policy (kill on bypass, hook_cleared, hook_missing, tamper). */
struct pysec_policy *pysec_policy_default(void);
void pysec_policy_free(struct pysec_policy *p);

/* "FILE:LINE:COL: error: MSG" and the hint on a second line. */
void pysec_policy_error_print(FILE *f, const char *file, const struct pysec_policy_error *err);

/* The policy as YAML that pysec_policy_load_* accepts. */
void pysec_policy_write_yaml(FILE *f, const struct pysec_policy *p);

const char *pysec_action_name(int action);
const char *pysec_finding_name(uint32_t bit);
/* "bypass" → PYSEC_FIND_BYPASS; 0 when unknown. */
uint32_t pysec_finding_parse(const char *s);

/*
 * The arguments of an audit event as userspace/argdecode.c renders them
 * (JSON array), by role.  Strings point into scratch or args; cwd makes
 * relative paths absolute (NULL: leave them unknown).
 */
void pysec_evargs_from_json(const char *event, struct json_object *args, const char *cwd,
			    struct pysec_evargs *ev, char *scratch, size_t cap);

/* The first rule matching an audit event, or NULL (then the default applies). */
const struct pysec_rule *pysec_policy_match_event(const struct pysec_policy *p, const char *event,
						  const struct pysec_evargs *ev,
						  const struct pysec_procid *proc);

/* A kernel finding, as the classifier reports it. */
struct pysec_finding_q {
	uint32_t kind;	     /* PYSEC_FIND_* */
	const char *syscall; /* "openat", "connect", ...; NULL for none */
	const char *path;    /* file, unix socket or program path; NULL for none */
	int family;	     /* 4|6 with addr, 0 for none */
	uint8_t addr[16];
	int port; /* -1 for none */
	struct pysec_procid proc;
};

/* The first rule matching a finding, or NULL (then: allow and log). */
const struct pysec_rule *pysec_policy_match_finding(const struct pysec_policy *p,
						    const struct pysec_finding_q *q);
/*
 * Why rule r does (NULL) or does not match: the first condition that
 * fails, written into buf.
 */
const char *pysec_policy_explain_finding(const struct pysec_rule *r,
					 const struct pysec_finding_q *q, char *buf, size_t cap);

/* Bits (1 << PYSEC_M_*) of the argument roles a rule's matchers need. */
uint32_t pysec_rule_arg_groups(const struct pysec_rule *r);
/* A glob with no wildcard or escape. */
int pysec_glob_is_literal(const char *g);

/*
 * The audit events the probe should fire for.  all: every event.  Else
 * names fire; other events fire when fire_other.
 */
struct pysec_evfilter {
	int all;
	int fire_other;
	const char *const *names; /* fire */
	size_t n;
	const char *const *quiet; /* do not fire (with fire_other) */
	size_t nquiet;
};

/*
 * The control file for the hook: mode, the audit-event rules, the event
 * filter.  malloc'd, *size its length; NULL when out of memory.
 */
void *pysec_policy_compile(const struct pysec_policy *p, int mode, const struct pysec_evfilter *f,
			   size_t *size);

/*
 * Publish a control file at path: write a new file (root, 0644), rename it
 * over the old one, then mark the old one stale so that hooks that mapped
 * it map the new one.  0, or -1 with errno set.
 */
int pysec_ctl_publish(const char *path, const void *buf, size_t size);

/* Mark the control file at path stale and remove it.  0 or -1 (errno). */
int pysec_ctl_withdraw(const char *path);

#endif
