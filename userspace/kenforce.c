// SPDX-License-Identifier: MIT
/* kenforce.c — carrying out enforcement on live processes (see kenforce.h). */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classify.h"
#include "cli.h"
#include "kenforce.h"
#include "policy.h"
#include "pipeline.h"
#include "pysectrace.h"
#include "pysectrace.skel.h"
#include "tracer.h"

void pysec_kenforce_autoload(struct pysectrace_bpf *skel, bool on)
{
	bpf_program__set_autoload(skel->progs.cgroup__connect4, on);
	bpf_program__set_autoload(skel->progs.cgroup__connect6, on);
	bpf_program__set_autoload(skel->progs.cgroup__sendmsg4, on);
	bpf_program__set_autoload(skel->progs.cgroup__sendmsg6, on);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape_octal(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

int pysec_cgroup2_mount(char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int rc;

	if (!f)
		return -1;
	rc = pysec_cgroup2_mount_in(f, out, len);
	fclose(f);
	return rc;
}

int pysec_cgroup2_mount_in(FILE *f, char *out, size_t len)
{
	char *line = NULL;
	size_t cap = 0;
	int found = -1;

	while (found < 0 && getline(&line, &cap, f) > 0) {
		char root[PATH_MAX], mnt[PATH_MAX], fstype[64];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(sep, " - %63s", fstype) != 1 || strcmp(fstype, "cgroup2") ||
		    sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2)
			continue;
		unescape_octal(mnt);
		if (strcmp(root, "/") || strlen(mnt) >= len)
			continue; /* a bind mount of a sub-tree: not where /proc/self/cgroup starts
				   */
		snprintf(out, len, "%s", mnt);
		found = 0;
	}
	free(line);
	return found;
}

/* This process's cgroup2 path ("0::/path" in /proc/self/cgroup). */
static int own_cgroup(char *out, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX + 16];
	int found = -1;

	if (!f)
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = 0;
		if (strlen(line + 3) < len) {
			snprintf(out, len, "%s", line + 3);
			found = 0;
		}
	}
	fclose(f);
	return found;
}

static int create_cgroup(struct pysec_kenforce *k)
{
	char mnt[PATH_MAX], own[PATH_MAX];

	if (pysec_cgroup2_mount(mnt, sizeof(mnt)) < 0) {
		pysec_err("--enforce needs a cgroup2 file system (none in /proc/self/mountinfo): "
			  "mount one, e.g. mount -t cgroup2 none /sys/fs/cgroup/unified");
		return -1;
	}
	if (own_cgroup(own, sizeof(own)) < 0)
		snprintf(own, sizeof(own), "/");
	if (snprintf(k->cgroup, sizeof(k->cgroup), "%s%s/pysectrace-run-%d", mnt,
		     strcmp(own, "/") ? own : "", (int)getpid()) >= (int)sizeof(k->cgroup)) {
		k->cgroup[0] = 0;
		pysec_err("the cgroup path under %s is too long", mnt);
		return -1;
	}
	if (mkdir(k->cgroup, 0755) != 0 && errno != EEXIST) {
		pysec_err("cannot create the cgroup %s: %s", k->cgroup, strerror(errno));
		k->cgroup[0] = 0;
		return -1;
	}
	k->cg_fd = open(k->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (k->cg_fd < 0) {
		pysec_err("cannot open the cgroup %s: %s", k->cgroup, strerror(errno));
		return -1;
	}
	return 0;
}

static int attach_cgroup_progs(struct pysec_kenforce *k)
{
	struct pysectrace_bpf *s = k->t->skel;
	struct bpf_program *progs[4] = {s->progs.cgroup__connect4, s->progs.cgroup__connect6,
					s->progs.cgroup__sendmsg4, s->progs.cgroup__sendmsg6};

	for (int i = 0; i < 4; i++) {
		k->links[i] = bpf_program__attach_cgroup(progs[i], k->cg_fd);
		if (!k->links[i]) {
			pysec_err("cannot attach %s to the cgroup %s: %s",
				  bpf_program__name(progs[i]), k->cgroup, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The kernel lets a query to these through on port 53 for user space to judge. */
static int fill_nameservers(struct pysec_kenforce *k)
{
	uint8_t ns[PYSEC_NAMESERVERS_MAX][16];
	uint16_t fam[PYSEC_NAMESERVERS_MAX];
	int n = pysec_baseline_nameservers(fam, ns, PYSEC_NAMESERVERS_MAX);
	__u8 one = 1;

	for (int i = 0; i < n; i++) {
		struct pysec_ns_key key = {.family = fam[i]};

		memcpy(key.addr, ns[i], 16);
		if (bpf_map__update_elem(k->t->skel->maps.nameservers, &key, sizeof(key), &one,
					 sizeof(one), BPF_ANY) != 0) {
			pysec_err("cannot fill the nameserver table: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static struct pysec_judged *judged_get(struct pysec_kenforce *k, uint32_t pid, int create)
{
	struct pysec_judged *free_slot = NULL;

	for (size_t i = 0; i < PYSEC_JUDGED_MAX; i++) {
		if (k->judged[i].pid == pid)
			return &k->judged[i];
		if (!k->judged[i].pid && !free_slot)
			free_slot = &k->judged[i];
	}
	if (!create || !free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->pid = pid;
	return free_slot;
}

static void kill_process(struct pysec_kenforce *k, uint32_t pid, int sig)
{
	struct pysec_judged *j = judged_get(k, pid, 1);

	if (kill((pid_t)pid, sig) != 0 && errno != ESRCH)
		pysec_err("cannot kill pid %u: %s", pid, strerror(errno));
	if (sig == SIGKILL && j)
		j->killed = 1;
	k->kills++;
}

static void on_decide(void *ctx, struct pysec_alert *a)
{
	struct pysec_kenforce *k = ctx;

	if (pysec_enforce_label(&k->e, a) != PYSEC_ACT_KILL)
		return;
	/* a count above 1 is the final report of a repeated alert: acted on the first */
	if (a->count <= 1 && a->hdr)
		kill_process(k, a->hdr->pid, a->signal);
}

/*
 * Resume a stopped process once every stop the kernel requested for it has
 * been judged; a stop requested meanwhile may have been cancelled by our
 * SIGCONT, so it is sent again (its record is on its way).
 */
static void resume_process(struct pysec_kenforce *k, struct pysec_judged *j)
{
	__u32 key = j->pid;
	__u64 requested = 0;

	if (bpf_map__lookup_elem(k->t->skel->maps.stops, &key, sizeof(key), &requested,
				 sizeof(requested), 0) == 0 &&
	    requested > j->n)
		return;
	kill((pid_t)j->pid, SIGCONT);
	k->resumes++;
	if (bpf_map__lookup_elem(k->t->skel->maps.stops, &key, sizeof(key), &requested,
				 sizeof(requested), 0) == 0 &&
	    requested > j->n)
		kill((pid_t)j->pid, SIGSTOP);
}

static void on_record(void *ctx, const void *data, size_t size, const char *explained)
{
	struct pysec_kenforce *k = ctx;
	const struct pysec_hdr *h = data;
	struct pysec_judged *j;

	switch (pysec_record_type(data, size)) {
	case PYSEC_REC_AUDIT:
	case PYSEC_REC_SYSCALL:
		if (!k->t ||
		    !(h->type == PYSEC_REC_AUDIT
			  ? ((const struct pysec_audit_rec *)data)->kflags & PYSEC_AUDIT_STOPPED
			  : ((const struct pysec_sys_rec *)data)->why & PYSEC_WHY_STOPPED))
			return;
		j = judged_get(k, h->pid, 1);
		if (!j) { /* table full: resume rather than leave it stopped */
			kill((pid_t)h->pid, SIGCONT);
			return;
		}
		j->n++;
		if (!j->killed)
			resume_process(k, j);
		break;
	case PYSEC_REC_EXIT:
		j = judged_get(k, h->pid, 0);
		if (j)
			j->pid = 0;
		break;
	}
}

int pysec_kenforce_open(struct pysec_kenforce *k, enum pysec_mode mode,
			const struct pysec_policy *policy, struct pysec_tracer *t,
			struct pysec_pipeline *pl)
{
	struct pysec_sink sink = {.record = on_record, .ctx = k};

	memset(k, 0, sizeof(*k));
	k->cg_fd = -1;
	pysec_enforce_init(&k->e, mode);
	k->e.policy = policy;
	pl->decide = on_decide;
	pl->decide_ctx = k;
	if (mode != PYSEC_MODE_ENFORCE)
		return 0;
	k->t = t;
	if (pysec_pipeline_add(pl, &sink) < 0) {
		pysec_err("too many sinks");
		return -1;
	}
	if (create_cgroup(k) < 0 || attach_cgroup_progs(k) < 0 || fill_nameservers(k) < 0)
		return -1;
	return 0;
}

static int write_pid(const char *dir, pid_t pid)
{
	char path[PATH_MAX + 32], buf[32];
	int fd, n, rc = -1;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (write(fd, buf, (size_t)n) == n)
		rc = 0;
	close(fd);
	return rc;
}

int pysec_kenforce_adopt(struct pysec_kenforce *k, pid_t pid)
{
	if (!k->cgroup[0])
		return 0;
	if (write_pid(k->cgroup, pid) != 0) {
		pysec_err("cannot move pid %d into the cgroup %s: %s", (int)pid, k->cgroup,
			  strerror(errno));
		return -1;
	}
	return 0;
}

/* Processes left in the run's cgroup (daemons) go back to its parent. */
static void empty_cgroup(const char *cg)
{
	char path[PATH_MAX + 32], parent[PATH_MAX];
	const char *slash = strrchr(cg, '/');
	FILE *f;
	int pid;

	if (!slash)
		return;
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - cg), cg);
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	f = fopen(path, "re");
	while (f && fscanf(f, "%d", &pid) == 1)
		write_pid(parent, pid);
	if (f)
		fclose(f);
}

void pysec_kenforce_close(struct pysec_kenforce *k)
{
	for (int i = 0; i < 4; i++) {
		bpf_link__destroy(k->links[i]);
		k->links[i] = NULL;
	}
	if (k->cg_fd >= 0)
		close(k->cg_fd);
	k->cg_fd = -1;
	if (k->cgroup[0]) {
		/* descendants still exiting keep it busy for a moment */
		for (int i = 0; i < 50; i++) {
			empty_cgroup(k->cgroup);
			if (rmdir(k->cgroup) == 0 || errno != EBUSY)
				break;
			usleep(20000);
		}
		if (access(k->cgroup, F_OK) == 0)
			pysec_err("warning: cannot remove the cgroup %s: %s", k->cgroup,
				  strerror(errno));
		k->cgroup[0] = 0;
	}
}
