// SPDX-License-Identifier: MIT
/* cli.c — what the verbs share: messages, libbpf's log, finding the hook. */
#define _GNU_SOURCE
#include <bpf/libbpf.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void pysec_err(const char *fmt, ...)
{
	va_list ap;

	fputs("pysectrace: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int libbpf_print_silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

static int libbpf_print_all(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return vfprintf(stderr, fmt, ap);
}

void pysec_libbpf_quiet(int verbose)
{
	libbpf_set_print(verbose ? libbpf_print_all : libbpf_print_silent);
}

static int usable(const char *path)
{
	return access(path, R_OK) == 0;
}

int pysec_find_hook_lib(const char *explicit_path, char *out, unsigned long outlen)
{
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	const char *env = getenv("PYSECTRACE_HOOK_LIB");
	ssize_t n;

	if (explicit_path || (env && *env)) {
		const char *p = explicit_path ? explicit_path : env;

		if (!realpath(p, out) || !usable(out)) {
			pysec_err("hook library %s not found or not readable%s", p,
				  explicit_path ? "" : " (from $PYSECTRACE_HOOK_LIB)");
			return -1;
		}
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		const char *dir = dirname(exe);
		const char *tries[] = { "%s/libpysechook.so", "%s/../lib/pysectrace/libpysechook.so" };

		for (size_t i = 0; i < 2; i++) {
			snprintf(cand, sizeof(cand), tries[i], dir);
			if (usable(cand) && realpath(cand, out) && strlen(out) < outlen)
				return 0;
		}
	}
	pysec_err("hook library libpysechook.so not found next to the pysectrace binary or in "
		  "../lib/pysectrace/; build it (make) or pass --hook-lib PATH");
	return -1;
}

