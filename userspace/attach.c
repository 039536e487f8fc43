// SPDX-License-Identifier: MIT
/*
 * attach.c — `pysectrace attach -p PID`: trace a running process and its
 * future children with whatever source it has: our hook (its probe file is
 * mapped), CPython's stock python:audit probe, or the kernel alone.  Ends
 * on SIGINT/SIGTERM or when the process exits; detaching leaves it running.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"
#include "emit.h"
#include "stockprobe.h"
#include "tracer.h"

struct attach_opts {
	struct pysec_trace_opts t; /* format, show, output, verbose */
	pid_t pid;
};

#define MAX_FILES  256
#define MAX_PROBES 8

struct mapped_file {
	char path[PATH_MAX];	  /* as /proc/PID/maps names it */
	char open_path[PATH_MAX]; /* a path that opens it from here */
	unsigned long long dev, ino;
};

enum source { SRC_KERNEL, SRC_STOCK, SRC_HOOK };

struct attach_state {
	struct pysec_tracer *t;
	enum source src;
	char probes[MAX_PROBES][PATH_MAX]; /* files whose probe feeds the trace */
	char opens[MAX_PROBES][PATH_MAX];  /* ... as they open from here */
	unsigned links[MAX_PROBES];	   /* ... their tracer links */
	unsigned nprobes;
};

static volatile sig_atomic_t stop_requested;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pysectrace attach -p PID [OPTIONS]\n\n"
		"Trace the running process PID and the processes it starts from now on, with\n"
		"the best source it has: the pysectrace hook if it was preloaded (or imported),\n"
		"else CPython's own python:audit USDT probe if its interpreter has one (Debian's,\n"
		"RHEL's python3), else the kernel alone.  The first line says which, and what\n"
		"that mode cannot see.  Ends on Ctrl-C/SIGTERM or when PID exits; detaching\n"
		"leaves PID running.  Needs root.\n\n"
		"options:\n"
		"  -p, --pid PID        the process to trace\n"
		"  --format text|json   text lines (default) or JSON lines (docs/SCHEMA.md)\n"
		"  -o, --output FILE    write records to FILE (default: stderr; '-': stdout)\n"
		"  --show audit|alerts|all   as for run\n"
		"  -v, --verbose        show libbpf's messages\n"
		"  -h, --help           this help\n\n"
		"exit status: 0 when PID exited or the trace was stopped; 125 when pysectrace\n"
		"fails (no such process, not root, BPF refused).\n");
}

static int parse_opts(int argc, char **argv, struct attach_opts *o)
{
	static const struct option longopts[] = {
	    {"pid", required_argument, NULL, 'p'},
	    PYSEC_OPT_FORMAT,
	    PYSEC_OPT_OUTPUT,
	    PYSEC_OPT_SHOW,
	    PYSEC_OPT_VERBOSE,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, r;

	memset(o, 0, sizeof(*o));
	pysec_trace_opts_init(&o->t);
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:o:vh", longopts, NULL)) != -1) {
		if ((r = pysec_trace_opt(&o->t, c, optarg)) < 0)
			return -1;
		if (r)
			continue;
		switch (c) {
		case 'p':
			if (pysec_parse_pid(optarg, &o->pid) < 0)
				return -1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!o->pid) {
		pysec_err("attach: no process given (pysectrace attach -p PID)");
		return -1;
	}
	if (optind < argc) {
		pysec_err("attach: unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* The files mapped by pid, once each (by device and inode). */
static int scan_maps(pid_t pid, struct mapped_file *files, unsigned *n)
{
	char mp[64], line[PATH_MAX - 300];
	FILE *f;

	*n = 0;
	snprintf(mp, sizeof(mp), "/proc/%d/maps", (int)pid);
	f = fopen(mp, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end, off;
		unsigned maj, min;
		unsigned long long ino;
		char perms[8];
		int pos = 0, dup = 0;

		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %llu %n", &start, &end, perms, &off, &maj,
			   &min, &ino, &pos) < 7 ||
		    !pos || line[pos] != '/' || *n >= MAX_FILES)
			continue;
		line[strcspn(line, "\n")] = 0;
		/* the kernel's dev_t (MKDEV) as the BPF side reads i_sb->s_dev */
		unsigned long long dev = ((unsigned long long)maj << 20) | min;

		for (unsigned i = 0; i < *n && !dup; i++)
			dup = files[i].dev == dev && files[i].ino == ino;
		if (dup)
			continue;
		struct mapped_file *m = &files[(*n)++];
		size_t len = strlen(line + pos);
		static const char deleted[] = " (deleted)";

		m->dev = dev;
		m->ino = ino;
		snprintf(m->path, sizeof(m->path), "%s", line + pos);
		/* a deleted file (a run's private hook copy) still opens through map_files */
		if (len > sizeof(deleted) - 1 &&
		    !strcmp(line + pos + len - (sizeof(deleted) - 1), deleted))
			snprintf(m->open_path, sizeof(m->open_path), "/proc/%d/map_files/%lx-%lx",
				 (int)pid, start, end);
		else
			snprintf(m->open_path, sizeof(m->open_path), "/proc/%d/root%s", (int)pid,
				 line + pos);
	}
	fclose(f);
	return 0;
}

static void read_comm(pid_t pid, char *comm, size_t len)
{
	char p[64];
	FILE *f;

	snprintf(comm, len, "?");
	snprintf(p, sizeof(p), "/proc/%d/comm", (int)pid);
	f = fopen(p, "re");
	if (!f)
		return;
	if (fgets(comm, (int)len, f))
		comm[strcspn(comm, "\n")] = 0;
	fclose(f);
}

static pid_t read_ppid(pid_t pid)
{
	char p[64], buf[512], *rp;
	FILE *f;
	int ppid = 0;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	f = fopen(p, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) != NULL)
		sscanf(rp + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

/* Find the sources pid offers, describe its runtimes, attach to the best one. */
static int choose_source(struct attach_state *st, pid_t pid, int verbose)
{
	static struct mapped_file files[MAX_FILES];
	unsigned n = 0, nhook = 0, nstock = 0;
	int hook[MAX_FILES] = {0}, stock[MAX_FILES] = {0}, runtimes = 0;
	char why[PATH_MAX + 128];

	if (scan_maps(pid, files, &n) < 0) {
		pysec_err("cannot read /proc/%d/maps: %s", (int)pid, strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		const char *base = strrchr(files[i].path, '/');

		hook[i] = pysec_elf_has_usdt(files[i].open_path, PYSEC_USDT_PROVIDER,
					     PYSEC_USDT_NAME) == 1;
		stock[i] = pysec_elf_has_usdt(files[i].open_path, PYSEC_STOCK_PROVIDER,
					      PYSEC_STOCK_NAME) == 1;
		nhook += hook[i];
		nstock += stock[i];
		if (pysec_tracer_add_runtime(st->t, files[i].open_path,
					     base ? base + 1 : files[i].path, files[i].dev,
					     files[i].ino, why, sizeof(why)) == 0)
			runtimes++;
		else if (verbose && strstr(why, "no symbol") == NULL)
			pysec_err("%s", why);
	}
	st->src = nhook ? SRC_HOOK : nstock && runtimes ? SRC_STOCK : SRC_KERNEL;
	if (nstock && !runtimes && !nhook)
		pysec_err(
		    "warning: %d has the python:audit probe but no CPython runtime pysectrace "
		    "can decode (3.8-3.13): tracing with the kernel alone",
		    (int)pid);
	for (unsigned i = 0; i < n && st->src != SRC_KERNEL; i++) {
		if (!(st->src == SRC_HOOK ? hook[i] : stock[i]) || st->nprobes >= MAX_PROBES)
			continue;
		/*
		 * Every process mapping the file: the children of pid must be seen
		 * from their first event.  Others are dropped at the first map lookup.
		 */
		if ((st->src == SRC_HOOK
			 ? pysec_tracer_attach_hook(st->t, files[i].open_path, -1)
			 : pysec_tracer_attach_stock(st->t, files[i].open_path, -1)) < 0)
			return -1;
		st->links[st->nprobes] = st->t->nlinks - 1;
		snprintf(st->opens[st->nprobes], PATH_MAX, "%s", files[i].open_path);
		snprintf(st->probes[st->nprobes++], PATH_MAX, "%s", files[i].path);
	}
	return 0;
}

/*
 * A fork child of a traced process does not inherit the breakpoints placed
 * in its running parent: place them again.  Until its first event it is
 * recorded, not judged (fork_unhooked).
 */
static void on_record(void *ctx, const void *data, size_t size, const char *explained)
{
	struct attach_state *st = ctx;

	(void)explained;
	if (st->src == SRC_KERNEL || pysec_record_type(data, size) != PYSEC_REC_FORK)
		return;
	for (unsigned i = 0; i < st->nprobes; i++)
		if (pysec_tracer_renew(st->t, st->links[i], st->opens[i], st->src == SRC_STOCK) < 0)
			pysec_err(
			    "warning: cannot place the probe of %s again (%s): a child's audit "
			    "events are not seen",
			    st->probes[i], strerror(errno));
}

static const char *const source_names[] = {"kernel", "stock", "hook"};

static const char *const source_blind[] = {
    /* kernel */
    "audit events (no pysectrace hook and no python:audit probe in this process): its "
    "monitored syscalls are recorded unjudged (verdict unhooked), nothing is alerted as a "
    "bypass",
    /* stock */
    "the source file:line of events; events a C audit hook vetoed (the probe fires after "
    "C hooks, before Python hooks); IPv6 connect targets are keyed by port only; "
    "events raised before the attach",
    /* hook */
    "events raised before the attach; children forked before the attach",
};

int pysec_attach_open(pid_t pid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (pidfd < 0)
		pysec_err("cannot attach to process %d: %s", (int)pid, strerror(errno));
	return pidfd;
}

int pysec_attach_trace(struct pysec_tracer *t, struct pysec_pipeline *pl,
		       struct pysec_emitter *em, pid_t pid, int pidfd, int show_all, int verbose,
		       const struct pysec_attach_ops *ops)
{
	struct pysec_tracer_opts to;
	struct attach_state st = {.t = t};
	struct sigaction sa = {.sa_handler = on_signal};
	struct pysec_sink fork_sink = {.record = on_record, .ctx = &st};
	struct timespec now;
	char comm[32];
	int rc = -1, err;

	if (pysec_pipeline_add(pl, &fork_sink) < 0) {
		pysec_err("too many sinks");
		return -1;
	}
	to = (struct pysec_tracer_opts){
	    .show_all = show_all, .verbose = verbose, .no_hook = 1, .fork_unhooked = 1};
	if (pysec_tracer_open(t, &to, pl) < 0)
		return -1;
	if (choose_source(&st, pid, verbose) < 0)
		return -1;
	/* an armed process: its syscalls are judged from the first one on */
	if (pysec_tracer_track_running(t, pid, read_ppid(pid), st.src != SRC_KERNEL) < 0)
		return -1;
	read_comm(pid, comm, sizeof(comm));
	clock_gettime(CLOCK_MONOTONIC, &now);
	em->lost_mono_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	if (ops && ops->source)
		ops->source(ops->ctx, em->lost_mono_ns, (uint32_t)pid, comm, source_names[st.src],
			    st.nprobes ? st.probes[0] : "", source_blind[st.src]);
	pysec_emit_source(em, (uint32_t)pid, comm, source_names[st.src],
			  st.nprobes ? st.probes[0] : "", source_blind[st.src]);
	em->lost_mono_ns = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop_requested) {
		struct pollfd pfd = {.fd = pidfd, .events = POLLIN};

		err = pysec_tracer_poll(t, 50);
		if (ops && ops->tick)
			ops->tick(ops->ctx);
		if (err < 0) {
			pysec_err("reading the ring buffer: %s", strerror(-err));
			goto out;
		}
		if (poll(&pfd, 1, 0) > 0)
			break; /* the process exited */
	}
	/* what the process did before it exited (its exit record) is queued by now */
	pysec_tracer_poll(t, 0);
	pysec_tracer_finish(t);
	rc = 0;
out:
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	return rc;
}

static void flush_output(void *ctx)
{
	fflush(ctx);
}

int cmd_attach(int argc, char **argv)
{
	struct pysec_tracer t = {0};
	struct pysec_pipeline pl = {0};
	struct pysec_emitter em;
	struct attach_opts o;
	FILE *out = NULL;
	int rc = EXIT_TOOL_FAILED, pidfd = -1;

	if (parse_opts(argc, argv, &o) < 0)
		return EXIT_TOOL_FAILED;
	if (pysec_check_host("attach") < 0)
		return EXIT_TOOL_FAILED;
	pidfd = pysec_attach_open(o.pid);
	if (pidfd < 0)
		return EXIT_TOOL_FAILED;
	out = pysec_open_output(o.t.output);
	if (!out) {
		close(pidfd);
		return EXIT_TOOL_FAILED;
	}
	pysec_emitter_init(&em, out, o.t.format, o.t.show);
	struct pysec_attach_ops ops = {.tick = flush_output, .ctx = out};

	if (pysec_pipeline_init(&pl) < 0 || pysec_pipeline_add_emitter(&pl, &em) < 0) {
		pysec_err("out of memory");
		goto cleanup;
	}
	if (pysec_attach_trace(&t, &pl, &em, o.pid, pidfd, o.t.show == PYSEC_SHOW_ALL, o.t.verbose,
			       &ops) == 0)
		rc = 0;
cleanup:
	pysec_tracer_close(&t); /* detaches: the process runs on without probes */
	pysec_pipeline_free(&pl);
	close(pidfd);
	if (out && out != stderr && out != stdout)
		fclose(out);
	else if (out)
		fflush(out);
	return rc;
}
