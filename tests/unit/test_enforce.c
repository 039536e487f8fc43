// SPDX-License-Identifier: MIT
/*
 * test_enforce.c — the enforcement decision (userspace/enforce.c): the
 * built-in default per alert kind; the decision point in the pipeline
 * (userspace/kenforce.c in observe mode: decides, never acts) filling the
 * alert every sink sees; the cgroup2 mount found in mountinfo.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "classify.h"
#include "enforce.h"
#include "policy.h"
#include "kenforce.h"
#include "pipeline.h"

static void check_default(const char *kind, enum pysec_action want, const char *rule, int sig)
{
	struct pysec_enforce e;
	struct pysec_alert a = {.kind = kind, .reason = "r", .count = 1};
	const char *got_rule = NULL;
	int got_sig = -1;

	pysec_enforce_init(&e, PYSEC_MODE_ENFORCE);
	assert_int_equal(pysec_enforce_decide(&e, &a, &got_rule, &got_sig), want);
	assert_non_null(got_rule);
	assert_string_equal(got_rule, rule);
	assert_int_equal(got_sig, sig);
}

static void test_default_kills_findings(void **state)
{
	check_default("bypass", PYSEC_ACT_KILL, "default-kill-bypass", SIGKILL);
	check_default("hook_cleared", PYSEC_ACT_KILL, "default-kill-hook-cleared", SIGKILL);
	check_default("tamper", PYSEC_ACT_KILL, "default-kill-tamper", SIGKILL);
	check_default("hook_missing", PYSEC_ACT_KILL, "default-kill-hook-missing", SIGKILL);
}

static void test_default_logs_anything_else(void **state)
{
	check_default("something_new", PYSEC_ACT_LOG, "default-log", 0);
	check_default("bypass_", PYSEC_ACT_LOG, "default-log", 0); /* whole names only */
	check_default("", PYSEC_ACT_LOG, "default-log", 0);
}

/* With a policy its finding rules decide: first match, then its default. */
static void test_policy_finding_rules_decide(void **state)
{
	static const char yaml[] = "version: 1\nmode: enforce\ndefault: allow\nrules:\n"
				   "  - {id: tmp-ok, action: log, finding: bypass, path: \"/tmp/**\"}\n"
				   "  - {id: no-bypass, action: kill, signal: SIGTERM, finding: bypass}\n"
				   "  - {id: kill-tamper, action: kill, finding: tamper}\n";
	struct pysec_policy_error err;
	struct pysec_policy *p = pysec_policy_load_buf(yaml, sizeof(yaml) - 1, &err);
	struct pysec_sys_rec r = {.nr = 257, .token_kind = PYSEC_TK_PATH};
	struct pysec_alert a = {.kind = "bypass", .reason = "r", .count = 1, .sys = &r};
	struct pysec_enforce e;
	const char *rule = NULL;
	int sig = -1;

	assert_non_null(p);
	pysec_enforce_init(&e, PYSEC_MODE_ENFORCE);
	e.policy = p;
	strcpy(r.path, "/tmp/scratch");
	assert_int_equal(pysec_enforce_decide(&e, &a, &rule, &sig), PYSEC_ACT_LOG);
	assert_string_equal(rule, "tmp-ok");
	strcpy(r.path, "/etc/shadow");
	assert_int_equal(pysec_enforce_decide(&e, &a, &rule, &sig), PYSEC_ACT_KILL);
	assert_string_equal(rule, "no-bypass");
	assert_int_equal(sig, SIGTERM);
	a = (struct pysec_alert){.kind = "tamper", .reason = "r", .count = 1};
	assert_int_equal(pysec_enforce_decide(&e, &a, &rule, &sig), PYSEC_ACT_KILL);
	assert_string_equal(rule, "kill-tamper");
	assert_int_equal(sig, SIGKILL);
	a.kind = "hook_missing";
	assert_int_equal(pysec_enforce_decide(&e, &a, &rule, &sig), PYSEC_ACT_ALLOW);
	assert_string_equal(rule, "default-allow");
	pysec_policy_free(p);
}

/* a query to a configured nameserver on port 53 is logged, anything else on 53 killed */
static void test_default_logs_resolver_queries(void **state)
{
	uint8_t ns[PYSEC_NAMESERVERS_MAX][16];
	uint16_t fam[PYSEC_NAMESERVERS_MAX];
	int n = pysec_baseline_nameservers(fam, ns, PYSEC_NAMESERVERS_MAX);
	struct pysec_enforce e;
	struct pysec_sys_rec r;
	struct pysec_alert a = {.kind = "bypass", .reason = "r", .count = 1, .sys = &r};
	const char *rule = NULL;
	int sig = -1;

	if (n < 1)
		skip(); /* no nameserver in /etc/resolv.conf on this host */
	pysec_enforce_init(&e, PYSEC_MODE_ENFORCE);
	memset(&r, 0, sizeof(r));
	r.token_kind = PYSEC_TK_CONNECT;
	r.family = fam[0];
	memcpy(r.addr, ns[0], 16);
	r.port = 53;
	assert_int_equal(pysec_enforce_decide(&e, &a, &rule, &sig), PYSEC_ACT_LOG);
	assert_string_equal(rule, "default-log-resolver-query");
	assert_int_equal(sig, 0);
	r.port = 54;
	assert_int_equal(pysec_enforce_decide(&e, &a, &rule, &sig), PYSEC_ACT_KILL);
	assert_string_equal(rule, "default-kill-bypass");
	r.port = 53;
	r.addr[fam[0] == 2 ? 3 : 15] ^= 1; /* another address */
	assert_int_equal(pysec_enforce_decide(&e, &a, &rule, &sig), PYSEC_ACT_KILL);
	r.addr[fam[0] == 2 ? 3 : 15] ^= 1;
	a.kind = "hook_cleared"; /* only bypass gets the exception */
	assert_int_equal(pysec_enforce_decide(&e, &a, &rule, &sig), PYSEC_ACT_KILL);
}

static void test_names(void **state)
{
	assert_string_equal(pysec_action_name(PYSEC_ACT_ALLOW), "allow");
	assert_string_equal(pysec_action_name(PYSEC_ACT_LOG), "log");
	assert_string_equal(pysec_action_name(PYSEC_ACT_KILL), "kill");
	assert_string_equal(pysec_mode_name(PYSEC_MODE_OBSERVE), "observe");
	assert_string_equal(pysec_mode_name(PYSEC_MODE_ENFORCE), "enforce");
	assert_null(pysec_mode_name(PYSEC_MODE_NONE));
}

/* ---- the decision point in the pipeline: what the sinks see */

static struct {
	int n;
	char kind[32], action[16], rule[64], would[16];
	int signal;
} seen;

static void sink_alert(void *ctx, const struct pysec_alert *a)
{
	seen.n++;
	snprintf(seen.kind, sizeof(seen.kind), "%s", a->kind);
	snprintf(seen.action, sizeof(seen.action), "%s", a->action ? a->action : "(none)");
	snprintf(seen.rule, sizeof(seen.rule), "%s", a->rule ? a->rule : "(none)");
	snprintf(seen.would, sizeof(seen.would), "%s", a->would ? a->would : "(none)");
	seen.signal = a->signal;
}

static struct pysec_sys_rec unaudited_open(uint32_t pid, const char *path)
{
	struct pysec_sys_rec r;

	memset(&r, 0, sizeof(r));
	r.h.type = PYSEC_REC_SYSCALL;
	r.h.pid = r.h.tid = pid;
	r.nr = 257; /* openat */
	r.verdict = PYSEC_V_UNAUDITED;
	r.why = PYSEC_WHY_NO_TOKEN;
	r.token_kind = PYSEC_TK_PATH;
	r.dirfd = -100;
	r.ret = 3;
	snprintf(r.path, sizeof(r.path), "%s", path);
	r.path_len = (uint32_t)strlen(path);
	return r;
}

static void feed_open(enum pysec_mode mode, const char *path)
{
	struct pysec_pipeline pl;
	struct pysec_kenforce *k = calloc(1, sizeof(*k));
	struct pysec_sink s = {.alert = sink_alert};
	struct pysec_sys_rec r = unaudited_open(4242, path);

	memset(&seen, 0, sizeof(seen));
	assert_non_null(k);
	assert_int_equal(pysec_pipeline_init(&pl), 0);
	assert_int_equal(pysec_pipeline_add(&pl, &s), 0);
	if (mode != PYSEC_MODE_NONE)
		assert_int_equal(pysec_kenforce_open(k, mode, NULL, NULL, &pl), 0);
	pysec_pipeline_record(&pl, &r, sizeof(r));
	pysec_pipeline_free(&pl);
	if (mode != PYSEC_MODE_NONE)
		pysec_kenforce_close(k);
	free(k);
}

static void test_observe_reports_what_enforce_would_do(void **state)
{
	feed_open(PYSEC_MODE_OBSERVE, "/etc/shadow");
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.kind, "bypass");
	assert_string_equal(seen.action, "log");
	assert_string_equal(seen.would, "kill");
	assert_string_equal(seen.rule, "default-kill-bypass");
	assert_int_equal(seen.signal, 0); /* nothing was sent */
}

static void test_no_mode_no_action(void **state)
{
	feed_open(PYSEC_MODE_NONE, "/etc/shadow");
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.action, "(none)");
	assert_string_equal(seen.rule, "(none)");
}

static void test_explained_syscall_reaches_no_decision(void **state)
{
	feed_open(PYSEC_MODE_OBSERVE, "/usr/share/zoneinfo/UTC"); /* libc_locale_tz */
	assert_int_equal(seen.n, 0);
}

/* ---- the cgroup2 mount */

static int mount_of(const char *text, char *out, size_t len)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int rc;

	assert_non_null(f);
	rc = pysec_cgroup2_mount_in(f, out, len);
	fclose(f);
	return rc;
}

static void test_cgroup2_mount_hybrid(void **state)
{
	char out[256];

	assert_int_equal(
	    mount_of("30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n"
		     "31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
		     "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
		     out, sizeof(out)),
	    0);
	assert_string_equal(out, "/sys/fs/cgroup/unified");
}

static void test_cgroup2_mount_escapes_and_subtrees(void **state)
{
	char out[256];

	/* a bind mount of a sub-tree is skipped; optional fields before "-" */
	assert_int_equal(
	    mount_of("50 1 0:40 /sub /mnt/sub rw shared:1 - cgroup2 none rw\n"
		     "51 1 0:40 / /mnt/my\\040cg rw shared:2 master:3 - cgroup2 none rw\n",
		     out, sizeof(out)),
	    0);
	assert_string_equal(out, "/mnt/my cg");
}

static void test_cgroup2_mount_none(void **state)
{
	char out[256], small[4];

	assert_int_equal(mount_of("30 22 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
				  "garbage line without separator\n",
				  out, sizeof(out)),
			 -1);
	assert_int_equal(
	    mount_of("40 30 0:37 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", small, sizeof(small)),
	    -1); /* does not fit: not cut */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_kills_findings),
	    cmocka_unit_test(test_default_logs_anything_else),
	    cmocka_unit_test(test_default_logs_resolver_queries),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_policy_finding_rules_decide),
	    cmocka_unit_test(test_observe_reports_what_enforce_would_do),
	    cmocka_unit_test(test_no_mode_no_action),
	    cmocka_unit_test(test_explained_syscall_reaches_no_decision),
	    cmocka_unit_test(test_cgroup2_mount_hybrid),
	    cmocka_unit_test(test_cgroup2_mount_escapes_and_subtrees),
	    cmocka_unit_test(test_cgroup2_mount_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
