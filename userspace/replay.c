// SPDX-License-Identifier: MIT
/*
 * replay.c — the capture source (see replay.h) and `pysectrace replay
 * FILE...`: print the records and alerts of a capture as the live run did.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argdecode.h"
#include "capture.h"
#include "cli.h"
#include "enforce.h"
#include "policy.h"
#include "procinfo.h"
#include "pysectrace.h"
#include "replay.h"

#define LOOKUP_BUCKETS	   4096
#define LOOKUP_MAX_ENTRIES (1u << 20)
#define LOOKUP_MAX_BYTES   (256u << 20)
#define DEFERRED_LOSSES	   256
#define RAW_FEED_MAX	   65536 /* far above any ring-buffer record: a longer one is cut */

/* The latest recorded answer to one question. */
struct answer {
	struct answer *next;
	uint32_t pid;
	int found;
	char *kind, *key;
	uint8_t *data;
	size_t len;
};

struct recorded {
	struct answer *buckets[LOOKUP_BUCKETS];
	size_t entries, bytes;
};

static uint32_t hash_question(const char *kind, size_t klen, uint32_t pid, const char *key,
			      size_t keylen)
{
	uint32_t h = 2166136261u ^ pid;

	for (size_t i = 0; i < klen; i++)
		h = (h ^ (uint8_t)kind[i]) * 16777619u;
	for (size_t i = 0; i < keylen; i++)
		h = (h ^ (uint8_t)key[i]) * 16777619u;
	return h % LOOKUP_BUCKETS;
}

static struct answer *find_answer(struct recorded *rec, const char *kind, size_t klen, uint32_t pid,
				  const char *key, size_t keylen)
{
	struct answer *a = rec->buckets[hash_question(kind, klen, pid, key, keylen)];

	for (; a; a = a->next)
		if (a->pid == pid && strlen(a->kind) == klen && !memcmp(a->kind, kind, klen) &&
		    strlen(a->key) == keylen && !memcmp(a->key, key, keylen))
			return a;
	return NULL;
}

/* Keep l as the answer to its question from now on.  -1: over the caps. */
static int store_answer(struct recorded *rec, const struct pysec_cap_lookup *l)
{
	struct answer *a = find_answer(rec, l->kind, l->kind_len, l->pid, l->key, l->key_len);
	uint8_t *data;

	if (memchr(l->kind, 0, l->kind_len) || memchr(l->key, 0, l->key_len))
		return 0; /* no live question has a NUL in it: never asked */
	if (!a) {
		uint32_t h = hash_question(l->kind, l->kind_len, l->pid, l->key, l->key_len);

		if (rec->entries >= LOOKUP_MAX_ENTRIES)
			return -1;
		a = calloc(1, sizeof(*a));
		if (!a || !(a->kind = strndup(l->kind, l->kind_len)) ||
		    !(a->key = strndup(l->key, l->key_len))) {
			if (a)
				free(a->kind);
			free(a);
			return -1;
		}
		a->pid = l->pid;
		a->next = rec->buckets[h];
		rec->buckets[h] = a;
		rec->entries++;
	}
	if (rec->bytes - a->len + l->answer_len > LOOKUP_MAX_BYTES)
		return -1;
	data = malloc(l->answer_len + 1);
	if (!data)
		return -1;
	memcpy(data, l->answer, l->answer_len);
	data[l->answer_len] = 0;
	rec->bytes = rec->bytes - a->len + l->answer_len;
	free(a->data);
	a->data = data;
	a->len = l->answer_len;
	a->found = l->found;
	return 0;
}

static void free_answers(struct recorded *rec)
{
	for (unsigned i = 0; i < LOOKUP_BUCKETS; i++) {
		struct answer *a = rec->buckets[i], *n;

		for (; a; a = n) {
			n = a->next;
			free(a->kind);
			free(a->key);
			free(a->data);
			free(a);
		}
		rec->buckets[i] = NULL;
	}
	rec->entries = rec->bytes = 0;
}

static long replay_lookup(void *ctx, const char *kind, uint32_t pid, const char *key, char *out,
			  size_t cap)
{
	struct answer *a = find_answer(ctx, kind, strlen(kind), pid, key, strlen(key));

	if (!a || !a->found || a->len >= cap)
		return -1;
	memcpy(out, a->data, a->len);
	out[a->len] = 0;
	return (long)a->len;
}

/* The policy replay judges with (replay.h: hooks->policy). */
struct judge {
	struct pysec_policy *p;
	struct pysec_enforce e;
	int rejudge; /* a policy other than the recorded one: match audit events again */
	int loaded;  /* decided (from --policy or the first header) */
};

struct replay_state {
	struct pysec_pipeline *pl;
	struct judge judge;
	struct pysec_emitter *em;
	const struct pysec_replay_hooks *hk;
	struct recorded answers;
	struct pysec_cap_lost deferred[DEFERRED_LOSSES];
	unsigned ndeferred;
	void *aligned; /* a raw record, copied to an aligned buffer */
	int have_clock;
	uint64_t fed; /* capture records read, all files */
};

static struct json_object *parse_json(const struct pysec_cap_rec *r)
{
	struct json_tokener *tok = json_tokener_new_ex(16);
	struct json_object *o = NULL;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, (const char *)r->data, (int)r->len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static int64_t get_int(struct json_object *o, const char *k, int64_t dflt)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : dflt;
}

/* The header must describe records this build reads as they are. */
static int check_header(struct replay_state *st, struct json_object *h, const char *path,
			const struct pysec_cap_rec *r)
{
	struct json_object *sizes = NULL;

	if (get_int(h, "kabi_version", -1) != PYSEC_KABI_VERSION ||
	    !json_object_object_get_ex(h, "record_sizes", &sizes) ||
	    get_int(sizes, "audit", -1) != (int64_t)sizeof(struct pysec_audit_rec) ||
	    get_int(sizes, "process", -1) != (int64_t)sizeof(struct pysec_proc_rec) ||
	    get_int(sizes, "syscall", -1) != (int64_t)sizeof(struct pysec_sys_rec)) {
		pysec_err("%s: block %u at offset %" PRIu64 ": the header describes records of "
			  "another kernel ABI (kabi_version %" PRId64 ", this build reads %d)",
			  path, r->block, r->offset, get_int(h, "kabi_version", -1),
			  PYSEC_KABI_VERSION);
		return -1;
	}
	if (st->em && !st->have_clock) {
		st->em->wall_offset_ns = get_int(h, "wall_offset_ns", 0);
		st->have_clock = 1;
	}
	return 0;
}

static void defer_loss(struct replay_state *st, const struct pysec_cap_lost *l)
{
	/* derived again by the classifier when the pipeline finishes */
	if (!strcmp(l->stage, "prearm_queue"))
		return;
	if (st->ndeferred < DEFERRED_LOSSES)
		st->deferred[st->ndeferred++] = *l;
	else
		st->deferred[DEFERRED_LOSSES - 1].count += l->count;
}

static void judge_decide(void *ctx, struct pysec_alert *a)
{
	pysec_enforce_label(ctx, a); /* reports the decision; replay acts on nothing */
}

/* Judge alerts with p in mode from now on; em shows p's audit-event rules. */
static void judge_use(struct replay_state *st, struct pysec_policy *p, enum pysec_mode mode)
{
	struct judge *j = &st->judge;

	j->p = p;
	j->loaded = 1;
	if (!mode)
		return;
	pysec_enforce_init(&j->e, mode);
	j->e.policy = p;
	st->pl->decide = judge_decide;
	st->pl->decide_ctx = &j->e;
	if (st->em)
		st->em->ctl = p ? &p->ctl : NULL;
}

/*
 * The first header names the policy and mode of the live run: judge as it
 * did (unless --policy).  A policy that does not load is an error: its
 * alerts would come out undecided.
 */
static int judge_recorded(struct replay_state *st, struct json_object *h, const char *path,
			  const struct pysec_cap_rec *r)
{
	struct json_object *pol = NULL, *text = NULL, *mode = NULL;
	struct pysec_policy_error err;
	struct pysec_policy *p = NULL;
	enum pysec_mode m = PYSEC_MODE_NONE;
	const char *ms;

	if (st->judge.loaded)
		return 0;
	if (json_object_object_get_ex(h, "mode", &mode) && (ms = json_object_get_string(mode)))
		m = !strcmp(ms, "enforce")   ? PYSEC_MODE_ENFORCE
		    : !strcmp(ms, "observe") ? PYSEC_MODE_OBSERVE
					     : PYSEC_MODE_NONE;
	if (json_object_object_get_ex(h, "policy", &pol) &&
	    json_object_object_get_ex(pol, "text", &text) &&
	    json_object_is_type(text, json_type_string)) {
		memset(&err, 0, sizeof(err));
		p = pysec_policy_load_buf(json_object_get_string(text),
					  (size_t)json_object_get_string_len(text), &err);
		if (!p) {
			pysec_err("%s: block %u at offset %" PRIu64 ": the recorded policy does not "
				  "load (line %u col %u: %s); give one with --policy",
				  path, r->block, r->offset, err.line, err.col, err.msg);
			return -1;
		}
		if (!m) /* a capture without a mode: the policy's own */
			m = p->mode == PYSEC_CTL_ENFORCE ? PYSEC_MODE_ENFORCE : PYSEC_MODE_OBSERVE;
	} else if (m) {
		p = pysec_policy_default();
	}
	judge_use(st, p, m);
	return 0;
}

/*
 * --policy: the rule the hook would have matched for an audit record under
 * that policy, in its flags (rule index; would_deny for deny and kill).
 * An event a live rule denied did not happen: it stays as recorded.
 */
static void rejudge_audit(const struct judge *j, void *rec, size_t len)
{
	struct pysec_audit_rec *a = rec;
	struct pysec_procid proc = {.uid = -1};
	struct pysec_evargs ev;
	struct json_object *args;
	const struct pysec_rule *rule;
	char ev_name[PYSEC_EVENT_MAX], scratch[2 * PYSEC_ARGS_MAX];
	uint32_t idx = 0;

	if (pysec_record_type(rec, len) != PYSEC_REC_AUDIT || (a->flags & PYSEC_F_DENIED) ||
	    (a->kflags & PYSEC_AUDIT_STOCK))
		return;
	memcpy(ev_name, a->event, sizeof(ev_name));
	ev_name[sizeof(ev_name) - 1] = 0;
	args = pysec_args_to_json(a->args, a->args_copied < PYSEC_ARGS_MAX ? a->args_copied
									   : PYSEC_ARGS_MAX);
	pysec_evargs_from_json(ev_name, args, NULL, &ev, scratch, sizeof(scratch));
	rule = pysec_policy_match_event(j->p, ev_name, &ev, &proc);
	json_object_put(args);
	a->flags &= ~(PYSEC_F_WOULD_DENY | (0xffffu << PYSEC_F_RULE_SHIFT));
	if (!rule)
		return;
	for (uint32_t i = 0; j->p->ctl.hdr && i < j->p->ctl.hdr->nrules; i++)
		if (&j->p->rules[j->p->ctl_rule[i]] == rule)
			idx = i + 1;
	if (!idx)
		return;
	a->flags |= idx << PYSEC_F_RULE_SHIFT;
	if (rule->action == PYSEC_ACT_DENY || rule->action == PYSEC_ACT_KILL)
		a->flags |= PYSEC_F_WOULD_DENY;
}

static const char *str_of(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		   ? json_object_get_string(v)
		   : "";
}

/* record -p: the source record attach wrote first, printed again. */
static void replay_source(struct replay_state *st, const struct pysec_cap_rec *r)
{
	struct json_tokener *tok = json_tokener_new_ex(8);
	struct json_object *o;

	if (!tok)
		return;
	o = json_tokener_parse_ex(tok, (const char *)r->data + 7, (int)r->len - 7);
	if (json_tokener_get_error(tok) == json_tokener_success &&
	    json_object_is_type(o, json_type_object) && st->em) {
		st->em->lost_mono_ns = (uint64_t)get_int(o, "mono_ns", 0);
		pysec_emit_source(st->em, (uint32_t)get_int(o, "pid", 0), str_of(o, "comm"),
				  str_of(o, "source"), str_of(o, "probe"), str_of(o, "blind"));
		st->em->lost_mono_ns = 0;
	}
	json_object_put(o);
	json_tokener_free(tok);
}

/* One record: 0, or -1 when it cannot be used (message printed). */
static int feed(struct replay_state *st, const struct pysec_cap_rec *r, const char *path,
		unsigned file)
{
	struct json_object *o;
	struct pysec_cap_lookup l;
	struct pysec_cap_lost lost;

	switch (r->type) {
	case PYSEC_CAP_HEADER:
	case PYSEC_CAP_END:
		o = parse_json(r);
		if (!o) {
			pysec_err("%s: block %u at offset %" PRIu64 ": the %s record is not a JSON "
				  "object",
				  path, r->block, r->offset,
				  r->type == PYSEC_CAP_HEADER ? "header" : "end");
			return -1;
		}
		if (r->type == PYSEC_CAP_HEADER &&
		    (check_header(st, o, path, r) < 0 || judge_recorded(st, o, path, r) < 0)) {
			json_object_put(o);
			return -1;
		}
		if (r->type == PYSEC_CAP_HEADER && st->hk && st->hk->header)
			st->hk->header(st->hk->ctx, o, file);
		if (r->type == PYSEC_CAP_END && st->hk && st->hk->end)
			st->hk->end(st->hk->ctx, o, file);
		json_object_put(o);
		return 0;
	case PYSEC_CAP_RAW:
		memcpy(st->aligned, r->data, r->len < RAW_FEED_MAX ? r->len : RAW_FEED_MAX);
		if (st->judge.rejudge)
			rejudge_audit(&st->judge, st->aligned,
				      r->len < RAW_FEED_MAX ? r->len : RAW_FEED_MAX);
		pysec_pipeline_record(st->pl, st->aligned,
				      r->len < RAW_FEED_MAX ? r->len : RAW_FEED_MAX);
		return 0;
	case PYSEC_CAP_LOST:
		if (pysec_cap_decode_lost(r->data, r->len, &lost) < 0) {
			pysec_err("%s: block %u at offset %" PRIu64 ": malformed loss record", path,
				  r->block, r->offset);
			return -1;
		}
		defer_loss(st, &lost);
		return 0;
	case PYSEC_CAP_LOOKUP:
		if (pysec_cap_decode_lookup(r->data, r->len, &l) < 0) {
			pysec_err("%s: block %u at offset %" PRIu64 ": malformed lookup record",
				  path, r->block, r->offset);
			return -1;
		}
		if (store_answer(&st->answers, &l) < 0) {
			pysec_err("%s: block %u at offset %" PRIu64 ": more recorded /proc answers "
				  "than replay keeps (%u, %u MiB)",
				  path, r->block, r->offset, LOOKUP_MAX_ENTRIES,
				  LOOKUP_MAX_BYTES >> 20);
			return -1;
		}
		return 0;
	case PYSEC_CAP_STATE:
		if (r->len == 11 && !memcmp(r->data, "kernel_lost", 11))
			pysec_classifier_kernel_lost(st->pl->cls);
		else if (r->len > 7 && !memcmp(r->data, "source ", 7))
			replay_source(st, r);
		return 0;
	case PYSEC_CAP_ALERT:
		if (st->hk && st->hk->alert)
			st->hk->alert(st->hk->ctx, (const char *)r->data, r->len);
		return 0;
	default:
		return 0;
	}
}

/* One file: 0 read to its end, 1 stopped early (prefix fed). */
static int replay_file(struct replay_state *st, const char *path, unsigned file)
{
	struct pysec_cap_reader rd;
	struct pysec_cap_rec rec;
	FILE *f = fopen(path, "re");
	int k, rc = 0;

	if (!f) {
		pysec_err("cannot read %s: %s", path, strerror(errno));
		return 1;
	}
	if (pysec_cap_open(&rd, f) < 0) {
		pysec_err("%s: %s", path, rd.err);
		rc = 1;
		goto out;
	}
	while ((k = pysec_cap_next(&rd, &rec)) > 0) {
		st->fed++;
		if (feed(st, &rec, path, file) < 0) {
			rc = 1;
			goto out;
		}
	}
	if (rd.status != PYSEC_CAP_COMPLETE) {
		pysec_err("%s: %s %s; replayed the intact part: %" PRIu64 " records, %" PRIu64
			  " bytes",
			  path, rd.status == PYSEC_CAP_CORRUPT ? "damaged:" : "incomplete:", rd.err,
			  rd.records, rd.intact_bytes);
		rc = 1;
	}
out:
	pysec_cap_close(&rd);
	fclose(f);
	return rc;
}

enum pysec_replay_result pysec_replay_files(char *const *paths, int n, struct pysec_pipeline *pl,
					    struct pysec_emitter *em,
					    const struct pysec_replay_hooks *hooks)
{
	struct replay_state *st = calloc(1, sizeof(*st));
	struct pysec_lookup_ops ops;
	int partial = 0;

	if (!st || !(st->aligned = malloc(RAW_FEED_MAX))) {
		pysec_err("out of memory");
		free(st);
		return PYSEC_REPLAY_FAILED;
	}
	st->pl = pl;
	st->em = em;
	st->hk = hooks;
	if (hooks && hooks->policy) {
		struct pysec_policy_error err;
		struct pysec_policy *p = pysec_policy_load_file(hooks->policy, &err);

		if (!p) {
			pysec_policy_error_print(stderr, hooks->policy, &err);
			free(st->aligned);
			free(st);
			return PYSEC_REPLAY_FAILED;
		}
		judge_use(st, p, PYSEC_MODE_OBSERVE);
		st->judge.rejudge = 1;
	}
	ops = (struct pysec_lookup_ops){.lookup = replay_lookup, .ctx = &st->answers};
	pysec_lookup_use(&ops);
	for (int i = 0; i < n; i++)
		partial |= replay_file(st, paths[i], (unsigned)i);
	int nothing = !st->fed;

	pysec_pipeline_finish(pl);
	/* sources report their losses when they finish: after the classifier's */
	for (unsigned i = 0; i < st->ndeferred; i++) {
		if (em)
			em->lost_mono_ns = st->deferred[i].mono_ns;
		pysec_pipeline_lost(pl, st->deferred[i].stage, st->deferred[i].count);
	}
	if (em)
		em->lost_mono_ns = 0;
	pysec_lookup_use(NULL);
	if (em)
		em->ctl = NULL;
	pl->decide = NULL;
	pysec_policy_free(st->judge.p);
	free_answers(&st->answers);
	free(st->aligned);
	free(st);
	if (nothing)
		return PYSEC_REPLAY_FAILED;
	return partial ? PYSEC_REPLAY_PARTIAL : PYSEC_REPLAY_COMPLETE;
}

/* ------------------------------------------------------------------ the verb */

static void usage(FILE *f)
{
	fprintf(f, "usage: pysectrace replay [OPTIONS] FILE [FILE.1 ...]\n\n"
		   "Print the records and alerts of a capture (pysectrace record) as the live\n"
		   "run printed them: the records go through the same classifier and writer,\n"
		   "with what /proc answered at the time.  Offline: no root, no BPF.  Give the\n"
		   "parts of a rotated capture in order to carry the context across them.\n"
		   "A damaged or cut capture replays up to where it stops being intact.\n\n"
		   "options:\n"
		   "  --format text|json   text lines (default) or JSON lines (docs/SCHEMA.md)\n"
		   "  -o, --output FILE    write to FILE (default: stdout)\n"
		   "  --show audit|alerts|all\n"
		   "                       as for `pysectrace run` (default: audit)\n"
		   "  --policy FILE        judge with this policy instead of the recorded one:\n"
		   "                       its finding rules decide the alerts and its audit\n"
		   "                       event rules are matched again (deny: would_deny), in\n"
		   "                       observe mode (replay acts on nothing).  Default: the\n"
		   "                       policy and mode the capture was recorded with\n"
		   "  -h, --help           this help\n\n"
		   "exit status: 0 the capture was replayed whole; 1 it is incomplete or\n"
		   "damaged (its intact part was replayed; stderr says where it stops);\n"
		   "125 nothing could be replayed.  Text times are local time of this\n"
		   "machine (TZ); JSON times are those of the live run.\n");
}

int cmd_replay(int argc, char **argv)
{
	static const struct option longopts[] = {
		PYSEC_OPT_FORMAT, PYSEC_OPT_OUTPUT, PYSEC_OPT_SHOW, PYSEC_OPT_POLICY,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pysec_trace_opts o;
	struct pysec_pipeline pl;
	struct pysec_emitter em;
	enum pysec_replay_result res;
	struct pysec_replay_hooks hooks = {0};
	FILE *out;
	int c, r;

	pysec_trace_opts_init(&o);
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		if ((r = pysec_trace_opt(&o, c, optarg)) < 0)
			return EXIT_TOOL_FAILED;
		if (r)
			continue;
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return EXIT_TOOL_FAILED;
	}
	hooks.policy = o.policy;
	if (optind >= argc) {
		pysec_err("replay: no capture file given (pysectrace replay FILE)");
		return EXIT_TOOL_FAILED;
	}
	/* replay's default output is stdout: it is the result, not a side channel */
	out = pysec_open_output(o.output ? o.output : "-");
	if (!out)
		return EXIT_TOOL_FAILED;
	pysec_emitter_init(&em, out, o.format, o.show);
	if (pysec_pipeline_init(&pl) < 0 || pysec_pipeline_add_emitter(&pl, &em) < 0) {
		pysec_err("out of memory");
		return EXIT_TOOL_FAILED;
	}
	res = pysec_replay_files(argv + optind, argc - optind, &pl, &em, &hooks);
	pysec_pipeline_free(&pl);
	if (out != stdout)
		fclose(out);
	else
		fflush(out);
	if (res == PYSEC_REPLAY_FAILED)
		return EXIT_TOOL_FAILED;
	return res == PYSEC_REPLAY_PARTIAL ? 1 : 0;
}
