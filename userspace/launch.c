// SPDX-License-Identifier: MIT
/* launch.c — start COMMAND under a live tracer and follow it (see launch.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "kenforce.h"
#include "launch.h"
#include "policy_run.h"

static volatile sig_atomic_t child_pid;

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
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	struct sigaction sa = {.sa_sigaction = on_signal, .sa_flags = SA_SIGINFO};

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

static void __attribute__((noreturn))
child_exec(char **command, const char *hook_lib, const char *preload_list, int go_fd, int err_fd)
{
	char go;
	int e;

	restore_signal_handlers();
	if (read(go_fd, &go, 1) != 1)
		_exit(EXIT_TOOL_FAILED);
	close(go_fd);
	if (preload_list[0] && enter_preload_namespace(preload_list) != 0)
		fprintf(stderr,
			"pysectrace: warning: no private %s (%s): a child that strips "
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

static int launch(struct pysec_tracer *t, struct pysec_kenforce *k, char **command, int no_namespace,
		  struct launched *l)
{
	int go[2], err[2];
	ssize_t n;

	memset(l, 0, sizeof(*l));
	if (!no_namespace && write_preload_list(pysec_tracer_preload(t), l->preload_list,
						sizeof(l->preload_list)) < 0) {
		pysec_err("warning: cannot write the traced tree's %s (%s): a child that strips "
			  "LD_PRELOAD from its environment runs without the hook",
			  SYSTEM_PRELOAD, strerror(errno));
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
		child_exec(command, pysec_tracer_preload(t), l->preload_list, go[0], err[1]);
	}
	child_pid = l->pid;
	close(go[0]);
	close(err[1]);
	if (pysec_tracer_track(t, l->pid, getpid()) != 0 ||
	    (k && pysec_kenforce_adopt(k, l->pid) != 0) || write(go[1], "g", 1) != 1) {
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

static int launch_and_wait(struct pysec_tracer *t, struct pysec_kenforce *k, char **command,
			   int no_namespace, void (*tick)(void *ctx), void *ctx,
			   struct launched *child)
{
	int status = 0, err;

	install_signal_handlers();
	if (launch(t, k, command, no_namespace, child) < 0)
		return EXIT_TOOL_FAILED;
	if (child->exec_errno) {
		waitpid(child->pid, &status, 0);
		pysec_err("%s: %s", command[0], strerror(child->exec_errno));
		return child->exec_errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
	}
	for (;;) {
		err = pysec_tracer_poll(t, 50);
		if (tick)
			tick(ctx);
		if (err < 0) {
			pysec_err("reading the ring buffer: %s", strerror(-err));
			kill(child->pid, SIGTERM);
		}
		pid_t w = waitpid(child->pid, &status, WNOHANG);

		if (w == child->pid)
			break;
		if (w < 0 && errno != EINTR) {
			pysec_err("waitpid: %s", strerror(errno));
			return EXIT_TOOL_FAILED;
		}
	}
	/* COMMAND is gone: what it did before exiting is already queued. */
	pysec_tracer_finish(t);
	return status_to_exit(status);
}

int pysec_launch_traced(struct pysec_tracer *t, struct pysec_kenforce *k, char **command,
			int no_namespace, void (*tick)(void *ctx), void *ctx)
{
	struct launched child = {0};
	int rc = launch_and_wait(t, k, command, no_namespace, tick, ctx, &child);

	child_pid = 0;
	if (child.preload_list[0]) {
		unlink(child.preload_list);
		*strrchr(child.preload_list, '/') = 0;
		rmdir(child.preload_list);
	}
	return rc;
}

int pysec_launch_load_policy(const char *file, enum pysec_mode *mode, struct pysec_policy **out)
{
	struct pysec_policy_error err;

	*out = NULL;
	if (file) {
		*out = pysec_policy_load_file(file, &err);
		if (!*out) {
			pysec_policy_error_print(stderr, file, &err);
			return -1;
		}
	} else if (*mode) {
		*out = pysec_policy_default();
		if (!*out) {
			pysec_err("the built-in policy does not load (a bug)");
			return -1;
		}
	}
	if (*out && *mode)
		(*out)->mode = *mode == PYSEC_MODE_ENFORCE ? PYSEC_CTL_ENFORCE : PYSEC_CTL_OBSERVE;
	else if (*out) /* the policy's own mode */
		*mode = (*out)->mode == PYSEC_CTL_ENFORCE ? PYSEC_MODE_ENFORCE : PYSEC_MODE_OBSERVE;
	return 0;
}

int pysec_launch_publish(const struct pysec_tracer *t, const struct pysec_policy *p,
			 enum pysec_show show, char *path, size_t len)
{
	if (!t->copy[0]) {
		pysec_err("a policy needs this run's private copy of the hook library, which "
			  "could not be made");
		return -1;
	}
	snprintf(path, len, "%s%s", t->copy, PYSEC_CTL_SUFFIX);
	if (pysec_policy_publish(p, p->mode, show, path) < 0) {
		pysec_err("cannot write the control file %s: %s", path, strerror(errno));
		path[0] = 0;
		return -1;
	}
	return 0;
}
