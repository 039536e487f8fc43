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

#define PYSEC_KABI_VERSION 3
#define PYSEC_COMM_LEN 16
#define PYSEC_PATH_MAX 256

enum pysec_rec_type {
	PYSEC_REC_AUDIT = 1, /* an audit event from the hook's USDT probe */
	PYSEC_REC_FORK = 2,  /* a tracked process forked a new process */
	PYSEC_REC_EXEC = 3,  /* a tracked process exec'd */
	PYSEC_REC_EXIT = 4,  /* the last thread of a tracked process exited */
	PYSEC_REC_SYSCALL = 5, /* a monitored syscall, at its exit */
};

/* Kernel verdict on a monitored syscall (struct pysec_sys_rec.verdict). */
enum pysec_verdict {
	PYSEC_V_AUDITED = 1,   /* a token of this thread matched: consumed */
	PYSEC_V_UNAUDITED = 2, /* hooked process, no token matched */
	PYSEC_V_UNHOOKED = 3,  /* the process has not armed the hook (yet) */
};

/* Why a syscall is unaudited, as seen by the kernel (bit set). */
#define PYSEC_WHY_NO_TOKEN 0x1u   /* the thread held no token of this kind */
#define PYSEC_WHY_KEY 0x2u        /* tokens held, none with this key */
#define PYSEC_WHY_UNREADABLE 0x4u /* the argument could not be read */
#define PYSEC_WHY_NO_PYTHON_API 0x8u /* nothing in CPython makes it (io_uring) */
#define PYSEC_WHY_SWAPPED 0x10u   /* the kernel's object is not what was matched */
#define PYSEC_WHY_NAME_DIFFERS 0x40u /* opened file's name differs from the path's
				       * last component (a symlink, or a swap:
				       * user space resolves it) */
#define PYSEC_WHY_REREAD 0x20u    /* argument read at sys_exit (unreadable at entry) */
#define PYSEC_WHY_STOPPED 0x80u   /* enforce: SIGSTOP sent, held for user space's judgment */
#define PYSEC_WHY_DENIED 0x100u   /* enforce: the cgroup hook refused it (EPERM) */

/* Syscalls aimed at another process's memory (x86_64 numbers). */
#define PYSEC_NR_PTRACE 101
#define PYSEC_NR_PROCESS_VM_WRITEV 311

#define PYSEC_SYS_ARGV_MAX 256
#define PYSEC_ORIGIN_MAX 64

#define PYSEC_ORIGIN_FOUND 0x1u /* ip is inside a mapping */
#define PYSEC_ORIGIN_FILE 0x2u  /* file-backed (else anonymous memory) */
#define PYSEC_ORIGIN_EXEC 0x4u  /* the mapping is executable */
#define PYSEC_ORIGIN_WRITE 0x8u /* ... and writable */

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
	__u32 kflags;   /* PYSEC_AUDIT_* set by the kernel side */
	__u32 line;     /* Python line of the innermost frame (0: none) */
	__u32 pad2;
	char event[PYSEC_EVENT_MAX];
	char file[PYSEC_FILE_MAX]; /* its source file */
	__u8 args[PYSEC_ARGS_MAX];
};

/* struct pysec_audit_rec.kflags */
#define PYSEC_AUDIT_STOPPED 0x1u /* enforce: the process was stopped at this event
				  * to judge a resolver query held before it */
/* from the stock `python:audit` probe, not the hook (see below) */
#define PYSEC_AUDIT_STOCK 0x2u
/* ... and its arguments could not be decoded (no layout for the runtime) */
#define PYSEC_AUDIT_STOCK_UNDECODED 0x4u

struct pysec_proc_rec {
	struct pysec_hdr h;
	__u32 child_pid;  /* FORK: the new process */
	__s32 exit_code;  /* EXIT: the task's exit code (wait status form) */
	char filename[PYSEC_PATH_MAX]; /* EXEC: the binary as exec'd */
	__u64 last_seq; /* EXEC/EXIT: highest seq the hook fired in the image that ended */
};

/* Value of the `tracked` map: one per followed process (tgid). */
struct pysec_tracked {
	__u32 ppid;
	__u32 hooked;   /* the hook armed in the current image */
	__u64 start_ns;
	/* the audit bridge as the hook announced it when it armed (0: unknown) */
	__u64 bridge_slot, bridge_entry, bridge_fn, bridge_sem;
	__u64 bridge_site; /* the probe site (where the kernel put its breakpoint) */
	__u64 last_seq; /* highest seq the hook fired in the current image */
};

struct pysec_sys_rec {
	struct pysec_hdr h; /* ts_ns: at sys_exit */
	__u64 enter_ns;
	__s64 ret;
	__u64 ip;       /* user instruction pointer of the syscall */
	__u64 seq;      /* seq of the audit event whose token matched */
	__u64 key;      /* key computed from the arguments */
	__u32 nr;       /* syscall number (native ABI of the arch) */
	__u32 verdict;  /* enum pysec_verdict */
	__u32 why;      /* PYSEC_WHY_* */
	__u32 token_kind;
	__s32 dirfd;
	__u32 bridge;   /* PYSEC_BRIDGE_*: the audit bridge found broken (unaudited only) */
	__u64 flags;    /* open flags, send flags, exec flags */
	__u32 mode;
	__u16 family;   /* sockaddr family (connect/sendto/sendmsg) */
	__u16 port;     /* host order */
	__u8 addr[16];
	__u64 uptr;     /* user pointer of the path (re-read at sys_exit) */
	__u32 path_len; /* bytes at path, without the NUL */
	__u32 argv_len; /* bytes at argv: NUL-separated, may be cut */
	char path[PYSEC_PATH_MAX];   /* file, unix socket or program path */
	char argv[PYSEC_SYS_ARGV_MAX];
	/* the mapping of ip at sys_enter (bpf_find_vma): where the call came from */
	__u32 origin_flags;          /* PYSEC_ORIGIN_* */
	__u32 pad2;
	char origin[PYSEC_ORIGIN_MAX]; /* file name of the mapping, if file-backed */
	/* open family at sys_exit: the name of the dentry the new fd refers to */
	char opened[PYSEC_ORIGIN_MAX];
};

/* What is broken in an audit bridge (struct pysec_sys_rec.bridge). */
#define PYSEC_BRIDGE_HOOK_LIST 0x1u  /* the runtime's hook list no longer reaches our entry */
#define PYSEC_BRIDGE_HOOK_FN 0x2u    /* our entry's function pointer was rewritten */
#define PYSEC_BRIDGE_PROBE_SITE 0x4u /* the probe site lost the kernel's breakpoint */
#define PYSEC_BRIDGE_SEMAPHORE 0x8u  /* the probe semaphore was zeroed */
#define PYSEC_BRIDGE_SEQ_GAP 0x10u   /* audit events missing, no loss explains it */

#ifndef __VMLINUX_H__
/* User space: the record's type when size holds a whole record of it, else 0. */
static inline __u32 pysec_record_type(const void *data, unsigned long size)
{
	const struct pysec_hdr *h = (const struct pysec_hdr *)data;

	if (size < sizeof(*h))
		return 0;
	switch (h->type) {
	case PYSEC_REC_AUDIT:
		return size >= sizeof(struct pysec_audit_rec) ? h->type : 0;
	case PYSEC_REC_FORK:
	case PYSEC_REC_EXEC:
	case PYSEC_REC_EXIT:
		return size >= sizeof(struct pysec_proc_rec) ? h->type : 0;
	case PYSEC_REC_SYSCALL:
		return size >= sizeof(struct pysec_sys_rec) ? h->type : 0;
	default:
		return 0;
	}
}
#endif

/* Indexes of the kernel-side counters (array map `counters`). */
enum pysec_counter {
	PYSEC_CNT_RB_LOST = 0, /* ring buffer reservations that failed */
	PYSEC_CNT_TRACKED_FULL,/* processes not tracked: table full */
	PYSEC_CNT_PENDING_FULL,/* syscalls not followed: pending table full */
	PYSEC_CNT_TOKENS_FULL, /* tokens not stored: token table full */
	PYSEC_CNT_AUDITED_SYSCALLS, /* audited syscalls counted, not forwarded */
	PYSEC_CNT_RB_LOST_AUDIT, /* ... of PYSEC_CNT_RB_LOST: audit records */
	PYSEC_CNT_SHED_AUDIT,    /* audit records shed under backlog (tokens kept) */
	PYSEC_CNT_SHED_SYSCALL,  /* audited syscall records shed under backlog */
	PYSEC_CNT_NET_DENIED_UNSEEN, /* enforce: network ops refused with no syscall
				      * record to attach to (io_uring, table full) */
	PYSEC_CNT_STOP_LOST,   /* enforce: no stop (record could not be queued) */
	PYSEC_CNT_MAX,
};


/*
 * The stock `python:audit` probe of CPython builds with DTrace/USDT
 * (docs/stock-probe.md).  Its audit records carry PYSEC_AUDIT_STOCK in
 * kflags (flags bits 16-31 are the hook's policy rule): seq is counted by
 * the kernel, there is no file/line, and the key was computed in BPF from
 * the decoded arguments.
 */

/* Key of the `stock_cfgs` map: the file that defines the CPython runtime
 * types, as the kernel names it (s_dev in kernel encoding, i_ino). */
struct pysec_stock_key {
	__u64 dev;
	__u64 ino;
};

/* Object layout of one CPython build and where its builtin types are. */
struct pysec_stock_cfg {
	__u32 minor;      /* 3.minor */
	__u32 long_tag;   /* 3.12+: int size/sign in lv_tag, else in ob_size */
	__s64 seg_delta;  /* p_vaddr - p_offset of PyTuple_Type's segment */
	__u64 tuple_vaddr; /* link-time addresses (add the load bias) */
	__u64 list_vaddr;
	__u64 str_vaddr;
	__u64 bytes_vaddr;
	__u64 long_vaddr;
	__u64 bool_vaddr;
	__u64 float_vaddr;
	__u64 none_vaddr;
	__u64 true_vaddr;
	__u16 ob_type, ob_size, tuple_items, list_items;
	__u16 bytes_sval, float_val, type_name, str_length;
	__u16 str_state, str_ascii_data, str_compact_data, long_size;
	__u16 long_digit, from_debug, pad[2]; /* from_debug: layout read from _Py_DebugOffsets */
	__u32 state_kind_mask, state_kind_shift;
	__u32 state_compact, state_ascii;
	__u32 state_ready; /* 0: no ready bit (3.12+) */
	__u32 pad2;
};
/*
 * Per-syscall verdict counters (`sys_counts` in .bss): every monitored
 * syscall of a tracked process at its exit, forwarded or not, indexed
 * [slot][verdict] with slot from pysec_sys_slot order below.
 */
enum pysec_sys_slot {
	PYSEC_SLOT_OPEN, PYSEC_SLOT_CREAT, PYSEC_SLOT_OPENAT, PYSEC_SLOT_OPENAT2,
	PYSEC_SLOT_CONNECT, PYSEC_SLOT_SENDTO, PYSEC_SLOT_SENDMSG, PYSEC_SLOT_SENDMMSG,
	PYSEC_SLOT_EXECVE, PYSEC_SLOT_EXECVEAT, PYSEC_SLOT_IO_URING_SETUP,
	PYSEC_SLOT_PTRACE, PYSEC_SLOT_PROCESS_VM_WRITEV,
	PYSEC_SLOT_MAX,
};
#define PYSEC_SYS_VERDICTS 4 /* index by enum pysec_verdict (0 unused) */

/* Key of the `nameservers` map (enforce): an address of /etc/resolv.conf. */
struct pysec_ns_key {
	__u16 family; /* AF_INET or AF_INET6 */
	__u8 addr[16];
	__u16 pad;
};

#endif /* PYSECTRACE_H */
