// SPDX-License-Identifier: MIT
/*
 * noophook.c — libnoophook.so: the PEP 578 floor for `make bench-hook`.
 *
 * Preloaded like libpysechook.so, it registers a C audit hook that does
 * nothing and returns 0.  What CPython pays for having any hook at all
 * (building the args tuple of every event, the indirect call) is measured
 * by this library; what pysectrace adds is the difference to it.
 * Built by tools/bench_hook.py into BUILD/bench/; not installed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

typedef int (*audit_hook_fn)(const char *event, void *args, void *ud);
typedef int (*add_audit_hook_fn)(audit_hook_fn hook, void *ud);

/* Read by the benchmark workloads (ctypes) to prove the hook was armed. */
__attribute__((visibility("default"))) int noophook_armed;

static int noop_hook(const char *event, void *args, void *ud)
{
	(void)event;
	(void)args;
	(void)ud;
	return 0;
}

__attribute__((constructor)) static void noophook_init(void)
{
	add_audit_hook_fn add;

	/* Same lookup as hookmod/preload.c: no libpython link dependency. */
	*(void **)&add = dlsym(RTLD_DEFAULT, "PySys_AddAuditHook");
	if (add && add(noop_hook, NULL) == 0)
		noophook_armed = 1;
}
