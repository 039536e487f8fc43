// SPDX-License-Identifier: MIT
/*
 * control.c — the hook's side of the control file (see control.h and
 * docs/control-abi.md).  Per event, with a control file mapped: one load
 * for the stale flag, a hash lookup of the event name; the arguments are
 * extracted only when some rule may concern the event.  Without one, none
 * of this runs (hook.c tests the pointer).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "pysechook_abi.h"
#include "rulematch.h"

struct pysec_ctl_state {
	struct pysec_ctl c;
	size_t size;
	int need_cgroup;
};

__attribute__((visibility("hidden"))) struct pysec_ctl_state *pysec_ctl_current;

#define MAX_REMAPS 1024

static struct pysec_ctl_state states[2]; /* current and the one being built: no malloc */
static unsigned remaps;
static int remapping;
static pysec_announce_fn announce_fn;
static char self_exe[PATH_MAX], script[PATH_MAX], cgroup[PATH_MAX];
static int have_exe, have_script, have_cgroup;
static int64_t self_uid = -1;

/* Open a file of our own, announced to a listening tracer first (so it is audited). */
static int open_own(const char *path)
{
	if (announce_fn)
		announce_fn(path);
	return open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

/* Map path when it is a control file we can trust; 0 on success. */
static int map_file(const char *path, struct pysec_ctl_state *st)
{
	struct stat sb;
	const char *why;
	void *m;
	int fd = open_own(path);

	if (fd < 0)
		return -1;
	/* a file anybody but root could have written could hold a permissive policy */
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_uid != 0 ||
	    (sb.st_mode & (S_IWGRP | S_IWOTH)) ||
	    sb.st_size < (off_t)sizeof(struct pysec_ctl_hdr) || sb.st_size > PYSEC_CTL_SIZE_MAX) {
		close(fd);
		return -1;
	}
	m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	if (pysec_ctl_open(&st->c, m, (size_t)sb.st_size, &why) < 0) {
		munmap(m, (size_t)sb.st_size);
		return -1;
	}
	st->size = (size_t)sb.st_size;
	st->need_cgroup = 0;
	for (uint32_t i = 0; i < st->c.hdr->nmatchers; i++)
		if (st->c.matchers[i].kind == PYSEC_M_S_CGROUP)
			st->need_cgroup = 1;
	return 0;
}

/* The cgroup v2 path of this process ("0::/path" in /proc/self/cgroup). */
static void read_cgroup(void)
{
	char buf[PATH_MAX + 64];
	ssize_t n;
	int fd = open_own("/proc/self/cgroup");

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = 0;
		if (!strncmp(line, "0::", 3) && strlen(line + 3) < sizeof(cgroup)) {
			strcpy(cgroup, line + 3);
			have_cgroup = 1;
			return;
		}
		line = nl ? nl + 1 : NULL;
	}
}

/* <this library>.ctl, else the host-wide file: the state mapped, or NULL. */
static struct pysec_ctl_state *find_and_map(struct pysec_ctl_state *st)
{
	char path[PATH_MAX];
	Dl_info info;

	if (dladdr((void *)find_and_map, &info) && info.dli_fname && info.dli_fname[0] == '/' &&
	    snprintf(path, sizeof(path), "%s%s", info.dli_fname, PYSEC_CTL_SUFFIX) <
		(int)sizeof(path) &&
	    map_file(path, st) == 0)
		return st;
	if (map_file(PYSEC_CTL_HOST_PATH, st) == 0)
		return st;
	return NULL;
}

void pysec_control_attach(const struct pysec_pyapi *api, pysec_announce_fn announce)
{
	struct pysec_ctl_state *st;
	ssize_t n;

	(void)api;
	announce_fn = announce;
	st = find_and_map(&states[0]);
	if (!st)
		return;
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n > 0) {
		self_exe[n] = 0;
		have_exe = 1;
	}
	self_uid = (int64_t)getuid();
	if (st->need_cgroup)
		read_cgroup();
	__atomic_store_n(&pysec_ctl_current, st, __ATOMIC_RELEASE);
}

/* A newer control file replaced ours: map it (the old mapping is kept: threads may read it). */
static struct pysec_ctl_state *remap(struct pysec_ctl_state *old)
{
	struct pysec_ctl_state *st, *next = old == &states[0] ? &states[1] : &states[0];

	if (__atomic_exchange_n(&remapping, 1, __ATOMIC_ACQUIRE))
		return old; /* another thread is at it */
	if (remaps >= MAX_REMAPS) {
		__atomic_store_n(&remapping, 0, __ATOMIC_RELEASE);
		return old;
	}
	remaps++;
	st = find_and_map(next);
	if (st && st->need_cgroup && !have_cgroup)
		read_cgroup();
	__atomic_store_n(&pysec_ctl_current, st, __ATOMIC_RELEASE);
	__atomic_store_n(&remapping, 0, __ATOMIC_RELEASE);
	return st;
}

/* ---- arguments of an event, by role, without running user code */

struct extract {
	const struct pysec_pyapi *api;
	pyobj *refs[4];
	int nrefs;
	char cwd[PATH_MAX];
	int have_cwd;
	char path[PYSEC_EV_PATHS][PATH_MAX];
	char argv[2048];
	char sh[PATH_MAX];
};

static int exact(const struct pysec_pyapi *api, pyobj *o, void *type)
{
	return o && pyapi_type(o) == type;
}

/* 1: *out holds the fs-encoded text; 0: absent (None, an fd); -1: unreadable */
static int text_of(struct extract *x, pyobj *o, const char **out)
{
	const struct pysec_pyapi *api = x->api;
	pyobj *b = NULL;
	const char *p;

	if (!o || o == api->None || exact(api, o, api->Long_Type) || exact(api, o, api->Bool_Type))
		return 0;
	if (exact(api, o, api->Bytes_Type)) {
		b = o;
	} else if (exact(api, o, api->Unicode_Type) && x->nrefs < 4) {
		b = api->Unicode_EncodeFSDefault(o);
		if (!b) {
			api->Err_Clear();
			return -1;
		}
		x->refs[x->nrefs++] = b;
	} else {
		return -1; /* PathLike, bytearray, subclasses: their methods are user code */
	}
	p = api->Bytes_AsString(b);
	if (!p || strlen(p) != (size_t)api->Bytes_Size(b)) {
		api->Err_Clear();
		return -1;
	}
	*out = p;
	return 1;
}

static pyobj *arg(struct extract *x, pyobj *args, int i)
{
	const struct pysec_pyapi *api = x->api;

	if (i == 0xff || !exact(api, args, api->Tuple_Type) || i >= api->Tuple_Size(args))
		return NULL;
	return api->Tuple_GetItem(args, i);
}

static void set_path(struct extract *x, struct pysec_evargs *ev, int k, pyobj *o, int dir)
{
	const char *v = NULL;
	int rc = text_of(x, o, &v);

	if (rc == 0 && dir && o == x->api->None) {
		v = ".";
		rc = 1;
	}
	if (rc == 0)
		return;
	if (rc > 0 && v[0] != '/' && !x->have_cwd)
		x->have_cwd = getcwd(x->cwd, sizeof(x->cwd)) != NULL;
	if (rc < 0 || (v[0] != '/' && !x->have_cwd) ||
	    pysec_path_normalize(v, x->cwd, x->path[k], sizeof(x->path[k])) < 0) {
		ev->unknown |= 1u << PYSEC_M_PATH;
		return;
	}
	ev->path[k] = x->path[k];
}

static void set_host(struct extract *x, struct pysec_evargs *ev, pyobj *o)
{
	const char *v;
	int rc = text_of(x, o, &v);

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

static void set_port(struct extract *x, struct pysec_evargs *ev, pyobj *o)
{
	const struct pysec_pyapi *api = x->api;
	const char *v;
	long long p = -1;
	int ovf = 0;

	if (!o || o == api->None)
		return;
	if (exact(api, o, api->Long_Type)) {
		p = api->Long_AsLongLongAndOverflow(o, &ovf);
		if (ovf || p == -1)
			api->Err_Clear();
	} else if (text_of(x, o, &v) == 1) {
		char *end;

		p = strtoll(v, &end, 10);
		if (!*v || *end)
			p = -1;
	}
	if (ovf || p < 0 || p > 65535) {
		ev->unknown |= 1u << PYSEC_M_PORT;
		return;
	}
	ev->port = (int32_t)p;
}

static void set_argv(struct extract *x, struct pysec_evargs *ev, pyobj *o)
{
	const struct pysec_pyapi *api = x->api;
	int list = exact(api, o, api->List_Type);
	py_ssize_t n;
	size_t at = 0;

	if (!o || o == api->None)
		return;
	if (!list && !exact(api, o, api->Tuple_Type))
		goto unknown;
	n = list ? api->List_Size(o) : api->Tuple_Size(o);
	for (py_ssize_t i = 0; i < n; i++) {
		pyobj *it = list ? api->List_GetItem(o, i) : api->Tuple_GetItem(o, i);
		const char *v;
		size_t len;
		/* the 4 refs are for paths; argv items are borrowed or bytes only */
		int saved = x->nrefs;

		if (text_of(x, it, &v) != 1)
			goto unknown;
		len = strlen(v);
		if (at + len + 2 > sizeof(x->argv)) {
			while (x->nrefs > saved)
				api->DecRef(x->refs[--x->nrefs]);
			goto unknown;
		}
		if (at)
			x->argv[at++] = ' ';
		memcpy(x->argv + at, v, len);
		at += len;
		while (x->nrefs > saved)
			api->DecRef(x->refs[--x->nrefs]);
	}
	x->argv[at] = 0;
	ev->argv = x->argv;
	return;
unknown:
	ev->unknown |= 1u << PYSEC_M_ARGV;
}

static void extract_args(struct extract *x, const struct pysec_event_shape *sh, pyobj *args,
			 struct pysec_evargs *ev)
{
	const struct pysec_pyapi *api = x->api;
	pyobj *a = arg(x, args, sh->a), *b = arg(x, args, sh->b);
	const char *v;
	int rc;

	switch (sh->shape) {
	case PYSEC_SH_PATH:
	case PYSEC_SH_DIR:
		set_path(x, ev, 0, a, sh->shape == PYSEC_SH_DIR);
		if (sh->b != 0xff)
			set_path(x, ev, 1, b, 0);
		break;
	case PYSEC_SH_SOCKADDR:
		if (exact(api, a, api->Tuple_Type)) {
			set_host(x, ev, arg(x, a, 0));
			set_port(x, ev, arg(x, a, 1));
		} else if (a && a != api->None) {
			set_path(x, ev, 0, a, 0); /* AF_UNIX */
		}
		break;
	case PYSEC_SH_HOSTPORT:
		set_host(x, ev, a);
		set_port(x, ev, b);
		break;
	case PYSEC_SH_HOST:
		set_host(x, ev, a);
		break;
	case PYSEC_SH_EXEC:
		rc = text_of(x, a, &v);
		if (rc > 0)
			ev->exe = v;
		else if (rc < 0)
			ev->unknown |= 1u << PYSEC_M_EXE;
		set_argv(x, ev, b);
		break;
	case PYSEC_SH_SHELL:
		ev->exe = "/bin/sh";
		rc = text_of(x, a, &v);
		if (rc > 0 &&
		    snprintf(x->argv, sizeof(x->argv), "sh -c %s", v) < (int)sizeof(x->argv))
			ev->argv = x->argv;
		else if (rc != 0)
			ev->unknown |= 1u << PYSEC_M_ARGV;
		break;
	case PYSEC_SH_MODULE:
		rc = text_of(x, a, &v);
		if (rc > 0)
			ev->module = v;
		else if (rc < 0)
			ev->unknown |= 1u << PYSEC_M_MODULE;
		break;
	}
}

/* cpython.run_file / run_module: the script a scope rule can name. */
static void note_script(const struct pysec_pyapi *api, const char *event, pyobj *args)
{
	struct extract x = {.api = api};
	const char *v;

	if (strcmp(event, "cpython.run_file") && strcmp(event, "cpython.run_module"))
		return;
	if (text_of(&x, arg(&x, args, 0), &v) == 1) {
		int ok;

		if (event[12] == 'f' && v[0] != '/') {
			x.have_cwd = getcwd(x.cwd, sizeof(x.cwd)) != NULL;
			ok = x.have_cwd && !pysec_path_normalize(v, x.cwd, script, sizeof(script));
		} else {
			ok = snprintf(script, sizeof(script), "%s", v) < (int)sizeof(script);
		}
		have_script = ok;
	}
	while (x.nrefs)
		api->DecRef(x.refs[--x.nrefs]);
}

int pysec_control_check(const struct pysec_pyapi *api, const char *event, pyobj *args,
			int listening, int *fire, uint32_t *flags, int *sig, char *msg, size_t cap)
{
	struct pysec_ctl_state *st = __atomic_load_n(&pysec_ctl_current, __ATOMIC_ACQUIRE);
	const struct pysec_ctl_event *e;
	const struct pysec_event_shape *sh;
	const uint32_t *cand;
	uint32_t n;
	int r = -1;

	*fire = listening;
	if (st && (__atomic_load_n(&st->c.hdr->flags, __ATOMIC_RELAXED) & PYSEC_CTL_STALE))
		st = remap(st);
	if (!st)
		return 0;
	if (__builtin_expect(event[0] == 'c', 0) && !strncmp(event, "cpython.run_", 12))
		note_script(api, event, args);
	e = pysec_ctl_find_event(&st->c, event);
	*fire = listening && pysec_ctl_fires(&st->c, e);
	/* observe mode only marks events, which nobody sees without a tracer */
	if (st->c.hdr->mode == PYSEC_CTL_OBSERVE && !listening)
		return 0;
	cand = pysec_ctl_candidates(&st->c, e, &n);
	if (!n)
		return 0;

	struct extract x = {.api = api};
	struct pysec_evargs ev = {.port = -1};
	struct pysec_procid proc = {have_exe ? self_exe : NULL, have_script ? script : NULL,
				    have_cgroup ? cgroup : NULL, self_uid};

	sh = pysec_event_shape_of(event);
	if (sh)
		extract_args(&x, sh, args, &ev);
	for (uint32_t i = 0; i < n && r < 0; i++)
		if (pysec_ctl_rule_matches(&st->c, cand[i], event, &ev, &proc, NULL))
			r = (int)cand[i];
	while (x.nrefs)
		api->DecRef(x.refs[--x.nrefs]);
	if (r < 0)
		return 0;

	const struct pysec_ctl_rule *rule = &st->c.rules[r];

	*flags |= ((uint32_t)r + 1) << PYSEC_F_RULE_SHIFT;
	if (rule->action == PYSEC_ACT_LOG)
		*fire = listening; /* a log rule's events reach the tracer */
	if (rule->action != PYSEC_ACT_DENY && rule->action != PYSEC_ACT_KILL)
		return 0;
	*fire = listening;
	if (st->c.hdr->mode != PYSEC_CTL_ENFORCE) {
		*flags |= PYSEC_F_WOULD_DENY;
		return 0;
	}
	*flags |= PYSEC_F_DENIED;
	if (rule->action == PYSEC_ACT_KILL)
		*sig = rule->signal ? rule->signal : SIGKILL;
	snprintf(msg, cap, "%s denied by pysectrace policy rule '%s'", event,
		 pysec_ctl_str(&st->c, rule->id));
	return -1;
}
