// SPDX-License-Identifier: MIT
/*
 * run.c — `pysectrace run -- COMMAND`: load the BPF object, attach to the
 * hook's USDT probe, start COMMAND with the hook preloaded and show what
 * it and its descendants do until COMMAND exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "emit.h"
#include "kenforce.h"
#include "launch.h"
#include "policy.h"
#include "tracer.h"

struct run_opts {
	enum pysec_format format;
	enum pysec_show show;
	const char *output;
	const char *hook_lib;
	int verbose;
	int no_namespace; /* --no-namespace: LD_PRELOAD only */
	enum pysec_mode mode;   /* --enforce / --observe, else the policy's */
	const char *policy; /* --policy FILE */
	char **command;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pysectrace run [OPTIONS] -- COMMAND [ARGS...]\n\n"
		"Run COMMAND with the pysectrace audit hook preloaded (LD_PRELOAD) and show\n"
		"the audit events of COMMAND and every process it starts, with an alert for\n"
		"every monitored syscall (open, connect, send with an address, exec,\n"
		"io_uring_setup) of a hooked Python that no audit event announced (native\n"
		"code bypassing the audit layer).  Needs root.\n\n"
		"options:\n"
		"  --format text|json   text lines (default) or JSON lines (docs/SCHEMA.md)\n"
		"  -o, --output FILE    write records to FILE (default: stderr; '-': stdout)\n"
		"  --show audit|alerts|all\n"
		"                       audit: audit events except frequent I/O-free ones\n"
		"                       (builtins.id, object.__getattr__, sys._getframe, ...)\n"
		"                       and alerts (default); alerts: alerts only;\n"
		"                       all: every audit event, every monitored syscall\n"
		"                       with its verdict, process fork/exec/exit\n"
		"  --policy FILE        apply the policy FILE (docs/policy.md): its deny rules\n"
		"                       make audited operations fail in the program with\n"
		"                       PermissionError; its findings rules say what to do\n"
		"                       about bypasses\n"
		"  --hook-lib PATH      the hook library to preload (default: libpysechook.so\n"
		"                       next to pysectrace or in ../lib/pysectrace/;\n"
		"                       also $PYSECTRACE_HOOK_LIB)\n"
		"  --no-namespace       do not give COMMAND a private mount namespace whose\n"
		"                       /etc/ld.so.preload names the hook (then a child that\n"
		"                       strips LD_PRELOAD runs unhooked: a hook_missing alert)\n"
		"  --enforce            enforce, whatever the policy's mode: its deny rules\n"
		"                       fail audited operations; its finding rules (without\n"
		"                       --policy the built-in one, `pysectrace policy\n"
		"                       default`: kill on bypass, hook_cleared, tamper and\n"
		"                       hook_missing) act on alerts; an unaudited inet\n"
		"                       connect/send is refused (EPERM) before any byte\n"
		"                       leaves (docs/enforcement.md)\n"
		"  --observe            decide as --enforce would and report it in each alert\n"
		"                       (action, rule, would), without acting\n"
		"  -v, --verbose        show libbpf's messages\n"
		"  -h, --help           this help\n\n"
		"exit status: COMMAND's; 128+N when COMMAND died of signal N; 125 when\n"
		"pysectrace fails, 126 when COMMAND cannot be executed, 127 when not found.\n"
		"Ctrl-C reaches COMMAND as usual; SIGINT/SIGTERM/SIGHUP/SIGQUIT sent to\n"
		"pysectrace are forwarded to COMMAND.  Nothing is dropped silently: when\n"
		"events were lost (ring buffer full, shed under backlog, tables full), one\n"
		"summary line on stderr at exit says where, and `lost` records say it in\n"
		"the output.  If pysectrace is killed, COMMAND runs on untraced.\n");
}

static int parse_opts(int argc, char **argv, struct run_opts *o)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "show", required_argument, NULL, 's' },
		{ "hook-lib", required_argument, NULL, 'L' },
		{ "policy", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-namespace", no_argument, NULL, 'N' },
		{ "enforce", no_argument, NULL, 'E' },
		{ "observe", no_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, v;

	memset(o, 0, sizeof(*o));
	o->format = PYSEC_FMT_TEXT;
	o->show = PYSEC_SHOW_AUDIT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if ((v = pysec_parse_format(optarg)) < 0) {
				pysec_err("--format must be text or json, not '%s'", optarg);
				return -1;
			}
			o->format = v;
			break;
		case 's':
			if ((v = pysec_parse_show(optarg)) < 0) {
				pysec_err("--show must be audit, alerts or all, not '%s'", optarg);
				return -1;
			}
			o->show = v;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'L':
			o->hook_lib = optarg;
			break;
		case 'P':
			o->policy = optarg;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'N':
			o->no_namespace = 1;
			break;
		case 'E':
		case 'O':
			if (o->mode && o->mode != (c == 'E' ? PYSEC_MODE_ENFORCE : PYSEC_MODE_OBSERVE)) {
				pysec_err("--enforce and --observe exclude each other");
				return -1;
			}
			o->mode = c == 'E' ? PYSEC_MODE_ENFORCE : PYSEC_MODE_OBSERVE;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind >= argc) {
		pysec_err("run: no COMMAND given (pysectrace run [OPTIONS] -- COMMAND [ARGS...])");
		return -1;
	}
	o->command = argv + optind;
	return 0;
}

static FILE *open_output(const char *path)
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

static void flush_output(void *ctx)
{
	fflush(ctx);
}

int cmd_run(int argc, char **argv)
{
	struct pysec_tracer t = { 0 };
	struct pysec_pipeline pl = { 0 };
	struct pysec_emitter em;
	struct pysec_kenforce *ke = calloc(1, sizeof(*ke));
	struct run_opts o;
	struct pysec_tracer_opts to;
	struct pysec_policy *policy = NULL;
	char ctl_path[PATH_MAX + 80] = "";
	FILE *out = NULL;
	int rc = EXIT_TOOL_FAILED;

	if (!ke)
		return EXIT_TOOL_FAILED;
	ke->cg_fd = -1;
	if (parse_opts(argc, argv, &o) < 0)
		goto cleanup;
	if (pysec_launch_load_policy(o.policy, &o.mode, &policy) < 0)
		goto cleanup;
	if (pysec_check_host("run") < 0)
		goto cleanup;
	out = open_output(o.output);
	if (!out)
		goto cleanup;
	pysec_emitter_init(&em, out, o.format, o.show);
	if (pysec_pipeline_init(&pl) < 0 || pysec_pipeline_add_emitter(&pl, &em) < 0) {
		pysec_err("out of memory");
		goto cleanup;
	}
	to = (struct pysec_tracer_opts){ .hook_lib = o.hook_lib,
					 .show_all = o.show == PYSEC_SHOW_ALL,
					 .verbose = o.verbose,
					 .enforce = o.mode == PYSEC_MODE_ENFORCE };
	if (pysec_tracer_open(&t, &to, &pl) < 0)
		goto cleanup;
	if (policy && pysec_launch_publish(&t, policy, o.show, ctl_path, sizeof(ctl_path)) < 0)
		goto cleanup;
	em.ctl = policy ? &policy->ctl : NULL;
	if (o.mode && pysec_kenforce_open(ke, o.mode, policy, &t, &pl) < 0)
		goto cleanup;
	rc = pysec_launch_traced(&t, ke, o.command, o.no_namespace, flush_output, out);
	/* the last sink stage: records stdio could not write are lost too */
	if (fflush(out) != 0 || ferror(out))
		pysec_err("writing %s failed (%s): records are missing from it",
			  o.output ? o.output : "stderr", strerror(errno));
cleanup:
	pysec_kenforce_close(ke);
	free(ke);
	if (ctl_path[0])
		pysec_ctl_withdraw(ctl_path);
	pysec_tracer_close(&t);
	pysec_policy_free(policy);
	pysec_pipeline_free(&pl);
	if (out && out != stderr && out != stdout)
		fclose(out);
	else if (out)
		fflush(out);
	return rc;
}
