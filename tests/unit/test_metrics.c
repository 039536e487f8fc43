// SPDX-License-Identifier: MIT
/*
 * test_metrics.c — the Prometheus text exposition of userspace/metrics.c:
 * HELP/TYPE before every family, bounded label sets (unknown events,
 * stages, reasons fall into "other"), the syscall counters folded into
 * audited true/false, label values escaped, counts that the sink callbacks
 * add up; and the listen-address parsing of --metrics.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "classify.h"
#include "metrics.h"
#include "pipeline.h"

static char *render(struct pysec_metrics *m)
{
	size_t len = 0;
	char *s = pysec_metrics_render(m, &len);

	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	return s;
}

/* The value of the sample line that starts with `series ` exactly, or -1. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, series, n) && l[n] == ' ')
			return strtod(l + n + 1, NULL);
	return -1;
}

static void test_families_have_help_and_type(void **state)
{
	static const char *const fam[][2] = {
	    {"pysectrace_build_info", "gauge"},
	    {"process_start_time_seconds", "gauge"},
	    {"pysectrace_audit_events_total", "counter"},
	    {"pysectrace_syscalls_total", "counter"},
	    {"pysectrace_alerts_total", "counter"},
	    {"pysectrace_events_lost_total", "counter"},
	    {"pysectrace_table_evictions_total", "counter"},
	    {"pysectrace_tracked_processes", "gauge"},
	    {"pysectrace_ringbuf_bytes", "gauge"},
	};
	struct pysec_metrics m;
	char want[256], *t;

	pysec_metrics_init(&m, "1.2.3");
	t = render(&m);
	for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
		char *help, *type;

		snprintf(want, sizeof(want), "# HELP %s ", fam[i][0]);
		help = strstr(t, want);
		snprintf(want, sizeof(want), "# TYPE %s %s\n", fam[i][0], fam[i][1]);
		type = strstr(t, want);
		assert_non_null(help);
		assert_non_null(type);
		assert_true(help < type);
		/* the first sample of the family comes after its TYPE line */
		snprintf(want, sizeof(want), "\n%s", fam[i][0]);
		assert_true(strstr(type, want) > type);
	}
	assert_true(sample(t, "pysectrace_build_info{version=\"1.2.3\"}") == 1);
	assert_true(sample(t, "process_start_time_seconds") > 1e9);
	/* every line: a comment or "name[{labels}] value" */
	for (char *l = t; *l;) {
		char *nl = strchr(l, '\n');

		assert_non_null(nl);
		if (*l != '#')
			assert_non_null(memchr(l, ' ', (size_t)(nl - l)));
		l = nl + 1;
	}
	free(t);
}

static void test_counts_and_bounded_labels(void **state)
{
	struct pysec_metrics m;
	struct pysec_pipeline p;
	struct pysec_audit_rec r;
	char *t;

	pysec_metrics_init(&m, "x");
	assert_int_equal(pysec_pipeline_init(&p), 0);
	assert_int_equal(pysec_metrics_add_sink(&m, &p), 0);
	memset(&r, 0, sizeof(r));
	r.h.type = PYSEC_REC_AUDIT;
	r.h.pid = r.h.tid = 10;
	strcpy(r.event, "open");
	pysec_pipeline_record(&p, &r, sizeof(r));
	pysec_pipeline_record(&p, &r, sizeof(r));
	strcpy(r.event, "my.own.event.with.a/path");
	pysec_pipeline_record(&p, &r, sizeof(r));
	pysec_pipeline_record(&p, &r, 10); /* cut short: malformed */
	pysec_pipeline_lost(&p, "kernel_ringbuf", 5);
	pysec_pipeline_lost(&p, "some_new_stage", 2);
	pysec_metrics_count_alert(&m, "bypass", "no audit event of this thread announced it");
	pysec_metrics_count_alert(&m, "tamper", "opened process memory for writing: ...");
	pysec_metrics_count_alert(&m, "weird", "never heard of it");
	m.sys[PYSEC_SLOT_OPENAT][PYSEC_V_AUDITED] = 7;
	m.sys[PYSEC_SLOT_OPENAT][PYSEC_V_UNAUDITED] = 2;
	m.sys[PYSEC_SLOT_OPENAT][PYSEC_V_UNHOOKED] = 3;
	m.tracked = 4;
	m.ringbuf_bytes = 4096;
	t = render(&m);
	assert_true(sample(t, "pysectrace_audit_events_total{event=\"open\"}") == 2);
	assert_true(sample(t, "pysectrace_audit_events_total{event=\"other\"}") == 1);
	assert_null(strstr(t, "my.own.event"));
	assert_true(sample(t, "pysectrace_events_lost_total{stage=\"kernel_ringbuf\"}") == 5);
	assert_true(sample(t, "pysectrace_events_lost_total{stage=\"other\"}") == 2);
	assert_true(sample(t, "pysectrace_events_lost_total{stage=\"malformed\"}") == 1);
	assert_true(sample(t, "pysectrace_events_lost_total{stage=\"rate_limit\"}") == 0);
	assert_true(sample(t, "pysectrace_alerts_total{kind=\"bypass\",rule=\"no_token\"}") == 1);
	assert_true(sample(t, "pysectrace_alerts_total{kind=\"tamper\",rule=\"proc_mem\"}") == 1);
	assert_true(sample(t, "pysectrace_alerts_total{kind=\"other\",rule=\"other\"}") == 1);
	assert_true(sample(t, "pysectrace_syscalls_total{syscall=\"openat\",audited=\"true\"}") ==
		    7);
	assert_true(sample(t, "pysectrace_syscalls_total{syscall=\"openat\",audited=\"false\"}") ==
		    5);
	assert_true(sample(t, "pysectrace_syscalls_total{syscall=\"connect\",audited=\"false\"}") ==
		    0);
	assert_true(
	    sample(t,
		   "pysectrace_syscalls_total{syscall=\"process_vm_writev\",audited=\"true\"}") ==
	    0);
	assert_true(sample(t, "pysectrace_tracked_processes") == 4);
	assert_true(sample(t, "pysectrace_ringbuf_bytes") == 4096);
	/* no per-process labels, ever */
	assert_null(strstr(t, "pid="));
	assert_null(strstr(t, "path="));
	free(t);
	pysec_pipeline_free(&p);
}

static void test_label_escaping(void **state)
{
	struct pysec_metrics m;
	char *t;

	pysec_metrics_init(&m, "1.0\"evil\\\nx");
	t = render(&m);
	assert_non_null(strstr(t, "pysectrace_build_info{version=\"1.0\\\"evil\\\\\\nx\"} 1\n"));
	free(t);
}

static void test_rule_and_index_tables(void **state)
{
	assert_string_equal(pysec_metric_events[pysec_metric_event_index("nope")], "other");
	assert_string_equal(pysec_metric_events[pysec_metric_event_index("ctypes.dlsym")],
			    "ctypes.dlsym");
	assert_string_equal(
	    pysec_metric_rules[pysec_metric_rule_index(
		"bypass", "made before the hook armed, and not by the dynamic loader")],
	    "prearm");
	assert_string_equal(pysec_metric_rules[pysec_metric_rule_index("bypass", NULL)], "other");
	assert_string_equal(
	    pysec_metric_rules[pysec_metric_rule_index(
		"hook_cleared",
		"the process's audit bridge is broken: native code blinded the hook")],
	    "bridge_broken");
	assert_string_equal(
	    pysec_metric_rules[pysec_metric_rule_index(
		"hook_missing", "a CPython interpreter that never armed the pysectrace hook: ...")],
	    "never_armed");
	assert_string_equal(
	    pysec_metric_rules[pysec_metric_rule_index(
		"tamper", "took control of, or wrote to, a traced process's memory: ...")],
	    "process_write");
	assert_string_equal(pysec_metric_kinds[pysec_metric_kind_index("hook_missing")],
			    "hook_missing");
	assert_string_equal(pysec_metric_kinds[pysec_metric_kind_index(NULL)], "other");
	assert_true(pysec_metric_nevents <= PYSEC_METRIC_MAX_LABELS);
	assert_true(pysec_metric_nstages <= PYSEC_METRIC_MAX_LABELS);
	assert_true(pysec_metric_nrules <= PYSEC_METRIC_MAX_LABELS);
	assert_true(pysec_metric_nkinds <= 8);
}

static void test_bad_listen_addresses(void **state)
{
	static const char *const bad[] = {
	    "",	      ":",  "127.0.0.1:",  "127.0.0.1:0", "1.2.3.4:65536", "localhost:9",
	    "[::1:9", "9x", "127.0.0.1:-1"};
	struct pysec_metrics m;

	pysec_metrics_init(&m, "x");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(pysec_metrics_serve(&m, bad[i]), -1);
	assert_null(m.httpd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_families_have_help_and_type),
	    cmocka_unit_test(test_counts_and_bounded_labels),
	    cmocka_unit_test(test_label_escaping),
	    cmocka_unit_test(test_rule_and_index_tables),
	    cmocka_unit_test(test_bad_listen_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
