// SPDX-License-Identifier: MIT
/*
 * report.c — `pysectrace report FILE -o report.html`: replay a capture
 * through the pipeline (JSON, every record) and embed the records in one
 * self-contained HTML page (userspace/report.html) whose script draws the
 * summary, the timeline (SVG), the alerts with their context and the
 * process tree.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "replay.h"

#include "report_html.h" /* generated from userspace/report.html: report_html[] */

#define REPORT_MAX_RECORDS 200000 /* beyond: alerts only (the page must open) */
#define DATA_MARK	   "/*PYSEC_DATA*/"

struct report {
	struct json_object *header, *end;
	uint64_t recorded_alerts;
};

static void on_header(void *ctx, struct json_object *h, unsigned file)
{
	struct report *r = ctx;

	if (!r->header)
		r->header = json_object_get(h);
}

static void on_alert(void *ctx, const char *json, size_t len)
{
	((struct report *)ctx)->recorded_alerts++;
}

static void on_end(void *ctx, struct json_object *e, unsigned file)
{
	struct report *r = ctx;

	json_object_put(r->end);
	r->end = json_object_get(e);
}

/* JSON text safe inside <script>: '<', '>' and '&' only occur inside strings. */
static void put_script_safe(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '<')
			fputs("\\u003c", out);
		else if (s[i] == '>')
			fputs("\\u003e", out);
		else if (s[i] == '&')
			fputs("\\u0026", out);
		else
			fputc(s[i], out);
	}
}

static void put_json(FILE *out, struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	put_script_safe(out, s, strlen(s));
}

/* The JSON lines of the replay as one array; past the cap, alerts only. */
static uint64_t put_records(FILE *out, const char *lines, size_t len)
{
	uint64_t n = 0, dropped = 0;
	const char *p = lines, *end = lines + len;

	fputc('[', out);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (l && (n < REPORT_MAX_RECORDS || memmem(p, l, "\"type\":\"alert\"", 14))) {
			if (n++)
				fputc(',', out);
			put_script_safe(out, p, l);
		} else if (l) {
			dropped++;
		}
		p += l + 1;
	}
	fputc(']', out);
	return dropped;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pysectrace report [-o report.html] FILE [FILE.1 ...]\n\n"
		   "Draw a capture as one self-contained HTML page (no network): summary\n"
		   "counts, a timeline with a lane per process/thread (audit events, syscalls,\n"
		   "alerts), every alert with the audit events and syscalls before it, and the\n"
		   "process tree.  The records are replayed through the classifier, as\n"
		   "`pysectrace replay --show all --format json` prints them.\n\n"
		   "options:\n"
		   "  -o, --output FILE  the page to write (default: stdout)\n"
		   "  -h, --help         this help\n\n"
		   "exit status: 0 written from a whole capture; 1 written from the intact\n"
		   "part of an incomplete or damaged one; 125 nothing written.\n");
}

int cmd_report(int argc, char **argv)
{
	/* clang-format off */
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* clang-format on */
	struct report rep = {0};
	struct pysec_replay_hooks hk = {
	    .header = on_header, .alert = on_alert, .end = on_end, .ctx = &rep};
	const char *output = NULL, *mark;
	struct pysec_pipeline pl;
	struct pysec_emitter em;
	enum pysec_replay_result res;
	struct json_object *files;
	char *lines = NULL;
	size_t len = 0;
	FILE *mem, *out;
	int c, rc = EXIT_TOOL_FAILED;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_TOOL_FAILED;
		}
	}
	if (optind >= argc) {
		pysec_err("report: no capture file given (pysectrace report FILE -o report.html)");
		return EXIT_TOOL_FAILED;
	}
	mem = open_memstream(&lines, &len);
	if (!mem)
		return EXIT_TOOL_FAILED;
	pysec_emitter_init(&em, mem, PYSEC_FMT_JSON, PYSEC_SHOW_ALL);
	if (pysec_pipeline_init(&pl) < 0 || pysec_pipeline_add_emitter(&pl, &em) < 0) {
		pysec_err("out of memory");
		fclose(mem);
		free(lines);
		return EXIT_TOOL_FAILED;
	}
	res = pysec_replay_files(argv + optind, argc - optind, &pl, &em, &hk);
	pysec_pipeline_free(&pl);
	fclose(mem);
	if (res == PYSEC_REPLAY_FAILED || !rep.header) {
		if (res != PYSEC_REPLAY_FAILED)
			pysec_err("report: no intact header in %s: nothing to draw", argv[optind]);
		goto out;
	}
	out = !output || !strcmp(output, "-") ? stdout : fopen(output, "we");
	if (!out) {
		pysec_err("cannot write %s: %s", output, strerror(errno));
		goto out;
	}
	mark = strstr(report_html, DATA_MARK);
	fwrite(report_html, 1, (size_t)(mark - report_html), out);
	fputs("{\"header\":", out);
	put_json(out, rep.header);
	fputs(",\"end\":", out);
	if (rep.end)
		put_json(out, rep.end);
	else
		fputs("null", out);
	fprintf(out,
		",\"status\":\"%s\",\"status_detail\":\"%s\",\"recorded_alerts\":%llu,\"files\":",
		res == PYSEC_REPLAY_COMPLETE ? "complete" : "incomplete",
		res == PYSEC_REPLAY_COMPLETE
		    ? ""
		    : "it has no end record or a damaged block (see pysectrace verify).",
		(unsigned long long)rep.recorded_alerts);
	files = json_object_new_array();
	for (int i = optind; i < argc; i++)
		json_object_array_add(files, json_object_new_string(argv[i]));
	put_json(out, files);
	json_object_put(files);
	fputs(",\"records\":", out);
	uint64_t dropped = put_records(out, lines, len);

	fprintf(out, ",\"records_dropped\":%llu}", (unsigned long long)dropped);
	fputs(mark + strlen(DATA_MARK), out);
	int werr;

	if (out == stdout)
		werr = fflush(out);
	else
		werr = fclose(out);
	if (werr != 0) {
		pysec_err("writing %s: %s", output ? output : "stdout", strerror(errno));
		goto out;
	}
	rc = res == PYSEC_REPLAY_COMPLETE ? 0 : 1;
out:
	json_object_put(rep.header);
	json_object_put(rep.end);
	free(lines);
	return rc;
}
