/* SPDX-License-Identifier: MIT */
/*
 * classify.h — user-space half of the verdict.  The kernel says which
 * monitored syscalls no audit token accounted for; the classifier keeps
 * per-process/thread context from the record stream and turns what the
 * baseline (baseline.c) cannot explain into alerts.  Live and replayed
 * records go through the same code.
 */
#ifndef PYSEC_CLASSIFY_H
#define PYSEC_CLASSIFY_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "pysectrace.h"

#define PYSEC_CTX_EVENTS 4 /* audit events kept per thread for context */
#define PYSEC_MAX_DBS 8

struct pysec_event_ctx {
	uint64_t seq;
	uint64_t ts_ns;
	char event[PYSEC_EVENT_MAX];
	char file[PYSEC_FILE_MAX];
	uint32_t line;
	struct json_object *args; /* owned */
};

struct pysec_thread {
	uint32_t tid;
	struct pysec_event_ctx last[PYSEC_CTX_EVENTS]; /* ring, newest at head */
	unsigned head, n;
	/* a resolver query waiting for the socket event that explains it */
	int held_valid;
	struct pysec_sys_rec held;
};

#define PYSEC_THREADS_PER_PROC 32
#define PYSEC_PREARM_MAX 8

struct pysec_proc {
	uint32_t pid; /* 0: free slot */
	uint32_t ppid;
	int armed;       /* an audit event arrived in the current image */
	int started;     /* a cpython.run_* event: user code runs */
	int spawn_child; /* forked by a thread that announced an exec (2: posix_spawn) */
	int cleared;     /* the interpreter cleared its audit hooks (finalization) */
	uint64_t image_ns; /* when the current image started (exec) */
	char exe[PYSEC_PATH_MAX];
	char prev_exe[PYSEC_PATH_MAX]; /* the image before the last exec */
	int forked;          /* a fork child ... */
	int pyfork;          /* ... made by os.fork(): Python code runs in it */
	uint64_t events;     /* ... and the audit events since its fork/exec */
	char script[PYSEC_PATH_MAX];
	char dbs[PYSEC_MAX_DBS][PYSEC_PATH_MAX]; /* sqlite3.connect targets */
	unsigned ndbs;
	struct pysec_thread threads[PYSEC_THREADS_PER_PROC];
	unsigned nthreads_next;
	/* unhooked syscalls no pre-arm rule explains, held until the hook arms */
	struct pysec_sys_rec prearm[PYSEC_PREARM_MAX];
	unsigned nprearm;
	uint64_t prearm_overflow; /* not held: counted as lost if the hook arms */
	uint32_t bridge_broken;
	int pykind;        /* enum pysec_pykind of the current image (elfinfo.h) */
	int missing;       /* hook_missing was reported for this image */
	int ssl_loaded;    /* the loader opened CPython's _ssl or libssl in this image */
	int native_ffi;    /* ctypes loaded a library or resolved a symbol in this image */
	struct pysec_hdr exec_hdr; /* the exec that started the current image */ /* PYSEC_BRIDGE_* the kernel found so far in this image */
	uint64_t seq_first, seq_max, seq_seen; /* the hook's sequence numbers */
	/*
	 * Seen again after its state was evicted (table full): what it did
	 * before is unknown, so alerts that need that context are counted as
	 * unjudged instead of raised; cleared when a new image starts (exec).
	 */
	int resumed;
};

/* What the baseline and the classifier look at for one syscall. */
struct pysec_sysctx {
	const struct pysec_sys_rec *r;
	const struct pysec_proc *proc;
	const struct pysec_thread *thr; /* may be NULL */
	const char *path;               /* NUL-terminated copy of r->path */
	int prearm;                     /* before the hook armed in this image */
};

struct pysec_alert {
	const char *kind;   /* "bypass", "hook_cleared", "tamper", "hook_missing" */
	const char *reason; /* why it was judged so */
	const struct pysec_hdr *hdr;     /* the record the alert is about */
	const struct pysec_sys_rec *sys; /* a syscall alert, or NULL ... */
	const struct pysec_event_ctx *event; /* ... an audit event alert */
	const struct pysec_proc *proc;
	const struct pysec_thread *thr;
	uint64_t count; /* identical alerts so far, this one included */
	uint32_t broken; /* hook_cleared: what of the bridge is broken (PYSEC_BRIDGE_*) */
	/* enforcement, filled by the pipeline's decision point (action NULL: none asked) */
	const char *action; /* what was done: "allow", "log", "kill" */
	const char *rule;   /* the id of the rule that decided */
	const char *would;  /* observe: the action enforce would have taken */
	int signal;         /* kill: the signal sent */
};

typedef void (*pysec_alert_fn)(void *ctx, const struct pysec_alert *a);

struct pysec_classifier;

struct pysec_classifier *pysec_classifier_new(pysec_alert_fn fn, void *ctx);
void pysec_classifier_free(struct pysec_classifier *c);

/*
 * Feed one record.  For a syscall record *explained gets the baseline rule
 * id that explains it (NULL: audited, or alerted).  Alerts go to fn.
 */
void pysec_classify(struct pysec_classifier *c, const void *rec, size_t size,
		    const char **explained);

/*
 * Unhooked syscalls that could not be held for judgment (queue of
 * PYSEC_PREARM_MAX per process full): reported as a loss.
 */
uint64_t pysec_classifier_prearm_dropped(const struct pysec_classifier *c);

/* The kernel lost records: sequence gaps no longer tell a broken bridge. */
void pysec_classifier_kernel_lost(struct pysec_classifier *c);
/*
 * Memory bounds (LRU eviction): processes with context (each about
 * sizeof(struct pysec_proc), 64 KiB) and distinct alerts being counted
 * (each about the same: a copy of the process for the final report).
 */
#define PYSEC_MAX_PROCS_DEFAULT 1024
#define PYSEC_MAX_ALERT_AGGS_DEFAULT 512
#define PYSEC_MIN_TABLE 16

/* Set the bounds (each at least PYSEC_MIN_TABLE); shrinking evicts later. */
void pysec_classifier_set_limits(struct pysec_classifier *c, unsigned max_procs,
				 unsigned max_aggs);

struct pysec_classifier_stats {
	uint64_t procs;           /* processes with state now */
	uint64_t proc_evictions;  /* process states evicted (LRU) */
	uint64_t aggs;            /* distinct alerts counted now */
	uint64_t agg_evictions;   /* distinct alerts evicted (final count reported) */
	uint64_t unjudged;        /* syscalls of evicted-and-resumed processes that
				   * needed lost context: not judged (a loss) */
};

void pysec_classifier_stats(const struct pysec_classifier *c, struct pysec_classifier_stats *s);

/* Alerts that repeated: call fn once more for each, with the final count. */
void pysec_classifier_flush(struct pysec_classifier *c);

/* The baseline: the rule explaining this unaudited syscall, or NULL. */
const char *pysec_baseline_explain(const struct pysec_sysctx *x);

/*
 * A resolver query (a nameserver of /etc/resolv.conf, port 53) with no
 * resolution event before it: CPython resolves a host name given to
 * socket.connect/sendto/sendmsg/bind before it raises that event, so the
 * verdict waits for the thread's next event (pysec_baseline_resolved_by).
 */
int pysec_baseline_dns_shaped(const struct pysec_sysctx *x);
#define PYSEC_NAMESERVERS_MAX 8
/* The nameservers of /etc/resolv.conf (read once): how many were written. */
int pysec_baseline_nameservers(uint16_t *fam, uint8_t (*ns)[16], int max);
/* The rule id when `event` with `args` explains a held resolver query. */
const char *pysec_baseline_resolved_by(const char *event, struct json_object *args);

/* Length of a path sqlite opens without its -journal/-wal/-shm suffix. */
size_t pysec_sqlite_db_len(const char *path);
/*
 * path is relative database db (or a side file of it) in some directory:
 * the length of path's database part, else 0.
 */
size_t pysec_sqlite_match_relative(const char *path, const char *db);

/*
 * How long after its exec a CPython >= 3.8 has to arm the hook (record
 * time): the hook arms in a library constructor, before main().
 */
#define PYSEC_ARM_WINDOW_NS (2ULL * 1000 * 1000 * 1000)

/* Newest audit event of a thread, or NULL. */
const struct pysec_event_ctx *pysec_thread_last(const struct pysec_thread *t, unsigned i);

#endif
