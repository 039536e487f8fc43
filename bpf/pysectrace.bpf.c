// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pysectrace.bpf.c — kernel side of pysectrace.
 *
 * usdt__audit receives every audit event of a hooked process (USDT probe of
 * hookmod, see hookmod/pysechook_abi.h) and forwards it for tracked
 * processes.  The sched tracepoints keep the `tracked` table equal to "the
 * COMMAND of run and its descendants": fork adds the child, the exit of a
 * process's last thread removes it, so a reused pid is never mistaken for
 * a traced one.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "pysectrace.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set before load: follow only the tree the user asked for. */
const volatile int trace_all_hooked = 0;

struct tracked_proc {
	__u32 ppid;
	__u32 pad;
	__u64 start_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct tracked_proc);
} tracked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

__u64 counters[PYSEC_CNT_MAX];

static __always_inline void count(int idx)
{
	if (idx >= 0 && idx < PYSEC_CNT_MAX)
		__sync_fetch_and_add(&counters[idx], 1);
}

static __always_inline __u32 pid_nr_in_own_ns(struct pid *p)
{
	unsigned int level;
	struct upid up = {};

	if (!p)
		return 0;
	level = BPF_CORE_READ(p, level);
	bpf_core_read(&up, sizeof(up), &p->numbers[level & 31]);
	return up.nr;
}

static __always_inline void *reserve(__u64 size, __u32 type, struct task_struct *task)
{
	struct pysec_hdr *h = bpf_ringbuf_reserve(&events, size, 0);

	if (!h) {
		count(PYSEC_CNT_RB_LOST);
		return NULL;
	}
	h->type = type;
	h->pid = BPF_CORE_READ(task, tgid);
	h->tid = BPF_CORE_READ(task, pid);
	h->ns_tid = pid_nr_in_own_ns(BPF_CORE_READ(task, thread_pid));
	h->ns_pid = pid_nr_in_own_ns(BPF_CORE_READ(task, group_leader, thread_pid));
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->ts_ns = bpf_ktime_get_ns();
	BPF_CORE_READ_STR_INTO(&h->comm, task, comm);
	return h;
}

static __always_inline int is_tracked(__u32 tgid)
{
	return bpf_map_lookup_elem(&tracked, &tgid) != NULL;
}

SEC("usdt")
int BPF_USDT(usdt__audit, __u64 seq, const char *event, const void *args, __u32 args_len,
	     __u64 key, __u32 flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct pysec_audit_rec *r;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 n = args_len & 0xffff;

	if (!trace_all_hooked && !is_tracked(tgid))
		return 0;
	r = reserve(sizeof(*r), PYSEC_REC_AUDIT, task);
	if (!r)
		return 0;
	r->seq = seq;
	r->key = key;
	r->flags = flags;
	r->args_len = args_len;
	if (n > PYSEC_ARGS_MAX)
		n = PYSEC_ARGS_MAX;
	asm volatile("" : "+r"(n)); /* keep the bound on the register used below */
	/* An unreadable buffer (hostile or unmapped) forwards as empty. */
	if (bpf_probe_read_user(r->args, n, args) != 0)
		n = 0;
	r->args_copied = n;
	r->pad = 0;
	if (bpf_probe_read_user_str(r->event, sizeof(r->event), event) < 0)
		r->event[0] = 0;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tp_btf__sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct tracked_proc v = {};
	struct pysec_proc_rec *r;

	if (ptgid == ctgid || !is_tracked(ptgid)) /* a thread, or untracked */
		return 0;
	v.ppid = ptgid;
	v.start_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&tracked, &ctgid, &v, BPF_ANY) != 0)
		count(PYSEC_CNT_TRACKED_FULL);
	r = reserve(sizeof(*r), PYSEC_REC_FORK, parent);
	if (!r)
		return 0;
	r->child_pid = ctgid;
	r->exit_code = 0;
	r->filename[0] = 0;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_btf__sched_process_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	struct pysec_proc_rec *r;

	if (!is_tracked(BPF_CORE_READ(p, tgid)))
		return 0;
	r = reserve(sizeof(*r), PYSEC_REC_EXEC, p);
	if (!r)
		return 0;
	r->child_pid = 0;
	r->exit_code = 0;
	if (bpf_probe_read_kernel_str(r->filename, sizeof(r->filename),
				      BPF_CORE_READ(bprm, filename)) < 0)
		r->filename[0] = 0;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_btf__sched_process_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	struct pysec_proc_rec *r;

	if (!is_tracked(tgid))
		return 0;
	/* signal->live reaches 0 when the process's last thread exits. */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	bpf_map_delete_elem(&tracked, &tgid);
	r = reserve(sizeof(*r), PYSEC_REC_EXIT, p);
	if (!r)
		return 0;
	r->child_pid = 0;
	r->exit_code = BPF_CORE_READ(p, exit_code);
	r->filename[0] = 0;
	bpf_ringbuf_submit(r, 0);
	return 0;
}
