// SPDX-License-Identifier: MIT
/*
 * eventtab.c — the audit events that --show audit leaves out: raised very
 * often by ordinary code, never announcing I/O, a process, the network or
 * native code.  One table; each row says why it is safe to hide.
 */
#include <string.h>

#include "emit.h"

static const struct {
	const char *event;
	const char *why;
} frequent[] = {
	{ "builtins.id", "object identity, no side effect" },
	{ "object.__getattr__", "attribute read on a type-protected attribute" },
	{ "object.__setattr__", "attribute write on a type-protected attribute" },
	{ "object.__delattr__", "attribute delete on a type-protected attribute" },
	{ "sys._getframe", "frame introspection (logging, warnings call it constantly)" },
	{ "sys._getframemodulename", "3.12+: module name of a frame, used by enum/typing" },
};

int pysec_event_is_frequent(const char *event)
{
	for (size_t i = 0; i < sizeof(frequent) / sizeof(frequent[0]); i++)
		if (!strcmp(event, frequent[i].event))
			return 1;
	return 0;
}

const char *pysec_frequent_event(size_t i)
{
	return i < sizeof(frequent) / sizeof(frequent[0]) ? frequent[i].event : NULL;
}
