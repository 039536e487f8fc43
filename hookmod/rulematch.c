// SPDX-License-Identifier: MIT
/*
 * rulematch.c — the policy matcher shared by the hook and the CLI (see
 * rulematch.h).  No allocation, no Python, bounded work: it runs inside the
 * audit hook of every event a rule may concern.
 */
#include <string.h>

#include "rulematch.h"

#define NONE 0xff

/*
 * Which argument of an event plays which role (CPython 3.8-3.13,
 * docs/correlation-research.md §2).  Events not listed have no argument a
 * rule can look at; rules still match them by name.
 */
static const struct pysec_event_shape shapes[] = {
    {"open", PYSEC_SH_PATH, 0, NONE},
    {"os.listdir", PYSEC_SH_DIR, 0, NONE},
    {"os.scandir", PYSEC_SH_DIR, 0, NONE},
    {"os.chdir", PYSEC_SH_PATH, 0, NONE},
    {"os.chmod", PYSEC_SH_PATH, 0, NONE},
    {"os.chown", PYSEC_SH_PATH, 0, NONE},
    {"os.link", PYSEC_SH_PATH, 0, 1},
    {"os.mkdir", PYSEC_SH_PATH, 0, NONE},
    {"os.remove", PYSEC_SH_PATH, 0, NONE},
    {"os.rename", PYSEC_SH_PATH, 0, 1},
    {"os.rmdir", PYSEC_SH_PATH, 0, NONE},
    {"os.symlink", PYSEC_SH_PATH, 0, 1},
    {"os.truncate", PYSEC_SH_PATH, 0, NONE},
    {"os.utime", PYSEC_SH_PATH, 0, NONE},
    {"os.getxattr", PYSEC_SH_PATH, 0, NONE},
    {"os.listxattr", PYSEC_SH_PATH, 0, NONE},
    {"os.removexattr", PYSEC_SH_PATH, 0, NONE},
    {"os.setxattr", PYSEC_SH_PATH, 0, NONE},
    {"os.walk", PYSEC_SH_PATH, 0, NONE},
    {"os.fwalk", PYSEC_SH_PATH, 0, NONE},
    {"glob.glob", PYSEC_SH_PATH, 0, NONE},
    {"glob.glob/2", PYSEC_SH_PATH, 0, NONE},
    {"shutil.copyfile", PYSEC_SH_PATH, 0, 1},
    {"shutil.copymode", PYSEC_SH_PATH, 0, 1},
    {"shutil.copystat", PYSEC_SH_PATH, 0, 1},
    {"shutil.copytree", PYSEC_SH_PATH, 0, 1},
    {"shutil.move", PYSEC_SH_PATH, 0, 1},
    {"shutil.rmtree", PYSEC_SH_PATH, 0, NONE},
    {"shutil.chown", PYSEC_SH_PATH, 0, NONE},
    {"shutil.make_archive", PYSEC_SH_PATH, 0, 2},
    {"shutil.unpack_archive", PYSEC_SH_PATH, 0, 1},
    {"tempfile.mkstemp", PYSEC_SH_PATH, 0, NONE},
    {"tempfile.mkdtemp", PYSEC_SH_PATH, 0, NONE},
    {"sqlite3.connect", PYSEC_SH_PATH, 0, NONE},
    {"ctypes.dlopen", PYSEC_SH_PATH, 0, NONE},
    {"socket.connect", PYSEC_SH_SOCKADDR, 1, NONE},
    {"socket.sendto", PYSEC_SH_SOCKADDR, 1, NONE},
    {"socket.sendmsg", PYSEC_SH_SOCKADDR, 1, NONE},
    {"socket.bind", PYSEC_SH_SOCKADDR, 1, NONE},
    {"socket.getnameinfo", PYSEC_SH_SOCKADDR, 0, NONE},
    {"socket.getaddrinfo", PYSEC_SH_HOSTPORT, 0, 1},
    {"socket.gethostbyname", PYSEC_SH_HOST, 0, NONE},
    {"socket.gethostbyaddr", PYSEC_SH_HOST, 0, NONE},
    {"subprocess.Popen", PYSEC_SH_EXEC, 0, 1},
    {"os.exec", PYSEC_SH_EXEC, 0, 1},
    {"os.posix_spawn", PYSEC_SH_EXEC, 0, 1},
    {"os.system", PYSEC_SH_SHELL, 0, NONE},
    {"import", PYSEC_SH_MODULE, 0, NONE},
};

const struct pysec_event_shape *pysec_event_shapes(size_t *n)
{
	*n = sizeof(shapes) / sizeof(shapes[0]);
	return shapes;
}

const struct pysec_event_shape *pysec_event_shape_of(const char *event)
{
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		if (event[0] == shapes[i].event[0] && !strcmp(event, shapes[i].event))
			return &shapes[i];
	return NULL;
}

#define G(k) (1u << (k))

uint32_t pysec_shape_groups(int shape)
{
	switch (shape) {
	case PYSEC_SH_PATH:
	case PYSEC_SH_DIR:
		return G(PYSEC_M_PATH);
	case PYSEC_SH_SOCKADDR:
		return G(PYSEC_M_PATH) | G(PYSEC_M_HOSTNAME) | G(PYSEC_M_PORT);
	case PYSEC_SH_HOSTPORT:
		return G(PYSEC_M_HOSTNAME) | G(PYSEC_M_PORT);
	case PYSEC_SH_HOST:
		return G(PYSEC_M_HOSTNAME);
	case PYSEC_SH_EXEC:
	case PYSEC_SH_SHELL:
		return G(PYSEC_M_EXE) | G(PYSEC_M_ARGV);
	case PYSEC_SH_MODULE:
		return G(PYSEC_M_MODULE);
	default:
		return 0;
	}
}

/* ---- globs (wildmatch's abort codes keep backtracking polynomial) */

enum { GM_MATCH = 0, GM_NOMATCH = 1, GM_ABORT_ALL = -1, GM_ABORT_TO_STARSTAR = -2 };

static unsigned fold(unsigned c, int on)
{
	return on && c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* One [...] class at p (after '['); *end gets the char after ']'. */
static int match_class(const unsigned char *p, unsigned t, int fl, const unsigned char **end)
{
	int neg = 0, hit = 0;
	int fo = fl & PYSEC_GLOB_FOLD;

	if (*p == '!' || *p == '^') {
		neg = 1;
		p++;
	}
	for (int first = 1; *p && (first || *p != ']'); first = 0) {
		unsigned lo = *p++, hi;

		if (lo == '\\' && *p)
			lo = *p++;
		hi = lo;
		if (*p == '-' && p[1] && p[1] != ']') {
			p++;
			hi = *p++;
			if (hi == '\\' && *p)
				hi = *p++;
		}
		if (fold(t, fo) >= fold(lo, fo) && fold(t, fo) <= fold(hi, fo))
			hit = 1;
	}
	*end = *p ? p + 1 : p;
	if ((fl & PYSEC_GLOB_PATH) && t == '/')
		return 0;
	return hit != neg;
}

static int dowild(const unsigned char *p, const unsigned char *t, int fl)
{
	int path = fl & PYSEC_GLOB_PATH;

	for (; *p; p++, t++) {
		unsigned pc = *p;

		/* a pattern ending in "/" "**" also matches the directory itself */
		if (!*t && path && pc == '/' && p[1] == '*' && p[2] == '*' && !p[3])
			return GM_MATCH;
		if (!*t && pc != '*')
			return GM_ABORT_ALL;
		switch (pc) {
		case '?':
			if (path && *t == '/')
				return GM_NOMATCH;
			break;
		case '[': {
			const unsigned char *end;

			if (!match_class(p + 1, *t, fl, &end))
				return GM_NOMATCH;
			p = end - 1;
			break;
		}
		case '*': {
			int any = !path;

			if (p[1] == '*') {
				while (p[1] == '*')
					p++;
				any = 1;
			}
			p++;
			if (!*p)
				return !any && strchr((const char *)t, '/') ? GM_ABORT_TO_STARSTAR
									    : GM_MATCH;
			for (;; t++) {
				int r;

				if (!*t)
					return GM_ABORT_ALL;
				r = dowild(p, t, fl);
				if (r != GM_NOMATCH && (!any || r != GM_ABORT_TO_STARSTAR))
					return r;
				if (!any && *t == '/')
					return GM_ABORT_TO_STARSTAR;
			}
		}
		case '\\':
			if (p[1])
				pc = *++p;
			/* fall through */
		default:
			if (fold(*t, fl & PYSEC_GLOB_FOLD) != fold(pc, fl & PYSEC_GLOB_FOLD))
				return GM_NOMATCH;
		}
	}
	return *t ? GM_NOMATCH : GM_MATCH;
}

int pysec_glob_match(const char *pat, const char *s, int flags)
{
	return dowild((const unsigned char *)pat, (const unsigned char *)s, flags) == GM_MATCH;
}

const char *pysec_glob_check(const char *pat, size_t *col)
{
	size_t n = strlen(pat);

	*col = 0;
	if (!n)
		return "empty pattern";
	if (n >= PYSEC_GLOB_MAX) {
		*col = PYSEC_GLOB_MAX;
		return "pattern too long";
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pat[i];

		*col = i;
		if (c < 0x20 || c == 0x7f)
			return "control character in pattern";
		if (c == '\\') {
			if (i + 1 == n)
				return "trailing backslash";
			i++;
		} else if (c == '[') {
			size_t j = i + 1;

			if (pat[j] == '!' || pat[j] == '^')
				j++;
			if (pat[j] == ']')
				j++;
			while (pat[j] && pat[j] != ']') {
				if (pat[j] == '\\' && pat[j + 1])
					j++;
				j++;
			}
			if (!pat[j])
				return "unterminated '[' class";
			i = j;
		}
	}
	return NULL;
}

int pysec_glob_flags(int kind)
{
	switch (kind) {
	case PYSEC_M_PATH:
	case PYSEC_M_EXE:
	case PYSEC_M_S_EXE:
	case PYSEC_M_S_SCRIPT:
	case PYSEC_M_S_CGROUP:
		return PYSEC_GLOB_PATH;
	case PYSEC_M_HOSTNAME:
		return PYSEC_GLOB_FOLD;
	default:
		return 0;
	}
}

/* ---- paths */

int pysec_path_normalize(const char *path, const char *cwd, char *out, size_t cap)
{
	const char *src[2] = {path[0] == '/' ? "" : cwd, path};
	size_t o = 0; /* out holds "/comp/comp", without the root's slash when empty */

	if (cap < 2 || (path[0] != '/' && (!cwd || cwd[0] != '/')))
		return -1;
	for (int k = 0; k < 2; k++) {
		const char *s = src[k];

		while (*s) {
			const char *e;
			size_t len;

			while (*s == '/')
				s++;
			if (!*s)
				break;
			for (e = s; *e && *e != '/'; e++)
				;
			len = (size_t)(e - s);
			if (len == 2 && s[0] == '.' && s[1] == '.') {
				while (o > 0 && out[o - 1] != '/')
					o--;
				if (o > 0)
					o--;
			} else if (!(len == 1 && s[0] == '.')) {
				if (o + len + 2 > cap)
					return -1;
				out[o++] = '/';
				memcpy(out + o, s, len);
				o += len;
			}
			s = e;
		}
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	return 0;
}

/* ---- the control file */

uint32_t pysec_ctl_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

const char *pysec_ctl_str(const struct pysec_ctl *c, uint32_t off)
{
	return off < c->hdr->strtab_len ? c->strtab + off : "";
}

static int section_ok(uint32_t off, uint32_t count, size_t elem, size_t size)
{
	return off % 4 == 0 && (uint64_t)off + (uint64_t)count * elem <= size;
}

static int is_glob_kind(unsigned k)
{
	return k != PYSEC_M_CIDR && k != PYSEC_M_PORT && k != PYSEC_M_S_UID;
}

int pysec_ctl_open(struct pysec_ctl *c, const void *buf, size_t size, const char **why)
{
	const struct pysec_ctl_hdr *h = buf;

#define BAD(msg)                                                                                   \
	do {                                                                                       \
		*why = msg;                                                                        \
		return -1;                                                                         \
	} while (0)
	memset(c, 0, sizeof(*c));
	if (size < sizeof(*h) || size > PYSEC_CTL_SIZE_MAX)
		BAD("size out of range");
	if (memcmp(h->magic, PYSEC_CTL_MAGIC, 8))
		BAD("bad magic");
	if (h->version != PYSEC_CTL_VERSION)
		BAD("unsupported version");
	if (h->hdr_size != sizeof(*h) || h->size != size)
		BAD("header size fields do not match the file");
	if (h->mode > PYSEC_CTL_ENFORCE || h->filter > 1 || h->fire_other > 1)
		BAD("bad mode or filter");
	if (h->nrules > PYSEC_CTL_RULES_MAX || h->nbuckets > PYSEC_CTL_BUCKETS_MAX ||
	    (h->nbuckets & (h->nbuckets - 1)))
		BAD("bad rule or bucket count");
	if (!section_ok(h->rules_off, h->nrules, sizeof(struct pysec_ctl_rule), size) ||
	    !section_ok(h->matchers_off, h->nmatchers, sizeof(struct pysec_ctl_matcher), size) ||
	    !section_ok(h->idx_off, h->nidx, sizeof(uint32_t), size) ||
	    !section_ok(h->events_off, h->nbuckets, sizeof(struct pysec_ctl_event), size) ||
	    !section_ok(h->strtab_off, h->strtab_len, 1, size))
		BAD("section out of bounds");
	c->base = buf;
	c->hdr = h;
	c->rules = (const void *)(c->base + h->rules_off);
	c->matchers = (const void *)(c->base + h->matchers_off);
	c->idx = (const void *)(c->base + h->idx_off);
	c->events = (const void *)(c->base + h->events_off);
	c->strtab = (const char *)c->base + h->strtab_off;
	if (h->strtab_len < 1 || c->strtab[0] || c->strtab[h->strtab_len - 1])
		BAD("string table not NUL-delimited");
	for (uint32_t i = 0; i < h->nmatchers; i++) {
		const struct pysec_ctl_matcher *m = &c->matchers[i];
		size_t col;

		if (m->kind < PYSEC_M_EVENT || m->kind >= PYSEC_M_MAX)
			BAD("bad matcher kind");
		if (is_glob_kind(m->kind) &&
		    (m->str >= h->strtab_len || pysec_glob_check(c->strtab + m->str, &col)))
			BAD("bad matcher glob");
		if (m->kind == PYSEC_M_CIDR &&
		    !((m->family == 4 && m->lo <= 32) || (m->family == 6 && m->lo <= 128)))
			BAD("bad CIDR matcher");
		if ((m->kind == PYSEC_M_PORT || m->kind == PYSEC_M_S_UID) && m->lo > m->hi)
			BAD("bad range matcher");
	}
	for (uint32_t i = 0; i < h->nrules; i++) {
		const struct pysec_ctl_rule *r = &c->rules[i];

		if (r->id >= h->strtab_len || r->action > PYSEC_ACT_KILL ||
		    (uint64_t)r->first + r->count > h->nmatchers)
			BAD("bad rule");
		for (uint32_t j = 1; j < r->count; j++)
			if (PYSEC_M_GROUP(c->matchers[r->first + j].kind) <
			    PYSEC_M_GROUP(c->matchers[r->first + j - 1].kind))
				BAD("rule matchers not sorted by group");
	}
	for (uint32_t i = 0; i < h->nidx; i++)
		if (c->idx[i] >= h->nrules)
			BAD("bad rule index");
	if ((uint64_t)h->other_idx + h->nother > h->nidx)
		BAD("bad list of rules for other events");
	for (uint32_t i = 0; i < h->nbuckets; i++) {
		const struct pysec_ctl_event *e = &c->events[i];

		if (e->name >= h->strtab_len || (uint64_t)e->idx + e->nidx > h->nidx)
			BAD("bad event bucket");
	}
	return 0;
#undef BAD
}

const struct pysec_ctl_event *pysec_ctl_find_event(const struct pysec_ctl *c, const char *event)
{
	uint32_t n = c->hdr->nbuckets, mask = n - 1, i;

	if (!n)
		return NULL;
	i = pysec_ctl_hash(event) & mask;
	for (uint32_t k = 0; k < n; k++, i = (i + 1) & mask) {
		const struct pysec_ctl_event *e = &c->events[i];

		if (!e->name)
			return NULL;
		if (!strcmp(c->strtab + e->name, event))
			return e;
	}
	return NULL;
}

const uint32_t *pysec_ctl_candidates(const struct pysec_ctl *c, const struct pysec_ctl_event *e,
				     uint32_t *n)
{
	if (e) {
		*n = e->nidx;
		return c->idx + e->idx;
	}
	*n = c->hdr->nother;
	return c->idx + c->hdr->other_idx;
}

int pysec_ctl_fires(const struct pysec_ctl *c, const struct pysec_ctl_event *e)
{
	if (!c->hdr->filter)
		return 1;
	return e ? !!(e->flags & PYSEC_CTL_EV_FIRE) : !!c->hdr->fire_other;
}

int pysec_cidr_contains(int family, const uint8_t *net, unsigned prefix, const uint8_t *addr)
{
	unsigned bytes = prefix / 8, bits = prefix % 8;

	if (prefix > (family == 4 ? 32u : 128u))
		return 0;
	if (memcmp(net, addr, bytes))
		return 0;
	if (!bits)
		return 1;
	uint8_t mask = (uint8_t)(0xff00u >> bits);

	return (net[bytes] & mask) == (addr[bytes] & mask);
}

static const char *basename_of(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* 1 match, 0 no match, -1 the value is absent */
static int match_one(const struct pysec_ctl *c, const struct pysec_ctl_matcher *m,
		     const char *event, const struct pysec_evargs *ev,
		     const struct pysec_procid *proc)
{
	const char *g = pysec_ctl_str(c, m->str);
	int fl = pysec_glob_flags(m->kind), any = 0;
	const char *v;

	switch (m->kind) {
	case PYSEC_M_EVENT:
		return pysec_glob_match(g, event, 0);
	case PYSEC_M_PATH:
		for (int i = 0; i < PYSEC_EV_PATHS; i++) {
			if (!ev->path[i])
				continue;
			any = 1;
			if (pysec_glob_match(g, ev->path[i], fl))
				return 1;
		}
		return any ? 0 : -1;
	case PYSEC_M_HOSTNAME:
		if (!ev->host)
			return -1;
		return !ev->family && pysec_glob_match(g, ev->host, fl);
	case PYSEC_M_CIDR:
		if (!ev->host)
			return -1;
		return ev->family == m->family &&
		       pysec_cidr_contains(m->family, m->addr, m->lo, ev->addr);
	case PYSEC_M_PORT:
		if (ev->port < 0)
			return -1;
		return (uint32_t)ev->port >= m->lo && (uint32_t)ev->port <= m->hi;
	case PYSEC_M_EXE:
		if (!ev->exe)
			return -1;
		return pysec_glob_match(g, strchr(g, '/') ? ev->exe : basename_of(ev->exe), fl);
	case PYSEC_M_ARGV:
		v = ev->argv;
		break;
	case PYSEC_M_MODULE:
		v = ev->module;
		break;
	case PYSEC_M_S_EXE:
		v = proc->exe;
		break;
	case PYSEC_M_S_SCRIPT:
		v = proc->script;
		break;
	case PYSEC_M_S_CGROUP:
		v = proc->cgroup;
		break;
	case PYSEC_M_S_UID:
		if (proc->uid < 0)
			return -1;
		return (uint64_t)proc->uid >= m->lo && (uint64_t)proc->uid <= m->hi;
	default:
		return 0;
	}
	if (!v)
		return -1;
	return pysec_glob_match(g, v, fl);
}

int pysec_ctl_rule_matches(const struct pysec_ctl *c, uint32_t r, const char *event,
			   const struct pysec_evargs *ev, const struct pysec_procid *proc,
			   int *failed)
{
	const struct pysec_ctl_rule *rule = &c->rules[r];
	int strict = rule->action == PYSEC_ACT_DENY || rule->action == PYSEC_ACT_KILL;
	uint32_t i = 0;

	while (i < rule->count) {
		int grp = PYSEC_M_GROUP(c->matchers[rule->first + i].kind), hit = 0;

		for (; i < rule->count && PYSEC_M_GROUP(c->matchers[rule->first + i].kind) == grp;
		     i++)
			if (!hit &&
			    match_one(c, &c->matchers[rule->first + i], event, ev, proc) == 1)
				hit = 1;
		/* an argument that exists but could not be read: fail closed */
		if (!hit && grp < 32 && (ev->unknown & (1u << grp)) && strict)
			hit = 1;
		if (!hit) {
			if (failed)
				*failed = grp;
			return 0;
		}
	}
	return 1;
}

int pysec_ctl_decide(const struct pysec_ctl *c, const char *event, const struct pysec_evargs *ev,
		     const struct pysec_procid *proc)
{
	uint32_t n;
	const uint32_t *list = pysec_ctl_candidates(c, pysec_ctl_find_event(c, event), &n);

	for (uint32_t i = 0; i < n; i++)
		if (pysec_ctl_rule_matches(c, list[i], event, ev, proc, NULL))
			return (int)list[i];
	return -1;
}
