// SPDX-License-Identifier: MIT
/*
 * test_stockprobe.c — user-space side of the stock python:audit decoder
 * (userspace/stockprobe.c): the per-version layout table, the 3.13
 * _Py_DebugOffsets reader (valid and hostile blocks), version from file
 * names, USDT notes and CPython's type symbols read from real ELF files
 * (checked against nm and the interpreter itself).
 */
#define _GNU_SOURCE
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "stockprobe.h"

#define SYS_PY "/usr/bin/python3"

static void test_layout_table(void **state)
{
	struct pysec_stock_cfg c;

	(void)state;
	for (unsigned m = 8; m <= 13; m++) {
		memset(&c, 0, sizeof(c));
		assert_int_equal(pysec_stock_layout(m, &c), 0);
		assert_int_equal(c.minor, m);
		assert_int_equal(c.ob_type, 8);
		assert_int_equal(c.tuple_items, 24);
		assert_int_equal(c.bytes_sval, 32);
		assert_int_equal(c.state_kind_mask, 0x1c);
		/* 3.12 removed wstr and the ready bit, and moved int's size into lv_tag */
		assert_int_equal(c.str_ascii_data, m >= 12 ? 40 : 48);
		assert_int_equal(c.str_compact_data, m >= 12 ? 56 : 72);
		assert_int_equal(c.state_ready, m >= 12 ? 0 : 0x80);
		assert_int_equal(c.long_tag, m >= 12 ? 1 : 0);
	}
	assert_int_equal(pysec_stock_layout(7, &c), -1);
	assert_int_equal(pysec_stock_layout(14, &c), -1);
}

#define DBG_LEN (24 + 70 * 8)

static void dbg_block(uint8_t *b, uint64_t version, uint64_t free_threaded)
{
	uint64_t w[70];

	memset(w, 0, sizeof(w));
	for (int i = 0; i < 70; i++)
		w[i] = 16 + i; /* sizes and offsets we do not use */
	w[42] = 8;	       /* pyobject.ob_type */
	w[44] = 24;	       /* type_object.tp_name */
	w[48] = 24;	       /* tuple_object.ob_item */
	w[49] = 16;	       /* tuple_object.ob_size */
	w[51] = 24;	       /* list_object.ob_item */
	w[57] = 16;	       /* float_object.ob_fval */
	w[59] = 16;	       /* long_object.lv_tag */
	w[60] = 24;	       /* long_object.ob_digit */
	w[62] = 16;	       /* bytes_object.ob_size */
	w[63] = 32;	       /* bytes_object.ob_sval */
	w[65] = 32;	       /* unicode_object.state */
	w[66] = 16;	       /* unicode_object.length */
	w[67] = 40;	       /* unicode_object.asciiobject_size */
	memcpy(b, "xdebugpy", 8);
	memcpy(b + 8, &version, 8);
	memcpy(b + 16, &free_threaded, 8);
	memcpy(b + 24, w, sizeof(w));
}

static void test_debug_offsets(void **state)
{
	uint8_t b[DBG_LEN];
	struct pysec_stock_cfg c, before;
	uint64_t bad;

	(void)state;
	pysec_stock_layout(13, &c);
	dbg_block(b, 0x030d00f0, 0);
	/* a valid block: offsets taken from it, compact data after utf8_length, utf8 */
	b[24 + 67 * 8] = 48;
	assert_int_equal(pysec_stock_apply_debug_offsets(b, sizeof(b), &c), 0);
	assert_int_equal(c.str_ascii_data, 48);
	assert_int_equal(c.str_compact_data, 64);
	assert_int_equal(c.from_debug, 1);

	/* hostile or foreign blocks change nothing */
	pysec_stock_layout(13, &before);
	c = before;
	dbg_block(b, 0x030d00f0, 0);
	assert_int_equal(pysec_stock_apply_debug_offsets(b, sizeof(b) - 1, &c), -1);
	b[0] = 'X';
	assert_int_equal(pysec_stock_apply_debug_offsets(b, sizeof(b), &c), -1);
	dbg_block(b, 0x030d00f0, 1); /* free-threaded: another object header */
	assert_int_equal(pysec_stock_apply_debug_offsets(b, sizeof(b), &c), -1);
	dbg_block(b, 0x030e00a0, 0); /* 3.14: another block layout */
	assert_int_equal(pysec_stock_apply_debug_offsets(b, sizeof(b), &c), -1);
	dbg_block(b, 0x030d00f0, 0);
	bad = 1u << 20;
	memcpy(b + 24 + 48 * 8, &bad, 8); /* tuple ob_item far out */
	assert_int_equal(pysec_stock_apply_debug_offsets(b, sizeof(b), &c), -1);
	dbg_block(b, 0x030d00f0, 0);
	bad = 0;
	memcpy(b + 24 + 42 * 8, &bad, 8); /* ob_type at 0 */
	assert_int_equal(pysec_stock_apply_debug_offsets(b, sizeof(b), &c), -1);
	dbg_block(b, 0x030d00f0, 0);
	bad = 24;
	memcpy(b + 24 + 62 * 8, &bad, 8); /* bytes ob_size disagrees with tuple's */
	assert_int_equal(pysec_stock_apply_debug_offsets(b, sizeof(b), &c), -1);
	assert_memory_equal(&c, &before, sizeof(c));
}

static void test_minor_of_name(void **state)
{
	(void)state;
	assert_int_equal(pysec_python_minor_of_name("python3.11"), 11);
	assert_int_equal(pysec_python_minor_of_name("libpython3.9.so.1.0"), 9);
	assert_int_equal(pysec_python_minor_of_name("libpython3.13d.so"), 13);
	assert_int_equal(pysec_python_minor_of_name("/opt/python3.x/libpython3.8.so"), 8);
	assert_int_equal(pysec_python_minor_of_name("python3"), -1);
	assert_int_equal(pysec_python_minor_of_name("python3.x"), -1);
	assert_int_equal(pysec_python_minor_of_name("python3.100"), -1);
	assert_int_equal(pysec_python_minor_of_name("python3.8x"), -1);
	assert_int_equal(pysec_python_minor_of_name(""), -1);
}

static void tmp_file(char *path, const char *content)
{
	int fd;

	strcpy(path, "/tmp/pysec-unit-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static void test_elf_usdt(void **state)
{
	char notelf[64];

	(void)state;
	/* Debian's python3 (a package tools/install-deps.sh installs) carries the probe */
	assert_int_equal(pysec_elf_has_usdt(SYS_PY, "python", "audit"), 1);
	assert_int_equal(pysec_elf_has_usdt(SYS_PY, "python", "no_such_probe"), 0);
	assert_int_equal(pysec_elf_has_usdt(SYS_PY, "pysectrace", "audit"), 0);
	assert_int_equal(pysec_elf_has_usdt("/bin/true", "python", "audit"), 0);
	tmp_file(notelf, "#!/bin/sh\necho not an ELF file\n");
	assert_int_equal(pysec_elf_has_usdt(notelf, "python", "audit"), -1);
	unlink(notelf);
	assert_int_equal(pysec_elf_has_usdt("/nonexistent/pysec", "python", "audit"), -1);
}

/* Address of a defined dynamic symbol, as nm prints it; 0 when missing. */
static unsigned long long nm_addr(const char *file, const char *sym)
{
	char cmd[512], line[512], name[256];
	unsigned long long a, found = 0;
	char type;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm -D --defined-only %s 2>/dev/null", file);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, "%llx %c %255s", &a, &type, name) == 3 && !strcmp(name, sym))
			found = a;
	pclose(p);
	return found;
}

static int python_minor(const char *py)
{
	char cmd[512];
	int m = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s -c 'import sys; print(sys.version_info[1])'", py);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fscanf(p, "%d", &m) != 1)
		m = -1;
	pclose(p);
	return m;
}

static void test_runtime_system_python(void **state)
{
	struct pysec_stock_cfg c;
	char why[512] = "", real[4096];

	(void)state;
	assert_non_null(realpath(SYS_PY, real));
	assert_int_equal(pysec_stock_runtime(real, strrchr(real, '/') + 1, &c, why, sizeof(why)),
			 0);
	assert_int_equal((int)c.minor, python_minor(SYS_PY));
	assert_int_equal(c.tuple_vaddr, nm_addr(real, "PyTuple_Type"));
	assert_int_equal(c.str_vaddr, nm_addr(real, "PyUnicode_Type"));
	assert_int_equal(c.none_vaddr, nm_addr(real, "_Py_NoneStruct"));
	assert_int_equal(c.true_vaddr, nm_addr(real, "_Py_TrueStruct"));
	assert_true(c.tuple_vaddr != c.list_vaddr && c.bool_vaddr != c.long_vaddr);
}

static void test_runtime_errors(void **state)
{
	struct pysec_stock_cfg c;
	char why[512] = "", notelf[64];

	(void)state;
	assert_int_equal(pysec_stock_runtime("/bin/true", "true", &c, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "no symbol PyTuple_Type"));
	tmp_file(notelf, "\x7f"
			 "ELF but not really");
	assert_int_equal(pysec_stock_runtime(notelf, "python3.11", &c, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not a readable ELF"));
	unlink(notelf);
}

/* A pyenv 3.13 libpython: the debug block is found and agrees with the headers' table. */
static void test_runtime_debug_offsets_313(void **state)
{
	struct pysec_stock_cfg c, table;
	char why[512] = "";
	glob_t g;

	(void)state;
	if (glob("/root/.pyenv/versions/3.13*/lib/libpython3.13.so.1.0", 0, NULL, &g) != 0) {
		skip(); /* no pyenv 3.13 here: the e2e tests say which Pythons ran */
		return;
	}
	assert_int_equal(
	    pysec_stock_runtime(g.gl_pathv[0], "libpython3.13.so.1.0", &c, why, sizeof(why)), 0);
	globfree(&g);
	assert_int_equal(c.minor, 13);
	assert_int_equal(c.from_debug, 1);
	pysec_stock_layout(13, &table);
	assert_int_equal(c.str_ascii_data, table.str_ascii_data);
	assert_int_equal(c.str_compact_data, table.str_compact_data);
	assert_int_equal(c.long_digit, table.long_digit);
	assert_int_equal(c.bytes_sval, table.bytes_sval);
	assert_int_equal(c.type_name, table.type_name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layout_table),
	    cmocka_unit_test(test_debug_offsets),
	    cmocka_unit_test(test_minor_of_name),
	    cmocka_unit_test(test_elf_usdt),
	    cmocka_unit_test(test_runtime_system_python),
	    cmocka_unit_test(test_runtime_errors),
	    cmocka_unit_test(test_runtime_debug_offsets_313),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
