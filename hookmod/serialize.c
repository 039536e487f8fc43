// SPDX-License-Identifier: MIT
/*
 * serialize.c — turn an audit args tuple into the tagged byte format of
 * pysechook_abi.h.  Only exact builtin types are looked into: a subclass
 * may override __str__/__index__/__iter__, and the hook must never run
 * user code.  Everything is bounded: string bytes, items per container,
 * nesting depth and the whole buffer.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pysechook_abi.h"
#include "serialize.h"

struct sbuf {
	uint8_t *p;
	size_t len;
	size_t cap; /* one byte below the real end, kept for the '~' */
	int full;
};

struct ser {
	const struct pysec_pyapi *api;
	struct sbuf b;
};

static size_t room(const struct sbuf *b)
{
	return b->full ? 0 : b->cap - b->len;
}

/* Mark the buffer full: '~' goes into the byte reserved for it. */
static void end_full(struct sbuf *b)
{
	if (!b->full) {
		b->p[b->len++] = PYSEC_T_END;
		b->full = 1;
	}
}

static int put(struct sbuf *b, const void *data, size_t n)
{
	if (room(b) < n) {
		end_full(b);
		return -1;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static int put_u8(struct sbuf *b, uint8_t v)
{
	return put(b, &v, 1);
}

static int put_u16(struct sbuf *b, uint16_t v)
{
	uint8_t le[2] = { v & 0xff, v >> 8 };

	return put(b, le, 2);
}

static int put_u32(struct sbuf *b, uint32_t v)
{
	uint8_t le[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };

	return put(b, le, 4);
}

static int put_u64(struct sbuf *b, uint64_t v)
{
	uint8_t le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (v >> (8 * i)) & 0xff;
	return put(b, le, 8);
}

/* A tag and its fixed-size payload go in whole or not at all. */
static int put_tag(struct sbuf *b, uint8_t tag, size_t payload)
{
	if (room(b) < 1 + payload) {
		end_full(b);
		return -1;
	}
	return put_u8(b, tag);
}

static int put_short(struct sbuf *b, uint8_t tag, const char *s, size_t n)
{
	if (n > 0xffff)
		n = 0xffff;
	if (room(b) < 3 + n) {
		end_full(b);
		return -1;
	}
	put_u8(b, tag);
	put_u16(b, (uint16_t)n);
	return put(b, s, n);
}

/* Largest prefix of s[0..n) not ending inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n)
{
	size_t i = n;

	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && n - i < 3)
		i--;
	if (i > 0 && ((unsigned char)s[i - 1] & 0x80)) {
		unsigned char lead = (unsigned char)s[i - 1];
		size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;

		return n - (i - 1) >= need ? n : i - 1;
	}
	return n;
}

/*
 * str or bytes payload: whole when it fits under PYSEC_STR_CAP and in the
 * buffer, else cut (and the buffer closed when the buffer was the limit).
 * total: the value's full length, reported with a cut (len() in Python
 * terms: characters for str, bytes for bytes); whole: s is all of it.
 */
static void put_text(struct sbuf *b, int is_str, const char *s, size_t n, size_t total,
		     int whole)
{
	size_t keep = n;
	int buffer_limited = 0;

	if (keep > PYSEC_STR_CAP)
		keep = PYSEC_STR_CAP;
	if (whole && keep == n && room(b) >= 3 + n) {
		put_short(b, is_str ? PYSEC_T_STR : PYSEC_T_BYTES, s, n);
		return;
	}
	if (room(b) < 7 + keep) {
		if (room(b) < 7 + 8) { /* not even a useful prefix */
			end_full(b);
			return;
		}
		keep = room(b) - 7;
		buffer_limited = 1;
	}
	if (is_str)
		keep = utf8_cut(s, keep);
	put_u8(b, is_str ? PYSEC_T_STR_CUT : PYSEC_T_BYTES_CUT);
	put_u32(b, total > 0xffffffffu ? 0xffffffffu : (uint32_t)total);
	put_u16(b, (uint16_t)keep);
	put(b, s, keep);
	if (buffer_limited)
		end_full(b);
}

static void put_type_name(struct sbuf *b, uint8_t tag, const void *type)
{
	const char *name = pyapi_type_name(type);

	put_short(b, tag, name ? name : "?", name ? strnlen(name, 128) : 1);
}

/*
 * Encode at most PYSEC_STR_CAP characters: a huge str costs no more than a
 * short one, and CPython does not cache a UTF-8 copy of it.
 */
static void ser_str(struct ser *s, pyobj *o)
{
	const struct pysec_pyapi *api = s->api;
	py_ssize_t chars = api->Unicode_GetLength(o), n = 0;
	pyobj *head = NULL, *enc = NULL;
	const char *u;

	if (chars < 0) {
		api->Err_Clear();
		put_type_name(&s->b, PYSEC_T_OTHER, pyapi_type(o));
		return;
	}
	if (chars > PYSEC_STR_CAP) {
		head = api->Unicode_Substring(o, 0, PYSEC_STR_CAP);
		if (!head) {
			api->Err_Clear();
			put_type_name(&s->b, PYSEC_T_OTHER, pyapi_type(o));
			return;
		}
	}
	u = api->Unicode_AsUTF8AndSize(head ? head : o, &n);
	if (!u) {
		/* Lone surrogates: not UTF-8; keep them in their 3-byte form. */
		api->Err_Clear();
		enc = api->Unicode_AsEncodedString(head ? head : o, "utf-8", "surrogatepass");
		if (enc) {
			u = api->Bytes_AsString(enc);
			n = api->Bytes_Size(enc);
		} else {
			api->Err_Clear();
		}
	}
	if (u)
		put_text(&s->b, 1, u, (size_t)n, (size_t)chars, !head);
	else
		put_type_name(&s->b, PYSEC_T_OTHER, pyapi_type(o));
	if (enc)
		api->DecRef(enc);
	if (head)
		api->DecRef(head);
}

static void ser_int(struct ser *s, pyobj *o)
{
	const struct pysec_pyapi *api = s->api;
	int overflow = 0;
	long long v = api->Long_AsLongLongAndOverflow(o, &overflow);
	char text[40];

	if (!overflow) {
		if (!put_tag(&s->b, PYSEC_T_INT, 8))
			put_u64(&s->b, (uint64_t)v);
		return;
	}
	/*
	 * Past 64 bits: decimal only while it is short (str() of a huge int
	 * is quadratic on 3.8-3.10, a denial of service from hostile args);
	 * otherwise an approximation marked with '~'.
	 */
	double d = api->Long_AsDouble(o);

	if (d == -1.0 && api->Err_Occurred()) {
		api->Err_Clear();
		if (overflow < 0)
			put_short(&s->b, PYSEC_T_BIGINT, "~-inf", 5);
		else
			put_short(&s->b, PYSEC_T_BIGINT, "~inf", 4);
		return;
	}
	if (fabs(d) < 1e76) {
		pyobj *str = api->Object_Str(o);
		py_ssize_t n = 0;
		const char *u = str ? api->Unicode_AsUTF8AndSize(str, &n) : NULL;

		if (u)
			put_short(&s->b, PYSEC_T_BIGINT, u, (size_t)n);
		else
			api->Err_Clear();
		if (str)
			api->DecRef(str);
		if (u)
			return;
	}
	snprintf(text, sizeof(text), "~%.17g", d);
	put_short(&s->b, PYSEC_T_BIGINT, text, strlen(text));
}

static void ser_item(struct ser *s, pyobj *o, int depth);

static void ser_seq(struct ser *s, pyobj *o, int is_tuple, int depth)
{
	const struct pysec_pyapi *api = s->api;
	py_ssize_t n = is_tuple ? api->Tuple_Size(o) : api->List_Size(o);
	py_ssize_t shown = n > PYSEC_ITEMS_CAP ? PYSEC_ITEMS_CAP : n;

	if (depth >= PYSEC_DEPTH_CAP) {
		put_type_name(&s->b, PYSEC_T_DEEP, pyapi_type(o));
		return;
	}
	if (n < 0) {
		api->Err_Clear();
		n = shown = 0;
	}
	if (put_tag(&s->b, is_tuple ? PYSEC_T_TUPLE : PYSEC_T_LIST, 2) ||
	    put_u16(&s->b, (uint16_t)(shown + (n > shown))))
		return;
	for (py_ssize_t i = 0; i < shown && !s->b.full; i++) {
		pyobj *item = is_tuple ? api->Tuple_GetItem(o, i) : api->List_GetItem(o, i);

		if (!item) { /* a list shrunk under us: cannot, GIL held */
			api->Err_Clear();
			put_u8(&s->b, PYSEC_T_NONE);
			continue;
		}
		ser_item(s, item, depth + 1);
	}
	if (n > shown && !s->b.full) {
		if (!put_tag(&s->b, PYSEC_T_MORE, 4))
			put_u32(&s->b, (uint32_t)(n - shown));
	}
}

static void ser_item(struct ser *s, pyobj *o, int depth)
{
	const struct pysec_pyapi *api = s->api;
	void *t = pyapi_type(o);

	if (s->b.full)
		return;
	if (o == api->None) {
		put_u8(&s->b, PYSEC_T_NONE);
	} else if (t == api->Bool_Type) {
		put_u8(&s->b, o == api->True ? PYSEC_T_TRUE : PYSEC_T_FALSE);
	} else if (t == api->Unicode_Type) {
		ser_str(s, o);
	} else if (t == api->Bytes_Type) {
		size_t len = (size_t)api->Bytes_Size(o);

		put_text(&s->b, 0, api->Bytes_AsString(o), len, len, 1);
	} else if (t == api->Long_Type) {
		ser_int(s, o);
	} else if (t == api->Float_Type) {
		double d = api->Float_AsDouble(o);
		uint64_t bits;

		memcpy(&bits, &d, sizeof(bits));
		if (!put_tag(&s->b, PYSEC_T_FLOAT, 8))
			put_u64(&s->b, bits);
	} else if (t == api->Tuple_Type) {
		ser_seq(s, o, 1, depth);
	} else if (t == api->List_Type) {
		ser_seq(s, o, 0, depth);
	} else {
		put_type_name(&s->b, PYSEC_T_OTHER, t);
	}
}

size_t pysec_serialize(const struct pysec_pyapi *api, pyobj *obj, uint8_t *buf,
		       size_t cap, uint32_t *flags)
{
	struct ser s = { .api = api, .b = { .p = buf, .cap = cap - 1 } };
	pyobj *et = NULL, *ev = NULL, *tb = NULL;
	int saved = api->Err_Occurred() != NULL;

	if (saved)
		api->Err_Fetch(&et, &ev, &tb);
	ser_item(&s, obj, 0);
	if (api->Err_Occurred())
		api->Err_Clear();
	if (saved)
		api->Err_Restore(et, ev, tb);
	*flags = s.b.full ? PYSEC_F_TRUNCATED : 0;
	return s.b.len;
}
