// SPDX-License-Identifier: MIT
/* procinfo.c — questions about traced processes: /proc live, recorded answers in replay. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "argdecode.h"
#include "elfinfo.h"
#include "procinfo.h"

static struct pysec_lookup_ops source;
static pysec_lookup_observer observer;
static void *observer_ctx;

void pysec_lookup_use(const struct pysec_lookup_ops *ops)
{
	if (ops)
		source = *ops;
	else
		memset(&source, 0, sizeof(source));
}

void pysec_lookup_observe(pysec_lookup_observer fn, void *ctx)
{
	observer = fn;
	observer_ctx = ctx;
}

static long read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

static long live_maps(uint32_t pid, const char *key, char *out, size_t cap)
{
	char path[64], line[4096];
	uint64_t ip;
	long n = -1;
	FILE *f;

	if (sscanf(key, "%" SCNx64, &ip) != 1)
		return -1;
	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		uint64_t lo, hi;
		char perms[8] = "";
		int off = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %*s %*s %*s %n", &lo, &hi, perms,
			   &off) < 3)
			continue;
		if (ip < lo || ip >= hi)
			continue;
		char *name = line + off;

		name[strcspn(name, "\n")] = 0;
		n = snprintf(out, cap, "%c%s", perms[2] == 'x' ? '1' : '0',
			     *name ? name : "[anon]");
		break;
	}
	fclose(f);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

static long live_mapped(uint32_t pid, const char *prefix, char *out, size_t cap)
{
	char path[64], line[4096];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f)) {
		char *name = strrchr(line, '/');

		found = name && !strncmp(name + 1, prefix, strlen(prefix));
	}
	fclose(f);
	return snprintf(out, cap, "%d", found);
}

static long live_identity(uint32_t pid, char *out, size_t cap)
{
	struct json_object *o = json_object_new_object();
	char path[64], buf[4096];
	ssize_t n;
	long len;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n > 0)
		json_object_object_add(o, "exe", pysec_bytes_to_json(buf, (size_t)n));
	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	n = read_small(path, buf, sizeof(buf));
	if (n > 0) {
		struct json_object *argv = json_object_new_array();

		for (ssize_t i = 0; i < n;) {
			size_t l = strnlen(buf + i, (size_t)(n - i));

			json_object_array_add(argv, pysec_bytes_to_json(buf + i, l));
			i += (ssize_t)l + 1;
		}
		json_object_object_add(o, "cmdline", argv);
	}
	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	if (read_small(path, buf, sizeof(buf)) > 0) {
		const char *u = strstr(buf, "\nUid:");
		unsigned uid;

		if (u && sscanf(u + 5, "%u", &uid) == 1)
			json_object_object_add(o, "uid", json_object_new_int64(uid));
	}
	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	if (read_small(path, buf, sizeof(buf)) > 0) {
		char *l = strstr(buf, "0::");

		if (l) {
			l += 3;
			l[strcspn(l, "\n")] = 0;
			json_object_object_add(o, "cgroup", json_object_new_string(l));
		}
	}
	len = snprintf(out, cap, "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return len < 0 || (size_t)len >= cap ? -1 : len;
}

static long live_python_kind(uint32_t pid, const char *exe, char *out, size_t cap)
{
	char path[64];
	enum pysec_pykind k;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	k = pysec_elf_python_kind(path);
	if (k == PYSEC_PY_NONE && access(path, F_OK) != 0 && exe[0] == '/')
		k = pysec_elf_python_kind(exe);
	return snprintf(out, cap, "%d", (int)k);
}

static long live_lookup(const char *kind, uint32_t pid, const char *key, char *out, size_t cap)
{
	char path[PATH_MAX + 64], real[PATH_MAX];
	ssize_t n;

	if (!strcmp(kind, PYSEC_Q_IDENTITY))
		return live_identity(pid, out, cap);
	if (!strcmp(kind, PYSEC_Q_MAPS))
		return live_maps(pid, key, out, cap);
	if (!strcmp(kind, PYSEC_Q_CWD)) {
		snprintf(path, sizeof(path), "/proc/%u/cwd", pid);
		n = readlink(path, out, cap - 1);
		if (n <= 0)
			return -1;
		out[n] = 0;
		return n;
	}
	if (!strcmp(kind, PYSEC_Q_REALPATH)) {
		snprintf(path, sizeof(path), "/proc/%u/root%s", pid, key);
		if (!realpath(path, real) || strlen(real) >= cap)
			return -1;
		return snprintf(out, cap, "%s", real);
	}
	if (!strcmp(kind, PYSEC_Q_PYKIND))
		return live_python_kind(pid, key, out, cap);
	if (!strcmp(kind, PYSEC_Q_FILE))
		return read_small(key, out, cap < 4097 ? cap : 4097);
	if (!strcmp(kind, PYSEC_Q_MAPPED))
		return live_mapped(pid, key, out, cap);
	return -1;
}

long pysec_lookup(const char *kind, uint32_t pid, const char *key, char *out, size_t cap)
{
	long n;

	if (cap < 2)
		return -1;
	if (source.lookup) {
		n = source.lookup(source.ctx, kind, pid, key, out, cap);
		if (n < 0 || (size_t)n >= cap)
			n = -1;
		out[n < 0 ? 0 : n] = 0;
		return n;
	}
	n = live_lookup(kind, pid, key, out, cap);
	if (n < 0)
		out[0] = 0;
	if (observer)
		observer(observer_ctx, kind, pid, key, out, n);
	return n;
}

void pysec_ip_origin(uint32_t pid, uint64_t ip, char *out, size_t outlen, int *exec)
{
	char key[32], ans[PATH_MAX + 8];

	snprintf(out, outlen, "%s", "");
	*exec = 0;
	snprintf(key, sizeof(key), "%" PRIx64, ip);
	if (pysec_lookup(PYSEC_Q_MAPS, pid, key, ans, sizeof(ans)) < 1)
		return;
	*exec = ans[0] == '1';
	snprintf(out, outlen, "%s", ans + 1);
}

void pysec_proc_identity(uint32_t pid, struct json_object *o)
{
	char *buf = malloc(PYSEC_LOOKUP_MAX);
	struct json_object *id;

	if (!buf)
		return;
	if (pysec_lookup(PYSEC_Q_IDENTITY, pid, "", buf, PYSEC_LOOKUP_MAX) > 0) {
		id = json_tokener_parse(buf);
		if (id && json_object_is_type(id, json_type_object)) {
			struct json_object_iterator it = json_object_iter_begin(id);
			struct json_object_iterator end = json_object_iter_end(id);

			for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
				json_object_object_add(
				    o, json_object_iter_peek_name(&it),
				    json_object_get(json_object_iter_peek_value(&it)));
		}
		json_object_put(id);
	}
	free(buf);
}

int pysec_proc_maps_file(uint32_t pid, const char *prefix)
{
	char ans[8];

	return pysec_lookup(PYSEC_Q_MAPPED, pid, prefix, ans, sizeof(ans)) == 1 && ans[0] == '1';
}

int pysec_proc_python_kind(uint32_t pid, const char *exe)
{
	char ans[16];

	if (pysec_lookup(PYSEC_Q_PYKIND, pid, exe ? exe : "", ans, sizeof(ans)) < 1)
		return PYSEC_PY_NONE;
	return atoi(ans);
}
