// SPDX-License-Identifier: MIT
/*
 * policy_ctl.c — a policy's audit-event rules compiled into the hook's
 * control file (hookmod/control_abi.h, docs/control-abi.md), its
 * publication, and matching events and findings against a loaded policy.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"

/* ---- growable buffers */

struct buf {
	uint8_t *p;
	size_t n, cap;
	int oom;
};

static size_t buf_add(struct buf *b, const void *data, size_t n)
{
	size_t at = b->n;

	if (b->oom)
		return 0;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->n + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);

		if (!p) {
			b->oom = 1;
			return 0;
		}
		b->p = p;
		b->cap = cap;
	}
	if (data)
		memcpy(b->p + b->n, data, n);
	else
		memset(b->p + b->n, 0, n);
	b->n += n;
	return at;
}

/* strtab offset of s (offset 0 is ""); identical strings are not shared. */
static uint32_t str_add(struct buf *st, const char *s)
{
	if (!*s)
		return 0;
	return (uint32_t)buf_add(st, s, strlen(s) + 1);
}

struct names {
	const char **v;
	size_t n, cap;
	int oom;
};

static void name_add(struct names *ns, const char *s)
{
	for (size_t i = 0; i < ns->n; i++)
		if (!strcmp(ns->v[i], s))
			return;
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 64;
		const char **v = realloc(ns->v, cap * sizeof(*v));

		if (!v) {
			ns->oom = 1;
			return;
		}
		ns->v = v;
		ns->cap = cap;
	}
	ns->v[ns->n++] = s;
}

/* ---- compile */

static void add_globs(struct buf *m, struct buf *st, int kind, const struct pysec_strlist *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		struct pysec_ctl_matcher x = {.kind = (uint16_t)kind, .str = str_add(st, l->v[i])};

		buf_add(m, &x, sizeof(x));
	}
}

static void add_ranges(struct buf *m, int kind, const struct pysec_range *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct pysec_ctl_matcher x = {.kind = (uint16_t)kind, .lo = r[i].lo, .hi = r[i].hi};

		buf_add(m, &x, sizeof(x));
	}
}

/* The matchers of r in group order (rulematch.c evaluates groups in runs). */
static uint32_t add_matchers(struct buf *m, struct buf *st, const struct pysec_rule *r)
{
	size_t before = m->n;

	add_globs(m, st, PYSEC_M_EVENT, &r->events);
	add_globs(m, st, PYSEC_M_PATH, &r->paths);
	for (unsigned i = 0; i < r->nhosts; i++) {
		const struct pysec_hostpat *h = &r->hosts[i];
		struct pysec_ctl_matcher x = {0};

		if (h->family) {
			x.kind = PYSEC_M_CIDR;
			x.family = (uint16_t)h->family;
			x.lo = h->prefix;
			memcpy(x.addr, h->addr, 16);
		} else {
			x.kind = PYSEC_M_HOSTNAME;
			x.str = str_add(st, h->text);
		}
		buf_add(m, &x, sizeof(x));
	}
	add_ranges(m, PYSEC_M_PORT, r->ports, r->nports);
	add_globs(m, st, PYSEC_M_EXE, &r->exes);
	add_globs(m, st, PYSEC_M_ARGV, &r->argv);
	add_globs(m, st, PYSEC_M_MODULE, &r->modules);
	add_globs(m, st, PYSEC_M_S_EXE, &r->s_exe);
	add_globs(m, st, PYSEC_M_S_SCRIPT, &r->s_script);
	add_ranges(m, PYSEC_M_S_UID, r->uids, r->nuids);
	add_globs(m, st, PYSEC_M_S_CGROUP, &r->s_cgroup);
	return (uint32_t)((m->n - before) / sizeof(struct pysec_ctl_matcher));
}

/* Could r match an event of this name (a superset is fine: the matcher decides)? */
static int may_match(const struct pysec_rule *r, const char *name)
{
	uint32_t ag = pysec_rule_arg_groups(r);
	const struct pysec_event_shape *sh;

	if (r->events.n) {
		for (unsigned i = 0; i < r->events.n; i++)
			if (pysec_glob_match(r->events.v[i], name, 0))
				return 1;
		return 0;
	}
	if (!ag)
		return 1;
	sh = pysec_event_shape_of(name);
	return sh && (pysec_shape_groups(sh->shape) & ag) == ag;
}

/* May r match an event the table does not name? */
static int matches_unnamed(const struct pysec_rule *r)
{
	if (r->events.n) {
		for (unsigned i = 0; i < r->events.n; i++)
			if (!pysec_glob_is_literal(r->events.v[i]))
				return 1;
		return 0;
	}
	return pysec_rule_arg_groups(r) == 0;
}

static int in_filter(const struct pysec_evfilter *f, const char *name)
{
	if (f->all)
		return 1;
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->names[i], name))
			return 1;
	for (size_t i = 0; i < f->nquiet; i++)
		if (!strcmp(f->quiet[i], name))
			return 0;
	return f->fire_other;
}

void *pysec_policy_compile(const struct pysec_policy *p, int mode, const struct pysec_evfilter *f,
			   size_t *size)
{
	struct buf rules = {0}, m = {0}, idx = {0}, st = {0}, out = {0};
	struct names ns = {0};
	struct pysec_ctl_hdr h = {0};
	struct pysec_ctl_event *ev = NULL;
	uint32_t *audit = calloc(p->nrules ? p->nrules : 1, sizeof(*audit)), na = 0;
	size_t nshape;
	const struct pysec_event_shape *shapes = pysec_event_shapes(&nshape);
	uint32_t nb = 8;

	if (!audit)
		return NULL;
	buf_add(&st, "", 1);
	for (unsigned i = 0; i < p->nrules; i++) {
		const struct pysec_rule *r = &p->rules[i];
		struct pysec_ctl_rule cr = {0};

		if (r->findings)
			continue;
		audit[na++] = i;
		cr.id = str_add(&st, r->id);
		cr.action = (uint16_t)r->action;
		cr.signal = (uint16_t)r->signal;
		cr.first = (uint32_t)(m.n / sizeof(struct pysec_ctl_matcher));
		cr.count = add_matchers(&m, &st, r);
		buf_add(&rules, &cr, sizeof(cr));
		/* the names this rule can match that the table must hold */
		for (unsigned j = 0; j < r->events.n; j++)
			if (pysec_glob_is_literal(r->events.v[j]))
				name_add(&ns, r->events.v[j]);
		if (!r->events.n && pysec_rule_arg_groups(r))
			for (size_t s = 0; s < nshape; s++)
				if (may_match(r, shapes[s].event))
					name_add(&ns, shapes[s].event);
	}
	if (!f->all) {
		for (size_t i = 0; i < f->n; i++)
			name_add(&ns, f->names[i]);
		for (size_t i = 0; i < f->nquiet; i++)
			name_add(&ns, f->quiet[i]);
	}
	while (nb < 2 * ns.n)
		nb *= 2;
	ev = calloc(nb, sizeof(*ev));
	if (!ev || ns.oom)
		goto fail;
	for (size_t i = 0; i < ns.n; i++) {
		uint32_t b = pysec_ctl_hash(ns.v[i]) & (nb - 1);

		while (ev[b].name)
			b = (b + 1) & (nb - 1);
		ev[b].name = str_add(&st, ns.v[i]);
		ev[b].flags = in_filter(f, ns.v[i]) ? PYSEC_CTL_EV_FIRE : 0;
		ev[b].idx = (uint32_t)(idx.n / 4);
		for (uint32_t k = 0; k < na; k++)
			if (may_match(&p->rules[audit[k]], ns.v[i])) {
				buf_add(&idx, &k, 4);
				ev[b].nidx++;
			}
	}
	h.other_idx = (uint32_t)(idx.n / 4);
	for (uint32_t k = 0; k < na; k++)
		if (matches_unnamed(&p->rules[audit[k]])) {
			buf_add(&idx, &k, 4);
			h.nother++;
		}
	while (st.n % 4)
		buf_add(&st, "", 1);
	memcpy(h.magic, PYSEC_CTL_MAGIC, 8);
	h.version = PYSEC_CTL_VERSION;
	h.hdr_size = sizeof(h);
	h.mode = (uint32_t)mode;
	h.filter = f->all ? 0 : 1;
	h.fire_other = f->all ? 0 : !!f->fire_other;
	h.nrules = na;
	h.nmatchers = (uint32_t)(m.n / sizeof(struct pysec_ctl_matcher));
	h.nidx = (uint32_t)(idx.n / 4);
	h.nbuckets = nb;
	h.strtab_len = (uint32_t)st.n;
	h.rules_off = sizeof(h);
	h.matchers_off = h.rules_off + (uint32_t)rules.n;
	h.idx_off = h.matchers_off + (uint32_t)m.n;
	h.events_off = h.idx_off + (uint32_t)idx.n;
	h.strtab_off = h.events_off + nb * (uint32_t)sizeof(*ev);
	h.size = h.strtab_off + h.strtab_len;
	buf_add(&out, &h, sizeof(h));
	buf_add(&out, rules.p, rules.n);
	buf_add(&out, m.p, m.n);
	buf_add(&out, idx.p, idx.n);
	buf_add(&out, ev, nb * sizeof(*ev));
	buf_add(&out, st.p, st.n);
	if (out.oom || rules.oom || m.oom || idx.oom || st.oom || out.n > PYSEC_CTL_SIZE_MAX)
		goto fail;
	free(rules.p);
	free(m.p);
	free(idx.p);
	free(st.p);
	free(ns.v);
	free(ev);
	free(audit);
	*size = out.n;
	return out.p;
fail:
	free(rules.p);
	free(m.p);
	free(idx.p);
	free(st.p);
	free(out.p);
	free(ns.v);
	free(ev);
	free(audit);
	return NULL;
}

/* ---- publication */

static int mark_stale(int fd)
{
	uint32_t flags;
	off_t at = offsetof(struct pysec_ctl_hdr, flags);

	if (pread(fd, &flags, sizeof(flags), at) != sizeof(flags))
		return -1;
	flags |= PYSEC_CTL_STALE;
	return pwrite(fd, &flags, sizeof(flags), at) == sizeof(flags) ? 0 : -1;
}

int pysec_ctl_publish(const char *path, const void *buf, size_t size)
{
	char tmp[4096], dir[4096];
	const char *slash = strrchr(path, '/');
	int fd, old, e;

	if (snprintf(tmp, sizeof(tmp), "%s.new.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (slash && slash != path) {
		struct stat st;

		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -1;
		/* whoever may rename in the directory could swap an older control file in */
		if (stat(dir, &st) < 0)
			return -1;
		if (!S_ISDIR(st.st_mode) ||
		    ((st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) &&
		     !(st.st_mode & S_ISVTX))) {
			errno = EPERM;
			return -1;
		}
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, buf, size) != (ssize_t)size || fchmod(fd, 0644) < 0) {
		e = errno;
		close(fd);
		unlink(tmp);
		errno = e ? e : EIO;
		return -1;
	}
	close(fd);
	old = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (rename(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		if (old >= 0)
			close(old);
		errno = e;
		return -1;
	}
	/* hooks that mapped the old file map the new one at their next event */
	if (old >= 0) {
		mark_stale(old);
		close(old);
	}
	return 0;
}

int pysec_ctl_withdraw(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	mark_stale(fd);
	close(fd);
	return unlink(path);
}

/* ---- audit events from their JSON args */

struct scratch {
	char *p;
	size_t cap, used;
};

static const char *sc_put(struct scratch *s, const char *src, size_t n)
{
	char *at;

	if (s->used + n + 1 > s->cap)
		return NULL;
	at = s->p + s->used;
	memcpy(at, src, n);
	at[n] = 0;
	s->used += n + 1;
	return at;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* argdecode's escaped bytes back to raw bytes; NULL when it holds a NUL or does not fit. */
static const char *unescape(struct scratch *s, const char *e)
{
	size_t n = strlen(e), o = 0;
	char *out;

	if (s->used + n + 1 > s->cap)
		return NULL;
	out = s->p + s->used;
	for (size_t i = 0; i < n; i++) {
		if (e[i] == '\\' && e[i + 1] == '\\') {
			out[o++] = '\\';
			i++;
		} else if (e[i] == '\\' && e[i + 1] == 'x' && i + 3 < n + 1 &&
			   hexval(e[i + 2]) >= 0 && hexval(e[i + 3]) >= 0) {
			out[o++] = (char)(hexval(e[i + 2]) * 16 + hexval(e[i + 3]));
			i += 3;
		} else {
			out[o++] = e[i];
		}
	}
	if (memchr(out, 0, o))
		return NULL;
	out[o] = 0;
	s->used += o + 1;
	return out;
}

/* 1: a text value in *out; 0: absent (None, an fd); -1: exists but unreadable */
static int text_of(struct json_object *o, struct scratch *s, const char **out)
{
	struct json_object *b;

	if (!o || json_object_is_type(o, json_type_null) || json_object_is_type(o, json_type_int))
		return 0;
	if (json_object_is_type(o, json_type_string)) {
		const char *v = json_object_get_string(o);

		if ((size_t)json_object_get_string_len(o) != strlen(v))
			return -1;
		*out = v;
		return 1;
	}
	if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "bytes", &b) &&
	    !json_object_object_get_ex(o, "truncated", NULL)) {
		*out = unescape(s, json_object_get_string(b));
		return *out ? 1 : -1;
	}
	return -1;
}

static struct json_object *item(struct json_object *args, int i)
{
	if (i == 0xff || !json_object_is_type(args, json_type_array) ||
	    (size_t)i >= json_object_array_length(args))
		return NULL;
	return json_object_array_get_idx(args, (size_t)i);
}

static void set_path(struct pysec_evargs *ev, int k, struct json_object *o, const char *cwd,
		     struct scratch *s, int dir)
{
	const char *v = NULL;
	int rc = text_of(o, s, &v);
	char norm[4096];

	if (rc == 0 && dir && !o) { /* None (json-c's null is NULL): the cwd */
		v = ".";
		rc = 1;
	}
	if (rc == 0)
		return;
	if (rc < 0 || (v[0] != '/' && !cwd) ||
	    pysec_path_normalize(v, cwd, norm, sizeof(norm)) < 0 ||
	    !(ev->path[k] = sc_put(s, norm, strlen(norm)))) {
		ev->unknown |= 1u << PYSEC_M_PATH;
		return;
	}
}

static void set_host(struct pysec_evargs *ev, struct json_object *o, struct scratch *s)
{
	const char *v = NULL;
	int rc = text_of(o, s, &v);

	if (rc == 0)
		return;
	if (rc < 0) {
		ev->unknown |= 1u << PYSEC_M_HOSTNAME;
		return;
	}
	ev->host = v;
	if (inet_pton(AF_INET, v, ev->addr) == 1)
		ev->family = 4;
	else if (inet_pton(AF_INET6, v, ev->addr) == 1)
		ev->family = 6;
}

static void set_port(struct pysec_evargs *ev, struct json_object *o)
{
	if (!o || json_object_is_type(o, json_type_null))
		return;
	if (json_object_is_type(o, json_type_int)) {
		int64_t v = json_object_get_int64(o);

		if (v >= 0 && v <= 65535) {
			ev->port = (int32_t)v;
			return;
		}
	} else if (json_object_is_type(o, json_type_string)) {
		char *end;
		const char *t = json_object_get_string(o);
		long v = strtol(t, &end, 10);

		if (*t && !*end && v >= 0 && v <= 65535) {
			ev->port = (int32_t)v;
			return;
		}
	}
	ev->unknown |= 1u << PYSEC_M_PORT;
}

static void set_argv(struct pysec_evargs *ev, struct json_object *o, struct scratch *s)
{
	const char *items[64];
	size_t n, total = 0, start = s->used;
	char *out;

	if (!o || json_object_is_type(o, json_type_null))
		return;
	if (!json_object_is_type(o, json_type_array) ||
	    (n = json_object_array_length(o)) > sizeof(items) / sizeof(items[0]))
		goto unknown;
	for (size_t i = 0; i < n; i++) {
		if (text_of(json_object_array_get_idx(o, i), s, &items[i]) != 1)
			goto unknown;
		total += strlen(items[i]) + 1;
	}
	if (s->used + total + 1 > s->cap)
		goto unknown;
	out = s->p + s->used;
	out[0] = 0;
	for (size_t i = 0, at = 0; i < n; i++) {
		size_t len = strlen(items[i]);

		if (i)
			out[at++] = ' ';
		memcpy(out + at, items[i], len + 1);
		at += len;
	}
	s->used += total + 1;
	ev->argv = out;
	return;
unknown:
	s->used = start;
	ev->unknown |= 1u << PYSEC_M_ARGV;
}

void pysec_evargs_from_json(const char *event, struct json_object *args, const char *cwd,
			    struct pysec_evargs *ev, char *scratch, size_t cap)
{
	const struct pysec_event_shape *sh = pysec_event_shape_of(event);
	struct scratch s = {scratch, cap, 0};
	struct json_object *a, *b;
	const char *v;
	int rc;

	memset(ev, 0, sizeof(*ev));
	ev->port = -1;
	if (!sh)
		return;
	a = item(args, sh->a);
	b = item(args, sh->b);
	switch (sh->shape) {
	case PYSEC_SH_PATH:
	case PYSEC_SH_DIR:
		if (!a &&
		    (sh->shape != PYSEC_SH_DIR || !json_object_is_type(args, json_type_array) ||
		     json_object_array_length(args) <= sh->a))
			break;
		set_path(ev, 0, a, cwd, &s, sh->shape == PYSEC_SH_DIR);
		if (sh->b != 0xff)
			set_path(ev, 1, b, cwd, &s, 0);
		break;
	case PYSEC_SH_SOCKADDR:
		if (a && json_object_is_type(a, json_type_array)) {
			set_host(ev, item(a, 0), &s);
			set_port(ev, item(a, 1));
		} else if (a && !json_object_is_type(a, json_type_null)) {
			set_path(ev, 0, a, cwd, &s, 0); /* AF_UNIX */
		}
		break;
	case PYSEC_SH_HOSTPORT:
		set_host(ev, a, &s);
		set_port(ev, b);
		break;
	case PYSEC_SH_HOST:
		set_host(ev, a, &s);
		break;
	case PYSEC_SH_EXEC:
		rc = text_of(a, &s, &v);
		if (rc > 0)
			ev->exe = v;
		else if (rc < 0)
			ev->unknown |= 1u << PYSEC_M_EXE;
		set_argv(ev, b, &s);
		break;
	case PYSEC_SH_SHELL:
		ev->exe = "/bin/sh";
		rc = text_of(a, &s, &v);
		if (rc > 0 && s.used + strlen(v) + 8 <= s.cap) {
			ev->argv = s.p + s.used;
			s.used += (size_t)snprintf(s.p + s.used, s.cap - s.used, "sh -c %s", v) + 1;
		} else if (rc != 0) {
			ev->unknown |= 1u << PYSEC_M_ARGV;
		}
		break;
	case PYSEC_SH_MODULE:
		rc = text_of(a, &s, &v);
		if (rc > 0)
			ev->module = v;
		else if (rc < 0)
			ev->unknown |= 1u << PYSEC_M_MODULE;
		break;
	}
}

const struct pysec_rule *pysec_policy_match_event(const struct pysec_policy *p, const char *event,
						  const struct pysec_evargs *ev,
						  const struct pysec_procid *proc)
{
	int r = pysec_ctl_decide(&p->ctl, event, ev, proc);

	return r < 0 ? NULL : &p->rules[p->ctl_rule[r]];
}

/* ---- findings */

static int glob_any(const struct pysec_strlist *l, const char *v, int kind)
{
	for (unsigned i = 0; i < l->n; i++)
		if (pysec_glob_match(l->v[i], v, pysec_glob_flags(kind)))
			return 1;
	return 0;
}

const char *pysec_policy_explain_finding(const struct pysec_rule *r,
					 const struct pysec_finding_q *q, char *buf, size_t cap)
{
	int hit;

	if (!(r->findings & q->kind))
		return snprintf(buf, cap, "is not about %s", pysec_finding_name(q->kind)), buf;
	if (r->syscalls.n) {
		hit = 0;
		for (unsigned i = 0; q->syscall && i < r->syscalls.n; i++)
			hit |= !strcmp(r->syscalls.v[i], q->syscall);
		if (!hit)
			return snprintf(buf, cap, "syscall %s is not in its list",
					q->syscall ? q->syscall : "(none)"),
			       buf;
	}
	if (r->paths.n && (!q->path || !glob_any(&r->paths, q->path, PYSEC_M_PATH)))
		return snprintf(buf, cap, "path %s matches none of its patterns",
				q->path ? q->path : "(none)"),
		       buf;
	if (r->nhosts) {
		hit = 0;
		for (unsigned i = 0; q->family && i < r->nhosts; i++)
			hit |= r->hosts[i].family == q->family &&
			       pysec_cidr_contains(q->family, r->hosts[i].addr, r->hosts[i].prefix,
						   q->addr);
		if (!hit)
			return snprintf(buf, cap, "the address is in none of its networks"), buf;
	}
	if (r->nports) {
		hit = 0;
		for (unsigned i = 0; q->port >= 0 && i < r->nports; i++)
			hit |= (uint32_t)q->port >= r->ports[i].lo &&
			       (uint32_t)q->port <= r->ports[i].hi;
		if (!hit)
			return snprintf(buf, cap, "port %d is in none of its ranges", q->port), buf;
	}
	if (r->s_exe.n && (!q->proc.exe || !glob_any(&r->s_exe, q->proc.exe, PYSEC_M_S_EXE)))
		return snprintf(buf, cap, "scope.exe does not match"), buf;
	if (r->s_script.n &&
	    (!q->proc.script || !glob_any(&r->s_script, q->proc.script, PYSEC_M_S_SCRIPT)))
		return snprintf(buf, cap, "scope.script does not match"), buf;
	if (r->s_cgroup.n &&
	    (!q->proc.cgroup || !glob_any(&r->s_cgroup, q->proc.cgroup, PYSEC_M_S_CGROUP)))
		return snprintf(buf, cap, "scope.cgroup does not match"), buf;
	if (r->nuids) {
		hit = 0;
		for (unsigned i = 0; q->proc.uid >= 0 && i < r->nuids; i++)
			hit |= (uint64_t)q->proc.uid >= r->uids[i].lo &&
			       (uint64_t)q->proc.uid <= r->uids[i].hi;
		if (!hit)
			return snprintf(buf, cap, "scope.uid does not match"), buf;
	}
	return NULL;
}

const struct pysec_rule *pysec_policy_match_finding(const struct pysec_policy *p,
						    const struct pysec_finding_q *q)
{
	char why[256];

	for (unsigned i = 0; i < p->nrules; i++)
		if (p->rules[i].findings &&
		    !pysec_policy_explain_finding(&p->rules[i], q, why, sizeof(why)))
			return &p->rules[i];
	return NULL;
}
