/* SPDX-License-Identifier: MIT */
/*
 * kenforce.h — carrying out the enforcement decision (enforce.h) on live
 * processes: the cgroup that holds the traced tree and the sock_addr
 * programs attached to it, the nameserver table the kernel checks resolver
 * queries against, resuming or killing a process the kernel stopped for
 * judgment, and killing on any alert the decision says so for.  What each
 * mechanism stops and what it does not: docs/enforcement.md.
 */
#ifndef PYSEC_KENFORCE_H
#define PYSEC_KENFORCE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "enforce.h"

struct pysectrace_bpf;
struct pysec_tracer;
struct pysec_pipeline;
struct bpf_link;

struct pysec_judged {
	uint32_t pid; /* 0: free */
	uint64_t n;   /* stop records judged */
	int killed;   /* we sent the kill signal */
};

#define PYSEC_JUDGED_MAX 1024

struct pysec_kenforce {
	struct pysec_enforce e;
	struct pysec_tracer *t; /* NULL: decide and report only (observe) */
	char cgroup[PATH_MAX];	/* the cgroup this run created ("": none) */
	int cg_fd;
	struct bpf_link *links[4];
	struct pysec_judged judged[PYSEC_JUDGED_MAX];
	uint64_t kills, resumes;
};

/* Enable or disable loading of the cgroup programs (before load). */
void pysec_kenforce_autoload(struct pysectrace_bpf *skel, bool on);

/*
 * Start: decide on every alert of pl (any mode); in enforce mode also
 * create the run's cgroup under this process's own cgroup2 cgroup, attach
 * the sock_addr programs to it and fill the nameserver table.  t must have
 * been opened with .enforce set in enforce mode.  0, or -1 with a message.
 */
int pysec_kenforce_open(struct pysec_kenforce *k, enum pysec_mode mode,
			const struct pysec_policy *policy, struct pysec_tracer *t,
			struct pysec_pipeline *pl);

/* Put pid (not yet exec'd) into the run's cgroup; 0, or -1 with a message. */
int pysec_kenforce_adopt(struct pysec_kenforce *k, pid_t pid);

/* Detach, remove the cgroup (a warning when processes are left in it). */
void pysec_kenforce_close(struct pysec_kenforce *k);

/* The cgroup2 mount point (from /proc/self/mountinfo); 0 or -1. */
int pysec_cgroup2_mount(char *out, size_t len);
/* The same from a mountinfo stream: the first cgroup2 mount of its root. */
int pysec_cgroup2_mount_in(FILE *mountinfo, char *out, size_t len);

#endif
