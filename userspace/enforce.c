// SPDX-License-Identifier: MIT
/* enforce.c — the enforcement decision (see enforce.h). */
#include <signal.h>
#include <string.h>

#include <sys/socket.h>

#include "classify.h"
#include "emit.h"
#include "enforce.h"
#include "policy.h"

/* The built-in default: a finding means native code is loose in the process. */
static const struct default_rule {
	const char *kind;
	const char *id;
	enum pysec_action action;
} default_rules[] = {
    {"bypass", "default-kill-bypass", PYSEC_ACT_KILL},
    {"hook_cleared", "default-kill-hook-cleared", PYSEC_ACT_KILL},
    {"tamper", "default-kill-tamper", PYSEC_ACT_KILL},
    {"hook_missing", "default-kill-hook-missing", PYSEC_ACT_KILL},
};

void pysec_enforce_init(struct pysec_enforce *e, enum pysec_mode mode)
{
	memset(e, 0, sizeof(*e));
	e->mode = mode;
	e->kill_signal = SIGKILL;
}

/*
 * A query to a nameserver of /etc/resolv.conf on port 53 that no event
 * explained: also what socket.connect(("name", port)) leaves when the name
 * does not resolve (CPython raises no event then).  The baseline already
 * lets such queries through after any socket event, so killing here would
 * stop nothing an attacker needs and kill programs that mistyped a host.
 */
static int resolver_query(const struct pysec_alert *a)
{
	struct pysec_sysctx x = {.r = a->sys};

	return a->sys && pysec_baseline_dns_shaped(&x);
}

/* The policy's first finding rule for the alert; NULL: none matches. */
static const struct pysec_rule *policy_rule(const struct pysec_policy *p,
					    const struct pysec_alert *a)
{
	struct pysec_finding_q q = {.kind = pysec_finding_parse(a->kind), .port = -1};
	const struct pysec_sys_rec *r = a->sys;
	char path[PYSEC_PATH_MAX];

	if (!q.kind)
		return NULL;
	if (a->proc) {
		q.proc.exe = a->proc->exe[0] ? a->proc->exe : NULL;
		q.proc.script = a->proc->script[0] ? a->proc->script : NULL;
	}
	q.proc.uid = -1;
	if (r) {
		q.syscall = pysec_syscall_name(r->nr);
		if (r->token_kind == PYSEC_TK_PATH || r->token_kind == PYSEC_TK_EXEC ||
		    (r->token_kind == PYSEC_TK_CONNECT && r->family == AF_UNIX)) {
			size_t n = strnlen(r->path, sizeof(r->path));

			memcpy(path, r->path, n);
			path[n] = 0;
			q.path = path;
		} else if (r->token_kind == PYSEC_TK_CONNECT) {
			q.family = r->family == AF_INET6 ? 6 : 4;
			memcpy(q.addr, r->addr, sizeof(q.addr));
			q.port = r->port;
		}
	}
	return pysec_policy_match_finding(p, &q);
}

enum pysec_action pysec_enforce_decide(const struct pysec_enforce *e, const struct pysec_alert *a,
				       const char **rule_id, int *sig)
{
	*sig = 0;
	if (a->kind && !strcmp(a->kind, "bypass") && resolver_query(a)) {
		*rule_id = "default-log-resolver-query";
		return PYSEC_ACT_LOG;
	}
	if (e->policy) {
		const struct pysec_rule *r = policy_rule(e->policy, a);

		if (!r) {
			*rule_id = e->policy->default_action == PYSEC_ACT_ALLOW ? "default-allow" :
										  "default-log";
			return e->policy->default_action;
		}
		*rule_id = r->id;
		/* the parser refuses deny on findings: the syscall already happened */
		if (r->action == PYSEC_ACT_KILL) {
			*sig = r->signal ? r->signal : e->kill_signal;
			return PYSEC_ACT_KILL;
		}
		return r->action;
	}
	for (size_t i = 0; i < sizeof(default_rules) / sizeof(default_rules[0]); i++) {
		if (a->kind && !strcmp(a->kind, default_rules[i].kind)) {
			*rule_id = default_rules[i].id;
			if (default_rules[i].action == PYSEC_ACT_KILL)
				*sig = e->kill_signal;
			return default_rules[i].action;
		}
	}
	*rule_id = "default-log";
	return PYSEC_ACT_LOG;
}

enum pysec_action pysec_enforce_label(const struct pysec_enforce *e, struct pysec_alert *a)
{
	const char *rule = NULL;
	int sig = 0;
	enum pysec_action act = pysec_enforce_decide(e, a, &rule, &sig);

	a->rule = rule;
	if (e->mode != PYSEC_MODE_ENFORCE) {
		a->action = pysec_action_name(act == PYSEC_ACT_KILL ? PYSEC_ACT_LOG : act);
		a->would = act == PYSEC_ACT_KILL ? pysec_action_name(act) : NULL;
		return act == PYSEC_ACT_KILL ? PYSEC_ACT_LOG : act;
	}
	a->action = pysec_action_name(act);
	if (act == PYSEC_ACT_KILL)
		a->signal = sig;
	return act;
}

const char *pysec_mode_name(enum pysec_mode m)
{
	return m == PYSEC_MODE_OBSERVE ? "observe" : m == PYSEC_MODE_ENFORCE ? "enforce" : NULL;
}
