/* SPDX-License-Identifier: MIT */
/* procinfo.h — what /proc says about a traced process, for alerts. */
#ifndef PYSEC_PROCINFO_H
#define PYSEC_PROCINFO_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The mapping that holds ip in pid's address space: a file path, "[anon]"
 * for anonymous memory (shellcode), or "" when unknown (process gone).
 * *exec gets whether the mapping is executable.
 */
void pysec_ip_origin(uint32_t pid, uint64_t ip, char *out, size_t outlen, int *exec);

/* Add exe, cmdline, uid, cgroup of pid to o (what can still be read). */
void pysec_proc_identity(uint32_t pid, struct json_object *o);

/*
 * enum pysec_pykind (elfinfo.h) of pid's current image: its /proc exe while
 * it lives, else the file it exec'd (exe).
 */
int pysec_proc_python_kind(uint32_t pid, const char *exe);

#endif
