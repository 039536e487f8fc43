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
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "pysectrace.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set before load: follow only the tree the user asked for. */
const volatile int trace_all_hooked = 0;
/*
 * Set before load: forward audited syscalls too (--show all).  Otherwise a
 * syscall the kernel matched is only forwarded when user space has to look
 * again (a file name that differs from the path, /proc memory).
 */
const volatile int emit_audited = 0;
/*
 * Set before load (attach): a fork child counts as hooked only once an
 * audit event of its own arrives.  Breakpoints placed in a running
 * process are not inherited by its children; until user space places
 * them again, the child's syscalls are recorded unjudged, not alerted.
 */
const volatile int fork_unhooked = 0;
/*
 * Set before load: kernel-side enforcement (run --enforce).  Every unaudited
 * syscall of a hooked process stops it (SIGSTOP) until user space judged
 * it; the cgroup sock_addr programs refuse an unaudited inet connect/send
 * before that (docs/enforcement.md).
 */
const volatile int enforce = 0;
/*
 * Set before load (monitor): a process enters `tracked` at its first audit
 * event, wherever it came from; off, only what user space inserts (run).
 */
const volatile int track_on_audit = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct pysec_tracked);
} tracked SEC(".maps");

/* Expectation tokens of a thread (see hookmod/pysechook_abi.h). */
#define TOKENS_PER_THREAD 4
#define TOKEN_TTL_NS (1000ULL * 1000 * 1000)

struct token {
	__u64 key;
	__u64 seq;
	__u64 ts;
	__u32 flags; /* 0: free slot */
	__u32 pad;
};

struct token_set {
	struct token t[TOKENS_PER_THREAD];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tid */
	__type(value, struct token_set);
} tokens SEC(".maps");

/* Monitored syscalls between sys_enter and sys_exit, by tid. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pysec_sys_rec);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pysec_sys_rec);
} sys_scratch SEC(".maps");

#define EVENTS_SIZE (16 * 1024 * 1024)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EVENTS_SIZE);
} events SEC(".maps");

/* Stop requests per process (tgid): user space resumes it once it judged as many. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} stops SEC(".maps");

/* The nameservers of /etc/resolv.conf, filled by user space before attach. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct pysec_ns_key);
	__type(value, __u8);
} nameservers SEC(".maps");

/*
 * Threads whose last unaudited send was a resolver query the cgroup hook
 * let through: user space judges it by the thread's next audit event.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, __u8);
} held_queries SEC(".maps");

__u64 counters[PYSEC_CNT_MAX];
__u64 sys_counts[PYSEC_SLOT_MAX][PYSEC_SYS_VERDICTS];

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

/*
 * Batched wakeups: waking the reader costs more than the record itself
 * (PERF-FLOOR: ~8 us a record).  User space polls on a short timer; a
 * backlog past a quarter of the buffer wakes it at once.
 */
static __always_inline __u64 wakeup_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > 4 * 1024 * 1024 ?
		       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/*
 * Under backlog the last quarter of the ring is kept for what verdicts
 * need (unaudited syscalls, process records): audit records and audited
 * syscalls are shed first, and counted.  The kernel still matches tokens,
 * so shedding loses context, never a verdict.
 */
static __always_inline int shed_low_priority(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > EVENTS_SIZE / 4 * 3;
}

static __always_inline void fill_hdr(struct pysec_hdr *h, __u32 type, struct task_struct *task)
{
	h->type = type;
	h->pid = BPF_CORE_READ(task, tgid);
	h->tid = BPF_CORE_READ(task, pid);
	h->ns_tid = pid_nr_in_own_ns(BPF_CORE_READ(task, thread_pid));
	h->ns_pid = pid_nr_in_own_ns(BPF_CORE_READ(task, group_leader, thread_pid));
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->ts_ns = bpf_ktime_get_ns();
	BPF_CORE_READ_STR_INTO(&h->comm, task, comm);
}

static __always_inline void *reserve(__u64 size, __u32 type, struct task_struct *task)
{
	struct pysec_hdr *h = bpf_ringbuf_reserve(&events, size, 0);

	if (!h) {
		count(PYSEC_CNT_RB_LOST);
		return NULL;
	}
	fill_hdr(h, type, task);
	return h;
}

static __always_inline int is_tracked(__u32 tgid)
{
	return bpf_map_lookup_elem(&tracked, &tgid) != NULL;
}

static __always_inline void token_put(__u32 tid, __u64 key, __u32 flags, __u64 seq)
{
	struct token_set *ts = bpf_map_lookup_elem(&tokens, &tid);
	__u64 now = bpf_ktime_get_ns(), oldest = ~0ULL;
	int slot = 0;

	if (!ts) {
		struct token_set zero = {};

		bpf_map_update_elem(&tokens, &tid, &zero, BPF_NOEXIST);
		ts = bpf_map_lookup_elem(&tokens, &tid);
		if (!ts) {
			count(PYSEC_CNT_TOKENS_FULL);
			return;
		}
	}
	/* the same expectation again (io.open then FileIO): refresh it */
	for (int i = 0; i < TOKENS_PER_THREAD; i++) {
		struct token *t = &ts->t[i];

		if (t->flags == flags && t->key == key) {
			slot = i;
			goto store;
		}
		if (!t->flags || now - t->ts > TOKEN_TTL_NS) {
			slot = i;
			oldest = 0;
		} else if (oldest && t->ts < oldest) {
			slot = i;
			oldest = t->ts;
		}
	}
store:
	if (slot < 0 || slot >= TOKENS_PER_THREAD)
		return;
	ts->t[slot].key = key;
	ts->t[slot].seq = seq;
	ts->t[slot].ts = now;
	ts->t[slot].flags = flags;
}

/*
 * Find a live token of `kind` for this syscall; consume it when asked.
 * Returns the matched audit seq (0: none) and sets *why otherwise.
 */
static __always_inline __u64 token_match(__u32 tid, __u32 kind, __u64 key, __u16 port,
					 int consume, __u32 *why)
{
	struct token_set *ts = bpf_map_lookup_elem(&tokens, &tid);
	__u64 now = bpf_ktime_get_ns();
	int had_kind = 0;

	if (!ts) {
		*why = PYSEC_WHY_NO_TOKEN;
		return 0;
	}
	for (int i = 0; i < TOKENS_PER_THREAD; i++) {
		struct token *t = &ts->t[i];
		__u32 f = t->flags;

		if (!f || PYSEC_TK_OF(f) != kind || now - t->ts > TOKEN_TTL_NS)
			continue;
		had_kind = 1;
		if ((f & PYSEC_F_KEY_ANY) || ((f & PYSEC_F_KEY_PORT) && t->key == port) ||
		    (!(f & (PYSEC_F_KEY_ANY | PYSEC_F_KEY_PORT)) && t->key == key)) {
			__u64 seq = t->seq;

			if (consume)
				t->flags = 0;
			return seq ? seq : 1;
		}
	}
	*why = had_kind ? PYSEC_WHY_KEY : PYSEC_WHY_NO_TOKEN;
	return 0;
}

/*
 * The hook arms: key holds the address of its bridge (hookmod/pysechook_abi.h),
 * read now, before any code of the program ran, and trusted from then on.
 * The trap reports the address after the breakpoint, or the site itself.
 */
static __always_inline void bridge_note(struct pysec_tracked *tp, __u64 addr, __u64 ip)
{
	struct pysec_bridge b = {};
	__u8 insn = 0;

	if (bpf_probe_read_user(&b, sizeof(b), (const void *)addr) != 0 ||
	    b.magic != PYSEC_BRIDGE_MAGIC)
		return;
	tp->bridge_slot = b.slot;
	tp->bridge_entry = b.entry;
	tp->bridge_fn = b.fn;
	tp->bridge_sem = b.semaphore;
	if (bpf_probe_read_user(&insn, 1, (const void *)(ip - 1)) == 0 && insn == 0xcc)
		tp->bridge_site = ip - 1;
	else if (bpf_probe_read_user(&insn, 1, (const void *)ip) == 0 && (insn == 0xcc || insn == 0xe8))
		tp->bridge_site = ip;
}

/*
 * An unaudited syscall: is the bridge still whole?  Read from the process
 * at the syscall, while it cannot change anything: native code may have
 * unlinked our hook, redirected it, zeroed the semaphore or put the
 * original instruction back over the kernel's breakpoint.
 */
static __always_inline __u32 bridge_check(const struct pysec_tracked *tp)
{
	__u64 head = 0, fn = 0;
	__u16 sem = 1;
	__u8 insn = 0xcc;
	__u32 broken = 0;

	if (!tp->bridge_fn)
		return 0;
	if (tp->bridge_slot &&
	    bpf_probe_read_user(&head, sizeof(head), (const void *)tp->bridge_slot) == 0 &&
	    head != tp->bridge_entry)
		broken |= PYSEC_BRIDGE_HOOK_LIST;
	if (tp->bridge_entry &&
	    bpf_probe_read_user(&fn, sizeof(fn), (const void *)(tp->bridge_entry + 8)) == 0 &&
	    fn != tp->bridge_fn)
		broken |= PYSEC_BRIDGE_HOOK_FN;
	if (tp->bridge_sem && bpf_probe_read_user(&sem, sizeof(sem), (const void *)tp->bridge_sem) == 0 &&
	    !sem)
		broken |= PYSEC_BRIDGE_SEMAPHORE;
	if (tp->bridge_site && bpf_probe_read_user(&insn, 1, (const void *)tp->bridge_site) == 0 &&
	    insn != 0xcc && insn != 0xe8)
		broken |= PYSEC_BRIDGE_PROBE_SITE;
	return broken;
}

#define SIGSTOP_ 19
#define SIGCONT_ 18

static __always_inline void stops_add(__u32 tgid, __s64 d)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(&stops, &tgid);

	if (n)
		__sync_fetch_and_add(n, d);
	else if (d > 0 && bpf_map_update_elem(&stops, &tgid, &one, BPF_NOEXIST) != 0 &&
		 (n = bpf_map_lookup_elem(&stops, &tgid)))
		__sync_fetch_and_add(n, d);
}

/*
 * The event that follows a held resolver query decides it (baseline.c):
 * stop the process there, so that a kill lands before its code goes on.
 */
static __always_inline int stop_at_held_query(struct pysec_audit_rec *r)
{
	__u32 tid = r->h.tid;

	if (!bpf_map_lookup_elem(&held_queries, &tid))
		return 0;
	bpf_map_delete_elem(&held_queries, &tid);
	r->kflags |= PYSEC_AUDIT_STOPPED;
	stops_add(r->h.pid, 1);
	bpf_send_signal(SIGSTOP_);
	return 1;
}

SEC("usdt")
int BPF_USDT(usdt__audit, __u64 seq, const char *event, const void *args, __u32 args_len,
	     __u64 key, __u32 flags, const char *file, __u32 line)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct pysec_audit_rec *r;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 n = args_len & 0xffff;

	struct pysec_tracked *tp = bpf_map_lookup_elem(&tracked, &tgid);

	if (!tp && track_on_audit) {
		struct pysec_tracked v = {
			.ppid = BPF_CORE_READ(task, real_parent, tgid),
			.hooked = 1,
			.start_ns = bpf_ktime_get_ns(),
		};

		if (bpf_map_update_elem(&tracked, &tgid, &v, BPF_NOEXIST) != 0)
			count(PYSEC_CNT_TRACKED_FULL);
		tp = bpf_map_lookup_elem(&tracked, &tgid);
	}
	if (!trace_all_hooked && !tp)
		return 0;
	if (tp && !tp->hooked)
		tp->hooked = 1;
	if ((flags & PYSEC_F_ARMED) && key && tp)
		bridge_note(tp, key, PT_REGS_IP(ctx));
	if (tp && seq > tp->last_seq)
		tp->last_seq = seq; /* produced, whether or not the record fits */
	if (PYSEC_TK_OF(flags) != PYSEC_TK_NONE)
		token_put((__u32)bpf_get_current_pid_tgid(), key, flags & (PYSEC_TK_MASK |
					PYSEC_F_KEY_ANY | PYSEC_F_KEY_PORT), seq);
	if (shed_low_priority()) {
		count(PYSEC_CNT_SHED_AUDIT);
		return 0;
	}
	r = reserve(sizeof(*r), PYSEC_REC_AUDIT, task);
	if (!r) {
		count(PYSEC_CNT_RB_LOST_AUDIT); /* user space checks seq gaps against it */
		return 0;
	}
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
	r->kflags = 0;
	if (bpf_probe_read_user_str(r->event, sizeof(r->event), event) < 0)
		r->event[0] = 0;
	r->line = line;
	r->pad2 = 0;
	if (!file || bpf_probe_read_user_str(r->file, sizeof(r->file), file) < 0)
		r->file[0] = 0;
	if (enforce && stop_at_held_query(r)) {
		bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
		return 0;
	}
	bpf_ringbuf_submit(r, wakeup_flags());
	return 0;
}

/*
 * subprocess.Popen, os.system, os.posix_spawn announce an exec that the
 * child they fork (or vfork/clone) performs: the exec token moves to it.
 */
static __always_inline void move_exec_tokens(__u32 ptid, __u32 ctid)
{
	struct token_set *pts = bpf_map_lookup_elem(&tokens, &ptid);
	struct token_set cts = {};
	__u64 now = bpf_ktime_get_ns();
	int moved = 0;

	if (!pts)
		return;
	for (int i = 0; i < TOKENS_PER_THREAD; i++) {
		struct token *t = &pts->t[i];

		if (!t->flags || PYSEC_TK_OF(t->flags) != PYSEC_TK_EXEC || now - t->ts > TOKEN_TTL_NS)
			continue;
		cts.t[i] = *t;
		cts.t[i].ts = now;
		t->flags = 0;
		moved = 1;
	}
	if (moved && bpf_map_update_elem(&tokens, &ctid, &cts, BPF_ANY) != 0)
		count(PYSEC_CNT_TOKENS_FULL);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tp_btf__sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct pysec_tracked v = {};
	struct pysec_proc_rec *r;

	if (ptgid == ctgid || !is_tracked(ptgid)) /* a thread, or untracked */
		return 0;
	struct pysec_tracked *ptp = bpf_map_lookup_elem(&tracked, &ptgid);

	if (ptp) /* a fork runs the same image, its bridge at the same addresses */
		v = *ptp;
	v.ppid = ptgid;
	if (fork_unhooked) /* attach: judged once the child's own events flow */
		v.hooked = 0;
	v.last_seq = 0; /* the hook restarts its seq in a fork child */
	v.start_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&tracked, &ctgid, &v, BPF_ANY) != 0)
		count(PYSEC_CNT_TRACKED_FULL);
	move_exec_tokens(BPF_CORE_READ(parent, pid), BPF_CORE_READ(child, pid));
	r = reserve(sizeof(*r), PYSEC_REC_FORK, parent);
	if (!r)
		return 0;
	r->child_pid = ctgid;
	r->exit_code = 0;
	r->filename[0] = 0;
	r->last_seq = 0;
	bpf_ringbuf_submit(r, wakeup_flags());
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
	struct pysec_tracked *tp = bpf_map_lookup_elem(&tracked, &tgid);
	__u64 last_seq = tp ? tp->last_seq : 0;

	bpf_map_delete_elem(&tracked, &tgid);
	if (enforce)
		bpf_map_delete_elem(&stops, &tgid);
	r = reserve(sizeof(*r), PYSEC_REC_EXIT, p);
	if (!r)
		return 0;
	r->last_seq = last_seq;
	r->child_pid = 0;
	r->exit_code = BPF_CORE_READ(p, exit_code);
	r->filename[0] = 0;
	bpf_ringbuf_submit(r, wakeup_flags());
	return 0;
}

/* ---- monitored syscalls (x86-64 numbers) */
#define NR_open 2
#define NR_connect 42
#define NR_sendto 44
#define NR_sendmsg 46
#define NR_execve 59
#define NR_creat 85
#define NR_openat 257
#define NR_sendmmsg 307
#define NR_execveat 322
#define NR_io_uring_setup 425
#define NR_openat2 437
#define NR_ptrace 101
#define NR_process_vm_writev 311

#define AT_FDCWD_ -100
#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10

static __always_inline __u64 fnv_step(__u64 h, __u8 c)
{
	return (h ^ c) * PYSEC_FNV_PRIME;
}

/* Hash of a NUL-terminated string in a buffer of max bytes. */
static __always_inline __u64 hash_str(const char *p, int max, int basename)
{
	__u64 h = PYSEC_FNV_OFFSET;

	for (int i = 0; i < max; i++) {
		__u8 c = p[i];

		if (!c)
			break;
		if (basename && c == '/')
			h = PYSEC_FNV_OFFSET;
		else
			h = fnv_step(h, c);
	}
	return h;
}

/* Hash of the path (whole, or its basename) as both sides compute it. */
static __always_inline __u64 hash_path(const char *p, int basename)
{
	return hash_str(p, PYSEC_HASH_MAX, basename);
}

static __always_inline int read_path(struct pysec_sys_rec *r, const char *up)
{
	long n = bpf_probe_read_user_str(r->path, sizeof(r->path), up);

	if (n <= 0) {
		r->path[0] = 0;
		r->path_len = 0;
		return -1;
	}
	r->path_len = (__u32)(n - 1);
	return 0;
}

/* Returns 1 when the address is one we monitor (inet, inet6, unix). */
static __always_inline int read_sockaddr(struct pysec_sys_rec *r, const void *uaddr, __u32 alen)
{
	__u16 fam = 0;
	__u8 port[2] = {};

	if (!uaddr || bpf_probe_read_user(&fam, sizeof(fam), uaddr) != 0)
		return 0;
	r->family = fam;
	if (fam == AF_INET_) {
		bpf_probe_read_user(port, 2, uaddr + 2);
		bpf_probe_read_user(r->addr, 4, uaddr + 4);
	} else if (fam == AF_INET6_) {
		bpf_probe_read_user(port, 2, uaddr + 2);
		bpf_probe_read_user(r->addr, 16, uaddr + 8);
	} else if (fam == AF_UNIX_) {
		if (alen <= 2 || read_path(r, uaddr + 2) < 0)
			r->path[0] = 0, r->path_len = 0;
		r->key = hash_path(r->path, 0);
		return 1;
	} else {
		return 0;
	}
	r->port = ((__u16)port[0] << 8) | port[1];
	__u64 h = PYSEC_FNV_OFFSET;

	h = fnv_step(h, fam & 0xff);
	h = fnv_step(h, fam >> 8);
	h = fnv_step(h, port[0]);
	h = fnv_step(h, port[1]);
	for (int i = 0; i < 16; i++) {
		if (fam == AF_INET_ && i >= 4)
			break;
		h = fnv_step(h, r->addr[i]);
	}
	r->key = h;
	return 1;
}

/*
 * argv as NUL-separated strings: each read starts in the first half of the
 * buffer and may fill at most half of it, so the verifier can bound both.
 */
static __always_inline void read_argv(struct pysec_sys_rec *r, const char *const *argv)
{
	const __u32 half = PYSEC_SYS_ARGV_MAX / 2;
	__u32 off = 0;

	for (int i = 0; i < 8 && argv; i++) {
		const char *a = NULL;
		long n;

		if (off >= half)
			break;
		if (bpf_probe_read_user(&a, sizeof(a), &argv[i]) != 0 || !a)
			break;
		__u64 o = off;

		asm volatile("" : "+r"(o)); /* mask the register the access uses */
		o &= half - 1;
		n = bpf_probe_read_user_str(&r->argv[o], half, a);
		if (n <= 0)
			break;
		off += (__u32)n;
	}
	r->argv_len = off;
}

struct msghdr_user {
	void *name;
	int namelen;
};

static __always_inline int sys_args(struct pysec_sys_rec *r, long nr, struct pt_regs *regs,
				    __u32 *kind)
{
	unsigned long a0 = BPF_CORE_READ(regs, di), a1 = BPF_CORE_READ(regs, si);
	unsigned long a2 = BPF_CORE_READ(regs, dx), a3 = BPF_CORE_READ(regs, r10);
	unsigned long a4 = BPF_CORE_READ(regs, r8);
	int unreadable = 0;

	r->dirfd = AT_FDCWD_;
	switch (nr) {
	case NR_open:
	case NR_creat:
	case NR_openat:
	case NR_openat2: {
		const char *path = (const char *)(nr == NR_openat || nr == NR_openat2 ? a1 : a0);

		*kind = PYSEC_TK_PATH;
		if (nr == NR_openat || nr == NR_openat2)
			r->dirfd = (int)a0;
		if (nr == NR_open) {
			r->flags = a1;
			r->mode = (__u32)a2;
		} else if (nr == NR_creat) {
			r->flags = 01 | 0100 | 01000; /* O_WRONLY|O_CREAT|O_TRUNC */
			r->mode = (__u32)a1;
		} else if (nr == NR_openat) {
			r->flags = a2;
			r->mode = (__u32)a3;
		} else {
			struct { __u64 flags, mode, resolve; } how = {};

			bpf_probe_read_user(&how, sizeof(how), (void *)a2);
			r->flags = how.flags;
			r->mode = (__u32)how.mode;
		}
		r->uptr = (__u64)path;
		unreadable = read_path(r, path) < 0;
		r->key = hash_path(r->path, 0);
		break;
	}
	case NR_connect:
		*kind = PYSEC_TK_CONNECT;
		r->dirfd = (int)a0; /* the socket, for confirm() at sys_exit */
		if (!read_sockaddr(r, (void *)a1, (__u32)a2))
			return -1;
		break;
	case NR_sendto:
		*kind = PYSEC_TK_CONNECT;
		r->flags = a3;
		if (!a4 || !read_sockaddr(r, (void *)a4, (__u32)BPF_CORE_READ(regs, r9)))
			return -1; /* no destination: a connected socket */
		break;
	case NR_sendmsg:
	case NR_sendmmsg: {
		struct msghdr_user m = {};

		*kind = PYSEC_TK_CONNECT;
		r->flags = nr == NR_sendmsg ? a2 : a3;
		if (bpf_probe_read_user(&m, sizeof(m), (void *)a1) != 0 || !m.name ||
		    !read_sockaddr(r, m.name, (__u32)m.namelen))
			return -1;
		break;
	}
	case NR_execve:
	case NR_execveat:
		*kind = PYSEC_TK_EXEC;
		if (nr == NR_execveat) {
			r->dirfd = (int)a0;
			r->flags = a4;
			r->uptr = a1;
			unreadable = read_path(r, (const char *)a1) < 0;
			read_argv(r, (const char *const *)a2);
		} else {
			r->uptr = a0;
			unreadable = read_path(r, (const char *)a0) < 0;
			read_argv(r, (const char *const *)a1);
		}
		r->key = hash_path(r->path, 1);
		break;
	case NR_ptrace:
		/* only requests that take control of, or write to, another process */
		if (a0 != 4 && a0 != 5 && a0 != 6 && a0 != 13 && a0 != 15 && a0 != 16 &&
		    a0 != 0x4205 && a0 != 0x4206)
			return -1;
		*kind = PYSEC_TK_NONE;
		r->flags = a0;     /* the request */
		r->dirfd = (int)a1; /* the target */
		break;
	case NR_process_vm_writev:
		*kind = PYSEC_TK_NONE;
		r->dirfd = (int)a0; /* the target */
		break;
	case NR_io_uring_setup:
		*kind = PYSEC_TK_NONE;
		r->flags = a0; /* entries */
		break;
	default:
		return -1;
	}
	if (unreadable)
		r->why |= PYSEC_WHY_UNREADABLE;
	return 0;
}

static __always_inline int sys_slot(__u32 nr)
{
	switch (nr) {
	case NR_open: return PYSEC_SLOT_OPEN;
	case NR_creat: return PYSEC_SLOT_CREAT;
	case NR_openat: return PYSEC_SLOT_OPENAT;
	case NR_openat2: return PYSEC_SLOT_OPENAT2;
	case NR_connect: return PYSEC_SLOT_CONNECT;
	case NR_sendto: return PYSEC_SLOT_SENDTO;
	case NR_sendmsg: return PYSEC_SLOT_SENDMSG;
	case NR_sendmmsg: return PYSEC_SLOT_SENDMMSG;
	case NR_execve: return PYSEC_SLOT_EXECVE;
	case NR_execveat: return PYSEC_SLOT_EXECVEAT;
	case NR_io_uring_setup: return PYSEC_SLOT_IO_URING_SETUP;
	case NR_ptrace: return PYSEC_SLOT_PTRACE;
	case NR_process_vm_writev: return PYSEC_SLOT_PROCESS_VM_WRITEV;
	}
	return -1;
}

/* The verdict as it stands at sys_exit, per syscall (metrics). */
static __always_inline void count_verdict(const struct pysec_sys_rec *r)
{
	int slot = sys_slot(r->nr);
	__u32 v = r->verdict;

	if (slot >= 0 && slot < PYSEC_SLOT_MAX && v < PYSEC_SYS_VERDICTS)
		__sync_fetch_and_add(&sys_counts[slot][v], 1);
}

static __always_inline int monitored(long nr)
{
	switch (nr) {
	case NR_open: case NR_creat: case NR_openat: case NR_openat2:
	case NR_connect: case NR_sendto: case NR_sendmsg: case NR_sendmmsg:
	case NR_execve: case NR_execveat: case NR_io_uring_setup:
	case NR_ptrace: case NR_process_vm_writev:
		return 1;
	}
	return 0;
}

/*
 * The verdict for a hooked process: a matching token → audited.  An
 * argument that cannot be read is unaudited unless sys_exit can read it
 * (a page the kernel faulted in meanwhile, typical in a fresh fork).
 */
static __always_inline void decide(struct pysec_sys_rec *r, __u32 tid)
{
	__u32 why = 0;

	if (r->verdict != PYSEC_V_UNAUDITED)
		return;
	if (r->token_kind == PYSEC_TK_NONE) {
		r->why |= PYSEC_WHY_NO_PYTHON_API;
		return;
	}
	if (r->why & PYSEC_WHY_UNREADABLE)
		return;
	/* an exec token survives the failed attempts of a PATH search */
	r->seq = token_match(tid, r->token_kind, r->key, r->port,
			     r->token_kind != PYSEC_TK_EXEC, &why);
	r->verdict = r->seq ? PYSEC_V_AUDITED : PYSEC_V_UNAUDITED;
	r->why |= why;
}

/* Second chance for a path unreadable at sys_enter (see decide()). */
static __always_inline void reread_path(struct pysec_sys_rec *r, const char *kpath, __u32 tid)
{
	long n;

	if (!(r->why & PYSEC_WHY_UNREADABLE))
		return;
	if (kpath)
		n = bpf_probe_read_kernel_str(r->path, sizeof(r->path), kpath);
	else
		n = bpf_probe_read_user_str(r->path, sizeof(r->path), (const void *)r->uptr);
	if (n <= 0)
		return;
	r->path_len = (__u32)(n - 1);
	r->key = hash_path(r->path, r->token_kind == PYSEC_TK_EXEC);
	r->why &= ~PYSEC_WHY_UNREADABLE;
	r->why |= PYSEC_WHY_REREAD;
	decide(r, tid);
}

#define VM_WRITE_ 0x2
#define VM_EXEC_ 0x4

struct origin {
	__u32 origin_flags;
	char origin[PYSEC_ORIGIN_MAX];
};

static long origin_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct origin *r = data;
	struct file *f = BPF_CORE_READ(vma, vm_file);
	unsigned long fl = BPF_CORE_READ(vma, vm_flags);

	r->origin_flags = PYSEC_ORIGIN_FOUND | (fl & VM_EXEC_ ? PYSEC_ORIGIN_EXEC : 0) |
			  (fl & VM_WRITE_ ? PYSEC_ORIGIN_WRITE : 0);
	if (f) {
		r->origin_flags |= PYSEC_ORIGIN_FILE;
		bpf_probe_read_kernel_str(r->origin, sizeof(r->origin),
					  BPF_CORE_READ(f, f_path.dentry, d_name.name));
	}
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_btf__sys_enter, struct pt_regs *regs, long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid, zero = 0, kind = 0;
	struct pysec_tracked *tp;
	struct pysec_sys_rec *r;

	if (!monitored(id))
		return 0;
	tp = bpf_map_lookup_elem(&tracked, &tgid);
	if (!tp)
		return 0;
	r = bpf_map_lookup_elem(&sys_scratch, &zero);
	if (!r)
		return 0;
	__builtin_memset(r, 0, sizeof(*r));
	fill_hdr(&r->h, PYSEC_REC_SYSCALL, (struct task_struct *)bpf_get_current_task_btf());
	r->enter_ns = r->h.ts_ns;
	r->nr = (__u32)id;
	r->ip = BPF_CORE_READ(regs, ip);
	if (sys_args(r, id, regs, &kind) < 0)
		return 0;
	r->token_kind = kind;
	r->verdict = tp->hooked ? PYSEC_V_UNAUDITED : PYSEC_V_UNHOOKED;
	decide(r, tid);
	/* where the call came from matters to an alert: not for audited ones */
	if (r->verdict != PYSEC_V_AUDITED || emit_audited) {
		struct origin o = {};

		bpf_find_vma((struct task_struct *)bpf_get_current_task_btf(), r->ip, origin_cb, &o, 0);
		r->origin_flags = o.origin_flags;
		__builtin_memcpy(r->origin, o.origin, sizeof(r->origin));
	}
	if (bpf_map_update_elem(&pending, &tid, r, BPF_ANY) != 0)
		count(PYSEC_CNT_PENDING_FULL);
	return 0;
}

static __always_inline struct file *fd_file(long fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	struct file **fds = BPF_CORE_READ(t, files, fdt, fd);
	struct file *f = NULL;

	if (fd < 0 || !fds)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/*
 * Confirm an audited verdict against the kernel's own objects: another
 * thread may have swapped the argument after sys_enter read it.
 */
static __always_inline void confirm(struct pysec_sys_rec *r, long ret)
{
	struct file *f;

	if (r->token_kind == PYSEC_TK_PATH && ret >= 0) {
		f = fd_file(ret);
		if (!f)
			return;
		bpf_probe_read_kernel_str(r->opened, sizeof(r->opened),
					  BPF_CORE_READ(f, f_path.dentry, d_name.name));
		if (hash_str(r->opened, PYSEC_ORIGIN_MAX - 1, 0) != hash_path(r->path, 1) && r->path_len &&
		    r->path[0] && !(r->path_len == 1 && r->path[0] == '.'))
			r->why |= PYSEC_WHY_NAME_DIFFERS;
		return;
	}
	if (r->nr == NR_connect && (ret == 0 || ret == -115 /* EINPROGRESS */) &&
	    r->verdict == PYSEC_V_AUDITED && (r->family == AF_INET_ || r->family == AF_INET6_)) {
		struct socket *sock;
		struct sock *sk;
		__u16 dport;
		__u8 daddr[16] = {};

		f = fd_file(r->dirfd);
		if (!f)
			return;
		sock = BPF_CORE_READ(f, private_data);
		sk = BPF_CORE_READ(sock, sk);
		dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (r->family == AF_INET_) {
			__be32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);

			__builtin_memcpy(daddr, &a, 4);
		} else {
			BPF_CORE_READ_INTO(&daddr, sk, __sk_common.skc_v6_daddr);
		}
		int differs = dport != r->port;

		for (int i = 0; i < 16; i++)
			if (i < (r->family == AF_INET_ ? 4 : 16) && daddr[i] != r->addr[i])
				differs = 1;
		if (differs) {
			r->verdict = PYSEC_V_UNAUDITED;
			r->why |= PYSEC_WHY_SWAPPED;
		}
	}
}

/* ---- enforcement (rodata `enforce`; docs/enforcement.md) */

/*
 * What waits for user space: every unaudited syscall of a hooked process,
 * an inet connect/send the cgroup hooks refused too (the decision may be
 * to kill a process that would otherwise go on to try another way).
 */
static __always_inline int must_stop(const struct pysec_sys_rec *r)
{
	return r->verdict == PYSEC_V_UNAUDITED;
}

/*
 * Stop the whole process, then queue the record with a wakeup: the signal
 * is taken before the thread returns to user mode, and is pending before
 * user space can read the record and resume it.  No record, no stop (a
 * process stopped with nothing to judge would never be resumed).
 */
static __always_inline void stop_for_judgment(struct pysec_sys_rec *r)
{
	r->why |= PYSEC_WHY_STOPPED;
	stops_add(r->h.pid, 1);
	bpf_send_signal(SIGSTOP_);
	if (bpf_ringbuf_output(&events, r, sizeof(*r), BPF_RB_FORCE_WAKEUP) != 0) {
		count(PYSEC_CNT_RB_LOST);
		count(PYSEC_CNT_STOP_LOST);
		stops_add(r->h.pid, -1);
		bpf_send_signal(SIGCONT_); /* cancels the pending stop */
	}
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf__sys_exit, struct pt_regs *regs, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pysec_sys_rec *r = bpf_map_lookup_elem(&pending, &tid);

	if (!r)
		return 0;
	r->ret = ret;
	r->h.ts_ns = bpf_ktime_get_ns();
	if (r->token_kind == PYSEC_TK_PATH)
		reread_path(r, NULL, tid);
	confirm(r, ret);
	if (r->verdict == PYSEC_V_UNAUDITED) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		struct pysec_tracked *tp = bpf_map_lookup_elem(&tracked, &tgid);

		if (tp)
			r->bridge = bridge_check(tp);
	}
	count_verdict(r);
	if (r->verdict == PYSEC_V_AUDITED && !emit_audited && !(r->why & PYSEC_WHY_NAME_DIFFERS) &&
	    !(r->path[0] == '/' && r->path[1] == 'p' && r->path[2] == 'r' && r->path[3] == 'o' &&
	      r->path[4] == 'c' && r->path[5] == '/')) {
		count(PYSEC_CNT_AUDITED_SYSCALLS);
		bpf_map_delete_elem(&pending, &tid);
		return 0;
	}
	if ((r->nr == NR_execve || r->nr == NR_execveat) && ret == 0 &&
	    r->verdict == PYSEC_V_AUDITED) {
		__u32 why = 0;

		token_match(tid, PYSEC_TK_EXEC, r->key, 0, 1, &why); /* consumed */
	}
	if (enforce && must_stop(r))
		stop_for_judgment(r);
	else if (r->verdict == PYSEC_V_AUDITED && shed_low_priority())
		count(PYSEC_CNT_SHED_SYSCALL);
	else if (bpf_ringbuf_output(&events, r, sizeof(*r), wakeup_flags()) != 0)
		count(PYSEC_CNT_RB_LOST);
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_btf__sched_process_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(p, tgid), tid = BPF_CORE_READ(p, pid);
	struct pysec_tracked *tp = bpf_map_lookup_elem(&tracked, &tgid);
	struct pysec_proc_rec *r;

	if (!tp)
		return 0;
	struct pysec_sys_rec *pr = bpf_map_lookup_elem(&pending, &tid);

	/* the old image's memory is gone at sys_exit: read the kernel's copy */
	if (pr && pr->token_kind == PYSEC_TK_EXEC) {
		char file[PYSEC_PATH_MAX];

		reread_path(pr, BPF_CORE_READ(bprm, filename), tid);
		/* the binary the kernel is executing must be the one matched */
		if (pr->verdict == PYSEC_V_AUDITED &&
		    bpf_probe_read_kernel_str(file, sizeof(file), BPF_CORE_READ(bprm, filename)) > 0 &&
		    hash_path(file, 1) != pr->key) {
			pr->verdict = PYSEC_V_UNAUDITED;
			pr->why |= PYSEC_WHY_SWAPPED;
		}
	}
	tp->hooked = 0; /* a new image: held to its hook once that arms */
	__u64 last_seq = tp->last_seq;

	tp->last_seq = 0;
	tp->bridge_slot = tp->bridge_entry = tp->bridge_fn = tp->bridge_sem = tp->bridge_site = 0;
	bpf_map_delete_elem(&tokens, &tid);
	r = reserve(sizeof(*r), PYSEC_REC_EXEC, p);
	if (!r)
		return 0;
	r->last_seq = last_seq;
	r->child_pid = 0;
	r->exit_code = 0;
	if (bpf_probe_read_kernel_str(r->filename, sizeof(r->filename),
				      BPF_CORE_READ(bprm, filename)) < 0)
		r->filename[0] = 0;
	bpf_ringbuf_submit(r, wakeup_flags());
	return 0;
}

/*
 * cgroup sock_addr hooks: the kernel's own copy of the address, before any
 * packet exists.  The thread's pending syscall record (sys_enter) holds the
 * verdict; an audited one must name this very address (else another thread
 * swapped it after sys_enter read it).  Unaudited: refused with EPERM,
 * except a resolver query to a nameserver of /etc/resolv.conf on port 53,
 * which user space judges by the thread's audit events (baseline.c).
 */
static __always_inline int net_allow(struct bpf_sock_addr *ctx, __u16 family)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct pysec_tracked *tp = bpf_map_lookup_elem(&tracked, &tgid);
	struct pysec_ns_key ns = { .family = family };
	struct pysec_sys_rec *r;
	__u16 port;
	int same;

	if (!tp || !tp->hooked)
		return 1;
	port = bpf_ntohs((__u16)ctx->user_port);
	if (family == AF_INET_) {
		__u32 a = ctx->user_ip4;

		__builtin_memcpy(ns.addr, &a, 4);
	} else { /* constant offsets: the verifier refuses a moving ctx pointer */
		__u32 a[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
			       ctx->user_ip6[3] };

		__builtin_memcpy(ns.addr, a, 16);
	}
	r = bpf_map_lookup_elem(&pending, &tid);
	if (!r || r->token_kind != PYSEC_TK_CONNECT) {
		count(PYSEC_CNT_NET_DENIED_UNSEEN);
		return 0;
	}
	if (r->verdict == PYSEC_V_UNHOOKED)
		return 1;
	same = r->family == family && r->port == port;
	for (int i = 0; i < 16; i++)
		if (i < (family == AF_INET_ ? 4 : 16) && r->addr[i] != ns.addr[i])
			same = 0;
	if (r->verdict == PYSEC_V_AUDITED) {
		if (same)
			return 1;
		r->verdict = PYSEC_V_UNAUDITED;
		r->why |= PYSEC_WHY_SWAPPED;
	}
	if (same && port == 53 && bpf_map_lookup_elem(&nameservers, &ns)) {
		__u8 one = 1;

		bpf_map_update_elem(&held_queries, &tid, &one, BPF_ANY);
		return 1;
	}
	r->why |= PYSEC_WHY_DENIED;
	return 0;
}

SEC("cgroup/connect4")
int cgroup__connect4(struct bpf_sock_addr *ctx)
{
	return net_allow(ctx, AF_INET_);
}

SEC("cgroup/connect6")
int cgroup__connect6(struct bpf_sock_addr *ctx)
{
	return net_allow(ctx, AF_INET6_);
}

SEC("cgroup/sendmsg4")
int cgroup__sendmsg4(struct bpf_sock_addr *ctx)
{
	return net_allow(ctx, AF_INET_);
}

SEC("cgroup/sendmsg6")
int cgroup__sendmsg6(struct bpf_sock_addr *ctx)
{
	return net_allow(ctx, AF_INET6_);
}

#include "stock.bpf.h" /* the stock python:audit probe (docs/stock-probe.md) */
