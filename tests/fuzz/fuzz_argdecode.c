// SPDX-License-Identifier: MIT
/*
 * fuzz_argdecode.c — libFuzzer target: the tracer's decoder of the hook's
 * serialized audit args (userspace/argdecode.c), fed whatever a hostile
 * process can put at the probe's args pointer.  Besides not crashing, the
 * JSON it produces must parse back, and the text form must be a C string.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "argdecode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *v = pysec_args_to_json(data, size), *back;
	const char *s;
	char *text;

	if (!v || !json_object_is_type(v, json_type_array))
		abort(); /* the contract: always an array */
	s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
	back = json_tokener_parse(s);
	if (!back)
		abort(); /* we wrote JSON that does not parse */
	json_object_put(back);
	json_object_put(v);

	text = pysec_args_to_text(data, size);
	if (text && strlen(text) > 64 * 1024 + size * 8)
		abort(); /* output grows with input, never beyond */
	free(text);

	v = pysec_bytes_to_json(data, size);
	if (!v)
		abort();
	json_object_put(v);
	return 0;
}
