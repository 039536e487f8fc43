/* SPDX-License-Identifier: MIT */
/*
 * pysechook_abi.h — the process/kernel ABI of pysectrace.
 *
 * This is the only contract between the audit hook running inside a Python
 * process (hookmod/) and the tracer (bpf/ + userspace/).  Changing anything
 * here changes PYSEC_USDT_ABI_VERSION.  Documented for users in
 * docs/usdt-abi.md.
 *
 * USDT probe  provider "pysectrace", name "audit", with a semaphore
 * (pysectrace_audit_semaphore): the hook does no work at all unless a tracer
 * has attached and the kernel raised the semaphore.
 *
 *   arg1  u64          seq      per-process sequence number, starts at 1,
 *                               reset in a forked child
 *   arg2  const char * event    NUL-terminated audit event name
 *   arg3  const u8 *   args     serialized arguments (format below)
 *   arg4  u32          args_len bytes valid at args (<= PYSEC_ARGS_MAX)
 *   arg5  u64          key      correlation key of the syscall this event
 *                               announces (see "Expectation tokens")
 *   arg6  u32          flags    PYSEC_F_* below; bits 8-11: token kind;
 *                               bits 16-31: matched control-file rule + 1
 *   arg7  const char * file     Python source file of the innermost frame
 *                               (UTF-8, NUL-terminated, "" when none)
 *   arg8  u32          line     its line number (0 when none)
 *
 * Expectation tokens.  An event that announces a monitored syscall carries
 * a token kind (PYSEC_TK_*) and a key computed in-process, so the kernel
 * compares numbers instead of parsing Python objects:
 *   PYSEC_TK_PATH    open family: pysec_hash() of the fs-encoded path
 *                    bytes exactly as the syscall receives them
 *   PYSEC_TK_CONNECT connect/sendto/sendmsg: pysec_hash() of the sockaddr
 *                    key (family, port, address; see pysec_sockaddr_key),
 *                    or with PYSEC_F_KEY_PORT the port alone (host name
 *                    resolved inside connect) or PYSEC_F_KEY_ANY
 *   PYSEC_TK_EXEC    execve/execveat: pysec_hash() of the basename of the
 *                    program (a PATH search tries several directories)
 * PYSEC_F_KEY_ANY: the event's argument could not be keyed without running
 * user code (a PathLike object): the token matches any syscall of its kind.
 *
 * Serialized arguments: the audit args tuple as one item.  Each item starts
 * with a one-byte tag; integers are little-endian.
 *
 *   'N'                      None
 *   'T' / 'F'                True / False
 *   'i' i64                  int that fits in 64 bits
 *   'I' u16 n, n bytes       int outside 64 bits, decimal ASCII
 *   'd' f64                  float (IEEE-754 binary64)
 *   's' u16 n, n bytes       str, UTF-8 (lone surrogates as their 3-byte
 *                            "surrogatepass" form)
 *   'b' u16 n, n bytes       bytes, raw
 *   'S' u32 total, u16 n, n  str cut to its first n bytes of UTF-8 (total:
 *                            len() of the str, in characters; at most
 *                            PYSEC_STR_CAP characters are ever encoded)
 *   'B' u32 total, u16 n, n  bytes cut likewise (total: len() in bytes)
 *   '(' u16 n, n items       tuple
 *   '[' u16 n, n items       list
 *   '+' u32 n                (last item of a container) n items omitted,
 *                            PYSEC_ITEMS_CAP applies
 *   '>' u16 n, n bytes       tuple/list below PYSEC_DEPTH_CAP: type name
 *   'o' u16 n, n bytes       any other type: its type name (tp_name)
 *   '~'                      buffer full: everything after is missing, the
 *                            counts of open containers are not reached
 *
 * Only exact builtin types are looked into; subclasses are 'o'.  The hook
 * never runs user code to produce any of this.
 */
#ifndef PYSECHOOK_ABI_H
#define PYSECHOOK_ABI_H

#define PYSEC_USDT_PROVIDER "pysectrace"
#define PYSEC_USDT_NAME "audit"
#define PYSEC_USDT_ABI_VERSION 2 /* 2: policy flags, pysectrace.control */

#define PYSEC_ARGS_MAX 1024 /* serialized args buffer, bytes */
#define PYSEC_EVENT_MAX 64  /* event name as copied by the tracer, bytes */
#define PYSEC_FILE_MAX 128  /* source file name as copied, bytes (the end kept) */
#define PYSEC_STR_CAP 512   /* longest str/bytes payload kept whole */
#define PYSEC_ITEMS_CAP 32  /* items serialized per tuple/list */
#define PYSEC_DEPTH_CAP 4   /* nesting of tuples/lists looked into */

/* flags (arg6) */
#define PYSEC_F_TRUNCATED 0x1u /* the args buffer ends with '~' */
#define PYSEC_F_MODULE 0x2u    /* hook installed by `import pysechook` */
#define PYSEC_F_KEY_ANY 0x4u   /* token matches any syscall of its kind */
#define PYSEC_F_KEY_PORT 0x8u  /* CONNECT token: key is the port only */
#define PYSEC_F_ARMED 0x10u    /* the hook's own "pysectrace.armed" event */
#define PYSEC_F_DENIED 0x20u   /* a policy rule made this event fail in process */
#define PYSEC_F_WOULD_DENY 0x40u /* observe mode: a deny/kill rule matched */
/* bits 16-31: index + 1 of the control-file rule that matched (0: none) */
#define PYSEC_F_RULE_SHIFT 16
#define PYSEC_F_RULE_OF(flags) ((flags) >> PYSEC_F_RULE_SHIFT)
#define PYSEC_TK_SHIFT 8
#define PYSEC_TK_MASK 0xf00u
#define PYSEC_TK_OF(flags) (((flags) & PYSEC_TK_MASK) >> PYSEC_TK_SHIFT)

/* The event the hook fires once when it arms (before Py_Initialize). */
#define PYSEC_ARMED_EVENT "pysectrace.armed"
/*
 * The event the hook fires (with a PATH token) right before it opens a
 * file of its own: its control file, /proc/self/cgroup (docs/control-abi.md).
 */
#define PYSEC_CONTROL_EVENT "pysectrace.control"

/*
 * The bridge as the hook set it up (at the address in the key of
 * PYSEC_ARMED_EVENT, which also carries its fields as args 2-5; exported as
 * pysechook_bridge for a tracer that attaches later): the
 * word of _PyRuntime that heads the C audit-hook list (0: not found), the
 * list entry it pointed to (ours: { next, hook function, userData }), the
 * hook function, the probe semaphore.  A tracer checks them from outside.
 */
#define PYSEC_BRIDGE_MAGIC 0x6567646972627970ULL /* "pybridge" */
#ifdef __VMLINUX_H__
#define PYSEC_U64 __u64
#else
#include <stdint.h>
#define PYSEC_U64 uint64_t
#endif
struct pysec_bridge {
	PYSEC_U64 magic;
	PYSEC_U64 slot;
	PYSEC_U64 entry;
	PYSEC_U64 fn;
	PYSEC_U64 semaphore;
};

enum pysec_token_kind {
	PYSEC_TK_NONE = 0,
	PYSEC_TK_PATH = 1,
	PYSEC_TK_CONNECT = 2,
	PYSEC_TK_EXEC = 3,
};

/* Longest path prefix both sides hash (the kernel copies this much). */
#define PYSEC_HASH_MAX 255

/*
 * FNV-1a 64 over at most PYSEC_HASH_MAX bytes, stopping at a NUL: the same
 * function in the hook (C) and in BPF (bpf/pysectrace.bpf.c unrolls it
 * over its copy of the string).
 */
#define PYSEC_FNV_OFFSET 0xcbf29ce484222325ULL
#define PYSEC_FNV_PRIME 0x100000001b3ULL

enum pysec_tag {
	PYSEC_T_NONE = 'N',
	PYSEC_T_TRUE = 'T',
	PYSEC_T_FALSE = 'F',
	PYSEC_T_INT = 'i',
	PYSEC_T_BIGINT = 'I',
	PYSEC_T_FLOAT = 'd',
	PYSEC_T_STR = 's',
	PYSEC_T_BYTES = 'b',
	PYSEC_T_STR_CUT = 'S',
	PYSEC_T_BYTES_CUT = 'B',
	PYSEC_T_TUPLE = '(',
	PYSEC_T_LIST = '[',
	PYSEC_T_MORE = '+',
	PYSEC_T_DEEP = '>',
	PYSEC_T_OTHER = 'o',
	PYSEC_T_END = '~',
};

#endif /* PYSECHOOK_ABI_H */
