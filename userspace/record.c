// SPDX-License-Identifier: MIT
/*
 * record.c — `pysectrace record -w FILE -- COMMAND`: run like `run`, with a
 * capture writer as one more sink of the pipeline: every ring-buffer
 * record, every loss, every alert and every answer /proc gave the pipeline
 * go into a signed capture (docs/capture-format.md) that replay, verify and
 * report read back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "capture.h"
#include "capwrite.h"
#include "cli.h"
#include "emit.h"
#include "kenforce.h"
#include "launch.h"
#include "policy.h"
#include "procinfo.h"
#include "tracer.h"

#define POLICY_TEXT_MAX (128 * 1024) /* escaped, it fits a header record */

struct record_opts {
	struct pysec_trace_opts t; /* run's options */
	const char *path, *key;
	uint64_t max_size, duration_s;
	int force;
	pid_t attach_pid; /* -p PID: record a running process */
	char **command;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: pysectrace record -w FILE [OPTIONS] -- COMMAND [ARGS...]\n"
		   "       pysectrace record -w FILE [OPTIONS] -p PID\n\n"
		   "Run COMMAND as `pysectrace run` does and also write everything the tracer\n"
		   "saw into a signed capture FILE (mode 0600): every ring-buffer record, losses,\n"
		   "alerts and what /proc answered, so that `pysectrace replay` prints the same\n"
		   "records and alerts offline, `pysectrace verify` checks it is intact and\n"
		   "`pysectrace report` draws it.  Format: docs/capture-format.md.  Needs root.\n\n"
		   "options:\n"
		   "  -w, --write FILE     the capture to write (refuses to overwrite: --force)\n"
		   "  --key KEYFILE        HMAC key signing the capture (16..1024 bytes; created\n"
		   "                       with 32 random bytes, mode 0600, if missing); default\n"
		   "                       $PYSECTRACE_KEY, else ~/.config/pysectrace/capture.key\n"
		   "  --policy FILE        apply the policy as `run --policy` does; its text goes\n"
		   "                       into the header (replay judges with it by default)\n"
		   "  --enforce, --observe as for `pysectrace run`\n"
		   "  --max-size SIZE      rotate to FILE.1, FILE.2, ... when a part reaches SIZE\n"
		   "                       bytes (suffix k, M, G); each part is a whole capture\n"
		   "  --duration SECS      rotate after SECS seconds per part\n"
		   "  --force              overwrite FILE (and its parts)\n"
		   "  -p, --pid PID        record a running process (and the children it starts\n"
		   "                       from then on) as `pysectrace attach` traces it,\n"
		   "                       instead of a COMMAND; ends when PID exits or on\n"
		   "                       SIGINT/SIGTERM\n"
		   "  --format, -o, --show, --hook-lib, --no-namespace, -v\n"
		   "                       the live output, as for `pysectrace run`\n"
		   "  -h, --help           this help\n\n"
		   "exit status: as for run (COMMAND's; 125 when pysectrace fails).\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end || v == 0)
		return -1;
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct record_opts *o)
{
	/* clang-format off */
	static const struct option longopts[] = {
		{ "write", required_argument, NULL, 'w' },
		{ "key", required_argument, NULL, 'K' },
		{ "max-size", required_argument, NULL, 'S' },
		{ "duration", required_argument, NULL, 'D' },
		{ "force", no_argument, NULL, 'F' },
		{ "pid", required_argument, NULL, 'p' },
		PYSEC_OPT_FORMAT, PYSEC_OPT_OUTPUT,  PYSEC_OPT_SHOW,  PYSEC_OPT_HOOK_LIB,
		PYSEC_OPT_POLICY, PYSEC_OPT_VERBOSE, PYSEC_OPT_NO_NS, PYSEC_OPT_ENFORCE,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* clang-format on */
	int c, r;

	memset(o, 0, sizeof(*o));
	pysec_trace_opts_init(&o->t);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+w:o:p:vh", longopts, NULL)) != -1) {
		if ((r = pysec_trace_opt(&o->t, c, optarg)) < 0)
			return -1;
		if (r)
			continue;
		switch (c) {
		case 'w':
			o->path = optarg;
			break;
		case 'K':
			o->key = optarg;
			break;
		case 'F':
			o->force = 1;
			break;
		case 'p':
			if (pysec_parse_pid(optarg, &o->attach_pid) < 0)
				return -1;
			break;
		case 'S':
			if (parse_size(optarg, &o->max_size) < 0) {
				pysec_err("--max-size must be a positive size (e.g. 64M), not '%s'",
					  optarg);
				return -1;
			}
			if (o->max_size < 16 * 1024) {
				pysec_err("--max-size %s: a part needs at least 16k", optarg);
				return -1;
			}
			break;
		case 'D':
			if (parse_size(optarg, &o->duration_s) < 0 || strpbrk(optarg, "kKmMgG")) {
				pysec_err(
				    "--duration must be a positive number of seconds, not '%s'",
				    optarg);
				return -1;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!o->path) {
		pysec_err("record: no capture file given (-w FILE)");
		return -1;
	}
	if (o->attach_pid) {
		if (optind < argc) {
			pysec_err("record: -p PID and a COMMAND exclude each other");
			return -1;
		}
		if (o->t.policy || o->t.mode) {
			pysec_err("record -p: --policy/--enforce/--observe need a COMMAND that "
				  "record starts (like attach, -p only watches)");
			return -1;
		}
		return 0;
	}
	if (optind >= argc) {
		pysec_err("record: no COMMAND given (pysectrace record -w FILE -- COMMAND [ARGS...] "
			  "or -p PID)");
		return -1;
	}
	o->command = argv + optind;
	return 0;
}

/* The key: --key or the default, created (0600) when missing. */
static int get_key(const char *given, uint8_t *key, size_t *keylen)
{
	char path[PATH_MAX], err[PATH_MAX + 128];

	if (given)
		snprintf(path, sizeof(path), "%s", given);
	else
		pysec_cap_default_key(path, sizeof(path));
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		if (pysec_cap_make_key(path, err, sizeof(err)) < 0) {
			pysec_err("%s", err);
			return -1;
		}
		pysec_err("created the capture signing key %s (mode 0600): keep it; "
			  "`pysectrace verify` needs it",
			  path);
	}
	if (pysec_cap_load_key(path, key, keylen, err, sizeof(err)) < 0) {
		pysec_err("%s", err);
		return -1;
	}
	return 0;
}

static int read_policy(const char *path, char **text)
{
	FILE *f = fopen(path, "re");
	size_t n;

	*text = NULL;
	if (!f) {
		pysec_err("cannot read policy %s: %s", path, strerror(errno));
		return -1;
	}
	*text = malloc(POLICY_TEXT_MAX + 1);
	if (!*text) {
		fclose(f);
		return -1;
	}
	n = fread(*text, 1, POLICY_TEXT_MAX + 1, f);
	fclose(f);
	if (n > POLICY_TEXT_MAX) {
		pysec_err("policy %s is larger than %d bytes", path, POLICY_TEXT_MAX);
		free(*text);
		*text = NULL;
		return -1;
	}
	(*text)[n] = 0;
	return 0;
}

static void read_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");

	out[0] = 0;
	if (f) {
		if (!fgets(out, (int)len, f))
			out[0] = 0;
		fclose(f);
	}
	out[strcspn(out, "\n")] = 0;
}

static void rfc3339(int64_t wall_ns, char *buf, size_t len)
{
	time_t sec = (time_t)(wall_ns / 1000000000);
	struct tm tm;
	size_t n;

	gmtime_r(&sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%09ldZ", (long)(wall_ns % 1000000000));
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* What the header says about this host and run (docs/capture-format.md). */
static struct json_object *make_header(const struct record_opts *o, const struct pysec_emitter *em,
				       const char *policy_text, const char *policy_path)
{
	struct json_object *h = json_object_new_object(), *cmd = json_object_new_array();
	struct json_object *sizes = json_object_new_object();
	struct utsname u;
	char buf[256];
	int64_t real = clock_ns(CLOCK_REALTIME);

	json_object_object_add(h, "format", json_object_new_string("pysectrace-capture"));
	json_object_object_add(h, "format_version", json_object_new_int(PYSEC_CAP_VERSION));
	json_object_object_add(h, "tool_version", json_object_new_string(PYSECTRACE_VERSION));
	json_object_object_add(h, "kabi_version", json_object_new_int(PYSEC_KABI_VERSION));
	json_object_object_add(h, "schema_version", json_object_new_int(PYSEC_SCHEMA_VERSION));
	if (uname(&u) == 0) {
		json_object_object_add(h, "host", json_object_new_string(u.nodename));
		snprintf(buf, sizeof(buf), "%s %s %s", u.sysname, u.release, u.version);
		json_object_object_add(h, "kernel", json_object_new_string(buf));
		json_object_object_add(h, "machine", json_object_new_string(u.machine));
	}
	read_line("/proc/sys/kernel/random/boot_id", buf, sizeof(buf));
	json_object_object_add(h, "boot_id", json_object_new_string(buf));
	rfc3339(real - clock_ns(CLOCK_BOOTTIME), buf, sizeof(buf));
	json_object_object_add(h, "boot_time", json_object_new_string(buf));
	rfc3339(real, buf, sizeof(buf));
	json_object_object_add(h, "start_time", json_object_new_string(buf));
	json_object_object_add(h, "start_mono_ns",
			       json_object_new_int64(clock_ns(CLOCK_MONOTONIC)));
	json_object_object_add(h, "wall_offset_ns", json_object_new_int64(em->wall_offset_ns));
	for (char **a = o->command; a && *a; a++)
		json_object_array_add(cmd, json_object_new_string(*a));
	json_object_object_add(h, "command", cmd);
	json_object_object_add(h, "attach_pid",
			       o->attach_pid ? json_object_new_int((int)o->attach_pid) : NULL);
	if (policy_text) {
		struct json_object *p = json_object_new_object();

		json_object_object_add(p, "path", policy_path ? json_object_new_string(policy_path)
							      : NULL);
		json_object_object_add(p, "text", json_object_new_string(policy_text));
		json_object_object_add(h, "policy", p);
	} else {
		json_object_object_add(h, "policy", NULL);
	}
	json_object_object_add(h, "mode", o->t.mode ? json_object_new_string(pysec_mode_name(o->t.mode))
						  : NULL);
	json_object_object_add(sizes, "audit",
			       json_object_new_int((int)sizeof(struct pysec_audit_rec)));
	json_object_object_add(sizes, "process",
			       json_object_new_int((int)sizeof(struct pysec_proc_rec)));
	json_object_object_add(sizes, "syscall",
			       json_object_new_int((int)sizeof(struct pysec_sys_rec)));
	json_object_object_add(h, "record_sizes", sizes);
	return h;
}

struct record_tick {
	FILE *out;
	struct pysec_capwriter *cw;
	struct pysec_tracer *tracer;
	int kernel_lost;
};

static void on_tick(void *ctx)
{
	struct record_tick *t = ctx;

	fflush(t->out);
	/* from here on the classifier reads no sequence gap: replay must too */
	if (!t->kernel_lost && pysec_tracer_kernel_lost(t->tracer)) {
		t->kernel_lost = 1;
		pysec_capwriter_note_state(t->cw, "kernel_lost");
	}
	pysec_capwriter_tick(t->cw);
}

/* attach's source record, kept in the capture for replay to print */
static void note_source(void *ctx, uint64_t mono_ns, uint32_t pid, const char *comm,
			const char *source, const char *probe, const char *blind)
{
	struct record_tick *t = ctx;
	struct json_object *o = json_object_new_object();
	char *state;

	json_object_object_add(o, "mono_ns", json_object_new_int64((int64_t)mono_ns));
	json_object_object_add(o, "pid", json_object_new_int64(pid));
	json_object_object_add(o, "comm", json_object_new_string(comm));
	json_object_object_add(o, "source", json_object_new_string(source));
	json_object_object_add(o, "probe", json_object_new_string(probe));
	json_object_object_add(o, "blind", json_object_new_string(blind));
	if (asprintf(&state, "source %s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) >= 0) {
		pysec_capwriter_note_state(t->cw, state);
		free(state);
	}
	json_object_put(o);
}

/* The policy's text for the header: the file's, or the built-in one's YAML. */
static int policy_text_of(const char *path, const struct pysec_policy *p, char **text)
{
	size_t n = 0;
	FILE *f;

	*text = NULL;
	if (path)
		return read_policy(path, text);
	if (!p)
		return 0;
	f = open_memstream(text, &n);
	if (!f)
		return -1;
	pysec_policy_write_yaml(f, p);
	return fclose(f) == 0 ? 0 : -1;
}

int cmd_record(int argc, char **argv)
{
	struct pysec_tracer t = {0};
	struct pysec_pipeline pl = {0};
	struct pysec_capwriter cw = {0};
	struct pysec_emitter em;
	struct pysec_kenforce *ke = calloc(1, sizeof(*ke));
	struct record_opts o;
	struct pysec_tracer_opts to;
	struct pysec_policy *policy = NULL;
	struct json_object *hdr = NULL;
	struct record_tick tick;
	uint8_t key[PYSEC_CAP_KEY_MAX];
	size_t keylen = 0;
	char *policy_text = NULL, ctl_path[PATH_MAX + 80] = "";
	FILE *out = NULL;
	int rc = EXIT_TOOL_FAILED, cw_open = 0, pidfd = -1;

	if (!ke)
		return EXIT_TOOL_FAILED;
	ke->cg_fd = -1;
	if (parse_opts(argc, argv, &o) < 0)
		goto cleanup;
	if (pysec_launch_load_policy(o.t.policy, &o.t.mode, &policy) < 0)
		goto cleanup;
	if (pysec_check_host("record") < 0)
		goto cleanup;
	if (o.attach_pid && (pidfd = pysec_attach_open(o.attach_pid)) < 0)
		goto cleanup;
	if (policy_text_of(o.t.policy, policy, &policy_text) < 0)
		goto cleanup;
	if (get_key(o.key, key, &keylen) < 0)
		goto cleanup;
	out = pysec_open_output(o.t.output);
	if (!out)
		goto cleanup;
	pysec_emitter_init(&em, out, o.t.format, o.t.show);
	hdr = make_header(&o, &em, policy_text, o.t.policy);
	struct pysec_capwriter_opts co = {.path = o.path,
					  .overwrite = o.force,
					  .key = key,
					  .keylen = keylen,
					  .header = hdr,
					  .max_size = o.max_size,
					  .duration_s = o.duration_s};

	cw_open = 1;
	if (pysec_capwriter_open(&cw, &co) < 0)
		goto cleanup;
	if (pysec_pipeline_init(&pl) < 0 || pysec_pipeline_add_emitter(&pl, &em) < 0 ||
	    pysec_capwriter_add_sink(&cw, &pl) < 0) {
		pysec_err("out of memory");
		goto cleanup;
	}
	tick = (struct record_tick){.out = out, .cw = &cw, .tracer = &t};
	if (o.attach_pid) {
		struct pysec_attach_ops ops = {.tick = on_tick, .source = note_source, .ctx = &tick};

		rc = pysec_attach_trace(&t, &pl, &em, o.attach_pid, pidfd, 1, o.t.verbose, &ops) < 0
			 ? EXIT_TOOL_FAILED
			 : 0;
		if (pysec_capwriter_close(&cw, rc) < 0)
			rc = EXIT_TOOL_FAILED;
		cw_open = 0;
		goto cleanup;
	}
	/* the capture holds every syscall with its verdict: replay can --show all */
	to = (struct pysec_tracer_opts){.hook_lib = o.t.hook_lib,
					.show_all = 1,
					.verbose = o.t.verbose,
					.enforce = o.t.mode == PYSEC_MODE_ENFORCE};
	if (pysec_tracer_open(&t, &to, &pl) < 0)
		goto cleanup;
	/* every event fires: a replay with another policy may need any of them */
	if (policy &&
	    pysec_launch_publish(&t, policy, PYSEC_SHOW_ALL, ctl_path, sizeof(ctl_path)) < 0)
		goto cleanup;
	em.ctl = policy ? &policy->ctl : NULL;
	if (o.t.mode && pysec_kenforce_open(ke, o.t.mode, policy, &t, &pl) < 0)
		goto cleanup;
	rc = pysec_launch_traced(&t, ke, o.command, o.t.no_namespace, on_tick, &tick);
	if (pysec_capwriter_close(&cw, rc) < 0)
		rc = EXIT_TOOL_FAILED;
	cw_open = 0;
cleanup:
	if (cw_open)
		pysec_capwriter_close(&cw, rc);
	pysec_kenforce_close(ke);
	free(ke);
	if (ctl_path[0])
		pysec_ctl_withdraw(ctl_path);
	pysec_tracer_close(&t);
	if (pidfd >= 0)
		close(pidfd);
	pysec_policy_free(policy);
	pysec_pipeline_free(&pl);
	json_object_put(hdr);
	free(policy_text);
	memset(key, 0, sizeof(key));
	if (out && out != stderr && out != stdout)
		fclose(out);
	else if (out)
		fflush(out);
	return rc;
}
