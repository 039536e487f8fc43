// SPDX-License-Identifier: MIT
/*
 * stockprobe.c — ELF facts for the stock python:audit decoder (see
 * stockprobe.h): USDT notes, CPython's builtin type symbols, the version
 * and the per-version object layout.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stockprobe.h"

/*
 * Object layouts of CPython 3.8-3.13 (x86-64, default build, no
 * Py_DEBUG), from offsetof() against each version's installed headers
 * (Include/object.h, tupleobject.h, listobject.h, bytesobject.h,
 * floatobject.h, cpython/unicodeobject.h, cpython/longintrepr.h):
 * 3.12 dropped wstr from str (compact data moves from 48/72 to 40/56) and
 * the ready bit, and moved int's size and sign into lv_tag.
 */
static const struct layout_row {
	unsigned minor;
	uint16_t ascii_data, compact_data;
	uint32_t ready;
	uint32_t long_tag;
} layouts[] = {
    {8, 48, 72, 0x80, 0},  {9, 48, 72, 0x80, 0}, {10, 48, 72, 0x80, 0},
    {11, 48, 72, 0x80, 0}, {12, 40, 56, 0, 1},	 {13, 40, 56, 0, 1},
};

int pysec_stock_layout(unsigned minor, struct pysec_stock_cfg *cfg)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		const struct layout_row *l = &layouts[i];

		if (l->minor != minor)
			continue;
		cfg->minor = minor;
		cfg->ob_type = 8;		     /* PyObject.ob_type */
		cfg->ob_size = 16;		     /* PyVarObject.ob_size */
		cfg->tuple_items = 24;		     /* PyTupleObject.ob_item[] */
		cfg->list_items = 24;		     /* PyListObject.ob_item (a pointer) */
		cfg->bytes_sval = 32;		     /* PyBytesObject.ob_sval[] (after ob_shash) */
		cfg->float_val = 16;		     /* PyFloatObject.ob_fval */
		cfg->type_name = 24;		     /* PyTypeObject.tp_name */
		cfg->str_length = 16;		     /* PyASCIIObject.length */
		cfg->str_state = 32;		     /* PyASCIIObject.state */
		cfg->str_ascii_data = l->ascii_data; /* sizeof(PyASCIIObject) */
		cfg->str_compact_data = l->compact_data; /* sizeof(PyCompactUnicodeObject) */
		cfg->long_size = 16;			 /* ob_size, or long_value.lv_tag */
		cfg->long_digit = 24;			 /* ob_digit[], 30-bit digits in uint32 */
		cfg->long_tag = l->long_tag;
		cfg->state_kind_mask =
		    0x1c; /* state: interned:2, kind:3, compact:1, ascii:1, ... */
		cfg->state_kind_shift = 2;
		cfg->state_compact = 0x20;
		cfg->state_ascii = 0x40;
		cfg->state_ready = l->ready;
		return 0;
	}
	return -1;
}

/* _Py_DebugOffsets of 3.13: u64 words after cookie[8], version, free_threaded */
#define DBG_WORDS 70
enum {
	DBG_OB_TYPE = 42,
	DBG_TP_NAME = 44,
	DBG_TUPLE_ITEM = 48,
	DBG_TUPLE_SIZE = 49,
	DBG_LIST_ITEM = 51,
	DBG_FLOAT_VAL = 57,
	DBG_LONG_TAG = 59,
	DBG_LONG_DIGIT = 60,
	DBG_BYTES_SIZE = 62,
	DBG_BYTES_SVAL = 63,
	DBG_STR_STATE = 65,
	DBG_STR_LENGTH = 66,
	DBG_STR_ASCII_SIZE = 67,
};

int pysec_stock_apply_debug_offsets(const void *p, size_t len, struct pysec_stock_cfg *cfg)
{
	const uint8_t *b = p;
	uint64_t version, free_threaded, w[DBG_WORDS];
	static const int used[] = {
	    DBG_OB_TYPE,   DBG_TP_NAME,	   DBG_TUPLE_ITEM,    DBG_TUPLE_SIZE, DBG_LIST_ITEM,
	    DBG_FLOAT_VAL, DBG_LONG_TAG,   DBG_LONG_DIGIT,    DBG_BYTES_SIZE, DBG_BYTES_SVAL,
	    DBG_STR_STATE, DBG_STR_LENGTH, DBG_STR_ASCII_SIZE};

	if (len < 24 + sizeof(w) || memcmp(b, "xdebugpy", 8) != 0)
		return -1;
	memcpy(&version, b + 8, 8);
	memcpy(&free_threaded, b + 16, 8);
	memcpy(w, b + 24, sizeof(w));
	/* the block's layout is that of 3.13; a free-threaded object header differs */
	if (free_threaded || (version >> 24) != 3 || ((version >> 16) & 0xff) != 13)
		return -1;
	for (size_t i = 0; i < sizeof(used) / sizeof(used[0]); i++)
		if (w[used[i]] == 0 || w[used[i]] > 256)
			return -1;
	/* ob_size is shared by tuple and bytes: a block that disagrees is not trusted */
	if (w[DBG_TUPLE_SIZE] != w[DBG_BYTES_SIZE])
		return -1;
	cfg->ob_type = w[DBG_OB_TYPE];
	cfg->type_name = w[DBG_TP_NAME];
	cfg->tuple_items = w[DBG_TUPLE_ITEM];
	cfg->ob_size = w[DBG_TUPLE_SIZE];
	cfg->list_items = w[DBG_LIST_ITEM];
	cfg->float_val = w[DBG_FLOAT_VAL];
	cfg->long_size = w[DBG_LONG_TAG];
	cfg->long_digit = w[DBG_LONG_DIGIT];
	cfg->bytes_sval = w[DBG_BYTES_SVAL];
	cfg->str_state = w[DBG_STR_STATE];
	cfg->str_length = w[DBG_STR_LENGTH];
	cfg->str_ascii_data = w[DBG_STR_ASCII_SIZE];
	/* PyCompactUnicodeObject adds utf8_length and utf8 (not in the block) */
	cfg->str_compact_data = w[DBG_STR_ASCII_SIZE] + 16;
	cfg->from_debug = 1;
	return 0;
}

int pysec_python_minor_of_name(const char *name)
{
	const char *p = name;

	while ((p = strstr(p, "python3.")) != NULL) {
		char *end;
		long m;

		p += strlen("python3.");
		m = strtol(p, &end, 10);
		if (end != p && m >= 0 && m < 100 &&
		    (*end == 0 || *end == '.' || *end == 'd' || *end == 'm' || *end == 'u'))
			return (int)m;
	}
	return -1;
}

struct elf_file {
	int fd;
	Elf *e;
};

static int elf_open(const char *path, struct elf_file *f)
{
	f->e = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -1;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return -1;
	f->e = elf_begin(f->fd, ELF_C_READ, NULL);
	if (!f->e || elf_kind(f->e) != ELF_K_ELF) {
		if (f->e)
			elf_end(f->e);
		close(f->fd);
		return -1;
	}
	return 0;
}

static void elf_close(struct elf_file *f)
{
	elf_end(f->e);
	close(f->fd);
}

int pysec_elf_has_usdt(const char *path, const char *provider, const char *name)
{
	struct elf_file f;
	Elf_Scn *scn = NULL;
	int found = 0;

	if (elf_open(path, &f) < 0)
		return -1;
	while (!found && (scn = elf_nextscn(f.e, scn)) != NULL) {
		GElf_Shdr sh;
		Elf_Data *d;
		GElf_Nhdr nh;
		size_t off = 0, noff, doff;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		d = elf_getdata(scn, NULL);
		while (d && !found && (off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
			const char *desc = (const char *)d->d_buf + doff;
			size_t n = nh.n_descsz, at = 24; /* pc, base, semaphore */

			if (nh.n_type != 3 || nh.n_namesz != 8 ||
			    memcmp((const char *)d->d_buf + noff, "stapsdt", 8) != 0 || n <= at)
				continue;
			size_t pl = strnlen(desc + at, n - at);

			if (at + pl + 1 >= n || strcmp(desc + at, provider) != 0)
				continue;
			found = strnlen(desc + at + pl + 1, n - at - pl - 1) < n - at - pl - 1 &&
				!strcmp(desc + at + pl + 1, name);
		}
	}
	elf_close(&f);
	return found;
}

enum {
	SYM_TUPLE,
	SYM_LIST,
	SYM_STR,
	SYM_BYTES,
	SYM_LONG,
	SYM_BOOL,
	SYM_FLOAT,
	SYM_NONE,
	SYM_TRUE,
	SYM_RUNTIME,
	SYM_VERSION,
	SYM_N
};

static const char *const sym_names[SYM_N] = {
    "PyTuple_Type",   "PyList_Type", "PyUnicode_Type", "PyBytes_Type",
    "PyLong_Type",    "PyBool_Type", "PyFloat_Type",   "_Py_NoneStruct",
    "_Py_TrueStruct", "_PyRuntime",  "Py_Version",
};

/* Defined symbols of the dynamic (else static) symbol table. */
static void find_symbols(Elf *e, GElf_Sym *out, int *have)
{
	for (int pass = 0; pass < 2; pass++) {
		Elf_Scn *scn = NULL;

		while ((scn = elf_nextscn(e, scn)) != NULL) {
			GElf_Shdr sh;
			Elf_Data *d;

			if (!gelf_getshdr(scn, &sh) ||
			    sh.sh_type != (pass == 0 ? SHT_DYNSYM : SHT_SYMTAB) || !sh.sh_entsize)
				continue;
			d = elf_getdata(scn, NULL);
			for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
				GElf_Sym s;
				const char *nm;

				if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF)
					continue;
				nm = elf_strptr(e, sh.sh_link, s.st_name);
				if (!nm)
					continue;
				for (int k = 0; k < SYM_N; k++)
					if (!have[k] && !strcmp(nm, sym_names[k])) {
						out[k] = s;
						have[k] = 1;
					}
			}
		}
	}
}

/* The PT_LOAD segment holding vaddr: its p_vaddr - p_offset; -1 if none. */
static int segment_of(Elf *e, uint64_t vaddr, int64_t *delta, uint64_t *off)
{
	size_t n;

	if (elf_getphdrnum(e, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_memsz) {
			*delta = (int64_t)(ph.p_vaddr - ph.p_offset);
			/* bytes past p_filesz are .bss: not in the file */
			*off = vaddr - ph.p_vaddr < ph.p_filesz ? vaddr - *delta : 0;
			return 0;
		}
	}
	return -1;
}

int pysec_stock_runtime(const char *path, const char *name, struct pysec_stock_cfg *cfg, char *why,
			size_t whylen)
{
	struct elf_file f;
	GElf_Sym s[SYM_N];
	int have[SYM_N] = {0}, minor = -1, rc = -1;
	int64_t delta = 0;
	uint64_t off = 0;

	memset(cfg, 0, sizeof(*cfg));
	if (elf_open(path, &f) < 0) {
		snprintf(why, whylen, "%s: not a readable ELF file", path);
		return -1;
	}
	find_symbols(f.e, s, have);
	for (int k = 0; k <= SYM_TRUE; k++)
		if (!have[k]) {
			snprintf(why, whylen, "%s: no symbol %s", path, sym_names[k]);
			goto out;
		}
	/* Py_Version (3.11+) is the version the file was built as */
	if (have[SYM_VERSION] && segment_of(f.e, s[SYM_VERSION].st_value, &delta, &off) == 0 &&
	    off) {
		uint32_t v;

		if (pread(f.fd, &v, sizeof(v), (off_t)off) == sizeof(v) && (v >> 24) == 3)
			minor = (v >> 16) & 0xff;
	}
	if (minor < 0)
		minor = pysec_python_minor_of_name(name);
	if (minor < 0) {
		snprintf(why, whylen,
			 "%s: cannot tell the CPython version (no Py_Version, no "
			 "python3.N in its name)",
			 path);
		goto out;
	}
	if (pysec_stock_layout((unsigned)minor, cfg) < 0) {
		snprintf(why, whylen, "%s: CPython 3.%d has no known object layout (3.8-3.13)",
			 path, minor);
		goto out;
	}
	if (minor >= 13 && have[SYM_RUNTIME] &&
	    segment_of(f.e, s[SYM_RUNTIME].st_value, &delta, &off) == 0 && off) {
		uint8_t blk[24 + DBG_WORDS * 8];

		if (pread(f.fd, blk, sizeof(blk), (off_t)off) == (ssize_t)sizeof(blk))
			pysec_stock_apply_debug_offsets(blk, sizeof(blk), cfg);
	}
	if (segment_of(f.e, s[SYM_TUPLE].st_value, &delta, &off) < 0) {
		snprintf(why, whylen, "%s: PyTuple_Type is in no loaded segment", path);
		goto out;
	}
	cfg->seg_delta = delta;
	cfg->tuple_vaddr = s[SYM_TUPLE].st_value;
	cfg->list_vaddr = s[SYM_LIST].st_value;
	cfg->str_vaddr = s[SYM_STR].st_value;
	cfg->bytes_vaddr = s[SYM_BYTES].st_value;
	cfg->long_vaddr = s[SYM_LONG].st_value;
	cfg->bool_vaddr = s[SYM_BOOL].st_value;
	cfg->float_vaddr = s[SYM_FLOAT].st_value;
	cfg->none_vaddr = s[SYM_NONE].st_value;
	cfg->true_vaddr = s[SYM_TRUE].st_value;
	rc = 0;
out:
	elf_close(&f);
	return rc;
}
