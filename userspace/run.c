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
	struct pysec_trace_opts t;
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
		PYSEC_OPT_FORMAT, PYSEC_OPT_OUTPUT,  PYSEC_OPT_SHOW,  PYSEC_OPT_HOOK_LIB,
		PYSEC_OPT_POLICY, PYSEC_OPT_VERBOSE, PYSEC_OPT_NO_NS, PYSEC_OPT_ENFORCE,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, r;

	pysec_trace_opts_init(&o->t);
	o->command = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:vh", longopts, NULL)) != -1) {
		if ((r = pysec_trace_opt(&o->t, c, optarg)) < 0)
			return -1;
		if (r)
			continue;
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		usage(stderr);
		return -1;
	}
	if (optind >= argc) {
		pysec_err("run: no COMMAND given (pysectrace run [OPTIONS] -- COMMAND [ARGS...])");
		return -1;
	}
	o->command = argv + optind;
	return 0;
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
	if (pysec_launch_load_policy(o.t.policy, &o.t.mode, &policy) < 0)
		goto cleanup;
	if (pysec_check_host("run") < 0)
		goto cleanup;
	out = pysec_open_output(o.t.output);
	if (!out)
		goto cleanup;
	pysec_emitter_init(&em, out, o.t.format, o.t.show);
	if (pysec_pipeline_init(&pl) < 0 || pysec_pipeline_add_emitter(&pl, &em) < 0) {
		pysec_err("out of memory");
		goto cleanup;
	}
	to = (struct pysec_tracer_opts){ .hook_lib = o.t.hook_lib,
					 .show_all = o.t.show == PYSEC_SHOW_ALL,
					 .verbose = o.t.verbose,
					 .enforce = o.t.mode == PYSEC_MODE_ENFORCE };
	if (pysec_tracer_open(&t, &to, &pl) < 0)
		goto cleanup;
	if (policy && pysec_launch_publish(&t, policy, o.t.show, ctl_path, sizeof(ctl_path)) < 0)
		goto cleanup;
	em.ctl = policy ? &policy->ctl : NULL;
	if (o.t.mode && pysec_kenforce_open(ke, o.t.mode, policy, &t, &pl) < 0)
		goto cleanup;
	rc = pysec_launch_traced(&t, ke, o.command, o.t.no_namespace, flush_output, out);
	/* the last sink stage: records stdio could not write are lost too */
	if (fflush(out) != 0 || ferror(out))
		pysec_err("writing %s failed (%s): records are missing from it",
			  o.t.output ? o.t.output : "stderr", strerror(errno));
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
