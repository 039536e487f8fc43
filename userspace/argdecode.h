/* SPDX-License-Identifier: MIT */
/* argdecode.h — the hook's serialized audit args → JSON values. */
#ifndef PYSEC_ARGDECODE_H
#define PYSEC_ARGDECODE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Decode buf[0..len) (format: hookmod/pysechook_abi.h) into a new JSON
 * array of the args tuple's items.  Never fails on hostile input: what
 * cannot be decoded ends the array with {"truncated": true} (cut by the
 * hook) or {"malformed": OFFSET} (not the hook's format).  Mapping:
 *   str (valid UTF-8)          "text"
 *   str (lone surrogates)      {"str_escaped": "a\\udc80b"}
 *   bytes                      {"bytes": "text\\xff"}
 *   cut str / bytes            {"str"|"bytes"|"str_escaped": ..., "truncated": true, "size": N}
 *   int                        number; beyond 64 bits {"int": "decimal"}
 *   float                      number; nan/inf {"float": "nan"}
 *   True/False/None            true/false/null
 *   tuple, list                array; omitted items {"more": N}
 *   nested too deep            {"type": "tuple", "depth_limit": true}
 *   other object               {"type": "tp_name"}
 * Escaped text uses backslash escapes: \\ for a backslash, \xNN for a byte
 * that is not UTF-8, \udNNN for a lone surrogate.
 */
struct json_object *pysec_args_to_json(const uint8_t *buf, size_t len);

/*
 * A byte string from the kernel (a path): a JSON string when it is UTF-8,
 * else {"bytes": "escaped"} as above.
 */
struct json_object *pysec_bytes_to_json(const void *s, size_t n);

/* Render the args as one line of text for humans (caller frees). */
char *pysec_args_to_text(const uint8_t *buf, size_t len);

#endif
