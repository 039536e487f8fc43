// SPDX-License-Identifier: MIT
/*
 * policy.c — the policy language (see policy.h and docs/policy.md):
 * libyaml's document loader gives nodes with their positions; every check
 * reports file:line:column and a hint.  The parse is bounded: the file,
 * the rules, the list items and the string bytes all have a budget, so
 * YAML aliases cannot multiply the work.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "policy.h"

#define RULES_MAX PYSEC_CTL_RULES_MAX
#define ITEMS_MAX 65536	     /* list items in the whole policy */
#define BYTES_MAX (4u << 20) /* string bytes in the whole policy */
#define LIST_MAX  1024	     /* items in one list */

struct parser {
	yaml_document_t doc;
	struct pysec_policy_error *err;
	unsigned items;
	size_t bytes;
};

static const char *const action_names[] = {"allow", "log", "deny", "kill"};

static const struct {
	uint32_t bit;
	const char *name;
} finding_names[] = {
    {PYSEC_FIND_BYPASS, "bypass"},
    {PYSEC_FIND_HOOK_CLEARED, "hook_cleared"},
    {PYSEC_FIND_HOOK_MISSING, "hook_missing"},
    {PYSEC_FIND_TAMPER, "tamper"},
};

/* The monitored syscalls (bpf/pysectrace.bpf.c) a finding can be about. */
static const char *const syscall_names[] = {
    "open",   "openat",	 "openat2", "creat",	"connect",
    "sendto", "sendmsg", "execve",  "execveat", "io_uring_setup",
};

static const struct {
	const char *name;
	int sig;
} signal_names[] = {
    {"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT},   {"QUIT", SIGQUIT},
    {"ABRT", SIGABRT}, {"HUP", SIGHUP},	  {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
    {"STOP", SIGSTOP}, {"SEGV", SIGSEGV}, {"SYS", SIGSYS},
};

const char *pysec_action_name(int action)
{
	return action >= 0 && action <= PYSEC_ACT_KILL ? action_names[action] : "?";
}

const char *pysec_finding_name(uint32_t bit)
{
	for (size_t i = 0; i < sizeof(finding_names) / sizeof(finding_names[0]); i++)
		if (finding_names[i].bit == bit)
			return finding_names[i].name;
	return "?";
}

uint32_t pysec_finding_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(finding_names) / sizeof(finding_names[0]); i++)
		if (!strcmp(finding_names[i].name, s))
			return finding_names[i].bit;
	return 0;
}

/* ---- errors */

__attribute__((format(printf, 4, 5))) static int fail(struct parser *ps, const yaml_node_t *n,
						      const char *hint, const char *fmt, ...)
{
	va_list ap;

	if (ps->err->msg[0])
		return -1; /* the first error wins */
	va_start(ap, fmt);
	vsnprintf(ps->err->msg, sizeof(ps->err->msg), fmt, ap);
	va_end(ap);
	snprintf(ps->err->hint, sizeof(ps->err->hint), "%s", hint ? hint : "");
	ps->err->line = n ? (unsigned)n->start_mark.line + 1 : 0;
	ps->err->col = n ? (unsigned)n->start_mark.column + 1 : 0;
	return -1;
}

void pysec_policy_error_print(FILE *f, const char *file, const struct pysec_policy_error *e)
{
	if (e->line)
		fprintf(f, "%s:%u:%u: error: %s\n", file, e->line, e->col, e->msg);
	else
		fprintf(f, "%s: error: %s\n", file, e->msg);
	if (e->hint[0])
		fprintf(f, "  hint: %s\n", e->hint);
}

/* ---- node helpers */

static yaml_node_t *node(struct parser *ps, int i)
{
	return yaml_document_get_node(&ps->doc, i);
}

static const char *type_name(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE     ? "a scalar"
	       : n->type == YAML_SEQUENCE_NODE ? "a list"
					       : "a mapping";
}

/* A scalar as a C string (NULL on error, reported). */
static const char *scalar(struct parser *ps, yaml_node_t *n, const char *key)
{
	if (n->type != YAML_SCALAR_NODE) {
		fail(ps, n, "write a single value here", "'%s' must be a string or number, not %s",
		     key, type_name(n));
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		fail(ps, n, "remove the \\0 escape", "'%s' contains a NUL character", key);
		return NULL;
	}
	ps->bytes += n->data.scalar.length;
	if (ps->bytes > BYTES_MAX) {
		fail(ps, n, "split the policy", "the policy holds more than %u bytes of strings",
		     BYTES_MAX);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

static int is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* A plain integer scalar in [lo, hi]; -1 when not (reported). */
static int integer(struct parser *ps, yaml_node_t *n, const char *key, long lo, long hi, long *out)
{
	const char *s = scalar(ps, n, key);
	char *end;

	if (!s)
		return -1;
	errno = 0;
	*out = strtol(s, &end, 10);
	if (!is_plain(n) || !*s || *end || errno) {
		char hint[96];

		snprintf(hint, sizeof(hint), "write a number from %ld to %ld, unquoted", lo, hi);
		return fail(ps, n, hint, "'%s' must be a number, not '%s'", key, s);
	}
	if (*out < lo || *out > hi)
		return fail(ps, n, NULL, "'%s' %ld is out of range %ld..%ld", key, *out, lo, hi);
	return 0;
}

/* Call fn for the scalar n, or for each item of the list n. */
static int for_each(struct parser *ps, yaml_node_t *n, const char *key,
		    int (*fn)(struct parser *, yaml_node_t *, const char *, void *), void *arg)
{
	if (n->type == YAML_MAPPING_NODE)
		return fail(ps, n, "write a value or a list of values",
			    "'%s' must be a value or "
			    "a list, not a mapping",
			    key);
	if (n->type == YAML_SCALAR_NODE)
		return fn(ps, n, key, arg);
	yaml_node_item_t *it = n->data.sequence.items.start, *top = n->data.sequence.items.top;

	if (top - it > LIST_MAX)
		return fail(ps, n, NULL, "'%s' has more than %d items", key, LIST_MAX);
	if (top == it)
		return fail(ps, n, "remove the key, or give at least one value",
			    "'%s' is an empty list", key);
	for (; it < top; it++) {
		yaml_node_t *c = node(ps, *it);

		if (!c || ++ps->items > ITEMS_MAX)
			return fail(ps, n, "split the policy",
				    "the policy has too many list items");
		if (c->type != YAML_SCALAR_NODE)
			return fail(ps, c, "lists hold plain values here",
				    "items of '%s' must be "
				    "values, not %s",
				    key, type_name(c));
		if (fn(ps, c, key, arg) < 0)
			return -1;
	}
	return 0;
}

static int push_str(struct pysec_strlist *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -1;
	l->v = v;
	if (!(v[l->n] = strdup(s)))
		return -1;
	l->n++;
	return 0;
}

static void free_strlist(struct pysec_strlist *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---- value parsers (fn of for_each) */

struct glob_arg {
	struct pysec_strlist *list;
	int kind; /* PYSEC_M_* */
};

static int parse_glob(struct parser *ps, yaml_node_t *n, const char *key, void *arg)
{
	struct glob_arg *g = arg;
	const char *s = scalar(ps, n, key), *why;
	size_t col;

	if (!s)
		return -1;
	if ((why = pysec_glob_check(s, &col)) != NULL)
		return fail(ps, n,
			    "globs: * (not across '/' in paths), ** (across), ?, [a-z], [!x], "
			    "\\ escapes",
			    "bad glob '%s' in '%s': %s at offset %zu", s, key, why, col);
	if (g->kind == PYSEC_M_PATH && s[0] != '/' && s[0] != '*')
		return fail(ps, n,
			    "paths are matched absolute and normalized: start with '/' "
			    "or '**'",
			    "path pattern '%s' is relative", s);
	if (g->kind == PYSEC_M_S_EXE && s[0] != '/' && s[0] != '*')
		return fail(ps, n,
			    "scope.exe is the process's absolute executable "
			    "(/proc/PID/exe): start with '/' or '*'",
			    "scope exe pattern '%s' is relative", s);
	if (push_str(g->list, s) < 0)
		return fail(ps, n, NULL, "out of memory");
	return 0;
}

static int parse_range_value(struct parser *ps, yaml_node_t *n, const char *key, uint32_t max,
			     struct pysec_range *r)
{
	const char *s = scalar(ps, n, key);
	char *end;
	unsigned long lo, hi;
	char hint[128];

	if (!s)
		return -1;
	snprintf(hint, sizeof(hint), "write a number from 0 to %u, or a range \"LO-HI\"", max);
	errno = 0;
	lo = strtoul(s, &end, 10);
	hi = lo;
	if (end != s && *end == '-' && end[1] >= '0' && end[1] <= '9')
		hi = strtoul(end + 1, &end, 10);
	if (end == s || *end || errno || s[0] == '-' || s[0] == '+' || s[0] == ' ')
		return fail(ps, n, hint, "bad %s '%s'", key, s);
	if (lo > max || hi > max)
		return fail(ps, n, hint, "%s '%s' is out of range", key, s);
	if (lo > hi)
		return fail(ps, n, "write the low end first", "%s range '%s' is empty", key, s);
	r->lo = (uint32_t)lo;
	r->hi = (uint32_t)hi;
	return 0;
}

struct range_arg {
	struct pysec_range **v;
	unsigned *n;
	uint32_t max;
};

static int parse_range(struct parser *ps, yaml_node_t *n, const char *key, void *arg)
{
	struct range_arg *a = arg;
	struct pysec_range r, *v;

	if (parse_range_value(ps, n, key, a->max, &r) < 0)
		return -1;
	v = realloc(*a->v, (*a->n + 1) * sizeof(*v));
	if (!v)
		return fail(ps, n, NULL, "out of memory");
	v[(*a->n)++] = r;
	*a->v = v;
	return 0;
}

static int looks_numeric(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || *s == '.'))
			return 0;
	return 1;
}

static int parse_host(struct parser *ps, yaml_node_t *n, const char *key, void *arg)
{
	struct pysec_rule *r = arg;
	const char *s = scalar(ps, n, key), *slash;
	struct pysec_hostpat h = {0};
	char addr[64];

	if (!s)
		return -1;
	slash = strchr(s, '/');
	if (slash || strchr(s, ':') || looks_numeric(s)) {
		size_t alen = slash ? (size_t)(slash - s) : strlen(s);
		char *end;
		long pfx;

		if (alen >= sizeof(addr))
			return fail(ps, n, "write an address like 10.0.0.0/8 or fd00::/8",
				    "bad CIDR '%s'", s);
		memcpy(addr, s, alen);
		addr[alen] = 0;
		if (inet_pton(AF_INET, addr, h.addr) == 1)
			h.family = 4;
		else if (inet_pton(AF_INET6, addr, h.addr) == 1)
			h.family = 6;
		else
			return fail(ps, n, "write an address like 10.0.0.0/8 or fd00::/8",
				    "bad CIDR '%s': '%s' is not an IPv4 or IPv6 address", s, addr);
		h.prefix = h.family == 4 ? 32 : 128;
		if (slash) {
			errno = 0;
			pfx = strtol(slash + 1, &end, 10);
			if (!slash[1] || *end || errno || pfx < 0 || pfx > (long)h.prefix)
				return fail(ps, n,
					    "the prefix length is 0-32 for IPv4, 0-128 for IPv6",
					    "bad CIDR '%s': bad prefix length", s);
			h.prefix = (unsigned)pfx;
			uint8_t net[16];

			memcpy(net, h.addr, 16);
			for (unsigned b = h.prefix; b < (h.family == 4 ? 32u : 128u); b++)
				net[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
			if (memcmp(net, h.addr, 16))
				return fail(ps, n,
					    "clear the host bits (10.1.2.0/24, not 10.1.2.3/24)",
					    "bad CIDR '%s': host bits set", s);
		}
	} else {
		size_t col;
		const char *why = pysec_glob_check(s, &col);

		for (const char *c = s; !why && *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || strchr(".-_*?[]!<>", *c)))
				why = "character not allowed in a host name";
		if (why)
			return fail(ps, n,
				    "a host is an address, a CIDR, or a host-name glob "
				    "(*.example.com)",
				    "bad host '%s': %s", s, why);
	}
	h.text = strdup(s);
	struct pysec_hostpat *v = realloc(r->hosts, (r->nhosts + 1) * sizeof(*v));

	if (!h.text || !v) {
		free(h.text);
		if (v)
			r->hosts = v;
		return fail(ps, n, NULL, "out of memory");
	}
	v[r->nhosts++] = h;
	r->hosts = v;
	return 0;
}

static int parse_finding(struct parser *ps, yaml_node_t *n, const char *key, void *arg)
{
	struct pysec_rule *r = arg;
	const char *s = scalar(ps, n, key);
	uint32_t b;

	if (!s)
		return -1;
	if (!(b = pysec_finding_parse(s)))
		return fail(ps, n, "findings: bypass, hook_cleared, hook_missing, tamper",
			    "unknown finding '%s'", s);
	r->findings |= b;
	return 0;
}

static int parse_syscall(struct parser *ps, yaml_node_t *n, const char *key, void *arg)
{
	struct pysec_rule *r = arg;
	const char *s = scalar(ps, n, key);

	if (!s)
		return -1;
	for (size_t i = 0; i < sizeof(syscall_names) / sizeof(syscall_names[0]); i++)
		if (!strcmp(s, syscall_names[i]))
			return push_str(&r->syscalls, s) < 0 ? fail(ps, n, NULL, "out of memory")
							     : 0;
	return fail(ps, n,
		    "monitored syscalls: open, openat, openat2, creat, connect, sendto, "
		    "sendmsg, execve, execveat, io_uring_setup",
		    "unknown syscall '%s'", s);
}

static int parse_signal(struct parser *ps, yaml_node_t *n, int *sig)
{
	const char *s = scalar(ps, n, "signal"), *name;
	char *end;
	long v;

	if (!s)
		return -1;
	v = strtol(s, &end, 10);
	if (*s && !*end) {
		if (v < 1 || v >= NSIG)
			return fail(ps, n, NULL, "signal %ld is out of range 1..%d", v, NSIG - 1);
		*sig = (int)v;
		return 0;
	}
	name = strncmp(s, "SIG", 3) ? s : s + 3;
	for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
		if (!strcmp(name, signal_names[i].name)) {
			*sig = signal_names[i].sig;
			return 0;
		}
	return fail(ps, n, "write a number or a name: SIGKILL, SIGTERM, SIGSTOP, SIGABRT, ...",
		    "unknown signal '%s'", s);
}

/* ---- rules */

static int valid_id(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= PYSEC_POLICY_ID_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("-_.:", *s)))
			return 0;
	return 1;
}

int pysec_glob_is_literal(const char *g)
{
	return !strpbrk(g, "*?[\\");
}

uint32_t pysec_rule_arg_groups(const struct pysec_rule *r)
{
	uint32_t g = 0;

	if (r->paths.n)
		g |= 1u << PYSEC_M_PATH;
	if (r->nhosts)
		g |= 1u << PYSEC_M_HOSTNAME;
	if (r->nports)
		g |= 1u << PYSEC_M_PORT;
	if (r->exes.n)
		g |= 1u << PYSEC_M_EXE;
	if (r->argv.n)
		g |= 1u << PYSEC_M_ARGV;
	if (r->modules.n)
		g |= 1u << PYSEC_M_MODULE;
	return g;
}

static const char *group_key(int g)
{
	switch (g) {
	case PYSEC_M_EVENT:
		return "event";
	case PYSEC_M_PATH:
		return "path";
	case PYSEC_M_HOSTNAME:
	case PYSEC_M_CIDR:
		return "host";
	case PYSEC_M_PORT:
		return "port";
	case PYSEC_M_EXE:
		return "exe";
	case PYSEC_M_ARGV:
		return "argv";
	case PYSEC_M_MODULE:
		return "module";
	case PYSEC_M_S_EXE:
		return "scope.exe";
	case PYSEC_M_S_SCRIPT:
		return "scope.script";
	case PYSEC_M_S_UID:
		return "scope.uid";
	case PYSEC_M_S_CGROUP:
		return "scope.cgroup";
	default:
		return "?";
	}
}

/* The events that fill all of the groups g, for hints. */
static void events_with(uint32_t g, char *out, size_t cap)
{
	size_t n, o = 0;
	const struct pysec_event_shape *sh = pysec_event_shapes(&n);

	out[0] = 0;
	for (size_t i = 0; i < n && o + 40 < cap; i++)
		if ((pysec_shape_groups(sh[i].shape) & g) == g)
			o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? ", " : "", sh[i].event);
}

static int parse_scope(struct parser *ps, yaml_node_t *n, struct pysec_rule *r)
{
	if (n->type != YAML_MAPPING_NODE)
		return fail(ps, n, "scope: {exe: GLOB, script: GLOB, uid: N, cgroup: GLOB}",
			    "'scope' must be a mapping, not %s", type_name(n));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(ps, p->key), *v = node(ps, p->value);
		const char *key = k ? scalar(ps, k, "scope key") : NULL;
		struct glob_arg g = {0};
		struct range_arg ra = {&r->uids, &r->nuids, UINT32_MAX - 1};

		if (!key || !v)
			return -1;
		if (!strcmp(key, "exe")) {
			g = (struct glob_arg){&r->s_exe, PYSEC_M_S_EXE};
		} else if (!strcmp(key, "script")) {
			g = (struct glob_arg){&r->s_script, PYSEC_M_S_SCRIPT};
		} else if (!strcmp(key, "cgroup")) {
			g = (struct glob_arg){&r->s_cgroup, PYSEC_M_S_CGROUP};
		} else if (!strcmp(key, "uid")) {
			if (r->nuids)
				return fail(ps, k, NULL, "duplicate key 'uid'");
			if (for_each(ps, v, "uid", parse_range, &ra) < 0)
				return -1;
			continue;
		} else {
			return fail(ps, k, "scope keys: exe, script, uid, cgroup",
				    "unknown scope key '%s'", key);
		}
		if (g.list->n)
			return fail(ps, k, NULL, "duplicate key '%s'", key);
		if (for_each(ps, v, key, parse_glob, &g) < 0)
			return -1;
	}
	return 0;
}

/* Keys a rule may have, and whether finding rules may use them. */
static const struct {
	const char *key;
	int audit, finding;
} rule_keys[] = {
    {"id", 1, 1},     {"action", 1, 1},	 {"signal", 1, 1},  {"description", 1, 1}, {"event", 1, 0},
    {"path", 1, 1},   {"host", 1, 1},	 {"port", 1, 1},    {"exe", 1, 0},	   {"argv", 1, 0},
    {"module", 1, 0}, {"finding", 0, 1}, {"syscall", 0, 1}, {"scope", 1, 1},
};

static int parse_rule(struct parser *ps, yaml_node_t *n, struct pysec_rule *r,
		      const struct pysec_policy *p)
{
	yaml_node_t *action_node = NULL, *signal_node = NULL, *id_node = NULL;
	yaml_node_t *keynodes[sizeof(rule_keys) / sizeof(rule_keys[0])] = {0};
	int is_finding = 0;

	r->line = (unsigned)n->start_mark.line + 1;
	r->col = (unsigned)n->start_mark.column + 1;
	r->signal = SIGKILL;
	if (n->type != YAML_MAPPING_NODE)
		return fail(ps, n, "each rule is a mapping: - {id: NAME, action: deny, ...}",
			    "a rule must be a mapping, not %s", type_name(n));
	/* first pass: which keys, and is it a finding rule */
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = node(ps, pr->key);
		const char *key = k ? scalar(ps, k, "rule key") : NULL;
		size_t i;

		if (!key)
			return -1;
		for (i = 0; i < sizeof(rule_keys) / sizeof(rule_keys[0]); i++)
			if (!strcmp(key, rule_keys[i].key))
				break;
		if (i == sizeof(rule_keys) / sizeof(rule_keys[0]))
			return fail(ps, k,
				    "rule keys: id, action, signal, description, event, "
				    "path, host, port, exe, argv, module, finding, syscall, scope",
				    "unknown key '%s' in rule", key);
		if (keynodes[i])
			return fail(ps, k, NULL, "duplicate key '%s' in rule", key);
		keynodes[i] = k;
		if (!strcmp(key, "finding"))
			is_finding = 1;
	}
	for (size_t i = 0; i < sizeof(rule_keys) / sizeof(rule_keys[0]); i++) {
		if (!keynodes[i])
			continue;
		if (is_finding && !rule_keys[i].finding)
			return fail(ps, keynodes[i],
				    "finding rules narrow by syscall, path, host, "
				    "port and scope; audit-event matchers go in another rule",
				    "'%s' cannot be used in a finding rule", rule_keys[i].key);
		if (!is_finding && !rule_keys[i].audit)
			return fail(ps, keynodes[i],
				    "add 'finding: bypass' (or hook_cleared, "
				    "hook_missing, tamper) to make it a finding rule",
				    "'%s' is only for finding rules", rule_keys[i].key);
	}
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = node(ps, pr->key), *v = node(ps, pr->value);
		const char *key = (const char *)k->data.scalar.value;
		struct glob_arg g = {NULL, 0};
		struct range_arg ra = {&r->ports, &r->nports, 65535};
		const char *s;
		int rc = 0;

		if (!v)
			return -1;
		if (!strcmp(key, "id")) {
			if (!(s = scalar(ps, v, "id")))
				return -1;
			if (!valid_id(s))
				return fail(ps, v, "ids are 1-63 characters of A-Z a-z 0-9 - _ . :",
					    "bad rule id '%s'", s);
			for (unsigned j = 0; j < p->nrules; j++)
				if (p->rules[j].id && !strcmp(p->rules[j].id, s)) {
					char hint[96];

					snprintf(hint, sizeof(hint),
						 "the first is the rule at line %u",
						 p->rules[j].line);
					return fail(ps, v, hint, "duplicate rule id '%s'", s);
				}
			if (!(r->id = strdup(s)))
				return fail(ps, v, NULL, "out of memory");
			id_node = v;
			continue;
		} else if (!strcmp(key, "description")) {
			if (!(s = scalar(ps, v, key)))
				return -1;
			if (!(r->description = strdup(s)))
				return fail(ps, v, NULL, "out of memory");
			continue;
		} else if (!strcmp(key, "action")) {
			action_node = v;
			continue;
		} else if (!strcmp(key, "signal")) {
			signal_node = v;
			continue;
		} else if (!strcmp(key, "event")) {
			g = (struct glob_arg){&r->events, PYSEC_M_EVENT};
		} else if (!strcmp(key, "path")) {
			g = (struct glob_arg){&r->paths, PYSEC_M_PATH};
		} else if (!strcmp(key, "exe")) {
			g = (struct glob_arg){&r->exes, PYSEC_M_EXE};
		} else if (!strcmp(key, "argv")) {
			g = (struct glob_arg){&r->argv, PYSEC_M_ARGV};
		} else if (!strcmp(key, "module")) {
			g = (struct glob_arg){&r->modules, PYSEC_M_MODULE};
		} else if (!strcmp(key, "host")) {
			rc = for_each(ps, v, key, parse_host, r);
		} else if (!strcmp(key, "port")) {
			rc = for_each(ps, v, key, parse_range, &ra);
		} else if (!strcmp(key, "finding")) {
			rc = for_each(ps, v, key, parse_finding, r);
		} else if (!strcmp(key, "syscall")) {
			rc = for_each(ps, v, key, parse_syscall, r);
		} else if (!strcmp(key, "scope")) {
			rc = parse_scope(ps, v, r);
		}
		if (g.list)
			rc = for_each(ps, v, key, parse_glob, &g);
		if (rc < 0)
			return -1;
	}
	if (!id_node)
		return fail(ps, n, "give every rule an id: it names the rule in alerts and errors",
			    "rule has no 'id'");
	if (!action_node)
		return fail(ps, n, "action: allow, log, deny or kill", "rule '%s' has no 'action'",
			    r->id);
	const char *a = scalar(ps, action_node, "action");

	if (!a)
		return -1;
	r->action = -1;
	for (int i = 0; i <= PYSEC_ACT_KILL; i++)
		if (!strcmp(a, action_names[i]))
			r->action = i;
	if (r->action < 0)
		return fail(ps, action_node, "action: allow, log, deny or kill",
			    "unknown action '%s'", a);
	if (is_finding && r->action == PYSEC_ACT_DENY)
		return fail(ps, action_node,
			    "a finding is a syscall the kernel already saw: use "
			    "kill (the kernel refuses what it can and signals the rest), log or "
			    "allow",
			    "'deny' is for audit events, not findings");
	if (signal_node && r->action != PYSEC_ACT_KILL)
		return fail(ps, signal_node, "remove 'signal', or make the action kill",
			    "'signal' is only for action kill");
	if (signal_node && parse_signal(ps, signal_node, &r->signal) < 0)
		return -1;
	/* an event list with only literal names: each must fill the rule's argument roles */
	uint32_t ag = pysec_rule_arg_groups(r);

	if (!is_finding && ag && r->events.n) {
		int any = 0;

		for (unsigned i = 0; i < r->events.n; i++) {
			const struct pysec_event_shape *sh = pysec_event_shape_of(r->events.v[i]);

			if (!pysec_glob_is_literal(r->events.v[i]) ||
			    (sh && (pysec_shape_groups(sh->shape) & ag) == ag))
				any = 1;
		}
		if (!any) {
			char hint[320], list[256];
			int g = __builtin_ctz(ag);

			events_with(1u << g, list, sizeof(list));
			snprintf(hint, sizeof(hint), "'%s' is an argument of: %s", group_key(g),
				 list);
			return fail(ps, keynodes[4], hint,
				    "no event of rule '%s' has all of its argument matchers",
				    r->id);
		}
	}
	if (is_finding && (r->exes.n || r->modules.n))
		return fail(ps, n, NULL, "internal: finding rule with audit matchers");
	return 0;
}

static int parse_top(struct parser *ps, struct pysec_policy *p)
{
	yaml_node_t *root = yaml_document_get_root_node(&ps->doc), *rules = NULL, *ver = NULL;

	if (!root)
		return fail(ps, NULL, "start with: version: 1", "the policy is empty");
	if (root->type != YAML_MAPPING_NODE)
		return fail(ps, root, "a policy is a mapping with version, mode, default, rules",
			    "the policy must be a mapping, not %s", type_name(root));
	p->mode = PYSEC_CTL_OBSERVE;
	p->default_action = PYSEC_ACT_LOG;
	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
	     pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(ps, pr->key), *v = node(ps, pr->value);
		const char *key = k ? scalar(ps, k, "key") : NULL, *s;
		long n;

		if (!key || !v)
			return -1;
		for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < pr; q++) {
			yaml_node_t *k2 = node(ps, q->key);

			if (k2 && k2->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)k2->data.scalar.value, key))
				return fail(ps, k, NULL, "duplicate key '%s'", key);
		}
		if (!strcmp(key, "version")) {
			if (integer(ps, v, key, 1, 1, &n) < 0) {
				snprintf(ps->err->hint, sizeof(ps->err->hint),
					 "this pysectrace reads policy version 1");
				return -1;
			}
			p->version = (int)n;
			ver = v;
		} else if (!strcmp(key, "mode")) {
			if (!(s = scalar(ps, v, key)))
				return -1;
			if (!strcmp(s, "observe"))
				p->mode = PYSEC_CTL_OBSERVE;
			else if (!strcmp(s, "enforce"))
				p->mode = PYSEC_CTL_ENFORCE;
			else
				return fail(ps, v,
					    "mode: observe (report only) or enforce (deny, kill)",
					    "unknown mode '%s'", s);
		} else if (!strcmp(key, "default")) {
			if (!(s = scalar(ps, v, key)))
				return -1;
			if (!strcmp(s, "allow"))
				p->default_action = PYSEC_ACT_ALLOW;
			else if (!strcmp(s, "log"))
				p->default_action = PYSEC_ACT_LOG;
			else if (!strcmp(s, "deny") || !strcmp(s, "kill"))
				return fail(
				    ps, v,
				    "a default deny would refuse every audit event "
				    "(imports, compile, ...): write deny rules for what you "
				    "mean, e.g. event: \"socket.*\"",
				    "default must be allow or log, not '%s'", s);
			else
				return fail(ps, v, "default: allow or log", "unknown default '%s'",
					    s);
		} else if (!strcmp(key, "description")) {
			if (!(s = scalar(ps, v, key)) || !(p->description = strdup(s)))
				return -1;
		} else if (!strcmp(key, "rules")) {
			rules = v;
		} else {
			return fail(ps, k,
				    "top-level keys: version, mode, default, description, rules",
				    "unknown key '%s'", key);
		}
	}
	if (!ver)
		return fail(ps, root, "start with: version: 1", "the policy has no 'version'");
	if (!rules)
		return fail(ps, root, "add 'rules:' with a list of rules (may be empty: rules: [])",
			    "the policy has no 'rules'");
	if (rules->type != YAML_SEQUENCE_NODE)
		return fail(ps, rules, "rules: a list of {id: NAME, action: ACTION, ...}",
			    "'rules' must be a list, not %s", type_name(rules));
	yaml_node_item_t *it = rules->data.sequence.items.start;
	size_t count = (size_t)(rules->data.sequence.items.top - it);

	if (count > RULES_MAX)
		return fail(ps, rules, NULL, "more than %d rules", RULES_MAX);
	p->rules = calloc(count ? count : 1, sizeof(*p->rules));
	if (!p->rules)
		return fail(ps, rules, NULL, "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *rn = node(ps, it[i]);

		if (!rn)
			return fail(ps, rules, NULL, "bad rule node");
		p->nrules++;
		if (parse_rule(ps, rn, &p->rules[p->nrules - 1], p) < 0)
			return -1;
	}
	return 0;
}

static void free_rule(struct pysec_rule *r)
{
	free(r->id);
	free(r->description);
	free_strlist(&r->events);
	free_strlist(&r->paths);
	free_strlist(&r->exes);
	free_strlist(&r->argv);
	free_strlist(&r->modules);
	free_strlist(&r->syscalls);
	free_strlist(&r->s_exe);
	free_strlist(&r->s_script);
	free_strlist(&r->s_cgroup);
	for (unsigned i = 0; i < r->nhosts; i++)
		free(r->hosts[i].text);
	free(r->hosts);
	free(r->ports);
	free(r->uids);
}

void pysec_policy_free(struct pysec_policy *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nrules; i++)
		free_rule(&p->rules[i]);
	free(p->rules);
	free(p->description);
	free(p->ctl_buf);
	free(p->ctl_rule);
	free(p);
}

static int compile_self(struct pysec_policy *p)
{
	struct pysec_evfilter all = {.all = 1};
	const char *why;
	unsigned n = 0;

	p->ctl_buf = pysec_policy_compile(p, p->mode, &all, &p->ctl_size);
	p->ctl_rule = calloc(p->nrules ? p->nrules : 1, sizeof(*p->ctl_rule));
	if (!p->ctl_buf || !p->ctl_rule)
		return -1;
	for (unsigned i = 0; i < p->nrules; i++)
		if (!p->rules[i].findings)
			p->ctl_rule[n++] = i;
	return pysec_ctl_open(&p->ctl, p->ctl_buf, p->ctl_size, &why);
}

struct pysec_policy *pysec_policy_load_buf(const char *buf, size_t len,
					   struct pysec_policy_error *err)
{
	struct parser ps = {.err = err};
	yaml_parser_t yp;
	struct pysec_policy *p;
	int ok;

	memset(err, 0, sizeof(*err));
	if (len > PYSEC_POLICY_FILE_MAX) {
		snprintf(err->msg, sizeof(err->msg), "the policy is larger than %u bytes",
			 PYSEC_POLICY_FILE_MAX);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !yaml_parser_initialize(&yp)) {
		free(p);
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
	ok = yaml_parser_load(&yp, &ps.doc);
	if (!ok) {
		err->line = (unsigned)yp.problem_mark.line + 1;
		err->col = (unsigned)yp.problem_mark.column + 1;
		snprintf(err->msg, sizeof(err->msg), "YAML syntax: %s%s%s",
			 yp.problem ? yp.problem : "error", yp.context ? " " : "",
			 yp.context ? yp.context : "");
		snprintf(err->hint, sizeof(err->hint),
			 "check indentation, colons and quotes near this place");
		yaml_parser_delete(&yp);
		pysec_policy_free(p);
		return NULL;
	}
	ok = parse_top(&ps, p) == 0;
	yaml_document_delete(&ps.doc);
	if (ok) {
		yaml_document_t extra;

		/* a second document would be silently ignored: refuse it */
		if (yaml_parser_load(&yp, &extra)) {
			yaml_node_t *r2 = yaml_document_get_root_node(&extra);

			if (r2) {
				err->line = (unsigned)r2->start_mark.line + 1;
				err->col = (unsigned)r2->start_mark.column + 1;
				snprintf(err->msg, sizeof(err->msg), "more than one YAML document");
				snprintf(err->hint, sizeof(err->hint),
					 "a policy file holds one document; remove the '---'");
				ok = 0;
			}
			yaml_document_delete(&extra);
		}
	}
	yaml_parser_delete(&yp);
	if (ok && compile_self(p) < 0) {
		snprintf(err->msg, sizeof(err->msg), "out of memory compiling the policy");
		ok = 0;
	}
	if (!ok) {
		pysec_policy_free(p);
		return NULL;
	}
	return p;
}

struct pysec_policy *pysec_policy_load_file(const char *path, struct pysec_policy_error *err)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(err, 0, sizeof(*err));
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err->unreadable = 1;
		err->err = fd < 0 ? errno : S_ISREG(st.st_mode) ? errno : EISDIR;
		snprintf(err->msg, sizeof(err->msg), "cannot read: %s", strerror(err->err));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (st.st_size > PYSEC_POLICY_FILE_MAX) {
		close(fd);
		snprintf(err->msg, sizeof(err->msg), "the policy is larger than %u bytes",
			 PYSEC_POLICY_FILE_MAX);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return NULL;
	}
	while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	struct pysec_policy *p = pysec_policy_load_buf(buf, got, err);

	free(buf);
	return p;
}

static const char default_policy[] =
    "version: 1\n"
    "description: \"pysectrace's built-in policy: stop native code that escapes the audit "
    "layer, log everything audited\"\n"
    "mode: enforce\n"
    "default: log\n"
    "rules:\n"
    "  - id: default-kill-bypass\n"
    "    description: \"a monitored syscall no audit event announced (ctypes, C extension, "
    "shellcode)\"\n"
    "    action: kill\n"
    "    finding: bypass\n"
    "  - id: default-kill-hook-cleared\n"
    "    description: \"native activity after the interpreter cleared its audit hooks\"\n"
    "    action: kill\n"
    "    finding: hook_cleared\n"
    "  - id: default-kill-hook-missing\n"
    "    description: \"a Python process that should carry the hook but never armed it\"\n"
    "    action: kill\n"
    "    finding: hook_missing\n"
    "  - id: default-kill-tamper\n"
    "    description: \"writes aimed at the audit machinery (hook list, /proc/PID/mem)\"\n"
    "    action: kill\n"
    "    finding: tamper\n";

struct pysec_policy *pysec_policy_default(void)
{
	struct pysec_policy_error err;

	return pysec_policy_load_buf(default_policy, sizeof(default_policy) - 1, &err);
}

/* ---- YAML out */

static void put_str(FILE *f, const char *s)
{
	struct json_object *j = json_object_new_string(s);

	fputs(json_object_to_json_string_ext(j, JSON_C_TO_STRING_NOSLASHESCAPE), f);
	json_object_put(j);
}

static void put_list(FILE *f, const char *ind, const char *key, const struct pysec_strlist *l)
{
	if (!l->n)
		return;
	fprintf(f, "%s%s: [", ind, key);
	for (unsigned i = 0; i < l->n; i++) {
		fputs(i ? ", " : "", f);
		put_str(f, l->v[i]);
	}
	fputs("]\n", f);
}

static void put_ranges(FILE *f, const char *ind, const char *key, const struct pysec_range *r,
		       unsigned n)
{
	if (!n)
		return;
	fprintf(f, "%s%s: [", ind, key);
	for (unsigned i = 0; i < n; i++) {
		if (r[i].lo == r[i].hi)
			fprintf(f, "%s%u", i ? ", " : "", r[i].lo);
		else
			fprintf(f, "%s\"%u-%u\"", i ? ", " : "", r[i].lo, r[i].hi);
	}
	fputs("]\n", f);
}

void pysec_policy_write_yaml(FILE *f, const struct pysec_policy *p)
{
	fprintf(f, "version: %d\n", p->version);
	if (p->description) {
		fputs("description: ", f);
		put_str(f, p->description);
		fputc('\n', f);
	}
	fprintf(f, "mode: %s\ndefault: %s\n", p->mode == PYSEC_CTL_ENFORCE ? "enforce" : "observe",
		pysec_action_name(p->default_action));
	fprintf(f, "rules:%s\n", p->nrules ? "" : " []");
	for (unsigned i = 0; i < p->nrules; i++) {
		const struct pysec_rule *r = &p->rules[i];
		const char *ind = "    ";

		fputs("  - id: ", f);
		put_str(f, r->id);
		fputc('\n', f);
		if (r->description) {
			fputs("    description: ", f);
			put_str(f, r->description);
			fputc('\n', f);
		}
		fprintf(f, "    action: %s\n", pysec_action_name(r->action));
		if (r->action == PYSEC_ACT_KILL)
			fprintf(f, "    signal: %d\n", r->signal);
		if (r->findings) {
			fputs("    finding: [", f);
			for (unsigned b = 0, k = 0; b < 32; b++)
				if (r->findings & (1u << b))
					fprintf(f, "%s%s", k++ ? ", " : "",
						pysec_finding_name(1u << b));
			fputs("]\n", f);
		}
		put_list(f, ind, "syscall", &r->syscalls);
		put_list(f, ind, "event", &r->events);
		put_list(f, ind, "path", &r->paths);
		if (r->nhosts) {
			fputs("    host: [", f);
			for (unsigned j = 0; j < r->nhosts; j++) {
				fputs(j ? ", " : "", f);
				put_str(f, r->hosts[j].text);
			}
			fputs("]\n", f);
		}
		put_ranges(f, ind, "port", r->ports, r->nports);
		put_list(f, ind, "exe", &r->exes);
		put_list(f, ind, "argv", &r->argv);
		put_list(f, ind, "module", &r->modules);
		if (r->s_exe.n || r->s_script.n || r->s_cgroup.n || r->nuids) {
			fputs("    scope:\n", f);
			put_list(f, "      ", "exe", &r->s_exe);
			put_list(f, "      ", "script", &r->s_script);
			put_ranges(f, "      ", "uid", r->uids, r->nuids);
			put_list(f, "      ", "cgroup", &r->s_cgroup);
		}
	}
}
