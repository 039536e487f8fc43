// SPDX-License-Identifier: MIT
/*
 * test_bounds.c — the classifier's memory bounds (userspace/classify.c):
 * process states and identical-alert counters are LRU tables of a fixed
 * size; an evicted process seen again resumes in a state that cannot
 * raise an alert that needs the lost context (counted as unjudged), but
 * still raises context-free ones; a new process or image with that pid
 * starts clean; an evicted alert counter reports its final count first.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "classify.h"

#define NR_OPENAT	  257
#define NR_IO_URING_SETUP 425

static unsigned nalerts;
static uint64_t last_count;
static uint32_t last_pid;

static void on_alert(void *ctx, const struct pysec_alert *a)
{
	(void)ctx;
	nalerts++;
	last_count = a->count;
	last_pid = a->hdr->pid;
}

static void audit(struct pysec_classifier *c, uint32_t pid, const char *event, uint64_t ts)
{
	struct pysec_audit_rec r;

	memset(&r, 0, sizeof(r));
	r.h.type = PYSEC_REC_AUDIT;
	r.h.pid = r.h.tid = pid;
	r.h.ts_ns = ts;
	r.seq = ts;
	snprintf(r.event, sizeof(r.event), "%s", event);
	r.args_copied = 1;
	r.args[0] = 0; /* an empty tuple as the hook encodes it is not needed here */
	pysec_classify(c, &r, sizeof(r), NULL);
}

static void bypass(struct pysec_classifier *c, uint32_t pid, const char *path, uint32_t nr)
{
	struct pysec_sys_rec r;

	memset(&r, 0, sizeof(r));
	r.h.type = PYSEC_REC_SYSCALL;
	r.h.pid = r.h.tid = pid;
	r.nr = nr;
	r.verdict = PYSEC_V_UNAUDITED;
	r.ret = 3;
	r.ip = 0x1000;
	if (nr == NR_IO_URING_SETUP) {
		r.token_kind = PYSEC_TK_NONE;
		r.why = PYSEC_WHY_NO_PYTHON_API;
	} else {
		r.token_kind = PYSEC_TK_PATH;
		r.why = PYSEC_WHY_NO_TOKEN;
		r.dirfd = -100;
		snprintf(r.path, sizeof(r.path), "%s", path);
		r.path_len = (uint32_t)strlen(r.path);
		r.key = 0xcbf29ce484222325ull;
		for (const char *p = path; *p; p++)
			r.key = (r.key ^ (unsigned char)*p) * 0x100000001b3ull;
	}
	pysec_classify(c, &r, sizeof(r), NULL);
}

static void proc_rec(struct pysec_classifier *c, uint32_t type, uint32_t pid, uint32_t child)
{
	struct pysec_proc_rec r;

	memset(&r, 0, sizeof(r));
	r.h.type = type;
	r.h.pid = r.h.tid = pid;
	r.child_pid = child;
	if (type == PYSEC_REC_EXEC)
		strcpy(r.filename, "/usr/bin/python3");
	pysec_classify(c, &r, sizeof(r), NULL);
}

static void test_process_table_bounded_and_resumed_quiet(void **state)
{
	struct pysec_classifier *c = pysec_classifier_new(on_alert, NULL);
	struct pysec_classifier_stats st;

	pysec_classifier_set_limits(c, 16, 64);
	nalerts = 0;
	for (uint32_t pid = 100; pid < 120; pid++)
		audit(c, pid, "cpython.run_file", pid);
	pysec_classifier_stats(c, &st);
	assert_int_equal(st.procs, 16);
	assert_int_equal(st.proc_evictions, 4); /* 100..103, the least recently seen */

	/* 100 was evicted: its next unexplained syscall needs context it lost */
	bypass(c, 100, "/tmp/secret-a", NR_OPENAT);
	assert_int_equal(nalerts, 0);
	pysec_classifier_stats(c, &st);
	assert_int_equal(st.unjudged, 1);
	/* ... but a context-free one is still an alert */
	bypass(c, 100, "", NR_IO_URING_SETUP);
	assert_int_equal(nalerts, 1);
	assert_int_equal(last_pid, 100);

	/* a process never evicted: the same syscall alerts */
	bypass(c, 119, "/tmp/secret-a", NR_OPENAT);
	assert_int_equal(nalerts, 2);
	assert_int_equal(last_pid, 119);

	/* 101 was evicted and exited; a new process with its pid starts clean */
	proc_rec(c, PYSEC_REC_EXIT, 101, 0);
	proc_rec(c, PYSEC_REC_FORK, 119, 101);
	bypass(c, 101, "/tmp/secret-b", NR_OPENAT);
	assert_int_equal(nalerts, 3);
	assert_int_equal(last_pid, 101);

	/* 102 was evicted and exec'd: the new image is seen from its start */
	proc_rec(c, PYSEC_REC_EXEC, 102, 0);
	audit(c, 102, "cpython.run_file", 1000);
	bypass(c, 102, "/tmp/secret-c", NR_OPENAT);
	assert_int_equal(nalerts, 4);
	assert_int_equal(last_pid, 102);

	/* the table never grows past its bound, whatever the churn */
	for (uint32_t pid = 1000; pid < 3000; pid++) {
		audit(c, pid, "cpython.run_file", pid);
		if (pid % 2)
			proc_rec(c, PYSEC_REC_EXIT, pid, 0);
	}
	pysec_classifier_stats(c, &st);
	assert_true(st.procs <= 16);
	pysec_classifier_free(c);
}

static void test_alert_table_bounded_reports_final_count(void **state)
{
	struct pysec_classifier *c = pysec_classifier_new(on_alert, NULL);
	struct pysec_classifier_stats st;
	char path[64];

	pysec_classifier_set_limits(c, 16, 16);
	nalerts = 0;
	audit(c, 7, "cpython.run_file", 1);
	bypass(c, 7, "/tmp/rep", NR_OPENAT);
	bypass(c, 7, "/tmp/rep", NR_OPENAT);
	bypass(c, 7, "/tmp/rep", NR_OPENAT);
	assert_int_equal(nalerts, 1); /* repeats counted, not raised */
	for (int i = 0; i < 16; i++) {
		snprintf(path, sizeof(path), "/tmp/distinct-%02d", i);
		bypass(c, 7, path, NR_OPENAT);
	}
	/* the counter of /tmp/rep went first, with its final count */
	pysec_classifier_stats(c, &st);
	assert_int_equal(st.aggs, 16);
	assert_int_equal(st.agg_evictions, 1);
	assert_int_equal(nalerts, 1 + 16 + 1);
	assert_int_equal(last_count, 1); /* the newest distinct one */
	pysec_classifier_free(c);
}

static void test_limits_have_a_floor(void **state)
{
	struct pysec_classifier *c = pysec_classifier_new(on_alert, NULL);
	struct pysec_classifier_stats st;

	pysec_classifier_set_limits(c, 0, 1);
	for (uint32_t pid = 1; pid < 100; pid++)
		audit(c, pid, "cpython.run_file", pid);
	pysec_classifier_stats(c, &st);
	assert_int_equal(st.procs, PYSEC_MIN_TABLE);
	pysec_classifier_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_process_table_bounded_and_resumed_quiet),
	    cmocka_unit_test(test_alert_table_bounded_reports_final_count),
	    cmocka_unit_test(test_limits_have_a_floor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
