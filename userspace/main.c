// SPDX-License-Identifier: MIT
/* main.c — pysectrace: dispatch to the verbs. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} verbs[] = {
	{ "run", cmd_run, "run COMMAND with the hook and show its audit events" },
	{ "attach", cmd_attach, "trace a running process (hook, stock probe or kernel only)" },
	{ "probe", cmd_probe, "report what this host offers and what pysectrace will use" },
	{ "monitor", cmd_monitor, "watch every hooked Python on this host (a service)" },
	{ "policy", cmd_policy, "check, explain, print or install a policy (docs/policy.md)" },
	{ "record", cmd_record, "run COMMAND like run and write a signed capture of it" },
	{ "replay", cmd_replay, "print a capture's records and alerts again, offline" },
	{ "verify", cmd_verify, "check that a capture is whole and unchanged" },
	{ "report", cmd_report, "draw a capture as one self-contained HTML page" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: pysectrace VERB [OPTIONS]\n\n"
		   "pysectrace joins Python's audit events (PEP 578) with what the kernel sees.\n\n"
		   "verbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f, "  version  print the version\n"
		   "\n`pysectrace VERB --help` describes each verb.  Exit status: the\n"
		   "traced command's for run; 125 when pysectrace itself fails.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("pysectrace %s\n", PYSECTRACE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].fn(argc - 1, argv + 1);
	pysec_err("unknown verb '%s' (see pysectrace --help)", argv[1]);
	return 2;
}
