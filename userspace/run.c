// SPDX-License-Identifier: MIT
/*
 * run.c — `pysectrace run -- COMMAND`: load the BPF object, attach to the
 * hook's USDT probe, start COMMAND with the hook preloaded and show what
 * it and its descendants do until COMMAND exits.
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "classify.h"
#include "cli.h"
#include "emit.h"
#include "pysectrace.h"
#include "pysectrace.skel.h"

struct run_opts {
	enum pysec_format format;
	enum pysec_show show;
	const char *output;
	const char *hook_lib;
	int verbose;
	char **command;
};

static volatile sig_atomic_t child_pid;
static struct bpf_link *module_link;

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
		"  --hook-lib PATH      the hook library to preload (default: libpysechook.so\n"
		"                       next to pysectrace or in ../lib/pysectrace/;\n"
		"                       also $PYSECTRACE_HOOK_LIB)\n"
		"  -v, --verbose        show libbpf's messages\n"
		"  -h, --help           this help\n\n"
		"exit status: COMMAND's; 128+N when COMMAND died of signal N; 125 when\n"
		"pysectrace fails, 126 when COMMAND cannot be executed, 127 when not found.\n"
		"Ctrl-C reaches COMMAND as usual; SIGINT/SIGTERM/SIGHUP/SIGQUIT sent to\n"
		"pysectrace are forwarded to COMMAND.\n");
}

static int parse_opts(int argc, char **argv, struct run_opts *o)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "show", required_argument, NULL, 's' },
		{ "hook-lib", required_argument, NULL, 'L' },
		{ "verbose", no_argument, NULL, 'v' },
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
		case 'v':
			o->verbose = 1;
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

static int check_host(void)
{
	if (geteuid() != 0) {
		pysec_err("run needs root (to load BPF programs): try sudo pysectrace run ...");
		return -1;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		pysec_err("this kernel has no BTF (/sys/kernel/btf/vmlinux missing): a kernel "
			  "built with CONFIG_DEBUG_INFO_BTF=y is needed");
		return -1;
	}
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

struct pipeline {
	struct pysec_emitter em;
	struct pysec_classifier *cls;
};

static int on_record(void *ctx, void *data, size_t size)
{
	struct pipeline *p = ctx;
	const char *explained = NULL;

	pysec_classify(p->cls, data, size, &explained);
	pysec_emit_record(&p->em, data, size, explained);
	return 0;
}

static void on_alert(void *ctx, const struct pysec_alert *a)
{
	pysec_emit_alert(ctx, a);
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
static void __attribute__((noreturn)) child_exec(char **command, const char *hook_lib,
						 int go_fd, int err_fd)
{
	char go;
	int e;

	restore_signal_handlers();
	if (read(go_fd, &go, 1) != 1)
		_exit(EXIT_TOOL_FAILED);
	close(go_fd);
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
};

static int launch(struct pysectrace_bpf *skel, const struct run_opts *o, const char *hook_lib,
		  struct launched *l)
{
	int go[2], err[2];
	struct pysec_tracked v = { .ppid = (__u32)getpid() };
	ssize_t n;

	memset(l, 0, sizeof(*l));
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
		child_exec(o->command, hook_lib, go[0], err[1]);
	}
	child_pid = l->pid;
	close(go[0]);
	close(err[1]);
	if (bpf_map__update_elem(skel->maps.tracked, &l->pid, sizeof(__u32), &v, sizeof(v),
				 BPF_ANY) != 0) {
		pysec_err("cannot track pid %d: %s", l->pid, strerror(errno));
		close(go[1]);
		close(err[0]);
		return -1;
	}
	if (write(go[1], "g", 1) != 1) {
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

static int status_to_exit(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_TOOL_FAILED;
}

/*
 * The extension-module form (pysechook.abi3.so) carries its own copy of the
 * probe; attach to the one installed beside the hook library so that a
 * descendant that drops LD_PRELOAD and imports pysechook is still seen.
 */
static void attach_module_copy(struct pysectrace_bpf *skel, const char *hook_lib)
{
	char path[PATH_MAX];
	const char *slash = strrchr(hook_lib, '/');
	struct bpf_link *link;

	if (!slash || snprintf(path, sizeof(path), "%.*s/pysechook.abi3.so",
			       (int)(slash - hook_lib), hook_lib) >= (int)sizeof(path) ||
	    access(path, R_OK) != 0)
		return;
	link = bpf_program__attach_usdt(skel->progs.usdt__audit, -1, path, PYSEC_USDT_PROVIDER,
					PYSEC_USDT_NAME, NULL);
	if (!link)
		pysec_err("warning: cannot attach to %s (import pysechook will not be seen): %s",
			  path, strerror(errno));
	module_link = link;
}

/*
 * A private copy of the hook library for this run: a uprobe on the shared
 * file would fire in every process on the host that preloads it, each one
 * paying the trap on every audit event for as long as this run lasts.  The
 * copy goes next to the original (where it is known to be executable),
 * else /tmp; unlinked at exit, processes that map it keep it.
 */
static int private_hook_copy(const char *hook_lib, char *out, size_t len)
{
	const char *slash = strrchr(hook_lib, '/');
	char buf[65536];
	int in, fd = -1;
	ssize_t n;

	for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
		if (attempt == 0 && slash)
			snprintf(out, len, "%.*s/.pysectrace-run-%d.so", (int)(slash - hook_lib),
				 hook_lib, (int)getpid());
		else
			snprintf(out, len, "/tmp/.pysectrace-run-%d.so", (int)getpid());
		unlink(out);
		fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	}
	in = open(hook_lib, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || in < 0)
		goto fail;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			goto fail;
	if (n < 0 || fchmod(fd, 0644) != 0)
		goto fail;
	close(in);
	close(fd);
	return 0;
fail:
	if (in >= 0)
		close(in);
	if (fd >= 0) {
		close(fd);
		unlink(out);
	}
	out[0] = 0;
	return -1;
}

static int load_bpf(struct pysectrace_bpf **out, const char *hook_lib, const char *probe_lib,
		    int show_all)
{
	struct pysectrace_bpf *skel = pysectrace_bpf__open();
	struct bpf_link *link;
	int err;

	*out = skel;
	if (!skel) {
		pysec_err("cannot open the BPF object: %s", strerror(errno));
		return -1;
	}
	skel->rodata->emit_audited = show_all;
	err = pysectrace_bpf__load(skel);
	if (err) {
		pysec_err("the kernel refused the BPF programs (%s); run with -v for the "
			  "verifier log, `pysectrace probe` for what this host supports",
			  strerror(-err));
		return -1;
	}
	err = pysectrace_bpf__attach(skel);
	if (err) {
		pysec_err("cannot attach the process-tracking tracepoints: %s", strerror(-err));
		return -1;
	}
	link = bpf_program__attach_usdt(skel->progs.usdt__audit, -1, probe_lib,
					PYSEC_USDT_PROVIDER, PYSEC_USDT_NAME, NULL);
	if (!link) {
		pysec_err("cannot attach to the USDT probe %s:%s in %s: %s (is it a "
			  "libpysechook.so from this version?)",
			  PYSEC_USDT_PROVIDER, PYSEC_USDT_NAME, probe_lib, strerror(errno));
		return -1;
	}
	skel->links.usdt__audit = link; /* destroyed with the skeleton */
	attach_module_copy(skel, hook_lib);
	return 0;
}

/* Nothing is dropped silently: every kernel-side loss is reported. */
static void report_kernel_losses(struct pysec_emitter *em, const __u64 *counters)
{
	static const struct { int idx; const char *stage, *what; } losses[] = {
		{ PYSEC_CNT_RB_LOST, "kernel_ringbuf", "events were lost: the ring buffer was full" },
		{ PYSEC_CNT_TRACKED_FULL, "kernel_tracked", "processes were not followed: table full" },
		{ PYSEC_CNT_PENDING_FULL, "kernel_pending", "syscalls were not followed: table full" },
		{ PYSEC_CNT_TOKENS_FULL, "kernel_tokens", "audit tokens were not stored: table full" },
	};

	for (size_t i = 0; i < sizeof(losses) / sizeof(losses[0]); i++) {
		__u64 n = counters[losses[i].idx];

		if (!n)
			continue;
		pysec_emit_lost(em, losses[i].stage, n);
		pysec_err("%llu %s", (unsigned long long)n, losses[i].what);
	}
}

int cmd_run(int argc, char **argv)
{
	struct pysectrace_bpf *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct pipeline pl = { 0 };
	struct launched child = { 0 };
	struct run_opts o;
	char hook_lib[PATH_MAX], copy[PATH_MAX + 64] = "";
	FILE *out = NULL;
	int status = 0, rc = EXIT_TOOL_FAILED, err;

	if (parse_opts(argc, argv, &o) < 0)
		return EXIT_TOOL_FAILED;
	pysec_libbpf_quiet(o.verbose);
	if (check_host() < 0 || pysec_find_hook_lib(o.hook_lib, hook_lib, sizeof(hook_lib)) < 0)
		return EXIT_TOOL_FAILED;
	out = open_output(o.output);
	if (!out)
		return EXIT_TOOL_FAILED;
	pysec_emitter_init(&pl.em, out, o.format, o.show);
	pl.cls = pysec_classifier_new(on_alert, &pl.em);
	if (!pl.cls) {
		pysec_err("out of memory");
		goto cleanup;
	}
	if (private_hook_copy(hook_lib, copy, sizeof(copy)) < 0)
		pysec_err("warning: cannot make a private copy of %s (%s): every process on this "
			  "host that preloads it pays for the probe while this run lasts",
			  hook_lib, strerror(errno));
	if (load_bpf(&skel, hook_lib, copy[0] ? copy : hook_lib, o.show == PYSEC_SHOW_ALL) < 0)
		goto cleanup;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, &pl, NULL);
	if (!rb) {
		pysec_err("cannot create the ring buffer reader: %s", strerror(errno));
		goto cleanup;
	}
	install_signal_handlers();
	if (launch(skel, &o, copy[0] ? copy : hook_lib, &child) < 0)
		goto cleanup;
	if (child.exec_errno) {
		waitpid(child.pid, &status, 0);
		pysec_err("%s: %s", o.command[0], strerror(child.exec_errno));
		rc = child.exec_errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
		goto cleanup;
	}
	for (;;) {
		/* the kernel side batches wakeups: this timer is the reader's pace */
		err = ring_buffer__poll(rb, 50);
		if (err >= 0 || err == -EINTR)
			err = ring_buffer__consume(rb); /* epoll saw no wakeup: read anyway */
		fflush(out);
		if (err < 0 && err != -EINTR) {
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
	ring_buffer__consume(rb);
	pysec_classifier_flush(pl.cls);
	report_kernel_losses(&pl.em, skel->bss->counters);
	if (pysec_classifier_prearm_dropped(pl.cls)) {
		pysec_emit_lost(&pl.em, "prearm_queue", pysec_classifier_prearm_dropped(pl.cls));
		pysec_err("%llu syscalls made before a hook armed were not judged: queue full",
			  (unsigned long long)pysec_classifier_prearm_dropped(pl.cls));
	}
	rc = status_to_exit(status);
cleanup:
	child_pid = 0;
	if (copy[0])
		unlink(copy);
	ring_buffer__free(rb);
	pysec_classifier_free(pl.cls);
	bpf_link__destroy(module_link);
	module_link = NULL;
	pysectrace_bpf__destroy(skel);
	if (out && out != stderr && out != stdout)
		fclose(out);
	else if (out)
		fflush(out);
	return rc;
}
