/* SPDX-License-Identifier: MIT */
/*
 * enforce.h — the enforcement decision: what to do about an alert.  One
 * function takes it, whatever the mechanism that carries it out (the
 * kernel's SIGSTOP/cgroup hooks and a signal from user space, see
 * kenforce.h and docs/enforcement.md).  The rules are the finding rules of
 * the policy (policy.h); without one, the built-in default: kill on
 * bypass, hook_cleared, tamper, hook_missing.
 */
#ifndef PYSEC_ENFORCE_H
#define PYSEC_ENFORCE_H

#include "../hookmod/control_abi.h" /* enum pysec_action */

struct pysec_alert;
struct pysec_policy;

enum pysec_mode {
	PYSEC_MODE_NONE = 0, /* no enforcement asked: alerts carry no action */
	PYSEC_MODE_OBSERVE,  /* decide and report, never act */
	PYSEC_MODE_ENFORCE,  /* decide and act */
};

struct pysec_enforce {
	enum pysec_mode mode;
	int kill_signal; /* the signal of the built-in kill (SIGKILL) */
	const struct pysec_policy *policy; /* its finding rules decide; NULL: built-in */
};

/* The default configuration of a mode. */
void pysec_enforce_init(struct pysec_enforce *e, enum pysec_mode mode);

/*
 * The action for alert a, the id of the rule that chose it in *rule_id,
 * the signal to send in *sig when the action is kill.  Pure: the mode is
 * not applied here (observe reports what enforce would do).
 */
enum pysec_action pysec_enforce_decide(const struct pysec_enforce *e, const struct pysec_alert *a,
				       const char **rule_id, int *sig);

/*
 * Decide on a and write the decision into it as the mode reports it
 * (action, rule; observe: would; enforce: signal).  Returns the action
 * to take: kill only in enforce mode.
 */
enum pysec_action pysec_enforce_label(const struct pysec_enforce *e, struct pysec_alert *a);

/* "observe", "enforce" (NULL for none). */
const char *pysec_mode_name(enum pysec_mode m);

#endif
