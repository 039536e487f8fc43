// SPDX-License-Identifier: MIT
/* enforce.c — the enforcement decision (see enforce.h). */
#include <signal.h>
#include <string.h>

#include "classify.h"
#include "enforce.h"

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

enum pysec_action pysec_enforce_decide(const struct pysec_enforce *e, const struct pysec_alert *a,
				       const char **rule_id, int *sig)
{
	*sig = 0;
	if (a->kind && !strcmp(a->kind, "bypass") && resolver_query(a)) {
		*rule_id = "default-log-resolver-query";
		return PYSEC_ACT_LOG;
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

const char *pysec_action_name(enum pysec_action a)
{
	switch (a) {
	case PYSEC_ACT_ALLOW:
		return "allow";
	case PYSEC_ACT_LOG:
		return "log";
	case PYSEC_ACT_KILL:
		return "kill";
	}
	return "?";
}

const char *pysec_mode_name(enum pysec_mode m)
{
	return m == PYSEC_MODE_OBSERVE ? "observe" : m == PYSEC_MODE_ENFORCE ? "enforce" : NULL;
}
