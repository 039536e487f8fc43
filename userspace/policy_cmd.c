// SPDX-License-Identifier: MIT
/*
 * policy_cmd.c — `pysectrace policy check|explain|default|install|uninstall`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "policy.h"
#include "policy_run.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: pysectrace policy check FILE\n"
		   "       pysectrace policy explain FILE [SCOPE] EVENT [ARG...]\n"
		   "       pysectrace policy explain FILE [SCOPE] --finding KIND [--syscall NAME]\n"
		   "                                 [--path PATH] [--addr ADDRESS] [--port N]\n"
		   "       pysectrace policy default\n"
		   "       pysectrace policy install [--enforce|--observe] FILE\n"
		   "       pysectrace policy uninstall\n\n"
		   "check      exit 0 when FILE is a valid policy, 1 when not (each error with\n"
		   "           FILE:LINE:COLUMN and a hint), 2 when FILE cannot be read\n"
		   "explain    which rule decides an audit event (EVENT with its arguments; each\n"
		   "           ARG is JSON when it parses as JSON, else a string) or a kernel\n"
		   "           finding, and why each earlier rule does not\n"
		   "           SCOPE: --exe PATH --script PATH --uid N --cgroup PATH --cwd DIR\n"
		   "           (the process the event comes from; unknown when not given)\n"
		   "default    print the built-in policy (what `run --enforce` applies)\n"
		   "install    compile FILE for the hook and publish it host-wide at\n"
		   "           " PYSEC_CTL_HOST_PATH ": every hooked Python started from\n"
		   "           then on denies what its rules deny, with no tracer attached\n"
		   "uninstall  withdraw it (hooks that mapped it stop applying it)\n\n"
		   "The policy language: docs/policy.md.  Example: examples/*.yaml.\n");
}

static int do_check(int argc, char **argv)
{
	struct pysec_policy_error err;
	struct pysec_policy *p;

	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	p = pysec_policy_load_file(argv[1], &err);
	if (!p) {
		pysec_policy_error_print(stderr, argv[1], &err);
		return err.unreadable ? 2 : 1;
	}
	printf("%s: valid: %u rules, mode %s, default %s\n", argv[1], p->nrules,
	       p->mode == PYSEC_CTL_ENFORCE ? "enforce" : "observe",
	       pysec_action_name(p->default_action));
	pysec_policy_free(p);
	return 0;
}

static int do_default(int argc, char **argv)
{
	struct pysec_policy *p = pysec_policy_default();

	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return 2;
	}
	if (!p) {
		pysec_err("the built-in policy does not load (a bug)");
		return EXIT_TOOL_FAILED;
	}
	pysec_policy_write_yaml(stdout, p);
	pysec_policy_free(p);
	return 0;
}

static const char *verdict_text(const struct pysec_policy *p, const struct pysec_rule *r,
				int finding)
{
	int a = r ? r->action : finding ? PYSEC_ACT_LOG : p->default_action;
	int enforce = p->mode == PYSEC_CTL_ENFORCE;

	switch (a) {
	case PYSEC_ACT_DENY:
		return enforce ? "the hook raises PermissionError before the operation"
			       : "observe mode: written as a would-be denial, not denied";
	case PYSEC_ACT_KILL:
		return enforce ? "the process is killed" : "observe mode: written, not killed";
	case PYSEC_ACT_LOG:
		return "allowed and written";
	default:
		return "allowed";
	}
}

static void print_evargs(const struct pysec_evargs *ev)
{
	for (int i = 0; i < PYSEC_EV_PATHS; i++)
		if (ev->path[i])
			printf("  path: %s\n", ev->path[i]);
	if (ev->host)
		printf("  host: %s%s\n", ev->host, ev->family ? " (address)" : " (name)");
	if (ev->port >= 0)
		printf("  port: %d\n", ev->port);
	if (ev->exe)
		printf("  exe: %s\n", ev->exe);
	if (ev->argv)
		printf("  argv: %s\n", ev->argv);
	if (ev->module)
		printf("  module: %s\n", ev->module);
	for (int g = 0; g < 32; g++)
		if (ev->unknown & (1u << g))
			printf("  (an argument of group %d cannot be read: deny/kill rules match "
			       "it)\n",
			       g);
}

static const char *group_name(int g)
{
	static const char *const names[PYSEC_M_MAX] = {
	    [PYSEC_M_EVENT] = "event",	   [PYSEC_M_PATH] = "path",
	    [PYSEC_M_HOSTNAME] = "host",   [PYSEC_M_CIDR] = "host",
	    [PYSEC_M_PORT] = "port",	   [PYSEC_M_EXE] = "exe",
	    [PYSEC_M_ARGV] = "argv",	   [PYSEC_M_MODULE] = "module",
	    [PYSEC_M_S_EXE] = "scope.exe", [PYSEC_M_S_SCRIPT] = "scope.script",
	    [PYSEC_M_S_UID] = "scope.uid", [PYSEC_M_S_CGROUP] = "scope.cgroup",
	};

	return g > 0 && g < PYSEC_M_MAX && names[g] ? names[g] : "?";
}

/* ARG as a JSON value when the whole of it is one, else as a string. */
static struct json_object *arg_value(const char *s)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *v = NULL;
	size_t n = strlen(s);

	if (tok) {
		/* the NUL ends a number that would otherwise wait for more digits */
		v = json_tokener_parse_ex(tok, s, (int)n + 1);
		if (json_tokener_get_error(tok) != json_tokener_success ||
		    json_tokener_get_parse_end(tok) < n) {
			json_object_put(v);
			v = json_object_new_string(s);
		}
		json_tokener_free(tok);
	}
	return v;
}

static int explain_event(const struct pysec_policy *p, const struct pysec_procid *proc,
			 const char *cwd, int argc, char **argv)
{
	struct json_object *args = json_object_new_array();
	struct pysec_evargs ev;
	char scratch[16384];
	const struct pysec_rule *hit = NULL;
	const char *event = argv[0];

	for (int i = 1; i < argc; i++)
		json_object_array_add(args, arg_value(argv[i]));
	pysec_evargs_from_json(event, args, cwd, &ev, scratch, sizeof(scratch));
	printf("event %s %s\n", event,
	       json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE));
	print_evargs(&ev);
	for (uint32_t i = 0; i < p->ctl.hdr->nrules && !hit; i++) {
		const struct pysec_rule *r = &p->rules[p->ctl_rule[i]];
		int failed = 0;

		if (pysec_ctl_rule_matches(&p->ctl, i, event, &ev, proc, &failed)) {
			hit = r;
			printf("rule %s (line %u): matches\n", r->id, r->line);
		} else {
			printf("rule %s (line %u): no: its %s condition does not hold\n", r->id,
			       r->line, group_name(failed));
		}
	}
	/* the hook takes the same decision through its event table */
	if (pysec_policy_match_event(p, event, &ev, proc) != hit) {
		pysec_err("internal: the event table disagrees with the rule order");
		json_object_put(args);
		return EXIT_TOOL_FAILED;
	}
	if (hit)
		printf("=> %s (rule %s): %s\n", pysec_action_name(hit->action), hit->id,
		       verdict_text(p, hit, 0));
	else
		printf("=> %s (default: no rule matches): %s\n",
		       pysec_action_name(p->default_action), verdict_text(p, NULL, 0));
	json_object_put(args);
	return 0;
}

static int parse_addr(const char *s, struct pysec_finding_q *q)
{
	if (inet_pton(AF_INET, s, q->addr) == 1)
		q->family = 4;
	else if (inet_pton(AF_INET6, s, q->addr) == 1)
		q->family = 6;
	else
		return -1;
	return 0;
}

static int do_explain(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"exe", required_argument, NULL, 'e'},     {"script", required_argument, NULL, 's'},
	    {"uid", required_argument, NULL, 'u'},     {"cgroup", required_argument, NULL, 'g'},
	    {"cwd", required_argument, NULL, 'c'},     {"finding", required_argument, NULL, 'f'},
	    {"syscall", required_argument, NULL, 'y'}, {"path", required_argument, NULL, 'p'},
	    {"addr", required_argument, NULL, 'a'},    {"port", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0},
	};
	struct pysec_finding_q q = {.port = -1};
	struct pysec_policy_error err;
	struct pysec_policy *p;
	char cwdbuf[PATH_MAX];
	const char *cwd = getcwd(cwdbuf, sizeof(cwdbuf)), *file = NULL;
	int c, rc;

	q.proc.uid = -1;
	optind = 1;
	/* options go before FILE, after it, or both; EVENT and its ARGs end them */
	for (int pass = 0; pass < 2; pass++) {
		while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
			switch (c) {
			case 'e':
				q.proc.exe = optarg;
				break;
			case 's':
				q.proc.script = optarg;
				break;
			case 'u':
				q.proc.uid = strtol(optarg, NULL, 10);
				break;
			case 'g':
				q.proc.cgroup = optarg;
				break;
			case 'c':
				cwd = optarg;
				break;
			case 'f':
				if (!(q.kind = pysec_finding_parse(optarg))) {
					pysec_err("--finding: bypass, hook_cleared, hook_missing "
						  "or tamper, "
						  "not '%s'",
						  optarg);
					return 2;
				}
				break;
			case 'y':
				q.syscall = optarg;
				break;
			case 'p':
				q.path = optarg;
				break;
			case 'a':
				if (parse_addr(optarg, &q) < 0) {
					pysec_err("--addr: not an IPv4/IPv6 address: '%s'", optarg);
					return 2;
				}
				break;
			case 'P':
				q.port = atoi(optarg);
				break;
			case 'h':
				usage(stdout);
				return 0;
			default:
				usage(stderr);
				return 2;
			}
		}
		if (pass == 0) {
			if (optind >= argc) {
				usage(stderr);
				return 2;
			}
			file = argv[optind++];
		}
	}
	if ((!q.kind && optind >= argc) || (q.kind && optind < argc)) {
		usage(stderr);
		return 2;
	}
	p = pysec_policy_load_file(file, &err);
	if (!p) {
		pysec_policy_error_print(stderr, file, &err);
		return err.unreadable ? 2 : 1;
	}
	if (!q.kind) {
		rc = explain_event(p, &q.proc, cwd, argc - optind, argv + optind);
		pysec_policy_free(p);
		return rc;
	}
	const struct pysec_rule *hit = NULL;

	printf("finding %s%s%s%s%s\n", pysec_finding_name(q.kind), q.syscall ? " " : "",
	       q.syscall ? q.syscall : "", q.path ? " " : "", q.path ? q.path : "");
	for (unsigned i = 0; i < p->nrules && !hit; i++) {
		const struct pysec_rule *r = &p->rules[i];
		char why[256];

		if (!r->findings)
			continue;
		if (!pysec_policy_explain_finding(r, &q, why, sizeof(why))) {
			hit = r;
			printf("rule %s (line %u): matches\n", r->id, r->line);
		} else {
			printf("rule %s (line %u): no: %s\n", r->id, r->line, why);
		}
	}
	if (hit)
		printf("=> %s (rule %s): %s\n", pysec_action_name(hit->action), hit->id,
		       verdict_text(p, hit, 1));
	else
		printf("=> log (no rule matches; findings are always written)\n");
	pysec_policy_free(p);
	return 0;
}

static int do_install(int argc, char **argv)
{
	struct pysec_policy_error err;
	struct pysec_policy *p;
	int mode = -1, rc;

	for (; argc > 1 && argv[1][0] == '-'; argc--, argv++) {
		if (!strcmp(argv[1], "--enforce"))
			mode = PYSEC_CTL_ENFORCE;
		else if (!strcmp(argv[1], "--observe"))
			mode = PYSEC_CTL_OBSERVE;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	if (geteuid() != 0) {
		pysec_err("policy install writes %s: it needs root", PYSEC_CTL_HOST_PATH);
		return EXIT_TOOL_FAILED;
	}
	p = pysec_policy_load_file(argv[1], &err);
	if (!p) {
		pysec_policy_error_print(stderr, argv[1], &err);
		return err.unreadable ? 2 : 1;
	}
	rc =
	    pysec_policy_publish(p, mode < 0 ? p->mode : mode, PYSEC_SHOW_ALL, PYSEC_CTL_HOST_PATH);
	if (rc < 0)
		pysec_err("cannot write %s: %s", PYSEC_CTL_HOST_PATH, strerror(errno));
	else
		printf("installed %s at %s (mode %s)\n", argv[1], PYSEC_CTL_HOST_PATH,
		       (mode < 0 ? p->mode : mode) == PYSEC_CTL_ENFORCE ? "enforce" : "observe");
	pysec_policy_free(p);
	return rc < 0 ? EXIT_TOOL_FAILED : 0;
}

static int do_uninstall(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return 2;
	}
	if (pysec_ctl_withdraw(PYSEC_CTL_HOST_PATH) < 0) {
		pysec_err("cannot remove %s: %s", PYSEC_CTL_HOST_PATH, strerror(errno));
		return EXIT_TOOL_FAILED;
	}
	return 0;
}

int cmd_policy(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} subs[] = {
	    {"check", do_check},     {"explain", do_explain},	  {"default", do_default},
	    {"install", do_install}, {"uninstall", do_uninstall},
	};

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].fn(argc - 1, argv + 1);
	pysec_err("policy: unknown command '%s' (check, explain, default, install, uninstall)",
		  argv[1]);
	return 2;
}
