// SPDX-License-Identifier: MIT
/*
 * policy_run.c — the event filter of a run: which audit events the hook
 * fires the probe for (see policy_run.h).  Correlation needs the events
 * that announce syscalls (hookmod/correlate.c), the classifier those it
 * reads context from (below), the policy those its rules name, and
 * --show audit everything but the frequent I/O-free events (eventtab.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../hookmod/correlate.h"
#include "policy_run.h"

/* Events userspace/classify.c and baseline.c take context from. */
static const char *const classifier_events[] = {
    "cpython._PySys_ClearAuditHooks",
    "cpython.run_file",
    "cpython.run_module",
    "cpython.run_command",
    "cpython.run_startup",
    "cpython.run_stdin",
    "cpython.run_interactivehook",
    "ctypes.dlsym",
    "ctypes.dlopen",
    "sqlite3.connect",
    "os.fork",
    "os.forkpty",
    "import",
    "socket.bind",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyname_ex",
    "socket.gethostbyaddr",
    "socket.getnameinfo",
    "socket.getservbyname",
    "socket.getservbyport",
    "socket.__new__",
    "syslog.openlog",
    "syslog.syslog",
    "syslog.closelog",
    "syslog.setlogmask",
};

#define NAMES_MAX 4096

static void add(const char **v, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(v[i], s))
			return;
	if (*n < NAMES_MAX)
		v[(*n)++] = s;
}

/* Does some log rule name its events by a wildcard (then every event fires)? */
static int log_rule_with_wildcard(const struct pysec_policy *p)
{
	for (unsigned i = 0; p && i < p->nrules; i++) {
		const struct pysec_rule *r = &p->rules[i];

		if (r->findings || r->action != PYSEC_ACT_LOG)
			continue;
		if (!r->events.n && !pysec_rule_arg_groups(r))
			return 1;
		for (unsigned j = 0; j < r->events.n; j++)
			if (!pysec_glob_is_literal(r->events.v[j]))
				return 1;
	}
	return 0;
}

void *pysec_policy_compile_for(const struct pysec_policy *p, int mode, enum pysec_show show,
			       size_t *size)
{
	const char **names = calloc(NAMES_MAX, sizeof(*names)), *quiet[64];
	struct pysec_evfilter f = {0};
	struct pysec_policy empty = {.version = 1};
	size_t n = 0, nq = 0, nshape;
	const struct pysec_event_shape *shapes = pysec_event_shapes(&nshape);
	void *out;

	if (!names)
		return NULL;
	if (!p)
		p = &empty;
	if (show == PYSEC_SHOW_ALL || log_rule_with_wildcard(p)) {
		f.all = 1;
	} else {
		n = pysec_announce_events(names, NAMES_MAX);
		for (size_t i = 0; i < sizeof(classifier_events) / sizeof(classifier_events[0]);
		     i++)
			add(names, &n, classifier_events[i]);
		for (unsigned i = 0; i < p->nrules; i++) {
			const struct pysec_rule *r = &p->rules[i];

			if (r->findings)
				continue;
			for (unsigned j = 0; j < r->events.n; j++)
				add(names, &n, r->events.v[j]);
			if (!r->events.n)
				for (size_t s = 0; s < nshape; s++)
					add(names, &n, shapes[s].event);
		}
		if (show == PYSEC_SHOW_AUDIT) {
			const char *q;

			f.fire_other = 1;
			for (size_t i = 0; (q = pysec_frequent_event(i)) && nq < 64; i++)
				quiet[nq++] = q;
		}
		f.names = names;
		f.n = n;
		f.quiet = quiet;
		f.nquiet = nq;
	}
	out = pysec_policy_compile(p, mode, &f, size);
	free(names);
	return out;
}

int pysec_policy_publish(const struct pysec_policy *p, int mode, enum pysec_show show,
			 const char *path)
{
	size_t size;
	void *buf = pysec_policy_compile_for(p, mode, show, &size);
	int rc;

	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	rc = pysec_ctl_publish(path, buf, size);
	free(buf);
	return rc;
}
