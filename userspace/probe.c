// SPDX-License-Identifier: MIT
/*
 * probe.c — `pysectrace probe`: what this host offers and what pysectrace
 * will fall back to.
 *
 * Every check is read-only or undone before it returns: programs are loaded
 * from in-memory "r0 = 0; exit" instruction arrays, attached for a moment
 * where attaching is the only honest test, and closed.  A check that needs
 * privileges we lack says so ("not checked") instead of guessing "no".
 * The checks fill plain structs; one emitter writes them as text, another
 * as JSON, so both outputs always say the same thing.
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <getopt.h>
#include <glob.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#ifndef __NR_lsm_list_modules
#define __NR_lsm_list_modules 461 /* 6.8+, same number on every arch */
#endif
#define LSM_ID_BPF 109 /* include/uapi/linux/lsm.h */
#define NT_STAPSDT 3
#ifndef ENOTSUPP
#define ENOTSUPP 524 /* kernel-internal, but BPF attach paths leak it */
#endif

#define CAP_BIT_SYS_ADMIN 21
#define CAP_BIT_PERFMON	  38
#define CAP_BIT_BPF	  39

#define UPROBE_PMU  "/sys/bus/event_source/devices/uprobe"
#define KPROBE_PMU  "/sys/bus/event_source/devices/kprobe"
#define VMLINUX_BTF "/sys/kernel/btf/vmlinux"
#define MAX_PYTHONS 256

enum tri { T_UNKNOWN = -1, T_NO = 0, T_YES = 1 };

enum check_id {
	C_BTF,
	C_PRIV,
	C_RINGBUF,
	C_RAW_TP,
	C_TP_BTF,
	C_UPROBE,
	C_USDT_SEM,
	C_UPROBE_OPT,
	C_NOP5_FORK,
	C_FENTRY,
	C_LSM,
	C_SOCK_ADDR,
	C_CGROUP2,
	C_SEND_SIGNAL,
	C_IO_URING,
	C_IA32,
	C_KPROBE,
	C_NR,
};

struct check {
	const char *key;   /* JSON member */
	const char *label; /* text column */
	enum tri avail;
	int err;	/* errno of the step that failed, 0 if none */
	char state[24]; /* one word where yes/no is not enough */
	char detail[320];
};

struct python {
	char path[PATH_MAX]; /* as found */
	char real[PATH_MAX];
	char version[16];
	char abiflags[4];	  /* "m" (<= 3.7 pymalloc), "t" (free-threaded), "d" */
	char libpython[PATH_MAX]; /* resolved path, or the DT_NEEDED name */
	int shared;		  /* links libpython*.so */
	int libpython_found;
	int dynamic;	      /* has PT_INTERP: LD_PRELOAD applies */
	int exports_hook_api; /* PySys_AddAuditHook defined and exported */
	int stock_probe;      /* python:audit in .note.stapsdt */
	int stock_probe_sema;
	int hook_capable;
	char note[160];
	dev_t dev;
	ino_t ino;
};

struct skipped {
	char path[PATH_MAX];
	char reason[96];
};

struct plan_item {
	const char *area;
	char use[200];
	char why[320];
};

struct probe_ctx {
	struct utsname uts;
	int kmajor, kminor;
	uid_t euid;
	uint64_t capeff;
	int have_caps; /* CAP_BPF+CAP_PERFMON or CAP_SYS_ADMIN */
	int unpriv_bpf_disabled, perf_paranoid;
	struct btf *vmlinux;
	struct check c[C_NR];
	struct python *py;
	int npy;
	struct skipped *skip;
	int nskip;
	struct plan_item plan[16];
	int nplan;
	char hook_lib[PATH_MAX];
	int oom;
};

static const struct {
	const char *key, *label;
} check_names[C_NR] = {
    [C_BTF] = {"btf", "kernel BTF"},
    [C_PRIV] = {"privileges", "privileges"},
    [C_RINGBUF] = {"ringbuf", "BPF ring buffer"},
    [C_RAW_TP] = {"raw_tp", "raw tracepoints"},
    [C_TP_BTF] = {"tp_btf", "BTF tracepoints"},
    [C_UPROBE] = {"uprobes", "uprobes"},
    [C_USDT_SEM] = {"usdt_semaphores", "USDT semaphores"},
    [C_UPROBE_OPT] = {"uprobe_optimized", "optimized uprobes"},
    [C_NOP5_FORK] = {"nop5_fork_safe", "nop5 site after fork"},
    [C_FENTRY] = {"fentry", "fentry/fexit"},
    [C_LSM] = {"bpf_lsm", "BPF LSM"},
    [C_SOCK_ADDR] = {"cgroup_sock_addr", "cgroup sock_addr"},
    [C_CGROUP2] = {"cgroup_v2", "cgroup v2 mount"},
    [C_SEND_SIGNAL] = {"send_signal", "bpf_send_signal"},
    [C_IO_URING] = {"io_uring", "io_uring"},
    [C_IA32] = {"ia32_syscalls", "32-bit syscalls"},
    [C_KPROBE] = {"kprobes", "kprobes"},
};

/* "r0 = 0; exit": the smallest program every type's verifier accepts. */
static const struct bpf_insn ret0_insns[] = {
    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
    {.code = BPF_JMP | BPF_EXIT},
};

static void set(struct check *c, enum tri avail, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set(struct check *c, enum tri avail, int err, const char *fmt, ...)
{
	va_list ap;

	c->avail = avail;
	c->err = err;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

/* "EPERM", not "Operation not permitted": what a kernel engineer greps for. */
static const char *errno_name(int err)
{
	static char buf[24];
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	if (err == ENOTSUPP)
		return "ENOTSUPP";
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

/* snprintf for paths: -1 instead of a silently truncated path. */
static int fmt_path(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fmt_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The last path component, without libgen's license to modify the string. */
static const char *leaf(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static int path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* First line of a small file, newline stripped; -errno when unreadable. */
static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int err = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		err = -EIO;
	fclose(f);
	if (!err)
		buf[strcspn(buf, "\n")] = 0;
	return err;
}

static int read_int(const char *path, int dflt)
{
	char buf[32];

	return read_line(path, buf, sizeof(buf)) == 0 ? atoi(buf) : dflt;
}

/* ---- who we are */

static uint64_t read_capeff(void)
{
	char line[256];
	uint64_t v = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %" SCNx64, &v) == 1)
			break;
	fclose(f);
	return v;
}

static int has_cap(const struct probe_ctx *ctx, int bit)
{
	return (ctx->capeff >> bit) & 1;
}

static void probe_identity(struct probe_ctx *ctx)
{
	struct check *c = &ctx->c[C_PRIV];
	int bpf = has_cap(ctx, CAP_BIT_BPF), perfmon = has_cap(ctx, CAP_BIT_PERFMON);
	int admin = has_cap(ctx, CAP_BIT_SYS_ADMIN);

	ctx->have_caps = (bpf && perfmon) || admin;
	ctx->unpriv_bpf_disabled = read_int("/proc/sys/kernel/unprivileged_bpf_disabled", -1);
	ctx->perf_paranoid = read_int("/proc/sys/kernel/perf_event_paranoid", -99);
	set(c, ctx->have_caps ? T_YES : T_NO, 0, "%s (euid %u); effective:%s%s%s%s",
	    ctx->euid == 0 ? "root" : "not root", (unsigned)ctx->euid, bpf ? " CAP_BPF" : "",
	    perfmon ? " CAP_PERFMON" : "", admin ? " CAP_SYS_ADMIN" : "",
	    (bpf || perfmon || admin) ? "" : " none of CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN");
	if (!ctx->have_caps)
		snprintf(c->detail + strlen(c->detail), sizeof(c->detail) - strlen(c->detail),
			 "; tracing needs CAP_BPF+CAP_PERFMON (unprivileged_bpf_disabled=%d, "
			 "perf_event_paranoid=%d)",
			 ctx->unpriv_bpf_disabled, ctx->perf_paranoid);
}

/* Why a privileged check could not run, for the detail column. */
static void set_unchecked(struct probe_ctx *ctx, struct check *c, int err, const char *what)
{
	set(c, T_UNKNOWN, err, "not checked: %s needs CAP_BPF+CAP_PERFMON%s%s%s", what,
	    err ? " (got " : "", err ? errno_name(err) : "", err ? ")" : "");
}

/* ---- kernel */

static void probe_kernel(struct probe_ctx *ctx)
{
	if (uname(&ctx->uts) != 0)
		memset(&ctx->uts, 0, sizeof(ctx->uts));
	if (sscanf(ctx->uts.release, "%d.%d", &ctx->kmajor, &ctx->kminor) != 2)
		ctx->kmajor = ctx->kminor = 0;
}

static int kernel_at_least(const struct probe_ctx *ctx, int major, int minor)
{
	return ctx->kmajor > major || (ctx->kmajor == major && ctx->kminor >= minor);
}

static void probe_btf(struct probe_ctx *ctx)
{
	struct check *c = &ctx->c[C_BTF];
	struct stat st;
	int err;

	if (stat(VMLINUX_BTF, &st) != 0) {
		set(c, T_NO, errno,
		    "%s missing: kernel built without CONFIG_DEBUG_INFO_BTF, "
		    "CO-RE and tp_btf cannot work",
		    VMLINUX_BTF);
		return;
	}
	ctx->vmlinux = btf__load_vmlinux_btf();
	if (!ctx->vmlinux) {
		err = errno;
		set(c, T_NO, err, "%s present but does not parse (%s)", VMLINUX_BTF,
		    errno_name(err));
		return;
	}
	set(c, T_YES, 0, "%s, %.1f MiB, %u types", VMLINUX_BTF, st.st_size / 1048576.0,
	    btf__type_cnt(ctx->vmlinux));
}

/* ---- BPF feature probes through libbpf */

/*
 * libbpf's probes answer 1 or 0 and hide EPERM inside the 0, so a 0 from
 * an unprivileged caller is "could not check", not "no".
 */
static void judge_libbpf_probe(struct probe_ctx *ctx, struct check *c, int ret, const char *what,
			       const char *yes, const char *no)
{
	if (ret == 1)
		set(c, T_YES, 0, "%s", yes);
	else if (!ctx->have_caps)
		set_unchecked(ctx, c, 0, what);
	else if (ret == 0)
		set(c, T_NO, 0, "%s", no);
	else
		set(c, T_UNKNOWN, -ret, "probe failed: %s", errno_name(-ret));
}

static void probe_ringbuf(struct probe_ctx *ctx)
{
	int ret = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL);

	judge_libbpf_probe(ctx, &ctx->c[C_RINGBUF], ret, "creating a ringbuf map",
			   "BPF_MAP_TYPE_RINGBUF map created",
			   "kernel refuses BPF_MAP_TYPE_RINGBUF (needs 5.8+)");
}

static void probe_raw_tp(struct probe_ctx *ctx)
{
	int ret = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, NULL);

	judge_libbpf_probe(
	    ctx, &ctx->c[C_RAW_TP], ret, "loading a raw_tp program",
	    "BPF_PROG_TYPE_RAW_TRACEPOINT loads (sys_enter/sys_exit without tracefs)",
	    "kernel refuses BPF_PROG_TYPE_RAW_TRACEPOINT (needs 4.17+)");
}

static void probe_sock_addr(struct probe_ctx *ctx)
{
	int ret = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL);

	judge_libbpf_probe(
	    ctx, &ctx->c[C_SOCK_ADDR], ret, "loading a cgroup/connect program",
	    "BPF_PROG_TYPE_CGROUP_SOCK_ADDR loads (connect/sendmsg deny in the kernel)",
	    "kernel refuses BPF_PROG_TYPE_CGROUP_SOCK_ADDR");
}

static void probe_send_signal(struct probe_ctx *ctx)
{
	int ret = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_send_signal, NULL);

	/*
	 * The helper probe greps the verifier log for "unknown func"; a load
	 * refused outright leaves no log and reads as 1.
	 */
	if (!ctx->have_caps)
		ret = 0;
	judge_libbpf_probe(ctx, &ctx->c[C_SEND_SIGNAL], ret, "loading a tracing program",
			   "bpf_send_signal() allowed in tracing programs",
			   "bpf_send_signal() not available (needs 5.3+)");
}

/* ---- BTF-attached programs: tp_btf, fentry, LSM */

/* Last non-empty line of a verifier log: usually the reason. */
static const char *log_reason(char *log)
{
	char *end = log + strlen(log);

	while (end > log && isspace((unsigned char)end[-1]))
		*--end = 0;
	while (end > log && end[-1] != '\n')
		end--;
	return end;
}

/*
 * Load "r0 = 0; exit" as a BTF-attached program on the kernel type or
 * function `target`, then attach it for a moment.  Returns 0, or -errno;
 * *step says which step failed ("btf", "load", "attach").
 */
static int try_btf_prog(struct probe_ctx *ctx, enum bpf_prog_type type, enum bpf_attach_type attach,
			const char *target, int kind, const char **step, char *reason,
			size_t reason_len)
{
	char log[4096] = "";
	struct bpf_prog_load_opts opts = {
	    .sz = sizeof(opts),
	    .expected_attach_type = attach,
	    .log_buf = log,
	    .log_size = sizeof(log),
	};
	int id, fd, link, err;

	*step = "btf";
	reason[0] = 0;
	if (!ctx->vmlinux)
		return -ENOENT;
	id = btf__find_by_name_kind(ctx->vmlinux, target, kind);
	if (id < 0)
		return -ENOENT;
	opts.attach_btf_id = id;
	*step = "load";
	fd = bpf_prog_load(type, "pysec_probe", "GPL", ret0_insns, 2, &opts);
	if (fd < 0) {
		err = errno;
		/* No log at all: a policy refused the program before the verifier saw it. */
		snprintf(reason, reason_len, "%s",
			 log[0] ? log_reason(log)
				: "refused before verification (no verifier log)");
		return -err;
	}
	*step = "attach";
	link = bpf_raw_tracepoint_open(NULL, fd);
	err = link < 0 ? errno : 0;
	if (link >= 0)
		close(link);
	close(fd);
	return -err;
}

static void probe_tp_btf(struct probe_ctx *ctx)
{
	struct check *c = &ctx->c[C_TP_BTF];
	const char *step;
	char reason[160];
	int err;

	err = try_btf_prog(ctx, BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP,
			   "btf_trace_sched_process_exec", BTF_KIND_TYPEDEF, &step, reason,
			   sizeof(reason));
	if (!err)
		set(c, T_YES, 0, "tp_btf/sched_process_exec loaded and attached");
	else if (!ctx->vmlinux)
		set(c, T_NO, ENOENT, "needs kernel BTF");
	else if (!strcmp(step, "btf"))
		set(c, T_NO, -err, "btf_trace_sched_process_exec not in vmlinux BTF");
	else if (!ctx->have_caps)
		set_unchecked(ctx, c, -err, "loading a tp_btf program");
	else
		set(c, T_NO, -err, "%s failed: %s%s%s", step, errno_name(-err),
		    reason[0] ? ": " : "", reason);
}

/* Functions every recent kernel has in BTF and lets trampolines attach to. */
static const char *const fentry_targets[] = {"security_file_open", "vfs_read", "do_unlinkat"};

static void probe_fentry(struct probe_ctx *ctx)
{
	struct check *c = &ctx->c[C_FENTRY];
	const char *step = "btf", *target = NULL;
	char reason[160] = "";
	int err = -ENOENT;

	for (size_t i = 0; i < sizeof(fentry_targets) / sizeof(fentry_targets[0]); i++) {
		target = fentry_targets[i];
		err = try_btf_prog(ctx, BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, target,
				   BTF_KIND_FUNC, &step, reason, sizeof(reason));
		if (strcmp(step, "btf"))
			break; /* the function exists: its answer is the kernel's answer */
	}
	if (!err)
		set(c, T_YES, 0, "fentry/%s loaded and attached", target);
	else if (!ctx->vmlinux || !strcmp(step, "btf"))
		set(c, T_NO, -err, "no attach target in vmlinux BTF");
	else if (!ctx->have_caps)
		set_unchecked(ctx, c, -err, "loading an fentry program");
	else
		set(c, T_NO, -err, "fentry/%s %s failed: %s%s%s", target, step, errno_name(-err),
		    reason[0] ? ": " : "", reason);
}

/* include/uapi/linux/lsm.h (6.8+): LSM_ID_CAPABILITY is 100, then in order. */
static const char *const lsm_names[] = {
    "capability", "selinux",  "smack", "tomoyo",   "apparmor", "yama", "loadpin",
    "safesetid",  "lockdown", "bpf",   "landlock", "ima",      "evm",  "ipe"};

static void lsm_ids_to_names(const uint64_t *ids, long n, char *buf, size_t len)
{
	buf[0] = 0;
	for (long i = 0; i < n; i++) {
		size_t used = strlen(buf);
		uint64_t k = ids[i] - 100;

		if (k < sizeof(lsm_names) / sizeof(lsm_names[0]))
			snprintf(buf + used, len - used, "%s%s", i ? "," : "", lsm_names[k]);
		else
			snprintf(buf + used, len - used, "%sid%llu", i ? "," : "",
				 (unsigned long long)ids[i]);
	}
}

/*
 * Active LSMs, comma-separated: securityfs when mounted, else
 * lsm_list_modules(2), which needs no mount and no privilege.
 */
static int active_lsms(char *buf, size_t len, int *has_bpf)
{
	uint64_t ids[32];
	uint32_t size = sizeof(ids);
	long n;

	*has_bpf = 0;
	if (read_line("/sys/kernel/security/lsm", buf, len) == 0) {
		*has_bpf = strstr(buf, "bpf") != NULL;
		return 0;
	}
	n = syscall(__NR_lsm_list_modules, ids, &size, 0);
	if (n < 0)
		return -errno;
	if (n > 32)
		n = 32;
	lsm_ids_to_names(ids, n, buf, len);
	for (long i = 0; i < n; i++)
		*has_bpf |= ids[i] == LSM_ID_BPF;
	return 0;
}

static void probe_lsm(struct probe_ctx *ctx)
{
	struct check *c = &ctx->c[C_LSM];
	char lsms[256], reason[160];
	const char *step;
	int has_bpf, err;

	err = active_lsms(lsms, sizeof(lsms), &has_bpf);
	if (err) {
		set(c, T_UNKNOWN, -err,
		    "active LSMs unknown: securityfs not mounted and "
		    "lsm_list_modules failed (%s)",
		    errno_name(-err));
		return;
	}
	if (!has_bpf) {
		set(c, T_NO, 0, "bpf not among active LSMs (%s); needs lsm=...,bpf at boot", lsms);
		return;
	}
	/* A program that allows everything, attached for a moment, changes nothing. */
	err = try_btf_prog(ctx, BPF_PROG_TYPE_LSM, BPF_LSM_MAC, "bpf_lsm_file_open", BTF_KIND_FUNC,
			   &step, reason, sizeof(reason));
	if (!err)
		set(c, T_YES, 0, "active LSMs %s; lsm/file_open loaded and attached", lsms);
	else if (!ctx->have_caps)
		set(c, T_UNKNOWN, -err,
		    "active LSMs %s; not checked: loading an LSM program "
		    "needs CAP_BPF+CAP_PERFMON (got %s)",
		    lsms, errno_name(-err));
	else
		set(c, T_NO, -err, "active LSMs %s, but lsm/file_open %s failed: %s%s%s", lsms,
		    step, errno_name(-err), reason[0] ? ": " : "", reason);
}

/* ---- uprobes and USDT */

static void probe_uprobes(struct probe_ctx *ctx)
{
	char type[16];

	if (read_line(UPROBE_PMU "/type", type, sizeof(type)) == 0)
		set(&ctx->c[C_UPROBE], T_YES, 0, "uprobe PMU type %s", type);
	else
		set(&ctx->c[C_UPROBE], T_NO, ENOENT, "%s/type missing: CONFIG_UPROBE_EVENTS off",
		    UPROBE_PMU);
	if (path_exists(UPROBE_PMU "/format/ref_ctr_offset"))
		set(&ctx->c[C_USDT_SEM], T_YES, 0,
		    "uprobe PMU takes ref_ctr_offset: the kernel "
		    "raises USDT semaphores");
	else
		set(&ctx->c[C_USDT_SEM], T_NO, ENOENT,
		    "uprobe PMU has no ref_ctr_offset "
		    "(needs 4.20+): semaphore-gated probes never fire");
}

#if defined(__x86_64__)
/* A probe site shaped like hookmod's: a 5-byte nop, then return. */
__asm__(".pushsection .text.pysec_probe_nop5,\"ax\",@progbits\n"
	".globl pysec_probe_nop5\n"
	".hidden pysec_probe_nop5\n"
	".type pysec_probe_nop5, @function\n"
	"pysec_probe_nop5:\n"
	"	.nops 5\n"
	"	ret\n"
	".size pysec_probe_nop5, .-pysec_probe_nop5\n"
	".popsection\n");
void pysec_probe_nop5(void) __attribute__((visibility("hidden")));

static const unsigned char nop5[5] = {0x0f, 0x1f, 0x44, 0x00, 0x00};

/* File and file offset that back addr, from /proc/self/maps. */
static int addr_to_file(uintptr_t addr, char *path, size_t len, uint64_t *off)
{
	unsigned long start, end, pgoff;
	char line[PATH_MAX + 128], file[PATH_MAX];
	FILE *f = fopen("/proc/self/maps", "re");
	int found = 0;

	if (!f)
		return -errno;
	while (!found && fgets(line, sizeof(line), f)) {
		file[0] = 0;
		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %4095s", &start, &end, &pgoff, file) < 3)
			continue;
		if (addr < start || addr >= end || file[0] != '/')
			continue;
		snprintf(path, len, "%s", file);
		*off = addr - start + pgoff;
		found = 1;
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

static int maps_has(const char *name)
{
	char line[PATH_MAX + 128];
	FILE *f = fopen("/proc/self/maps", "re");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, name) != NULL;
	fclose(f);
	return found;
}

/*
 * A uprobe on pysec_probe_nop5 through the uprobe PMU, with a BPF program
 * so that the consumer is the same kind pysectrace uses.  Returns the
 * perf event fd; *prog_fd gets the program.
 */
static int attach_nop5_uprobe(const char *path, uint64_t off, int *prog_fd)
{
	struct perf_event_attr attr = {.size = sizeof(attr)};
	int pfd, err;

	attr.type = read_int(UPROBE_PMU "/type", -1);
	if ((int)attr.type < 0)
		return -ENOENT;
	attr.config1 = (uintptr_t)path;
	attr.config2 = off;
	*prog_fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "pysec_probe", "GPL", ret0_insns, 2, NULL);
	if (*prog_fd < 0)
		return -errno;
	pfd = syscall(__NR_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0)
		goto fail;
	if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, *prog_fd) == 0 &&
	    ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0) == 0)
		return pfd;
	close(pfd);
fail:
	err = errno;
	close(*prog_fd);
	return -err;
}

static void probe_uprobe_opt(struct probe_ctx *ctx)
{
	struct check *c = &ctx->c[C_UPROBE_OPT];
	int expect = kernel_at_least(ctx, 6, 18);
	unsigned char *site = (unsigned char *)pysec_probe_nop5, after[5];
	void (*volatile call)(void) = pysec_probe_nop5;
	char path[PATH_MAX];
	uint64_t off = 0;
	int pfd, prog_fd, err, tramp;

	strcpy(c->state, "unknown");
	if (memcmp(site, nop5, 5) != 0) {
		set(c, T_UNKNOWN, 0, "probe site is not a 5-byte nop (already probed?)");
		return;
	}
	err = addr_to_file((uintptr_t)site, path, sizeof(path), &off);
	if (err) {
		set(c, T_UNKNOWN, -err, "probe site not file-backed in /proc/self/maps");
		return;
	}
	pfd = attach_nop5_uprobe(path, off, &prog_fd);
	if (pfd < 0) {
		if (!ctx->have_caps)
			set(c, T_UNKNOWN, -pfd,
			    "not checked: attaching a uprobe needs CAP_BPF+"
			    "CAP_PERFMON (got %s); kernel %d.%d %s",
			    errno_name(-pfd), ctx->kmajor, ctx->kminor,
			    expect ? ">= 6.18: expect optimized" : "< 6.18: expect int3 traps");
		else
			set(c, T_UNKNOWN, -pfd, "uprobe attach failed: %s", errno_name(-pfd));
		return;
	}
	for (int i = 0; i < 4; i++)
		call();
	memcpy(after, site, 5);
	tramp = maps_has("[uprobes-trampoline]");
	close(pfd);
	close(prog_fd);
	if (after[0] == 0xe8 || tramp) {
		strcpy(c->state, "optimized");
		set(c, T_YES, 0, "nop5 site became a call (%02x..)%s: ~1.5 us per probe hit",
		    after[0], tramp ? ", [uprobes-trampoline] mapped" : "");
	} else if (after[0] == 0xcc) {
		strcpy(c->state, "int3 trap");
		set(c, T_NO, 0, "nop5 site still an int3 after 4 hits: ~5-6 us per probe hit%s",
		    expect ? " (kernel >= 6.18, yet not optimized)" : " (kernel < 6.18)");
	} else {
		set(c, T_UNKNOWN, 0, "site bytes %02x %02x %02x %02x %02x after 4 hits", after[0],
		    after[1], after[2], after[3], after[4]);
	}
}
/*
 * The fork-after-hit test, in a throwaway process: a private copy of our
 * own binary is mapped, a uprobe (any pid, like libbpf's USDT attach) is
 * put on its nop5 site, the site is hit until the kernel optimizes it,
 * then a forked grandchild hits it too.  On 6.18 the grandchild died of
 * SIGSEGV: that is what keeps hookmod on the 1-byte nop.  The verdict comes
 * back on a pipe as "CODE text".
 */
static void nop5_fork_child(const char *copy, int out)
{
	char self[PATH_MAX], msg[200];
	uint64_t off = 0;
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *map, *site, after[5];
	int in, fd, pfd, prog_fd, status = 0, n;
	pid_t gc;
	ssize_t r;

	alarm(20);
#define NOP5_SAY(code, ...)                                                                        \
	do {                                                                                       \
		n = snprintf(msg, sizeof(msg), "%d ", code);                                       \
		snprintf(msg + n, sizeof(msg) - n, __VA_ARGS__);                                   \
		if (write(out, msg, strlen(msg)) < 0)                                              \
			_exit(9);                                                                  \
		_exit(0);                                                                          \
	} while (0)
	if (addr_to_file((uintptr_t)pysec_probe_nop5, self, sizeof(self), &off) != 0)
		NOP5_SAY(3, "probe site not file-backed");
	in = open(self, O_RDONLY | O_CLOEXEC);
	fd = open(copy, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	if (in < 0 || fd < 0)
		NOP5_SAY(3, "cannot copy %.80s to %.60s: %s", self, copy, strerror(errno));
	while ((r = read(in, msg, sizeof(msg))) > 0)
		if (write(fd, msg, (size_t)r) != r)
			NOP5_SAY(3, "cannot write %s", copy);
	map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd,
		   (off_t)(off & ~(uint64_t)(page - 1)));
	if (map == MAP_FAILED)
		NOP5_SAY(3, "mmap of %s: %s", copy, strerror(errno));
	site = map + (off & (uint64_t)(page - 1));
	if (memcmp(site, nop5, 5) != 0)
		NOP5_SAY(3, "copied site is not a 5-byte nop");
	pfd = attach_nop5_uprobe(copy, off, &prog_fd);
	if (pfd < 0)
		NOP5_SAY(3, "uprobe attach failed: %s", errno_name(-pfd));
	for (int i = 0; i < 8; i++)
		((void (*)(void))site)();
	memcpy(after, site, 5);
	if (after[0] == 0xcc)
		NOP5_SAY(1, "site stays an int3 trap here: nothing to decide");
	fflush(NULL);
	gc = fork();
	if (gc == 0) {
		for (int i = 0; i < 4; i++)
			((void (*)(void))site)();
		_exit(0);
	}
	if (gc < 0 || waitpid(gc, &status, 0) != gc)
		NOP5_SAY(3, "fork/wait: %s", strerror(errno));
	close(pfd);
	close(prog_fd);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		NOP5_SAY(0,
			 "site optimized (%02x..); a child forked after the hits ran it "
			 "cleanly",
			 after[0]);
	if (WIFSIGNALED(status))
		NOP5_SAY(2,
			 "site optimized (%02x..); a child forked after the hits died of "
			 "signal %d (%s) at its first hit",
			 after[0], WTERMSIG(status), strsignal(WTERMSIG(status)));
	NOP5_SAY(3, "child ended with status 0x%x", status);
#undef NOP5_SAY
}

static void probe_nop5_fork(struct probe_ctx *ctx)
{
	struct check *c = &ctx->c[C_NOP5_FORK];
	char copy[64], msg[256] = "";
	int p[2], status = 0, code = 3;
	ssize_t n;
	pid_t pid;

	strcpy(c->state, "unknown");
	if (ctx->c[C_UPROBE_OPT].avail != T_YES) {
		strcpy(c->state, "not needed");
		set(c, T_UNKNOWN, 0,
		    "uprobes are not optimized here: the 1-byte nop costs the same");
		return;
	}
	snprintf(copy, sizeof(copy), "/tmp/.pysectrace-nop5-%d", (int)getpid());
	unlink(copy);
	if (pipe2(p, O_CLOEXEC) != 0) {
		set(c, T_UNKNOWN, errno, "pipe: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		nop5_fork_child(copy, p[1]);
	}
	close(p[1]);
	n = pid > 0 ? read(p[0], msg, sizeof(msg) - 1) : -1;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	unlink(copy);
	if (n > 0) {
		msg[n] = 0;
		code = msg[0] - '0';
	}
	if (n <= 0) {
		set(c, T_UNKNOWN, 0, "test process ended without a verdict (status 0x%x)", status);
		return;
	}
	switch (code) {
	case 0:
		strcpy(c->state, "safe");
		set(c, T_YES, 0, "%s: a 5-byte nop site (-DPYSEC_PROBE_NOP5) is safe here",
		    msg + 2);
		break;
	case 2:
		strcpy(c->state, "crashes");
		set(c, T_NO, 0, "%s: keep the 1-byte nop site", msg + 2);
		break;
	default:
		set(c, T_UNKNOWN, 0, "%s", msg + 2);
	}
}
#else
static void probe_nop5_fork(struct probe_ctx *ctx)
{
	strcpy(ctx->c[C_NOP5_FORK].state, "not needed");
	set(&ctx->c[C_NOP5_FORK], T_UNKNOWN, 0, "uprobe optimization exists on x86-64 only");
}
static void probe_uprobe_opt(struct probe_ctx *ctx)
{
	strcpy(ctx->c[C_UPROBE_OPT].state, "int3 trap");
	set(&ctx->c[C_UPROBE_OPT], T_NO, 0, "uprobe optimization exists on x86-64 only");
}
#endif

/* ---- cgroup, io_uring, kprobes */

/* Mount point of the cgroup2 hierarchy, "" if none. */
static void cgroup2_mount(char *buf, size_t len)
{
	char dev[64], dir[PATH_MAX], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");

	buf[0] = 0;
	if (!f)
		return;
	while (fscanf(f, "%63s %4095s %63s %*[^\n]", dev, dir, type) == 3)
		if (!strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", dir);
			break;
		}
	fclose(f);
}

static void probe_cgroup2(struct probe_ctx *ctx)
{
	struct check *c = &ctx->c[C_CGROUP2];
	char mnt[PATH_MAX];

	cgroup2_mount(mnt, sizeof(mnt));
	if (path_exists("/sys/fs/cgroup/cgroup.controllers"))
		set(c, T_YES, 0, "unified hierarchy at /sys/fs/cgroup");
	else if (mnt[0])
		set(c, T_YES, 0, "hybrid: cgroup2 at %s, v1 controllers at /sys/fs/cgroup", mnt);
	else
		set(c, T_NO, ENOENT,
		    "no cgroup2 mount: cgroup sock_addr programs have nowhere "
		    "to attach");
}

static void probe_io_uring(struct probe_ctx *ctx)
{
	struct check *c = &ctx->c[C_IO_URING];
	int sysctl = read_int("/proc/sys/kernel/io_uring_disabled", -1);
	char knob[48] = "no io_uring_disabled sysctl (pre-6.6)";
	long r;
	int err;

	if (sysctl >= 0)
		snprintf(knob, sizeof(knob), "kernel.io_uring_disabled=%d", sysctl);
	/* NULL params: a kernel that allows us fails the copy, not the permission. */
	r = syscall(__NR_io_uring_setup, 0, NULL);
	err = r < 0 ? errno : 0;
	if (r >= 0)
		close((int)r);
	if (err == ENOSYS)
		set(c, T_NO, err, "not built into this kernel (%s)", knob);
	else if (err == EPERM)
		set(c, T_NO, err, "refused for this process (%s)", knob);
	else
		set(c, T_YES, 0,
		    "usable by this process (%s): syscall-free file and network "
		    "I/O",
		    knob);
}

#if defined(__x86_64__)
static void ia32_child_fault(int sig)
{
	_exit(3);
}

/*
 * int 0x80 from a 64-bit process is a second syscall door with i386
 * numbers.  Knock on it from a child: getpid answers, or the child faults.
 */
static void probe_ia32(struct probe_ctx *ctx)
{
	struct check *c = &ctx->c[C_IA32];
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		long r = 20; /* __NR_getpid in the i386 table */

		signal(SIGSEGV, ia32_child_fault);
		signal(SIGBUS, ia32_child_fault);
		__asm__ volatile("int $0x80" : "+a"(r) : : "r8", "r9", "r10", "r11", "memory");
		_exit(r == getpid() ? 0 : 4);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		set(c, T_UNKNOWN, errno, "could not run the test child");
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		set(c, T_YES, 0, "int 0x80 works: i386 syscall numbers reach the kernel");
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
		set(c, T_NO, 0,
		    "int 0x80 faults: IA32 emulation off (ia32_emulation=0 or "
		    "CONFIG_IA32_EMULATION unset)");
	else
		set(c, T_UNKNOWN, 0, "int 0x80 test child ended oddly (status 0x%x)", status);
}
#else
static void probe_ia32(struct probe_ctx *ctx)
{
	set(&ctx->c[C_IA32], T_NO, 0, "not an x86-64 kernel");
}
#endif

static void probe_kprobes(struct probe_ctx *ctx)
{
	if (path_exists(KPROBE_PMU "/type"))
		set(&ctx->c[C_KPROBE], T_YES, 0, "kprobe PMU present");
	else
		set(&ctx->c[C_KPROBE], T_NO, ENOENT, "%s missing: CONFIG_KPROBES off", KPROBE_PMU);
}

/* ---- Pythons: ELF facts */

struct elf_facts {
	int is_elf, dynamic, exports_hook_api, stock_probe, stock_probe_sema;
	char libpython[128]; /* DT_NEEDED libpython*, "" if none */
	char runpath[1024];  /* DT_RUNPATH, else DT_RPATH */
};

static void scan_dynsym(Elf *elf, Elf_Scn *scn, GElf_Shdr *sh, struct elf_facts *ef)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;
	GElf_Sym sym;

	for (size_t i = 0; d && i < n; i++) {
		if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
			continue;
		const char *name = elf_strptr(elf, sh->sh_link, sym.st_name);

		if (name && !strcmp(name, "PySys_AddAuditHook")) {
			ef->exports_hook_api = 1;
			return;
		}
	}
}

/* SystemTap SDT note: three addresses (pc, base, semaphore), then strings. */
static void scan_stapsdt(Elf *elf, Elf_Scn *scn, struct elf_facts *ef)
{
	size_t asz = gelf_getclass(elf) == ELFCLASS32 ? 4 : 8, off = 0, noff, doff;
	Elf_Data *d = elf_getdata(scn, NULL);
	GElf_Nhdr nh;

	while (d && (off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
		const char *desc = (const char *)d->d_buf + doff;
		uint64_t sema = 0;

		if (nh.n_type != NT_STAPSDT || nh.n_descsz < 3 * asz + 2 ||
		    strncmp((const char *)d->d_buf + noff, "stapsdt", nh.n_namesz))
			continue;
		const char *prov = desc + 3 * asz;
		size_t plen = strnlen(prov, nh.n_descsz - 3 * asz);

		if (plen + 1 >= nh.n_descsz - 3 * asz)
			continue;
		if (strcmp(prov, "python") || strncmp(prov + plen + 1, "audit", 6))
			continue;
		memcpy(&sema, desc + 2 * asz, asz);
		ef->stock_probe = 1;
		ef->stock_probe_sema = sema != 0;
	}
}

static void scan_dynamic(Elf *elf, Elf_Scn *scn, GElf_Shdr *sh, struct elf_facts *ef)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;
	GElf_Dyn dyn;

	for (size_t i = 0; d && i < n; i++) {
		if (!gelf_getdyn(d, (int)i, &dyn))
			continue;
		const char *s = elf_strptr(elf, sh->sh_link, dyn.d_un.d_val);

		if (!s)
			continue;
		if (dyn.d_tag == DT_NEEDED && !strncmp(s, "libpython", 9))
			snprintf(ef->libpython, sizeof(ef->libpython), "%s", s);
		else if (dyn.d_tag == DT_RUNPATH || (dyn.d_tag == DT_RPATH && !ef->runpath[0]))
			snprintf(ef->runpath, sizeof(ef->runpath), "%s", s);
	}
}

static void scan_sections(Elf *elf, struct elf_facts *ef)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return;
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		const char *name = elf_strptr(elf, shstrndx, sh.sh_name);

		if (sh.sh_type == SHT_DYNSYM)
			scan_dynsym(elf, scn, &sh, ef);
		else if (sh.sh_type == SHT_DYNAMIC)
			scan_dynamic(elf, scn, &sh, ef);
		else if (sh.sh_type == SHT_NOTE && name && !strcmp(name, ".note.stapsdt"))
			scan_stapsdt(elf, scn, ef);
	}
}

static int has_interp(Elf *elf)
{
	size_t n;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_INTERP)
			return 1;
	return 0;
}

static void elf_facts_read(const char *path, struct elf_facts *ef)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf *elf;

	memset(ef, 0, sizeof(*ef));
	if (fd < 0)
		return;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF) {
		ef->is_elf = 1;
		ef->dynamic = has_interp(elf);
		scan_sections(elf, ef);
	}
	elf_end(elf);
	close(fd);
}

/* ---- Pythons: finding them and their libpython */

#if defined(__x86_64__)
#define MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define MULTIARCH "aarch64-linux-gnu"
#else
#define MULTIARCH "unknown"
#endif

static int try_lib(const char *dir, size_t dirlen, const char *name, char *out, size_t len)
{
	char cand[PATH_MAX];

	if (fmt_path(cand, sizeof(cand), "%.*s/%s", (int)dirlen, dir, name))
		return 0;
	return access(cand, R_OK) == 0 && realpath(cand, out) && strlen(out) < len;
}

/* Search RUNPATH ($ORIGIN expanded), ../lib, then the standard dirs, like ld.so. */
static int resolve_libpython(const char *exe_real, const struct elf_facts *ef, char *out,
			     size_t len)
{
	static const char *const std_dirs[] = {
	    "/lib/" MULTIARCH, "/usr/lib/" MULTIARCH, "/lib64", "/usr/lib64", "/lib",
	    "/usr/lib",	       "/usr/local/lib"};
	char origin[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX];
	const char *p = ef->runpath;

	snprintf(tmp, sizeof(tmp), "%s", exe_real);
	snprintf(origin, sizeof(origin), "%s", dirname(tmp));
	while (*p) {
		size_t n = strcspn(p, ":");

		if (!strncmp(p, "$ORIGIN", 7) || !strncmp(p, "${ORIGIN}", 9)) {
			size_t skip = p[1] == '{' ? 9 : 7;

			if (fmt_path(dir, sizeof(dir), "%s%.*s", origin, (int)(n - skip), p + skip))
				dir[0] = 0;
		} else {
			snprintf(dir, sizeof(dir), "%.*s", (int)n, p);
		}
		if (dir[0] && try_lib(dir, strlen(dir), ef->libpython, out, len))
			return 1;
		p += n + (p[n] == ':');
	}
	if (!fmt_path(dir, sizeof(dir), "%s/../lib", origin) &&
	    try_lib(dir, strlen(dir), ef->libpython, out, len))
		return 1;
	for (size_t i = 0; i < sizeof(std_dirs) / sizeof(std_dirs[0]); i++)
		if (try_lib(std_dirs[i], strlen(std_dirs[i]), ef->libpython, out, len))
			return 1;
	return 0;
}

/* "3.11" from "python3.11"; "3.6" and "m" from "libpython3.6m.so.1.0". */
static void version_from_name(const char *name, struct python *py)
{
	const char *p = strstr(name, "python");
	int major, minor, n = 0;

	if (!p)
		return;
	if (sscanf(p + 6, "%d.%d%n", &major, &minor, &n) == 2) {
		snprintf(py->version, sizeof(py->version), "%d.%d", major, minor);
		snprintf(py->abiflags, sizeof(py->abiflags), "%.*s", (int)strspn(p + 6 + n, "mdt"),
			 p + 6 + n);
	} else if (sscanf(p + 6, "%d", &major) == 1) {
		snprintf(py->version, sizeof(py->version), "%d", major);
	}
}

static int name_is_python3(const char *base)
{
	const char *p = base + 7;

	if (strncmp(base, "python3", 7))
		return 0;
	if (!*p)
		return 1;
	if (*p++ != '.' || !isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p))
		p++;
	/* 3.6m, 3.13t, 3.12d: ABI flags, nothing else (not -config, -dbg) */
	return strspn(p, "mdt") == strlen(p) && strlen(p) <= 2;
}

static int add_skipped(struct probe_ctx *ctx, const char *path, const char *reason)
{
	struct skipped *s;

	if (ctx->nskip >= MAX_PYTHONS)
		return 0;
	for (int i = 0; i < ctx->nskip; i++)
		if (!strcmp(ctx->skip[i].path, path))
			return 0;
	s = realloc(ctx->skip, (ctx->nskip + 1) * sizeof(*s));
	if (!s) {
		ctx->oom = 1;
		return -1;
	}
	ctx->skip = s;
	s = &s[ctx->nskip++];
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	return 0;
}

static void python_judge(struct python *py, const struct elf_facts *ef)
{
	/* The ABI flag "t": object layout the hook's resolve check refuses. */
	int free_threaded = strchr(py->abiflags, 't') != NULL;

	py->hook_capable = py->dynamic && py->exports_hook_api && !free_threaded;
	if (!py->dynamic)
		snprintf(py->note, sizeof(py->note),
			 "statically linked (no ELF interpreter): "
			 "LD_PRELOAD cannot load the hook");
	else if (!py->exports_hook_api && py->shared && !py->libpython_found)
		snprintf(py->note, sizeof(py->note), "%s not found: cannot tell", ef->libpython);
	else if (!py->exports_hook_api)
		snprintf(py->note, sizeof(py->note),
			 "no PySys_AddAuditHook: predates PEP 578 "
			 "(3.8) or does not export the C API");
	else if (free_threaded)
		snprintf(py->note, sizeof(py->note),
			 "free-threaded build: the hook's layout "
			 "check refuses it and stays unarmed");
}

static void python_fill(struct python *py)
{
	struct elf_facts ef, lib;

	elf_facts_read(py->real, &ef);
	py->dynamic = ef.dynamic;
	py->exports_hook_api = ef.exports_hook_api;
	py->stock_probe = ef.stock_probe;
	py->stock_probe_sema = ef.stock_probe_sema;
	version_from_name(leaf(py->real), py);
	if (ef.libpython[0]) {
		py->shared = 1;
		snprintf(py->libpython, sizeof(py->libpython), "%s", ef.libpython);
		version_from_name(ef.libpython, py);
		py->libpython_found =
		    resolve_libpython(py->real, &ef, py->libpython, sizeof(py->libpython));
	}
	if (py->libpython_found) {
		elf_facts_read(py->libpython, &lib);
		py->exports_hook_api |= lib.exports_hook_api;
		py->stock_probe |= lib.stock_probe;
		py->stock_probe_sema |= lib.stock_probe_sema;
	}
	python_judge(py, &ef);
}

static void python_consider(struct probe_ctx *ctx, const char *path)
{
	char real[PATH_MAX];
	struct elf_facts ef;
	struct python *py;
	struct stat st;

	if (!name_is_python3(leaf(path)) || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
	    !realpath(path, real))
		return;
	for (int i = 0; i < ctx->npy; i++)
		if (ctx->py[i].dev == st.st_dev && ctx->py[i].ino == st.st_ino)
			return;
	elf_facts_read(real, &ef);
	if (!ef.is_elf) {
		add_skipped(ctx, path,
			    access(real, R_OK) ? "unreadable"
					       : "not an ELF executable (script or shim)");
		return;
	}
	if (ctx->npy >= MAX_PYTHONS)
		return;
	py = realloc(ctx->py, (ctx->npy + 1) * sizeof(*py));
	if (!py) {
		ctx->oom = 1;
		return;
	}
	ctx->py = py;
	py = memset(&py[ctx->npy++], 0, sizeof(*py));
	snprintf(py->path, sizeof(py->path), "%s", path);
	snprintf(py->real, sizeof(py->real), "%s", real);
	py->dev = st.st_dev;
	py->ino = st.st_ino;
	python_fill(py);
}

static void python_glob(struct probe_ctx *ctx, const char *pattern)
{
	glob_t g;

	if (glob(pattern, 0, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++)
		python_consider(ctx, g.gl_pathv[i]);
	globfree(&g);
}

/* A pyenv tree we cannot look into is worth saying: its Pythons go unlisted. */
static void python_pyenv(struct probe_ctx *ctx, const char *root)
{
	char pat[PATH_MAX];

	if (!root || root[0] != '/' ||
	    fmt_path(pat, sizeof(pat), "%s/versions/*/bin/python3", root))
		return;
	if (access(root, X_OK) == 0 || errno == ENOENT) {
		python_glob(ctx, pat);
		return;
	}
	add_skipped(ctx, root,
		    errno == EACCES ? "cannot look inside as this user: any "
				      "Pythons there were not checked"
				    : strerror(errno));
}

static void probe_pythons(struct probe_ctx *ctx)
{
	const char *path = getenv("PATH");
	char pat[PATH_MAX], *dirs, *save = NULL;

	python_glob(ctx, "/usr/bin/python3*");
	python_glob(ctx, "/usr/local/bin/python3*");
	dirs = path ? strdup(path) : NULL;
	for (char *d = dirs ? strtok_r(dirs, ":", &save) : NULL; d;
	     d = strtok_r(NULL, ":", &save)) {
		/* Relative entries would make the answer depend on the cwd. */
		if (d[0] == '/' && !fmt_path(pat, sizeof(pat), "%s/python3*", d))
			python_glob(ctx, pat);
	}
	free(dirs);
	python_pyenv(ctx, "/root/.pyenv");
	python_pyenv(ctx, getenv("PYENV_ROOT"));
}

/* ---- plan */

/* libpysechook.so as `run` would find it, without printing anything. */
static void find_hook_lib_quietly(struct probe_ctx *ctx)
{
	const char *env = getenv("PYSECTRACE_HOOK_LIB");
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n;

	ctx->hook_lib[0] = 0;
	if (env && *env) {
		/* run uses $PYSECTRACE_HOOK_LIB or fails: no quiet fallback here either. */
		if (access(env, R_OK) != 0 || !realpath(env, ctx->hook_lib))
			snprintf(ctx->hook_lib, sizeof(ctx->hook_lib), "!%s", env);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = 0;
	const char *dir = dirname(exe);
	const char *tries[] = {"%s/libpysechook.so", "%s/../lib/pysectrace/libpysechook.so"};

	for (size_t i = 0; i < 2; i++) {
		snprintf(cand, sizeof(cand), tries[i], dir);
		if (access(cand, R_OK) == 0 && realpath(cand, ctx->hook_lib))
			return;
	}
	ctx->hook_lib[0] = 0;
}

static void plan_add(struct probe_ctx *ctx, const char *area, const char *use, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void plan_add(struct probe_ctx *ctx, const char *area, const char *use, const char *fmt, ...)
{
	struct plan_item *p;
	va_list ap;

	if (ctx->nplan >= (int)(sizeof(ctx->plan) / sizeof(ctx->plan[0])))
		return;
	p = &ctx->plan[ctx->nplan++];
	p->area = area;
	snprintf(p->use, sizeof(p->use), "%s", use);
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
}

static const char *unverified(const struct check *c)
{
	return c->avail == T_UNKNOWN ? " (unverified: run probe as root)" : "";
}

static void plan_transport(struct probe_ctx *ctx)
{
	const struct check *rb = &ctx->c[C_RINGBUF], *btf = &ctx->c[C_BTF];

	if (btf->avail != T_YES)
		plan_add(ctx, "kernel programs", "none: cannot run",
			 "no usable vmlinux BTF; the CO-RE object cannot be relocated");
	if (rb->avail == T_NO)
		plan_add(ctx, "event transport", "none: cannot run",
			 "no BPF ring buffer (kernel < 5.8); pysectrace has no perf-buffer path");
	else
		plan_add(ctx, "event transport", "BPF ring buffer",
			 "one buffer for all CPUs, records in order%s", unverified(rb));
}

static void plan_audit(struct probe_ctx *ctx)
{
	const struct check *up = &ctx->c[C_UPROBE], *sem = &ctx->c[C_USDT_SEM];
	const struct check *opt = &ctx->c[C_UPROBE_OPT], *fork5 = &ctx->c[C_NOP5_FORK];
	char lib[PATH_MAX + 32];

	if (ctx->hook_lib[0] == '!')
		snprintf(lib, sizeof(lib),
			 "$PYSECTRACE_HOOK_LIB=%s is not readable: run will "
			 "fail",
			 ctx->hook_lib + 1);
	else if (ctx->hook_lib[0])
		snprintf(lib, sizeof(lib), "hook at %s", ctx->hook_lib);
	else
		snprintf(lib, sizeof(lib), "libpysechook.so not found: build it (make)");
	if (up->avail != T_YES || sem->avail != T_YES) {
		plan_add(ctx, "audit events", "none: Python's intent is invisible",
			 "%s; the hook's semaphore-gated USDT probe cannot fire",
			 up->avail != T_YES ? "no uprobes" : "no uprobe ref_ctr_offset");
		return;
	}
	plan_add(ctx, "audit events",
		 "hook USDT pysectrace:audit (libpysechook.so via "
		 "LD_PRELOAD)",
		 "semaphore-gated: free until traced; %s", lib);
	/*
	 * The hook's probe site is a 1-byte nop even where uprobes can be
	 * optimized: on 6.18 a child forked after the site was optimized
	 * crashes at its first hit (hookmod/hook.c, PYSEC_PROBE_NOP5).
	 */
	plan_add(ctx, "probe cost", "int3 trap (1-byte nop site)",
		 "~5-6 us per audit event that fires the probe; %s",
		 opt->avail != T_YES	? "this kernel does not optimize uprobes"
		 : fork5->avail == T_NO ? "this kernel optimizes a 5-byte nop site, but a child "
					  "forked after that crashed at its first hit (tested "
					  "above), so the hook does not use one"
		 : fork5->avail == T_YES
		     ? "a 5-byte nop site is optimized and fork-safe here "
		       "(tested above): a hook built with -DPYSEC_PROBE_NOP5 "
		       "would pay ~1.5 us"
		     : "this kernel optimizes a 5-byte nop site; whether forked "
		       "children survive it could not be tested, so the hook "
		       "does not use one");
}

static void plan_syscalls(struct probe_ctx *ctx)
{
	const struct check *raw = &ctx->c[C_RAW_TP], *btf = &ctx->c[C_TP_BTF];
	const struct check *ia32 = &ctx->c[C_IA32];

	if (raw->avail == T_NO)
		plan_add(ctx, "syscalls", "none",
			 "raw tracepoints unavailable: no kernel view "
			 "of openat/connect/execve, bypasses cannot be seen");
	else
		plan_add(ctx, "syscalls", "raw_tp sys_enter/sys_exit",
			 "openat, openat2, open, "
			 "creat, connect, execve, execveat; no tracefs needed%s",
			 unverified(raw));
	if (ia32->avail == T_YES)
		plan_add(ctx, "32-bit syscalls", "open door: int 0x80 works",
			 "i386 numbers arrive at the same tracepoints; syscalls must be "
			 "classified by entry ABI, or boot with ia32_emulation=0");
	else
		plan_add(ctx, "32-bit syscalls", ia32->avail == T_NO ? "closed" : "unknown", "%s",
			 ia32->detail);
	if (btf->avail == T_NO && raw->avail != T_NO)
		plan_add(ctx, "process tracking", "raw_tp sched_process_fork/exec/exit",
			 "fallback: %s", btf->detail);
	else if (btf->avail != T_NO)
		plan_add(ctx, "process tracking", "tp_btf sched_process_fork/exec/exit",
			 "typed arguments; follows the traced tree across fork and exec%s",
			 unverified(btf));
	else
		plan_add(ctx, "process tracking", "none", "no raw or BTF tracepoints");
}

static void plan_file_enforce(struct probe_ctx *ctx)
{
	const struct check *lsm = &ctx->c[C_LSM], *sig = &ctx->c[C_SEND_SIGNAL];
	const char *area = "file/exec enforcement";

	if (lsm->avail == T_YES)
		plan_add(ctx, area, "BPF LSM (synchronous deny)",
			 "file_open and bprm_check_security refuse before the syscall succeeds");
	else if (lsm->avail == T_UNKNOWN && sig->avail != T_NO)
		plan_add(ctx, area, "BPF LSM if it loads, else bpf_send_signal(SIGKILL)", "%s",
			 lsm->detail);
	else if (sig->avail != T_NO)
		plan_add(ctx, area, "bpf_send_signal(SIGKILL) at sys_enter",
			 "the syscall still completes, then the process dies before its next "
			 "instruction; BPF LSM unusable: %s%s",
			 lsm->detail, unverified(sig));
	else
		plan_add(ctx, area, "none: monitor only",
			 "no BPF LSM (%s) and no "
			 "bpf_send_signal",
			 lsm->detail);
}

static void plan_net_enforce(struct probe_ctx *ctx)
{
	const struct check *sa = &ctx->c[C_SOCK_ADDR], *cg = &ctx->c[C_CGROUP2];
	const struct check *sig = &ctx->c[C_SEND_SIGNAL];

	if (sa->avail != T_NO && cg->avail == T_YES)
		plan_add(ctx, "network enforcement", "cgroup sock_addr connect4/6, sendmsg4/6",
			 "EPERM before any packet leaves; %s%s", cg->detail, unverified(sa));
	else
		plan_add(ctx, "network enforcement",
			 sig->avail != T_NO ? "bpf_send_signal(SIGKILL)" : "none: monitor only",
			 "no cgroup sock_addr deny: %s",
			 sa->avail == T_NO ? sa->detail : cg->detail);
}

/* One word for a check inside a sentence: "available", "EPERM", ... */
static const char *outcome_word(const struct check *c)
{
	if (c->avail == T_YES)
		return "available";
	if (c->avail == T_UNKNOWN)
		return "not checked";
	return c->err && c->err != ENOENT ? errno_name(c->err) : "unavailable";
}

static void plan_gaps(struct probe_ctx *ctx)
{
	const struct check *io = &ctx->c[C_IO_URING];
	const struct check *fe = &ctx->c[C_FENTRY], *kp = &ctx->c[C_KPROBE];

	if (io->avail == T_YES)
		plan_add(ctx, "io_uring", "NOT covered",
			 "opens, connects and sends submitted through io_uring bypass the syscall "
			 "tracepoints; set kernel.io_uring_disabled=2 where untrusted Python runs");
	else
		plan_add(ctx, "io_uring", "closed", "%s: no syscall-free I/O path", io->detail);
	plan_add(ctx, "kernel functions", "not traced",
		 "fentry %s, kprobes %s; the plan needs neither", outcome_word(fe),
		 outcome_word(kp));
}

static void plan_pythons(struct probe_ctx *ctx)
{
	char yes[160] = "", no[160] = "";
	int n = 0;

	for (int i = 0; i < ctx->npy; i++) {
		char *buf = ctx->py[i].hook_capable ? yes : no;
		size_t used = strlen(buf);

		n += ctx->py[i].hook_capable;
		snprintf(buf + used, 160 - used, "%s%s", used ? ", " : "",
			 ctx->py[i].version[0] ? ctx->py[i].version : "?");
	}
	plan_add(ctx, "interpreters", n ? "hook via LD_PRELOAD" : "none hookable",
		 "%d of %d Pythons found take the hook (%s)%s%s", n, ctx->npy, n ? yes : "-",
		 no[0] ? "; not: " : "", no);
}

static void build_plan(struct probe_ctx *ctx)
{
	find_hook_lib_quietly(ctx);
	plan_transport(ctx);
	plan_audit(ctx);
	plan_syscalls(ctx);
	plan_file_enforce(ctx);
	plan_net_enforce(ctx);
	plan_gaps(ctx);
	plan_pythons(ctx);
}

/* ---- emitters */

static const char *tri_word(enum tri t)
{
	return t == T_YES ? "yes" : t == T_NO ? "no" : "?";
}

static const char *stock_probe_words(const struct python *p)
{
	if (!p->stock_probe)
		return "no";
	return p->stock_probe_sema ? "yes (with semaphore)" : "yes (no semaphore)";
}

static void emit_text_python(const struct python *p, FILE *f)
{
	char ver[24];
	int alias = strcmp(p->path, p->real) != 0;

	snprintf(ver, sizeof(ver), "%s%s", p->version[0] ? p->version : "?", p->abiflags);
	fprintf(f, "  %-6s %s%s%s\n", ver, p->path, alias ? " -> " : "", alias ? p->real : "");
	if (p->shared)
		fprintf(f, "         shared libpython: %s%s\n", p->libpython,
			p->libpython_found ? "" : " (not found)");
	else
		fprintf(f, "         static libpython\n");
	fprintf(f, "         hook %s; stock python:audit USDT %s\n", p->hook_capable ? "yes" : "no",
		stock_probe_words(p));
	if (p->note[0])
		fprintf(f, "         note: %s\n", p->note);
}

/* Skipped candidates, one line per directory and reason: shim dirs hold dozens. */
static void emit_text_skipped(const struct probe_ctx *ctx, FILE *f)
{
	char dir[PATH_MAX], next[PATH_MAX];
	int i = 0, j;

	while (i < ctx->nskip) {
		snprintf(dir, sizeof(dir), "%s", ctx->skip[i].path);
		dirname(dir);
		for (j = i + 1; j < ctx->nskip; j++) {
			snprintf(next, sizeof(next), "%s", ctx->skip[j].path);
			if (strcmp(dirname(next), dir) ||
			    strcmp(ctx->skip[j].reason, ctx->skip[i].reason))
				break;
		}
		if (j - i == 1)
			fprintf(f, "  skipped %s: %s\n", ctx->skip[i].path, ctx->skip[i].reason);
		else
			fprintf(f, "  skipped %d in %s (%s, ...): %s\n", j - i, dir,
				leaf(ctx->skip[i].path), ctx->skip[i].reason);
		i = j;
	}
}

static void emit_text(const struct probe_ctx *ctx, FILE *f)
{
	fprintf(f, "pysectrace %s probe: kernel %s %s, %s (euid %u)\n\nkernel features\n",
		PYSECTRACE_VERSION, ctx->uts.release, ctx->uts.machine,
		ctx->euid == 0 ? "root" : "not root", (unsigned)ctx->euid);
	for (int i = 0; i < C_NR; i++)
		fprintf(f, "  %-19s %-3s  %s\n", ctx->c[i].label, tri_word(ctx->c[i].avail),
			ctx->c[i].detail);
	fprintf(f, "\npythons (hook: libpysechook.so can arm PySys_AddAuditHook via LD_PRELOAD)\n");
	for (int i = 0; i < ctx->npy; i++)
		emit_text_python(&ctx->py[i], f);
	emit_text_skipped(ctx, f);
	fprintf(f, "\nplan\n");
	for (int i = 0; i < ctx->nplan; i++)
		fprintf(f, "  %-22s %s\n  %-22s   %s\n", ctx->plan[i].area, ctx->plan[i].use, "",
			ctx->plan[i].why);
}

/* json-c returns NULL on allocation failure; remember it, keep going. */
static void put(struct probe_ctx *ctx, json_object *o, const char *key, json_object *v)
{
	if (!o || !v || json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		ctx->oom = 1;
	}
}

/* Like put(), where NULL is a legitimate JSON null when is_null says so. */
static void put_nullable(struct probe_ctx *ctx, json_object *o, const char *key, json_object *v,
			 int is_null)
{
	if (is_null && o && json_object_object_add(o, key, NULL) == 0)
		return;
	put(ctx, o, key, v);
}

static json_object *tri_json(enum tri t)
{
	return t == T_UNKNOWN ? NULL : json_object_new_boolean(t == T_YES);
}

static json_object *json_check(struct probe_ctx *ctx, const struct check *c)
{
	json_object *o = json_object_new_object();

	/* null, not false, when the check could not run: unknown is not "no" */
	put_nullable(ctx, o, "available", tri_json(c->avail), c->avail == T_UNKNOWN);
	if (c->state[0])
		put(ctx, o, "state", json_object_new_string(c->state));
	if (c->err)
		put(ctx, o, "errno", json_object_new_string(errno_name(c->err)));
	put(ctx, o, "detail", json_object_new_string(c->detail));
	return o;
}

static json_object *json_python(struct probe_ctx *ctx, const struct python *p)
{
	json_object *o = json_object_new_object();

	put(ctx, o, "path", json_object_new_string(p->path));
	put(ctx, o, "realpath", json_object_new_string(p->real));
	put(ctx, o, "version", json_object_new_string(p->version));
	put(ctx, o, "abiflags", json_object_new_string(p->abiflags));
	put(ctx, o, "libpython",
	    p->shared ? json_object_new_string("shared") : json_object_new_string("static"));
	if (p->shared)
		put_nullable(ctx, o, "libpython_path",
			     p->libpython_found ? json_object_new_string(p->libpython) : NULL,
			     !p->libpython_found);
	put(ctx, o, "dynamic", json_object_new_boolean(p->dynamic));
	put(ctx, o, "exports_audit_hook_api", json_object_new_boolean(p->exports_hook_api));
	put(ctx, o, "hook_capable", json_object_new_boolean(p->hook_capable));
	put(ctx, o, "stock_audit_probe", json_object_new_boolean(p->stock_probe));
	put(ctx, o, "stock_audit_probe_semaphore", json_object_new_boolean(p->stock_probe_sema));
	if (p->note[0])
		put(ctx, o, "note", json_object_new_string(p->note));
	return o;
}

static json_object *json_checks(struct probe_ctx *ctx)
{
	json_object *o = json_object_new_object();

	for (int i = 0; i < C_NR; i++)
		put(ctx, o, ctx->c[i].key, json_check(ctx, &ctx->c[i]));
	return o;
}

static json_object *json_identity(struct probe_ctx *ctx)
{
	json_object *o = json_object_new_object();

	put(ctx, o, "euid", json_object_new_int((int)ctx->euid));
	put(ctx, o, "root", json_object_new_boolean(ctx->euid == 0));
	put(ctx, o, "cap_bpf", json_object_new_boolean(has_cap(ctx, CAP_BIT_BPF)));
	put(ctx, o, "cap_perfmon", json_object_new_boolean(has_cap(ctx, CAP_BIT_PERFMON)));
	put(ctx, o, "cap_sys_admin", json_object_new_boolean(has_cap(ctx, CAP_BIT_SYS_ADMIN)));
	put(ctx, o, "unprivileged_bpf_disabled", json_object_new_int(ctx->unpriv_bpf_disabled));
	put(ctx, o, "perf_event_paranoid", json_object_new_int(ctx->perf_paranoid));
	return o;
}

static json_object *json_pythons(struct probe_ctx *ctx)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < ctx->npy; i++)
		if (!a || json_object_array_add(a, json_python(ctx, &ctx->py[i])) != 0)
			ctx->oom = 1;
	return a;
}

static json_object *json_skipped(struct probe_ctx *ctx)
{
	json_object *a = json_object_new_array(), *o;

	for (int i = 0; i < ctx->nskip; i++) {
		o = json_object_new_object();
		put(ctx, o, "path", json_object_new_string(ctx->skip[i].path));
		put(ctx, o, "reason", json_object_new_string(ctx->skip[i].reason));
		if (!a || json_object_array_add(a, o) != 0)
			ctx->oom = 1;
	}
	return a;
}

static json_object *json_plan(struct probe_ctx *ctx)
{
	json_object *a = json_object_new_array(), *o;

	for (int i = 0; i < ctx->nplan; i++) {
		o = json_object_new_object();
		put(ctx, o, "area", json_object_new_string(ctx->plan[i].area));
		put(ctx, o, "use", json_object_new_string(ctx->plan[i].use));
		put(ctx, o, "why", json_object_new_string(ctx->plan[i].why));
		if (!a || json_object_array_add(a, o) != 0)
			ctx->oom = 1;
	}
	return a;
}

static int emit_json(struct probe_ctx *ctx, FILE *f)
{
	json_object *root = json_object_new_object(), *k = json_object_new_object();
	const char *s;

	put(ctx, root, "pysectrace_version", json_object_new_string(PYSECTRACE_VERSION));
	put(ctx, k, "release", json_object_new_string(ctx->uts.release));
	put(ctx, k, "machine", json_object_new_string(ctx->uts.machine));
	put(ctx, root, "kernel", k);
	put(ctx, root, "identity", json_identity(ctx));
	put(ctx, root, "checks", json_checks(ctx));
	put(ctx, root, "pythons", json_pythons(ctx));
	put(ctx, root, "skipped", json_skipped(ctx));
	put(ctx, root, "plan", json_plan(ctx));
	s = root ? json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							    JSON_C_TO_STRING_NOSLASHESCAPE)
		 : NULL;
	if (!s || ctx->oom) {
		json_object_put(root);
		return -1;
	}
	fprintf(f, "%s\n", s);
	json_object_put(root);
	return 0;
}

/* ---- the verb */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pysectrace probe [--format text|json] [-v]\n"
		"\n"
		"Report what this host's kernel and Pythons offer pysectrace, and what\n"
		"pysectrace will use or fall back to (the \"plan\").  Nothing is left\n"
		"behind: test programs (\"r0 = 0; exit\") are loaded, attached for a\n"
		"moment and closed.  Run it as root for a full answer; without\n"
		"CAP_BPF+CAP_PERFMON the checks that need them say \"not checked\" and\n"
		"the plan marks what it could not verify.\n"
		"\n"
		"options:\n"
		"  -f, --format FMT  text (default) or json\n"
		"  -v, --verbose     show libbpf's own messages\n"
		"  -h, --help        this text\n"
		"\n"
		"kernel checks (JSON key):\n"
		"  btf                /sys/kernel/btf/vmlinux present and parseable\n"
		"  privileges         root, CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN\n"
		"  ringbuf            a BPF_MAP_TYPE_RINGBUF map can be created\n"
		"  raw_tp, tp_btf     raw and BTF tracepoint programs load (tp_btf: attach)\n"
		"  uprobes            the uprobe PMU exists\n"
		"  usdt_semaphores    the uprobe PMU takes ref_ctr_offset\n"
		"  uprobe_optimized   a live uprobe on a 5-byte nop in this binary turns\n"
		"                     into a call (state: optimized, int3 trap, unknown)\n"
		"  fentry             an fentry program loads and attaches (errno if not)\n"
		"  bpf_lsm            bpf among active LSMs, an LSM program loads and attaches\n"
		"  cgroup_sock_addr   cgroup connect/sendmsg programs load\n"
		"  cgroup_v2          a cgroup2 hierarchy is mounted (unified or hybrid)\n"
		"  send_signal        bpf_send_signal() is available to tracing programs\n"
		"  io_uring           io_uring usable by this process (a syscall-free I/O path)\n"
		"  ia32_syscalls      int 0x80 reaches the kernel (a second syscall door)\n"
		"  kprobes            the kprobe PMU exists\n"
		"\n"
		"Pythons: /usr/bin/python3*, /usr/local/bin/python3*, python3[.N] in each\n"
		"$PATH directory, /root/.pyenv and $PYENV_ROOT versions, deduplicated by\n"
		"file.  For each: version, static or shared libpython, whether\n"
		"libpysechook.so can hook it (dynamically linked and PySys_AddAuditHook\n"
		"exported, i.e. 3.8+), whether it carries the stock python:audit USDT probe.\n"
		"\n"
		"JSON: one object {pysectrace_version, kernel, identity, checks, pythons,\n"
		"skipped, plan}; each check is {available, detail[, state][, errno]} with\n"
		"available null when it could not be checked.\n"
		"\n"
		"Exit status: 0 when the report was written (whatever it says), 2 on a\n"
		"usage error, 125 when probe itself failed.\n");
}

static int parse_args(int argc, char **argv, int *json, int *verbose)
{
	static const struct option opts[] = {
	    {"format", required_argument, NULL, 'f'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				pysec_err("probe: --format takes text or json, not '%s'", optarg);
				return 2;
			}
			*json = !strcmp(optarg, "json");
			break;
		case 'v':
			*verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			pysec_err("probe: see 'pysectrace probe --help'");
			return 2;
		}
	}
	if (optind < argc) {
		pysec_err("probe: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	return -1;
}

static void run_checks(struct probe_ctx *ctx)
{
	for (int i = 0; i < C_NR; i++) {
		ctx->c[i].key = check_names[i].key;
		ctx->c[i].label = check_names[i].label;
		ctx->c[i].avail = T_UNKNOWN;
	}
	ctx->euid = geteuid();
	ctx->capeff = read_capeff();
	probe_kernel(ctx);
	probe_identity(ctx);
	probe_btf(ctx);
	probe_ringbuf(ctx);
	probe_raw_tp(ctx);
	probe_tp_btf(ctx);
	probe_uprobes(ctx);
	probe_uprobe_opt(ctx);
	probe_nop5_fork(ctx);
	probe_fentry(ctx);
	probe_lsm(ctx);
	probe_sock_addr(ctx);
	probe_cgroup2(ctx);
	probe_send_signal(ctx);
	probe_io_uring(ctx);
	probe_ia32(ctx);
	probe_kprobes(ctx);
	if (elf_version(EV_CURRENT) != EV_NONE)
		probe_pythons(ctx);
	else
		add_skipped(ctx, "/", "libelf refuses our ELF version: no Python was checked");
	build_plan(ctx);
}

int cmd_probe(int argc, char **argv)
{
	struct probe_ctx *ctx;
	int json = 0, verbose = 0, ret;

	ret = parse_args(argc, argv, &json, &verbose);
	if (ret >= 0)
		return ret;
	pysec_libbpf_quiet(verbose);
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		pysec_err("probe: out of memory");
		return EXIT_TOOL_FAILED;
	}
	run_checks(ctx);
	ret = 0;
	if (json)
		ret = emit_json(ctx, stdout);
	else if (!ctx->oom)
		emit_text(ctx, stdout);
	if (ret || ctx->oom || fflush(stdout) != 0 || ferror(stdout)) {
		pysec_err("probe: %s",
			  ctx->oom || ret ? "out of memory" : "cannot write the report");
		ret = EXIT_TOOL_FAILED;
	}
	btf__free(ctx->vmlinux);
	free(ctx->py);
	free(ctx->skip);
	free(ctx);
	return ret;
}
