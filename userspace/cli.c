// SPDX-License-Identifier: MIT
/* cli.c — what the verbs share: messages, libbpf's log, finding the hook. */
#define _GNU_SOURCE
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
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


void pysec_trace_opts_init(struct pysec_trace_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->format = PYSEC_FMT_TEXT;
	o->show = PYSEC_SHOW_AUDIT;
}

int pysec_trace_opt(struct pysec_trace_opts *o, int c, const char *arg)
{
	int v;

	switch (c) {
	case 'f':
		if ((v = pysec_parse_format(arg)) < 0) {
			pysec_err("--format must be text or json, not '%s'", arg);
			return -1;
		}
		o->format = v;
		return 1;
	case 's':
		if ((v = pysec_parse_show(arg)) < 0) {
			pysec_err("--show must be audit, alerts or all, not '%s'", arg);
			return -1;
		}
		o->show = v;
		return 1;
	case 'o':
		o->output = arg;
		return 1;
	case 'L':
		o->hook_lib = arg;
		return 1;
	case 'P':
		o->policy = arg;
		return 1;
	case 'v':
		o->verbose = 1;
		return 1;
	case 'N':
		o->no_namespace = 1;
		return 1;
	case 'E':
	case 'O':
		v = c == 'E' ? PYSEC_MODE_ENFORCE : PYSEC_MODE_OBSERVE;
		if (o->mode && (int)o->mode != v) {
			pysec_err("--enforce and --observe exclude each other");
			return -1;
		}
		o->mode = v;
		return 1;
	default:
		return 0;
	}
}

FILE *pysec_open_output(const char *path)
{
	FILE *f;

	if (!path)
		return stderr;
	if (!strcmp(path, "-"))
		return stdout;
	f = fopen(path, "we");
	if (!f)
		pysec_err("cannot write %s: %s", path, strerror(errno));
	return f;
}

int pysec_parse_pid(const char *s, pid_t *out)
{
	char *end;
	long pid;

	errno = 0;
	pid = strtol(s, &end, 10);
	if (errno || *end || end == s || pid <= 0 || pid > INT_MAX) {
		pysec_err("-p must be a process id, not '%s'", s);
		return -1;
	}
	*out = (pid_t)pid;
	return 0;
}
