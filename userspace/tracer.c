// SPDX-License-Identifier: MIT
/* tracer.c — the live BPF source (see tracer.h). */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cli.h"
#include "pysectrace.h"
#include "pysectrace.skel.h"
#include "stockprobe.h"
#include "kenforce.h"
#include "tracer.h"

int pysec_check_host(const char *verb)
{
	if (geteuid() != 0) {
		pysec_err("%s needs root (to load BPF programs): try sudo pysectrace %s ...", verb,
			  verb);
		return -1;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		pysec_err("this kernel has no BTF (/sys/kernel/btf/vmlinux missing): a kernel "
			  "built with CONFIG_DEBUG_INFO_BTF=y is needed");
		return -1;
	}
	return 0;
}

/*
 * The extension-module form (pysechook.abi3.so) carries its own copy of the
 * probe; attach to the one installed beside the hook library so that a
 * descendant that drops LD_PRELOAD and imports pysechook is still seen.
 */
static void attach_module_copy(struct pysec_tracer *t)
{
	char path[PATH_MAX];
	const char *slash = strrchr(t->hook_lib, '/');

	if (!slash || snprintf(path, sizeof(path), "%.*s/pysechook.abi3.so",
			       (int)(slash - t->hook_lib), t->hook_lib) >= (int)sizeof(path) ||
	    access(path, R_OK) != 0)
		return;
	t->module_link = bpf_program__attach_usdt(t->skel->progs.usdt__audit, -1, path,
						  PYSEC_USDT_PROVIDER, PYSEC_USDT_NAME, NULL);
	if (!t->module_link)
		pysec_err("warning: cannot attach to %s (import pysechook will not be seen): %s",
			  path, strerror(errno));
}

/*
 * A private copy of the hook library for this run: a uprobe on the shared
 * file would fire in every process on the host that preloads it, each one
 * paying the trap on every audit event for as long as this run lasts.  The
 * copy goes next to the original (where it is known to be executable),
 * else /tmp; unlinked at exit, processes that map it keep it.
 */
static int private_hook_copy(const char *hook_lib, char *out, size_t len)
{
	const char *slash = strrchr(hook_lib, '/');
	char buf[65536];
	int in, fd = -1;
	ssize_t n;

	for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
		if (attempt == 0 && slash)
			snprintf(out, len, "%.*s/.pysectrace-run-%d.so", (int)(slash - hook_lib),
				 hook_lib, (int)getpid());
		else
			snprintf(out, len, "/tmp/.pysectrace-run-%d.so", (int)getpid());
		unlink(out);
		fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	}
	in = open(hook_lib, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || in < 0)
		goto fail;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			goto fail;
	if (n < 0 || fchmod(fd, 0644) != 0)
		goto fail;
	close(in);
	close(fd);
	return 0;
fail:
	if (in >= 0)
		close(in);
	if (fd >= 0) {
		close(fd);
		unlink(out);
	}
	out[0] = 0;
	return -1;
}

static int on_rb_record(void *ctx, void *data, size_t size)
{
	pysec_pipeline_record(ctx, data, size);
	return 0;
}

const char *pysec_tracer_preload(const struct pysec_tracer *t)
{
	return t->copy[0] ? t->copy : t->hook_lib;
}

/* The hook's copies: libpysechook*.so (preload) and pysechook*.so (module). */
static int is_hook_name(const char *path)
{
	const char *b = strrchr(path, '/');

	b = b ? b + 1 : path;
	if (!strncmp(b, "libpysechook", 12) || !strncmp(b, "pysechook", 9))
		return strstr(b, ".so") != NULL;
	return 0;
}

static struct pysec_hook_inode *hook_find(struct pysec_tracer *t, unsigned long dev,
					  unsigned long ino)
{
	for (unsigned i = 0; i < t->nhooks; i++)
		if (t->hooks[i].dev == dev && t->hooks[i].ino == ino)
			return &t->hooks[i];
	return NULL;
}

/* Attach for all pids to the file at path (dev/ino as identified); 0 or -1. */
static int hook_attach(struct pysec_tracer *t, const char *path, unsigned long dev,
		       unsigned long ino, const char *shown)
{
	struct pysec_hook_inode *h;

	if (hook_find(t, dev, ino))
		return 0;
	if (t->nhooks >= PYSEC_MAX_HOOK_INODES) {
		if (!t->hooks_full++)
			pysec_err("warning: more than %d copies of the hook are mapped: %s and "
				  "later ones are not watched", PYSEC_MAX_HOOK_INODES, shown);
		return -1;
	}
	h = &t->hooks[t->nhooks++];
	h->dev = dev;
	h->ino = ino;
	h->link = bpf_program__attach_usdt(t->skel->progs.usdt__audit, -1, path,
					   PYSEC_USDT_PROVIDER, PYSEC_USDT_NAME, NULL);
	if (!h->link) {
		pysec_err("warning: cannot attach to the probe in %s (inode %lu): %s", shown, ino,
			  strerror(errno));
		return -1;
	}
	return 1;
}

static int hook_attach_path(struct pysec_tracer *t, const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return -1;
	return hook_attach(t, path, makedev(major(st.st_dev), minor(st.st_dev)), st.st_ino, path);
}

/* One /proc/PID/maps: attach to the hook copies it maps. */
static int scan_maps(struct pysec_tracer *t, const char *pid)
{
	char path[64], line[PATH_MAX + 128], via[128];
	unsigned long start, end, off, ino;
	unsigned maj, mnr;
	int added = 0, name_at;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *name, *nl;

		if (!strstr(line, "pysechook"))
			continue;
		if (sscanf(line, "%lx-%lx %*s %lx %x:%x %lu %n", &start, &end, &off, &maj, &mnr,
			   &ino, &name_at) < 6 || !ino)
			continue;
		name = line + name_at;
		if ((nl = strchr(name, '\n')))
			*nl = 0;
		if (!is_hook_name(name) || hook_find(t, makedev(maj, mnr), ino))
			continue;
		/* the mapping itself: the file this process runs, even replaced or deleted */
		snprintf(via, sizeof(via), "/proc/%s/map_files/%lx-%lx", pid, start, end);
		if (hook_attach(t, via, makedev(maj, mnr), ino, name) > 0)
			added++;
	}
	fclose(f);
	return added;
}

int pysec_tracer_scan_hooks(struct pysec_tracer *t)
{
	struct dirent *d;
	int added = 0;
	DIR *dir;

	if (!t->skel)
		return 0;
	dir = opendir("/proc");
	if (!dir)
		return 0;
	while ((d = readdir(dir)))
		if (d->d_name[0] >= '1' && d->d_name[0] <= '9')
			added += scan_maps(t, d->d_name);
	closedir(dir);
	return added;
}

/* The ring buffer's positions, mapped read-only to measure its backlog. */
static void map_ringbuf_pages(struct pysec_tracer *t)
{
	int fd = bpf_map__fd(t->skel->maps.events);

	t->page_size = (unsigned long)sysconf(_SC_PAGESIZE);
	for (int i = 0; i < 2; i++) {
		t->rb_pages[i] = mmap(NULL, t->page_size, PROT_READ, MAP_SHARED, fd,
				      (off_t)(i * t->page_size));
		if (t->rb_pages[i] == MAP_FAILED)
			t->rb_pages[i] = NULL;
	}
}

uint64_t pysec_tracer_ringbuf_bytes(const struct pysec_tracer *t)
{
	if (!t->rb_pages[0] || !t->rb_pages[1])
		return 0;
	uint64_t cons = __atomic_load_n((const uint64_t *)t->rb_pages[0], __ATOMIC_ACQUIRE);
	uint64_t prod = __atomic_load_n((const uint64_t *)t->rb_pages[1], __ATOMIC_ACQUIRE);

	return prod > cons ? prod - cons : 0;
}

unsigned pysec_tracer_tracked(const struct pysec_tracer *t)
{
	__u32 key, next;
	unsigned n = 0;
	int fd;

	if (!t->skel)
		return 0;
	fd = bpf_map__fd(t->skel->maps.tracked);
	for (int err = bpf_map_get_next_key(fd, NULL, &next); !err && n < 1u << 20;
	     err = bpf_map_get_next_key(fd, &key, &next)) {
		key = next;
		n++;
	}
	return n;
}

const uint64_t *pysec_tracer_sys_counts(const struct pysec_tracer *t)
{
	return t->skel ? (const uint64_t *)t->skel->bss->sys_counts : NULL;
}

/* Monitor: the given hook, the module beside it, and every copy mapped now. */
static int open_monitor(struct pysec_tracer *t)
{
	char path[PATH_MAX];
	const char *slash = strrchr(t->hook_lib, '/');

	if (hook_attach_path(t, t->hook_lib) < 0) {
		pysec_err("cannot attach to the USDT probe %s:%s in %s (is it a libpysechook.so "
			  "from this version?)", PYSEC_USDT_PROVIDER, PYSEC_USDT_NAME, t->hook_lib);
		return -1;
	}
	if (slash && snprintf(path, sizeof(path), "%.*s/pysechook.abi3.so",
			      (int)(slash - t->hook_lib), t->hook_lib) < (int)sizeof(path) &&
	    access(path, R_OK) == 0)
		hook_attach_path(t, path);
	pysec_tracer_scan_hooks(t);
	map_ringbuf_pages(t);
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_rb_record, t->pl, NULL);
	if (!t->rb) {
		pysec_err("cannot create the ring buffer reader: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int pysec_tracer_open(struct pysec_tracer *t, const struct pysec_tracer_opts *o,
		      struct pysec_pipeline *pl)
{
	struct bpf_link *link;
	int err;

	memset(t, 0, sizeof(*t));
	t->pl = pl;
	t->monitor = o->monitor;
	pysec_libbpf_quiet(o->verbose);
	if (!o->no_hook && pysec_find_hook_lib(o->hook_lib, t->hook_lib, sizeof(t->hook_lib)) < 0)
		return -1;
	if (!o->no_hook && !t->monitor &&
	    private_hook_copy(t->hook_lib, t->copy, sizeof(t->copy)) < 0)
		pysec_err("warning: cannot make a private copy of %s (%s): every process on this "
			  "host that preloads it pays for the probe while this run lasts",
			  t->hook_lib, strerror(errno));
	t->skel = pysectrace_bpf__open();
	if (!t->skel) {
		pysec_err("cannot open the BPF object: %s", strerror(errno));
		return -1;
	}
	t->skel->rodata->emit_audited = o->show_all;
	t->skel->rodata->fork_unhooked = o->fork_unhooked;
	t->skel->rodata->enforce = o->enforce;
	if (!o->enforce) /* the cgroup programs exist only for enforcement */
		pysec_kenforce_autoload(t->skel, false);
	t->skel->rodata->track_on_audit = o->monitor;
	err = pysectrace_bpf__load(t->skel);
	if (err) {
		pysec_err("the kernel refused the BPF programs (%s); run with -v for the "
			  "verifier log, `pysectrace probe` for what this host supports",
			  strerror(-err));
		return -1;
	}
	err = pysectrace_bpf__attach(t->skel);
	if (err) {
		pysec_err("cannot attach the process-tracking tracepoints: %s", strerror(-err));
		return -1;
	}
	if (o->no_hook)
		goto ringbuf;
	if (t->monitor)
		return open_monitor(t);
	link = bpf_program__attach_usdt(t->skel->progs.usdt__audit, -1, pysec_tracer_preload(t),
					PYSEC_USDT_PROVIDER, PYSEC_USDT_NAME, NULL);
	if (!link) {
		pysec_err("cannot attach to the USDT probe %s:%s in %s: %s (is it a "
			  "libpysechook.so from this version?)",
			  PYSEC_USDT_PROVIDER, PYSEC_USDT_NAME, pysec_tracer_preload(t),
			  strerror(errno));
		return -1;
	}
	t->skel->links.usdt__audit = link; /* destroyed with the skeleton */
	attach_module_copy(t);
ringbuf:
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_rb_record, pl, NULL);
	if (!t->rb) {
		pysec_err("cannot create the ring buffer reader: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int pysec_tracer_track(struct pysec_tracer *t, pid_t pid, pid_t ppid)
{
	struct pysec_tracked v = { .ppid = (__u32)ppid };
	__u32 key = (__u32)pid;

	if (bpf_map__update_elem(t->skel->maps.tracked, &key, sizeof(key), &v, sizeof(v),
				 BPF_ANY) != 0) {
		pysec_err("cannot track pid %d: %s", pid, strerror(errno));
		return -1;
	}
	return 0;
}

int pysec_tracer_track_running(struct pysec_tracer *t, pid_t pid, pid_t ppid, int hooked)
{
	struct pysec_tracked v = { .ppid = (__u32)ppid, .hooked = hooked ? 1 : 0 };
	__u32 key = (__u32)pid;

	if (bpf_map__update_elem(t->skel->maps.tracked, &key, sizeof(key), &v, sizeof(v),
				 BPF_ANY) != 0) {
		pysec_err("cannot track pid %d: %s", pid, strerror(errno));
		return -1;
	}
	return 0;
}

static int attach_usdt_prog(struct pysec_tracer *t, struct bpf_program *prog, const char *path,
			    pid_t pid, const char *provider, const char *name)
{
	struct bpf_link *l;

	if (t->nlinks >= PYSEC_TRACER_LINKS) {
		pysec_err("cannot attach to %s: too many probes attached", path);
		return -1;
	}
	l = bpf_program__attach_usdt(prog, pid, path, provider, name, NULL);
	if (!l) {
		pysec_err("cannot attach to the USDT probe %s:%s in %s: %s", provider, name, path,
			  strerror(errno));
		return -1;
	}
	t->links[t->nlinks++] = l;
	return 0;
}

int pysec_tracer_attach_hook(struct pysec_tracer *t, const char *path, pid_t pid)
{
	return attach_usdt_prog(t, t->skel->progs.usdt__audit, path, pid, PYSEC_USDT_PROVIDER,
				PYSEC_USDT_NAME);
}

int pysec_tracer_attach_stock(struct pysec_tracer *t, const char *path, pid_t pid)
{
	return attach_usdt_prog(t, t->skel->progs.usdt__stock_audit, path, pid,
				PYSEC_STOCK_PROVIDER, PYSEC_STOCK_NAME);
}

int pysec_tracer_renew(struct pysec_tracer *t, unsigned idx, const char *path, int stock)
{
	struct bpf_link *l;

	if (idx >= t->nlinks)
		return -1;
	/* the new consumer first: the breakpoints never leave the other processes */
	l = bpf_program__attach_usdt(stock ? t->skel->progs.usdt__stock_audit
					   : t->skel->progs.usdt__audit,
				     -1, path, stock ? PYSEC_STOCK_PROVIDER : PYSEC_USDT_PROVIDER,
				     stock ? PYSEC_STOCK_NAME : PYSEC_USDT_NAME, NULL);
	if (!l)
		return -1;
	bpf_link__destroy(t->links[idx]);
	t->links[idx] = l;
	return 0;
}

int pysec_tracer_add_runtime(struct pysec_tracer *t, const char *path, const char *name,
			     unsigned long long dev, unsigned long long ino, char *why,
			     size_t whylen)
{
	struct pysec_stock_cfg cfg;
	struct pysec_stock_key key = { .dev = dev, .ino = ino };

	if (pysec_stock_runtime(path, name, &cfg, why, whylen) < 0)
		return -1;
	if (bpf_map__update_elem(t->skel->maps.stock_cfgs, &key, sizeof(key), &cfg, sizeof(cfg),
				 BPF_ANY) != 0) {
		snprintf(why, whylen, "cannot store the layout of %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int pysec_tracer_poll(struct pysec_tracer *t, int timeout_ms)
{
	/* the kernel side batches wakeups: this timer is the reader's pace */
	int err = ring_buffer__poll(t->rb, timeout_ms);

	if (err >= 0 || err == -EINTR)
		err = ring_buffer__consume(t->rb); /* epoll saw no wakeup: read anyway */
	/* audit records shed under backlog leave seq gaps too: not a broken bridge */
	if (t->skel->bss->counters[PYSEC_CNT_RB_LOST] ||
	    t->skel->bss->counters[PYSEC_CNT_SHED_AUDIT])
		pysec_classifier_kernel_lost(t->pl->cls);
	return err < 0 && err != -EINTR ? err : 0;
}

int pysec_tracer_kernel_lost(const struct pysec_tracer *t)
{
	return t->skel && t->skel->bss->counters[PYSEC_CNT_RB_LOST] != 0;
}

/* Nothing is dropped silently: every kernel-side loss is reported (once). */
void pysec_tracer_report_losses(struct pysec_tracer *t)
{
	static const struct {
		int idx;
		const char *stage;
	} losses[] = {
	    {PYSEC_CNT_RB_LOST, "kernel_ringbuf"},	/* ring buffer full */
	    {PYSEC_CNT_TRACKED_FULL, "kernel_tracked"}, /* processes not followed */
	    {PYSEC_CNT_PENDING_FULL, "kernel_pending"}, /* syscalls not followed */
	    {PYSEC_CNT_TOKENS_FULL, "kernel_tokens"},	/* audit tokens not stored */
	    {PYSEC_CNT_STOP_LOST, "kernel_enforce_stop"}, /* enforce: not stopped */
	    /* shed under backlog: context only, the kernel still judged them */
	    {PYSEC_CNT_SHED_AUDIT, "kernel_shed"},
	    {PYSEC_CNT_SHED_SYSCALL, "kernel_shed_syscall"},
	};
	const __u64 *counters;

	uint64_t audit;

	if (!t->skel)
		return;
	counters = t->skel->bss->counters;
	for (size_t i = 0; i < sizeof(losses) / sizeof(losses[0]); i++) {
		int idx = losses[i].idx;
		__u64 now = __atomic_load_n(&counters[idx], __ATOMIC_RELAXED);
		__u64 n = now - t->lost_reported[idx];

		if (!n)
			continue;
		t->lost_reported[idx] = now;
		pysec_pipeline_lost(t->pl, losses[i].stage, n);
	}
	/* the audit records among them, for the hook's seq-number cross-check */
	audit = counters[PYSEC_CNT_RB_LOST_AUDIT] + counters[PYSEC_CNT_SHED_AUDIT];
	pysec_pipeline_audit_lost(t->pl, audit - t->audit_lost_reported);
	t->audit_lost_reported = audit;
}

uint64_t pysec_tracer_finish(struct pysec_tracer *t)
{
	ring_buffer__consume(t->rb);
	pysec_tracer_report_losses(t);
	return pysec_pipeline_finish(t->pl);
}

void pysec_tracer_close(struct pysec_tracer *t)
{
	if (t->copy[0])
		unlink(t->copy);
	t->copy[0] = 0;
	ring_buffer__free(t->rb);
	t->rb = NULL;
	bpf_link__destroy(t->module_link);
	t->module_link = NULL;
	for (unsigned i = 0; i < t->nlinks; i++)
		bpf_link__destroy(t->links[i]);
	t->nlinks = 0;
	for (unsigned i = 0; i < t->nhooks; i++)
		bpf_link__destroy(t->hooks[i].link);
	t->nhooks = 0;
	for (int i = 0; i < 2; i++)
		if (t->rb_pages[i])
			munmap(t->rb_pages[i], t->page_size);
	t->rb_pages[0] = t->rb_pages[1] = NULL;
	pysectrace_bpf__destroy(t->skel);
	t->skel = NULL;
}
