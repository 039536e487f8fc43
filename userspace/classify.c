// SPDX-License-Identifier: MIT
/*
 * classify.c — per-process and per-thread context from the record stream,
 * and the decision for every syscall the kernel found unaudited: explained
 * by the baseline (baseline.c) or an alert.  Identical alerts are counted,
 * not repeated.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "argdecode.h"
#include "classify.h"
#include "elfinfo.h"
#include "procinfo.h"

#define PROC_BUCKETS 4096
#define AGG_BUCKETS 4096

/* Linux's PID_MAX_LIMIT on 64-bit: one bit per pid, 512 KiB. */
#define PID_LIMIT (4u * 1024 * 1024)

struct lru {
	struct lru *prev, *next;
};

struct proc_node {
	struct pysec_proc p;
	struct proc_node *next;
	struct lru lru; /* most recently used first */
};

struct agg {
	uint64_t key;
	uint64_t count;
	const char *kind, *reason; /* as the first alert said them */
	uint32_t broken;
	struct pysec_sys_rec first; /* for the final report */
	struct pysec_proc *proc_copy;
	struct agg *next;
	struct lru lru;
};

#define AWAIT_MAX 64

struct pysec_classifier {
	pysec_alert_fn fn;
	void *ctx;
	uint64_t prearm_dropped;
	int kernel_lost; /* the ring buffer overflowed at some point */
	/* CPython images that have not armed yet: pid and deadline */
	struct { uint32_t pid; uint64_t deadline; } awaiting[AWAIT_MAX];
	unsigned nawaiting;
	struct proc_node *procs[PROC_BUCKETS];
	struct agg *aggs[AGG_BUCKETS];
	struct lru proc_lru, agg_lru;
	unsigned max_procs, max_aggs;
	struct pysec_classifier_stats st;
	uint8_t *evicted; /* bitmap by pid: state evicted, process not seen to end */
};

#define LRU_ENTRY(ptr, type) ((type *)((char *)(ptr) - offsetof(type, lru)))

static void lru_unlink(struct lru *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
}

static void lru_push(struct lru *head, struct lru *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

static void lru_touch(struct lru *head, struct lru *n)
{
	lru_unlink(n);
	lru_push(head, n);
}

static int evicted_test(const struct pysec_classifier *c, uint32_t pid)
{
	return c->evicted && pid < PID_LIMIT && (c->evicted[pid / 8] & (1u << (pid % 8)));
}

static void evicted_set(struct pysec_classifier *c, uint32_t pid, int on)
{
	if (pid >= PID_LIMIT)
		return;
	if (!c->evicted) {
		if (!on || !(c->evicted = calloc(PID_LIMIT / 8, 1)))
			return;
	}
	if (on)
		c->evicted[pid / 8] |= (uint8_t)(1u << (pid % 8));
	else
		c->evicted[pid / 8] &= (uint8_t)~(1u << (pid % 8));
}

struct pysec_classifier *pysec_classifier_new(pysec_alert_fn fn, void *ctx)
{
	struct pysec_classifier *c = calloc(1, sizeof(*c));

	if (c) {
		c->fn = fn;
		c->ctx = ctx;
		c->proc_lru.prev = c->proc_lru.next = &c->proc_lru;
		c->agg_lru.prev = c->agg_lru.next = &c->agg_lru;
		c->max_procs = PYSEC_MAX_PROCS_DEFAULT;
		c->max_aggs = PYSEC_MAX_ALERT_AGGS_DEFAULT;
	}
	return c;
}

void pysec_classifier_set_limits(struct pysec_classifier *c, unsigned max_procs,
				 unsigned max_aggs)
{
	c->max_procs = max_procs < PYSEC_MIN_TABLE ? PYSEC_MIN_TABLE : max_procs;
	c->max_aggs = max_aggs < PYSEC_MIN_TABLE ? PYSEC_MIN_TABLE : max_aggs;
}

void pysec_classifier_stats(const struct pysec_classifier *c, struct pysec_classifier_stats *s)
{
	*s = c->st;
}

static void thread_clear(struct pysec_thread *t)
{
	for (unsigned i = 0; i < PYSEC_CTX_EVENTS; i++) {
		json_object_put(t->last[i].args);
		t->last[i].args = NULL;
	}
	t->n = t->head = 0;
}

static void proc_free(struct proc_node *n)
{
	for (unsigned i = 0; i < PYSEC_THREADS_PER_PROC; i++)
		thread_clear(&n->p.threads[i]);
	free(n);
}

void pysec_classifier_free(struct pysec_classifier *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < PROC_BUCKETS; i++)
		for (struct proc_node *n = c->procs[i], *nx; n; n = nx) {
			nx = n->next;
			proc_free(n);
		}
	for (size_t i = 0; i < AGG_BUCKETS; i++)
		for (struct agg *a = c->aggs[i], *nx; a; a = nx) {
			nx = a->next;
			free(a->proc_copy);
			free(a);
		}
	free(c->evicted);
	free(c);
}

static void proc_unlink(struct pysec_classifier *c, struct proc_node *n)
{
	for (struct proc_node **pp = &c->procs[n->p.pid % PROC_BUCKETS]; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	}
	lru_unlink(&n->lru);
	c->st.procs--;
}

/*
 * The least recently used process goes: what it held for judgment is
 * counted as unjudged, and its pid is remembered so that, seen again, it
 * resumes in a state that cannot raise an alert wrongly.
 */
static void proc_evict_lru(struct pysec_classifier *c)
{
	struct proc_node *n = LRU_ENTRY(c->proc_lru.prev, struct proc_node);

	c->st.unjudged += n->p.nprearm + n->p.prearm_overflow;
	for (unsigned i = 0; i < PYSEC_THREADS_PER_PROC; i++)
		c->st.unjudged += !!n->p.threads[i].held_valid;
	evicted_set(c, n->p.pid, 1);
	proc_unlink(c, n);
	proc_free(n);
	c->st.proc_evictions++;
}

static struct pysec_proc *proc_get(struct pysec_classifier *c, uint32_t pid, int create)
{
	struct proc_node **b = &c->procs[pid % PROC_BUCKETS], *n;

	for (n = *b; n; n = n->next) {
		if (n->p.pid == pid) {
			lru_touch(&c->proc_lru, &n->lru);
			return &n->p;
		}
	}
	if (!create)
		return NULL;
	while (c->st.procs >= c->max_procs && c->proc_lru.prev != &c->proc_lru)
		proc_evict_lru(c);
	if (!(n = calloc(1, sizeof(*n))))
		return NULL;
	n->p.pid = pid;
	n->p.resumed = evicted_test(c, pid);
	n->next = *b;
	*b = n;
	lru_push(&c->proc_lru, &n->lru);
	c->st.procs++;
	return &n->p;
}

static void proc_drop(struct pysec_classifier *c, uint32_t pid)
{
	evicted_set(c, pid, 0);
	for (struct proc_node *n = c->procs[pid % PROC_BUCKETS]; n; n = n->next) {
		if (n->p.pid == pid) {
			proc_unlink(c, n);
			proc_free(n);
			return;
		}
	}
}

/* A new image: what the old one did and knew no longer applies. */
static void proc_new_image(struct pysec_proc *p, uint64_t ts)
{
	for (unsigned i = 0; i < PYSEC_THREADS_PER_PROC; i++) {
		thread_clear(&p->threads[i]);
		p->threads[i].tid = 0;
		p->threads[i].held_valid = 0;
	}
	p->armed = p->started = p->spawn_child = p->cleared = 0;
	p->events = 0;
	p->ndbs = p->nprearm = 0;
	p->prearm_overflow = 0;
	p->script[0] = 0;
	p->image_ns = ts;
	p->bridge_broken = 0;
	p->pykind = p->missing = p->ssl_loaded = p->native_ffi = 0;
	p->seq_first = p->seq_max = p->seq_seen = 0;
}

/* What the loader brought into the image that later rules rely on. */
static void note_library(struct pysec_proc *p, const char *rule, const char *path)
{
	const char *base = strrchr(path, '/');

	if (!rule || strcmp(rule, "ld_so_library_load") || !base)
		return;
	if (!strncmp(base + 1, "_ssl.", 5) || !strncmp(base + 1, "libssl.so", 9))
		p->ssl_loaded = 1;
}

static struct pysec_thread *thread_get(struct pysec_proc *p, uint32_t tid, int create)
{
	struct pysec_thread *t;

	for (unsigned i = 0; i < PYSEC_THREADS_PER_PROC; i++)
		if (p->threads[i].tid == tid)
			return &p->threads[i];
	if (!create)
		return NULL;
	t = &p->threads[p->nthreads_next++ % PYSEC_THREADS_PER_PROC];
	thread_clear(t);
	t->tid = tid;
	t->held_valid = 0;
	return t;
}

const struct pysec_event_ctx *pysec_thread_last(const struct pysec_thread *t, unsigned i)
{
	if (!t || i >= t->n)
		return NULL;
	return &t->last[(t->head + PYSEC_CTX_EVENTS - i) % PYSEC_CTX_EVENTS];
}

static void copy_cstr(char *dst, size_t cap, const char *src, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

/*
 * sqlite opens a relative database name as <cwd>/<name> (unixFullPathname):
 * resolve it against the process's working directory when it connects.
 */
static int db_abspath(uint32_t pid, const char *db, char *out, size_t len)
{
	char cwd[PYSEC_PATH_MAX];
	long n;

	if (pysec_lookup(PYSEC_Q_CWD, pid, "", cwd, sizeof(cwd)) <= 0)
		return -1;
	n = snprintf(out, len, "%s/%s", strcmp(cwd, "/") ? cwd : "", db);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * The file sqlite3.connect(database) opens: bytes back to raw bytes (the
 * decoder's \xNN and \\ escapes), a "file:" URI (uri=True) to its path,
 * percent-decoded, without the query.  -1: no file (":memory:", a mode=memory URI).
 */
static int sqlite_db_path(struct json_object *args, char *out, size_t len)
{
	struct json_object *a;
	const char *s;
	size_t o = 0;

	if (!args || json_object_array_length(args) < 1)
		return -1;
	a = json_object_array_get_idx(args, 0);
	if (json_object_is_type(a, json_type_object) && !json_object_object_get_ex(a, "bytes", &a))
		return -1;
	if (!json_object_is_type(a, json_type_string))
		return -1;
	s = json_object_get_string(a);
	if (!strcmp(s, ":memory:") || !*s)
		return -1;
	int uri = !strncmp(s, "file:", 5);

	if (uri) {
		if (strstr(s, "mode=memory"))
			return -1;
		s += 5;
		if (!strncmp(s, "//", 2)) /* file://host/path: keep the path */
			s = strchr(s + 2, '/') ? strchr(s + 2, '/') : s + 2;
	}
	for (; *s && o + 1 < len; s++) {
		if (uri && (*s == '?' || *s == '#'))
			break;
		if (s[0] == '\\' && s[1] == 'x' && hexval(s[2]) >= 0 && hexval(s[3]) >= 0) {
			out[o++] = (char)(hexval(s[2]) * 16 + hexval(s[3]));
			s += 3;
		} else if (s[0] == '\\' && s[1] == '\\') {
			out[o++] = '\\';
			s++;
		} else if (uri && s[0] == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			out[o++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = 0;
	return o ? 0 : -1;
}

/* First argument as text (str or bytes), for paths named by events. */
static const char *arg0_text(struct json_object *args)
{
	struct json_object *a;

	if (!args || json_object_array_length(args) < 1)
		return NULL;
	a = json_object_array_get_idx(args, 0);
	if (json_object_is_type(a, json_type_object) && !json_object_object_get_ex(a, "bytes", &a))
		return NULL;
	return json_object_is_type(a, json_type_string) ? json_object_get_string(a) : NULL;
}

static void on_audit(struct pysec_classifier *c, const struct pysec_audit_rec *r);
static void alert(struct pysec_classifier *c, struct pysec_proc *p, const struct pysec_sys_rec *r,
		  int prearm);
static void judge(struct pysec_classifier *c, struct pysec_proc *p, const struct pysec_sys_rec *r,
		  int prearm, const char **explained);

static void await_drop(struct pysec_classifier *c, uint32_t pid)
{
	for (unsigned i = 0; i < c->nawaiting; i++)
		if (c->awaiting[i].pid == pid)
			c->awaiting[i--] = c->awaiting[--c->nawaiting];
}

static void arm(struct pysec_classifier *c, struct pysec_proc *p)
{
	unsigned n = p->nprearm;

	await_drop(c, p->pid);
	p->armed = 1;
	p->nprearm = 0;
	c->prearm_dropped += p->prearm_overflow; /* a hooked Python after all */
	p->prearm_overflow = 0;
	/* the held pre-arm syscalls happened in a hooked Python after all */
	for (unsigned i = 0; i < n && i < PYSEC_PREARM_MAX; i++)
		judge(c, p, &p->prearm[i], 1, NULL);
}

/*
 * ctypes.dlsym(lib, name) for a symbol that holds or reaches the audit
 * hooks (the runtime's hook list, our hook's state and probe semaphore).
 */
static int aims_at_audit(struct json_object *args)
{
	static const char *const syms[] = {
		"_PyRuntime", "PySys_AddAuditHook", "_PySys_ClearAuditHooks",
		"pysechook_armed_in_process", "pysectrace_audit_semaphore",
		"python_audit_semaphore", "pysechook_bridge", NULL,
	};
	struct json_object *name;

	if (!args || json_object_array_length(args) < 2)
		return 0;
	name = json_object_array_get_idx(args, 1);
	if (!json_object_is_type(name, json_type_string))
		return 0;
	for (const char *const *s = syms; *s; s++)
		if (!strcmp(json_object_get_string(name), *s))
			return 1;
	return 0;
}

/* Sequence numbers restart with each image and in each fork child. */
static void note_seq(struct pysec_proc *p, uint64_t seq)
{
	if (!p->seq_seen || seq < p->seq_first)
		p->seq_first = seq;
	if (seq > p->seq_max)
		p->seq_max = seq;
	p->seq_seen++;
}

/*
 * More than a few events missing: more than threads racing to the ring
 * buffer can hold back, and the kernel lost nothing.
 */
#define SEQ_GAP_SLACK 16

static uint32_t seq_gap(const struct pysec_classifier *c, const struct pysec_proc *p)
{
	uint64_t span = p->seq_seen ? p->seq_max - p->seq_first + 1 : 0;

	return !c->kernel_lost && span > p->seq_seen + SEQ_GAP_SLACK ? PYSEC_BRIDGE_SEQ_GAP : 0;
}

static void on_audit(struct pysec_classifier *c, const struct pysec_audit_rec *r)
{
	struct pysec_proc *p = proc_get(c, r->h.pid, 1);
	struct pysec_thread *t;
	struct pysec_event_ctx *e;
	size_t n = r->args_copied < PYSEC_ARGS_MAX ? r->args_copied : PYSEC_ARGS_MAX;
	const char *a0;

	if (!p)
		return;
	if (!p->armed)
		arm(c, p);
	p->events++;
	note_seq(p, r->seq);
	t = thread_get(p, r->h.tid, 1);
	if (t->held_valid) {
		struct json_object *args = pysec_args_to_json(r->args, n);
		char ev[PYSEC_EVENT_MAX];

		copy_cstr(ev, sizeof(ev), r->event, strnlen(r->event, PYSEC_EVENT_MAX));
		t->held_valid = 0;
		if (!pysec_baseline_resolved_by(ev, args))
			alert(c, p, &t->held, 0);
		json_object_put(args);
	}
	t->head = (t->head + 1) % PYSEC_CTX_EVENTS;
	if (t->n < PYSEC_CTX_EVENTS)
		t->n++;
	e = &t->last[t->head];
	json_object_put(e->args);
	e->args = pysec_args_to_json(r->args, n);
	e->seq = r->seq;
	e->ts_ns = r->h.ts_ns;
	copy_cstr(e->event, sizeof(e->event), r->event, strnlen(r->event, PYSEC_EVENT_MAX));
	copy_cstr(e->file, sizeof(e->file), r->file, strnlen(r->file, PYSEC_FILE_MAX));
	e->line = r->line;
	if (!strcmp(e->event, "cpython._PySys_ClearAuditHooks")) {
		p->cleared = 1;
	} else if (!strcmp(e->event, "ctypes.dlsym") && aims_at_audit(e->args)) {
		struct pysec_alert al = {
			.kind = "tamper",
			.reason = "ctypes looked up a symbol of the audit machinery",
			.hdr = &r->h, .event = e, .proc = p, .thr = t, .count = 1,
		};

		c->fn(c->ctx, &al);
	}
	if (!strncmp(e->event, "ctypes.dl", 9) || !strncmp(e->event, "cffi.", 5))
		p->native_ffi = 1;
	if (!strncmp(e->event, "cpython.run_", 12)) {
		p->started = 1;
		if (!strcmp(e->event, "cpython.run_file") && (a0 = arg0_text(e->args)))
			copy_cstr(p->script, sizeof(p->script), a0, strlen(a0));
	} else if (!strcmp(e->event, "sqlite3.connect")) {
		char db[PYSEC_PATH_MAX], full[PYSEC_PATH_MAX];

		if (sqlite_db_path(e->args, db, sizeof(db)) == 0) {
			const char *path = db;

			/* a relative name the process is gone to resolve stays relative */
			if (db[0] != '/' && !db_abspath(r->h.pid, db, full, sizeof(full)))
				path = full;
			copy_cstr(p->dbs[p->ndbs % PYSEC_MAX_DBS], PYSEC_PATH_MAX, path, strlen(path));
			p->ndbs = p->ndbs < PYSEC_MAX_DBS ? p->ndbs + 1 : PYSEC_MAX_DBS;
		}
	}
}

static uint64_t mix(uint64_t h, const void *d, size_t n)
{
	const unsigned char *p = d;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* Identical: same process, syscall, arguments and code site. */
static uint64_t alert_key(const struct pysec_sys_rec *r)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = mix(h, &r->h.pid, sizeof(r->h.pid));
	h = mix(h, &r->nr, sizeof(r->nr));
	h = mix(h, &r->key, sizeof(r->key));
	h = mix(h, &r->ip, sizeof(r->ip));
	return h;
}

/* Writing /proc/<pid>/mem (or a thread's): reaching the audit machinery. */
static int proc_mem_write(const struct pysec_sys_rec *r)
{
	char p[PYSEC_PATH_MAX];
	const char *t;

	if (r->token_kind != PYSEC_TK_PATH || (r->flags & 3) == 0 /* O_RDONLY */)
		return 0;
	copy_cstr(p, sizeof(p), r->path, strnlen(r->path, sizeof(r->path)));
	if (strncmp(p, "/proc/", 6))
		return 0;
	t = strrchr(p, '/');
	return t && !strcmp(t, "/mem");
}

/* ptrace or process_vm_writev: the kernel records only those that write */
static int aims_at_process(const struct pysec_sys_rec *r)
{
	return r->nr == PYSEC_NR_PTRACE || r->nr == PYSEC_NR_PROCESS_VM_WRITEV;
}

/* ptrace/process_vm_writev at a process this classifier follows */
static int aims_at_traced(struct pysec_classifier *c, const struct pysec_sys_rec *r)
{
	return aims_at_process(r) &&
	       (proc_get(c, (uint32_t)r->dirfd, 0) || (uint32_t)r->dirfd == r->h.pid);
}

static const char *kind_of(const struct pysec_proc *p, const struct pysec_sys_rec *r)
{
	if (proc_mem_write(r))
		return "tamper";
	return p->cleared ? "hook_cleared" : "bypass";
}

static const char *reason_of(const struct pysec_sys_rec *r, int prearm)
{
	if (proc_mem_write(r))
		return "opened process memory for writing: the audit hook and its probe live there";
	if (r->why & PYSEC_WHY_SWAPPED || (r->verdict == PYSEC_V_AUDITED && (r->why & PYSEC_WHY_NAME_DIFFERS)))
		return "the kernel's object is not the one the audit event named: the argument "
		       "was swapped during the syscall";
	if (prearm)
		return "made before the hook armed, and not by the dynamic loader";
	if (r->why & PYSEC_WHY_NO_PYTHON_API)
		return "no CPython API makes this syscall: native code did";
	if (r->why & PYSEC_WHY_UNREADABLE)
		return "its argument could not be read: counted as unaudited";
	if (r->why & PYSEC_WHY_KEY)
		return "the thread's audit events announced a different target";
	return "no audit event of this thread announced it";
}

/* Alerts that no earlier record of the process could have explained. */
static int context_free(const struct pysec_sys_rec *r)
{
	return proc_mem_write(r) || r->bridge || aims_at_process(r) ||
	       (r->why & (PYSEC_WHY_NO_PYTHON_API | PYSEC_WHY_SWAPPED));
}

static void agg_report(struct pysec_classifier *c, struct agg *a)
{
	struct pysec_alert al = {
		.kind = a->kind, .reason = a->reason, .hdr = &a->first.h, .sys = &a->first,
		.proc = a->proc_copy, .thr = NULL, .count = a->count, .broken = a->broken,
	};

	c->fn(c->ctx, &al);
}

/* The least recently repeated alert goes, its final count reported first. */
static void agg_evict_lru(struct pysec_classifier *c)
{
	struct agg *a = LRU_ENTRY(c->agg_lru.prev, struct agg);

	if (a->count > 1 && a->proc_copy)
		agg_report(c, a);
	for (struct agg **pp = &c->aggs[a->key % AGG_BUCKETS]; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	lru_unlink(&a->lru);
	free(a->proc_copy);
	free(a);
	c->st.aggs--;
	c->st.agg_evictions++;
}

static void alert(struct pysec_classifier *c, struct pysec_proc *p, const struct pysec_sys_rec *r,
		  int prearm)
{
	uint64_t key = alert_key(r);
	struct agg **b = &c->aggs[key % AGG_BUCKETS], *a;
	/* after the finalization clear our own hook takes itself off the list */
	int at_traced = aims_at_traced(c, r);
	uint32_t broken = prearm || p->cleared || proc_mem_write(r) || at_traced ? 0 :
			  p->bridge_broken | seq_gap(c, p);
	struct pysec_alert al = {
		.kind = at_traced ? "tamper" : broken ? "hook_cleared" : kind_of(p, r),
		.reason = at_traced ? "took control of, or wrote to, a traced process's memory: its "
				      "audit hook and probe live there" : broken ? "the process's audit bridge is broken: native code blinded the "
				   "hook, so no audit event can announce this" :
			  p->cleared && !proc_mem_write(r) ?
			"made after the interpreter cleared its audit hooks at finalization: "
			"only native code runs then" : reason_of(r, prearm),
		.hdr = &r->h, .sys = r, .proc = p, .thr = thread_get(p, r->h.tid, 0), .count = 1,
		.broken = broken,
	};

	/* what made it unaudited-and-unexplained may be context we lost */
	if (p->resumed && !context_free(r)) {
		c->st.unjudged++;
		return;
	}
	for (a = *b; a; a = a->next) {
		if (a->key == key) {
			a->count++;
			lru_touch(&c->agg_lru, &a->lru);
			return;
		}
	}
	while (c->st.aggs >= c->max_aggs && c->agg_lru.prev != &c->agg_lru)
		agg_evict_lru(c);
	a = calloc(1, sizeof(*a));
	if (a) {
		lru_push(&c->agg_lru, &a->lru);
		c->st.aggs++;
		a->key = key;
		a->count = 1;
		a->kind = al.kind;
		a->reason = al.reason;
		a->broken = al.broken;
		a->first = *r;
		a->proc_copy = malloc(sizeof(*p));
		if (a->proc_copy) {
			memcpy(a->proc_copy, p, sizeof(*p));
			memset(a->proc_copy->threads, 0, sizeof(p->threads)); /* not owned */
		}
		a->next = *b;
		*b = a;
	}
	c->fn(c->ctx, &al);
}

/*
 * A relative database name matched by its tail: from now on it is the
 * absolute path it matched, so sqlite's open of its directory (for fsync)
 * is recognised too.
 */
static void anchor_relative_db(struct pysec_proc *p, const char *path)
{
	for (unsigned i = 0; i < p->ndbs; i++) {
		size_t n = p->dbs[i][0] != '/' ? pysec_sqlite_match_relative(path, p->dbs[i]) : 0;

		if (n)
			copy_cstr(p->dbs[i], PYSEC_PATH_MAX, path, n);
	}
}

static void judge(struct pysec_classifier *c, struct pysec_proc *p, const struct pysec_sys_rec *r,
		  int prearm, const char **explained)
{
	char path[PYSEC_PATH_MAX];
	struct pysec_sysctx x = {
		.r = r, .proc = p, .thr = thread_get(p, r->h.tid, 0), .path = path, .prearm = prearm,
	};
	const char *rule;

	copy_cstr(path, sizeof(path), r->path, strnlen(r->path, sizeof(r->path)));
	rule = pysec_baseline_explain(&x);
	if (explained)
		*explained = rule;
	note_library(p, rule, path);
	if (rule && !strcmp(rule, "sqlite_side_files"))
		anchor_relative_db(p, path);
	if (rule)
		return;
	if (!prearm && pysec_baseline_dns_shaped(&x)) {
		struct pysec_thread *t = thread_get(p, r->h.tid, 1);

		if (t->held_valid)
			alert(c, p, &t->held, 0);
		t->held = *r; /* judged at the thread's next audit event */
		t->held_valid = 1;
		return;
	}
	alert(c, p, r, prearm);
}

/* Held resolver queries whose explaining event never came. */
static void release_held(struct pysec_classifier *c, struct pysec_proc *p)
{
	for (unsigned i = 0; i < PYSEC_THREADS_PER_PROC; i++) {
		if (p->threads[i].held_valid) {
			p->threads[i].held_valid = 0;
			alert(c, p, &p->threads[i].held, 0);
		}
	}
}

/*
 * An audited open whose new fd names a different file than the path's
 * last component: a symlink (fine) or a path swapped by another thread
 * between our read and the kernel's.  Resolve the path as the process
 * sees it; unresolvable (process or file gone) stays audited.
 */
static int open_was_swapped(const struct pysec_sys_rec *r)
{
	char req[PYSEC_PATH_MAX], real[4096];
	char opened[PYSEC_ORIGIN_MAX];
	const char *b;

	if (!(r->why & PYSEC_WHY_NAME_DIFFERS) || r->ret < 0 || (r->flags & 020000000 /* O_TMPFILE */))
		return 0;
	copy_cstr(req, sizeof(req), r->path, strnlen(r->path, sizeof(r->path)));
	copy_cstr(opened, sizeof(opened), r->opened, strnlen(r->opened, sizeof(r->opened)));
	/*
	 * Only an absolute path names the same file later: the working
	 * directory or a dirfd may have changed since.  "." and ".." name
	 * directories by another name.
	 */
	if (req[0] != '/' || strstr(req, "/./") || strstr(req, "/../") ||
	    req[strlen(req) - 1] == '/' || !strcmp(req + strlen(req) - 2, "/.") ||
	    (strlen(req) >= 3 && !strcmp(req + strlen(req) - 3, "/..")))
		return 0;
	if (pysec_lookup(PYSEC_Q_REALPATH, r->h.pid, req, real, sizeof(real)) <= 0)
		return 0;
	b = strrchr(real, '/');
	/* the kernel's copy of the name is cut at PYSEC_ORIGIN_MAX - 1 bytes */
	return strncmp(b ? b + 1 : real, opened, sizeof(opened) - 1) != 0 && strcmp(real, "/") != 0;
}

static void on_syscall(struct pysec_classifier *c, const struct pysec_sys_rec *r,
		       const char **explained)
{
	struct pysec_proc *p = proc_get(c, r->h.pid, 1);

	if (!p)
		return;
	/*
	 * Whoever does it, hooked or not: a traced process's memory holds its
	 * audit hook and probe.  An untraced target is native code reaching
	 * another process with no audit event: a bypass, from a hooked Python.
	 */
	if (aims_at_process(r)) {
		if (proc_get(c, (uint32_t)r->dirfd, 0) || (uint32_t)r->dirfd == r->h.pid ||
		    r->verdict == PYSEC_V_UNAUDITED)
			alert(c, p, r, 0);
		return;
	}
	if (r->verdict == PYSEC_V_AUDITED) {
		if (r->token_kind == PYSEC_TK_PATH && (open_was_swapped(r) || proc_mem_write(r)))
			alert(c, p, r, 0);
		return;
	}
	if (r->verdict == PYSEC_V_UNAUDITED) {
		p->bridge_broken |= r->bridge;
		/* the kernel saw the hook before we did; but a successful exec's
		 * record comes after the new image's EXEC record: it is the old one's */
		if (!p->armed && !(r->token_kind == PYSEC_TK_EXEC && r->ret == 0))
			arm(c, p);
		judge(c, p, r, 0, explained);
		return;
	}
	/*
	 * Unhooked: the image has not armed (yet).  An exec belongs to the
	 * image before it; the loader's work is explained now; anything else
	 * waits for the hook to arm (a hooked Python) or not (anything else).
	 */
	if (r->token_kind == PYSEC_TK_EXEC)
		return;
	char path[PYSEC_PATH_MAX];
	struct pysec_sysctx x = { .r = r, .proc = p, .thr = NULL, .path = path, .prearm = 1 };

	copy_cstr(path, sizeof(path), r->path, strnlen(r->path, sizeof(r->path)));
	*explained = pysec_baseline_explain(&x);
	note_library(p, *explained, path);
	if (!*explained && p->nprearm < PYSEC_PREARM_MAX)
		p->prearm[p->nprearm++] = *r;
	else if (!*explained)
		p->prearm_overflow++;
}

/*
 * A CPython that should carry the hook and does not: one alert for the
 * image, instead of one per syscall it makes unaudited.
 */
static void report_missing(struct pysec_classifier *c, struct pysec_proc *p)
{
	struct pysec_alert al = {
		.kind = "hook_missing",
		.reason = p->pykind == PYSEC_PY_OLD ?
			"a CPython older than 3.8 runs here: it has no audit hooks, nothing it "
			"does can be held against audit events" :
			"a CPython interpreter that never armed the pysectrace hook: its "
			"preload was defeated, so nothing it does raises an audit event here",
		.hdr = &p->exec_hdr, .proc = p, .count = 1,
	};

	if (p->missing || p->armed)
		return;
	p->missing = 1;
	await_drop(c, p->pid);
	c->fn(c->ctx, &al);
}

/* Images whose window to arm has passed by time now (record time). */
static void check_awaiting(struct pysec_classifier *c, uint64_t now)
{
	for (unsigned i = 0; i < c->nawaiting; i++) {
		struct pysec_proc *p;

		if (now < c->awaiting[i].deadline)
			continue;
		p = proc_get(c, c->awaiting[i].pid, 0);
		c->awaiting[i--] = c->awaiting[--c->nawaiting];
		if (p)
			report_missing(c, p);
	}
}

/* A new image: is it a CPython, and does it have to arm? */
static void note_image(struct pysec_classifier *c, struct pysec_proc *p,
		       const struct pysec_proc_rec *r)
{
	p->exec_hdr = r->h;
	p->pykind = pysec_proc_python_kind(r->h.pid, p->exe);
	if (p->pykind == PYSEC_PY_OLD)
		report_missing(c, p);
	else if (p->pykind == PYSEC_PY_AUDIT && c->nawaiting < AWAIT_MAX)
		c->awaiting[c->nawaiting++] = (typeof(c->awaiting[0])){
			.pid = p->pid, .deadline = r->h.ts_ns + PYSEC_ARM_WINDOW_NS };
}

static void on_proc(struct pysec_classifier *c, const struct pysec_proc_rec *r)
{
	struct pysec_proc *p, *child;
	const struct pysec_thread *t;
	const struct pysec_event_ctx *e;

	switch (r->h.type) {
	case PYSEC_REC_FORK:
		p = proc_get(c, r->h.pid, 1);
		child = proc_get(c, r->child_pid, 1);
		if (!p || !child)
			return;
		proc_new_image(child, r->h.ts_ns);
		evicted_set(c, r->child_pid, 0);
		child->resumed = 0; /* a new process: seen from its start */
		child->ppid = r->h.pid;
		child->forked = 1;
		child->armed = p->armed;
		child->started = p->started;
		memcpy(child->exe, p->exe, sizeof(child->exe));
		memcpy(child->dbs, p->dbs, sizeof(child->dbs));
		child->ndbs = p->ndbs;
		child->bridge_broken = p->bridge_broken; /* the same memory */
		t = thread_get(p, r->h.tid, 0);
		e = pysec_thread_last(t, 0);
		child->pyfork = e && !strcmp(e->event, "os.fork");
		child->spawn_child = !e ? 0 : !strcmp(e->event, "os.posix_spawn") ? 2 :
				     (!strcmp(e->event, "subprocess.Popen") ||
				      !strcmp(e->event, "os.system"));
		break;
	case PYSEC_REC_EXEC:
		p = proc_get(c, r->h.pid, 1);
		if (!p)
			return;
		release_held(c, p);
		proc_new_image(p, r->h.ts_ns);
		evicted_set(c, r->h.pid, 0);
		p->resumed = 0; /* a new image: seen from its start */
		/* the execve syscall record follows this one: it belongs to prev_exe */
		memcpy(p->prev_exe, p->exe, sizeof(p->exe));
		copy_cstr(p->exe, sizeof(p->exe), r->filename, strnlen(r->filename, PYSEC_PATH_MAX));
		await_drop(c, p->pid);
		note_image(c, p, r);
		break;
	case PYSEC_REC_EXIT:
		p = proc_get(c, r->h.pid, 0);
		if (p)
			release_held(c, p);
		if (p && p->pykind == PYSEC_PY_AUDIT)
			report_missing(c, p);
		proc_drop(c, r->h.pid);
		break;
	}
}

void pysec_classify(struct pysec_classifier *c, const void *rec, size_t size,
		    const char **explained)
{
	const char *dummy;

	if (!explained)
		explained = &dummy;
	*explained = NULL;
	if (c->nawaiting && pysec_record_type(rec, size))
		check_awaiting(c, ((const struct pysec_hdr *)rec)->ts_ns);
	switch (pysec_record_type(rec, size)) {
	case PYSEC_REC_AUDIT:
		on_audit(c, rec);
		break;
	case PYSEC_REC_SYSCALL:
		on_syscall(c, rec, explained);
		break;
	case PYSEC_REC_FORK:
	case PYSEC_REC_EXEC:
	case PYSEC_REC_EXIT:
		on_proc(c, rec);
		break;
	}
}

void pysec_classifier_kernel_lost(struct pysec_classifier *c)
{
	c->kernel_lost = 1;
}

uint64_t pysec_classifier_prearm_dropped(const struct pysec_classifier *c)
{
	return c->prearm_dropped;
}

void pysec_classifier_flush(struct pysec_classifier *c)
{
	check_awaiting(c, UINT64_MAX);
	for (size_t i = 0; i < AGG_BUCKETS; i++) {
		for (struct agg *a = c->aggs[i]; a; a = a->next) {
			if (a->count < 2 || !a->proc_copy)
				continue;
			agg_report(c, a);
			a->count = 1;
		}
	}
}
