// SPDX-License-Identifier: MIT
/* logsink.c — rotated JSON-lines file, syslog, rate-limited output (see logsink.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "classify.h"
#include "cli.h"
#include "logsink.h"
#include "metrics.h"

static int open_append(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* src → dst.gz (gzip, zlib), then src removed; 0 or -1. */
static int gzip_file(const char *src, const char *dst)
{
	char buf[65536];
	ssize_t n;
	int in = open(src, O_RDONLY | O_CLOEXEC), ok = 0;
	gzFile gz;

	if (in < 0)
		return -1;
	gz = gzopen(dst, "wb6");
	if (!gz) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (gzwrite(gz, buf, (unsigned)n) != (int)n)
			break;
	ok = n == 0;
	close(in);
	if (gzclose(gz) != Z_OK)
		ok = 0;
	if (!ok) {
		unlink(dst);
		return -1;
	}
	return unlink(src);
}

static void rotated_name(const struct pysec_rotfile *rf, unsigned i, int gz, char *out, size_t len)
{
	snprintf(out, len, "%s.%u%s", rf->path, i, gz ? ".gz" : "");
}

/* path.N-1 → path.N ... path → path.1 (→ path.1.gz); the oldest goes. */
static void rotate(struct pysec_rotfile *rf)
{
	char from[4200], to[4200];

	close(rf->fd);
	rf->fd = -1;
	rotated_name(rf, rf->keep, rf->compress, to, sizeof(to));
	unlink(to);
	for (unsigned i = rf->keep; i-- > 1;) {
		rotated_name(rf, i, rf->compress, from, sizeof(from));
		rotated_name(rf, i + 1, rf->compress, to, sizeof(to));
		rename(from, to);
	}
	rotated_name(rf, 1, 0, to, sizeof(to));
	if (rename(rf->path, to) == 0 && rf->compress) {
		rotated_name(rf, 1, 1, from, sizeof(from));
		if (gzip_file(to, from) != 0)
			pysec_err("warning: cannot compress %s: %s (kept uncompressed)", to,
				  strerror(errno));
	}
	rf->fd = open_append(rf->path);
	rf->size = 0;
	rf->rotations++;
}

static ssize_t rotfile_write(void *cookie, const char *buf, size_t len)
{
	struct pysec_rotfile *rf = cookie;
	size_t done = 0;

	if (rf->max_size && rf->keep && rf->size && rf->at_line_start &&
	    rf->size + len > rf->max_size)
		rotate(rf);
	while (done < len) {
		ssize_t n = rf->fd >= 0 ? write(rf->fd, buf + done, len - done) : -1;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* a full disk must not stop the monitor: count the lines and go on */
			for (size_t i = done; i < len; i++)
				rf->lost_lines += buf[i] == '\n';
			break;
		}
		done += (size_t)n;
	}
	rf->size += done;
	if (len)
		rf->at_line_start = buf[len - 1] == '\n';
	return (ssize_t)len;
}

static int rotfile_close(void *cookie)
{
	struct pysec_rotfile *rf = cookie;

	if (rf->fd >= 0)
		close(rf->fd);
	rf->fd = -1;
	return 0;
}

FILE *pysec_rotfile_open(struct pysec_rotfile *rf, const char *path, uint64_t max_size,
			 unsigned keep, int compress)
{
	cookie_io_functions_t io = {.write = rotfile_write, .close = rotfile_close};
	struct stat st;
	FILE *f;

	memset(rf, 0, sizeof(*rf));
	if (strlen(path) >= sizeof(rf->path) - 32) {
		pysec_err("output path too long: %.64s...", path);
		return NULL;
	}
	snprintf(rf->path, sizeof(rf->path), "%s", path);
	rf->max_size = max_size;
	rf->keep = keep;
	rf->compress = compress;
	rf->at_line_start = 1;
	rf->fd = open_append(path);
	if (rf->fd < 0) {
		pysec_err("cannot write %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(rf->fd, &st) == 0)
		rf->size = (uint64_t)st.st_size;
	f = fopencookie(rf, "w", io);
	if (!f) {
		close(rf->fd);
		pysec_err("cannot write %s: %s", path, strerror(errno));
		return NULL;
	}
	setvbuf(f, NULL, _IOLBF, 1 << 16);
	return f;
}

int pysec_rotfile_reopen(struct pysec_rotfile *rf)
{
	int fd = open_append(rf->path);
	struct stat st;

	if (fd < 0)
		return -1;
	if (rf->fd >= 0)
		close(rf->fd);
	rf->fd = fd;
	rf->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	rf->at_line_start = 1;
	return 0;
}

static ssize_t syslog_write(void *cookie, const char *buf, size_t len)
{
	int *prio = cookie;
	size_t start = 0;

	/* line-buffered: one record a call; a longer record arrives cut and is logged in parts */
	for (size_t i = 0; i <= len; i++) {
		if (i == len || buf[i] == '\n') {
			if (i > start)
				syslog(*prio, "%.*s", (int)(i - start), buf + start);
			start = i + 1;
		}
	}
	return (ssize_t)len;
}

FILE *pysec_syslog_open(int *priority)
{
	cookie_io_functions_t io = {.write = syslog_write};
	FILE *f;

	openlog("pysectrace", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	*priority = LOG_INFO;
	f = fopencookie(priority, "w", io);
	if (f)
		setvbuf(f, NULL, _IOLBF, 1 << 16);
	else
		pysec_err("cannot open syslog output: %s", strerror(errno));
	return f;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void set_prio(struct pysec_output *o, int prio)
{
	for (unsigned i = 0; i < o->nem; i++)
		if (o->syslog_prio[i])
			*o->syslog_prio[i] = prio;
}

static void out_record(void *ctx, const void *data, size_t size, const char *explained)
{
	struct pysec_output *o = ctx;
	const struct pysec_hdr *h = data;
	int shown = 0;

	for (unsigned i = 0; i < o->nem; i++)
		shown |= pysec_emit_shows(o->em[i], data, size);
	if (!shown ||
	    !pysec_ratelimit_allow(&o->rl, h->pid, pysec_record_kind(data, size), mono_ns()))
		return;
	set_prio(o, LOG_INFO);
	for (unsigned i = 0; i < o->nem; i++)
		pysec_emit_record(o->em[i], data, size, explained);
}

static void out_alert(void *ctx, const struct pysec_alert *a)
{
	struct pysec_output *o = ctx;
	const struct pysec_hdr *h = a->hdr ? a->hdr : &a->sys->h;

	if (!pysec_ratelimit_allow(&o->rl, h->pid, a->kind, mono_ns()))
		return;
	set_prio(o, LOG_WARNING);
	for (unsigned i = 0; i < o->nem; i++)
		pysec_emit_alert(o->em[i], a);
}

static void out_lost(void *ctx, const char *stage, uint64_t n)
{
	struct pysec_output *o = ctx;

	set_prio(o, LOG_ERR);
	for (unsigned i = 0; i < o->nem; i++)
		pysec_emit_lost(o->em[i], stage, n);
}

static void on_rate_limited(void *ctx, uint32_t pid, const char *kind, uint64_t dropped)
{
	struct pysec_output *o = ctx;

	set_prio(o, LOG_WARNING);
	for (unsigned i = 0; i < o->nem; i++)
		pysec_emit_rate_limited(o->em[i], pid, kind, dropped);
	if (o->metrics)
		pysec_metrics_count_lost(o->metrics, "rate_limit", dropped);
}

int pysec_output_init(struct pysec_output *o, double rate, double burst,
		      struct pysec_metrics *metrics)
{
	memset(o, 0, sizeof(*o));
	o->metrics = metrics;
	return pysec_ratelimit_init(&o->rl, rate, burst, PYSEC_RL_MAX_KEYS_DEFAULT, on_rate_limited,
				    o);
}

void pysec_output_add_emitter(struct pysec_output *o, struct pysec_emitter *em, int *syslog_prio)
{
	if (o->nem >= PYSEC_OUTPUT_MAX)
		return;
	o->syslog_prio[o->nem] = syslog_prio;
	o->em[o->nem++] = em;
}

int pysec_output_add_sink(struct pysec_output *o, struct pysec_pipeline *p)
{
	struct pysec_sink s = {
	    .record = out_record, .alert = out_alert, .lost = out_lost, .ctx = o};

	return pysec_pipeline_add(p, &s);
}

void pysec_output_sweep(struct pysec_output *o)
{
	pysec_ratelimit_sweep(&o->rl, mono_ns());
	if (o->metrics)
		o->metrics->evictions[PYSEC_TABLE_RATE_LIMIT] = o->rl.evictions;
}

void pysec_output_free(struct pysec_output *o)
{
	pysec_output_sweep(o);
	pysec_ratelimit_free(&o->rl);
}
