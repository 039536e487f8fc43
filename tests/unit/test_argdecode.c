// SPDX-License-Identifier: MIT
/*
 * test_argdecode.c — the tracer's decoder of the hook's argument buffer
 * (userspace/argdecode.c) on hand-built buffers: every tag of
 * hookmod/pysechook_abi.h, the escaping rules, truncation, and hostile
 * input (lengths past the end, unknown tags, deep nesting, huge counts,
 * random garbage).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <stdio.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../../hookmod/pysechook_abi.h"
#include "argdecode.h"
#include "unit_util.h"

#define JFLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* ---- buffer builder */

struct bb {
	uint8_t d[1 << 17];
	size_t n;
};

static struct bb B;

static void bb_reset(void)
{
	B.n = 0;
}

static void bb_mem(const void *p, size_t n)
{
	assert_true(B.n + n <= sizeof(B.d));
	memcpy(B.d + B.n, p, n);
	B.n += n;
}

static void bb_u8(uint8_t v)
{
	bb_mem(&v, 1);
}

static void bb_le(uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		bb_u8((uint8_t)(v >> (8 * i)));
}

static void bb_u16(uint16_t v)
{
	bb_le(v, 2);
}

static void bb_u32(uint32_t v)
{
	bb_le(v, 4);
}

static void bb_int(int64_t v)
{
	bb_u8(PYSEC_T_INT);
	bb_le((uint64_t)v, 8);
}

static void bb_float(double d)
{
	uint64_t bits;

	memcpy(&bits, &d, sizeof(bits));
	bb_u8(PYSEC_T_FLOAT);
	bb_le(bits, 8);
}

/* tag, u16 n, n bytes ('I', 's', 'b', '>', 'o') */
static void bb_text(uint8_t tag, const void *s, size_t n)
{
	bb_u8(tag);
	bb_u16((uint16_t)n);
	bb_mem(s, n);
}

#define bb_lit(tag, lit) bb_text((tag), (lit), sizeof(lit) - 1)

/* 'S' / 'B': tag, u32 total, u16 n, n bytes */
static void bb_cut(uint8_t tag, uint32_t total, const void *s, size_t n)
{
	bb_u8(tag);
	bb_u32(total);
	bb_u16((uint16_t)n);
	bb_mem(s, n);
}

static void bb_seq(uint8_t tag, uint16_t n)
{
	bb_u8(tag);
	bb_u16(n);
}

static void bb_more(uint32_t n)
{
	bb_u8(PYSEC_T_MORE);
	bb_u32(n);
}

/* ---- checks */


/*
 * Decode buf[0..n) from an exactly sized heap copy (so that a sanitizer
 * catches any read past the end), check the invariants every result must
 * satisfy, and return the JSON text (caller frees).
 */
static char *decode(const uint8_t *buf, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct json_object *arr, *back;
	const char *s;
	char *out, *text;

	assert_non_null(copy);
	if (n)
		memcpy(copy, buf, n);
	arr = pysec_args_to_json(n ? copy : NULL, n);
	assert_non_null(arr);
	assert_true(json_object_is_type(arr, json_type_array));
	s = json_object_to_json_string_ext(arr, JFLAGS);
	assert_non_null(s);
	assert_true(valid_utf8(s, strlen(s)));
	out = strdup(s);
	assert_non_null(out);
	json_object_put(arr);

	/* The serialization parses back as an array. */
	back = json_tokener_parse(out);
	assert_non_null(back);
	assert_true(json_object_is_type(back, json_type_array));
	json_object_put(back);

	/* The text form: one line of valid UTF-8, bracketed like the array. */
	text = pysec_args_to_text(n ? copy : NULL, n);
	assert_non_null(text);
	assert_true(valid_utf8(text, strlen(text)));
	assert_null(strchr(text, '\n'));
	assert_true(text[0] == '[');
	assert_true(text[strlen(text) - 1] == ']');
	free(text);
	free(copy);
	return out;
}

static void check_buf(const uint8_t *buf, size_t n, const char *expected)
{
	char *got = decode(buf, n);

	assert_string_equal(got, expected);
	free(got);
}

static void check(const char *expected)
{
	check_buf(B.d, B.n, expected);
}

/* ---- every tag */

static void test_scalars(void **state)
{
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 8);
	bb_u8(PYSEC_T_NONE);
	bb_u8(PYSEC_T_TRUE);
	bb_u8(PYSEC_T_FALSE);
	bb_int(0);
	bb_int(-1);
	bb_int(INT64_MIN);
	bb_int(INT64_MAX);
	bb_int(0x0102030405060708ll); /* byte order */
	check("[null,true,false,0,-1,-9223372036854775808,9223372036854775807,"
	      "72623859790382856]");
}

static void test_bigint(void **state)
{
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 3);
	bb_lit(PYSEC_T_BIGINT, "18446744073709551616");
	bb_lit(PYSEC_T_BIGINT,
	       "-100000000000000000000000000000000000000000000000000000000000000000000000");
	bb_lit(PYSEC_T_BIGINT, "~1e+100");
	check("[{\"int\":\"18446744073709551616\"},"
	      "{\"int\":\"-1000000000000000000000000000000000000"
	      "00000000000000000000000000000000000\"},"
	      "{\"int\":\"~1e+100\"}]");
}

static void test_float(void **state)
{
	bb_reset();
	bb_seq(PYSEC_T_LIST, 8);
	bb_float(1.5);
	bb_float(-0.25);
	bb_float(0.0);
	bb_float(3.0);
	bb_float(NAN);
	bb_float(-NAN);
	bb_float(INFINITY);
	bb_float(-INFINITY);
	check("[1.5,-0.25,0.0,3.0,{\"float\":\"nan\"},{\"float\":\"nan\"},"
	      "{\"float\":\"inf\"},{\"float\":\"-inf\"}]");
}

static void test_str_utf8(void **state)
{
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 5);
	bb_lit(PYSEC_T_STR, "/etc/passwd");
	bb_lit(PYSEC_T_STR, "");
	bb_lit(PYSEC_T_STR, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
	bb_lit(PYSEC_T_STR, "q\"b\\c\n"); /* JSON escapes only */
	bb_lit(PYSEC_T_STR, "\xf4\x8f\xbf\xbf"); /* U+10FFFF */
	check("[\"/etc/passwd\",\"\",\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\","
	      "\"q\\\"b\\\\c\\n\",\"\xf4\x8f\xbf\xbf\"]");
}

static void test_str_surrogate(void **state)
{
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 5);
	/* os.fsdecode(b"a\x80b") == "a\udc80b", surrogatepass form ED B2 80 */
	bb_lit(PYSEC_T_STR, "a\xed\xb2\x80"
			    "b");
	bb_lit(PYSEC_T_STR, "\xed\xa0\x80"); /* U+D800 */
	bb_lit(PYSEC_T_STR, "\xed\xbf\xbf"); /* U+DFFF */
	/* a real backslash next to a surrogate must stay distinguishable */
	bb_lit(PYSEC_T_STR, "\\udc80\xed\xb3\xbf"
			    "\xc3\xa9");
	/* not the hook's output, but not UTF-8: escaped bytes */
	bb_lit(PYSEC_T_STR, "x\xff\xc3");
	check("[{\"str_escaped\":\"a\\\\udc80b\"},"
	      "{\"str_escaped\":\"\\\\ud800\"},"
	      "{\"str_escaped\":\"\\\\udfff\"},"
	      "{\"str_escaped\":\"\\\\\\\\udc80\\\\udcff\xc3\xa9\"},"
	      "{\"str_escaped\":\"x\\\\xff\\\\xc3\"}]");
}

static void test_bytes(void **state)
{
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 6);
	bb_lit(PYSEC_T_BYTES, "");
	bb_lit(PYSEC_T_BYTES, "plain");
	/* a, b, backslash, 0xff, é (valid UTF-8 kept) */
	bb_lit(PYSEC_T_BYTES, "ab\\\xff\xc3\xa9");
	/* a surrogate form in bytes is three bad bytes, not \udNNN */
	bb_lit(PYSEC_T_BYTES, "\xed\xb2\x80");
	/* truncated multibyte sequence and overlong form */
	bb_lit(PYSEC_T_BYTES, "\xe2\x82\xc0\x80");
	/* overlong '/', beyond U+10FFFF, a lone continuation byte */
	bb_lit(PYSEC_T_BYTES, "\xe0\x80\xaf\xf4\x90\x80\x80\xbf");
	check("[{\"bytes\":\"\"},{\"bytes\":\"plain\"},"
	      "{\"bytes\":\"ab\\\\\\\\\\\\xff\xc3\xa9\"},"
	      "{\"bytes\":\"\\\\xed\\\\xb2\\\\x80\"},"
	      "{\"bytes\":\"\\\\xe2\\\\x82\\\\xc0\\\\x80\"},"
	      "{\"bytes\":\"\\\\xe0\\\\x80\\\\xaf\\\\xf4\\\\x90\\\\x80\\\\x80\\\\xbf\"}]");
}

/*
 * A NUL byte is valid UTF-8 and common in bytes args (socket addresses,
 * written data): what follows it must not be lost.
 */
static void test_bytes_nul(void **state)
{
	char *got;

	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 2);
	bb_text(PYSEC_T_BYTES, "a\0b\xff", 4);
	bb_text(PYSEC_T_STR, "c\0d", 3);
	got = decode(B.d, B.n);
	if (strcmp(got, "[{\"bytes\":\"a\\u0000b\\\\xff\"},\"c\\u0000d\"]") != 0 &&
	    strcmp(got, "[{\"bytes\":\"a\\\\x00b\\\\xff\"},\"c\\u0000d\"]") != 0)
		fail_msg("NUL in bytes lost what follows it: %s", got);
	free(got);

	/* same for escaped str (surrogate after the NUL) */
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 1);
	bb_text(PYSEC_T_STR, "c\0\xed\xb2\x80", 5);
	got = decode(B.d, B.n);
	if (strcmp(got, "[{\"str_escaped\":\"c\\u0000\\\\udc80\"}]") != 0 &&
	    strcmp(got, "[{\"str_escaped\":\"c\\\\x00\\\\udc80\"}]") != 0)
		fail_msg("NUL in escaped str lost what follows it: %s", got);
	free(got);
}

static void test_cut(void **state)
{
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 4);
	bb_cut(PYSEC_T_STR_CUT, 600, "abc", 3);
	bb_cut(PYSEC_T_STR_CUT, 0xffffffffu, "a\xed\xb2\x80", 4);
	bb_cut(PYSEC_T_BYTES_CUT, 1000, "\xff\\", 2);
	bb_cut(PYSEC_T_BYTES_CUT, 70000, "ok", 2);
	check("[{\"str\":\"abc\",\"truncated\":true,\"size\":600},"
	      "{\"str_escaped\":\"a\\\\udc80\",\"truncated\":true,\"size\":4294967295},"
	      "{\"bytes\":\"\\\\xff\\\\\\\\\",\"truncated\":true,\"size\":1000},"
	      "{\"bytes\":\"ok\",\"truncated\":true,\"size\":70000}]");
}

static void test_containers(void **state)
{
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 4);
	bb_int(1);
	bb_seq(PYSEC_T_LIST, 2);
	bb_lit(PYSEC_T_STR, "x");
	bb_seq(PYSEC_T_TUPLE, 0);
	bb_seq(PYSEC_T_LIST, 3);
	bb_u8(PYSEC_T_NONE);
	bb_u8(PYSEC_T_TRUE);
	bb_more(7);
	bb_more(0xffffffffu);
	check("[1,[\"x\",[]],[null,true,{\"more\":7}],{\"more\":4294967295}]");

	/* an empty args tuple, and a list at the top */
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 0);
	check("[]");
	bb_reset();
	bb_seq(PYSEC_T_LIST, 1);
	bb_int(5);
	check("[5]");
}

static void test_deep_and_other(void **state)
{
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 5);
	bb_lit(PYSEC_T_DEEP, "tuple");
	bb_lit(PYSEC_T_DEEP, "list");
	bb_lit(PYSEC_T_OTHER, "socket");
	bb_lit(PYSEC_T_OTHER, "a\\b\xff");
	bb_lit(PYSEC_T_OTHER, "");
	check("[{\"type\":\"tuple\",\"depth_limit\":true},"
	      "{\"type\":\"list\",\"depth_limit\":true},"
	      "{\"type\":\"socket\"},{\"type\":\"a\\\\\\\\b\\\\xff\"},{\"type\":\"\"}]");
}

/* ---- truncation by the hook: '~' anywhere ends the args */

static void test_truncated(void **state)
{
	/* ~ alone, and right after the header */
	check_buf((const uint8_t *)"~", 1, "[{\"truncated\":true}]");
	check_buf((const uint8_t *)"(\x02\x00~", 4, "[{\"truncated\":true}]");

	/* inside a nested container: the args array ends with the marker */
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 2);
	bb_seq(PYSEC_T_TUPLE, 3);
	bb_int(1);
	bb_u8(PYSEC_T_END);
	check("[[1],{\"truncated\":true}]");

	/* three levels deep, after a cut str */
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 3);
	bb_u8(PYSEC_T_NONE);
	bb_seq(PYSEC_T_LIST, 2);
	bb_seq(PYSEC_T_TUPLE, 5);
	bb_lit(PYSEC_T_STR, "a");
	bb_cut(PYSEC_T_STR_CUT, 100, "bc", 2);
	bb_u8(PYSEC_T_END);
	check("[null,[[\"a\",{\"str\":\"bc\",\"truncated\":true,\"size\":100}]],"
	      "{\"truncated\":true}]");

	/* a complete tuple followed by ~ */
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 1);
	bb_u8(PYSEC_T_NONE);
	bb_u8(PYSEC_T_END);
	check("[null,{\"truncated\":true}]");

	/* ~ instead of the '+' item */
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 33);
	for (int i = 0; i < 32; i++)
		bb_u8(PYSEC_T_FALSE);
	bb_u8(PYSEC_T_END);
	check("[false,false,false,false,false,false,false,false,false,false,"
	      "false,false,false,false,false,false,false,false,false,false,"
	      "false,false,false,false,false,false,false,false,false,false,"
	      "false,false,{\"truncated\":true}]");
}

/* ---- hostile input */

static void test_lengths_past_end(void **state)
{
	/* str claims 16 bytes, has 2 */
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 1);
	bb_u8(PYSEC_T_STR);
	bb_u16(16);
	bb_mem("ab", 2);
	check("[{\"malformed\":6}]");

	/* cut bytes claims 65535 bytes */
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 2);
	bb_u8(PYSEC_T_NONE);
	bb_u8(PYSEC_T_BYTES_CUT);
	bb_u32(100);
	bb_u16(0xffff);
	bb_mem("abc", 3);
	check("[null,{\"malformed\":11}]");

	/* int with 3 of its 8 bytes */
	check_buf((const uint8_t *)"(\x01\x00i\x01\x02\x03", 7, "[{\"malformed\":4}]");
	/* float with none */
	check_buf((const uint8_t *)"(\x01\x00" "d", 4, "[{\"malformed\":4}]");
	/* '+' with 2 of 4 bytes */
	check_buf((const uint8_t *)"(\x01\x00+\x01\x02", 6, "[{\"malformed\":4}]");
	/* 'S' with a partial total */
	check_buf((const uint8_t *)"(\x01\x00S\x01", 5, "[{\"malformed\":4}]");
	/* 'S' with total but a partial n */
	check_buf((const uint8_t *)"(\x01\x00S\x01\x00\x00\x00\x05", 9, "[{\"malformed\":8}]");
	/* a count cut in half, at the top and nested */
	check_buf((const uint8_t *)"(\x01", 2, "[{\"malformed\":1}]");
	check_buf((const uint8_t *)"(", 1, "[{\"malformed\":1}]");
	check_buf((const uint8_t *)"(\x01\x00[\x05", 5, "[[],{\"malformed\":4}]");
	/* a type name whose length runs past the end */
	check_buf((const uint8_t *)"(\x01\x00o\xff\xff", 6, "[{\"malformed\":6}]");
}

static void test_unknown_tag(void **state)
{
	check_buf((const uint8_t *)"(\x02\x00N?", 5, "[null,{\"malformed\":4}]");
	check_buf((const uint8_t *)"(\x01\x00\x00", 4, "[{\"malformed\":3}]");
	check_buf((const uint8_t *)"Z", 1, "[{\"malformed\":0}]");
	check_buf((const uint8_t *)"\xff\xff\xff", 3, "[{\"malformed\":0}]");
	/* in a nested list */
	check_buf((const uint8_t *)"(\x01\x00[\x02\x00T\x80", 8, "[[true],{\"malformed\":7}]");
}

static void test_trailing_bytes(void **state)
{
	check_buf((const uint8_t *)"(\x01\x00NN", 5, "[null,{\"malformed\":4}]");
	check_buf((const uint8_t *)"(\x00\x00\x00", 4, "[{\"malformed\":3}]");
	/* a single non-tuple item is kept */
	check_buf((const uint8_t *)"N", 1, "[null]");
	check_buf((const uint8_t *)"s\x01\x00x", 4, "[\"x\"]");
	check_buf((const uint8_t *)"NT", 2, "[null,{\"malformed\":1}]");
}

static void test_deep_nesting(void **state)
{
	char expected[256];
	int levels;

	/* 100 nested one-item tuples: the decoder stops at its cap */
	bb_reset();
	for (int i = 0; i < 100; i++)
		bb_seq(PYSEC_T_TUPLE, 1);
	bb_u8(PYSEC_T_NONE);
	{
		char *got = decode(B.d, B.n);
		const char *m = strstr(got, "{\"malformed\":");

		/* nesting kept is bounded, and at least the hook's own cap */
		assert_non_null(m);
		levels = 0;
		while (got[levels] == '[')
			levels++;
		assert_true(levels >= PYSEC_DEPTH_CAP + 1);
		assert_true(levels <= PYSEC_DEPTH_CAP + 4);
		/* exact form: levels-1 empty nested arrays, then the marker */
		int o = 0;

		for (int i = 0; i < levels; i++)
			expected[o++] = '[';
		for (int i = 1; i < levels; i++)
			expected[o++] = ']';
		/* item at nesting level k starts at 3k: the refused one */
		o += snprintf(expected + o, sizeof(expected) - o, ",{\"malformed\":%d}]",
			      3 * levels);
		expected[o] = 0;
		assert_string_equal(got, expected);
		free(got);
	}

	/* the hook's deepest real output decodes fully: 4 levels + leaves */
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 1);
	bb_seq(PYSEC_T_LIST, 1);
	bb_seq(PYSEC_T_TUPLE, 1);
	bb_seq(PYSEC_T_TUPLE, 3);
	bb_lit(PYSEC_T_DEEP, "tuple");
	bb_int(7);
	bb_more(9);
	check("[[[[{\"type\":\"tuple\",\"depth_limit\":true},7,{\"more\":9}]]]]");

	/* very deep: must not recurse without bound (stack) */
	bb_reset();
	for (int i = 0; i < 40000; i++)
		bb_seq(i & 1 ? PYSEC_T_LIST : PYSEC_T_TUPLE, 0xffff);
	{
		char *got = decode(B.d, B.n);

		assert_non_null(strstr(got, "{\"malformed\":"));
		assert_true(strlen(got) < 200);
		free(got);
	}
}

static void test_huge_count(void **state)
{
	char *got;

	check_buf((const uint8_t *)"(\xff\xff", 3, "[{\"malformed\":3}]");
	check_buf((const uint8_t *)"(\xff\xffN", 4, "[null,{\"malformed\":4}]");
	check_buf((const uint8_t *)"(\x01\x00(\xff\xffNN", 8, "[[null,null],{\"malformed\":8}]");
	check_buf((const uint8_t *)"(\xff\xffN~", 5, "[null,{\"truncated\":true}]");

	/* 1000 real items then nothing: 1000 nulls, then the marker */
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 0xffff);
	for (int i = 0; i < 1000; i++)
		bb_u8(PYSEC_T_NONE);
	got = decode(B.d, B.n);
	{
		struct json_object *arr = json_tokener_parse(got), *last;

		assert_int_equal(json_object_array_length(arr), 1001);
		last = json_object_array_get_idx(arr, 1000);
		assert_string_equal(json_object_to_json_string_ext(last, JFLAGS),
				    "{\"malformed\":1003}");
		json_object_put(arr);
	}
	free(got);
}

static void test_empty(void **state)
{
	char *t;

	check_buf((const uint8_t *)"", 0, "[]");
	t = pysec_args_to_text(NULL, 0);
	assert_string_equal(t, "[]");
	free(t);
}

static void test_text(void **state)
{
	char big[1000];
	char *t;

	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 4);
	bb_lit(PYSEC_T_STR, "/tmp/x");
	bb_int(-2);
	bb_u8(PYSEC_T_NONE);
	bb_lit(PYSEC_T_BYTES, "\xff");
	t = pysec_args_to_text(B.d, B.n);
	assert_non_null(t);
	assert_non_null(strstr(t, "\"/tmp/x\""));
	assert_non_null(strstr(t, "-2"));
	assert_non_null(strstr(t, "null"));
	assert_non_null(strstr(t, "\\\\xff"));
	assert_null(strchr(t, '\n'));
	free(t);

	/* a long str is shortened for humans, never cut inside a character */
	memset(big, 'a', sizeof(big));
	for (size_t i = 1; i + 1 < sizeof(big); i += 3)
		big[i] = '\xc3', big[i + 1] = '\xa9';
	bb_reset();
	bb_seq(PYSEC_T_TUPLE, 1);
	bb_text(PYSEC_T_STR, big, sizeof(big));
	t = pysec_args_to_text(B.d, B.n);
	assert_non_null(t);
	assert_true(strlen(t) < 400);
	assert_true(valid_utf8(t, strlen(t)));
	free(t);
}

/* ---- random garbage */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static const uint8_t tags[] = "NTFiIdsbSB([+>o~";

/* Mostly well-formed-looking: tags with small, sometimes wrong, lengths. */
static size_t gen_structured(uint8_t *b, size_t cap)
{
	size_t n = 0;

	if (rnd() % 8) {
		b[n++] = rnd() % 2 ? '(' : '[';
		b[n++] = (uint8_t)(rnd() % 8);
		b[n++] = rnd() % 16 ? 0 : (uint8_t)rnd();
	}
	while (n < cap && rnd() % 24) {
		uint8_t t = rnd() % 32 ? tags[rnd() % (sizeof(tags) - 1)] : (uint8_t)rnd();
		size_t extra;

		b[n++] = t;
		switch (t) {
		case 'i':
		case 'd':
			extra = rnd() % 10 ? 8 : rnd() % 9;
			break;
		case '(':
		case '[':
			extra = rnd() % 10 ? 2 : rnd() % 3;
			if (n + 2 <= cap && extra == 2) {
				b[n++] = (uint8_t)(rnd() % 6);
				b[n++] = rnd() % 20 ? 0 : (uint8_t)rnd();
				extra = 0;
			}
			break;
		case '+':
			extra = 4;
			break;
		case 'S':
		case 'B':
			if (n + 4 <= cap) {
				for (int k = 0; k < 4; k++)
					b[n++] = (uint8_t)rnd();
			}
			/* fall through */
		case 'I':
		case 's':
		case 'b':
		case '>':
		case 'o': {
			size_t len = rnd() % 12;

			if (n + 2 <= cap) {
				b[n++] = (uint8_t)(rnd() % 8 ? len : rnd());
				b[n++] = rnd() % 16 ? 0 : (uint8_t)rnd();
			}
			extra = len;
			/* UTF-8-ish payload: surrogates, lead bytes, backslashes */
			for (size_t k = 0; k < extra && n < cap; k++) {
				static const uint8_t pick[] = { 'a', '\\', 0, 0xed, 0xa0, 0xbf,
								0xc3, 0xa9, 0xf0, 0x9f, 0x80, 0xff,
								0xe2, 0x82, 0xac, 0xf4 };

				b[n++] = rnd() % 3 ? pick[rnd() % sizeof(pick)] : (uint8_t)rnd();
			}
			extra = 0;
			break;
		}
		default:
			extra = 0;
		}
		for (size_t k = 0; k < extra && n < cap; k++)
			b[n++] = (uint8_t)rnd();
	}
	return n;
}

static void test_random(void **state)
{
	uint8_t buf[512];

	for (int iter = 0; iter < 20000; iter++) {
		size_t n;
		char *got;

		if (iter % 3 == 0) {
			n = rnd() % sizeof(buf);
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)rnd();
		} else {
			n = gen_structured(buf, rnd() % sizeof(buf));
		}
		got = decode(buf, n); /* asserts array + valid UTF-8 */
		assert_true(got[0] == '[');
		free(got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_bigint),
		cmocka_unit_test(test_float),
		cmocka_unit_test(test_str_utf8),
		cmocka_unit_test(test_str_surrogate),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_bytes_nul),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_containers),
		cmocka_unit_test(test_deep_and_other),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_lengths_past_end),
		cmocka_unit_test(test_unknown_tag),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_huge_count),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
