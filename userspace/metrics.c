// SPDX-License-Identifier: MIT
/* metrics.c — Prometheus counters and their HTTP endpoint (see metrics.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "classify.h"
#include "cli.h"
#include "emit.h"
#include "metrics.h"

/* The events the hook correlates with syscalls, and the ones alerts name. */
const char *const pysec_metric_events[] = {
    "open",
    "os.exec",
    "os.posix_spawn",
    "os.system",
    "os.listdir",
    "os.scandir",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.remove",
    "os.rename",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.truncate",
    "os.symlink",
    "os.link",
    "os.rmdir",
    "os.utime",
    "subprocess.Popen",
    "socket.connect",
    "socket.sendto",
    "socket.sendmsg",
    "socket.bind",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.__new__",
    "import",
    "exec",
    "compile",
    "ctypes.dlopen",
    "ctypes.dlsym",
    "ctypes.call_function",
    "ctypes.cdata",
    "ctypes.addressof",
    "sqlite3.connect",
    "urllib.Request",
    "cpython.run_file",
    "cpython.run_command",
    "cpython.run_module",
    "cpython.run_stdin",
    "cpython._PySys_ClearAuditHooks",
    "sys.addaudithook",
    "mmap.__new__",
    "pickle.find_class",
    "marshal.loads",
    "shutil.copyfile",
    "tempfile.mkstemp",
    "other",
};
const unsigned pysec_metric_nevents = sizeof(pysec_metric_events) / sizeof(char *);

const char *const pysec_metric_kinds[] = {"bypass", "hook_cleared", "tamper", "hook_missing",
					  "other"};
const unsigned pysec_metric_nkinds = sizeof(pysec_metric_kinds) / sizeof(char *);

/* Rule ids: what judged the alert, from the classifier's reasons. */
static const struct {
	const char *reason_prefix;
	const char *rule;
} rule_of_reason[] = {
    {"no audit event of this thread", "no_token"},
    {"the thread's audit events announced a different", "other_target"},
    {"made before the hook armed", "prearm"},
    {"no CPython API makes", "no_python_api"},
    {"its argument could not be read", "unreadable"},
    {"the kernel's object is not", "swapped"},
    {"made after the interpreter cleared", "after_clear"},
    {"opened process memory", "proc_mem"},
    {"ctypes looked up a symbol", "audit_symbol"},
    {"the process's audit bridge is broken", "bridge_broken"},
    {"a CPython older than 3.8 runs here", "old_python"},
    {"took control of, or wrote to, a traced process", "process_write"},
    {"a CPython interpreter that never armed", "never_armed"},
};
#define NRULES (sizeof(rule_of_reason) / sizeof(rule_of_reason[0]))

const char *const pysec_metric_rules[] = {
    "no_token",	  "other_target", "prearm",	   "no_python_api", "unreadable",
    "swapped",	  "after_clear",  "proc_mem",	   "audit_symbol",  "bridge_broken",
    "old_python", "never_armed",  "process_write", "other",
};
const unsigned pysec_metric_nrules = sizeof(pysec_metric_rules) / sizeof(char *);

const char *const pysec_metric_stages[] = {
    "kernel_ringbuf", "kernel_tracked",	    "kernel_pending", "kernel_tokens",
    "prearm_queue",   "classifier_evicted", "rate_limit",     "sink_file",
    "sink_syslog",    "malformed",	    "other",
};
const unsigned pysec_metric_nstages = sizeof(pysec_metric_stages) / sizeof(char *);

const char *const pysec_metric_tables[] = {"classifier_procs", "alert_aggs", "rate_limit"};
const unsigned pysec_metric_ntables = sizeof(pysec_metric_tables) / sizeof(char *);

static const char *const sys_names[PYSEC_SLOT_MAX] = {
    "open",
    "creat",
    "openat",
    "openat2",
    "connect",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "execve",
    "execveat",
    "io_uring_setup",
    "ptrace",
    "process_vm_writev",
};

static unsigned index_in(const char *const *tab, unsigned n, const char *v)
{
	for (unsigned i = 0; i + 1 < n; i++)
		if (!strcmp(tab[i], v))
			return i;
	return n - 1;
}

unsigned pysec_metric_event_index(const char *event)
{
	return index_in(pysec_metric_events, pysec_metric_nevents, event);
}

unsigned pysec_metric_kind_index(const char *kind)
{
	return index_in(pysec_metric_kinds, pysec_metric_nkinds, kind ? kind : "");
}

unsigned pysec_metric_stage_index(const char *stage)
{
	return index_in(pysec_metric_stages, pysec_metric_nstages, stage ? stage : "");
}

unsigned pysec_metric_rule_index(const char *kind, const char *reason)
{
	(void)kind;
	for (size_t i = 0; reason && i < NRULES; i++)
		if (!strncmp(reason, rule_of_reason[i].reason_prefix,
			     strlen(rule_of_reason[i].reason_prefix)))
			return index_in(pysec_metric_rules, pysec_metric_nrules,
					rule_of_reason[i].rule);
	return pysec_metric_nrules - 1;
}

void pysec_metrics_init(struct pysec_metrics *m, const char *version)
{
	struct timespec ts;

	memset(m, 0, sizeof(*m));
	m->version = version;
	clock_gettime(CLOCK_REALTIME, &ts);
	m->start_time = (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void pysec_metrics_count_alert(struct pysec_metrics *m, const char *kind, const char *reason)
{
	m->alerts[pysec_metric_kind_index(kind)][pysec_metric_rule_index(kind, reason)]++;
}

void pysec_metrics_count_lost(struct pysec_metrics *m, const char *stage, uint64_t n)
{
	m->lost[pysec_metric_stage_index(stage)] += n;
}

static void sink_record(void *ctx, const void *data, size_t size, const char *explained)
{
	struct pysec_metrics *m = ctx;
	const struct pysec_audit_rec *r = data;
	char ev[PYSEC_EVENT_MAX];

	(void)explained;
	switch (pysec_record_type(data, size)) {
	case PYSEC_REC_AUDIT:
		memcpy(ev, r->event, sizeof(ev));
		ev[sizeof(ev) - 1] = 0;
		m->audit[pysec_metric_event_index(ev)]++;
		break;
	case 0:
		m->lost[pysec_metric_stage_index("malformed")]++;
		break;
	}
}

static void sink_alert(void *ctx, const struct pysec_alert *a)
{
	pysec_metrics_count_alert(ctx, a->kind, a->reason);
}

static void sink_lost(void *ctx, const char *stage, uint64_t n)
{
	pysec_metrics_count_lost(ctx, stage, n);
}

int pysec_metrics_add_sink(struct pysec_metrics *m, struct pysec_pipeline *p)
{
	struct pysec_sink s = {
	    .record = sink_record, .alert = sink_alert, .lost = sink_lost, .ctx = m};

	return pysec_pipeline_add(p, &s);
}

/* A label value as the exposition format quotes it. */
static void put_label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f), fputc(*v, f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *pysec_metrics_render(struct pysec_metrics *m, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f;

	if (m->refresh)
		m->refresh(m, m->refresh_ctx);
	f = open_memstream(&buf, &n);
	if (!f)
		return NULL;
	head(f, "pysectrace_build_info", "gauge", "Version of pysectrace, as a label; always 1.");
	fputs("pysectrace_build_info{version=\"", f);
	put_label(f, m->version ? m->version : "");
	fputs("\"} 1\n", f);
	head(f, "process_start_time_seconds", "gauge",
	     "Start time of the pysectrace process since the Unix epoch in seconds.");
	fprintf(f, "process_start_time_seconds %.3f\n", m->start_time);
	head(f, "pysectrace_audit_events_total", "counter",
	     "Audit events received from hooked processes, by event name (\"other\": any "
	     "event not in the fixed list).");
	for (unsigned i = 0; i < pysec_metric_nevents; i++)
		fprintf(f, "pysectrace_audit_events_total{event=\"%s\"} %llu\n",
			pysec_metric_events[i], (unsigned long long)m->audit[i]);
	head(f, "pysectrace_syscalls_total", "counter",
	     "Monitored syscalls of tracked processes, counted in the kernel at their exit; "
	     "audited=\"false\" includes those made before the hook armed.");
	for (unsigned s = 0; s < PYSEC_SLOT_MAX; s++) {
		unsigned long long yes = m->sys[s][PYSEC_V_AUDITED];
		unsigned long long no = m->sys[s][PYSEC_V_UNAUDITED] + m->sys[s][PYSEC_V_UNHOOKED];

		fprintf(f, "pysectrace_syscalls_total{syscall=\"%s\",audited=\"true\"} %llu\n",
			sys_names[s], yes);
		fprintf(f, "pysectrace_syscalls_total{syscall=\"%s\",audited=\"false\"} %llu\n",
			sys_names[s], no);
	}
	head(f, "pysectrace_alerts_total", "counter",
	     "Alert records produced (before rate limiting), by kind and the rule that judged it.");
	for (unsigned k = 0; k < pysec_metric_nkinds; k++)
		for (unsigned r = 0; r < pysec_metric_nrules; r++)
			fprintf(f, "pysectrace_alerts_total{kind=\"%s\",rule=\"%s\"} %llu\n",
				pysec_metric_kinds[k], pysec_metric_rules[r],
				(unsigned long long)m->alerts[k][r]);
	head(f, "pysectrace_events_lost_total", "counter",
	     "Events lost or not judged, by the stage where (kernel tables and ring buffer, "
	     "every user-space hop).");
	for (unsigned i = 0; i < pysec_metric_nstages; i++)
		fprintf(f, "pysectrace_events_lost_total{stage=\"%s\"} %llu\n",
			pysec_metric_stages[i], (unsigned long long)m->lost[i]);
	head(f, "pysectrace_table_evictions_total", "counter",
	     "Entries evicted from a bounded user-space table (least recently used first).");
	for (unsigned i = 0; i < pysec_metric_ntables; i++)
		fprintf(f, "pysectrace_table_evictions_total{table=\"%s\"} %llu\n",
			pysec_metric_tables[i], (unsigned long long)m->evictions[i]);
	head(f, "pysectrace_tracked_processes", "gauge",
	     "Processes in the kernel's table of traced processes.");
	fprintf(f, "pysectrace_tracked_processes %llu\n", (unsigned long long)m->tracked);
	head(f, "pysectrace_classifier_processes", "gauge",
	     "Processes whose context the classifier holds.");
	fprintf(f, "pysectrace_classifier_processes %llu\n",
		(unsigned long long)m->classifier_procs);
	head(f, "pysectrace_hook_copies", "gauge",
	     "Copies (inodes) of the hook library the probe is attached to.");
	fprintf(f, "pysectrace_hook_copies %llu\n", (unsigned long long)m->hook_copies);
	head(f, "pysectrace_ringbuf_bytes", "gauge",
	     "Bytes in the kernel ring buffer not read yet.");
	fprintf(f, "pysectrace_ringbuf_bytes %llu\n", (unsigned long long)m->ringbuf_bytes);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	if (len)
		*len = n;
	return buf;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	struct pysec_metrics *m = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;
	const char *type = "text/plain; version=0.0.4; charset=utf-8";
	char *body = NULL;
	size_t len = 0;

	(void)version, (void)upload, (void)upload_len, (void)state;
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (!strcmp(url, "/metrics")) {
		body = pysec_metrics_render(m, &len);
		m->scrapes++;
		if (!body)
			status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	} else if (strcmp(url, "/")) {
		status = MHD_HTTP_NOT_FOUND;
	}
	if (!body) {
		const char *msg = status == MHD_HTTP_OK ? "pysectrace monitor: see /metrics\n"
				  : status == MHD_HTTP_NOT_FOUND ? "not found: see /metrics\n"
				  : status == MHD_HTTP_METHOD_NOT_ALLOWED ? "only GET\n"
									  : "out of memory\n";

		body = strdup(msg);
		len = body ? strlen(body) : 0;
	}
	resp = MHD_create_response_from_buffer(
	    len, body ? body : (void *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* "ADDR:PORT", "[V6]:PORT" or "PORT" into a socket address; 0 or -1. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[64] = "127.0.0.1";
	const char *colon = strrchr(s, ':'), *p = colon ? colon + 1 : s;
	char *end;
	long port = strtol(p, &end, 10);

	if (!*p || *end || port < 1 || port > 65535)
		return -1;
	if (colon) {
		size_t n = (size_t)(colon - s);

		if (n >= 2 && s[0] == '[' && s[n - 1] == ']')
			s++, n -= 2;
		if (!n || n >= sizeof(host))
			return -1;
		memcpy(host, s, n);
		host[n] = 0;
	}
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*sl = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*in6);
		return 0;
	}
	return -1;
}

int pysec_metrics_serve(struct pysec_metrics *m, const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned flags = 0;

	if (parse_listen(addr, &ss, &sl) < 0) {
		pysec_err("--metrics: '%s' is not ADDR:PORT (an IPv4 or [IPv6] address and a port "
			  "1-65535)",
			  addr);
		return -1;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->httpd = MHD_start_daemon(flags, ntohs(((struct sockaddr_in *)&ss)->sin_port), NULL, NULL,
				    answer, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				    MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT,
				    10u, MHD_OPTION_END);
	if (!m->httpd) {
		pysec_err("--metrics: cannot listen on %s (address in use, or not local?)", addr);
		return -1;
	}
	return 0;
}

void pysec_metrics_run(struct pysec_metrics *m)
{
	if (m->httpd)
		MHD_run(m->httpd);
}

void pysec_metrics_stop(struct pysec_metrics *m)
{
	if (m->httpd)
		MHD_stop_daemon(m->httpd);
	m->httpd = NULL;
}
