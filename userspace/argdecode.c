// SPDX-License-Identifier: MIT
/*
 * argdecode.c — decode the hook's argument buffer.  The buffer comes from a
 * process we do not trust: every length is checked against what is left,
 * nesting is bounded, and nothing is allocated in proportion to a claimed
 * count.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../hookmod/pysechook_abi.h"
#include "argdecode.h"

#define DECODE_DEPTH_MAX (PYSEC_DEPTH_CAP + 2)

struct rd {
	const uint8_t *p;
	size_t len, off;
	int stop; /* 1: hook's '~', 2: malformed */
	size_t bad_off;
};

static int take(struct rd *r, void *out, size_t n)
{
	if (r->len - r->off < n) {
		r->stop = 2;
		r->bad_off = r->off;
		return -1;
	}
	memcpy(out, r->p + r->off, n);
	r->off += n;
	return 0;
}

static uint64_t le(const uint8_t *b, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

static int take_le(struct rd *r, int n, uint64_t *v)
{
	uint8_t b[8];

	if (take(r, b, (size_t)n))
		return -1;
	*v = le(b, n);
	return 0;
}

/* Length of the valid UTF-8 scalar sequence at s (0: invalid or surrogate). */
static int utf8_seq(const uint8_t *s, size_t n, int *surrogate)
{
	uint32_t cp;
	int len;

	*surrogate = 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if ((size_t)len > n)
		return 0;
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	if (cp >= 0xd800 && cp <= 0xdfff) {
		*surrogate = (int)cp;
		return 0;
	}
	return len;
}

static int is_clean_utf8(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		int sur, l = utf8_seq(s + i, n - i, &sur);

		if (!l)
			return 0;
		i += (size_t)l;
	}
	return 1;
}

/*
 * Escaped text: \\, \xNN for non-UTF-8 bytes, \udNNN for surrogates.  NUL
 * and other control characters stay as they are (JSON escapes them).
 */
static struct json_object *escaped_string(const uint8_t *s, size_t n, int is_str)
{
	char *out = malloc(n * 6 + 1), *o = out;
	struct json_object *v;

	if (!out)
		return json_object_new_string("");
	for (size_t i = 0; i < n;) {
		int sur, l = utf8_seq(s + i, n - i, &sur);

		if (l == 1 && s[i] == '\\') {
			*o++ = '\\';
			*o++ = '\\';
			i++;
		} else if (l) {
			memcpy(o, s + i, (size_t)l);
			o += l;
			i += (size_t)l;
		} else if (sur && is_str && n - i >= 3) {
			o += sprintf(o, "\\u%04x", sur);
			i += 3;
		} else {
			o += sprintf(o, "\\x%02x", s[i]);
			i++;
		}
	}
	*o = 0;
	v = json_object_new_string_len(out, (int)(o - out));
	free(out);
	return v;
}

static struct json_object *text_value(const uint8_t *s, size_t n, int is_str, int cut,
				      uint32_t total)
{
	int clean = is_str && is_clean_utf8(s, n);
	struct json_object *text, *v;

	if (clean) {
		text = json_object_new_string_len((const char *)s, (int)n);
		if (!cut)
			return text;
	} else {
		text = escaped_string(s, n, is_str);
	}
	v = json_object_new_object();
	json_object_object_add(v, !is_str ? "bytes" : clean ? "str" : "str_escaped", text);
	if (cut) {
		json_object_object_add(v, "truncated", json_object_new_boolean(1));
		json_object_object_add(v, "size", json_object_new_int64(total));
	}
	return v;
}

struct json_object *pysec_bytes_to_json(const void *s, size_t n)
{
	if (is_clean_utf8(s, n))
		return json_object_new_string_len(s, (int)n);
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "bytes", escaped_string(s, n, 0));
	return o;
}

static struct json_object *tagged(const char *key, struct json_object *val)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, key, val);
	return o;
}

static struct json_object *decode_item(struct rd *r, int depth);

static struct json_object *decode_seq(struct rd *r, int depth)
{
	struct json_object *arr = json_object_new_array();
	uint64_t n;

	if (take_le(r, 2, &n))
		return arr;
	for (uint64_t i = 0; i < n && !r->stop; i++) {
		struct json_object *item = decode_item(r, depth + 1);

		/* json-c's null is NULL: keep None, drop only a failed item */
		if (item || !r->stop)
			json_object_array_add(arr, item);
	}
	return arr;
}

static struct json_object *decode_item(struct rd *r, int depth)
{
	uint8_t tag;
	uint64_t v, total;
	double d;

	if (depth > DECODE_DEPTH_MAX) {
		r->stop = 2;
		r->bad_off = r->off;
		return NULL;
	}
	if (take(r, &tag, 1))
		return NULL;
	switch (tag) {
	case PYSEC_T_NONE:
		return json_object_new_null();
	case PYSEC_T_TRUE:
	case PYSEC_T_FALSE:
		return json_object_new_boolean(tag == PYSEC_T_TRUE);
	case PYSEC_T_INT:
		if (take_le(r, 8, &v))
			return NULL;
		return json_object_new_int64((int64_t)v);
	case PYSEC_T_FLOAT:
		if (take_le(r, 8, &v))
			return NULL;
		memcpy(&d, &v, sizeof(d));
		if (isfinite(d))
			return json_object_new_double(d);
		return tagged("float", json_object_new_string(isnan(d) ? "nan"
								: d > 0	    ? "inf"
									    : "-inf"));
	case PYSEC_T_BIGINT:
	case PYSEC_T_STR:
	case PYSEC_T_BYTES:
	case PYSEC_T_OTHER:
	case PYSEC_T_DEEP:
	case PYSEC_T_STR_CUT:
	case PYSEC_T_BYTES_CUT: {
		int cut = tag == PYSEC_T_STR_CUT || tag == PYSEC_T_BYTES_CUT;
		const uint8_t *s;

		total = 0;
		if (cut && take_le(r, 4, &total))
			return NULL;
		if (take_le(r, 2, &v))
			return NULL;
		if (r->len - r->off < v) {
			r->stop = 2;
			r->bad_off = r->off;
			return NULL;
		}
		s = r->p + r->off;
		r->off += v;
		if (tag == PYSEC_T_STR || tag == PYSEC_T_STR_CUT)
			return text_value(s, v, 1, cut, (uint32_t)total);
		if (tag == PYSEC_T_BYTES || tag == PYSEC_T_BYTES_CUT)
			return text_value(s, v, 0, cut, (uint32_t)total);
		struct json_object *o =
			tagged(tag == PYSEC_T_BIGINT ? "int" : "type", escaped_string(s, v, 0));

		if (tag == PYSEC_T_DEEP)
			json_object_object_add(o, "depth_limit", json_object_new_boolean(1));
		return o;
	}
	case PYSEC_T_TUPLE:
	case PYSEC_T_LIST:
		return decode_seq(r, depth);
	case PYSEC_T_MORE:
		if (take_le(r, 4, &v))
			return NULL;
		return tagged("more", json_object_new_int64((int64_t)v));
	case PYSEC_T_END:
		r->stop = 1;
		return NULL;
	default:
		r->stop = 2;
		r->bad_off = r->off - 1;
		return NULL;
	}
}

struct json_object *pysec_args_to_json(const uint8_t *buf, size_t len)
{
	struct rd r = { .p = buf, .len = len };
	struct json_object *arr = NULL;
	uint8_t tag = len ? buf[0] : 0;

	if (tag == PYSEC_T_TUPLE || tag == PYSEC_T_LIST) {
		r.off = 1;
		arr = decode_seq(&r, 0);
	} else {
		arr = json_object_new_array();
		if (len) { /* not a tuple: keep whatever the single item is */
			struct json_object *item = decode_item(&r, 0);

			if (item || !r.stop)
				json_object_array_add(arr, item);
		}
	}
	if (r.stop == 0 && r.off < r.len && r.p[r.off] == PYSEC_T_END)
		r.stop = 1;
	else if (r.stop == 0 && r.off != r.len)
		r.stop = 2, r.bad_off = r.off;
	if (r.stop == 1)
		json_object_array_add(arr, tagged("truncated", json_object_new_boolean(1)));
	else if (r.stop == 2)
		json_object_array_add(arr, tagged("malformed", json_object_new_int64((int64_t)r.bad_off)));
	return arr;
}

/* Text for humans: JSON-like, long strings cut to TEXT_STR_MAX with "...". */
#define TEXT_STR_MAX 120

static void text_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t ncap = (*len + n + 1) * 2;
		char *nb = realloc(*buf, ncap);

		if (!nb)
			return;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = 0;
}

static void text_value_of(struct json_object *v, char **buf, size_t *len, size_t *cap)
{
	const int fl = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;

	switch (json_object_get_type(v)) {
	case json_type_array:
		text_append(buf, len, cap, "[", 1);
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			if (i)
				text_append(buf, len, cap, ", ", 2);
			text_value_of(json_object_array_get_idx(v, i), buf, len, cap);
		}
		text_append(buf, len, cap, "]", 1);
		return;
	case json_type_object: {
		int first = 1;

		text_append(buf, len, cap, "{", 1);
		json_object_object_foreach(v, key, val) {
			if (!first)
				text_append(buf, len, cap, ", ", 2);
			first = 0;
			text_append(buf, len, cap, key, strlen(key));
			text_append(buf, len, cap, ": ", 2);
			text_value_of(val, buf, len, cap);
		}
		text_append(buf, len, cap, "}", 1);
		return;
	}
	case json_type_string:
		if (json_object_get_string_len(v) > TEXT_STR_MAX) {
			const char *full = json_object_get_string(v);
			int n = TEXT_STR_MAX;

			while (n > 0 && ((unsigned char)full[n] & 0xc0) == 0x80)
				n--; /* not inside a UTF-8 sequence */
			struct json_object *cut = json_object_new_string_len(full, n);
			const char *s = json_object_to_json_string_ext(cut, fl);

			/* drop the closing quote, mark the cut */
			text_append(buf, len, cap, s, strlen(s) - 1);
			text_append(buf, len, cap, "...\"", 4);
			json_object_put(cut);
			return;
		}
		/* fall through */
	default: {
		const char *s = json_object_to_json_string_ext(v, fl);

		text_append(buf, len, cap, s, strlen(s));
	}
	}
}

char *pysec_args_to_text(const uint8_t *buf, size_t len)
{
	struct json_object *arr = pysec_args_to_json(buf, len);
	size_t tlen = 0, tcap = 256;
	char *out = malloc(tcap);

	if (out) {
		out[0] = 0;
		text_value_of(arr, &out, &tlen, &tcap);
	}
	json_object_put(arr);
	return out;
}
