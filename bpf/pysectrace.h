/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pysectrace.h — the kernel/user ABI: records the BPF programs put into the
 * ring buffer.  Fixed-size fields only; every record starts with struct
 * pysec_hdr.  Bump PYSEC_KABI_VERSION on any change.
 */
#ifndef PYSECTRACE_H
#define PYSECTRACE_H

#ifndef __VMLINUX_H__
#include <linux/types.h> /* user space; BPF gets them from vmlinux.h */
#endif
#include "../hookmod/pysechook_abi.h"

#define PYSEC_KABI_VERSION 1
#define PYSEC_COMM_LEN 16
#define PYSEC_PATH_MAX 256

enum pysec_rec_type {
	PYSEC_REC_AUDIT = 1, /* an audit event from the hook's USDT probe */
	PYSEC_REC_FORK = 2,  /* a tracked process forked a new process */
	PYSEC_REC_EXEC = 3,  /* a tracked process exec'd */
	PYSEC_REC_EXIT = 4,  /* the last thread of a tracked process exited */
};

struct pysec_hdr {
	__u32 type;   /* enum pysec_rec_type */
	__u32 pid;    /* host tgid */
	__u32 tid;    /* host tid */
	__u32 ns_pid; /* tgid in the task's own pid namespace */
	__u32 ns_tid;
	__u32 ppid;   /* host tgid of the real parent */
	__u64 ts_ns;  /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	char comm[PYSEC_COMM_LEN];
};

struct pysec_audit_rec {
	struct pysec_hdr h;
	__u64 seq;
	__u64 key;
	__u32 flags;
	__u32 args_len; /* as reported by the hook, may exceed what was copied */
	__u32 args_copied;
	__u32 pad;
	char event[PYSEC_EVENT_MAX];
	__u8 args[PYSEC_ARGS_MAX];
};

struct pysec_proc_rec {
	struct pysec_hdr h;
	__u32 child_pid;  /* FORK: the new process */
	__s32 exit_code;  /* EXIT: the task's exit code (wait status form) */
	char filename[PYSEC_PATH_MAX]; /* EXEC: the binary as exec'd */
};

/* Indexes of the kernel-side counters (array map `counters`). */
enum pysec_counter {
	PYSEC_CNT_RB_LOST = 0, /* ring buffer reservations that failed */
	PYSEC_CNT_TRACKED_FULL,/* processes not tracked: table full */
	PYSEC_CNT_MAX,
};

#endif /* PYSECTRACE_H */
