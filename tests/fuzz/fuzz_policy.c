// SPDX-License-Identifier: MIT
/*
 * fuzz_policy.c — libFuzzer target: the policy parser (userspace/policy.c)
 * on arbitrary bytes; when a policy loads, its compiled control file must
 * pass the hook's own validation, and matching events through it must stay
 * in bounds.  Seeds: tests/fuzz/corpus/policy/.  `make fuzz-policy`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"open", "socket.connect"};
	struct pysec_evfilter f = {.fire_other = 1, .names = names, .n = 2};
	struct pysec_evargs ev = {.path = {"/etc/passwd", "/opt/app/x"},
				  .host = "10.0.0.1",
				  .family = 4,
				  .addr = {10, 0, 0, 1},
				  .port = 443,
				  .exe = "/usr/bin/curl",
				  .argv = "curl -d @x",
				  .module = "ctypes",
				  .unknown = 1u << PYSEC_M_PORT};
	struct pysec_procid proc = {"/usr/bin/python3", "/app/main.py", "/jobs/a", 1000};
	static const char *const events[] = {
	    "open", "socket.connect", "subprocess.Popen", "import", "compile", "ctypes.dlopen", ""};
	struct pysec_policy_error err;
	struct pysec_policy *p = pysec_policy_load_buf((const char *)data, size, &err);
	struct pysec_ctl c;
	const char *why;
	size_t n;
	void *buf;

	if (!p)
		return 0;
	buf = pysec_policy_compile(p, PYSEC_CTL_ENFORCE, &f, &n);
	if (buf) {
		if (pysec_ctl_open(&c, buf, n, &why) != 0)
			abort(); /* the compiler wrote what the hook would refuse */
		for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
			(void)pysec_ctl_decide(&c, events[i], &ev, &proc);
		free(buf);
	}
	pysec_policy_free(p);
	return 0;
}
