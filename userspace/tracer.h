/* SPDX-License-Identifier: MIT */
/*
 * tracer.h — the live source: the BPF object loaded and attached to the
 * hook's USDT probe, its ring buffer feeding a pipeline.  run (and the
 * other live verbs) open one, tell it which processes to follow, poll it
 * and finish it.
 */
#ifndef PYSEC_TRACER_H
#define PYSEC_TRACER_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "pipeline.h"

struct pysectrace_bpf;
struct ring_buffer;
struct bpf_link;

struct pysec_tracer_opts {
	const char *hook_lib; /* explicit --hook-lib, or NULL */
	int show_all;         /* forward audited syscalls too (--show all) */
	int verbose;          /* libbpf's messages */
	int no_hook;          /* attach: no hook library; probes attached per file */
	int fork_unhooked;    /* attach: a fork child is judged once its own events flow */
	int enforce;          /* kernel-side enforcement (kenforce.h) */
	/*
	 * monitor: every hooked process on the host.  No private copy; the
	 * probe is attached for all pids to every copy (inode) of the hook
	 * that a process maps (pysec_tracer_scan_hooks), and a process is
	 * tracked from its first audit event.
	 */
	int monitor;
};

/* Copies of the hook a monitor attaches to (documented limit). */
#define PYSEC_MAX_HOOK_INODES 64

struct pysec_hook_inode {
	unsigned long dev; /* makedev(major, minor) as /proc/PID/maps shows it */
	unsigned long ino;
	struct bpf_link *link; /* NULL: attaching failed (not retried) */
};

#define PYSEC_TRACER_LINKS 256

struct pysec_tracer {
	struct pysectrace_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *module_link;
	struct pysec_pipeline *pl;
	char hook_lib[PATH_MAX];     /* the library found */
	char copy[PATH_MAX + 64];    /* this run's private copy ("" if none) */
	struct bpf_link *links[PYSEC_TRACER_LINKS]; /* probes attached per file */
	unsigned nlinks;
	int monitor;
	struct pysec_hook_inode hooks[PYSEC_MAX_HOOK_INODES];
	unsigned nhooks;
	unsigned hooks_full;         /* copies seen but not attached: table full */
	uint64_t lost_reported[PYSEC_CNT_MAX]; /* kernel losses already reported */
	uint64_t audit_lost_reported;          /* ... of them audit records */
	void *rb_pages[2];           /* consumer and producer pages, read-only */
	unsigned long page_size;
};

/* Root, BTF; 0 or -1 with a message printed. */
int pysec_check_host(const char *verb);

/*
 * Find the hook library, make the private copy, load and attach the BPF
 * object, create the ring-buffer reader feeding pl.  0, or -1 with a
 * message printed (call pysec_tracer_close anyway).
 */
int pysec_tracer_open(struct pysec_tracer *t, const struct pysec_tracer_opts *o,
		      struct pysec_pipeline *pl);

/* The library a traced process must preload (the private copy if any). */
const char *pysec_tracer_preload(const struct pysec_tracer *t);

/* Follow pid (and its future descendants). */
int pysec_tracer_track(struct pysec_tracer *t, pid_t pid, pid_t ppid);

/* ... already running: hooked says its audit events already flow (armed). */
int pysec_tracer_track_running(struct pysec_tracer *t, pid_t pid, pid_t ppid, int hooked);

/*
 * Attach to the USDT probe of the ELF file at path, in process pid only
 * (-1: every process mapping it): the hook's (pysectrace:audit) or
 * CPython's stock python:audit.  0, or -1 with a message printed.
 */
int pysec_tracer_attach_hook(struct pysec_tracer *t, const char *path, pid_t pid);
int pysec_tracer_attach_stock(struct pysec_tracer *t, const char *path, pid_t pid);

/*
 * Attach link idx's probe again (every process mapping path) and drop the
 * old link: places the breakpoints in processes forked since, which do not
 * inherit those placed in a running parent.  0, or -1 (the old link kept).
 */
int pysec_tracer_renew(struct pysec_tracer *t, unsigned idx, const char *path, int stock);

/*
 * Describe to the stock decoder the CPython runtime in the ELF file at
 * path (name: its own file name), which the kernel knows as dev (kernel
 * encoding, as /proc/PID/maps prints it) and ino.  0, or -1 with why[].
 */
int pysec_tracer_add_runtime(struct pysec_tracer *t, const char *path, const char *name,
			     unsigned long long dev, unsigned long long ino, char *why,
			     size_t whylen);

/* Wait up to timeout_ms and feed what arrived; 0, or a negative errno. */
int pysec_tracer_poll(struct pysec_tracer *t, int timeout_ms);

/* Whether the kernel has lost ring-buffer records so far. */
int pysec_tracer_kernel_lost(const struct pysec_tracer *t);

/*
 * Monitor: attach to every copy of the hook that some process maps and
 * that is not attached yet (/proc/PID/maps; a replaced or deleted file is
 * reached through /proc/PID/map_files).  Returns how many were attached.
 */
int pysec_tracer_scan_hooks(struct pysec_tracer *t);

/* Kernel-side losses since the last call, reported to the pipeline. */
void pysec_tracer_report_losses(struct pysec_tracer *t);

/* Bytes in the ring buffer not read yet. */
uint64_t pysec_tracer_ringbuf_bytes(const struct pysec_tracer *t);

/* Processes in the kernel's `tracked` table. */
unsigned pysec_tracer_tracked(const struct pysec_tracer *t);

/* Kernel count of monitored syscalls [slot][verdict] (pysectrace.h). */
const uint64_t *pysec_tracer_sys_counts(const struct pysec_tracer *t);

/*
 * Drain what is queued, report kernel-side losses, finish the pipeline
 * (one summary line on stderr when anything was lost).  Returns the number
 * of events lost.
 */
uint64_t pysec_tracer_finish(struct pysec_tracer *t);

void pysec_tracer_close(struct pysec_tracer *t);

#endif
