// SPDX-License-Identifier: MIT
/*
 * hook.c — the C audit hook and its USDT probe.
 *
 * Without a tracer the hook costs one load and one branch per audit event:
 * the kernel raises pysectrace_audit_semaphore only while a uprobe is
 * attached to the probe site.  The probe site is a 5-byte nop so kernels
 * that optimize uprobes (>= 6.18, x86-64) can turn the trap into a call.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>

#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#if defined(__x86_64__)
#undef _SDT_NOP
#define _SDT_NOP .nops 5
#endif

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
 * Exported so that a second copy of the hook (the extension module next to
 * the preloaded library) sees that this process is already hooked.
 */
__attribute__((visibility("default"))) int pysechook_armed_in_process;

static int audit_hook(const char *event, pyobj *args, void *ud)
{
	uint8_t buf[PYSEC_ARGS_MAX];
	uint32_t flags;
	size_t len;
	uint64_t n;

	(void)ud;
	if (__builtin_expect(!pysectrace_audit_semaphore, 1))
		return 0;
	n = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
	len = pysec_serialize(&api, args, buf, sizeof(buf), &flags);
	flags |= origin;
	uint64_t key = 0;
	uint32_t len32 = (uint32_t)len;

	STAP_PROBE6(pysectrace, audit, n, event, buf, len32, key, flags);
	return 0;
}

static void reset_seq_in_child(void)
{
	__atomic_store_n(&seq, 0, __ATOMIC_RELAXED);
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
	if (api.AddAuditHook(audit_hook, NULL) != 0) {
		/* An earlier hook refused us; leave no exception behind. */
		if (api.Err_Occurred())
			api.Err_Clear();
		return -1;
	}
	armed = 1;
	__atomic_store_n(&pysechook_armed_in_process, 1, __ATOMIC_RELEASE);
	pthread_atfork(NULL, NULL, reset_seq_in_child);
	return 1;
}
