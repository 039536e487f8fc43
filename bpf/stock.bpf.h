/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * stock.bpf.h — usdt__stock_audit: the stock `python:audit(const char
 * *event, PyObject *args)` probe of CPython builds with DTrace/USDT, for
 * Pythons that carry no pysectrace hook (docs/stock-probe.md).  The args
 * tuple is decoded here, from user memory, into the hook's serialized
 * format (hookmod/serialize.c, same limits, same bytes), and the token the
 * hook would have computed (hookmod/correlate.c) is computed from it.
 * Included by pysectrace.bpf.c (shares its maps and helpers).
 *
 * Types are recognised by address only: ob_type must equal a builtin type
 * of the runtime file user space described in `stock_cfgs` (found through
 * the mapping that holds the args tuple's type).  Nothing here trusts an
 * object's contents beyond bounded reads.
 */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct pysec_stock_key);
	__type(value, struct pysec_stock_cfg);
} stock_cfgs SEC(".maps");

/* Per-process audit sequence numbers (the stock probe has none). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} stock_seq SEC(".maps");

#define STK_OUT	   2048			/* out[] is written at offsets masked to this */
#define STK_CAP	   (PYSEC_ARGS_MAX - 1) /* one byte kept for '~', as the hook */
#define STK_FRAMES 8

struct stock_frame {
	__u64 items; /* user address of the item array */
	__u32 n, shown, i, pad;
};

struct stock_scratch {
	__u8 out[STK_OUT];
	__u8 raw[2048]; /* a str's code units */
	__u8 enc[1024]; /* staged payload (UTF-8, bytes, digits) */
	char event[PYSEC_EVENT_MAX];
	struct stock_frame st[STK_FRAMES];
	struct pysec_stock_cfg cfg;
	__u64 bias;
	__u32 len, full, depth, nframes;
	/* encoder */
	__u32 kind, nchars, enc_len, enc_max, enc_done, enc_fs, enc_bad, pad;
	/* int → decimal */
	__u32 digits[10];
	__u32 ndigits, ntext;
	/* hash */
	__u64 hash;
	__u32 hash_len, hash_base;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stock_scratch);
} stock_scratch SEC(".maps");

/* The runtime-type file and the load bias of the process, by tgid. */
struct stock_proc {
	__u64 tuple_addr; /* runtime address of PyTuple_Type */
	__u64 bias;
	struct pysec_stock_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct stock_proc);
} stock_procs SEC(".maps");

/* x & mask, kept by the compiler so the verifier sees the bound */
static __always_inline __u64 stk_m(__u64 x, __u64 mask)
{
	asm volatile("%0 &= %1" : "+r"(x) : "i"(mask));
	return x;
}

static __always_inline struct stock_scratch *stk(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stock_scratch, &zero);
}

static __always_inline __u64 uread_u64(__u64 addr)
{
	__u64 v = 0;

	bpf_probe_read_user(&v, sizeof(v), (const void *)addr);
	return v;
}

/* ---- the output buffer, as hookmod/serialize.c's struct sbuf */

static __always_inline __u32 stk_room(struct stock_scratch *s)
{
	return s->full || s->len >= STK_CAP ? 0 : STK_CAP - s->len;
}

static __always_inline void stk_end_full(struct stock_scratch *s)
{
	if (!s->full) {
		s->out[stk_m(s->len, (STK_OUT - 1))] = PYSEC_T_END;
		s->len++;
		s->full = 1;
	}
}

static __always_inline void stk_u8(struct stock_scratch *s, __u8 v)
{
	s->out[stk_m(s->len, (STK_OUT - 1))] = v;
	s->len++;
}

static __always_inline void stk_u16(struct stock_scratch *s, __u16 v)
{
	stk_u8(s, v & 0xff);
	stk_u8(s, v >> 8);
}

static __always_inline void stk_u32(struct stock_scratch *s, __u32 v)
{
	stk_u16(s, v & 0xffff);
	stk_u16(s, v >> 16);
}

/* put_u8: a lone tag goes in when one byte is left */
static __always_inline void stk_put1(struct stock_scratch *s, __u8 v)
{
	if (stk_room(s) < 1) {
		stk_end_full(s);
		return;
	}
	stk_u8(s, v);
}

/* put_tag: a tag and its fixed payload go in whole or not at all */
static __always_inline int stk_tag(struct stock_scratch *s, __u8 tag, __u32 payload)
{
	if (stk_room(s) < 1 + payload) {
		stk_end_full(s);
		return -1;
	}
	stk_u8(s, tag);
	return 0;
}

/* n bytes of s->enc at the end of out */
static __always_inline void stk_copy_enc(struct stock_scratch *s, __u32 n)
{
	__u32 off = stk_m(s->len, STK_OUT - 1);

	n = stk_m(n, 1023);
	if (n)
		bpf_probe_read_kernel(&s->out[off], n, s->enc);
	s->len += n;
}

/* put_short: tag, u16 n, n bytes of enc */
static __always_inline void stk_short(struct stock_scratch *s, __u8 tag, __u32 n)
{
	if (stk_room(s) < 3 + n) {
		stk_end_full(s);
		return;
	}
	stk_u8(s, tag);
	stk_u16(s, n);
	stk_copy_enc(s, n);
}

/* utf8_cut of serialize.c over enc[0..n) */
static __always_inline __u32 stk_utf8_cut(struct stock_scratch *s, __u32 n)
{
	__u32 i = n;

	for (int k = 0; k < 3; k++) {
		if (i > 0 && (s->enc[stk_m(i - 1, 1023)] & 0xc0) == 0x80)
			i--;
		else
			break;
	}
	if (i > 0 && (s->enc[stk_m(i - 1, 1023)] & 0x80)) {
		__u8 lead = s->enc[stk_m(i - 1, 1023)];
		__u32 need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;

		return n - (i - 1) >= need ? n : i - 1;
	}
	return n;
}

/*
 * put_text of serialize.c: the payload is enc[0..min(n, avail)); n is the
 * length the hook would have (anything > PYSEC_STR_CAP when cut).
 */
static __always_inline void stk_text(struct stock_scratch *s, int is_str, __u32 n, __u32 avail,
				     __u32 total, int whole)
{
	__u32 keep = n > PYSEC_STR_CAP ? PYSEC_STR_CAP : n;
	int limited = 0;

	if (whole && keep == n && stk_room(s) >= 3 + n) {
		stk_short(s, is_str ? PYSEC_T_STR : PYSEC_T_BYTES, n);
		return;
	}
	if (stk_room(s) < 7 + keep) {
		if (stk_room(s) < 7 + 8) {
			stk_end_full(s);
			return;
		}
		keep = stk_room(s) - 7;
		limited = 1;
	}
	if (keep > avail)
		keep = avail; /* the hook's cut lands on the same character boundary */
	if (is_str)
		keep = stk_utf8_cut(s, keep);
	stk_u8(s, is_str ? PYSEC_T_STR_CUT : PYSEC_T_BYTES_CUT);
	stk_u32(s, total);
	stk_u16(s, keep);
	stk_copy_enc(s, keep);
	if (limited)
		stk_end_full(s);
}

/* ---- str: code units → UTF-8 (surrogates in their 3-byte form) */

static long stk_enc_step(__u32 i, void *ctx)
{
	struct stock_scratch *s = stk();
	__u32 c, n, o;

	if (!s)
		return 1;
	if (s->kind == 1)
		c = s->raw[stk_m(i, 2047)];
	else if (s->kind == 2)
		c = s->raw[stk_m(2 * i, 2047)] | (__u32)s->raw[stk_m(2 * i + 1, 2047)] << 8;
	else
		c = s->raw[stk_m(4 * i, 2047)] | (__u32)s->raw[stk_m(4 * i + 1, 2047)] << 8 |
		    (__u32)s->raw[stk_m(4 * i + 2, 2047)] << 16 |
		    (__u32)s->raw[stk_m(4 * i + 3, 2047)] << 24;
	if (s->enc_fs && c >= 0xd800 && c <= 0xdfff) {
		/* os.fsencode: surrogateescape gives back bytes 0x80-0xff, nothing else */
		if (c < 0xdc80 || c > 0xdcff) {
			s->enc_bad = 1;
			return 1;
		}
		c = 0x80000000u | (c - 0xdc00);
	}
	n = c & 0x80000000u ? 1 : c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
	if (s->enc_len + n > s->enc_max)
		return 1;
	o = s->enc_len;
	if (c & 0x80000000u) {
		s->enc[stk_m(o, 1023)] = c & 0xff;
	} else if (n == 1) {
		s->enc[stk_m(o, 1023)] = c;
	} else if (n == 2) {
		s->enc[stk_m(o, 1023)] = 0xc0 | (c >> 6);
		s->enc[stk_m(o + 1, 1023)] = 0x80 | (c & 0x3f);
	} else if (n == 3) {
		s->enc[stk_m(o, 1023)] = 0xe0 | (c >> 12);
		s->enc[stk_m(o + 1, 1023)] = 0x80 | ((c >> 6) & 0x3f);
		s->enc[stk_m(o + 2, 1023)] = 0x80 | (c & 0x3f);
	} else {
		s->enc[stk_m(o, 1023)] = 0xf0 | ((c >> 18) & 0x07);
		s->enc[stk_m(o + 1, 1023)] = 0x80 | ((c >> 12) & 0x3f);
		s->enc[stk_m(o + 2, 1023)] = 0x80 | ((c >> 6) & 0x3f);
		s->enc[stk_m(o + 3, 1023)] = 0x80 | (c & 0x3f);
	}
	s->enc_len = o + n;
	s->enc_done = i + 1;
	return 0;
}

/*
 * A str object: sets kind (1 ASCII or UCS1, 2, 4), the user address of its
 * code units and nchars; -1 when it is not a compact, ready str.
 */
static __always_inline int stk_str_data(struct stock_scratch *s, __u64 o, __u64 *data,
					__u32 *nchars, __u32 *ascii)
{
	__u32 state = 0;
	__s64 len = 0;

	bpf_probe_read_user(&len, sizeof(len), (void *)(o + s->cfg.str_length));
	bpf_probe_read_user(&state, sizeof(state), (void *)(o + s->cfg.str_state));
	if (len < 0 || !(state & s->cfg.state_compact) ||
	    (s->cfg.state_ready && !(state & s->cfg.state_ready)))
		return -1;
	s->kind = (state & s->cfg.state_kind_mask) >> s->cfg.state_kind_shift;
	if (s->kind != 1 && s->kind != 2 && s->kind != 4)
		return -1;
	*ascii = !!(state & s->cfg.state_ascii);
	*data = o + (*ascii ? s->cfg.str_ascii_data : s->cfg.str_compact_data);
	*nchars = len > 0x7fffffff ? 0x7fffffff : (__u32)len;
	return 0;
}

/*
 * Encode the first chars of a non-ASCII str into enc, stopping before the
 * character that would pass max bytes.  Returns the characters encoded.
 */
static __always_inline __u32 stk_encode(struct stock_scratch *s, __u64 data, __u32 chars, __u32 max,
					int fs)
{
	__u32 units = chars > PYSEC_STR_CAP ? PYSEC_STR_CAP : chars;
	__u32 bytes = units * s->kind;

	s->enc_len = 0;
	s->enc_max = max;
	s->enc_done = 0;
	s->enc_fs = fs;
	s->enc_bad = 0;
	if (!bytes)
		return 0;
	if (bytes > 2048)
		bytes = 2048;
	bytes = stk_m(bytes - 1, 2047) + 1;
	if (bpf_probe_read_user(s->raw, bytes, (void *)data) != 0)
		return 0;
	bpf_loop(units, stk_enc_step, NULL, 0);
	return s->enc_done;
}

/* ser_str */
static __always_inline void stk_put_str(struct stock_scratch *s, __u64 o)
{
	__u64 data;
	__u32 chars, ascii;

	if (stk_str_data(s, o, &data, &chars, &ascii) < 0) {
		__builtin_memcpy(s->enc, "str", 3);
		stk_short(s, PYSEC_T_OTHER, 3);
		return;
	}
	if (ascii) {
		__u32 n = chars > PYSEC_STR_CAP ? PYSEC_STR_CAP : chars;

		n = stk_m(n, 1023);
		if (n && bpf_probe_read_user(s->enc, n, (void *)data) != 0)
			n = 0;
		stk_text(s, 1, n, n, chars, chars <= PYSEC_STR_CAP);
		return;
	}
	__u32 units = chars > PYSEC_STR_CAP ? PYSEC_STR_CAP : chars;
	__u32 done = stk_encode(s, data, chars, PYSEC_STR_CAP, 0);
	int whole = chars <= PYSEC_STR_CAP && done == units;

	/* stopped early: the hook's encoding passed PYSEC_STR_CAP bytes */
	stk_text(s, 1, done == units ? s->enc_len : PYSEC_STR_CAP + 1, s->enc_len, chars, whole);
}

/* ---- int */

/* one decimal digit off digits[] (long division by 10, 30-bit digits) */
static long stk_div10_step(__u32 i, void *ctx)
{
	struct stock_scratch *s = stk();
	__u64 rem = 0;
	int nz = 0;

	if (!s)
		return 1;
	for (int k = 9; k >= 0; k--) {
		if (k >= (int)s->ndigits)
			continue;
		__u64 cur = (rem << 30) | s->digits[k];

		s->digits[k] = (__u32)(cur / 10);
		rem = cur % 10;
		if (s->digits[k])
			nz = 1;
	}
	s->raw[stk_m(s->ntext, 2047)] = '0' + (__u8)rem;
	s->ntext++;
	return nz ? 0 : 1;
}

static long stk_rev_step(__u32 i, void *ctx)
{
	struct stock_scratch *s = stk();
	__u32 *base = ctx;

	if (!s)
		return 1;
	s->enc[stk_m(*base + i, 1023)] = s->raw[stk_m(s->ntext - 1 - i, 2047)];
	return 0;
}

/* ser_int: i64 when it fits, else decimal while it is short */
static __always_inline void stk_put_int(struct stock_scratch *s, __u64 o)
{
	__u64 ndig, v = 0;
	int neg;

	if (s->cfg.long_tag) {
		__u64 tag = uread_u64(o + s->cfg.long_size);

		neg = (tag & 3) == 2;
		ndig = tag >> 3;
	} else {
		__s64 size = (__s64)uread_u64(o + s->cfg.long_size);

		neg = size < 0;
		ndig = neg ? (__u64)-size : (__u64)size;
	}
	if (ndig > 9) {
		/* past ~2^270 the hook prints an approximation: not done here */
		__builtin_memcpy(s->enc, "int", 3);
		stk_short(s, PYSEC_T_OTHER, 3);
		return;
	}
	for (int k = 0; k < 10; k++)
		s->digits[k] = 0;
	if (ndig) {
		__u64 sz = stk_m(ndig * 4, 63);

		if (sz > 40)
			sz = 40;
		bpf_probe_read_user(s->digits, sz, (void *)(o + s->cfg.long_digit));
	}
	if (ndig <= 3) {
		__u64 d2 = ndig > 2 ? s->digits[2] : 0;

		v = (__u64)s->digits[0] | (ndig > 1 ? (__u64)s->digits[1] << 30 : 0);
		if (d2 < 8 || (neg && d2 == 8 && !s->digits[0] && !s->digits[1])) {
			v |= d2 << 60;
			if (!stk_tag(s, PYSEC_T_INT, 8)) {
				__u64 w = neg ? -v : v;

				stk_u32(s, (__u32)w);
				stk_u32(s, (__u32)(w >> 32));
			}
			return;
		}
	}
	s->ndigits = ndig;
	s->ntext = 0;
	bpf_loop(90, stk_div10_step, NULL, 0);
	if (s->ntext > 76) {
		/* the hook writes "~%.17g" of the value's double: not done here */
		__builtin_memcpy(s->enc, "int", 3);
		stk_short(s, PYSEC_T_OTHER, 3);
		return;
	}
	__u32 base = 0;

	if (neg)
		s->enc[base++] = '-';
	bpf_loop(s->ntext & 127, stk_rev_step, &base, 0);
	stk_short(s, PYSEC_T_BIGINT, base + s->ntext);
}

/* the name of a type object (tp_name) into enc; its length */
static __always_inline __u32 stk_type_name(struct stock_scratch *s, __u64 type)
{
	__u64 name = uread_u64(type + s->cfg.type_name);
	long n = name ? bpf_probe_read_user_str(s->enc, 129, (void *)name) : -1;

	if (n <= 0) {
		s->enc[0] = '?';
		return 1;
	}
	return (__u32)(n - 1);
}

static __always_inline __u64 stk_addr(struct stock_scratch *s, __u64 vaddr)
{
	return vaddr + s->bias;
}

/* ser_item (containers push a frame; the walk loop serializes their items) */
static __always_inline void stk_item(struct stock_scratch *s, __u64 o, __u32 depth)
{
	__u64 t;

	if (s->full)
		return;
	if (o == stk_addr(s, s->cfg.none_vaddr)) {
		stk_put1(s, PYSEC_T_NONE);
		return;
	}
	t = uread_u64(o + s->cfg.ob_type);
	if (t == stk_addr(s, s->cfg.bool_vaddr)) {
		stk_put1(s, o == stk_addr(s, s->cfg.true_vaddr) ? PYSEC_T_TRUE : PYSEC_T_FALSE);
	} else if (t == stk_addr(s, s->cfg.str_vaddr)) {
		stk_put_str(s, o);
	} else if (t == stk_addr(s, s->cfg.bytes_vaddr)) {
		__s64 len = (__s64)uread_u64(o + s->cfg.ob_size);
		__u32 n = len < 0 ? 0 : len > 0x7fffffff ? 0x7fffffff : (__u32)len;
		__u32 rd = n > PYSEC_STR_CAP ? PYSEC_STR_CAP : n;

		rd = stk_m(rd, 1023);
		if (rd && bpf_probe_read_user(s->enc, rd, (void *)(o + s->cfg.bytes_sval)) != 0)
			rd = 0;
		stk_text(s, 0, n, rd, n, 1);
	} else if (t == stk_addr(s, s->cfg.long_vaddr)) {
		stk_put_int(s, o);
	} else if (t == stk_addr(s, s->cfg.float_vaddr)) {
		__u64 bits = uread_u64(o + s->cfg.float_val);

		if (!stk_tag(s, PYSEC_T_FLOAT, 8)) {
			stk_u32(s, (__u32)bits);
			stk_u32(s, (__u32)(bits >> 32));
		}
	} else if (t == stk_addr(s, s->cfg.tuple_vaddr) || t == stk_addr(s, s->cfg.list_vaddr)) {
		int tuple = t == stk_addr(s, s->cfg.tuple_vaddr);
		__s64 n = (__s64)uread_u64(o + s->cfg.ob_size);
		__u32 shown;

		if (depth >= PYSEC_DEPTH_CAP) {
			stk_short(s, PYSEC_T_DEEP, stk_type_name(s, t));
			return;
		}
		if (n < 0)
			n = 0;
		shown = n > PYSEC_ITEMS_CAP ? PYSEC_ITEMS_CAP : (__u32)n;
		if (stk_tag(s, tuple ? PYSEC_T_TUPLE : PYSEC_T_LIST, 2))
			return;
		stk_u16(s, shown + (n > shown));
		if (depth >= STK_FRAMES)
			return;
		struct stock_frame *f = &s->st[stk_m(depth, (STK_FRAMES - 1))];

		f->items = tuple ? o + s->cfg.tuple_items : uread_u64(o + s->cfg.list_items);
		f->n = n > 0x7fffffff ? 0x7fffffff : (__u32)n;
		f->shown = shown;
		f->i = 0;
		s->depth = depth;
		s->nframes = 1;
	} else {
		stk_short(s, PYSEC_T_OTHER, stk_type_name(s, t));
	}
}

static long stk_walk_step(__u32 i, void *ctx)
{
	struct stock_scratch *s = stk();
	struct stock_frame *f;
	__u32 d;

	if (!s || s->full || !s->nframes)
		return 1;
	d = stk_m(s->depth, STK_FRAMES - 1);
	f = &s->st[d];
	if (f->i >= f->shown) {
		if (f->n > f->shown && !s->full && !stk_tag(s, PYSEC_T_MORE, 4))
			stk_u32(s, f->n - f->shown);
		if (d == 0) {
			s->nframes = 0;
			return 1;
		}
		s->depth = d - 1;
		return 0;
	}
	__u64 item = uread_u64(f->items + 8 * (__u64)f->i);

	f->i++;
	stk_item(s, item, d + 1);
	return 0;
}

/* ---- the correlation key (hookmod/correlate.c) */

static long stk_hash_step(__u32 i, void *ctx)
{
	struct stock_scratch *s = stk();
	__u8 c;

	if (!s || i >= s->hash_len)
		return 1;
	c = s->enc[stk_m(i, 1023)];
	if (!c)
		return 1;
	if (s->hash_base && c == '/')
		s->hash = PYSEC_FNV_OFFSET;
	else
		s->hash = fnv_step(s->hash, c);
	return 0;
}

/* FNV-1a of enc[0..n) up to PYSEC_HASH_MAX bytes or a NUL; basename: after the last '/' */
static __always_inline __u64 stk_hash_enc(struct stock_scratch *s, __u32 n, int basename)
{
	s->hash = PYSEC_FNV_OFFSET;
	s->hash_len = n > PYSEC_HASH_MAX ? PYSEC_HASH_MAX : n;
	s->hash_base = basename;
	bpf_loop(PYSEC_HASH_MAX, stk_hash_step, NULL, 0);
	return s->hash;
}

enum stk_shape { SHP_PATH, SHP_DIR, SHP_SOCKADDR, SHP_PROGRAM, SHP_SHELL };

/* fs-encoded bytes of a str/bytes into enc; length, or -1 (not keyable) */
static __always_inline long stk_fs_bytes(struct stock_scratch *s, __u64 o, __u64 t)
{
	if (t == stk_addr(s, s->cfg.bytes_vaddr)) {
		__s64 len = (__s64)uread_u64(o + s->cfg.ob_size);
		__u32 n = len < 0 ? 0 : len > PYSEC_HASH_MAX ? PYSEC_HASH_MAX : (__u32)len;

		n = stk_m(n, 511);
		if (n && bpf_probe_read_user(s->enc, n, (void *)(o + s->cfg.bytes_sval)) != 0)
			return -1;
		return n;
	}
	if (t == stk_addr(s, s->cfg.str_vaddr)) {
		__u64 data;
		__u32 chars, ascii;

		if (stk_str_data(s, o, &data, &chars, &ascii) < 0)
			return -1;
		if (ascii) {
			__u32 n = chars > PYSEC_HASH_MAX ? PYSEC_HASH_MAX : chars;

			n = stk_m(n, 511);
			if (n && bpf_probe_read_user(s->enc, n, (void *)data) != 0)
				return -1;
			return n;
		}
		/* a path is hashed on its first PYSEC_HASH_MAX bytes only */
		stk_encode(s, data, chars, PYSEC_HASH_MAX + 4, 1);
		if (s->enc_bad)
			return -1;
		return s->enc_len;
	}
	return -1;
}

/* Dotted-quad IPv4 in enc[0..n) as inet_pton(AF_INET) accepts it. */
static __always_inline int stk_ipv4(struct stock_scratch *s, __u32 n, __u8 *a)
{
	__u32 part = 0, parts = 0, digits = 0;

	if (n > 15)
		return 0;
	for (int i = 0; i < 16; i++) {
		if (i >= (int)n)
			break;
		__u8 c = s->enc[i];

		if (c >= '0' && c <= '9') {
			if (digits && part == 0)
				return 0; /* a leading zero */
			part = part * 10 + (c - '0');
			if (part > 255 || ++digits > 3)
				return 0;
		} else if (c == '.' && digits && parts < 3) {
			a[parts++ & 3] = part;
			part = digits = 0;
		} else {
			return 0;
		}
	}
	if (parts != 3 || !digits)
		return 0;
	a[3] = part;
	return 1;
}

/* key_inet: (host, port) */
static __always_inline void stk_key_inet(struct stock_scratch *s, __u64 addr, __u64 *key,
					 __u32 *flags)
{
	__s64 n = (__s64)uread_u64(addr + s->cfg.ob_size);
	__u64 host = n >= 2 ? uread_u64(addr + s->cfg.tuple_items) : 0;
	__u64 port = n >= 2 ? uread_u64(addr + s->cfg.tuple_items + 8) : 0;
	__u64 pv = 0;
	__u8 a[4] = {};

	if (!host || !port || uread_u64(port + s->cfg.ob_type) != stk_addr(s, s->cfg.long_vaddr) ||
	    uread_u64(host + s->cfg.ob_type) != stk_addr(s, s->cfg.str_vaddr))
		goto any;
	if (s->cfg.long_tag) {
		__u64 tag = uread_u64(port + s->cfg.long_size);

		if ((tag & 3) == 2 || (tag >> 3) > 1)
			goto any;
	} else {
		__s64 size = (__s64)uread_u64(port + s->cfg.long_size);

		if (size < 0 || size > 1)
			goto any;
	}
	pv = uread_u64(port + s->cfg.long_digit) & 0xffffffffu;
	if (pv > 65535)
		goto any;
	long len = stk_fs_bytes(s, host, stk_addr(s, s->cfg.str_vaddr));

	if (len < 0)
		goto any; /* the hook's UTF-8 view of the host fails likewise */
	if (n == 2 && len > 0 && stk_ipv4(s, (__u32)len, a)) {
		__u64 h = PYSEC_FNV_OFFSET;

		h = fnv_step(h, AF_INET_);
		h = fnv_step(h, 0);
		h = fnv_step(h, pv >> 8);
		h = fnv_step(h, pv & 0xff);
		for (int i = 0; i < 4; i++)
			h = fnv_step(h, a[i]);
		*key = h;
		return;
	}
	/* a host name (or, here, an IPv6 literal): the port alone */
	*key = pv;
	*flags |= PYSEC_F_KEY_PORT;
	return;
any:
	*flags |= PYSEC_F_KEY_ANY;
}

/* e equals the literal lit of n bytes (its NUL included) */
static __always_inline int stk_eq(const char *e, const char *lit, int n)
{
	for (int i = 0; i < n && i < PYSEC_EVENT_MAX; i++)
		if (e[i] != lit[i])
			return 0;
	return 1;
}

/* 1 when the event announces a syscall: *key and *flags as the hook's token */
static __always_inline int stk_token(struct stock_scratch *s, __u64 args, __u64 *key, __u32 *flags)
{
	const char *e = s->event;
	__u32 kind, arg, shape;
	__s64 n;
	__u64 o, t;

#define EV(lit) stk_eq(e, lit, sizeof(lit))
	if (EV("open"))
		kind = PYSEC_TK_PATH, arg = 0, shape = SHP_PATH;
	else if (EV("os.listdir") || EV("os.scandir"))
		kind = PYSEC_TK_PATH, arg = 0, shape = SHP_DIR;
	else if (EV("socket.connect") || EV("socket.sendto") || EV("socket.sendmsg"))
		kind = PYSEC_TK_CONNECT, arg = 1, shape = SHP_SOCKADDR;
	else if (EV("os.exec") || EV("os.posix_spawn") || EV("subprocess.Popen"))
		kind = PYSEC_TK_EXEC, arg = 0, shape = SHP_PROGRAM;
	else if (EV("os.system"))
		kind = PYSEC_TK_EXEC, arg = 0, shape = SHP_SHELL;
	else
		return 0;
#undef EV
	if (uread_u64(args + s->cfg.ob_type) != stk_addr(s, s->cfg.tuple_vaddr))
		return 0;
	n = (__s64)uread_u64(args + s->cfg.ob_size);
	if (n <= arg)
		return 0;
	o = uread_u64(args + s->cfg.tuple_items + 8 * arg);
	if (!o)
		return 0;
	*key = 0;
	*flags = kind << PYSEC_TK_SHIFT;
	if (shape == SHP_SHELL) {
		__builtin_memcpy(s->enc, "sh", 2);
		*key = stk_hash_enc(s, 2, 0);
		return 1;
	}
	t = uread_u64(o + s->cfg.ob_type);
	if (shape == SHP_SOCKADDR && t == stk_addr(s, s->cfg.tuple_vaddr)) {
		stk_key_inet(s, o, key, flags);
		return 1;
	}
	if (shape == SHP_DIR && o == stk_addr(s, s->cfg.none_vaddr)) {
		s->enc[0] = '.';
		*key = stk_hash_enc(s, 1, 0);
		return 1;
	}
	if (shape != SHP_SOCKADDR &&
	    (t == stk_addr(s, s->cfg.long_vaddr) || o == stk_addr(s, s->cfg.none_vaddr)))
		return 0; /* a file descriptor: no path lookup */
	long len = stk_fs_bytes(s, o, t);

	if (len < 0) {
		*flags |= PYSEC_F_KEY_ANY; /* PathLike (user code), or not fs-encodable */
		return 1;
	}
	*key = stk_hash_enc(s, (__u32)len, shape == SHP_PROGRAM);
	return 1;
}

/* ---- the runtime: which file's types, at which load bias */

struct stk_vma {
	__u64 start, pgoff;
	struct pysec_stock_key key;
	int file;
};

static long stk_vma_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct stk_vma *v = data;
	struct file *f = BPF_CORE_READ(vma, vm_file);

	if (!f)
		return 0;
	v->file = 1;
	v->start = BPF_CORE_READ(vma, vm_start);
	v->pgoff = BPF_CORE_READ(vma, vm_pgoff);
	v->key.ino = BPF_CORE_READ(f, f_inode, i_ino);
	v->key.dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	return 0;
}

/*
 * The args tuple's type is PyTuple_Type of the runtime: the file mapped
 * there names the layout (stock_cfgs), its mapping gives the load bias.
 * Cached per process while the tuple type stays where it was.
 */
static __always_inline int stk_runtime(struct stock_scratch *s, __u32 tgid, __u64 args)
{
	__u64 tt = uread_u64(args + 8); /* ob_type: offset 8 in every supported layout */
	struct stock_proc *sp = bpf_map_lookup_elem(&stock_procs, &tgid);
	struct pysec_stock_cfg *cfg;
	struct stk_vma v = {};

	if (sp && sp->tuple_addr == tt) {
		cfg = bpf_map_lookup_elem(&stock_cfgs, &sp->key);
		if (!cfg)
			return -1;
		s->cfg = *cfg;
		s->bias = sp->bias;
		return 0;
	}
	if (!tt ||
	    bpf_find_vma((struct task_struct *)bpf_get_current_task_btf(), tt, stk_vma_cb, &v, 0) !=
		0 ||
	    !v.file)
		return -1;
	cfg = bpf_map_lookup_elem(&stock_cfgs, &v.key);
	if (!cfg)
		return -1;
	s->cfg = *cfg;
	s->bias = v.start - v.pgoff * 4096 - cfg->seg_delta;
	if (stk_addr(s, cfg->tuple_vaddr) != tt)
		return -1; /* a tuple subclass, or not this runtime's tuple */
	struct stock_proc np = {.tuple_addr = tt, .bias = s->bias, .key = v.key};

	bpf_map_update_elem(&stock_procs, &tgid, &np, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(usdt__stock_audit, const char *event, void *args)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, flags = 0, tflags = 0;
	__u32 kflags = PYSEC_AUDIT_STOCK;
	struct pysec_tracked *tp = bpf_map_lookup_elem(&tracked, &tgid);
	struct stock_scratch *s = stk();
	struct pysec_audit_rec *r;
	__u64 key = 0, seq = 1, *sq, a = (__u64)args;
	__u32 n;

	if (!tp || !s)
		return 0;
	if (!tp->hooked)
		tp->hooked = 1; /* the stock probe fires: this image reports its events */
	sq = bpf_map_lookup_elem(&stock_seq, &tgid);
	if (sq)
		seq = ++*sq;
	else
		bpf_map_update_elem(&stock_seq, &tgid, &seq, BPF_ANY);
	if (bpf_probe_read_user_str(s->event, sizeof(s->event), event) < 0)
		s->event[0] = 0;
	s->len = s->full = s->depth = s->nframes = 0;
	if (stk_runtime(s, tgid, a) < 0) {
		kflags |= PYSEC_AUDIT_STOCK_UNDECODED;
	} else {
		if (stk_token(s, a, &key, &tflags)) {
			flags |= tflags;
			token_put((__u32)bpf_get_current_pid_tgid(), key,
				  tflags & (PYSEC_TK_MASK | PYSEC_F_KEY_ANY | PYSEC_F_KEY_PORT),
				  seq);
		}
		stk_item(s, a, 0);
		bpf_loop(2048, stk_walk_step, NULL, 0);
		if (s->full)
			flags |= PYSEC_F_TRUNCATED;
	}
	r = reserve(sizeof(*r), PYSEC_REC_AUDIT, task);
	if (!r)
		return 0;
	r->seq = seq;
	r->key = key;
	r->flags = flags;
	n = s->len > PYSEC_ARGS_MAX ? PYSEC_ARGS_MAX : s->len;
	r->args_len = n;
	n = stk_m(n, 2047);
	if (n > PYSEC_ARGS_MAX)
		n = PYSEC_ARGS_MAX;
	if (n && bpf_probe_read_kernel(r->args, n, s->out) != 0)
		n = 0;
	r->args_copied = n;
	r->kflags = kflags;
	bpf_probe_read_kernel(r->event, sizeof(r->event), s->event);
	r->line = 0;
	r->pad2 = 0;
	r->file[0] = 0;
	if (enforce && stop_at_held_query(r)) {
		bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
		return 0;
	}
	bpf_ringbuf_submit(r, wakeup_flags());
	return 0;
}
