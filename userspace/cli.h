/* SPDX-License-Identifier: MIT */
/* cli.h — verbs of the pysectrace CLI and what they share. */
#ifndef PYSEC_CLI_H
#define PYSEC_CLI_H

#include <stdio.h>
#include <sys/types.h>

#include "emit.h"
#include "enforce.h"

/* Exit codes, as env(1) and timeout(1) use them. */
#define EXIT_TOOL_FAILED 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

int cmd_run(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_policy(int argc, char **argv);

/* Print "pysectrace: <msg>" to stderr. */
void pysec_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* libbpf messages: silent unless -v/--verbose was given. */
void pysec_libbpf_quiet(int verbose);

/*
 * Find libpysechook.so: explicit path, $PYSECTRACE_HOOK_LIB, next to the
 * executable (build tree), or ../lib/pysectrace/ (installed).  Writes an
 * absolute path; returns 0, or -1 with a message printed.
 */
int pysec_find_hook_lib(const char *explicit_path, char *out, unsigned long outlen);

/*
 * The options of the verbs that trace (run's; record, attach and replay
 * take the ones that apply to them).  getopt letters: f s o L P v N E O.
 */
struct pysec_trace_opts {
	enum pysec_format format;
	enum pysec_show show;
	const char *output;   /* -o FILE; NULL: stderr, "-": stdout */
	const char *hook_lib; /* --hook-lib */
	const char *policy;   /* --policy FILE */
	int verbose;
	int no_namespace;     /* --no-namespace: LD_PRELOAD only */
	enum pysec_mode mode; /* --enforce / --observe, else the policy's */
};

/* clang-format off */
#define PYSEC_OPT_FORMAT   { "format", required_argument, NULL, 'f' }
#define PYSEC_OPT_SHOW     { "show", required_argument, NULL, 's' }
#define PYSEC_OPT_OUTPUT   { "output", required_argument, NULL, 'o' }
#define PYSEC_OPT_HOOK_LIB { "hook-lib", required_argument, NULL, 'L' }
#define PYSEC_OPT_POLICY   { "policy", required_argument, NULL, 'P' }
#define PYSEC_OPT_VERBOSE  { "verbose", no_argument, NULL, 'v' }
#define PYSEC_OPT_NO_NS    { "no-namespace", no_argument, NULL, 'N' }
#define PYSEC_OPT_ENFORCE  { "enforce", no_argument, NULL, 'E' }, \
			   { "observe", no_argument, NULL, 'O' }
/* clang-format on */

/* Defaults: text, --show audit, the rest unset. */
void pysec_trace_opts_init(struct pysec_trace_opts *o);

/*
 * Take option c (as getopt_long returned it) with its argument: 1 when it
 * is one of the above, 0 when not, -1 on a bad value (message printed).
 */
int pysec_trace_opt(struct pysec_trace_opts *o, int c, const char *arg);

/* -p PID: a positive process id, or -1 with a message. */
int pysec_parse_pid(const char *s, pid_t *out);

/* The output of -o: NULL → stderr, "-" → stdout, else FILE (NULL + message). */
FILE *pysec_open_output(const char *path);

#endif
