// SPDX-License-Identifier: MIT
/*
 * test_ratelimit.c — userspace/ratelimit.c: a burst passes, the rest of a
 * flood is refused and counted per (pid, kind); other processes and kinds
 * are not affected; tokens refill with time; drops are reported once per
 * sweep, summed; the table stays bounded and an evicted bucket reports its
 * drops first; RATE[/BURST] parsing names the offset of what is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ratelimit.h"

#define SEC 1000000000ull

struct report {
	uint32_t pid;
	char kind[16];
	uint64_t dropped;
};

static struct report R[64];
static unsigned nr;

static void on_report(void *ctx, uint32_t pid, const char *kind, uint64_t dropped)
{
	(void)ctx;
	assert_true(nr < 64);
	R[nr].pid = pid;
	snprintf(R[nr].kind, sizeof(R[nr].kind), "%s", kind);
	R[nr++].dropped = dropped;
}

static uint64_t reported(uint32_t pid, const char *kind)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < nr; i++)
		if (R[i].pid == pid && !strcmp(R[i].kind, kind))
			n += R[i].dropped;
	return n;
}

static void test_burst_then_refuse_per_key(void **state)
{
	struct pysec_ratelimit rl;
	unsigned ok = 0;

	nr = 0;
	assert_int_equal(pysec_ratelimit_init(&rl, 2, 5, 100, on_report, NULL), 0);
	for (int i = 0; i < 100; i++)
		ok += pysec_ratelimit_allow(&rl, 42, "bypass", 1 * SEC);
	assert_int_equal(ok, 5);
	assert_int_equal(rl.dropped, 95);
	/* another process, another kind of the same process: their own buckets */
	assert_true(pysec_ratelimit_allow(&rl, 43, "bypass", 1 * SEC));
	assert_true(pysec_ratelimit_allow(&rl, 42, "tamper", 1 * SEC));
	/* one second later: two more tokens */
	assert_true(pysec_ratelimit_allow(&rl, 42, "bypass", 2 * SEC));
	assert_true(pysec_ratelimit_allow(&rl, 42, "bypass", 2 * SEC));
	assert_false(pysec_ratelimit_allow(&rl, 42, "bypass", 2 * SEC));
	assert_int_equal(nr, 0); /* nothing reported before a sweep */
	pysec_ratelimit_sweep(&rl, 2 * SEC);
	assert_int_equal(nr, 1);
	assert_int_equal(reported(42, "bypass"), 96);
	/* reported once: the next sweep has nothing new */
	pysec_ratelimit_sweep(&rl, 3 * SEC);
	assert_int_equal(nr, 1);
	pysec_ratelimit_free(&rl);
}

static void test_off_lets_everything_through(void **state)
{
	struct pysec_ratelimit rl;

	nr = 0;
	assert_int_equal(pysec_ratelimit_init(&rl, 0, 1, 10, on_report, NULL), 0);
	for (int i = 0; i < 1000; i++)
		assert_true(pysec_ratelimit_allow(&rl, 1, "bypass", 0));
	assert_int_equal(rl.dropped, 0);
	assert_int_equal(rl.nkeys, 0);
	pysec_ratelimit_free(&rl);
}

static void test_bounded_with_eviction_reports(void **state)
{
	struct pysec_ratelimit rl;

	nr = 0;
	assert_int_equal(pysec_ratelimit_init(&rl, 1, 1, 4, on_report, NULL), 0);
	assert_true(pysec_ratelimit_allow(&rl, 1, "bypass", SEC));
	assert_false(pysec_ratelimit_allow(&rl, 1, "bypass", SEC)); /* pid 1: one drop */
	for (uint32_t pid = 2; pid < 100; pid++)
		pysec_ratelimit_allow(&rl, pid, "bypass", SEC);
	assert_true(rl.nkeys <= 4);
	assert_int_equal(rl.evictions, 98 - 3);
	/* pid 1's drop was handed back when its bucket went */
	assert_int_equal(reported(1, "bypass"), 1);
	pysec_ratelimit_free(&rl);
}

static void test_idle_buckets_freed(void **state)
{
	struct pysec_ratelimit rl;

	nr = 0;
	assert_int_equal(pysec_ratelimit_init(&rl, 10, 10, 100, on_report, NULL), 0);
	for (uint32_t pid = 1; pid <= 20; pid++)
		pysec_ratelimit_allow(&rl, pid, "audit", SEC);
	assert_int_equal(rl.nkeys, 20);
	pysec_ratelimit_sweep(&rl, 10 * SEC);
	assert_int_equal(rl.nkeys, 0);
	pysec_ratelimit_free(&rl);
}

static void test_parse(void **state)
{
	double rate, burst;
	char err[256];

	assert_int_equal(pysec_ratelimit_parse("20", &rate, &burst, err, sizeof(err)), 0);
	assert_true(rate == 20 && burst == 40);
	assert_int_equal(pysec_ratelimit_parse("0.5/3", &rate, &burst, err, sizeof(err)), 0);
	assert_true(rate == 0.5 && burst == 3);
	assert_int_equal(pysec_ratelimit_parse("0", &rate, &burst, err, sizeof(err)), 0);
	assert_true(rate == 0);
	assert_int_equal(pysec_ratelimit_parse("x", &rate, &burst, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "offset 0"));
	assert_int_equal(pysec_ratelimit_parse("5/", &rate, &burst, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "offset 2"));
	assert_int_equal(pysec_ratelimit_parse("5/0", &rate, &burst, err, sizeof(err)), -1);
	assert_int_equal(pysec_ratelimit_parse("5s", &rate, &burst, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "offset 1"));
	assert_int_equal(pysec_ratelimit_parse("-1", &rate, &burst, err, sizeof(err)), -1);
	assert_int_equal(pysec_ratelimit_parse("nan", &rate, &burst, err, sizeof(err)), -1);
	assert_int_equal(pysec_ratelimit_parse("1e300", &rate, &burst, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_refuse_per_key),
	    cmocka_unit_test(test_off_lets_everything_through),
	    cmocka_unit_test(test_bounded_with_eviction_reports),
	    cmocka_unit_test(test_idle_buckets_freed),
	    cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
