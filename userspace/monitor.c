// SPDX-License-Identifier: MIT
/*
 * monitor.c — `pysectrace monitor`: a host service.  Every process on the
 * host that carries the hook is traced from its first audit event; alerts
 * (and, with --show, records) go to JSON lines (rotated file, syslog)
 * through a rate limit, counters to a Prometheus endpoint.  SIGHUP reopens
 * the outputs; SIGTERM/SIGINT drain, flush and report losses, exit 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "emit.h"
#include "logsink.h"
#include "metrics.h"
#include "tracer.h"

struct monitor_opts {
	enum pysec_format format;
	enum pysec_show show;
	const char *output;
	const char *hook_lib;
	const char *metrics;
	uint64_t rotate_size;
	unsigned rotate_keep;
	int compress;
	int syslog;
	double rate, burst;
	unsigned max_procs, max_alerts;
	unsigned rescan_s;
	int verbose;
};

static volatile sig_atomic_t stop_sig, reload;

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: pysectrace monitor [OPTIONS]\n\n"
	    "Watch every process on this host that carries the pysectrace hook (preloaded\n"
	    "libpysechook.so, or import pysechook) from its first audit event, as a\n"
	    "service: alerts as JSON lines to a file (rotated by size) and/or syslog,\n"
	    "counters for Prometheus.  Needs root (see tools/pysectrace-monitor.service).\n\n"
	    "options:\n"
	    "  --format text|json   JSON lines (default) or text lines (docs/SCHEMA.md)\n"
	    "  -o, --output FILE    append records to FILE (default: stdout; '-': stdout)\n"
	    "  --show audit|alerts|all\n"
	    "                       what to write besides alerts, as for run (default: alerts)\n"
	    "  --hook-lib PATH      a hook library to attach to besides every copy that a\n"
	    "                       process maps (default: the installed/built one)\n"
	    "  --metrics ADDR:PORT  serve Prometheus metrics at http://ADDR:PORT/metrics\n"
	    "                       (PORT alone: 127.0.0.1:PORT)\n"
	    "  --rotate-size N[K|M|G]\n"
	    "                       rotate FILE when it would grow past N bytes\n"
	    "  --rotate-keep N      rotated files kept, FILE.1 newest (default 5)\n"
	    "  --compress           gzip rotated files (FILE.1.gz ...)\n"
	    "  --syslog             also write each record to syslog (LOG_DAEMON; alerts at\n"
	    "                       LOG_WARNING)\n"
	    "  --rate-limit RATE[/BURST]\n"
	    "                       records per second per process and kind (alert kind or\n"
	    "                       record type), bursts up to BURST (default 20/100; 0: off);\n"
	    "                       what is held back is reported as rate_limited records\n"
	    "  --max-procs N        processes whose context is kept (default %d, about\n"
	    "                       64 KiB each; least recently seen evicted first)\n"
	    "  --max-alerts N       distinct repeating alerts counted (default %d, about\n"
	    "                       64 KiB each)\n"
	    "  --rescan SECONDS     how often /proc/*/maps is read for new copies of the\n"
	    "                       hook (default 5)\n"
	    "  -v, --verbose        show libbpf's messages\n"
	    "  -h, --help           this help\n\n"
	    "signals: SIGHUP reopens FILE (after an outside rotation); SIGTERM/SIGINT\n"
	    "read what is queued, write the final counts and losses, exit 0.\n"
	    "exit status: 0 after SIGTERM/SIGINT, 125 when pysectrace fails.\n",
	    PYSEC_MAX_PROCS_DEFAULT, PYSEC_MAX_ALERT_AGGS_DEFAULT);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno || *s == '-')
		return -1;
	switch (*end) {
	case 'K':
	case 'k':
		v <<= 10;
		end++;
		break;
	case 'M':
	case 'm':
		v <<= 20;
		end++;
		break;
	case 'G':
	case 'g':
		v <<= 30;
		end++;
		break;
	}
	if (*end || v < 4096 || v > (1ULL << 40))
		return -1;
	*out = v;
	return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (end == s || *end || errno || *s == '-' || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct monitor_opts *o)
{
	enum {
		O_FORMAT = 256,
		O_SHOW,
		O_HOOK,
		O_METRICS,
		O_RSIZE,
		O_RKEEP,
		O_COMPRESS,
		O_SYSLOG,
		O_RATE,
		O_PROCS,
		O_ALERTS,
		O_RESCAN
	};
	static const struct option longopts[] = {
	    {"format", required_argument, NULL, O_FORMAT},
	    {"output", required_argument, NULL, 'o'},
	    {"show", required_argument, NULL, O_SHOW},
	    {"hook-lib", required_argument, NULL, O_HOOK},
	    {"metrics", required_argument, NULL, O_METRICS},
	    {"rotate-size", required_argument, NULL, O_RSIZE},
	    {"rotate-keep", required_argument, NULL, O_RKEEP},
	    {"compress", no_argument, NULL, O_COMPRESS},
	    {"syslog", no_argument, NULL, O_SYSLOG},
	    {"rate-limit", required_argument, NULL, O_RATE},
	    {"max-procs", required_argument, NULL, O_PROCS},
	    {"max-alerts", required_argument, NULL, O_ALERTS},
	    {"rescan", required_argument, NULL, O_RESCAN},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char err[256];
	int c, v;

	memset(o, 0, sizeof(*o));
	o->format = PYSEC_FMT_JSON;
	o->show = PYSEC_SHOW_ALERTS;
	o->rotate_keep = 5;
	o->rate = 20;
	o->burst = 100;
	o->max_procs = PYSEC_MAX_PROCS_DEFAULT;
	o->max_alerts = PYSEC_MAX_ALERT_AGGS_DEFAULT;
	o->rescan_s = 5;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:vh", longopts, NULL)) != -1) {
		switch (c) {
		case O_FORMAT:
			if ((v = pysec_parse_format(optarg)) < 0) {
				pysec_err("--format must be text or json, not '%s'", optarg);
				return -1;
			}
			o->format = v;
			break;
		case O_SHOW:
			if ((v = pysec_parse_show(optarg)) < 0) {
				pysec_err("--show must be audit, alerts or all, not '%s'", optarg);
				return -1;
			}
			o->show = v;
			break;
		case 'o':
			o->output = optarg;
			break;
		case O_HOOK:
			o->hook_lib = optarg;
			break;
		case O_METRICS:
			o->metrics = optarg;
			break;
		case O_RSIZE:
			if (parse_size(optarg, &o->rotate_size) < 0) {
				pysec_err("--rotate-size: '%s' is not a size from 4096 bytes to 1T "
					  "(N, NK, NM or NG)",
					  optarg);
				return -1;
			}
			break;
		case O_RKEEP:
			if (parse_uint(optarg, 1, 1000, &o->rotate_keep) < 0) {
				pysec_err("--rotate-keep: '%s' is not a number from 1 to 1000",
					  optarg);
				return -1;
			}
			break;
		case O_COMPRESS:
			o->compress = 1;
			break;
		case O_SYSLOG:
			o->syslog = 1;
			break;
		case O_RATE:
			if (pysec_ratelimit_parse(optarg, &o->rate, &o->burst, err, sizeof(err)) <
			    0) {
				pysec_err("--rate-limit %s", err);
				return -1;
			}
			break;
		case O_PROCS:
		case O_ALERTS:
			if (parse_uint(optarg, PYSEC_MIN_TABLE, 1u << 20,
				       c == O_PROCS ? &o->max_procs : &o->max_alerts) < 0) {
				pysec_err("--%s: '%s' is not a number from %d to %u",
					  c == O_PROCS ? "max-procs" : "max-alerts", optarg,
					  PYSEC_MIN_TABLE, 1u << 20);
				return -1;
			}
			break;
		case O_RESCAN:
			if (parse_uint(optarg, 1, 3600, &o->rescan_s) < 0) {
				pysec_err(
				    "--rescan: '%s' is not a number of seconds from 1 to 3600",
				    optarg);
				return -1;
			}
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		pysec_err("monitor takes no arguments ('%s'): see pysectrace monitor --help",
			  argv[optind]);
		return -1;
	}
	if ((o->rotate_size || o->compress) && (!o->output || !strcmp(o->output, "-"))) {
		pysec_err("--rotate-size and --compress need an output file (-o FILE)");
		return -1;
	}
	return 0;
}

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload = 1;
	else
		stop_sig = sig;
}

static void install_signal_handlers(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a scraper that hangs up must not kill us */
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct monitor {
	struct monitor_opts o;
	struct pysec_tracer t;
	struct pysec_pipeline pl;
	struct pysec_metrics m;
	struct pysec_output out;
	struct pysec_emitter em, em_syslog;
	struct pysec_rotfile rf;
	FILE *file, *syslog_file;
	int syslog_prio;
	uint64_t file_lost_reported;
};

static void refresh_metrics(struct pysec_metrics *m, void *ctx)
{
	struct monitor *mon = ctx;
	const uint64_t *sys = pysec_tracer_sys_counts(&mon->t);
	struct pysec_classifier_stats st;
	unsigned hooks = 0;

	if (sys)
		for (unsigned s = 0; s < PYSEC_SLOT_MAX; s++)
			for (unsigned v = 0; v < PYSEC_SYS_VERDICTS; v++)
				m->sys[s][v] = __atomic_load_n(&sys[s * PYSEC_SYS_VERDICTS + v],
							       __ATOMIC_RELAXED);
	m->tracked = pysec_tracer_tracked(&mon->t);
	m->ringbuf_bytes = pysec_tracer_ringbuf_bytes(&mon->t);
	pysec_classifier_stats(mon->pl.cls, &st);
	m->classifier_procs = st.procs;
	m->evictions[PYSEC_TABLE_PROCS] = st.proc_evictions;
	m->evictions[PYSEC_TABLE_ALERT_AGGS] = st.agg_evictions;
	m->evictions[PYSEC_TABLE_RATE_LIMIT] = mon->out.rl.evictions;
	for (unsigned i = 0; i < mon->t.nhooks; i++)
		hooks += mon->t.hooks[i].link != NULL;
	m->hook_copies = hooks;
}

/* Once a second: what the rate limit held back, every loss so far, flush. */
static void report_periodic(struct monitor *mon)
{
	uint64_t n;

	pysec_output_sweep(&mon->out);
	pysec_tracer_report_losses(&mon->t);
	pysec_pipeline_report_losses(&mon->pl);
	n = mon->rf.lost_lines - mon->file_lost_reported;
	if (n) {
		mon->file_lost_reported = mon->rf.lost_lines;
		pysec_metrics_count_lost(&mon->m, "sink_file", n);
		pysec_err("%llu records could not be written to %s", (unsigned long long)n,
			  mon->rf.path);
	}
	if (mon->file)
		fflush(mon->file);
	if (mon->syslog_file)
		fflush(mon->syslog_file);
}

static int open_outputs(struct monitor *mon)
{
	const struct monitor_opts *o = &mon->o;

	if (!o->output || !strcmp(o->output, "-")) {
		mon->file = stdout;
	} else {
		mon->file = pysec_rotfile_open(&mon->rf, o->output, o->rotate_size, o->rotate_keep,
					       o->compress);
		if (!mon->file)
			return -1;
	}
	pysec_emitter_init(&mon->em, mon->file, o->format, o->show);
	mon->em.color = 0;
	pysec_output_add_emitter(&mon->out, &mon->em, NULL);
	if (o->syslog) {
		mon->syslog_file = pysec_syslog_open(&mon->syslog_prio);
		if (!mon->syslog_file)
			return -1;
		pysec_emitter_init(&mon->em_syslog, mon->syslog_file, PYSEC_FMT_JSON, o->show);
		pysec_output_add_emitter(&mon->out, &mon->em_syslog, &mon->syslog_prio);
	}
	return 0;
}

static void reload_outputs(struct monitor *mon)
{
	if (mon->file && mon->file != stdout) {
		fflush(mon->file);
		if (pysec_rotfile_reopen(&mon->rf) != 0)
			pysec_err("SIGHUP: cannot reopen %s: %s (still writing the old file)",
				  mon->rf.path, strerror(errno));
	}
	pysec_err("SIGHUP: outputs reopened");
}

static void close_outputs(struct monitor *mon)
{
	if (mon->file && mon->file != stdout)
		fclose(mon->file);
	else if (mon->file)
		fflush(mon->file);
	if (mon->syslog_file)
		fclose(mon->syslog_file);
	mon->file = mon->syslog_file = NULL;
}

static void loop(struct monitor *mon)
{
	uint64_t last_tick = mono_ms(), last_scan = last_tick;
	int n;

	while (!stop_sig) {
		int err = pysec_tracer_poll(&mon->t, 100);

		if (err < 0)
			pysec_err("reading the ring buffer: %s", strerror(-err));
		pysec_metrics_run(&mon->m);
		uint64_t now = mono_ms();

		if (reload) {
			reload = 0;
			reload_outputs(mon);
		}
		if (now - last_tick >= 1000) {
			last_tick = now;
			report_periodic(mon);
		}
		if (now - last_scan >= (uint64_t)mon->o.rescan_s * 1000) {
			last_scan = now;
			n = pysec_tracer_scan_hooks(&mon->t);
			if (n > 0)
				pysec_err("attached to %d more copies of the hook", n);
		}
	}
}

int cmd_monitor(int argc, char **argv)
{
	struct monitor *mon = calloc(1, sizeof(*mon));
	struct pysec_tracer_opts to;
	int rc = EXIT_TOOL_FAILED;

	if (!mon) {
		pysec_err("out of memory");
		return EXIT_TOOL_FAILED;
	}
	if (parse_opts(argc, argv, &mon->o) < 0 || pysec_check_host("monitor") < 0)
		goto out;
	pysec_metrics_init(&mon->m, PYSECTRACE_VERSION);
	mon->m.refresh = refresh_metrics;
	mon->m.refresh_ctx = mon;
	if (pysec_pipeline_init(&mon->pl) < 0 ||
	    pysec_output_init(&mon->out, mon->o.rate, mon->o.burst, &mon->m) < 0) {
		pysec_err("out of memory");
		goto cleanup;
	}
	pysec_classifier_set_limits(mon->pl.cls, mon->o.max_procs, mon->o.max_alerts);
	if (open_outputs(mon) < 0 || pysec_output_add_sink(&mon->out, &mon->pl) < 0 ||
	    pysec_metrics_add_sink(&mon->m, &mon->pl) < 0)
		goto cleanup;
	if (mon->o.metrics && pysec_metrics_serve(&mon->m, mon->o.metrics) < 0)
		goto cleanup;
	to = (struct pysec_tracer_opts){.hook_lib = mon->o.hook_lib,
					.show_all = mon->o.show == PYSEC_SHOW_ALL,
					.verbose = mon->o.verbose,
					.monitor = 1};
	install_signal_handlers();
	if (pysec_tracer_open(&mon->t, &to, &mon->pl) < 0)
		goto cleanup;
	pysec_err("monitoring %u copies of the hook (%s)%s%s", mon->t.nhooks, mon->t.hook_lib,
		  mon->o.metrics ? "; metrics on " : "", mon->o.metrics ? mon->o.metrics : "");
	loop(mon);
	/* drain, repeated alerts' final counts, every loss, then the last drops */
	pysec_tracer_finish(&mon->t);
	report_periodic(mon);
	pysec_err("stopped by signal %d: %llu records and %llu alerts written, %llu held back "
		  "by the rate limit",
		  (int)stop_sig, (unsigned long long)mon->em.records,
		  (unsigned long long)mon->em.alerts, (unsigned long long)mon->out.rl.dropped);
	rc = 0;
cleanup:
	pysec_metrics_stop(&mon->m);
	pysec_tracer_close(&mon->t);
	pysec_output_free(&mon->out);
	pysec_pipeline_free(&mon->pl);
	close_outputs(mon);
out:
	free(mon);
	return rc;
}
