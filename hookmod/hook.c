// SPDX-License-Identifier: MIT
/*
 * hook.c — the C audit hook and its USDT probe.
 *
 * Without a tracer the hook costs one load and one branch per audit event:
 * the kernel raises pysectrace_audit_semaphore only while a uprobe is
 * attached to the probe site.  The probe site is sys/sdt.h's 1-byte nop:
 * a 5-byte nop lets kernels >= 6.18 optimize the uprobe into a call, but
 * on 6.18 a child forked after that crashes (SIGSEGV) at its first hit of
 * the optimized site, so that is opt-in (-DPYSEC_PROBE_NOP5) until the
 * kernel is fixed: `pysectrace probe` (nop5_fork_safe) tells a fixed one.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#if defined(__x86_64__) && defined(PYSEC_PROBE_NOP5)
#undef _SDT_NOP
#define _SDT_NOP .nops 5
#endif

#include "control.h"
#include "correlate.h"
#include "hook.h"
#include "pysechook_abi.h"
#include "serialize.h"

/* Name fixed by sys/sdt.h: <provider>_<name>_semaphore. */
__attribute__((section(".probes"), used, visibility("hidden")))
volatile unsigned short pysectrace_audit_semaphore;

static struct pysec_pyapi api;
static uint64_t seq;
static uint32_t origin;
static int armed;
/*
 * The word of _PyRuntime that holds the head of the audit hook list, when
 * our entry is that head (found by arm_and_find_slot), else NULL.
 */
static void **hook_slot;

/*
 * Exported so that a second copy of the hook (the extension module next to
 * the preloaded library) sees that this process is already hooked.
 */
__attribute__((visibility("default"))) int pysechook_armed_in_process;

static int audit_hook(const char *event, pyobj *args, void *ud);

static void *audit_hook_fn_addr(void)
{
	return (void *)audit_hook;
}

/* The probe site: one place, so there is one address to attach to. */
static __attribute__((noinline)) void fire(uint64_t n, const char *event, const uint8_t *buf,
					   uint32_t len, uint64_t key, uint32_t flags,
					   const char *file, uint32_t line)
{
	STAP_PROBE8(pysectrace, audit, n, event, buf, len, key, flags, file, line);
}

/*
 * file:line of the innermost Python frame, from exact builtin objects only
 * (code objects cannot be subclassed; co_filename is a plain member, no
 * audit event).  3.8 has no PyFrame_GetCode: f_code follows f_back in its
 * frame layout, checked against PyCode_Type before use.  The end of a long
 * path is kept.
 */
static uint32_t where(char *file, size_t cap)
{
	pyobj *frame = api.Eval_GetFrame(), *code, *name;
	const char *u;
	py_ssize_t n = 0;
	uint32_t line;

	file[0] = 0;
	if (!frame)
		return 0;
	if (api.Frame_GetCode) {
		code = api.Frame_GetCode(frame);
	} else {
		code = ((pyobj **)frame)[4]; /* ob_refcnt, ob_type, ob_size, f_back, f_code */
		if (code && pyapi_type(code) == api.Code_Type)
			api.IncRef(code);
		else
			code = NULL;
	}
	line = (uint32_t)api.Frame_GetLineNumber(frame);
	if (!code)
		return line;
	name = api.Object_GetAttrString(code, "co_filename");
	api.DecRef(code);
	if (!name) {
		api.Err_Clear();
		return line;
	}
	if (pyapi_type(name) == api.Unicode_Type && (u = api.Unicode_AsUTF8AndSize(name, &n))) {
		size_t skip = (size_t)n >= cap ? (size_t)n - (cap - 1) : 0;

		memcpy(file, u + skip, (size_t)n - skip);
		file[(size_t)n - skip] = 0;
	} else {
		api.Err_Clear();
	}
	api.DecRef(name);
	return line;
}

/*
 * CPython frees the hook entries right after this event with the raw
 * allocator of *that* moment.  Our entry was allocated before
 * Py_Initialize, with the default allocator; under PYTHONMALLOC=debug or
 * -X dev the debug allocator then aborts the process ("bad ID").  Take the
 * list out of CPython's hands: the entries leak at exit instead.
 */
static void keep_entry_at_exit(void)
{
	void **entry = *hook_slot;

	if (entry && entry[1] == (void *)audit_hook_fn_addr())
		*hook_slot = NULL;
}

static int audit_hook(const char *event, pyobj *args, void *ud)
{
	uint8_t buf[PYSEC_ARGS_MAX];
	uint32_t flags, pflags = 0;
	size_t len;
	uint64_t n;
	char deny_msg[160];
	int listening, fire_it, rc = 0, sig = 0;

	(void)ud;
	if (__builtin_expect(event[0] == 'c', 0) && hook_slot &&
	    !strcmp(event, "cpython._PySys_ClearAuditHooks"))
		keep_entry_at_exit();
	if (__builtin_expect(!pysectrace_audit_semaphore, 1) &&
	    __builtin_expect(!__atomic_load_n(&pysec_ctl_current, __ATOMIC_RELAXED), 1))
		return 0;
	listening = pysectrace_audit_semaphore != 0;
	fire_it = listening;
	if (pysec_ctl_current)
		rc = pysec_control_check(&api, event, args, listening, &fire_it, &pflags, &sig,
					 deny_msg, sizeof(deny_msg));
	if (!fire_it)
		goto out;
	n = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
	len = pysec_serialize(&api, args, buf, sizeof(buf), &flags);
	flags |= origin | pflags;
	struct pysec_token tok = { 0 };

	/* a denied event announces nothing: the operation will not happen */
	if (!(pflags & PYSEC_F_DENIED) && pysec_token_for(&api, event, args, &tok))
		flags |= tok.flags;

	char file[PYSEC_FILE_MAX];
	pyobj *et = NULL, *ev = NULL, *tb = NULL;
	int saved = api.Err_Occurred() != NULL;

	if (saved)
		api.Err_Fetch(&et, &ev, &tb);
	uint32_t line = where(file, sizeof(file));

	if (api.Err_Occurred())
		api.Err_Clear();
	if (saved)
		api.Err_Restore(et, ev, tb);
	fire(n, event, buf, (uint32_t)len, tok.key, flags, file, line);
out:
	if (sig)
		kill(getpid(), sig);
	if (rc < 0)
		api.Err_SetString(*api.Exc_PermissionError, deny_msg);
	return rc;
}

/* The hook opens a file of its own next: leave a token so the tracer sees it audited. */
static void announce_own_open(const char *path)
{
	uint8_t buf[PYSEC_ARGS_MAX] = { PYSEC_T_TUPLE, 1, 0, PYSEC_T_STR };
	size_t n = strnlen(path, PYSEC_STR_CAP);

	if (!pysectrace_audit_semaphore)
		return;
	buf[4] = (uint8_t)(n & 0xff);
	buf[5] = (uint8_t)(n >> 8);
	memcpy(buf + 6, path, n);
	fire(__atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED), PYSEC_CONTROL_EVENT, buf,
	     (uint32_t)(6 + n), pysec_hash_bytes(path, strlen(path)),
	     origin | ((uint32_t)PYSEC_TK_PATH << PYSEC_TK_SHIFT), "", 0);
}

/*
 * Where the bridge lives, for a tracer checking it from outside (the
 * runtime's hook-list word, our entry, our function, the probe semaphore):
 * announced when the hook arms, and kept here for a tracer that attaches
 * later (docs/usdt-abi.md).  Native code in the process can rewrite both;
 * a tracer trusts what it saw at arm time.
 */
__attribute__((visibility("default"))) struct pysec_bridge pysechook_bridge;

static void put_int(uint8_t *b, uint64_t v)
{
	b[0] = PYSEC_T_INT;
	memcpy(b + 1, &v, sizeof(v));
}

/*
 * Tell the tracer the hook is in place, before the interpreter runs: what
 * the process does from here on is held against its audit events.  The
 * args ("preload"|"module", slot, entry, function, semaphore) are built by
 * hand: the interpreter may not be initialized yet.
 */
static void announce_armed(void)
{
	static const char what[2][8] = { "preload", "module" };
	const char *w = what[(origin & PYSEC_F_MODULE) ? 1 : 0];
	uint8_t buf[64] = { PYSEC_T_TUPLE, 5, 0, PYSEC_T_STR, 0, 0 };
	size_t n = strlen(w), o;

	if (!pysectrace_audit_semaphore)
		return;
	buf[4] = (uint8_t)n;
	memcpy(buf + 6, w, n);
	o = 6 + n;
	put_int(buf + o, pysechook_bridge.slot);
	put_int(buf + o + 9, pysechook_bridge.entry);
	put_int(buf + o + 18, pysechook_bridge.fn);
	put_int(buf + o + 27, pysechook_bridge.semaphore);
	fire(__atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED), PYSEC_ARMED_EVENT, buf,
	     (uint32_t)(o + 36), (uintptr_t)&pysechook_bridge, origin | PYSEC_F_ARMED, "", 0);
}

static void reset_seq_in_child(void)
{
	__atomic_store_n(&seq, 0, __ATOMIC_RELAXED);
}

/* Copy len bytes at addr without faulting on a bad address (1: done). */
static int read_self(const void *addr, void *out, size_t len)
{
	struct iovec local = { out, len }, remote = { (void *)addr, len };

	return syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0) == (ssize_t)len;
}

/*
 * Register the hook and find the word of _PyRuntime that now points to our
 * entry (list head): compare _PyRuntime before and after, no hard-coded
 * offsets.  Only words that changed are dereferenced: the new entry.
 */
static int arm_and_find_slot(void *handle)
{
	void *rt = dlsym(handle, "_PyRuntime");
	const ElfW(Sym) *sym = NULL;
	Dl_info info;
	size_t words = 0;
	void **before = NULL;
	int rc;

	if (rt && dladdr1(rt, &info, (void **)&sym, RTLD_DL_SYMENT) && sym &&
	    sym->st_size >= sizeof(void *) && sym->st_size < (64u << 20)) {
		words = sym->st_size / sizeof(void *);
		before = malloc(words * sizeof(void *));
		if (before)
			memcpy(before, rt, words * sizeof(void *));
	}
	rc = api.AddAuditHook(audit_hook, NULL);
	if (rc == 0 && before) {
		void **now = rt;

		for (size_t i = 0; i < words; i++) {
			void *entry[2];

			/* a changed word may be no pointer at all: read it safely */
			if (before[i] == NULL && now[i] && read_self(now[i], entry, sizeof(entry)) &&
			    entry[1] == (void *)audit_hook) {
				hook_slot = &now[i];
				break;
			}
		}
	}
	free(before);
	return rc;
}

int pysec_hook_armed(void)
{
	return __atomic_load_n(&pysechook_armed_in_process, __ATOMIC_ACQUIRE);
}

int pysec_hook_arm(void *handle, uint32_t origin_flags)
{
	if (armed || pysec_hook_armed())
		return 0;
	if (pyapi_resolve(&api, handle) != 0)
		return -1;
	origin = origin_flags;
	if (arm_and_find_slot(handle) != 0) {
		/* An earlier hook refused us; leave no exception behind. */
		if (api.Err_Occurred())
			api.Err_Clear();
		return -1;
	}
	pysechook_bridge = (struct pysec_bridge){
		.magic = PYSEC_BRIDGE_MAGIC,
		.slot = (uintptr_t)hook_slot,
		.entry = hook_slot ? (uintptr_t)*hook_slot : 0,
		.fn = (uintptr_t)audit_hook,
		.semaphore = (uintptr_t)&pysectrace_audit_semaphore,
	};
	armed = 1;
	__atomic_store_n(&pysechook_armed_in_process, 1, __ATOMIC_RELEASE);
	pthread_atfork(NULL, NULL, reset_seq_in_child);
	announce_armed();
	pysec_control_attach(&api, announce_own_open);
	return 1;
}
