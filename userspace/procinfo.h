/* SPDX-License-Identifier: MIT */
/*
 * procinfo.h — what the pipeline asks about a traced process or the host
 * while it judges and writes records (identity, mappings, working
 * directory, paths as the process sees them, resolv.conf).  Live, the
 * answers come from /proc; replaying a capture, from the answers the live
 * run recorded.  Every question goes through pysec_lookup so both sides
 * see the same ones.
 */
#ifndef PYSEC_PROCINFO_H
#define PYSEC_PROCINFO_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define PYSEC_LOOKUP_MAX 65536 /* largest answer */

/* Questions (kind, pid, key) → answer bytes. */
#define PYSEC_Q_IDENTITY "identity" /* key "": JSON {exe, cmdline, uid, cgroup} */
#define PYSEC_Q_MAPS	 "maps"	    /* key ip in hex: "1"/"0" (executable) + mapping */
#define PYSEC_Q_CWD	 "cwd"	    /* key "": the working directory */
#define PYSEC_Q_REALPATH "realpath" /* key path: resolved in the process's root */
#define PYSEC_Q_PYKIND	 "pykind"   /* key exe: enum pysec_pykind of the image, "0".."2" */
#define PYSEC_Q_FILE	 "file"	    /* pid 0, key a host file: its first 4 KiB */
#define PYSEC_Q_MAPPED	 "mapped"   /* key a file-name prefix: "1" some mapping's name has it */

struct pysec_lookup_ops {
	/* answer into out (cap bytes): its length, or -1 when unknown */
	long (*lookup)(void *ctx, const char *kind, uint32_t pid, const char *key, char *out,
		       size_t cap);
	void *ctx;
};

/* Observer of every live answer (the capture writer records them). */
typedef void (*pysec_lookup_observer)(void *ctx, const char *kind, uint32_t pid, const char *key,
				      const char *answer, long len);

/*
 * Where answers come from for this process: ops (replay), or NULL for
 * /proc.  One source per process, so this is process-wide state.
 */
void pysec_lookup_use(const struct pysec_lookup_ops *ops);
void pysec_lookup_observe(pysec_lookup_observer fn, void *ctx);

/* Ask: the answer's length (NUL-terminated in out), or -1. */
long pysec_lookup(const char *kind, uint32_t pid, const char *key, char *out, size_t cap);

/*
 * The mapping that holds ip in pid's address space: a file path, "[anon]"
 * for anonymous memory (shellcode), or "" when unknown (process gone).
 * *exec gets whether the mapping is executable.
 */
void pysec_ip_origin(uint32_t pid, uint64_t ip, char *out, size_t outlen, int *exec);

/*
 * Does pid map a file whose name (after the last '/') starts with prefix?
 * 0 when not, or when pid is gone.
 */
int pysec_proc_maps_file(uint32_t pid, const char *prefix);

/* Add exe, cmdline, uid, cgroup of pid to o (what can still be read). */
void pysec_proc_identity(uint32_t pid, struct json_object *o);

/*
 * enum pysec_pykind (elfinfo.h) of pid's current image: its /proc exe while
 * it lives, else the file it exec'd (exe).
 */
int pysec_proc_python_kind(uint32_t pid, const char *exe);

#endif
