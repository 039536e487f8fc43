// SPDX-License-Identifier: MIT
/*
 * test_classify.c — the verdict in user space (userspace/classify.c and the
 * baseline of userspace/baseline.c) on hand-built record streams: every
 * baseline rule explains its own case and nothing just outside its argument
 * and context constraints; the classifier holds pre-arm syscalls until the
 * process arms, never alerts audited syscalls or unhooked execs, holds
 * resolver queries until the thread's next event, aggregates identical
 * alerts, and fills the alert with the process and the thread's context.
 * Syscall numbers are the x86_64 ones the BPF side records.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "classify.h"
#include "cli.h"

#define NR_OPENAT  257
#define NR_CONNECT 42
#define NR_SENDTO  44
#define NR_EXECVE  59

/* The kernel's O_LARGEFILE on x86_64 (glibc's userspace O_LARGEFILE is 0). */
#define KERNEL_O_LARGEFILE 0100000

#define RO_CLOEXEC (O_RDONLY | O_CLOEXEC)
#define JFLAGS	   (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* ---- alerts seen by the callback (copied: the pointers are transient) */

#define MAX_ALERTS 256

struct seen {
	char kind[32];
	char reason[256];
	uint32_t hdr_pid, hdr_tid, proc_pid;
	uint64_t count;
	int has_sys, has_event, has_thr;
	uint32_t nr, verdict;
	uint16_t port;
	char path[PYSEC_PATH_MAX];
	char event[PYSEC_EVENT_MAX]; /* an audit event alert */
	unsigned nctx;		     /* the thread's last events, newest first */
	char ctx[PYSEC_CTX_EVENTS + 1][PYSEC_EVENT_MAX];
	uint64_t ctx_seq[PYSEC_CTX_EVENTS + 1];
	char ctx_file[PYSEC_FILE_MAX];
	uint32_t ctx_line;
	char ctx_args[256];
};

static struct seen S[MAX_ALERTS];
static unsigned nseen;
static struct pysec_classifier *C;

static void on_alert(void *ctx, const struct pysec_alert *a)
{
	struct seen *s;

	(void)ctx;
	if (nseen >= MAX_ALERTS)
		fail_msg("more than %d alerts", MAX_ALERTS);
	s = &S[nseen++];
	memset(s, 0, sizeof(*s));
	assert_non_null(a->kind);
	assert_non_null(a->reason);
	snprintf(s->kind, sizeof(s->kind), "%s", a->kind);
	snprintf(s->reason, sizeof(s->reason), "%s", a->reason);
	if (a->hdr) {
		s->hdr_pid = a->hdr->pid;
		s->hdr_tid = a->hdr->tid;
	}
	s->proc_pid = a->proc ? a->proc->pid : 0;
	s->count = a->count;
	if (a->sys) {
		s->has_sys = 1;
		s->nr = a->sys->nr;
		s->verdict = a->sys->verdict;
		s->port = a->sys->port;
		memcpy(s->path, a->sys->path, sizeof(s->path));
		s->path[sizeof(s->path) - 1] = 0;
	}
	if (a->event) {
		s->has_event = 1;
		snprintf(s->event, sizeof(s->event), "%s", a->event->event);
	}
	if (a->thr) {
		s->has_thr = 1;
		for (unsigned i = 0; i <= PYSEC_CTX_EVENTS; i++) {
			const struct pysec_event_ctx *e = pysec_thread_last(a->thr, i);

			if (!e)
				break;
			snprintf(s->ctx[i], sizeof(s->ctx[i]), "%s", e->event);
			s->ctx_seq[i] = e->seq;
			if (i == 0) {
				snprintf(s->ctx_file, sizeof(s->ctx_file), "%s", e->file);
				s->ctx_line = e->line;
				snprintf(s->ctx_args, sizeof(s->ctx_args), "%s",
					 e->args ? json_object_to_json_string_ext(e->args, JFLAGS)
						 : "(none)");
			}
			s->nctx = i + 1;
		}
	}
}

static int setup(void **state)
{
	nseen = 0;
	C = pysec_classifier_new(on_alert, NULL);
	return C ? 0 : -1;
}

static int teardown(void **state)
{
	pysec_classifier_free(C);
	C = NULL;
	return 0;
}

static const struct seen *last_alert(void)
{
	assert_true(nseen > 0);
	return &S[nseen - 1];
}

/* ---- serialized audit args (hookmod/pysechook_abi.h) */

static struct {
	uint8_t d[PYSEC_ARGS_MAX];
	size_t n;
} AB;

static void ab_mem(const void *p, size_t n)
{
	assert_true(AB.n + n <= sizeof(AB.d));
	memcpy(AB.d + AB.n, p, n);
	AB.n += n;
}

static void ab_u8(uint8_t v)
{
	ab_mem(&v, 1);
}

static void ab_u16(uint16_t v)
{
	ab_u8((uint8_t)v);
	ab_u8((uint8_t)(v >> 8));
}

static void ab_tuple(uint16_t n)
{
	ab_u8(PYSEC_T_TUPLE);
	ab_u16(n);
}

static void ab_list(uint16_t n)
{
	ab_u8(PYSEC_T_LIST);
	ab_u16(n);
}

/* start the args tuple of the next event */
static void args(uint16_t n)
{
	AB.n = 0;
	ab_tuple(n);
}

static void ab_text(uint8_t tag, const char *s)
{
	size_t n = strlen(s);

	ab_u8(tag);
	ab_u16((uint16_t)n);
	ab_mem(s, n);
}

static void ab_str(const char *s)
{
	ab_text(PYSEC_T_STR, s);
}

static void ab_bytes(const char *s)
{
	ab_text(PYSEC_T_BYTES, s);
}

static void ab_other(const char *type)
{
	ab_text(PYSEC_T_OTHER, type);
}

static void ab_none(void)
{
	ab_u8(PYSEC_T_NONE);
}

static void ab_int(int64_t v)
{
	ab_u8(PYSEC_T_INT);
	for (int i = 0; i < 8; i++)
		ab_u8((uint8_t)((uint64_t)v >> (8 * i)));
}

/* ---- records */

static uint64_t next_seq = 1, next_ts = 1000000, next_ip = 0x7f0000001000ull;

static uint64_t fnv(const char *s)
{
	uint64_t h = PYSEC_FNV_OFFSET;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * PYSEC_FNV_PRIME;
	return h;
}

static void hdr(struct pysec_hdr *h, uint32_t type, uint32_t pid, uint32_t tid)
{
	h->type = type;
	h->pid = h->ns_pid = pid;
	h->tid = h->ns_tid = tid;
	h->ts_ns = next_ts += 1000;
	snprintf(h->comm, sizeof(h->comm), "python3");
}

static const char *feed(const void *rec, size_t size)
{
	const char *explained = "(not set)";

	pysec_classify(C, rec, size, &explained);
	return explained;
}

/* An audit event with the args built by args()/ab_*(). */
static void ev_args_at(uint32_t pid, uint32_t tid, const char *event, const char *file,
		       uint32_t line)
{
	static struct pysec_audit_rec r;

	memset(&r, 0, sizeof(r));
	hdr(&r.h, PYSEC_REC_AUDIT, pid, tid);
	r.seq = next_seq++;
	snprintf(r.event, sizeof(r.event), "%s", event);
	snprintf(r.file, sizeof(r.file), "%s", file);
	r.line = line;
	memcpy(r.args, AB.d, AB.n);
	r.args_len = r.args_copied = (uint32_t)AB.n;
	assert_null(feed(&r, sizeof(r)));
}

static void ev_args(uint32_t pid, uint32_t tid, const char *event)
{
	ev_args_at(pid, tid, event, "/home/u/app.py", 1);
}

static void ev(uint32_t pid, uint32_t tid, const char *event)
{
	args(0);
	ev_args(pid, tid, event);
}

static void ev_s(uint32_t pid, uint32_t tid, const char *event, const char *a0)
{
	args(1);
	ab_str(a0);
	ev_args(pid, tid, event);
}

/* socket.connect / sendto / bind: (socket, (host, port)) */
static void ev_sock(uint32_t pid, uint32_t tid, const char *event, const char *host, int port)
{
	args(2);
	ab_other("socket");
	ab_tuple(2);
	ab_str(host);
	ab_int(port);
	ev_args(pid, tid, event);
}

static void proc_rec(uint32_t type, uint32_t pid, uint32_t tid, uint32_t child,
		     const char *filename)
{
	struct pysec_proc_rec r;

	memset(&r, 0, sizeof(r));
	hdr(&r.h, type, pid, tid);
	r.child_pid = child;
	if (filename)
		snprintf(r.filename, sizeof(r.filename), "%s", filename);
	assert_null(feed(&r, sizeof(r)));
}

static void p_fork(uint32_t pid, uint32_t tid, uint32_t child)
{
	proc_rec(PYSEC_REC_FORK, pid, tid, child, NULL);
}

static void p_exec(uint32_t pid, const char *filename)
{
	proc_rec(PYSEC_REC_EXEC, pid, pid, 0, filename);
}

static void p_exit(uint32_t pid)
{
	proc_rec(PYSEC_REC_EXIT, pid, pid, 0, NULL);
}

/* A syscall record; every one gets its own code site (ip), so that only
 * records fed twice on purpose are identical. */
static struct pysec_sys_rec sys_base(uint32_t pid, uint32_t tid, uint32_t verdict, uint32_t nr,
				     uint32_t kind)
{
	struct pysec_sys_rec r;

	memset(&r, 0, sizeof(r));
	hdr(&r.h, PYSEC_REC_SYSCALL, pid, tid);
	r.enter_ns = r.h.ts_ns - 500;
	r.ip = next_ip += 0x10;
	r.nr = nr;
	r.verdict = verdict;
	r.why = verdict == PYSEC_V_UNAUDITED ? PYSEC_WHY_NO_TOKEN : 0;
	r.token_kind = kind;
	r.dirfd = -100; /* AT_FDCWD */
	r.origin_flags = PYSEC_ORIGIN_FOUND | PYSEC_ORIGIN_FILE | PYSEC_ORIGIN_EXEC;
	snprintf(r.origin, sizeof(r.origin), "libc.so.6");
	return r;
}

static void set_path(struct pysec_sys_rec *r, const char *path)
{
	assert_true(strlen(path) < sizeof(r->path));
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->path_len = (uint32_t)strlen(path);
}

static struct pysec_sys_rec sys_open(uint32_t pid, uint32_t tid, uint32_t verdict, const char *path,
				     uint64_t flags)
{
	struct pysec_sys_rec r = sys_base(pid, tid, verdict, NR_OPENAT, PYSEC_TK_PATH);
	const char *b = strrchr(path, '/');

	set_path(&r, path);
	r.flags = flags;
	r.mode = flags & O_CREAT ? 0644 : 0;
	r.key = fnv(path);
	r.ret = 3;
	snprintf(r.opened, sizeof(r.opened), "%s", b ? b + 1 : path);
	return r;
}

static struct pysec_sys_rec sys_unix(uint32_t pid, uint32_t tid, uint32_t verdict, uint32_t nr,
				     const char *path)
{
	struct pysec_sys_rec r = sys_base(pid, tid, verdict, nr, PYSEC_TK_CONNECT);

	r.family = AF_UNIX;
	set_path(&r, path);
	r.key = fnv(path);
	r.dirfd = 3;
	return r;
}

static struct pysec_sys_rec sys_inet(uint32_t pid, uint32_t tid, uint32_t verdict, const char *addr,
				     uint16_t port)
{
	struct pysec_sys_rec r = sys_base(pid, tid, verdict, NR_CONNECT, PYSEC_TK_CONNECT);

	if (inet_pton(AF_INET, addr, r.addr) == 1)
		r.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, r.addr) == 1)
		r.family = AF_INET6;
	else
		fail_msg("bad address %s", addr);
	r.port = port;
	r.key = fnv(addr) ^ port;
	r.dirfd = 3;
	return r;
}

/* argv: NUL-separated, with the final NUL (sizeof of a literal minus one) */
static struct pysec_sys_rec sys_exec(uint32_t pid, uint32_t tid, uint32_t verdict, const char *path,
				     const char *argv, size_t argv_len)
{
	struct pysec_sys_rec r = sys_base(pid, tid, verdict, NR_EXECVE, PYSEC_TK_EXEC);
	const char *b = strrchr(path, '/');

	set_path(&r, path);
	assert_true(argv_len <= sizeof(r.argv));
	memcpy(r.argv, argv, argv_len);
	r.argv_len = (uint32_t)argv_len;
	r.key = fnv(b ? b + 1 : path);
	return r;
}

#define ARGV(lit) (lit), sizeof(lit) - 1

/* ---- expectations (what: names the case in the failure message) */

static const char *target(const struct pysec_sys_rec *r)
{
	return r->path[0] ? r->path : "(inet)";
}

static void expect_explained(const char *what, const struct pysec_sys_rec *r, const char *rule)
{
	unsigned n0 = nseen;
	const char *got = feed(r, sizeof(*r));

	if (!got || strcmp(got, rule))
		fail_msg("%s (%s): explained by %s, expected %s", what, target(r),
			 got ? got : "nothing", rule);
	if (nseen != n0)
		fail_msg("%s (%s): explained by %s but alerted (%s)", what, target(r), got,
			 S[nseen - 1].reason);
}

/* Alerted at once, as a bypass of this very record. */
static void expect_alert(const char *what, const struct pysec_sys_rec *r)
{
	unsigned n0 = nseen;
	const char *got = feed(r, sizeof(*r));
	const struct seen *a;

	if (got)
		fail_msg("%s (%s): explained by %s, expected an alert", what, target(r), got);
	if (nseen != n0 + 1)
		fail_msg("%s (%s): %u alerts, expected 1", what, target(r), nseen - n0);
	a = last_alert();
	if (!a->has_sys || a->nr != r->nr || strcmp(a->path, r->path) || a->port != r->port ||
	    a->hdr_pid != r->h.pid || a->hdr_tid != r->h.tid)
		fail_msg("%s (%s): the alert is about another record (%s)", what, target(r),
			 a->path);
	if (strcmp(a->kind, "bypass"))
		fail_msg("%s (%s): kind %s", what, target(r), a->kind);
	if (!a->reason[0])
		fail_msg("%s (%s): empty reason", what, target(r));
	if (a->count != 1)
		fail_msg("%s (%s): count %llu", what, target(r), (unsigned long long)a->count);
	if (a->proc_pid != r->h.pid)
		fail_msg("%s (%s): alert->proc->pid %u", what, target(r), a->proc_pid);
}

/* Neither explained nor alerted (audited, held, or dropped). */
static void expect_quiet(const char *what, const struct pysec_sys_rec *r)
{
	unsigned n0 = nseen;
	const char *got = feed(r, sizeof(*r));

	if (got)
		fail_msg("%s (%s): explained by %s, expected nothing", what, target(r), got);
	if (nseen != n0)
		fail_msg("%s (%s): alerted (%s)", what, target(r), S[nseen - 1].reason);
}

static void expect_no_new_alerts(const char *what, unsigned n0)
{
	if (nseen != n0)
		fail_msg("%s: %u unexpected alert(s), the first about %s: %s", what, nseen - n0,
			 S[n0].path, S[n0].reason);
}

/* A hooked Python running a script: armed and started. */
#define PYEXE "/usr/bin/python3.12"

static void py_proc(uint32_t pid)
{
	p_exec(pid, PYEXE);
	ev(pid, pid, "pysectrace.armed");
	ev_s(pid, pid, "cpython.run_file", "/home/u/app.py");
}

/* ---- /etc/resolv.conf, read independently of baseline.c */

struct ns {
	int family;
	char text[64];
};

static struct ns NS[8];
static int nns = -1;

static void read_nameservers(void)
{
	char line[256], a[64];
	uint8_t buf[16];
	FILE *f;

	if (nns >= 0)
		return;
	nns = 0;
	f = fopen("/etc/resolv.conf", "r");
	while (f && fgets(line, sizeof(line), f) && nns < 8) {
		if (sscanf(line, " nameserver %63s", a) != 1)
			continue;
		if (inet_pton(AF_INET, a, buf) == 1)
			NS[nns].family = AF_INET;
		else if (inet_pton(AF_INET6, a, buf) == 1)
			NS[nns].family = AF_INET6;
		else
			continue;
		snprintf(NS[nns++].text, sizeof(NS[0].text), "%s", a);
	}
	if (f)
		fclose(f);
}

static int is_ns(const char *addr)
{
	uint8_t x[16], y[16];
	int fam = inet_pton(AF_INET, addr, x) == 1 ? AF_INET : AF_INET6;

	if (fam == AF_INET6 && inet_pton(AF_INET6, addr, x) != 1)
		return 0;
	read_nameservers();
	for (int i = 0; i < nns; i++)
		if (NS[i].family == fam && inet_pton(fam, NS[i].text, y) == 1 &&
		    !memcmp(x, y, fam == AF_INET ? 4 : 16))
			return 1;
	return 0;
}

/* Port-53 targets that are not nameservers here. */
static const char *const NOT_NS[] = {"192.0.2.53", "198.51.100.53", "127.0.0.53", "127.0.0.1",
				     "8.8.8.8",	   "2001:db8::53",  "::1",	  NULL};

/* ================================================================ rules */

static void test_ld_so_library_load(void **state)
{
	static const char *const libs[] = {
	    "/usr/lib/x86_64-linux-gnu/libssl.so.3",
	    "/opt/app/lib/libfoo.so",
	    "/opt/app/bin/../lib/libfoo.so.1.2", /* $ORIGIN/../lib */
	    "libfoo.so.1.2",
	    "/lib64/ld-linux-x86-64.so.2",
	    "/usr/lib/python3.12/lib-dynload/_ssl.cpython-312-x86_64-linux-gnu.so",
	    "/etc/ld.so.cache",
	    "/etc/ld.so.preload",
	    NULL,
	};
	static const char *const not_libs[] = {
	    "/home/u/.ssh/id_rsa",
	    "/tmp/libfoo.so.bak",
	    "/tmp/libfoo.so.1a",
	    "/tmp/libfoo.sox",
	    "/tmp/x.so/data",
	    "/tmp/libfoo.so.1/data",
	    "/etc/ld.so.cache.evil",
	    "/etc/ld.so.conf",
	    "/tmp/so",
	    NULL,
	};
	struct pysec_sys_rec r;

	py_proc(100);
	for (const char *const *p = libs; *p; p++) {
		r = sys_open(100, 100, PYSEC_V_UNAUDITED, *p, RO_CLOEXEC);
		expect_explained("library, O_RDONLY|O_CLOEXEC", &r, "ld_so_library_load");
	}
	/* before the hook armed: explained at once, never held */
	r = sys_open(101, 101, PYSEC_V_UNHOOKED, "/lib/x86_64-linux-gnu/libc.so.6", RO_CLOEXEC);
	expect_explained("library, pre-arm", &r, "ld_so_library_load");
	ev(101, 101, "pysectrace.armed");
	expect_no_new_alerts("pre-arm library load, then armed", 0);

	/* flags: exactly O_RDONLY|O_CLOEXEC */
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/opt/app/lib/libfoo.so", O_RDONLY);
	expect_alert("library without O_CLOEXEC", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/opt/app/lib/libfoo.so", O_RDWR | O_CLOEXEC);
	expect_alert("library opened read-write", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/opt/app/lib/libfoo.so", O_WRONLY | O_CLOEXEC);
	expect_alert("library opened for writing", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/etc/ld.so.cache",
		     O_RDONLY | O_CLOEXEC | O_TRUNC);
	expect_alert("ld.so.cache with O_TRUNC", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/opt/app/lib/libfoo.so",
		     RO_CLOEXEC | O_NOFOLLOW);
	expect_alert("library with O_NOFOLLOW", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/opt/app/lib/libfoo.so", RO_CLOEXEC | O_CREAT);
	expect_alert("library with O_CREAT", &r);
	/* the path: library-shaped */
	for (const char *const *p = not_libs; *p; p++) {
		r = sys_open(100, 100, PYSEC_V_UNAUDITED, *p, RO_CLOEXEC);
		expect_alert("not a library, O_RDONLY|O_CLOEXEC", &r);
	}
	/* a connect never is a library load */
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/tmp/libfoo.so");
	expect_alert("connect to a library-shaped unix socket", &r);
}

/* The kernel may report its own O_LARGEFILE bit: the rule ignores it. */
static void test_ld_so_ignores_kernel_o_largefile(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/usr/lib/x86_64-linux-gnu/libz.so.1",
		     RO_CLOEXEC | KERNEL_O_LARGEFILE);
	expect_explained("library, O_RDONLY|O_CLOEXEC|O_LARGEFILE", &r, "ld_so_library_load");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/usr/lib/x86_64-linux-gnu/libz.so.1",
		     O_RDWR | O_CLOEXEC | KERNEL_O_LARGEFILE);
	expect_alert("library, O_RDWR|O_CLOEXEC|O_LARGEFILE", &r);
}

/* O_PATH handles are explained; the same path opened for reading is not. */
static void test_o_path_no_data(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/x/symlink", 010000000 | O_NOFOLLOW | O_CLOEXEC);
	expect_explained("O_PATH|O_NOFOLLOW", &r, "o_path_no_data");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/x/symlink", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	expect_alert("O_RDONLY|O_NOFOLLOW", &r);
}

/* A library-shaped path whose fd names another file: a symlink, no library. */
static void test_ld_so_symlink_to_non_library(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/evil.so", RO_CLOEXEC);
	snprintf(r.opened, sizeof(r.opened), "shadow");
	expect_alert("/tmp/evil.so -> shadow", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/lib/x86_64-linux-gnu/libz.so.1", RO_CLOEXEC);
	snprintf(r.opened, sizeof(r.opened), "libz.so.1.2.13");
	expect_explained("libz.so.1 -> libz.so.1.2.13", &r, "ld_so_library_load");
}

static void test_libc_locale_tz(void **state)
{
	static const char *const in[] = {
	    "/usr/share/zoneinfo/Europe/Paris",
	    "/etc/localtime",
	    "/etc/locale.alias",
	    "/usr/lib/locale/locale-archive",
	    "/usr/lib/locale/C.utf8/LC_CTYPE",
	    "/usr/share/locale/locale.alias",
	    "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache",
	    "/usr/share/i18n/charmaps/UTF-8.gz",
	    NULL,
	};
	static const char *const outside[] = {
	    "/usr/share/zoneinfo",
	    "/usr/share/zoneinfo.bak/x",
	    "/usr/share/zoneinfoX",
	    "/etc/localtime2",
	    "/etc/localtime/x",
	    "/etc/locale.alias~",
	    "/usr/lib/localeX/a",
	    "/usr/share/i18nx/a",
	    "/home/u/usr/share/zoneinfo/UTC",
	    NULL,
	};
	struct pysec_sys_rec r;

	py_proc(100);
	for (const char *const *p = in; *p; p++) {
		r = sys_open(100, 100, PYSEC_V_UNAUDITED, *p, RO_CLOEXEC);
		expect_explained("locale/tz data, read", &r, "libc_locale_tz");
	}
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/etc/localtime", O_RDONLY);
	expect_explained("localtime, O_RDONLY", &r, "libc_locale_tz");
	r = sys_open(100, 100, PYSEC_V_UNHOOKED, "/usr/lib/locale/locale-archive", RO_CLOEXEC);
	expect_explained("locale, pre-arm", &r, "libc_locale_tz");

	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/etc/localtime", O_WRONLY | O_CLOEXEC);
	expect_alert("localtime for writing", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/usr/share/zoneinfo/UTC", O_RDWR);
	expect_alert("zoneinfo read-write", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/usr/share/zoneinfo/UTC", O_RDONLY | O_TRUNC);
	expect_alert("zoneinfo with O_TRUNC", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/usr/share/zoneinfo/New", O_RDONLY | O_CREAT);
	expect_alert("zoneinfo with O_CREAT", &r);
	for (const char *const *p = outside; *p; p++) {
		r = sys_open(100, 100, PYSEC_V_UNAUDITED, *p, RO_CLOEXEC);
		expect_alert("just outside the locale/tz list", &r);
	}
}

static void test_libc_nss_config(void **state)
{
	static const char *const in[] = {
	    "/etc/hosts",
	    "/etc/nsswitch.conf",
	    "/etc/resolv.conf",
	    "/etc/host.conf",
	    "/etc/gai.conf",
	    "/etc/services",
	    "/etc/protocols",
	    "/etc/networks",
	    "/etc/passwd",
	    "/etc/group",
	    NULL,
	};
	static const char *const outside[] = {
	    "/etc/shadow",  "/etc/gshadow",   "/etc/hosts.allow", "/etc/hosts~", "/etc/passwd-",
	    "/etc/group/x", "/tmp/etc/hosts", "etc/hosts",	  NULL,
	};
	struct pysec_sys_rec r;

	py_proc(100);
	for (const char *const *p = in; *p; p++) {
		r = sys_open(100, 100, PYSEC_V_UNAUDITED, *p, RO_CLOEXEC);
		expect_explained("resolver config, read", &r, "libc_nss_config");
	}
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/etc/hosts", O_WRONLY | O_APPEND);
	expect_alert("/etc/hosts for appending", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/etc/passwd", O_RDWR | O_CLOEXEC);
	expect_alert("/etc/passwd read-write", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/etc/resolv.conf", O_RDONLY | O_TRUNC);
	expect_alert("/etc/resolv.conf with O_TRUNC", &r);
	for (const char *const *p = outside; *p; p++) {
		r = sys_open(100, 100, PYSEC_V_UNAUDITED, *p, RO_CLOEXEC);
		expect_alert("just outside the resolver config list", &r);
	}
}

static void test_libc_nscd(void **state)
{
	static const char *const in[] = {
	    "/var/run/nscd/socket",
	    "/run/nscd/socket",
	    "/run/systemd/resolve/io.systemd.Resolve",
	    NULL,
	};
	struct pysec_sys_rec r;

	py_proc(100);
	for (const char *const *p = in; *p; p++) {
		r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, *p);
		expect_explained("nscd connect", &r, "libc_nscd");
	}
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/run/nscd/socket2");
	expect_alert("just outside the nscd sockets", &r);
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/run/systemd/resolve/x");
	expect_alert("another resolved socket", &r);
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_SENDTO, "/run/nscd/socket");
	expect_alert("sendto the nscd socket (not connect)", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/run/nscd/socket", O_RDWR);
	expect_alert("open of the nscd socket path", &r);
}

/* libc_dns_query: a nameserver of /etc/resolv.conf, port 53, resolution or socket.* event */
static void test_libc_dns_query(void **state)
{
	static const char *const events[] = {
	    "socket.getaddrinfo",      "socket.gethostbyname",
	    "socket.gethostbyname_ex", "socket.gethostbyaddr",
	    "socket.getnameinfo",      "socket.__new__",
	    "socket.connect",	       NULL,
	};
	struct pysec_sys_rec r;
	char what[160];

	read_nameservers();
	py_proc(100);
	/* not a nameserver, or not port 53: alerted at once, never held */
	for (const char *const *a = NOT_NS; *a; a++) {
		if (is_ns(*a))
			continue;
		for (const char *const *e = events; *e; e++) {
			ev(100, 100, *e);
			r = sys_inet(100, 100, PYSEC_V_UNAUDITED, *a, 53);
			snprintf(what, sizeof(what), "%s:53 (no nameserver) after %s", *a, *e);
			expect_alert(what, &r);
		}
	}
	if (nns == 0) {
		/* no nameserver configured: the rule never matches */
		print_message(
		    "/etc/resolv.conf has no nameserver: checking the rule never matches\n");
		return;
	}
	for (int i = 0; i < nns && i < 3; i++) {
		for (const char *const *e = events; *e; e++) {
			ev(100, 100, *e);
			r = sys_inet(100, 100, PYSEC_V_UNAUDITED, NS[i].text, 53);
			snprintf(what, sizeof(what), "nameserver %s:53 after %s", NS[i].text, *e);
			expect_explained(what, &r, "libc_dns_query");
		}
		ev(100, 100, "socket.getaddrinfo");
		r = sys_inet(100, 100, PYSEC_V_UNAUDITED, NS[i].text, 5353);
		expect_alert("nameserver, port 5353", &r);
		r = sys_inet(100, 100, PYSEC_V_UNAUDITED, NS[i].text, 443);
		expect_alert("nameserver, port 443", &r);
		/* a unix socket on "port 53" is no DNS query */
		r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/run/dns.sock");
		r.port = 53;
		expect_alert("unix socket with port 53", &r);
	}
}

static void ev_getaddrinfo(uint32_t pid, uint32_t tid, const char *host, int port,
			   const char *sport)
{
	args(6);
	ab_str(host);
	if (sport)
		ab_str(sport);
	else if (port >= 0)
		ab_int(port);
	else
		ab_none();
	ab_int(0);
	ab_int(1);
	ab_int(0);
	ab_int(0);
	ev_args(pid, tid, "socket.getaddrinfo");
}

static void test_libc_gai_sort(void **state)
{
	struct pysec_sys_rec r;

	assert_false(is_ns("93.184.216.34"));
	py_proc(100);
	ev_getaddrinfo(100, 100, "example.com", 443, NULL);
	r = sys_inet(100, 100, PYSEC_V_UNAUDITED, "93.184.216.34", 443);
	expect_explained("getaddrinfo(port 443) probing :443", &r, "libc_gai_sort");
	r = sys_inet(100, 100, PYSEC_V_UNAUDITED, "2606:2800:220:1:248:1893:25c8:1946", 443);
	expect_explained("getaddrinfo(port 443) probing [v6]:443", &r, "libc_gai_sort");
	r = sys_inet(100, 100, PYSEC_V_UNAUDITED, "93.184.216.34", 80);
	expect_alert("getaddrinfo(port 443), connect :80", &r);
	r = sys_inet(100, 100, PYSEC_V_UNAUDITED, "93.184.216.34", 0);
	expect_alert("getaddrinfo(port 443), connect :0", &r);

	ev_getaddrinfo(100, 100, "example.com", 0, "8443");
	r = sys_inet(100, 100, PYSEC_V_UNAUDITED, "93.184.216.34", 8443);
	expect_explained("getaddrinfo(port '8443') probing :8443", &r, "libc_gai_sort");
	r = sys_inet(100, 100, PYSEC_V_UNAUDITED, "93.184.216.34", 443);
	expect_alert("getaddrinfo(port '8443'), connect :443", &r);

	ev_getaddrinfo(100, 100, "example.com", 0, "https");
	r = sys_inet(100, 100, PYSEC_V_UNAUDITED, "93.184.216.34", 0);
	expect_alert("getaddrinfo(port 'https'), connect :0", &r);
	r = sys_inet(100, 100, PYSEC_V_UNAUDITED, "93.184.216.34", 443);
	expect_explained("getaddrinfo(port 'https'), connect :443 (service name mapped)", &r,
			 "libc_gai_sort");

	/* no port, or one out of range: glibc's answers (and probes) carry port 0 */
	ev_getaddrinfo(100, 100, "example.com", -1, NULL);
	r = sys_inet(100, 100, PYSEC_V_UNAUDITED, "93.184.216.34", 0);
	expect_explained("getaddrinfo(port None), connect :0", &r, "libc_gai_sort");
	r = sys_inet(100, 100, PYSEC_V_UNAUDITED, "93.184.216.34", 80);
	expect_alert("getaddrinfo(port None), connect :80", &r);

	/* the getaddrinfo event must be the thread's last one, in this thread */
	ev_getaddrinfo(100, 100, "example.com", 443, NULL);
	ev(100, 100, "open");
	r = sys_inet(100, 100, PYSEC_V_UNAUDITED, "93.184.216.34", 443);
	expect_alert("getaddrinfo, then another event, then :443", &r);
	ev_getaddrinfo(100, 100, "example.com", 443, NULL);
	ev(100, 101, "open");
	r = sys_inet(100, 101, PYSEC_V_UNAUDITED, "93.184.216.34", 443);
	expect_alert("getaddrinfo in another thread", &r);
	r = sys_inet(100, 102, PYSEC_V_UNAUDITED, "93.184.216.34", 443);
	expect_alert("a thread with no event", &r);
	ev_getaddrinfo(100, 100, "example.com", 443, NULL);
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_SENDTO, "/tmp/x.sock");
	r.port = 443;
	expect_alert("getaddrinfo, then sendto", &r);
}

static void test_openssl_trust_store(void **state)
{
	static const char *const in[] = {
	    "/etc/ssl/certs/ca-certificates.crt",
	    "/etc/ssl/certs",
	    "/etc/ssl/certs/",
	    "/usr/lib/ssl/cert.pem",
	    "/usr/lib/ssl/certs",
	    "/usr/lib/ssl/certs/4a6481c9.0",
	    "/etc/ssl/cert.pem",
	    "/usr/lib/ssl/openssl.cnf",
	    NULL,
	};
	static const char *const outside[] = {
	    "/etc/ssl/private/server.key",  "/etc/ssl/certsX",
	    "/etc/ssl/certs.bak/a",	    "/etc/ssl/openssl.cnf.d/x",
	    "/usr/lib/ssl/private/key.pem", "/etc/ssl/cert.pem.key",
	    "/home/u/etc/ssl/certs/x",	    NULL,
	};
	struct pysec_sys_rec r;

	py_proc(100);
	for (const char *const *p = in; *p; p++) {
		r = sys_open(100, 100, PYSEC_V_UNAUDITED, *p, RO_CLOEXEC);
		expect_explained("trust store, read", &r, "openssl_trust_store");
	}
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/etc/ssl/certs/evil.pem",
		     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
	expect_alert("trust store, written", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/etc/ssl/cert.pem", O_RDWR);
	expect_alert("trust store, read-write", &r);
	for (const char *const *p = outside; *p; p++) {
		r = sys_open(100, 100, PYSEC_V_UNAUDITED, *p, RO_CLOEXEC);
		expect_alert("just outside the trust store", &r);
	}
}

/*
 * Files named to ssl (load_cert_chain, cafile=): read-only key/cert names,
 * once the loader brought in _ssl, and never after ctypes in the image.
 */
static void test_openssl_key_files(void **state)
{
	static const char *const in[] = {
	    "/srv/tls/server.pem", "/srv/tls/server.key", "/etc/app/ca.crt",
	    "/opt/x/client.cer",   "/opt/x/client.der",	  NULL,
	};
	static const char *const outside[] = {
	    "/srv/tls/server.pem.bak", "/srv/tls/../../etc/shadow.pem", "/etc/shadow",
	    "/home/u/.ssh/id_rsa",     "/srv/tls/keys",		    NULL,
	};
	const uint32_t pid = 4190001; /* no such process: /proc says nothing of it */
	struct pysec_sys_rec r;

	py_proc(pid);
	r = sys_open(pid, pid, PYSEC_V_UNAUDITED, "/srv/tls/server.pem", O_RDONLY);
	expect_alert("a key file before _ssl is loaded", &r);
	r = sys_open(pid, pid, PYSEC_V_UNAUDITED,
		     "/usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so",
		     RO_CLOEXEC);
	expect_explained("the loader opens _ssl", &r, "ld_so_library_load");
	for (const char *const *p = in; *p; p++) {
		r = sys_open(pid, pid, PYSEC_V_UNAUDITED, *p, O_RDONLY);
		expect_explained("a key/cert file, read", &r, "openssl_key_files");
	}
	for (const char *const *p = outside; *p; p++) {
		r = sys_open(pid, pid, PYSEC_V_UNAUDITED, *p, O_RDONLY);
		expect_alert("not a key/cert file name", &r);
	}
	r = sys_open(pid, pid, PYSEC_V_UNAUDITED, "/srv/tls/new.pem", O_WRONLY | O_CREAT);
	expect_alert("a cert file, written", &r);
	r = sys_open(pid, pid, PYSEC_V_UNAUDITED, "/srv/tls/server.key", O_RDWR);
	expect_alert("a key file, read-write", &r);
	ev(pid, pid, "ctypes.dlopen");
	r = sys_open(pid, pid, PYSEC_V_UNAUDITED, "/srv/tls/server.key", O_RDONLY);
	expect_alert("a key file after ctypes", &r);
	/* a new image has neither _ssl nor ctypes */
	py_proc(pid);
	r = sys_open(pid, pid, PYSEC_V_UNAUDITED, "/srv/tls/server.key", O_RDONLY);
	expect_alert("a key file in a new image without _ssl", &r);
	r = sys_open(pid, pid, PYSEC_V_UNAUDITED, "/usr/lib/x86_64-linux-gnu/libssl.so.3",
		     RO_CLOEXEC);
	expect_explained("the loader opens libssl", &r, "ld_so_library_load");
	r = sys_open(pid, pid, PYSEC_V_UNAUDITED, "/srv/tls/server.key", O_RDONLY);
	expect_explained("a key file, libssl loaded", &r, "openssl_key_files");
}

/* A listed directory must not explain a path that leaves it with "..". */
static void test_listed_dirs_do_not_cover_dotdot(void **state)
{
	static const char *const escapes[] = {
	    "/usr/share/zoneinfo/../../../home/u/.ssh/id_rsa",
	    "/usr/lib/locale/../../../etc/shadow",
	    "/etc/ssl/certs/../private/server.key",
	    "/usr/lib/ssl/certs/../private/key.pem",
	    "/usr/share/zoneinfo/..",
	    NULL,
	};
	struct pysec_sys_rec r;

	py_proc(100);
	for (const char *const *p = escapes; *p; p++) {
		r = sys_open(100, 100, PYSEC_V_UNAUDITED, *p, O_RDONLY);
		expect_alert("a listed directory, then ..", &r);
	}
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/glibc-hwcaps/../../home/u/.ssh/id_rsa",
		     RO_CLOEXEC);
	expect_alert("glibc-hwcaps, then ..", &r);
}

static void test_libc_openpty(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/ptmx", O_RDWR | O_NOCTTY);
	expect_explained("ptmx O_RDWR|O_NOCTTY", &r, "libc_openpty");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	expect_explained("ptmx O_RDWR|O_NOCTTY|O_CLOEXEC", &r, "libc_openpty");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/ptmx", O_RDONLY);
	expect_alert("ptmx read-only", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/ptmx", O_WRONLY);
	expect_alert("ptmx write-only", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/tty", O_RDWR | O_NOCTTY);
	expect_alert("/dev/tty", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/pts/ptmx", O_RDWR | O_NOCTTY);
	expect_alert("/dev/pts/ptmx", &r);
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/dev/ptmx");
	expect_alert("connect to /dev/ptmx", &r);
}

static void test_libuuid_clock(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/var/lib/libuuid/clock.txt",
		     O_RDWR | O_CREAT | O_CLOEXEC);
	expect_explained("uuid clock file", &r, "libuuid_clock");
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/run/uuidd/request");
	expect_explained("uuidd socket", &r, "libuuid_clock");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/var/lib/libuuid/clock.txt.bak",
		     O_RDWR | O_CREAT | O_CLOEXEC);
	expect_alert("uuid clock lookalike", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/var/lib/libuuid/other", O_RDWR | O_CREAT);
	expect_alert("another file of libuuid's directory", &r);
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/run/uuidd/request2");
	expect_alert("uuidd socket lookalike", &r);
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/var/lib/libuuid/clock.txt");
	expect_alert("connect to the clock file path", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/run/uuidd/request", O_RDWR);
	expect_alert("open of the uuidd socket path", &r);
}

static void test_libc_syslog(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	ev(100, 100, "syslog.openlog");
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/dev/log");
	expect_explained("/dev/log after syslog.openlog", &r, "libc_syslog");
	ev(100, 100, "syslog.syslog");
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/dev/log");
	expect_explained("/dev/log after syslog.syslog", &r, "libc_syslog");

	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/dev/log2");
	expect_alert("/dev/log lookalike after syslog.syslog", &r);
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/run/systemd/journal/stdout");
	expect_alert("another socket after syslog.syslog", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/log", O_WRONLY);
	expect_alert("open of /dev/log after syslog.syslog", &r);
	r = sys_unix(100, 101, PYSEC_V_UNAUDITED, NR_CONNECT, "/dev/log");
	expect_alert("/dev/log from a thread with no syslog event", &r);
	ev(100, 100, "open");
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/dev/log");
	expect_alert("/dev/log after syslog.syslog, then open", &r);
	ev(100, 100, "syslogx");
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/dev/log");
	expect_alert("/dev/log after an event named syslogx", &r);
}

static void test_posix_spawn_file_actions(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	args(3);
	ab_str("/bin/ls");
	ab_list(1);
	ab_str("ls");
	ab_none();
	ev_args(100, 100, "os.posix_spawn");
	p_fork(100, 100, 200);
	r = sys_open(200, 200, PYSEC_V_UNAUDITED, "/tmp/out.txt",
		     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
	expect_explained("file action in the posix_spawn child", &r, "posix_spawn_file_actions");
	r = sys_open(200, 200, PYSEC_V_UNHOOKED, "/dev/null", O_RDONLY);
	expect_explained("file action in the posix_spawn child, unhooked", &r,
			 "posix_spawn_file_actions");

	/* not in the parent */
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/out.txt", O_WRONLY | O_CREAT | O_TRUNC);
	expect_alert("open in the parent after os.posix_spawn", &r);
	/* not in a child forked for subprocess.Popen or os.fork */
	ev(100, 100, "subprocess.Popen");
	p_fork(100, 100, 201);
	r = sys_open(201, 201, PYSEC_V_UNAUDITED, "/tmp/out.txt", O_WRONLY | O_CREAT | O_TRUNC);
	expect_alert("write-open in a subprocess.Popen child", &r);
	ev(100, 100, "os.fork");
	p_fork(100, 100, 202);
	r = sys_open(202, 202, PYSEC_V_UNAUDITED, "/tmp/out.txt", O_WRONLY | O_CREAT | O_TRUNC);
	expect_alert("write-open in an os.fork child", &r);
	/* not once the child exec'd */
	p_exec(200, "/bin/ls");
	ev(200, 200, "pysectrace.armed");
	r = sys_open(200, 200, PYSEC_V_UNAUDITED, "/tmp/out.txt", O_WRONLY | O_CREAT | O_TRUNC);
	expect_alert("write-open in the posix_spawn child after its exec", &r);
	/* not in the child's own child */
	ev(100, 100, "os.posix_spawn");
	p_fork(100, 100, 203);
	p_fork(203, 203, 204);
	r = sys_open(204, 204, PYSEC_V_UNAUDITED, "/tmp/out.txt", O_WRONLY | O_CREAT | O_TRUNC);
	expect_alert("write-open in the posix_spawn child's child", &r);
	/* connects are no file actions */
	r = sys_inet(203, 203, PYSEC_V_UNAUDITED, "192.0.2.1", 443);
	expect_alert("connect in the posix_spawn child", &r);
}

static void test_urandom_read(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/urandom", RO_CLOEXEC);
	expect_explained("/dev/urandom", &r, "urandom_read");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/random", O_RDONLY);
	expect_explained("/dev/random", &r, "urandom_read");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/urandom", O_WRONLY);
	expect_alert("/dev/urandom for writing", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/random", O_RDWR);
	expect_alert("/dev/random read-write", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/zero", O_RDONLY);
	expect_alert("/dev/zero", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/urandom2", O_RDONLY);
	expect_alert("/dev/urandom lookalike", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/dev/urandom", O_RDONLY);
	expect_alert("/dev/urandom elsewhere", &r);
}

static void test_overcommit_policy(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/proc/sys/vm/overcommit_memory", RO_CLOEXEC);
	expect_explained("overcommit_memory", &r, "overcommit_policy");
	r = sys_open(100, 100, PYSEC_V_UNHOOKED, "/proc/sys/vm/overcommit_memory", RO_CLOEXEC);
	expect_explained("overcommit_memory, pre-arm", &r, "overcommit_policy");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/proc/sys/vm/overcommit_memory", O_WRONLY);
	expect_alert("overcommit_memory for writing", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/proc/sys/vm/overcommit_ratio", RO_CLOEXEC);
	expect_alert("overcommit_ratio", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/proc/sys/vm/swappiness", RO_CLOEXEC);
	expect_alert("swappiness", &r);
}

static void test_libc_posix_sem(void **state)
{
	struct pysec_sys_rec r;
	const uint64_t create = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;

	py_proc(100);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/shm/sem.mp-k3j2x9a1", create);
	expect_explained("semaphore created", &r, "libc_posix_sem");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/shm/sem.mp-k3j2x9a1",
		     O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	expect_explained("semaphore opened", &r, "libc_posix_sem");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/shm/sem.mp-k3j2x9a1", O_RDONLY);
	expect_alert("semaphore read-only", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/shm/sem.mp-k3j2x9a1", O_WRONLY);
	expect_alert("semaphore write-only", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/shm/data", create);
	expect_alert("other shared memory", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/shm/semx.a", create);
	expect_alert("semaphore lookalike", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/shm/sem.a/b", create);
	expect_alert("under a sem.* directory", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/dev/shm/sem.a/../../../etc/shadow", O_RDWR);
	expect_alert("sem.*, then ..", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/dev/shm/sem.a", create);
	expect_alert("sem.* elsewhere", &r);
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/dev/shm/sem.a");
	expect_alert("connect to a sem.* path", &r);
}

static void test_sqlite_side_files(void **state)
{
	static const char *const side[] = {
	    "/tmp/d/app.db",
	    "/tmp/d/app.db-journal",
	    "/tmp/d/app.db-wal",
	    "/tmp/d/app.db-shm",
	    NULL,
	};
	struct pysec_sys_rec r;
	const uint64_t rw = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC;

	py_proc(100);
	py_proc(300); /* unrelated */
	/* before the connect event: nothing */
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/d/app.db-journal", rw);
	expect_alert("journal before sqlite3.connect", &r);

	ev_s(100, 100, "sqlite3.connect", "/tmp/d/app.db");
	for (const char *const *p = side; *p; p++) {
		r = sys_open(100, 100, PYSEC_V_UNAUDITED, *p, rw);
		expect_explained("sqlite side file", &r, "sqlite_side_files");
	}
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/d", RO_CLOEXEC);
	expect_explained("the database's directory, read", &r, "sqlite_side_files");
	/* any thread of the process, later events in between */
	ev(100, 101, "open");
	r = sys_open(100, 101, PYSEC_V_UNAUDITED, "/tmp/d/app.db-wal", rw);
	expect_explained("WAL from another thread", &r, "sqlite_side_files");
	/* a forked child shares the connection */
	ev(100, 100, "os.fork");
	p_fork(100, 100, 101000);
	r = sys_open(101000, 101000, PYSEC_V_UNAUDITED, "/tmp/d/app.db-journal", rw);
	expect_explained("journal in a forked child", &r, "sqlite_side_files");

	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/d/app.db-evil", rw);
	expect_alert("other suffix of the database", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/d/app.db-journal2", rw);
	expect_alert("journal lookalike", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/d/other.db", rw);
	expect_alert("file next to the database", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/d/app.d", rw);
	expect_alert("prefix of the database name", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/d", O_RDWR);
	expect_alert("the directory, not read-only", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp", RO_CLOEXEC);
	expect_alert("the directory's parent", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/", RO_CLOEXEC);
	expect_alert("the directory's parent, with a slash", &r);
	r = sys_unix(100, 100, PYSEC_V_UNAUDITED, NR_CONNECT, "/tmp/d/app.db");
	expect_alert("connect to the database path", &r);
	/* not another process */
	r = sys_open(300, 300, PYSEC_V_UNAUDITED, "/tmp/d/app.db-journal", rw);
	expect_alert("journal in an unrelated process", &r);
	r = sys_open(300, 300, PYSEC_V_UNAUDITED, "/tmp/d/app.db", rw);
	expect_alert("database in an unrelated process", &r);
	/* not after the process exec'd */
	p_exec(100, PYEXE);
	ev(100, 100, "pysectrace.armed");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/d/app.db-journal", rw);
	expect_alert("journal after exec", &r);
	/* :memory: names no file */
	ev_s(100, 100, "sqlite3.connect", ":memory:");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, ":memory:-journal", rw);
	expect_alert(":memory: side file", &r);
	/* 3.8-3.10 pass bytes */
	args(1);
	ab_bytes("/tmp/e/old.db");
	ev_args(100, 100, "sqlite3.connect");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/e/old.db-wal", rw);
	expect_explained("WAL of a database named by bytes", &r, "sqlite_side_files");
}

/*
 * sqlite makes a relative database name absolute before it opens anything
 * (unixFullPathname): sqlite3.connect("rel.db") in /tmp/sqt opens
 * "/tmp/sqt/rel.db", "/tmp/sqt/rel.db-journal" and "/tmp/sqt" (strace).
 * The process here is this test itself, so its cwd is real.
 */
static void test_sqlite_relative_database(void **state)
{
	char cwd[PYSEC_PATH_MAX - 32], p[PYSEC_PATH_MAX];
	uint32_t me = (uint32_t)getpid();
	struct pysec_sys_rec r;
	const uint64_t rw = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	py_proc(me);
	ev_s(me, me, "sqlite3.connect", "rel.db");
	snprintf(p, sizeof(p), "%s/rel.db", cwd);
	r = sys_open(me, me, PYSEC_V_UNAUDITED, p, rw);
	expect_explained("relative database, opened as cwd/db", &r, "sqlite_side_files");
	snprintf(p, sizeof(p), "%s/rel.db-journal", cwd);
	r = sys_open(me, me, PYSEC_V_UNAUDITED, p, rw);
	expect_explained("relative database's journal", &r, "sqlite_side_files");
	r = sys_open(me, me, PYSEC_V_UNAUDITED, cwd, RO_CLOEXEC);
	expect_explained("relative database's directory", &r, "sqlite_side_files");
	r = sys_open(me, me, PYSEC_V_UNAUDITED, "/var/tmp/rel.db-journal", rw);
	if (strcmp(cwd, "/var/tmp"))
		expect_alert("same name, another directory", &r);
}

/* The process was gone before its connect event was read: name left relative. */
static void test_sqlite_relative_database_of_gone_process(void **state)
{
	const uint32_t gone = 4000000; /* above pid_max: no /proc entry */
	struct pysec_sys_rec r;
	const uint64_t rw = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC;

	py_proc(gone);
	ev_s(gone, gone, "sqlite3.connect", "rel.db");
	r = sys_open(gone, gone, PYSEC_V_UNAUDITED, "/srv/app/rel.db", rw);
	expect_explained("relative database matched by its tail", &r, "sqlite_side_files");
	r = sys_open(gone, gone, PYSEC_V_UNAUDITED, "/srv/app", RO_CLOEXEC);
	expect_explained("its directory, once the tail matched", &r, "sqlite_side_files");
	r = sys_open(gone, gone, PYSEC_V_UNAUDITED, "/srv/other", RO_CLOEXEC);
	expect_alert("another directory", &r);
}

static void test_interpreter_startup(void **state)
{
	static const char *const cfg[] = {
	    "/venv/pyvenv.cfg",	      "/usr/bin/pyvenv.cfg", "/usr/lib/python3.12/pybuilddir.txt",
	    "/opt/py/python312._pth", "pyvenv.cfg",	     NULL,
	};
	struct pysec_sys_rec r;

	p_exec(100, PYEXE);
	ev(100, 100, "pysectrace.armed");
	for (const char *const *p = cfg; *p; p++) {
		r = sys_open(100, 100, PYSEC_V_UNAUDITED, *p, RO_CLOEXEC);
		expect_explained("path configuration before user code", &r, "interpreter_startup");
	}
	r = sys_open(100, 100, PYSEC_V_UNHOOKED, "/venv/pyvenv.cfg", RO_CLOEXEC);
	expect_explained("pyvenv.cfg pre-arm", &r, "interpreter_startup");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/venv/pyvenv.cfg", O_WRONLY | O_TRUNC);
	expect_alert("pyvenv.cfg for writing, before user code", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/venv/pyvenv.cfg.bak", RO_CLOEXEC);
	expect_alert("pyvenv.cfg lookalike", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/venv/pyvenv.cfg/x", RO_CLOEXEC);
	expect_alert("under a pyvenv.cfg directory", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/opt/py/python312._pth.txt", RO_CLOEXEC);
	expect_alert("._pth lookalike", &r);

	/* user code runs: the path configuration is no longer explained */
	ev_s(100, 100, "cpython.run_command", "import os");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/venv/pyvenv.cfg", RO_CLOEXEC);
	expect_alert("pyvenv.cfg after cpython.run_command", &r);
	r = sys_open(100, 101, PYSEC_V_UNAUDITED, "/opt/py/python312._pth", RO_CLOEXEC);
	expect_alert("._pth after cpython.run_command, another thread", &r);
	/* ... nor in a child forked by that code */
	p_fork(100, 100, 200);
	r = sys_open(200, 200, PYSEC_V_UNAUDITED, "/venv/pyvenv.cfg", RO_CLOEXEC);
	expect_alert("pyvenv.cfg in a child of a started process", &r);

	/* a new image starts over ... */
	p_exec(100, PYEXE);
	ev(100, 100, "pysectrace.armed");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/venv/pyvenv.cfg", RO_CLOEXEC);
	expect_explained("pyvenv.cfg in the next image", &r, "interpreter_startup");
	/* ... until cpython.run_file */
	ev_s(100, 100, "cpython.run_file", "/home/u/app.py");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/venv/pyvenv.cfg", RO_CLOEXEC);
	expect_alert("pyvenv.cfg after cpython.run_file", &r);
}

static void test_fork_thread_count(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	ev(100, 100, "os.fork");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/proc/self/stat", RO_CLOEXEC);
	expect_explained("/proc/self/stat after os.fork", &r, "fork_thread_count");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/proc/self/stat", O_RDWR);
	expect_alert("/proc/self/stat read-write after os.fork", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/proc/self/status", RO_CLOEXEC);
	expect_alert("/proc/self/status after os.fork", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/proc/1/stat", RO_CLOEXEC);
	expect_alert("another process's stat after os.fork", &r);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/proc/self/environ", RO_CLOEXEC);
	expect_alert("/proc/self/environ after os.fork", &r);
	/* the event must be this thread's last one */
	ev(100, 101, "open");
	r = sys_open(100, 101, PYSEC_V_UNAUDITED, "/proc/self/stat", RO_CLOEXEC);
	expect_alert("/proc/self/stat in another thread", &r);
	r = sys_open(100, 102, PYSEC_V_UNAUDITED, "/proc/self/stat", RO_CLOEXEC);
	expect_alert("/proc/self/stat in a thread with no event", &r);
	ev(100, 100, "os.fork");
	ev(100, 100, "open");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/proc/self/stat", RO_CLOEXEC);
	expect_alert("/proc/self/stat after os.fork, then open", &r);
	ev(100, 100, "os.forkpty");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/proc/self/stat", RO_CLOEXEC);
	expect_alert("/proc/self/stat after os.forkpty", &r);
}

static void test_subprocess_child_fds(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	args(4);
	ab_str("/bin/ls");
	ab_list(1);
	ab_str("ls");
	ab_none();
	ab_none();
	ev_args(100, 100, "subprocess.Popen");
	p_fork(100, 100, 200);
	r = sys_open(200, 200, PYSEC_V_UNAUDITED, "/proc/self/fd",
		     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	expect_explained("/proc/self/fd in a Popen child", &r, "subprocess_child_fds");
	r = sys_open(200, 200, PYSEC_V_UNHOOKED, "/dev/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	expect_explained("/dev/fd in a Popen child, unhooked", &r, "subprocess_child_fds");
	ev_s(100, 100, "os.system", "ls");
	p_fork(100, 100, 201);
	r = sys_open(201, 201, PYSEC_V_UNAUDITED, "/proc/self/fd", O_RDONLY | O_DIRECTORY);
	expect_explained("/proc/self/fd in an os.system child", &r, "subprocess_child_fds");
	ev(100, 100, "os.posix_spawn");
	p_fork(100, 100, 202);
	r = sys_open(202, 202, PYSEC_V_UNAUDITED, "/proc/self/fd", O_RDONLY | O_DIRECTORY);
	expect_explained("/proc/self/fd in a posix_spawn child (file actions)", &r,
			 "posix_spawn_file_actions");
	/* _posixsubprocess.fork_exec called directly (multiprocessing): no event
	 * before the fork, and none in the child */
	ev(100, 100, "os.pipe");
	p_fork(100, 100, 207);
	r = sys_open(207, 207, PYSEC_V_UNAUDITED, "/proc/self/fd", O_RDONLY | O_DIRECTORY);
	expect_explained("/proc/self/fd in a fork_exec child with no event", &r,
			 "subprocess_child_fds");

	/* not in the parent */
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/proc/self/fd", O_RDONLY | O_DIRECTORY);
	expect_alert("/proc/self/fd in the parent", &r);
	/* not in the child: other files, or not read-only */
	r = sys_open(200, 200, PYSEC_V_UNAUDITED, "/proc/self/fdinfo", O_RDONLY | O_DIRECTORY);
	expect_alert("/proc/self/fdinfo in a Popen child", &r);
	r = sys_open(200, 200, PYSEC_V_UNAUDITED, "/proc/self/fd/3", O_RDONLY);
	expect_alert("/proc/self/fd/3 in a Popen child", &r);
	r = sys_open(200, 200, PYSEC_V_UNAUDITED, "/proc/self/fd", O_RDWR);
	expect_alert("/proc/self/fd read-write in a Popen child", &r);
	r = sys_open(200, 200, PYSEC_V_UNAUDITED, "/etc/shadow", O_RDONLY);
	expect_alert("/etc/shadow in a Popen child", &r);
	r = sys_open(207, 207, PYSEC_V_UNAUDITED, "/proc/self/fd", O_RDWR);
	expect_alert("/proc/self/fd read-write in a fork_exec child", &r);
	/* a fork_exec child that runs Python code (raised an event) */
	ev(207, 207, "open");
	r = sys_open(207, 207, PYSEC_V_UNAUDITED, "/proc/self/fd", O_RDONLY | O_DIRECTORY);
	expect_alert("/proc/self/fd in a fork child after its own event", &r);
	/* children forked after another event, or by another thread, that run Python code */
	ev(100, 100, "subprocess.Popen");
	ev(100, 100, "open");
	p_fork(100, 100, 203);
	ev(203, 203, "open");
	r = sys_open(203, 203, PYSEC_V_UNAUDITED, "/proc/self/fd", O_RDONLY | O_DIRECTORY);
	expect_alert("child forked after Popen, then open (child raised an event)", &r);
	ev(100, 100, "subprocess.Popen");
	ev(100, 101, "open");
	p_fork(100, 101, 204);
	ev(204, 204, "open");
	r = sys_open(204, 204, PYSEC_V_UNAUDITED, "/proc/self/fd", O_RDONLY | O_DIRECTORY);
	expect_alert("child forked by another thread than the Popen one", &r);
	/* os.fork(): Python code runs in the child, even before its first event */
	ev(100, 100, "os.fork");
	p_fork(100, 100, 206);
	r = sys_open(206, 206, PYSEC_V_UNAUDITED, "/proc/self/fd", O_RDONLY | O_DIRECTORY);
	expect_alert("child of os.fork, no event yet", &r);
	/* not after the Popen child exec'd and runs Python code */
	p_exec(200, "/bin/ls");
	ev(200, 200, "pysectrace.armed");
	r = sys_open(200, 200, PYSEC_V_UNAUDITED, "/proc/self/fd", O_RDONLY | O_DIRECTORY);
	expect_alert("/proc/self/fd in the Popen child after its exec", &r);
}

/* Interpreters that do not exist here: identity falls back to the strings. */
#define MPEXE "/nonexistent/pysec-test/bin/python3.12"
#define SPAWN_MAIN                                                                                 \
	"from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=8, pipe_handle=10)"

/* A successful execve: the new image's EXEC record comes first, then the
 * syscall's (ret 0) from the same task. */
static const char *exec_ok(uint32_t pid, const char *path, const char *argv, size_t n)
{
	struct pysec_sys_rec r;

	p_exec(pid, path);
	r = sys_exec(pid, pid, PYSEC_V_UNAUDITED, path, argv, n);
	return feed(&r, sizeof(r));
}

static void expect_exec_alert(const char *what, uint32_t pid, const char *path, const char *argv,
			      size_t n)
{
	unsigned n0 = nseen;
	const char *got = exec_ok(pid, path, argv, n);

	if (got)
		fail_msg("%s: explained by %s, expected an alert", what, got);
	if (nseen != n0 + 1 || !S[nseen - 1].has_sys || S[nseen - 1].nr != NR_EXECVE ||
	    strcmp(S[nseen - 1].path, path) || strcmp(S[nseen - 1].kind, "bypass"))
		fail_msg("%s: %u alerts, expected one about the execve of %s", what, nseen - n0,
			 path);
}

static void test_multiprocessing_reexec(void **state)
{
	struct pysec_sys_rec r;
	const char *got, *got2;
	char dir[] = "/tmp/pysec-test-XXXXXX", real[128], link[128], other[128];
	unsigned n0;
	int alerted;
	FILE *f;

	p_exec(100, MPEXE);
	ev(100, 100, "pysectrace.armed");
	ev_s(100, 100, "cpython.run_file", "/home/u/app.py");
	ev(100, 100, "os.pipe");
	/* _posixsubprocess.fork_exec: no event, then the child execs */
	p_fork(100, 100, 200);
	got = exec_ok(200, MPEXE,
		      ARGV(MPEXE "\0-B\0-s\0-c\0" SPAWN_MAIN "\0--multiprocessing-fork\0"));
	if (!got || strcmp(got, "multiprocessing_reexec"))
		fail_msg("spawn re-exec in a fork_exec child: explained by %s",
			 got ? got : "nothing");
	expect_no_new_alerts("spawn re-exec", 0);
	p_fork(100, 100, 201);
	got =
	    exec_ok(201, MPEXE,
		    ARGV(MPEXE "\0-c\0from multiprocessing.forkserver import main; main(8, 9)\0"));
	assert_non_null(got);
	assert_string_equal(got, "multiprocessing_reexec");
	p_fork(100, 100, 202);
	got = exec_ok(
	    202, MPEXE,
	    ARGV(MPEXE "\0-c\0from multiprocessing.resource_tracker import main;main(7)\0"));
	assert_non_null(got);
	assert_string_equal(got, "multiprocessing_reexec");
	/* a failed exec (no EXEC record) is judged against the current image */
	r = sys_exec(100, 100, PYSEC_V_UNAUDITED, MPEXE,
		     ARGV("python3.12\0-c\0from multiprocessing.semaphore_tracker import main\0"));
	r.ret = -2;
	expect_explained("failed re-exec from the process itself", &r, "multiprocessing_reexec");

	/* another -c code */
	p_fork(100, 100, 210);
	expect_exec_alert("same interpreter, other -c code", 210, MPEXE,
			  ARGV(MPEXE "\0-c\0import os; os.system('id')\0"));
	p_fork(100, 100, 211);
	expect_exec_alert("a shorter prefix of spawn_main", 211, MPEXE,
			  ARGV(MPEXE "\0-c\0from multiprocessing.spawn import spawn\0"));
	p_fork(100, 100, 212);
	expect_exec_alert("the main with a leading space", 212, MPEXE,
			  ARGV(MPEXE "\0-c\0 from multiprocessing.spawn import spawn_main\0"));
	/* the main not as the -c code */
	p_fork(100, 100, 213);
	expect_exec_alert("the main as a script argument, no -c", 213, MPEXE,
			  ARGV(MPEXE "\0" SPAWN_MAIN "\0"));
	p_fork(100, 100, 214);
	expect_exec_alert("the main after other -c code", 214, MPEXE,
			  ARGV(MPEXE "\0-c\0import evil\0" SPAWN_MAIN "\0"));
	p_fork(100, 100, 215);
	expect_exec_alert("-cc", 215, MPEXE, ARGV(MPEXE "\0-cc\0" SPAWN_MAIN "\0"));
	p_fork(100, 100, 216);
	expect_exec_alert("-c with no code", 216, MPEXE, ARGV(MPEXE "\0-c\0"));
	/* another program */
	p_fork(100, 100, 220);
	expect_exec_alert("/bin/sh with the main as -c", 220, "/bin/sh",
			  ARGV("sh\0-c\0" SPAWN_MAIN "\0"));
	p_fork(100, 100, 221);
	expect_exec_alert("another interpreter name", 221, "/nonexistent/pysec-test/bin/python3",
			  ARGV("python3\0-c\0" SPAWN_MAIN "\0"));
	p_fork(100, 100, 222);
	expect_exec_alert("interpreter name lookalike", 222, MPEXE "x",
			  ARGV("python3.12x\0-c\0" SPAWN_MAIN "\0"));
	r = sys_exec(100, 100, PYSEC_V_UNAUDITED, "/bin/sh", ARGV("sh\0-c\0" SPAWN_MAIN "\0"));
	r.ret = -2;
	expect_alert("failed exec of another program", &r);
	/* a process whose exec was never seen: no interpreter to compare */
	ev(400, 400, "pysectrace.armed");
	r = sys_exec(400, 400, PYSEC_V_UNAUDITED, MPEXE, ARGV(MPEXE "\0-c\0" SPAWN_MAIN "\0"));
	r.ret = -2;
	expect_alert("unknown interpreter of this process", &r);
	/* the interpreter is the image that made the exec, not the one it starts */
	p_exec(500, "/bin/bash");
	ev(500, 500, "pysectrace.armed");
	expect_exec_alert("bash exec'ing python with the main", 500, MPEXE,
			  ARGV(MPEXE "\0-c\0" SPAWN_MAIN "\0"));

	/* identity is the file: a link to it is the same interpreter, a copy
	 * of the same name elsewhere is not */
	assert_non_null(mkdtemp(dir));
	snprintf(real, sizeof(real), "%s/python3.12", dir);
	snprintf(link, sizeof(link), "%s/python3", dir);
	snprintf(other, sizeof(other), "%s/venv", dir);
	assert_non_null(f = fopen(real, "w"));
	fclose(f);
	assert_int_equal(symlink("python3.12", link), 0);
	assert_int_equal(mkdir(other, 0700), 0);
	strcat(other, "/python3.12");
	assert_non_null(f = fopen(other, "w"));
	fclose(f);
	p_exec(600, real);
	ev(600, 600, "pysectrace.armed");
	p_fork(600, 600, 601);
	got = exec_ok(601, link, ARGV("python3\0-c\0" SPAWN_MAIN "\0"));
	p_fork(600, 600, 602);
	n0 = nseen;
	got2 = exec_ok(602, other, ARGV("python3.12\0-c\0" SPAWN_MAIN "\0"));
	alerted = nseen == n0 + 1 && !strcmp(S[n0].path, other);
	unlink(link);
	unlink(real);
	unlink(other);
	other[strlen(other) - strlen("/python3.12")] = 0;
	rmdir(other);
	rmdir(dir);
	if (!got || strcmp(got, "multiprocessing_reexec"))
		fail_msg("a symlink to the interpreter: explained by %s", got ? got : "nothing");
	if (got2 || !alerted)
		fail_msg("another file of the same name: explained by %s, %u alerts",
			 got2 ? got2 : "nothing", nseen - n0);
}

/* ========================================================== classifier */

static void test_audited_never_alerts(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	r = sys_open(100, 100, PYSEC_V_AUDITED, "/home/u/.ssh/id_rsa", O_RDONLY);
	expect_quiet("audited open", &r);
	r = sys_open(100, 100, PYSEC_V_AUDITED, "/etc/shadow", O_WRONLY | O_TRUNC);
	expect_quiet("audited write-open", &r);
	r = sys_inet(100, 100, PYSEC_V_AUDITED, "192.0.2.1", 4444);
	expect_quiet("audited connect", &r);
	r = sys_exec(100, 100, PYSEC_V_AUDITED, "/bin/sh", ARGV("sh\0-c\0id\0"));
	expect_quiet("audited execve", &r);
	/* also when the process never raised an event, and from other threads */
	r = sys_inet(600, 601, PYSEC_V_AUDITED, "192.0.2.1", 4444);
	expect_quiet("audited connect, unknown process", &r);
	for (int i = 0; i < 3; i++) {
		r = sys_open(100, 100, PYSEC_V_AUDITED, "/tmp/same", O_RDONLY);
		r.ip = 0x1234;
		expect_quiet("audited, repeated", &r);
	}
	ev(600, 600, "open");
	p_exit(600);
	p_exit(100);
	pysec_classifier_flush(C);
	expect_no_new_alerts("audited syscalls, then exit and flush", 0);
}

static void test_unhooked_connect_held_until_arm(void **state)
{
	struct pysec_sys_rec r, lib;
	const struct seen *a;

	/* held, then the process arms: alerted then */
	r = sys_inet(100, 100, PYSEC_V_UNHOOKED, "192.0.2.1", 4444);
	expect_quiet("pre-arm connect", &r);
	lib = sys_open(100, 100, PYSEC_V_UNHOOKED, "/lib/x86_64-linux-gnu/libm.so.6", RO_CLOEXEC);
	expect_explained("pre-arm library load", &lib, "ld_so_library_load");
	expect_no_new_alerts("before the hook armed", 0);
	ev(100, 100, "pysectrace.armed");
	assert_int_equal(nseen, 1);
	a = last_alert();
	assert_string_equal(a->kind, "bypass");
	assert_true(a->has_sys);
	assert_int_equal(a->nr, NR_CONNECT);
	assert_int_equal(a->port, 4444);
	assert_int_equal(a->hdr_pid, 100);
	assert_int_equal(a->proc_pid, 100);
	assert_non_null(strstr(a->reason, "before the hook armed"));
	/* nothing left to alert twice */
	ev(100, 100, "open");
	p_exit(100);
	pysec_classifier_flush(C);
	assert_int_equal(nseen, 1);

	/* armed by an unaudited syscall (the kernel saw the hook first) */
	r = sys_inet(110, 110, PYSEC_V_UNHOOKED, "192.0.2.2", 4444);
	expect_quiet("pre-arm connect", &r);
	r = sys_open(110, 110, PYSEC_V_UNAUDITED, "/tmp/x", O_RDONLY);
	feed(&r, sizeof(r));
	assert_int_equal(nseen, 3);
	assert_int_equal(S[1].port, 4444);
	assert_non_null(strstr(S[1].reason, "before the hook armed"));
	assert_string_equal(S[2].path, "/tmp/x");

	/* the process exits without arming: dropped silently */
	r = sys_inet(120, 120, PYSEC_V_UNHOOKED, "192.0.2.3", 4444);
	expect_quiet("pre-arm connect, never armed", &r);
	p_exit(120);
	ev(120, 120, "pysectrace.armed"); /* a new process with the same pid */
	pysec_classifier_flush(C);
	expect_no_new_alerts("pre-arm connect, exit", 3);

	/* the process execs without arming: dropped silently */
	r = sys_inet(130, 130, PYSEC_V_UNHOOKED, "192.0.2.4", 4444);
	expect_quiet("pre-arm connect, then exec", &r);
	p_exec(130, PYEXE);
	ev(130, 130, "pysectrace.armed");
	p_exit(130);
	pysec_classifier_flush(C);
	expect_no_new_alerts("pre-arm connect, exec, armed in the next image", 3);
}

static void test_unhooked_exec_never_alerts(void **state)
{
	struct pysec_sys_rec r;

	r = sys_exec(100, 100, PYSEC_V_UNHOOKED, "/bin/sh", ARGV("sh\0-c\0id\0"));
	expect_quiet("unhooked execve", &r);
	ev(100, 100, "pysectrace.armed");
	r = sys_exec(100, 100, PYSEC_V_UNHOOKED, "/usr/bin/curl", ARGV("curl\0http://x\0"));
	expect_quiet("unhooked execve after an event", &r);
	p_exec(100, "/usr/bin/curl");
	ev(100, 100, "pysectrace.armed");
	p_exit(100);
	pysec_classifier_flush(C);
	expect_no_new_alerts("unhooked execs", 0);

	/* the same exec unaudited in a hooked process is alerted */
	py_proc(200);
	r = sys_exec(200, 200, PYSEC_V_UNAUDITED, "/bin/sh", ARGV("sh\0-c\0id\0"));
	expect_alert("unaudited execve", &r);
}

/*
 * A successful execve's syscall record comes after the new image's EXEC
 * record: it belongs to the old image and must not arm the new one, whose
 * syscalls before its hook arms are then still held and judged.
 */
static void test_exec_record_does_not_arm_the_new_image(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	/* native code exec's a hooked Python: alerted, as a bypass of the old image */
	p_exec(100, PYEXE);
	r = sys_exec(100, 100, PYSEC_V_UNAUDITED, PYEXE, ARGV("python3\0-c\0pass\0"));
	expect_alert("unaudited execve", &r);
	/* the new image, before its hook armed */
	r = sys_inet(100, 100, PYSEC_V_UNHOOKED, "192.0.2.66", 4444);
	expect_quiet("pre-arm connect of the new image", &r);
	ev(100, 100, "pysectrace.armed");
	if (nseen != 2 || S[1].port != 4444)
		fail_msg("the new image's pre-arm connect was not alerted when it armed "
			 "(%u alerts)",
			 nseen);
}

static void test_identical_alerts_aggregate(void **state)
{
	struct pysec_sys_rec r, r2, other;
	const struct seen *a;

	py_proc(100);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/home/u/.ssh/id_rsa", RO_CLOEXEC);
	expect_alert("first", &r);
	r2 = r; /* same process, syscall, arguments and code site; later */
	hdr(&r2.h, PYSEC_REC_SYSCALL, 100, 100);
	expect_quiet("identical second", &r2);
	expect_quiet("identical third", &r2);
	other = sys_open(100, 100, PYSEC_V_UNAUDITED, "/home/u/.ssh/id_ed25519", RO_CLOEXEC);
	other.ip = r.ip;
	expect_alert("another path, same code site", &other);
	assert_int_equal(nseen, 2);

	pysec_classifier_flush(C);
	assert_int_equal(nseen, 3);
	a = last_alert();
	assert_int_equal(a->count, 3);
	assert_string_equal(a->kind, "bypass");
	assert_true(a->reason[0]);
	assert_true(a->has_sys);
	assert_string_equal(a->path, "/home/u/.ssh/id_rsa");
	assert_int_equal(a->proc_pid, 100);
	assert_int_equal(a->hdr_pid, 100);

	/* flushed: nothing repeated since */
	pysec_classifier_flush(C);
	assert_int_equal(nseen, 3);

	/* same syscall from another code site, or another process: separate */
	r2 = r;
	r2.ip += 8;
	expect_alert("same path, other code site", &r2);
	py_proc(200);
	r2 = r;
	hdr(&r2.h, PYSEC_REC_SYSCALL, 200, 200);
	expect_alert("same syscall, other process", &r2);
}

/* Exactly two identical alerts: flush reports one, with count 2. */
static void test_flush_reports_once_with_count(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	r = sys_inet(100, 100, PYSEC_V_UNAUDITED, "192.0.2.9", 4444);
	expect_alert("first", &r);
	expect_quiet("second", &r);
	assert_int_equal(nseen, 1);
	pysec_classifier_flush(C);
	assert_int_equal(nseen, 2);
	assert_int_equal(S[1].count, 2);
	assert_int_equal(S[1].port, 4444);
	assert_string_equal(S[1].kind, S[0].kind);
	assert_string_equal(S[1].reason, S[0].reason);
}

/* The repeated alert says the same as the first one did. */
static void test_flush_keeps_reason(void **state)
{
	struct pysec_sys_rec r;

	/* twice the same syscall before the hook armed */
	r = sys_inet(100, 100, PYSEC_V_UNHOOKED, "192.0.2.9", 4444);
	expect_quiet("pre-arm, first", &r);
	expect_quiet("pre-arm, second", &r);
	ev(100, 100, "pysectrace.armed");
	assert_int_equal(nseen, 1);
	pysec_classifier_flush(C);
	assert_int_equal(nseen, 2);
	assert_int_equal(S[1].count, 2);
	assert_string_equal(S[1].reason, S[0].reason);

	/* twice after the interpreter cleared its hooks */
	py_proc(200);
	ev(200, 200, "cpython._PySys_ClearAuditHooks");
	r = sys_inet(200, 200, PYSEC_V_UNAUDITED, "192.0.2.9", 4444);
	feed(&r, sizeof(r));
	feed(&r, sizeof(r));
	assert_int_equal(nseen, 3);
	assert_string_equal(S[2].kind, "hook_cleared");
	pysec_classifier_flush(C);
	assert_int_equal(nseen, 4);
	assert_string_equal(S[3].kind, S[2].kind);
	assert_string_equal(S[3].reason, S[2].reason);
}

/* A cleared hook belongs to the image that cleared it. */
static void test_hook_cleared_ends_with_the_image(void **state)
{
	struct pysec_sys_rec r;

	py_proc(100);
	ev(100, 100, "cpython._PySys_ClearAuditHooks");
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/a", O_RDONLY);
	feed(&r, sizeof(r));
	assert_int_equal(nseen, 1);
	assert_string_equal(S[0].kind, "hook_cleared");
	/* native code exec'd a new, hooked Python */
	py_proc(100);
	r = sys_open(100, 100, PYSEC_V_UNAUDITED, "/tmp/b", O_RDONLY);
	expect_alert("unaudited open in the next image", &r);
}

/* ---- held resolver queries */

/* A nameserver to use, or NULL when /etc/resolv.conf has none. */
static const char *a_nameserver(void)
{
	read_nameservers();
	return nns > 0 ? NS[0].text : NULL;
}

/* A DNS-shaped query with an unrelated last event: held, not alerted. */
static struct pysec_sys_rec held_query(uint32_t pid, uint32_t tid)
{
	const char *ns = a_nameserver();
	struct pysec_sys_rec r;

	args(3);
	ab_str("/home/u/data.txt");
	ab_str("r");
	ab_int(0x80000);
	ev_args(pid, tid, "open");
	r = sys_inet(pid, tid, PYSEC_V_UNAUDITED, ns ? ns : "192.0.2.53", 53);
	if (ns)
		expect_quiet("resolver query after open (held)", &r);
	else
		expect_alert("port 53, no nameserver configured", &r);
	return r;
}

static void check_held_alert(const char *what, const struct pysec_sys_rec *q, unsigned idx)
{
	if (nseen <= idx)
		fail_msg("%s: the held query was not alerted", what);
	if (!S[idx].has_sys || S[idx].port != 53 || S[idx].hdr_tid != q->h.tid ||
	    S[idx].nr != NR_CONNECT)
		fail_msg("%s: alert %u is not about the held query", what, idx);
	if (strcmp(S[idx].kind, "bypass") || !S[idx].reason[0] || S[idx].proc_pid != q->h.pid)
		fail_msg("%s: alert contents (%s, %s, pid %u)", what, S[idx].kind, S[idx].reason,
			 S[idx].proc_pid);
}

static void test_held_query_explained_by_host_name(void **state)
{
	if (!a_nameserver()) {
		py_proc(100);
		held_query(100, 100); /* asserts the alert */
		return;
	}
	py_proc(100);
	held_query(100, 100);
	/* another thread's events do not decide it */
	ev_sock(100, 101, "socket.connect", "example.com", 80);
	expect_no_new_alerts("held query, another thread's socket.connect", 0);
	ev_sock(100, 100, "socket.connect", "example.com", 80);
	expect_no_new_alerts("held query, then socket.connect(example.com)", 0);
	/* explained once: nothing left to alert */
	ev(100, 100, "open");
	p_exit(100);
	pysec_classifier_flush(C);
	expect_no_new_alerts("held query explained, then exit", 0);

	/* the other socket calls that resolve a host name */
	py_proc(200);
	held_query(200, 200);
	ev_sock(200, 200, "socket.sendto", "ntp.example.org", 123);
	held_query(200, 200);
	ev_sock(200, 200, "socket.bind", "myhost.local", 0);
	held_query(200, 200);
	ev_sock(200, 200, "socket.sendmsg", "example.net", 53);
	p_exit(200);
	expect_no_new_alerts("held queries explained by sendto/bind/sendmsg of host names", 0);
}

static void test_held_query_alerted(void **state)
{
	struct pysec_sys_rec q;

	if (!a_nameserver()) {
		py_proc(100);
		held_query(100, 100);
		return;
	}
	py_proc(100);
	/* a literal IP needs no resolver */
	q = held_query(100, 100);
	ev_sock(100, 100, "socket.connect", "1.2.3.4", 80);
	check_held_alert("held query, then socket.connect(1.2.3.4)", &q, 0);
	assert_int_equal(nseen, 1);
	q = held_query(100, 100);
	ev_sock(100, 100, "socket.connect", "2001:db8::1", 80);
	check_held_alert("held query, then socket.connect(2001:db8::1)", &q, 1);
	q = held_query(100, 100);
	ev_sock(100, 100, "socket.connect", "", 80);
	check_held_alert("held query, then socket.connect('')", &q, 2);
	/* any other next event */
	q = held_query(100, 100);
	ev(100, 100, "open");
	check_held_alert("held query, then open", &q, 3);
	q = held_query(100, 100);
	ev_sock(100, 100, "socket.getaddrinfo", "example.com", 80);
	check_held_alert("held query, then a resolution event after it", &q, 4);
	q = held_query(100, 100);
	args(2);
	ab_other("socket");
	ab_str("/run/x.sock");
	ev_args(100, 100, "socket.connect");
	check_held_alert("held query, then socket.connect(unix path)", &q, 5);
	assert_int_equal(nseen, 6);

	/* the process exits while the query is held */
	q = held_query(100, 101);
	p_exit(100);
	check_held_alert("held query, then exit", &q, 6);
	assert_int_equal(nseen, 7);

	/* the process execs while the query is held */
	py_proc(200);
	q = held_query(200, 200);
	p_exec(200, "/bin/sh");
	check_held_alert("held query, then exec", &q, 7);
	assert_int_equal(nseen, 8);
	p_exit(200);
	assert_int_equal(nseen, 8);
}

/* ---- alert contents */

static void test_alert_contents(void **state)
{
	static const char *const evs[] = {"os.listdir", "open", "socket.__new__", "os.scandir",
					  "compile"};
	struct pysec_sys_rec r;
	const struct seen *a;
	uint64_t seq0;

	py_proc(100);
	seq0 = next_seq;
	for (unsigned i = 0; i < 5; i++) {
		args(2);
		ab_str("/srv/data");
		ab_int(i);
		ev_args_at(100, 107, evs[i], "/home/u/worker.py", 10 + i);
	}
	r = sys_inet(100, 107, PYSEC_V_UNAUDITED, "192.0.2.7", 4444);
	expect_alert("unaudited connect from a thread with events", &r);
	a = last_alert();
	assert_string_equal(a->kind, "bypass");
	assert_true(strlen(a->reason) > 0);
	assert_int_equal(a->proc_pid, 100);
	assert_int_equal(a->hdr_pid, 100);
	assert_int_equal(a->hdr_tid, 107);
	assert_int_equal(a->verdict, PYSEC_V_UNAUDITED);
	assert_int_equal(a->count, 1);
	assert_false(a->has_event);
	assert_true(a->has_thr);
	/* the thread's last events, newest first, at most PYSEC_CTX_EVENTS */
	assert_int_equal(a->nctx, PYSEC_CTX_EVENTS);
	for (unsigned i = 0; i < PYSEC_CTX_EVENTS; i++) {
		assert_string_equal(a->ctx[i], evs[4 - i]);
		assert_int_equal(a->ctx_seq[i], seq0 + 4 - i);
	}
	assert_string_equal(a->ctx_file, "/home/u/worker.py");
	assert_int_equal(a->ctx_line, 14);
	assert_string_equal(a->ctx_args, "[\"/srv/data\",4]");

	/* another thread: its own context only */
	ev(100, 108, "socket.__new__");
	r = sys_inet(100, 108, PYSEC_V_UNAUDITED, "192.0.2.7", 4445);
	expect_alert("unaudited connect from another thread", &r);
	a = last_alert();
	assert_int_equal(a->hdr_tid, 108);
	assert_int_equal(a->nctx, 1);
	assert_string_equal(a->ctx[0], "socket.__new__");
	/* a thread with no event has no context of its own */
	r = sys_inet(100, 109, PYSEC_V_UNAUDITED, "192.0.2.7", 4446);
	expect_alert("unaudited connect from a thread with no event", &r);
	assert_int_equal(last_alert()->nctx, 0);
	/* the held query's alert carries the context before the deciding event */
	if (a_nameserver()) {
		struct pysec_sys_rec q = held_query(100, 107);

		ev(100, 107, "os.remove");
		check_held_alert("held query, context", &q, nseen - 1);
		a = last_alert();
		assert_true(a->has_thr);
		assert_string_equal(a->ctx[0], "open");
		assert_string_equal(a->ctx[1], "compile");
	}
	/* an unaudited syscall with a hook-cleared process is no bypass */
	ev(100, 100, "cpython._PySys_ClearAuditHooks");
	r = sys_inet(100, 100, PYSEC_V_UNAUDITED, "192.0.2.7", 4447);
	feed(&r, sizeof(r));
	assert_string_equal(last_alert()->kind, "hook_cleared");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_ld_so_library_load),
	    T(test_ld_so_ignores_kernel_o_largefile),
	    T(test_ld_so_symlink_to_non_library),
	    T(test_o_path_no_data),
	    T(test_libc_locale_tz),
	    T(test_libc_nss_config),
	    T(test_libc_nscd),
	    T(test_libc_dns_query),
	    T(test_libc_gai_sort),
	    T(test_openssl_trust_store),
	    T(test_openssl_key_files),
	    T(test_listed_dirs_do_not_cover_dotdot),
	    T(test_libc_openpty),
	    T(test_libuuid_clock),
	    T(test_libc_syslog),
	    T(test_posix_spawn_file_actions),
	    T(test_urandom_read),
	    T(test_overcommit_policy),
	    T(test_libc_posix_sem),
	    T(test_sqlite_side_files),
	    T(test_sqlite_relative_database),
	    T(test_sqlite_relative_database_of_gone_process),
	    T(test_interpreter_startup),
	    T(test_fork_thread_count),
	    T(test_subprocess_child_fds),
	    T(test_multiprocessing_reexec),
	    T(test_audited_never_alerts),
	    T(test_unhooked_connect_held_until_arm),
	    T(test_unhooked_exec_never_alerts),
	    T(test_exec_record_does_not_arm_the_new_image),
	    T(test_identical_alerts_aggregate),
	    T(test_flush_reports_once_with_count),
	    T(test_flush_keeps_reason),
	    T(test_hook_cleared_ends_with_the_image),
	    T(test_held_query_explained_by_host_name),
	    T(test_held_query_alerted),
	    T(test_alert_contents),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
