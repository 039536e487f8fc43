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
#include "policy_run.h"
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

static volatile sig_atomic_t child_pid;

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

/*
 * Forward signals that a process sent to us; a terminal's Ctrl-C already
 * reached COMMAND, which shares our process group.
 */
static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (child_pid > 0 && si->si_code <= 0 && si->si_pid != child_pid)
		kill(child_pid, sig);
}

static void install_signal_handlers(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static void restore_signal_handlers(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
}

static int set_preload(const char *hook_lib)
{
	const char *old = getenv("LD_PRELOAD");
	char *val;
	int rc;

	if (old && *old)
		rc = asprintf(&val, "%s:%s", hook_lib, old);
	else
		rc = asprintf(&val, "%s", hook_lib);
	if (rc < 0)
		return -1;
	rc = setenv("LD_PRELOAD", val, 1);
	free(val);
	return rc;
}

/*
 * Child side: wait until the parent tracks our pid, then exec.  An exec
 * failure goes back through err_fd (close-on-exec: EOF means success).
 */
#define SYSTEM_PRELOAD "/etc/ld.so.preload"

/*
 * The traced tree's /etc/ld.so.preload: the system's list plus the hook,
 * so that every CPython in the tree carries it whatever it does to its
 * environment (env -i, env={}, -I).  Written in a folder next to the
 * private copy.
 * The system file must exist to be mounted over: an empty one is created
 * when there is none (the same as none for every other process).
 */
static int write_preload_list(const char *hook_lib, char *out, size_t len)
{
	char buf[4096];
	ssize_t n = 0;
	int in, fd, ok;

	/* its own name is what the loader's open reports: keep it ld.so.preload */
	if (snprintf(out, len, "%s.d/ld.so.preload", hook_lib) >= (int)len)
		return -1;
	*strrchr(out, '/') = 0;
	if (mkdir(out, 0755) != 0 && errno != EEXIST)
		return -1;
	out[strlen(out)] = '/';
	in = open(SYSTEM_PRELOAD, O_RDONLY | O_CLOEXEC);
	if (in < 0 && errno == ENOENT)
		in = open(SYSTEM_PRELOAD, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (in < 0)
		return -1;
	n = read(in, buf, sizeof(buf) - 1);
	close(in);
	if (n < 0 || n == (ssize_t)sizeof(buf) - 1)
		return -1;
	unlink(out);
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ok = write(fd, hook_lib, strlen(hook_lib)) == (ssize_t)strlen(hook_lib) &&
	     write(fd, "\n", 1) == 1 && write(fd, buf, (size_t)n) == n;
	close(fd);
	if (!ok)
		unlink(out);
	return ok ? 0 : -1;
}

/* Child side: a private mount namespace with our list over the system's. */
static int enter_preload_namespace(const char *list)
{
	if (unshare(CLONE_NEWNS) != 0)
		return -1;
	/* mounts made on the host still reach us; ours stay private */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0)
		return -1;
	return mount(list, SYSTEM_PRELOAD, NULL, MS_BIND, NULL);
}

static void __attribute__((noreturn)) child_exec(char **command, const char *hook_lib,
						 const char *preload_list, int go_fd, int err_fd)
{
	char go;
	int e;

	restore_signal_handlers();
	if (read(go_fd, &go, 1) != 1)
		_exit(EXIT_TOOL_FAILED);
	close(go_fd);
	if (preload_list[0] && enter_preload_namespace(preload_list) != 0)
		fprintf(stderr, "pysectrace: warning: no private %s (%s): a child that strips "
				"LD_PRELOAD from its environment runs without the hook\n",
			SYSTEM_PRELOAD, strerror(errno));
	if (set_preload(hook_lib) != 0)
		_exit(EXIT_TOOL_FAILED);
	execvp(command[0], command);
	e = errno;
	if (write(err_fd, &e, sizeof(e)) < 0)
		_exit(EXIT_TOOL_FAILED);
	_exit(e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
}

struct launched {
	pid_t pid;
	int exec_errno;
	char preload_list[PATH_MAX + 64]; /* "" when the tree has no private one */
};

static int launch(struct pysec_tracer *t, struct pysec_kenforce *k, const struct run_opts *o,
		  struct launched *l)
{
	int go[2], err[2];
	ssize_t n;

	memset(l, 0, sizeof(*l));
	if (!o->no_namespace &&
	    write_preload_list(pysec_tracer_preload(t), l->preload_list, sizeof(l->preload_list)) < 0) {
		pysec_err("warning: cannot write the traced tree's %s (%s): a child that strips "
			  "LD_PRELOAD from its environment runs without the hook", SYSTEM_PRELOAD,
			  strerror(errno));
		l->preload_list[0] = 0;
	}
	if (pipe2(go, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
		pysec_err("pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	l->pid = fork();
	if (l->pid < 0) {
		pysec_err("fork: %s", strerror(errno));
		return -1;
	}
	if (l->pid == 0) {
		close(go[1]);
		close(err[0]);
		child_exec(o->command, pysec_tracer_preload(t), l->preload_list, go[0], err[1]);
	}
	child_pid = l->pid;
	close(go[0]);
	close(err[1]);
	if (pysec_tracer_track(t, l->pid, getpid()) != 0 || pysec_kenforce_adopt(k, l->pid) != 0 ||
	    write(go[1], "g", 1) != 1) {
		close(go[1]);
		close(err[0]);
		return -1;
	}
	close(go[1]);
	n = read(err[0], &l->exec_errno, sizeof(l->exec_errno));
	close(err[0]);
	if (n != sizeof(l->exec_errno))
		l->exec_errno = 0;
	return 0;
}

/* --policy FILE, or the built-in policy for --enforce/--observe; none otherwise. */
static int load_policy(const struct run_opts *o, struct pysec_policy **out)
{
	struct pysec_policy_error err;

	*out = NULL;
	if (o->policy) {
		*out = pysec_policy_load_file(o->policy, &err);
		if (!*out) {
			pysec_policy_error_print(stderr, o->policy, &err);
			return -1;
		}
	} else if (o->mode) {
		*out = pysec_policy_default();
		if (!*out) {
			pysec_err("the built-in policy does not load (a bug)");
			return -1;
		}
	}
	if (*out && o->mode)
		(*out)->mode = o->mode == PYSEC_MODE_ENFORCE ? PYSEC_CTL_ENFORCE : PYSEC_CTL_OBSERVE;
	return 0;
}

/*
 * This run's control file, next to its private copy of the hook library
 * (the hook looks for <library>.ctl first): other runs and the host-wide
 * file are not touched.
 */
static int publish_policy(const struct pysec_tracer *t, const struct run_opts *o,
			  const struct pysec_policy *p, char *path, size_t len)
{
	if (!t->copy[0]) {
		pysec_err("a policy needs this run's private copy of the hook library, which "
			  "could not be made");
		return -1;
	}
	snprintf(path, len, "%s%s", t->copy, PYSEC_CTL_SUFFIX);
	if (pysec_policy_publish(p, p->mode, o->show, path) < 0) {
		pysec_err("cannot write the control file %s: %s", path, strerror(errno));
		path[0] = 0;
		return -1;
	}
	return 0;
}

static int status_to_exit(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_TOOL_FAILED;
}

int cmd_run(int argc, char **argv)
{
	struct pysec_tracer t = { 0 };
	struct pysec_pipeline pl = { 0 };
	struct pysec_emitter em;
	struct pysec_kenforce *ke = calloc(1, sizeof(*ke));
	struct launched child = { 0 };
	struct run_opts o;
	struct pysec_tracer_opts to;
	struct pysec_policy *policy = NULL;
	char ctl_path[PATH_MAX + 80] = "";
	FILE *out = NULL;
	int status = 0, rc = EXIT_TOOL_FAILED, err;

	if (!ke)
		return EXIT_TOOL_FAILED;
	ke->cg_fd = -1;
	if (parse_opts(argc, argv, &o) < 0)
		goto cleanup;
	if (load_policy(&o, &policy) < 0)
		goto cleanup;
	if (policy && !o.mode) /* the policy's own mode */
		o.mode = policy->mode == PYSEC_CTL_ENFORCE ? PYSEC_MODE_ENFORCE : PYSEC_MODE_OBSERVE;
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
	if (policy && publish_policy(&t, &o, policy, ctl_path, sizeof(ctl_path)) < 0)
		goto cleanup;
	em.ctl = policy ? &policy->ctl : NULL;
	if (o.mode && pysec_kenforce_open(ke, o.mode, policy, &t, &pl) < 0)
		goto cleanup;
	install_signal_handlers();
	if (launch(&t, ke, &o, &child) < 0)
		goto cleanup;
	if (child.exec_errno) {
		waitpid(child.pid, &status, 0);
		pysec_err("%s: %s", o.command[0], strerror(child.exec_errno));
		rc = child.exec_errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
		goto cleanup;
	}
	for (;;) {
		err = pysec_tracer_poll(&t, 50);
		fflush(out);
		if (err < 0) {
			pysec_err("reading the ring buffer: %s", strerror(-err));
			kill(child.pid, SIGTERM);
		}
		pid_t w = waitpid(child.pid, &status, WNOHANG);

		if (w == child.pid)
			break;
		if (w < 0 && errno != EINTR) {
			pysec_err("waitpid: %s", strerror(errno));
			goto cleanup;
		}
	}
	/* COMMAND is gone: what it did before exiting is already queued. */
	pysec_tracer_finish(&t);
	/* the last sink stage: records stdio could not write are lost too */
	if (fflush(out) != 0 || ferror(out))
		pysec_err("writing %s failed (%s): records are missing from it",
			  o.output ? o.output : "stderr", strerror(errno));
	rc = status_to_exit(status);
cleanup:
	child_pid = 0;
	if (child.preload_list[0]) {
		unlink(child.preload_list);
		*strrchr(child.preload_list, '/') = 0;
		rmdir(child.preload_list);
	}
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
