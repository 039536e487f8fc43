/* SPDX-License-Identifier: MIT */
/* cli.h — verbs of the pysectrace CLI and what they share. */
#ifndef PYSEC_CLI_H
#define PYSEC_CLI_H

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

#endif
