// SPDX-License-Identifier: MIT
/* emit.c — text and JSON-lines writer (docs/SCHEMA.md). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <json-c/json.h>
#include <sys/socket.h>
#include <unistd.h>

#include "classify.h"
#include "procinfo.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "argdecode.h"
#include "emit.h"
#include "../hookmod/rulematch.h"

int pysec_parse_format(const char *s)
{
	if (!strcmp(s, "text"))
		return PYSEC_FMT_TEXT;
	if (!strcmp(s, "json"))
		return PYSEC_FMT_JSON;
	return -1;
}

int pysec_parse_show(const char *s)
{
	if (!strcmp(s, "audit"))
		return PYSEC_SHOW_AUDIT;
	if (!strcmp(s, "alerts"))
		return PYSEC_SHOW_ALERTS;
	if (!strcmp(s, "all"))
		return PYSEC_SHOW_ALL;
	return -1;
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void pysec_emitter_init(struct pysec_emitter *e, FILE *out, enum pysec_format format,
			enum pysec_show show)
{
	memset(e, 0, sizeof(*e));
	e->out = out;
	e->format = format;
	e->show = show;
	e->wall_offset_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	e->color = format == PYSEC_FMT_TEXT && isatty(fileno(out));
	if (gethostname(e->host, sizeof(e->host) - 1) != 0)
		e->host[0] = 0;
}

/* RFC 3339 UTC with nanoseconds, or (short) local time of day for text. */
static void format_time(const struct pysec_emitter *e, uint64_t mono_ns, int rfc3339,
			char *buf, size_t len)
{
	int64_t wall = (int64_t)mono_ns + e->wall_offset_ns;
	time_t sec = (time_t)(wall / 1000000000);
	long ns = (long)(wall % 1000000000);
	struct tm tm;

	if (rfc3339) {
		gmtime_r(&sec, &tm);
		size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);

		snprintf(buf + n, len - n, ".%09ldZ", ns);
	} else {
		localtime_r(&sec, &tm);
		size_t n = strftime(buf, len, "%H:%M:%S", &tm);

		snprintf(buf + n, len - n, ".%06ld", ns / 1000);
	}
}

static const char *record_type_name(uint32_t type)
{
	return type == PYSEC_REC_AUDIT ? "audit" : "process";
}

static const char *proc_action(uint32_t type)
{
	switch (type) {
	case PYSEC_REC_FORK:
		return "fork";
	case PYSEC_REC_EXEC:
		return "exec";
	default:
		return "exit";
	}
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_int(struct json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

/* comm is a kernel buffer of a process we do not trust: bound it. */
static void comm_of(const struct pysec_hdr *h, char *out)
{
	memcpy(out, h->comm, PYSEC_COMM_LEN);
	out[PYSEC_COMM_LEN - 1] = 0;
}

static struct json_object *json_header(const struct pysec_emitter *e, const struct pysec_hdr *h,
				       const char *type)
{
	struct json_object *o = json_object_new_object();
	char t[64], comm[PYSEC_COMM_LEN];

	format_time(e, h->ts_ns, 1, t, sizeof(t));
	comm_of(h, comm);
	add_int(o, "schema_version", PYSEC_SCHEMA_VERSION);
	add_str(o, "type", type);
	add_str(o, "time", t);
	add_int(o, "mono_ns", (int64_t)h->ts_ns);
	add_int(o, "pid", h->pid);
	add_int(o, "tid", h->tid);
	if (h->ns_pid != h->pid || h->ns_tid != h->tid) {
		add_int(o, "ns_pid", h->ns_pid);
		add_int(o, "ns_tid", h->ns_tid);
	}
	add_int(o, "ppid", h->ppid);
	json_object_object_add(o, "comm", json_object_new_string(comm));
	return o;
}

static void write_json(struct pysec_emitter *e, struct json_object *o)
{
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE),
	      e->out);
	fputc('\n', e->out);
	json_object_put(o);
	e->records++;
}

static void text_prefix(struct pysec_emitter *e, const struct pysec_hdr *h)
{
	char t[32], comm[PYSEC_COMM_LEN];

	format_time(e, h->ts_ns, 0, t, sizeof(t));
	comm_of(h, comm);
	fprintf(e->out, "%s %s[%u", t, comm, h->pid);
	if (h->tid != h->pid)
		fprintf(e->out, "/%u", h->tid);
	fputs("] ", e->out);
}

/* Copy of the event name, bounded and made printable. */
static void event_name(const struct pysec_audit_rec *r, char *out)
{
	size_t i;

	for (i = 0; i < PYSEC_EVENT_MAX - 1 && r->event[i]; i++) {
		unsigned char c = (unsigned char)r->event[i];

		out[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	out[i] = 0;
}

/*
 * The policy rule the hook matched (flags bits 16-31), from the run's
 * control file: its id and action, or NULL.
 */
static const char *policy_rule(const struct pysec_emitter *e, uint32_t flags, int *action)
{
	uint32_t i = PYSEC_F_RULE_OF(flags);

	if (!i || !e->ctl || i > e->ctl->hdr->nrules)
		return NULL;
	*action = e->ctl->rules[i - 1].action;
	return pysec_ctl_str(e->ctl, e->ctl->rules[i - 1].id);
}

static void emit_audit(struct pysec_emitter *e, const struct pysec_audit_rec *r)
{
	char ev[PYSEC_EVENT_MAX];
	size_t n = r->args_copied < PYSEC_ARGS_MAX ? r->args_copied : PYSEC_ARGS_MAX;
	int action = -1;
	const char *rule = policy_rule(e, r->flags, &action);
	/* denials and log rules are written like alerts, whatever --show says */
	int policy = (r->flags & (PYSEC_F_DENIED | PYSEC_F_WOULD_DENY)) || action == PYSEC_ACT_LOG;

	event_name(r, ev);
	if (!policy && (e->show == PYSEC_SHOW_ALERTS ||
			(e->show == PYSEC_SHOW_AUDIT && pysec_event_is_frequent(ev))))
		return;
	if (e->format == PYSEC_FMT_JSON) {
		struct json_object *o = json_header(e, &r->h, "audit");

		add_str(o, "event", ev);
		add_int(o, "seq", (int64_t)r->seq);
		json_object_object_add(o, "args", pysec_args_to_json(r->args, n));
		if (r->line) {
			json_object_object_add(o, "file", pysec_bytes_to_json(r->file,
				strnlen(r->file, sizeof(r->file))));
			add_int(o, "line", r->line);
		}
		if (r->flags & PYSEC_F_TRUNCATED || r->args_len > n)
			json_object_object_add(o, "truncated", json_object_new_boolean(1));
		if (r->kflags & PYSEC_AUDIT_STOCK)
			add_str(o, "hook", "stock");
		else if (r->flags & PYSEC_F_MODULE)
			add_str(o, "hook", "module");
		if (r->kflags & PYSEC_AUDIT_STOCK_UNDECODED)
			json_object_object_add(o, "undecoded", json_object_new_boolean(1));
		if (rule)
			add_str(o, "rule", rule);
		if (r->flags & PYSEC_F_DENIED)
			add_str(o, "denied", rule ? rule : "?");
		if (r->flags & PYSEC_F_WOULD_DENY)
			add_str(o, "would_deny", rule ? rule : "?");
		write_json(e, o);
		return;
	}
	char *args = pysec_args_to_text(r->args, n);
	char note[PYSEC_EVENT_MAX + 48] = "";

	if (r->flags & PYSEC_F_DENIED)
		snprintf(note, sizeof(note), " DENIED by rule %s", rule ? rule : "?");
	else if (r->flags & PYSEC_F_WOULD_DENY)
		snprintf(note, sizeof(note), " would be denied by rule %s (observe)",
			 rule ? rule : "?");
	else if (action == PYSEC_ACT_LOG)
		snprintf(note, sizeof(note), " [rule %s]", rule);
	text_prefix(e, &r->h);
	fprintf(e->out, "%s %s%s\n", ev, args ? args : "[]", note);
	free(args);
	e->records++;
}

static void emit_proc(struct pysec_emitter *e, const struct pysec_proc_rec *r)
{
	const char *action = proc_action(r->h.type);
	char file[PYSEC_PATH_MAX];
	int code = r->exit_code;

	if (e->show != PYSEC_SHOW_ALL)
		return;
	memcpy(file, r->filename, sizeof(file));
	file[sizeof(file) - 1] = 0;
	if (e->format == PYSEC_FMT_JSON) {
		struct json_object *o = json_header(e, &r->h, record_type_name(r->h.type));

		add_str(o, "action", action);
		if (r->h.type == PYSEC_REC_FORK)
			add_int(o, "child_pid", r->child_pid);
		if (r->h.type == PYSEC_REC_EXEC)
			add_str(o, "filename", file);
		if (r->h.type == PYSEC_REC_EXIT) {
			if (code & 0x7f)
				add_int(o, "exit_signal", code & 0x7f);
			else
				add_int(o, "exit_status", (code >> 8) & 0xff);
		}
		if (r->h.type != PYSEC_REC_FORK && r->last_seq)
			add_int(o, "last_seq", (int64_t)r->last_seq);
		write_json(e, o);
		return;
	}
	text_prefix(e, &r->h);
	if (r->h.type == PYSEC_REC_FORK)
		fprintf(e->out, "+fork child=%u\n", r->child_pid);
	else if (r->h.type == PYSEC_REC_EXEC)
		fprintf(e->out, "+exec %s\n", file);
	else if (code & 0x7f)
		fprintf(e->out, "+exit signal=%d\n", code & 0x7f);
	else
		fprintf(e->out, "+exit status=%d\n", (code >> 8) & 0xff);
	e->records++;
}

static const char *verdict_name(uint32_t v)
{
	return v == PYSEC_V_AUDITED ? "audited" : v == PYSEC_V_UNAUDITED ? "unaudited" : "unhooked";
}

const char *pysec_syscall_name(uint32_t nr)
{
	switch (nr) {
	case 2: return "open";
	case 42: return "connect";
	case 44: return "sendto";
	case 46: return "sendmsg";
	case 59: return "execve";
	case 85: return "creat";
	case 101: return "ptrace";
	case 311: return "process_vm_writev";
	case 257: return "openat";
	case 307: return "sendmmsg";
	case 322: return "execveat";
	case 425: return "io_uring_setup";
	case 437: return "openat2";
	default: return "unknown";
	}
}

/* The decoded arguments of a syscall record, added to o. */
void pysec_json_syscall_args(struct json_object *o, const struct pysec_sys_rec *r)
{
	size_t plen = r->path_len < PYSEC_PATH_MAX ? r->path_len : PYSEC_PATH_MAX - 1;

	add_str(o, "syscall", pysec_syscall_name(r->nr));
	add_int(o, "ret", r->ret);
	switch (r->token_kind) {
	case PYSEC_TK_PATH:
		json_object_object_add(o, "path", pysec_bytes_to_json(r->path, plen));
		add_int(o, "dirfd", r->dirfd);
		add_int(o, "flags", (int64_t)r->flags);
		if (r->opened[0])
			json_object_object_add(o, "opened", pysec_bytes_to_json(r->opened,
				strnlen(r->opened, sizeof(r->opened))));
		break;
	case PYSEC_TK_CONNECT: {
		char a[64] = "";

		if (r->family == AF_INET || r->family == AF_INET6) {
			inet_ntop(r->family, r->addr, a, sizeof(a));
			add_str(o, "family", r->family == AF_INET ? "AF_INET" : "AF_INET6");
			add_str(o, "addr", a);
			add_int(o, "port", r->port);
		} else {
			add_str(o, "family", "AF_UNIX");
			json_object_object_add(o, "path", pysec_bytes_to_json(r->path, plen));
		}
		break;
	}
	case PYSEC_TK_EXEC: {
		struct json_object *argv = json_object_new_array();
		size_t n = r->argv_len < PYSEC_SYS_ARGV_MAX ? r->argv_len : PYSEC_SYS_ARGV_MAX;

		json_object_object_add(o, "path", pysec_bytes_to_json(r->path, plen));
		for (size_t i = 0; i < n;) {
			size_t l = strnlen(r->argv + i, n - i);

			json_object_array_add(argv, pysec_bytes_to_json(r->argv + i, l));
			i += l + 1;
		}
		json_object_object_add(o, "argv", argv);
		break;
	}
	default:
		if (r->nr == PYSEC_NR_PTRACE || r->nr == PYSEC_NR_PROCESS_VM_WRITEV) {
			add_int(o, "target_pid", r->dirfd);
			if (r->nr == PYSEC_NR_PTRACE)
				add_int(o, "request", (int64_t)r->flags);
			break;
		}
		add_int(o, "arg0", (int64_t)r->flags);
	}
}

/* The kernel's PYSEC_WHY_* bits as names. */
static struct json_object *why_json(uint32_t why)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ PYSEC_WHY_NO_TOKEN, "no_token" }, { PYSEC_WHY_KEY, "other_target" },
		{ PYSEC_WHY_UNREADABLE, "unreadable" }, { PYSEC_WHY_NO_PYTHON_API, "no_python_api" },
		{ PYSEC_WHY_SWAPPED, "swapped" }, { PYSEC_WHY_REREAD, "read_at_exit" },
		{ PYSEC_WHY_NAME_DIFFERS, "name_differs" }, { PYSEC_WHY_STOPPED, "stopped" },
		{ PYSEC_WHY_DENIED, "denied" },
	};
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (why & names[i].bit)
			json_object_array_add(a, json_object_new_string(names[i].name));
	return a;
}

/* "path" or "addr:port" of a decoded syscall, for text lines. */
static const char *target_text(struct json_object *o)
{
	static char buf[PYSEC_PATH_MAX + 64];
	struct json_object *v, *port;

	if (json_object_object_get_ex(o, "addr", &v) && json_object_object_get_ex(o, "port", &port)) {
		snprintf(buf, sizeof(buf), "%s:%d", json_object_get_string(v),
			 json_object_get_int(port));
		return buf;
	}
	if (json_object_object_get_ex(o, "path", &v))
		return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE);
	if (json_object_object_get_ex(o, "target_pid", &v)) {
		snprintf(buf, sizeof(buf), "pid %d", json_object_get_int(v));
		return buf;
	}
	return "";
}

static void emit_syscall(struct pysec_emitter *e, const struct pysec_sys_rec *r,
			 const char *explained)
{
	if (e->show != PYSEC_SHOW_ALL)
		return;
	struct json_object *o = json_header(e, &r->h, "syscall");

	pysec_json_syscall_args(o, r);
	add_str(o, "verdict", verdict_name(r->verdict));
	json_object_object_add(o, "audited", json_object_new_boolean(r->verdict == PYSEC_V_AUDITED));
	if (r->seq)
		add_int(o, "seq", (int64_t)r->seq);
	if (explained)
		add_str(o, "explained_by", explained);
	if (r->verdict != PYSEC_V_AUDITED)
		json_object_object_add(o, "why", why_json(r->why));
	if (e->format == PYSEC_FMT_JSON) {
		write_json(e, o);
		return;
	}
	text_prefix(e, &r->h);
	fprintf(e->out, "~%s %s %s%s%s\n", pysec_syscall_name(r->nr), target_text(o),
		verdict_name(r->verdict), explained ? " by " : "", explained ? explained : "");
	json_object_put(o);
	e->records++;
}

void pysec_emit_record(struct pysec_emitter *e, const void *data, size_t size,
		       const char *explained)
{
	switch (pysec_record_type(data, size)) {
	case PYSEC_REC_AUDIT:
		emit_audit(e, data);
		break;
	case PYSEC_REC_FORK:
	case PYSEC_REC_EXEC:
	case PYSEC_REC_EXIT:
		emit_proc(e, data);
		break;
	case PYSEC_REC_SYSCALL:
		emit_syscall(e, data, explained);
		break;
	}
}

void pysec_emit_lost(struct pysec_emitter *e, const char *stage, uint64_t lost)
{
	if (!lost)
		return;
	if (e->format == PYSEC_FMT_JSON) {
		struct json_object *o = json_object_new_object();
		int64_t now = e->lost_mono_ns ? (int64_t)e->lost_mono_ns : clock_ns(CLOCK_MONOTONIC);
		char t[64];

		format_time(e, (uint64_t)now, 1, t, sizeof(t));
		add_int(o, "schema_version", PYSEC_SCHEMA_VERSION);
		add_str(o, "type", "lost");
		add_str(o, "time", t);
		add_int(o, "mono_ns", now);
		add_str(o, "stage", stage);
		add_int(o, "count", (int64_t)lost);
		write_json(e, o);
	} else {
		fprintf(e->out, "!! %llu events lost at %s\n", (unsigned long long)lost, stage);
	}
}

void pysec_emit_rate_limited(struct pysec_emitter *e, uint32_t pid, const char *kind,
			     uint64_t dropped)
{
	int64_t now = clock_ns(CLOCK_MONOTONIC);

	if (!dropped)
		return;
	if (e->format == PYSEC_FMT_JSON) {
		struct json_object *o = json_object_new_object();
		char t[64];

		format_time(e, (uint64_t)now, 1, t, sizeof(t));
		add_int(o, "schema_version", PYSEC_SCHEMA_VERSION);
		add_str(o, "type", "rate_limited");
		add_str(o, "time", t);
		add_int(o, "mono_ns", now);
		add_int(o, "pid", pid);
		add_str(o, "kind", kind);
		add_int(o, "dropped", (int64_t)dropped);
		if (e->host[0])
			add_str(o, "host", e->host);
		write_json(e, o);
	} else {
		fprintf(e->out, "!! %llu %s records of pid %u held back by the rate limit\n",
			(unsigned long long)dropped, kind, pid);
		e->records++;
	}
}

const char *pysec_record_kind(const void *data, size_t size)
{
	switch (pysec_record_type(data, size)) {
	case PYSEC_REC_AUDIT:
		return "audit";
	case PYSEC_REC_SYSCALL:
		return "syscall";
	case PYSEC_REC_FORK:
	case PYSEC_REC_EXEC:
	case PYSEC_REC_EXIT:
		return "process";
	default:
		return "";
	}
}

int pysec_emit_shows(const struct pysec_emitter *e, const void *data, size_t size)
{
	const struct pysec_audit_rec *r = data;
	char ev[PYSEC_EVENT_MAX];

	switch (pysec_record_type(data, size)) {
	case PYSEC_REC_AUDIT:
		if (e->show == PYSEC_SHOW_ALERTS)
			return 0;
		event_name(r, ev);
		return e->show == PYSEC_SHOW_ALL || !pysec_event_is_frequent(ev);
	case PYSEC_REC_SYSCALL:
	case PYSEC_REC_FORK:
	case PYSEC_REC_EXEC:
	case PYSEC_REC_EXIT:
		return e->show == PYSEC_SHOW_ALL;
	default:
		return 0;
	}
}

/*
 * Where the syscall came from: the full path from /proc when the process
 * still has that mapping, else the file name the kernel saw at sys_enter;
 * "[anon]" for anonymous memory (shellcode, JIT).
 */
static void origin_of(const struct pysec_sys_rec *r, char *out, size_t len, int *exec)
{
	char name[PYSEC_ORIGIN_MAX];

	memcpy(name, r->origin, sizeof(name));
	name[sizeof(name) - 1] = 0;
	*exec = !!(r->origin_flags & PYSEC_ORIGIN_EXEC);
	if (!(r->origin_flags & PYSEC_ORIGIN_FOUND)) {
		snprintf(out, len, "?");
		return;
	}
	if (!(r->origin_flags & PYSEC_ORIGIN_FILE)) {
		snprintf(out, len, "[anon]");
		return;
	}
	int e2 = 0;
	pysec_ip_origin(r->h.pid, r->ip, out, len, &e2);
	const char *b = strrchr(out, '/');

	if (!out[0] || strcmp(b ? b + 1 : out, name))
		snprintf(out, len, "%s", name); /* mapping changed or gone */
}

/*
 * The audit events before the alert: the thread's own, or, for a thread
 * that never raised one (started from native code), the main thread's.
 */
static struct json_object *alert_context(const struct pysec_alert *a, uint32_t *ctx_tid)
{
	struct json_object *arr = json_object_new_array();
	const struct pysec_thread *t = a->thr;

	if ((!t || !t->n) && a->proc) {
		for (unsigned i = 0; i < PYSEC_THREADS_PER_PROC; i++)
			if (a->proc->threads[i].tid == a->proc->pid)
				t = &a->proc->threads[i];
	}
	*ctx_tid = t ? t->tid : 0;
	for (unsigned i = PYSEC_CTX_EVENTS; i-- > 0;) {
		const struct pysec_event_ctx *ev = pysec_thread_last(t, i);

		if (!ev)
			continue;
		struct json_object *o = json_object_new_object();

		add_int(o, "seq", (int64_t)ev->seq);
		add_str(o, "event", ev->event);
		json_object_object_add(o, "args", json_object_get(ev->args));
		if (ev->line) {
			add_str(o, "file", ev->file);
			add_int(o, "line", ev->line);
		}
		add_int(o, "mono_ns", (int64_t)ev->ts_ns);
		json_object_array_add(arr, o);
	}
	return arr;
}

/* What of an audit bridge can be broken: by name (docs/SCHEMA.md), in words. */
static const struct { uint32_t bit; const char *name, *text; } bridge_parts[] = {
	{ PYSEC_BRIDGE_HOOK_LIST, "hook_list",
	  "the interpreter's audit-hook list no longer reaches our hook" },
	{ PYSEC_BRIDGE_HOOK_FN, "hook_function", "our hook entry's function pointer was rewritten" },
	{ PYSEC_BRIDGE_PROBE_SITE, "probe_site",
	  "the probe site no longer holds the kernel's breakpoint" },
	{ PYSEC_BRIDGE_SEMAPHORE, "semaphore", "the probe semaphore was zeroed" },
	{ PYSEC_BRIDGE_SEQ_GAP, "sequence", "audit events went missing (no loss explains the gap)" },
};

static struct json_object *broken_json(uint32_t broken)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < sizeof(bridge_parts) / sizeof(bridge_parts[0]); i++)
		if (broken & bridge_parts[i].bit)
			json_object_array_add(a, json_object_new_string(bridge_parts[i].name));
	return a;
}

static void broken_text(uint32_t broken, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (size_t i = 0; i < sizeof(bridge_parts) / sizeof(bridge_parts[0]); i++) {
		if (!(broken & bridge_parts[i].bit))
			continue;
		int n = snprintf(buf + o, len - o, "%s%s", o ? "; " : " (", bridge_parts[i].text);

		if (n < 0 || (size_t)n >= len - o)
			return;
		o += (size_t)n;
	}
	if (o && o + 1 < len)
		strcat(buf, ")");
}

void pysec_emit_alert(struct pysec_emitter *e, const struct pysec_alert *a)
{
	const struct pysec_sys_rec *r = a->sys;
	const struct pysec_hdr *h = a->hdr ? a->hdr : &r->h;
	struct json_object *o = json_header(e, h, "alert"), *proc;
	char where[PYSEC_PATH_MAX + 32] = "", target[PYSEC_PATH_MAX + 64] = "";
	int exec = 0;

	add_str(o, "kind", a->kind);
	if (e->host[0])
		add_str(o, "host", e->host);
	if (r) {
		pysec_json_syscall_args(o, r);
		snprintf(target, sizeof(target), "%s %s", pysec_syscall_name(r->nr), target_text(o));
	} else if (a->event) {
		add_str(o, "event", a->event->event);
		json_object_object_add(o, "args", json_object_get(a->event->args));
		if (a->event->line) {
			add_str(o, "file", a->event->file);
			add_int(o, "line", a->event->line);
		}
		snprintf(target, sizeof(target), "%s %s", a->event->event,
			 json_object_to_json_string_ext(a->event->args, JSON_C_TO_STRING_PLAIN));
	} else if (a->proc) { /* about the image itself (hook_missing) */
		add_str(o, "image", a->proc->exe);
		snprintf(target, sizeof(target), "%s", a->proc->exe);
	}
	add_str(o, "reason", a->reason);
	if (a->broken)
		json_object_object_add(o, "broken", broken_json(a->broken));
	if (r) {
		struct json_object *origin = json_object_new_object();
		char ip[32];

		json_object_object_add(o, "why", why_json(r->why));
		origin_of(r, where, sizeof(where), &exec);
		snprintf(ip, sizeof(ip), "0x%llx", (unsigned long long)r->ip);
		add_str(origin, "ip", ip);
		add_str(origin, "mapping", where);
		json_object_object_add(origin, "executable", json_object_new_boolean(exec));
		json_object_object_add(o, "origin", origin);
	}
	add_int(o, "count", (int64_t)a->count);
	if (a->action) {
		add_str(o, "action", a->action);
		add_str(o, "rule", a->rule);
		if (a->would)
			add_str(o, "would", a->would);
		if (a->signal)
			add_int(o, "signal", a->signal);
	}

	uint32_t ctx_tid = 0;

	json_object_object_add(o, "context", alert_context(a, &ctx_tid));
	if (ctx_tid && ctx_tid != h->tid)
		add_int(o, "context_tid", ctx_tid);
	proc = json_object_new_object();
	if (a->proc) {
		if (a->proc->script[0])
			add_str(proc, "script", a->proc->script);
		char id[64];

		snprintf(id, sizeof(id), "%u@%llu", a->proc->pid,
			 (unsigned long long)a->proc->image_ns);
		add_str(proc, "id", id);
	}
	pysec_proc_identity(h->pid, proc);
	json_object_object_add(o, "process", proc);
	e->alerts++;
	if (e->format == PYSEC_FMT_JSON) {
		write_json(e, o);
		return;
	}
	text_prefix(e, h);
	char broken[512];

	broken_text(a->broken, broken, sizeof(broken));
	fprintf(e->out, "%sALERT %s%s %s%s%s: %s%s%s\n", e->color ? "\033[1;31m" : "", a->kind,
		a->count > 1 ? " (repeated)" : "", target, where[0] ? " from " : "", where, a->reason,
		broken, e->color ? "\033[0m" : "");
	if (a->action)
		fprintf(e->out, "  -> %s%s%s (rule %s)%s\n", a->action, a->signal ? " " : "",
			a->signal ? strsignal(a->signal) : "", a->rule,
			a->would ? (strcmp(a->would, "kill") ? "" : ": enforce would kill") : "");
	if (a->count > 1)
		fprintf(e->out, "  ... %llu identical alerts in all\n", (unsigned long long)a->count);
	json_object_put(o);
	e->records++;
}

void pysec_emit_source(struct pysec_emitter *e, uint32_t pid, const char *comm, const char *source,
		       const char *probe, const char *blind)
{
	if (e->format == PYSEC_FMT_JSON) {
		struct json_object *o = json_object_new_object();
		char t[64];
		int64_t now = e->lost_mono_ns ? (int64_t)e->lost_mono_ns : clock_ns(CLOCK_MONOTONIC);

		format_time(e, (uint64_t)now, 1, t, sizeof(t));
		add_int(o, "schema_version", PYSEC_SCHEMA_VERSION);
		add_str(o, "type", "source");
		add_str(o, "time", t);
		add_int(o, "mono_ns", now);
		add_int(o, "pid", pid);
		add_str(o, "comm", comm);
		add_str(o, "source", source);
		if (probe && *probe)
			json_object_object_add(o, "probe", pysec_bytes_to_json(probe, strlen(probe)));
		add_str(o, "cannot_see", blind);
		write_json(e, o);
		return;
	}
	fprintf(e->out, "pysectrace: attached to %s[%u], source %s%s%s%s; cannot see: %s\n", comm,
		pid, source, probe && *probe ? " (" : "", probe && *probe ? probe : "",
		probe && *probe ? ")" : "", blind);
	fflush(e->out);
}
