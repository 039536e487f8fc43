// SPDX-License-Identifier: MIT
/* procinfo.c — /proc lookups for alert context. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "argdecode.h"
#include "elfinfo.h"
#include "procinfo.h"

void pysec_ip_origin(uint32_t pid, uint64_t ip, char *out, size_t outlen, int *exec)
{
	char path[64], line[4096];
	FILE *f;

	snprintf(out, outlen, "%s", "");
	*exec = 0;
	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		uint64_t lo, hi;
		char perms[8] = "";
		int off = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %*s %*s %*s %n", &lo, &hi, perms, &off) < 3)
			continue;
		if (ip < lo || ip >= hi)
			continue;
		char *name = line + off;

		name[strcspn(name, "\n")] = 0;
		*exec = perms[2] == 'x';
		snprintf(out, outlen, "%s", *name ? name : "[anon]");
		break;
	}
	fclose(f);
}

static ssize_t read_small(const char *path, char *buf, size_t cap)
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

void pysec_proc_identity(uint32_t pid, struct json_object *o)
{
	char path[64], buf[4096];
	ssize_t n;

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
}

int pysec_proc_python_kind(uint32_t pid, const char *exe)
{
	char path[64];
	enum pysec_pykind k;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	k = pysec_elf_python_kind(path);
	if (k == PYSEC_PY_NONE && access(path, F_OK) != 0 && exe && exe[0] == '/')
		k = pysec_elf_python_kind(exe);
	return k;
}
