/* SPDX-License-Identifier: MIT */
/*
 * stockprobe.h — what the BPF decoder of the stock `python:audit` probe
 * needs from user space (docs/stock-probe.md): which ELF files carry the
 * probe, and for the file that defines CPython's builtin types, their
 * link-time addresses, the version and its object layout.
 */
#ifndef PYSEC_STOCKPROBE_H
#define PYSEC_STOCKPROBE_H

#include <stddef.h>

#include "pysectrace.h"

#define PYSEC_STOCK_PROVIDER "python"
#define PYSEC_STOCK_NAME     "audit"

/* 1 when the ELF file at path has a USDT note provider:name, 0 when not, -1 unreadable. */
int pysec_elf_has_usdt(const char *path, const char *provider, const char *name);

/*
 * Fill cfg->minor and the layout fields for CPython 3.minor from the
 * table (built from each version's headers); -1 when not supported.
 */
int pysec_stock_layout(unsigned minor, struct pysec_stock_cfg *cfg);

/*
 * Apply a 3.13+ _Py_DebugOffsets block (the first bytes of _PyRuntime,
 * len bytes at p) over the table's layout; -1 (cfg untouched) when it is
 * not one (cookie, free-threaded build) or names offsets out of range.
 */
int pysec_stock_apply_debug_offsets(const void *p, size_t len, struct pysec_stock_cfg *cfg);

/*
 * The CPython runtime defined by the ELF file at path (its PyTuple_Type and
 * friends): addresses, version, layout.  name: the file's own name, used
 * for the version of 3.8-3.10 (libpython3.9.so..., python3.10).  0, or -1
 * with why[] saying what is missing.
 */
int pysec_stock_runtime(const char *path, const char *name, struct pysec_stock_cfg *cfg, char *why,
			size_t whylen);

/* The CPython minor version in a file name (python3.11, libpython3.9.so.1.0); -1. */
int pysec_python_minor_of_name(const char *name);

#endif
