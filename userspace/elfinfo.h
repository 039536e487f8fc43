/* SPDX-License-Identifier: MIT */
/* elfinfo.h — what pysectrace needs to know from an ELF file. */
#ifndef PYSEC_ELFINFO_H
#define PYSEC_ELFINFO_H

enum pysec_pykind {
	PYSEC_PY_NONE = 0, /* not a CPython interpreter */
	PYSEC_PY_OLD,      /* CPython before 3.8: no audit hooks */
	PYSEC_PY_AUDIT,    /* CPython 3.8 or later */
};

/*
 * Is the executable at path a CPython interpreter (its own symbols, or the
 * libpython it needs)?  By its dynamic symbols: Py_BytesMain came with
 * 3.8, as did audit hooks.
 */
enum pysec_pykind pysec_elf_python_kind(const char *path);

#endif
