// SPDX-License-Identifier: MIT
/* capwrite.c — the capture writer sink (see capwrite.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capwrite.h"
#include "classify.h"
#include "cli.h"
#include "procinfo.h"

#define PID_SEEN  0x1u
#define PID_AUDIT 0x2u /* the current image raised an audit event */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static void write_failed(struct pysec_capwriter *cw)
{
	if (!cw->failed)
		pysec_err("writing the capture %s failed (%s): the capture stops here, "
			  "`pysectrace verify` will call it incomplete",
			  cw->path, strerror(errno));
	cw->failed = 1;
}

static void append(struct pysec_capwriter *cw, uint32_t type, const void *data, size_t len)
{
	if (!cw->failed && pysec_cap_append(&cw->w, type, data, len) < 0)
		write_failed(cw);
}

static void part_path(const struct pysec_capwriter *cw, unsigned part, char *out, size_t len)
{
	if (part)
		snprintf(out, len, "%s.%u", cw->o.path, part);
	else
		snprintf(out, len, "%s", cw->o.path);
}

static int open_part(struct pysec_capwriter *cw, const uint8_t *prev_chain)
{
	struct json_object *h = NULL;
	const char *text;
	char hex[2 * PYSEC_CAP_HASH + 1];

	part_path(cw, cw->part, cw->path, sizeof(cw->path));
	if (pysec_cap_create(&cw->w, cw->path, cw->o.overwrite, cw->o.key, cw->o.keylen) < 0) {
		pysec_err("cannot create the capture %s: %s%s", cw->path, strerror(errno),
			  errno == EEXIST ? " (--force overwrites it)" : "");
		pysec_cap_abandon(&cw->w);
		return -1;
	}
	if (json_object_deep_copy(cw->o.header, &h, NULL) != 0)
		return -1;
	json_object_object_add(h, "part", json_object_new_int((int)cw->part));
	if (prev_chain) {
		for (int i = 0; i < PYSEC_CAP_HASH; i++)
			snprintf(hex + 2 * i, 3, "%02x", prev_chain[i]);
		json_object_object_add(h, "previous_chain", json_object_new_string(hex));
	} else {
		json_object_object_add(h, "previous_chain", NULL);
	}
	text = json_object_to_json_string_ext(h, JSON_C_TO_STRING_PLAIN);
	if (strlen(text) > PYSEC_CAP_REC_MAX) {
		pysec_err("the capture header is larger than %u bytes (the policy text?)",
			  PYSEC_CAP_REC_MAX);
		json_object_put(h);
		return -1;
	}
	if (pysec_cap_append(&cw->w, PYSEC_CAP_HEADER, text, strlen(text)) < 0 ||
	    pysec_cap_seal(&cw->w, 0) < 0) {
		write_failed(cw);
		json_object_put(h);
		return -1;
	}
	json_object_put(h);
	cw->part_start_ms = mono_ns() / 1000000;
	memset(cw->pids, 0, PYSEC_CW_PIDS * sizeof(cw->pids[0]));
	memset(cw->pid_flags, 0, PYSEC_CW_PIDS);
	memset(cw->pid_exec, 0, PYSEC_CW_PIDS * sizeof(cw->pid_exec[0]));
	cw->pid_table_full = 0;
	memset(cw->counts, 0, sizeof(cw->counts));
	cw->lookups = cw->alerts = cw->lost_total = 0;
	json_object_put(cw->lost);
	cw->lost = json_object_new_object();
	for (unsigned i = 0; i < cw->npythons; i++)
		free(cw->pythons[i].exe);
	cw->npythons = 0;
	return 0;
}

static char *end_json(struct pysec_capwriter *cw, int last, int exit_status)
{
	struct json_object *e = json_object_new_object(), *py = json_object_new_array();
	struct json_object *c = json_object_new_object();
	static const char *const names[] = {"malformed", "audit", "fork",
					    "exec",	 "exit",  "syscall"};
	uint64_t records = 0;
	char *s;

	json_object_object_add(e, "end_mono_ns", json_object_new_int64((int64_t)mono_ns()));
	json_object_object_add(e, "part", json_object_new_int((int)cw->part));
	json_object_object_add(e, "last_part", json_object_new_boolean(last));
	json_object_object_add(e, "exit_status", last ? json_object_new_int(exit_status) : NULL);
	for (unsigned i = 0; i < cw->npythons; i++) {
		struct json_object *p = json_object_new_object();

		json_object_object_add(p, "exe", json_tokener_parse(cw->pythons[i].exe));
		json_object_object_add(p, "processes",
				       json_object_new_int64((int64_t)cw->pythons[i].processes));
		json_object_array_add(py, p);
	}
	json_object_object_add(e, "pythons", py);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		json_object_object_add(c, names[i], json_object_new_int64((int64_t)cw->counts[i]));
		records += cw->counts[i];
	}
	json_object_object_add(c, "records", json_object_new_int64((int64_t)records));
	json_object_object_add(c, "lookups", json_object_new_int64((int64_t)cw->lookups));
	json_object_object_add(c, "alerts", json_object_new_int64((int64_t)cw->alerts));
	json_object_object_add(e, "counts", c);
	json_object_object_add(e, "lost", json_object_get(cw->lost));
	json_object_object_add(e, "identity_table_full",
			       json_object_new_int64((int64_t)cw->pid_table_full));
	s = strdup(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
	json_object_put(e);
	return s;
}

static int close_part(struct pysec_capwriter *cw, int last, int exit_status)
{
	char *e = end_json(cw, last, exit_status);
	int rc;

	if (cw->failed || !e) {
		free(e);
		pysec_cap_abandon(&cw->w);
		return -1;
	}
	rc = pysec_cap_finish(&cw->w, e);
	free(e);
	if (rc < 0)
		write_failed(cw);
	return rc;
}

static void maybe_rotate(struct pysec_capwriter *cw)
{
	uint8_t chain[PYSEC_CAP_HASH];
	uint64_t now_ms = mono_ns() / 1000000;

	if (cw->failed)
		return;
	/* parts end at a block boundary: a part may pass max_size by its last block */
	if (!(cw->o.max_size && cw->w.bytes >= cw->o.max_size) &&
	    !(cw->o.duration_s && now_ms - cw->part_start_ms >= cw->o.duration_s * 1000))
		return;
	if (close_part(cw, 0, 0) < 0)
		return;
	memcpy(chain, cw->w.chain, sizeof(chain)); /* the final hash the trailer signs */
	/* the next part names this one's final chain hash: the parts stay in order */
	cw->part++;
	if (open_part(cw, chain) < 0)
		cw->failed = 1;
}

/* The flags slot of pid (inserted), or NULL when the table is full. */
static uint8_t *pid_slot(struct pysec_capwriter *cw, uint32_t pid, int *fresh)
{
	uint32_t h = (pid * 2654435761u) % PYSEC_CW_PIDS;

	*fresh = 0;
	for (unsigned i = 0; i < PYSEC_CW_PIDS / 4; i++, h = (h + 1) % PYSEC_CW_PIDS) {
		if (cw->pids[h] == pid)
			return &cw->pid_flags[h];
		if (!cw->pids[h]) {
			cw->pids[h] = pid;
			*fresh = 1;
			return &cw->pid_flags[h];
		}
	}
	cw->pid_table_full++;
	return NULL;
}

/* The Python of a process: /proc's exe, else (the process is gone) what it exec'd. */
static void note_python(struct pysec_capwriter *cw, const char *identity, uint16_t exec_idx)
{
	struct json_object *id = json_tokener_parse(identity), *exe = NULL;
	const char *s;

	if (!(id && json_object_object_get_ex(id, "exe", &exe)) && exec_idx) {
		json_object_put(id);
		id = json_object_new_object();
		exe = json_object_new_string(cw->execs[exec_idx - 1]);
		json_object_object_add(id, "exe", exe);
	}
	if (exe) {
		s = json_object_to_json_string_ext(exe, JSON_C_TO_STRING_PLAIN);
		unsigned i;

		for (i = 0; i < cw->npythons && strcmp(cw->pythons[i].exe, s); i++)
			;
		if (i < cw->npythons)
			cw->pythons[i].processes++;
		else if (i < PYSEC_CW_PYTHONS && (cw->pythons[i].exe = strdup(s)))
			cw->pythons[cw->npythons++].processes = 1;
	}
	json_object_put(id);
}

/* Index + 1 of an exec'd file name in a small table, 0 when it is full. */
static uint16_t intern_exec(struct pysec_capwriter *cw, const char *filename)
{
	char name[PYSEC_PATH_MAX];
	unsigned i;

	if (!filename)
		return 0;
	snprintf(name, sizeof(name), "%.*s", PYSEC_PATH_MAX - 1, filename);
	for (i = 0; i < cw->nexecs && strcmp(cw->execs[i], name); i++)
		;
	if (i == cw->nexecs) {
		if (i >= PYSEC_CW_EXECS)
			return 0;
		memcpy(cw->execs[cw->nexecs++], name, sizeof(name));
	}
	return (uint16_t)(i + 1);
}

/* A process met for the first time, (re)exec'd, or arming the hook: who it is. */
static void note_process(struct pysec_capwriter *cw, uint32_t pid, uint32_t type,
			 const char *filename)
{
	static char ans[PYSEC_LOOKUP_MAX];
	uint8_t *flags;
	int fresh;

	if (!pid || !(flags = pid_slot(cw, pid, &fresh)))
		return;
	if (type == PYSEC_REC_EXEC) {
		*flags &= (uint8_t)~PID_AUDIT;
		cw->pid_exec[flags - cw->pid_flags] = intern_exec(cw, filename);
	}
	if (fresh || type == PYSEC_REC_EXEC || (type == PYSEC_REC_AUDIT && !(*flags & PID_AUDIT))) {
		long n = pysec_lookup(PYSEC_Q_IDENTITY, pid, "", ans, sizeof(ans));

		if (type == PYSEC_REC_AUDIT && n > 0)
			note_python(cw, ans, cw->pid_exec[flags - cw->pid_flags]);
	}
	*flags |= PID_SEEN | (type == PYSEC_REC_AUDIT ? PID_AUDIT : 0);
}

static void sink_record(void *ctx, const void *data, size_t size, const char *explained)
{
	struct pysec_capwriter *cw = ctx;
	uint32_t type = pysec_record_type(data, size);

	append(cw, PYSEC_CAP_RAW, data, size);
	cw->counts[type < 8 ? type : 0]++;
	if (type) {
		const struct pysec_hdr *h = data;

		const struct pysec_proc_rec *p = data;

		note_process(cw, h->pid, type, type == PYSEC_REC_EXEC ? p->filename : NULL);
		if (type == PYSEC_REC_FORK)
			note_process(cw, p->child_pid, 0, NULL);
	}
	maybe_rotate(cw);
}

/*
 * The alert's JSON for the capture asks /proc the questions the live
 * emitter just asked: answer them as they were answered then, so the
 * capture holds one answer per question and the JSON matches the output.
 */
static long recent_lookup(void *ctx, const char *kind, uint32_t pid, const char *key, char *out,
			  size_t cap)
{
	struct pysec_capwriter *cw = ctx;

	for (unsigned i = 0; i < PYSEC_CW_RECENT; i++) {
		const struct pysec_cw_answer *a =
		    &cw->recent[(cw->recent_next + PYSEC_CW_RECENT - 1 - i) % PYSEC_CW_RECENT];

		if (a->key && a->pid == pid && !strcmp(a->kind, kind) && !strcmp(a->key, key)) {
			if (a->len < 0 || (size_t)a->len >= cap)
				return -1;
			memcpy(out, a->answer, (size_t)a->len + 1);
			return a->len;
		}
	}
	pysec_lookup_use(NULL); /* not asked before: ask /proc (and record it) */
	long n = pysec_lookup(kind, pid, key, out, cap);
	struct pysec_lookup_ops ops = {.lookup = recent_lookup, .ctx = cw};

	pysec_lookup_use(&ops);
	return n;
}

static void remember_answer(struct pysec_capwriter *cw, const char *kind, uint32_t pid,
			    const char *key, const char *answer, long len)
{
	struct pysec_cw_answer *a = &cw->recent[cw->recent_next];
	char *k = strdup(key), *ans = malloc(len > 0 ? (size_t)len + 1 : 1);

	if (!k || !ans) {
		free(k);
		free(ans);
		return;
	}
	free(a->key);
	free(a->answer);
	snprintf(a->kind, sizeof(a->kind), "%s", kind);
	a->pid = pid;
	a->key = k;
	a->answer = ans;
	a->len = len;
	memcpy(ans, answer, len > 0 ? (size_t)len : 0);
	ans[len > 0 ? len : 0] = 0;
	cw->recent_next = (cw->recent_next + 1) % PYSEC_CW_RECENT;
}

static void sink_alert(void *ctx, const struct pysec_alert *a)
{
	struct pysec_capwriter *cw = ctx;
	struct pysec_lookup_ops ops = {.lookup = recent_lookup, .ctx = cw};
	char *buf = NULL;
	size_t len = 0;
	int64_t wall = cw->alert_em.wall_offset_ns;
	FILE *mem = open_memstream(&buf, &len);

	if (!mem)
		return;
	pysec_emitter_init(&cw->alert_em, mem, PYSEC_FMT_JSON, PYSEC_SHOW_ALL);
	cw->alert_em.wall_offset_ns = wall;
	pysec_lookup_use(&ops);
	pysec_emit_alert(&cw->alert_em, a);
	pysec_lookup_use(NULL);
	fclose(mem);
	if (len && buf[len - 1] == '\n')
		len--;
	append(cw, PYSEC_CAP_ALERT, buf, len < PYSEC_CAP_REC_MAX ? len : PYSEC_CAP_REC_MAX);
	cw->alerts++;
	free(buf);
}

static void sink_lost(void *ctx, const char *stage, uint64_t n)
{
	struct pysec_capwriter *cw = ctx;
	struct pysec_cap_lost l = {.mono_ns = mono_ns(), .count = n};
	struct json_object *v;
	uint8_t buf[16 + sizeof(l.stage)];
	int len;

	snprintf(l.stage, sizeof(l.stage), "%s", stage);
	len = pysec_cap_encode_lost(&l, buf, sizeof(buf));
	if (len > 0)
		append(cw, PYSEC_CAP_LOST, buf, (size_t)len);
	cw->lost_total += n;
	if (json_object_object_get_ex(cw->lost, stage, &v))
		n += (uint64_t)json_object_get_int64(v);
	json_object_object_add(cw->lost, stage, json_object_new_int64((int64_t)n));
}

static void observe_lookup(void *ctx, const char *kind, uint32_t pid, const char *key,
			   const char *answer, long len)
{
	struct pysec_capwriter *cw = ctx;
	static uint8_t buf[PYSEC_LOOKUP_MAX + 4096];
	struct pysec_cap_lookup l = {
	    .pid = pid,
	    .found = len >= 0,
	    .kind = kind,
	    .kind_len = strlen(kind),
	    .key = key,
	    .key_len = strlen(key),
	    .answer = (const uint8_t *)answer,
	    .answer_len = len > 0 ? (size_t)len : 0,
	};
	long n = pysec_cap_encode_lookup(&l, buf, sizeof(buf));

	if (n > 0)
		append(cw, PYSEC_CAP_LOOKUP, buf, (size_t)n);
	cw->lookups++;
	remember_answer(cw, kind, pid, key, answer, len);
}

int pysec_capwriter_open(struct pysec_capwriter *cw, const struct pysec_capwriter_opts *o)
{
	struct json_object *w;

	memset(cw, 0, sizeof(*cw));
	cw->w.fd = -1;
	cw->o = *o;
	cw->pids = calloc(PYSEC_CW_PIDS, sizeof(cw->pids[0]));
	cw->pid_flags = calloc(PYSEC_CW_PIDS, 1);
	cw->pid_exec = calloc(PYSEC_CW_PIDS, sizeof(cw->pid_exec[0]));
	cw->execs = calloc(PYSEC_CW_EXECS, sizeof(cw->execs[0]));
	if (!cw->pids || !cw->pid_flags || !cw->pid_exec || !cw->execs) {
		pysec_err("out of memory");
		return -1;
	}
	if (json_object_object_get_ex(o->header, "wall_offset_ns", &w))
		cw->alert_em.wall_offset_ns = json_object_get_int64(w);
	return open_part(cw, NULL);
}

int pysec_capwriter_add_sink(struct pysec_capwriter *cw, struct pysec_pipeline *pl)
{
	struct pysec_sink s = {
	    .record = sink_record, .alert = sink_alert, .lost = sink_lost, .ctx = cw};

	pysec_lookup_observe(observe_lookup, cw);
	return pysec_pipeline_add(pl, &s);
}

void pysec_capwriter_note_state(struct pysec_capwriter *cw, const char *name)
{
	append(cw, PYSEC_CAP_STATE, name, strlen(name));
}

void pysec_capwriter_tick(struct pysec_capwriter *cw)
{
	if (cw->failed)
		return;
	if (pysec_cap_tick(&cw->w) < 0)
		write_failed(cw);
	maybe_rotate(cw);
}

int pysec_capwriter_close(struct pysec_capwriter *cw, int exit_status)
{
	int rc = cw->w.fd >= 0 ? close_part(cw, 1, exit_status) : -1;

	pysec_lookup_observe(NULL, NULL);
	free(cw->pids);
	free(cw->pid_flags);
	free(cw->pid_exec);
	free(cw->execs);
	cw->pids = NULL;
	cw->pid_flags = NULL;
	cw->pid_exec = NULL;
	cw->execs = NULL;
	json_object_put(cw->lost);
	cw->lost = NULL;
	for (unsigned i = 0; i < cw->npythons; i++)
		free(cw->pythons[i].exe);
	cw->npythons = 0;
	for (unsigned i = 0; i < PYSEC_CW_RECENT; i++) {
		free(cw->recent[i].key);
		free(cw->recent[i].answer);
		cw->recent[i].key = cw->recent[i].answer = NULL;
	}
	return rc;
}
