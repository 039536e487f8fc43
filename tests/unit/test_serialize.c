// SPDX-License-Identifier: MIT
/*
 * test_serialize.c — hookmod/serialize.c against the real CPython it runs
 * in: objects are built by evaluating Python, serialized with
 * pysec_serialize() through the run-time resolved API (pyapi_resolve), and
 * checked through the tracer's decoder (userspace/argdecode.c) and, for raw
 * layout, byte by byte.  Besides every type and every cap, this checks the
 * hook's two promises: it never runs user code, and it leaves the
 * thread's exception state as it found it.
 */
#include <Python.h>

#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "argdecode.h"
#include "pyapi.h"
#include "pysechook_abi.h"
#include "serialize.h"
#include "unit_util.h"

#define JFLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define CANARY 0xa5
#define SLACK 64

static struct pysec_pyapi api;
static PyObject *ns; /* globals of the prelude and of every expression */

/* Test classes, the reference model of the decoded JSON, random objects. */
static const char prelude[] =
	"import enum\n"
	"import json\n"
	"import math\n"
	"import os\n"
	"import random\n"
	"import sys\n"
	"\n"
	"ran = []\n"
	"\n"
	"\n"
	"def _rec(what):\n"
	"    ran.append(what)\n"
	"    raise RuntimeError('user code ran: ' + what)\n"
	"\n"
	"\n"
	"class Meta(type):\n"
	"    def __repr__(cls):\n"
	"        _rec('Meta.__repr__')\n"
	"\n"
	"    def __str__(cls):\n"
	"        _rec('Meta.__str__')\n"
	"\n"
	"    def __instancecheck__(cls, o):\n"
	"        _rec('Meta.__instancecheck__')\n"
	"\n"
	"    def __subclasscheck__(cls, o):\n"
	"        _rec('Meta.__subclasscheck__')\n"
	"\n"
	"    def __eq__(cls, o):\n"
	"        _rec('Meta.__eq__')\n"
	"\n"
	"    def __hash__(cls):\n"
	"        return id(cls)\n"
	"\n"
	"\n"
	"def _hostile(name):\n"
	"    def m(self, *a, **k):\n"
	"        _rec(name + '.' + m.__name__)\n"
	"    return m\n"
	"\n"
	"\n"
	"_METHODS = ('__repr__', '__str__', '__index__', '__int__', '__float__',\n"
	"            '__bytes__', '__fspath__', '__len__', '__iter__', '__eq__',\n"
	"            '__ne__', '__hash__', '__bool__', '__format__', '__getitem__',\n"
	"            '__contains__', '__reversed__', '__sizeof__', '__reduce_ex__',\n"
	"            '__getattr__')\n"
	"\n"
	"\n"
	"def _arm(cls):\n"
	"    for meth in _METHODS:\n"
	"        f = _hostile(cls.__name__)\n"
	"        f.__name__ = meth\n"
	"        setattr(cls, meth, f)\n"
	"\n"
	"    def ga(self, attr):\n"
	"        _rec(cls.__name__ + '.__getattribute__(' + attr + ')')\n"
	"    cls.__getattribute__ = ga\n"
	"    return cls\n"
	"\n"
	"\n"
	"@_arm\n"
	"class Evil(metaclass=Meta):\n"
	"    pass\n"
	"\n"
	"\n"
	"@_arm\n"
	"class EStr(str):\n"
	"    pass\n"
	"\n"
	"\n"
	"@_arm\n"
	"class EInt(int):\n"
	"    pass\n"
	"\n"
	"\n"
	"@_arm\n"
	"class ETuple(tuple):\n"
	"    pass\n"
	"\n"
	"\n"
	"@_arm\n"
	"class EList(list):\n"
	"    pass\n"
	"\n"
	"\n"
	"@_arm\n"
	"class EBytes(bytes):\n"
	"    pass\n"
	"\n"
	"\n"
	"@_arm\n"
	"class EFloat(float):\n"
	"    pass\n"
	"\n"
	"\n"
	"class PlainStr(str):\n"
	"    pass\n"
	"\n"
	"\n"
	"class Color(enum.IntEnum):\n"
	"    RED = 1\n"
	"\n"
	"\n"
	"def nest(n, leaf):\n"
	"    for _ in range(n):\n"
	"        leaf = (leaf,)\n"
	"    return leaf\n"
	"\n"
	"\n"
	"def hostile_objects():\n"
	"    return (Evil(), EStr('s'), EInt(5), ETuple((1, 2)), EList([3]),\n"
	"            EBytes(b'b'), EFloat(1.0), PlainStr('p'), Evil)\n"
	"\n"
	"\n"
	"# ---- reference model of the decoded JSON (hookmod/pysechook_abi.h +\n"
	"# userspace/argdecode.h), written independently of the C code.\n"
	"\n"
	"STR_CAP, ITEMS_CAP, DEPTH_CAP = 512, 32, 4\n"
	"APPROX = object()\n"
	"\n"
	"\n"
	"def esc_bytes(b):\n"
	"    out, i = [], 0\n"
	"    while i < len(b):\n"
	"        c = b[i]\n"
	"        n = (1 if c < 0x80 else 2 if 0xc2 <= c <= 0xdf else\n"
	"             3 if 0xe0 <= c <= 0xef else 4 if 0xf0 <= c <= 0xf4 else 0)\n"
	"        ch = None\n"
	"        if n and i + n <= len(b):\n"
	"            try:\n"
	"                ch = b[i:i + n].decode('utf-8')\n"
	"            except UnicodeDecodeError:\n"
	"                ch = None\n"
	"        if ch is not None:\n"
	"            out.append('\\\\\\\\' if ch == '\\\\' else ch)\n"
	"            i += n\n"
	"        else:\n"
	"            out.append('\\\\x%02x' % c)\n"
	"            i += 1\n"
	"    return ''.join(out)\n"
	"\n"
	"\n"
	"def esc_str(s):\n"
	"    return ''.join('\\\\\\\\' if c == '\\\\' else\n"
	"                   '\\\\u%04x' % ord(c) if 0xd800 <= ord(c) <= 0xdfff else c\n"
	"                   for c in s)\n"
	"\n"
	"\n"
	"def ref_text(o):\n"
	"    is_str = type(o) is str\n"
	"    b = o.encode('utf-8', 'surrogatepass') if is_str else o\n"
	"    cut = len(b) > STR_CAP\n"
	"    kb = b\n"
	"    if cut:\n"
	"        k = STR_CAP\n"
	"        if is_str:  # never inside a character\n"
	"            while k < len(b) and (b[k] & 0xc0) == 0x80:\n"
	"                k -= 1\n"
	"        kb = b[:k]\n"
	"    try:  # what the tracer sees: the kept bytes\n"
	"        text = kb.decode('utf-8') if is_str else None\n"
	"        clean = is_str\n"
	"    except UnicodeDecodeError:\n"
	"        clean = False\n"
	"    if not is_str:\n"
	"        text = esc_bytes(kb)\n"
	"    elif not clean:\n"
	"        text = esc_str(kb.decode('utf-8', 'surrogatepass'))\n"
	"    if clean and not cut:\n"
	"        return text\n"
	"    v = {('bytes' if not is_str else 'str' if clean else 'str_escaped'): text}\n"
	"    if cut:\n"
	"        v['truncated'] = True\n"
	"        v['size'] = len(o)  # len(): characters of a str\n"
	"    return v\n"
	"\n"
	"\n"
	"def ref(o, depth=0):\n"
	"    t = type(o)\n"
	"    if o is None or t is bool:\n"
	"        return o\n"
	"    if t is str or t is bytes:\n"
	"        return ref_text(o)\n"
	"    if t is int:\n"
	"        if -2**63 <= o < 2**63:\n"
	"            return o\n"
	"        try:\n"
	"            d = float(o)\n"
	"        except OverflowError:\n"
	"            return (APPROX, o)\n"
	"        if abs(d) < 1e76:\n"
	"            return {'int': str(o)}\n"
	"        return (APPROX, o)\n"
	"    if t is float:\n"
	"        if math.isnan(o):\n"
	"            return {'float': 'nan'}\n"
	"        if math.isinf(o):\n"
	"            return {'float': 'inf' if o > 0 else '-inf'}\n"
	"        return o\n"
	"    if t is tuple or t is list:\n"
	"        if depth >= DEPTH_CAP:\n"
	"            return {'type': t.__name__, 'depth_limit': True}\n"
	"        v = [ref(x, depth + 1) for x in o[:ITEMS_CAP]]\n"
	"        if len(o) > ITEMS_CAP:\n"
	"            v.append({'more': len(o) - ITEMS_CAP})\n"
	"        return v\n"
	"    return {'type': t.__name__}\n"
	"\n"
	"\n"
	"def same(m, c, path):\n"
	"    if type(m) is tuple and m and m[0] is APPROX:\n"
	"        o = m[1]\n"
	"        if not (type(c) is dict and list(c) == ['int'] and c['int'][:1] == '~'):\n"
	"            return path + ': approximate int expected'\n"
	"        if o < 0 and not c['int'].startswith('~-'):\n"
	"            return path + ': sign lost in approximation ' + c['int']\n"
	"        try:\n"
	"            d = float(o)\n"
	"        except OverflowError:\n"
	"            return None\n"
	"        if float(c['int'][1:]) != d:\n"
	"            return path + ': approximation ' + c['int']\n"
	"        return None\n"
	"    if type(m) is float:\n"
	"        if type(c) is not float or c != m or \\\n"
	"           math.copysign(1, c) != math.copysign(1, m):\n"
	"            return path + ': float %r != %r' % (m, c)\n"
	"        return None\n"
	"    if type(m) is list:\n"
	"        if type(c) is not list or len(c) != len(m):\n"
	"            return path + ': list length'\n"
	"        for i, (a, b) in enumerate(zip(m, c)):\n"
	"            e = same(a, b, path + '[%d]' % i)\n"
	"            if e:\n"
	"                return e\n"
	"        return None\n"
	"    if type(m) is dict:\n"
	"        if type(c) is not dict or list(c) != list(m):\n"
	"            return path + ': keys %r != %r' % (list(m), list(c) if type(c) is dict else c)\n"
	"        for k in m:\n"
	"            e = same(m[k], c[k], path + '.' + k)\n"
	"            if e:\n"
	"                return e\n"
	"        return None\n"
	"    if type(m) is not type(c) or m != c:\n"
	"        return path + ': %r != %r' % (m, c)\n"
	"    return None\n"
	"\n"
	"\n"
	"def check(o, text):\n"
	"    return same(ref(o), json.loads(text), '$')\n"
	"\n"
	"\n"
	"# ---- random objects\n"
	"\n"
	"def gen_text(r, as_bytes):\n"
	"    n = r.choice((r.randrange(12), r.randrange(500, 530), r.randrange(1200)))\n"
	"    if as_bytes:\n"
	"        pool = b'a\\\\\\x00\\xff\\xc3\\xa9\\xed\\xb2\\x80\\xe2\\x82\\xac\\xf0\\x9f\\x98'\n"
	"        return bytes(r.choice(pool) if r.randrange(3) else r.randrange(256)\n"
	"                     for _ in range(n))\n"
	"    pool = 'a\\\\\\x00\\u00e9\\u20ac\\U0001f600\\udc80\\ud800\\udfff\"/'\n"
	"    return ''.join(r.choice(pool) if r.randrange(3) else chr(r.randrange(0x110000))\n"
	"                   for _ in range(n))\n"
	"\n"
	"\n"
	"def gen(r, depth=0, budget=None):\n"
	"    if budget is None:\n"
	"        budget = [200]\n"
	"    budget[0] -= 1\n"
	"    k = r.randrange(24)\n"
	"    if k == 0:\n"
	"        return None\n"
	"    if k == 1:\n"
	"        return r.random() < 0.5\n"
	"    if k == 2:\n"
	"        return r.choice((0, 1, -1, 2**63 - 1, -2**63, 2**63, -2**63 - 1,\n"
	"                         2**64, 10**r.randrange(1, 120), -10**r.randrange(1, 120),\n"
	"                         r.getrandbits(r.randrange(1, 300)) * r.choice((1, -1))))\n"
	"    if k == 3:\n"
	"        return r.choice((0.0, -0.0, 1.5, 0.1, float('nan'), float('inf'),\n"
	"                         -float('inf'), r.uniform(-1e300, 1e300)))\n"
	"    if k in (4, 5, 6):\n"
	"        return gen_text(r, False)\n"
	"    if k == 7:\n"
	"        return gen_text(r, True)\n"
	"    if k in (8, 9, 10, 11) and budget[0] > 0:\n"
	"        n = r.choice((r.randrange(4), r.randrange(12), r.randrange(30, 40)))\n"
	"        items = [gen(r, depth + 1, budget) for _ in range(n)]\n"
	"        return tuple(items) if k % 2 else items\n"
	"    if k == 12:\n"
	"        return r.choice(hostile_objects())\n"
	"    if k == 13:\n"
	"        return r.choice(({}, set(), object(), range(3), len))\n"
	"    return r.choice((r.randrange(-1000, 1000), 'x', b'y'))\n"
	"\n"
	"\n"
	"def gen_args(seed):\n"
	"    r = random.Random(seed)\n"
	"    return tuple(gen(r, 1) for _ in range(r.randrange(6)))\n";

/* ---- Python helpers */

static void py_fail(const char *what)
{
	if (PyErr_Occurred())
		PyErr_Print();
	fail_msg("python: %s", what);
}

static PyObject *eval(const char *expr)
{
	PyObject *o = PyRun_String(expr, Py_eval_input, ns, ns);

	if (!o)
		py_fail(expr);
	return o;
}

static void run(const char *code)
{
	PyObject *o = PyRun_String(code, Py_file_input, ns, ns);

	if (!o)
		py_fail(code);
	Py_DECREF(o);
}

static long ran_count(void)
{
	PyObject *ran = PyDict_GetItemString(ns, "ran"); /* borrowed */

	assert_non_null(ran);
	return (long)PyList_Size(ran);
}

/* ---- serialize + decode */

struct result {
	uint8_t buf[2048 + SLACK];
	size_t len;
	uint32_t flags;
	char *json; /* decoded, JSON text */
	int truncated; /* last element {"truncated": true} */
};


/*
 * Serialize o into a cap-byte buffer followed by a canary, and decode it.
 * Checks what holds for every object and every cap: nothing written past
 * cap, no exception left behind, no user code run, the decoder finds the
 * hook's format (never "malformed"), PYSEC_F_TRUNCATED exactly when the
 * buffer ends with '~' and the args end with {"truncated": true}.
 */
static void ser(struct result *r, PyObject *o, size_t cap)
{
	struct json_object *arr, *last;
	long ran_before = ran_count();
	size_t n;

	assert_true(cap + SLACK <= sizeof(r->buf));
	memset(r->buf, CANARY, sizeof(r->buf));
	r->flags = 0xdeadbeef;
	r->len = pysec_serialize(&api, (pyobj *)o, r->buf, cap, &r->flags);
	if (PyErr_Occurred())
		py_fail("exception left set by pysec_serialize");
	assert_int_equal(ran_count(), ran_before);
	assert_true(r->len <= cap);
	for (size_t i = cap; i < cap + SLACK; i++)
		if (r->buf[i] != CANARY)
			fail_msg("cap %zu: byte %zu written past the end", cap, i);
	assert_true(r->flags == 0 || r->flags == PYSEC_F_TRUNCATED);

	arr = pysec_args_to_json(r->buf, r->len);
	assert_non_null(arr);
	assert_true(json_object_is_type(arr, json_type_array));
	r->json = strdup(json_object_to_json_string_ext(arr, JFLAGS));
	assert_non_null(r->json);
	assert_true(valid_utf8(r->json, strlen(r->json)));
	n = json_object_array_length(arr);
	last = n ? json_object_array_get_idx(arr, n - 1) : NULL;
	r->truncated = last && json_object_is_type(last, json_type_object) &&
		       json_object_object_get_ex(last, "truncated", NULL) &&
		       json_object_object_length(last) == 1;
	if (last && json_object_is_type(last, json_type_object) &&
	    json_object_object_get_ex(last, "malformed", NULL))
		fail_msg("cap %zu: decoder: %s", cap, r->json);
	if (r->flags & PYSEC_F_TRUNCATED) {
		assert_true(r->len > 0 && r->buf[r->len - 1] == PYSEC_T_END);
		if (!r->truncated)
			fail_msg("cap %zu: truncated, not marked: %s", cap, r->json);
	} else {
		if (r->truncated)
			fail_msg("cap %zu: marked truncated, no flag: %s", cap, r->json);
	}
	json_object_put(arr);
}

static void res_free(struct result *r)
{
	free(r->json);
	r->json = NULL;
}

static struct result R;

/* Evaluate expr, serialize with the real buffer size, expect JSON. */
static void check_flags(const char *expr, const char *expected, uint32_t flags)
{
	PyObject *o = eval(expr);

	ser(&R, o, PYSEC_ARGS_MAX);
	Py_DECREF(o);
	if (strcmp(R.json, expected) != 0)
		fail_msg("%s\n  got      %s\n  expected %s", expr, R.json, expected);
	assert_int_equal(R.flags, flags);
	res_free(&R);
}

static void check(const char *expr, const char *expected)
{
	check_flags(expr, expected, 0);
}

/* Same, expected JSON given as a Python expression building the string. */
static void check_py(const char *expr, const char *expected_expr)
{
	PyObject *e = eval(expected_expr);
	const char *s = PyUnicode_AsUTF8(e);

	assert_non_null(s);
	check(expr, s);
	Py_DECREF(e);
}

/* Serialize obj and compare with the Python reference model (prelude). */
static void check_model(PyObject *o, const char *json, const char *what)
{
	PyObject *fn = PyDict_GetItemString(ns, "check");
	PyObject *res = PyObject_CallFunction(fn, "Os", o, json);

	if (!res)
		py_fail(what);
	if (res != Py_None)
		fail_msg("%s: %s\n  got %s", what, PyUnicode_AsUTF8(res), json);
	Py_DECREF(res);
}

/* ---- setup */

static int group_setup(void **state)
{
	Py_InitializeEx(0);
	if (pyapi_resolve(&api, RTLD_DEFAULT) != 0)
		return -1;
	ns = PyDict_New();
	if (!ns || PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins()))
		return -1;
	PyObject *o = PyRun_String(prelude, Py_file_input, ns, ns);

	if (!o) {
		PyErr_Print();
		return -1;
	}
	Py_DECREF(o);
	return 0;
}

static int group_teardown(void **state)
{
	Py_CLEAR(ns);
	return Py_FinalizeEx() == 0 ? 0 : -1;
}

/* ---- tests */

static void test_resolve(void **state)
{
	struct pysec_pyapi a;

	assert_int_equal(pyapi_resolve(&a, RTLD_DEFAULT), 0);
	assert_ptr_equal(a.Long_Type, (void *)&PyLong_Type);
	assert_ptr_equal(a.None, (void *)Py_None);
	assert_ptr_equal(a.True, (void *)Py_True);
	assert_string_equal(pyapi_type_name(pyapi_type((pyobj *)Py_None)), "NoneType");
}

/* The bytes themselves, independent of the decoder. */
static void test_raw_layout(void **state)
{
	static const uint8_t want[] = {
		'(', 9, 0,
		'N', 'T', 'F',
		'i', 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		'i', 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		'd', 0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f, /* 0.1 */
		's', 2, 0, 'a', 'b',
		'b', 3, 0, 0xff, 0, '\\',
		'[', 1, 0, '(', 0, 0,
	};
	PyObject *o = eval("(None, True, False, 0x0102030405060708, -2, 0.1, 'ab',"
			   " b'\\xff\\x00\\\\', [()])");

	ser(&R, o, PYSEC_ARGS_MAX);
	Py_DECREF(o);
	assert_int_equal(R.flags, 0);
	assert_int_equal(R.len, sizeof(want));
	assert_memory_equal(R.buf, want, sizeof(want));
	res_free(&R);

	/* a bigint, a cut str and '+' */
	static const uint8_t want2[] = {
		'(', 3, 0,
		'I', 19, 0, '9', '2', '2', '3', '3', '7', '2', '0', '3', '6', '8', '5',
		'4', '7', '7', '5', '8', '0', '8',
		'[', 33, 0,
	};
	o = eval("(2**63, list(range(40)), 'x' * 513)");
	ser(&R, o, PYSEC_ARGS_MAX);
	Py_DECREF(o);
	assert_int_equal(R.flags, 0);
	assert_memory_equal(R.buf, want2, sizeof(want2));
	/* after 32 small ints: '+' u32 8 */
	const uint8_t *p = R.buf + sizeof(want2) + 32 * 9;

	assert_int_equal(p[0], '+');
	assert_int_equal(p[1] | p[2] << 8 | p[3] << 16 | (uint32_t)p[4] << 24, 8);
	p += 5;
	assert_int_equal(p[0], 'S');
	assert_int_equal(p[1] | p[2] << 8 | p[3] << 16 | (uint32_t)p[4] << 24, 513);
	assert_int_equal(p[5] | p[6] << 8, PYSEC_STR_CAP);
	assert_int_equal(R.len, (size_t)(p + 7 + PYSEC_STR_CAP - R.buf));
	res_free(&R);
}

static void test_none_bool(void **state)
{
	check("(None, True, False)", "[null,true,false]");
	check("(None,)", "[null]");
	check("([None, (None,)],)", "[[null,[null]]]");
	check("()", "[]");
}

static void test_str(void **state)
{
	check("('abc', '', '/etc/passwd')", "[\"abc\",\"\",\"/etc/passwd\"]");
	check("('h\\u00e9llo \\u20ac \\U0001f600', '\\U0010ffff')",
	      "[\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\",\"\xf4\x8f\xbf\xbf\"]");
	/* only JSON's own escapes: a backslash in a clean str is one char */
	check("('q\"b\\\\c\\n', 'a\\x00b')", "[\"q\\\"b\\\\c\\n\",\"a\\u0000b\"]");
	/* exactly PYSEC_STR_CAP bytes: whole */
	check_py("('x' * 512,)", "'[\"' + 'x' * 512 + '\"]'");
	check_py("('\\u00e9' * 256,)", "'[\"' + '\\u00e9' * 256 + '\"]'");
}

static void test_str_cap(void **state)
{
	check_py("('a' * 513,)",
		 "'[{\"str\":\"' + 'a' * 512 + '\",\"truncated\":true,\"size\":513}]'");
	/* cut on a character boundary: 170 x 3 bytes */
	check_py("('\\u20ac' * 200,)",
		 "'[{\"str\":\"' + '\\u20ac' * 170 + '\",\"truncated\":true,\"size\":200}]'");
	check_py("('\\U0001f600' * 200,)",
		 "'[{\"str\":\"' + '\\U0001f600' * 128 + '\",\"truncated\":true,\"size\":200}]'");
	check_py("('a' + '\\U0001f600' * 200,)",
		 "'[{\"str\":\"a' + '\\U0001f600' * 127 + '\",\"truncated\":true,\"size\":201}]'");
	/* a huge str is not copied whole */
	check_py("('y' * 10**7,)",
		 "'[{\"str\":\"' + 'y' * 512 + '\",\"truncated\":true,\"size\":10000000}]'");
	/* bytes likewise, no character boundary */
	check_py("(b'\\xff' * 600,)",
		 "'[{\"bytes\":\"' + '\\\\\\\\xff' * 512 + '\",\"truncated\":true,\"size\":600}]'");
	check_py("(b'\\xc3\\xa9' * 300,)",
		 "'[{\"bytes\":\"' + '\\u00e9' * 256 + '\",\"truncated\":true,\"size\":600}]'");
	check_py("(b'a' * 512,)", "'[{\"bytes\":\"' + 'a' * 512 + '\"}]'");
}

static void test_bytes(void **state)
{
	check("(b'abc', b'', b'a\\\\b\\xff\\x00\\xc3\\xa9')",
	      "[{\"bytes\":\"abc\"},{\"bytes\":\"\"},"
	      "{\"bytes\":\"a\\\\\\\\b\\\\xff\\u0000\xc3\xa9\"}]");
	/* a surrogate's 3-byte form in bytes is three bad bytes */
	check("(b'\\xed\\xb2\\x80', bytearray(b'x'))",
	      "[{\"bytes\":\"\\\\xed\\\\xb2\\\\x80\"},{\"type\":\"bytearray\"}]");
}

static void test_surrogates(void **state)
{
	check("(os.fsdecode(b'\\xff'), 'a\\udc80b', '\\ud800', '\\\\\\udfff')",
	      "[{\"str_escaped\":\"\\\\udcff\"},{\"str_escaped\":\"a\\\\udc80b\"},"
	      "{\"str_escaped\":\"\\\\ud800\"},{\"str_escaped\":\"\\\\\\\\\\\\udfff\"}]");
	/* os.fsdecode of a non-UTF-8 path, with real text around it */
	check("(os.fsdecode(b'/tmp/\\xe9t\\xe9'),)",
	      "[{\"str_escaped\":\"/tmp/\\\\udce9t\\\\udce9\"}]");
	/* cut: surrogates are 3 bytes each, 170 of them kept */
	check_py("('\\udc80' * 200,)",
		 "'[{\"str_escaped\":\"' + '\\\\\\\\udc80' * 170 + "
		 "'\",\"truncated\":true,\"size\":200}]'");
	/* the surrogate itself cut away: what is left is clean */
	check_py("('a' * 511 + '\\udc80',)",
		 "'[{\"str\":\"' + 'a' * 511 + '\",\"truncated\":true,\"size\":512}]'");
}

static void test_int(void **state)
{
	check("(0, 1, -1, 2**63 - 1, -2**63)",
	      "[0,1,-1,9223372036854775807,-9223372036854775808]");
	check("(2**63, -2**63 - 1, 2**64, -2**64)",
	      "[{\"int\":\"9223372036854775808\"},{\"int\":\"-9223372036854775809\"},"
	      "{\"int\":\"18446744073709551616\"},{\"int\":\"-18446744073709551616\"}]");
	check_py("(10**70, -10**70, 10**75)",
		 "'[{\"int\":\"1' + '0' * 70 + '\"},{\"int\":\"-1' + '0' * 70 + "
		 "'\"},{\"int\":\"1' + '0' * 75 + '\"}]'");
	/* past 1e76: an approximation, '~' and %.17g */
	check("(10**76, 10**100, -10**100, 10**300, 3 * 10**200)",
	      "[{\"int\":\"~1e+76\"},{\"int\":\"~1e+100\"},{\"int\":\"~-1e+100\"},"
	      "{\"int\":\"~1.0000000000000001e+300\"},{\"int\":\"~2.9999999999999999e+200\"}]");
}

/* Beyond what a double holds: still an approximation, with its sign. */
static void test_int_beyond_double(void **state)
{
	PyObject *o = eval("(10**400, 2**1024, -10**400, -2**1024)");
	struct json_object *arr;

	ser(&R, o, PYSEC_ARGS_MAX);
	Py_DECREF(o);
	assert_int_equal(R.flags, 0);
	arr = json_tokener_parse(R.json);
	assert_non_null(arr);
	assert_int_equal(json_object_array_length(arr), 4);
	for (int i = 0; i < 4; i++) {
		struct json_object *v;
		const char *s;

		assert_true(json_object_object_get_ex(json_object_array_get_idx(arr, i),
						      "int", &v));
		s = json_object_get_string(v);
		assert_true(s[0] == '~');
		assert_true(strlen(s) < 32); /* not the decimal */
		if (i >= 2 && strncmp(s, "~-", 2) != 0)
			fail_msg("negative int approximated without its sign: %s", R.json);
	}
	json_object_put(arr);
	res_free(&R);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A huge int is never converted to decimal (quadratic: hostile args). */
static void test_huge_int_fast(void **state)
{
	PyObject *o;
	double t0, t1;

	/* make str() of a huge int possible (and slow) */
	run("_old_digits = sys.get_int_max_str_digits()\n"
	    "sys.set_int_max_str_digits(0)\n");
	o = eval("(10**100000, -(7**120000), 2**1000000 - 1)");
	t0 = now();
	for (int i = 0; i < 50; i++) {
		ser(&R, o, PYSEC_ARGS_MAX);
		assert_int_equal(R.flags, 0);
		assert_true(R.len < 100);
		assert_non_null(strstr(R.json, "{\"int\":\"~"));
		res_free(&R);
	}
	t1 = now();
	Py_DECREF(o);
	run("sys.set_int_max_str_digits(_old_digits)\n");
	if (t1 - t0 > 0.05)
		fail_msg("50 serializations of huge ints took %.3f s", t1 - t0);
}

static void test_float(void **state)
{
	check("(1.5, -0.25, 0.0, -0.0, 1e300, 5e-324)",
	      "[1.5,-0.25,0.0,-0.0,1.0000000000000001e+300,4.9406564584124654e-324]");
	check("(float('nan'), float('inf'), -float('inf'), -float('nan'))",
	      "[{\"float\":\"nan\"},{\"float\":\"inf\"},{\"float\":\"-inf\"},"
	      "{\"float\":\"nan\"}]");
}

static void test_containers(void **state)
{
	check("((1, [2, 'x']), [], (), [[]])", "[[1,[2,\"x\"]],[],[],[[]]]");
	/* args that are not a tuple: kept as the one item */
	check("[1, 2]", "[1,2]");
	check("'solo'", "[\"solo\"]");
}

static void test_depth(void **state)
{
	check("((((1,),),),)", "[[[[1]]]]");
	check("(((((1,),),),),)", "[[[[{\"type\":\"tuple\",\"depth_limit\":true}]]]]");
	check("([[[[1]]]],)", "[[[[{\"type\":\"list\",\"depth_limit\":true}]]]]");
	/* what is below the cap is not even sized */
	check("((((tuple(range(10**6)),),),),)",
	      "[[[[{\"type\":\"tuple\",\"depth_limit\":true}]]]]");
	check("nest(10000, 'leaf')", "[[[[{\"type\":\"tuple\",\"depth_limit\":true}]]]]");
	/* a list that contains itself */
	check("(lambda l: (l.append(l), (l,))[1])([])",
	      "[[[[{\"type\":\"list\",\"depth_limit\":true}]]]]");
}

static void test_items_cap(void **state)
{
	check_py("tuple(range(32))", "'[' + ','.join(map(str, range(32))) + ']'");
	check_py("tuple(range(40))", "'[' + ','.join(map(str, range(32))) + ',{\"more\":8}]'");
	check_py("(list(range(33)),)",
		 "'[[' + ','.join(map(str, range(32))) + ',{\"more\":1}]]'");
	check_py("(list(range(100000)),)",
		 "'[[' + ','.join(map(str, range(32))) + ',{\"more\":99968}]]'");
}

static void test_other_types(void **state)
{
	check("({}, set(), object(), range(3), len, 1j, Color.RED)",
	      "[{\"type\":\"dict\"},{\"type\":\"set\"},{\"type\":\"object\"},"
	      "{\"type\":\"range\"},{\"type\":\"builtin_function_or_method\"},"
	      "{\"type\":\"complex\"},{\"type\":\"Color\"}]");
}

static const char hostile_json[] =
	"{\"type\":\"Evil\"},{\"type\":\"EStr\"},{\"type\":\"EInt\"},"
	"{\"type\":\"ETuple\"},{\"type\":\"EList\"},{\"type\":\"EBytes\"},"
	"{\"type\":\"EFloat\"},{\"type\":\"PlainStr\"},{\"type\":\"Meta\"}";

static void test_subclasses(void **state)
{
	char want[1024];

	snprintf(want, sizeof(want), "[%s]", hostile_json);
	check("hostile_objects()", want);
	snprintf(want, sizeof(want), "[[%s],[[%s]]]", hostile_json, hostile_json);
	check("(list(hostile_objects()), (hostile_objects(),))", want);
	/* args themselves of a subclass type */
	check("ETuple((1, 2))", "[{\"type\":\"ETuple\"}]");
	check("EList([1])", "[{\"type\":\"EList\"}]");
}

/* The hook runs no user code, at any cap, and leaves no exception. */
static void test_no_user_code(void **state)
{
	static const char *const objs[] = {
		"hostile_objects()",
		"tuple(hostile_objects()) * 10",
		"(list(hostile_objects()) * 5, hostile_objects(), [hostile_objects()] * 40)",
		"nest(10, hostile_objects())",
		"(EStr('x' * 1000), EInt(10**400), EBytes(b'\\xff' * 1000), "
		"ETuple(range(100)), EList(range(100)))",
		"(Evil(), '\\udc80', 10**400, 2**70, Evil)",
	};
	static const char *const wants[] = {
		"[{\"type\":\"Evil\"},{\"type\":\"EStr\"},{\"type\":\"EInt\"},"
		"{\"type\":\"ETuple\"},{\"type\":\"EList\"},{\"type\":\"EBytes\"},"
		"{\"type\":\"EFloat\"},{\"type\":\"PlainStr\"},{\"type\":\"Meta\"}]",
	};

	/* the detector works: user code does record */
	run("ran.clear()\n"
	    "try:\n    repr(Evil())\nexcept RuntimeError:\n    pass\n");
	assert_int_equal(ran_count(), 1);
	run("ran.clear()\n");

	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		PyObject *o = eval(objs[i]);

		assert_int_equal(ran_count(), 0);
		for (size_t cap = 16; cap <= PYSEC_ARGS_MAX; cap += cap < 128 ? 1 : 61) {
			ser(&R, o, cap);
			if (i == 0 && cap == PYSEC_ARGS_MAX)
				assert_string_equal(R.json, wants[0]);
			res_free(&R);
		}
		ser(&R, o, PYSEC_ARGS_MAX);
		res_free(&R);
		Py_DECREF(o);
		assert_int_equal(ran_count(), 0);
		assert_null(PyErr_Occurred());
	}
}

/* An exception set before the call is the same one after it. */
static void exception_kept(size_t cap, int normalized)
{
	PyObject *o = eval("('\\udc80', 10**400, 2**70, Evil(), EStr('s'), 'x' * 600)");
	PyObject *t, *v, *tb, *t2, *v2, *tb2;
	uint8_t buf[PYSEC_ARGS_MAX];
	uint32_t flags = 0;
	size_t len;
	char *text;

	if (normalized) {
		assert_null(PyRun_String("1 / 0", Py_eval_input, ns, ns));
	} else {
		PyErr_SetString(PyExc_KeyError, "set before the hook ran");
	}
	assert_non_null(PyErr_Occurred());
	PyErr_Fetch(&t, &v, &tb);
	assert_non_null(t);
	assert_non_null(v);
	if (normalized)
		assert_non_null(tb);
	Py_INCREF(t);
	Py_INCREF(v);
	Py_XINCREF(tb);
	PyErr_Restore(t, v, tb);

	len = pysec_serialize(&api, (pyobj *)o, buf, cap, &flags);

	PyErr_Fetch(&t2, &v2, &tb2);
	assert_ptr_equal(t2, t);
	assert_ptr_equal(v2, v);
	assert_ptr_equal(tb2, tb);
	assert_null(PyErr_Occurred());
	Py_DECREF(t2);
	Py_DECREF(v2);
	Py_XDECREF(tb2);
	Py_DECREF(t);
	Py_DECREF(v);
	Py_XDECREF(tb);

	/* and the serialization did happen */
	assert_true(len <= cap);
	text = pysec_args_to_text(buf, len);
	assert_non_null(text);
	if (cap == PYSEC_ARGS_MAX) {
		assert_int_equal(flags, 0);
		assert_non_null(strstr(text, "\\\\udc80"));
		assert_non_null(strstr(text, "1180591620717411303424"));
		assert_non_null(strstr(text, "EStr"));
	}
	free(text);
	Py_DECREF(o);
	assert_int_equal(ran_count(), 0);
}

static void test_exception_preserved(void **state)
{
	exception_kept(PYSEC_ARGS_MAX, 1);
	exception_kept(PYSEC_ARGS_MAX, 0);
	exception_kept(16, 1);
	exception_kept(40, 0);
	/* and none is invented when none was set */
	PyObject *o = eval("('\\udc80', 10**400)");

	assert_null(PyErr_Occurred());
	ser(&R, o, PYSEC_ARGS_MAX);
	assert_null(PyErr_Occurred());
	res_free(&R);
	Py_DECREF(o);
}

static void test_total_overflow(void **state)
{
	PyObject *e;

	e = eval("'[\"' + 'a' * 400 + '\",\"' + 'b' * 400 + '\",{\"str\":\"' + 'c' * 207 + "
		 "'\",\"truncated\":true,\"size\":500},{\"truncated\":true}]'");
	check_flags("('a' * 400, 'b' * 400, 'c' * 500)", PyUnicode_AsUTF8(e),
		    PYSEC_F_TRUNCATED);
	Py_DECREF(e);

	/* cut by the buffer, on a character boundary */
	e = eval("'[\"' + 'a' * 401 + '\",\"' + 'b' * 400 + '\",{\"str\":\"' + "
		 "'\\u20ac' * 68 + '\",\"truncated\":true,\"size\":200},"
		 "{\"truncated\":true}]'");
	check_flags("('a' * 401, 'b' * 400, '\\u20ac' * 200)", PyUnicode_AsUTF8(e),
		    PYSEC_F_TRUNCATED);
	Py_DECREF(e);

	/* bytes cut by the buffer */
	e = eval("'[{\"bytes\":\"' + 'a' * 400 + '\"},{\"bytes\":\"' + 'b' * 400 + "
		 "'\"},{\"bytes\":\"' + '\\\\u0000' * 207 + "
		 "'\",\"truncated\":true,\"size\":500},{\"truncated\":true}]'");
	check_flags("(b'a' * 400, b'b' * 400, b'\\x00' * 500)", PyUnicode_AsUTF8(e),
		    PYSEC_F_TRUNCATED);
	Py_DECREF(e);

	/* the buffer is used to its last byte */
	PyObject *o = eval("('a' * 400, 'b' * 400, 'c' * 500)");

	ser(&R, o, PYSEC_ARGS_MAX);
	assert_int_equal(R.len, PYSEC_ARGS_MAX);
	assert_int_equal(R.buf[PYSEC_ARGS_MAX - 1], PYSEC_T_END);
	res_free(&R);
	Py_DECREF(o);

	/* nested containers filling up */
	o = eval("([('x' * 100,) * 5] * 5,)");
	ser(&R, o, PYSEC_ARGS_MAX);
	assert_int_equal(R.flags, PYSEC_F_TRUNCATED);
	assert_true(R.truncated);
	res_free(&R);
	Py_DECREF(o);
}

/*
 * A fixed-size item (int, float, container header, '+') whose tag fits but
 * whose payload does not must not leave a lone tag before the '~'.
 */
static void test_fixed_items_at_the_end(void **state)
{
	static const struct {
		const char *expr;
		size_t cap;
		const char *want;
	} cases[] = {
		{ "(1.5, 2.5)", 16, "[1.5,{\"truncated\":true}]" },
		{ "(1, 2)", 16, "[1,{\"truncated\":true}]" },
		{ "(1.5, True, True, (1,))", 16, "[1.5,true,true,{\"truncated\":true}]" },
		{ "(True,) * 33", 37,
		  "[true,true,true,true,true,true,true,true,true,true,true,true,true,"
		  "true,true,true,true,true,true,true,true,true,true,true,true,true,"
		  "true,true,true,true,true,true,{\"truncated\":true}]" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		PyObject *o = eval(cases[i].expr);

		ser(&R, o, cases[i].cap);
		Py_DECREF(o);
		assert_int_equal(R.flags, PYSEC_F_TRUNCATED);
		if (strcmp(R.json, cases[i].want) != 0)
			fail_msg("%s cap %zu: %s", cases[i].expr, cases[i].cap, R.json);
		res_free(&R);
	}
}

static const char *const many[] = {
	"(None, True, False, 1, -1, 2**63, 10**70, 10**400, 1.5, float('nan'))",
	"('abc', 'h\\u00e9llo \\u20ac', '\\U0001f600' * 20, os.fsdecode(b'\\xff\\xfe'), "
	"'a' * 600)",
	"(b'', b'\\xff' * 100, b'x' * 700, b'\\\\' * 30)",
	"(tuple(range(40)), [[1, 2], (3, (4, (5, (6,))))], [])",
	"hostile_objects()",
	"nest(50, 'leaf')",
	"('\\u20ac' * 400, '\\U0001f600' * 300)",
	"('\\udc80' * 300, 'a\\udcff' * 100)",
	"(list(range(1000)),) * 3",
	"tuple(float(i) / 3 for i in range(40))",
	"tuple((i, str(i), bytes(i)) for i in range(40))",
	"('/usr/lib/python3.11/os.py', 'r', -1, None, None, None, True, None)",
};

/* Small and odd caps: never past cap, always decodable, same when it fits. */
static void test_small_caps(void **state)
{
	for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++) {
		PyObject *o = eval(many[i]);
		char *full;
		int full_fits;

		ser(&R, o, PYSEC_ARGS_MAX);
		full = R.json;
		full_fits = R.flags == 0;
		R.json = NULL;
		for (size_t cap = 16; cap <= 2048; cap += cap < 100 ? 1 : cap < 1100 ? 13 : 300) {
			ser(&R, o, cap);
			if (!(R.flags & PYSEC_F_TRUNCATED) && full_fits &&
			    strcmp(R.json, full) != 0)
				fail_msg("%s cap %zu: %s\n  vs %s", many[i], cap, R.json, full);
			res_free(&R);
		}
		free(full);
		Py_DECREF(o);
	}
	assert_int_equal(ran_count(), 0);
}

/* Random objects against the reference model of the prelude. */
static void test_fuzz_model(void **state)
{
	PyObject *gen = PyDict_GetItemString(ns, "gen_args");
	unsigned seed_rng = 12345;

	assert_non_null(gen);
	for (long seed = 0; seed < 1500; seed++) {
		PyObject *o = PyObject_CallFunction(gen, "l", seed);
		char what[64];

		if (!o)
			py_fail("gen_args");
		snprintf(what, sizeof(what), "gen_args(%ld)", seed);
		ser(&R, o, PYSEC_ARGS_MAX);
		if (R.flags == 0)
			check_model(o, R.json, what);
		res_free(&R);
		for (int k = 0; k < 3; k++) {
			size_t cap = 16 + rand_r(&seed_rng) % 1100;

			ser(&R, o, cap);
			res_free(&R);
		}
		Py_DECREF(o);
	}
	assert_int_equal(ran_count(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_raw_layout),
		cmocka_unit_test(test_none_bool),
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_str_cap),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_surrogates),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_int_beyond_double),
		cmocka_unit_test(test_huge_int_fast),
		cmocka_unit_test(test_float),
		cmocka_unit_test(test_containers),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_items_cap),
		cmocka_unit_test(test_other_types),
		cmocka_unit_test(test_subclasses),
		cmocka_unit_test(test_no_user_code),
		cmocka_unit_test(test_exception_preserved),
		cmocka_unit_test(test_total_overflow),
		cmocka_unit_test(test_fixed_items_at_the_end),
		cmocka_unit_test(test_small_caps),
		cmocka_unit_test(test_fuzz_model),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
