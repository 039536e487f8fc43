// SPDX-License-Identifier: MIT
/*
 * preload.c — libpysechook.so: LD_PRELOAD form of the hook.  The
 * constructor runs before main(), so before Py_Initialize(); CPython keeps
 * hooks added that early across runtime initialization.  In a process
 * without CPython nothing resolves and nothing happens.  The library has
 * no undefined Python symbols, so LD_BIND_NOW=1 cannot fail on it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>

#include "hook.h"

__attribute__((constructor)) static void pysechook_preload_init(void)
{
	/*
	 * Nothing from the environment is read: the same holds for setuid
	 * programs (AT_SECURE), where the environment is the attacker's.
	 */
	pysec_hook_arm(RTLD_DEFAULT, 0);
}
