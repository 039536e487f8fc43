// SPDX-License-Identifier: MIT
/*
 * module.c — `import pysechook`: the same hook for programs that embed
 * Python or cannot use LD_PRELOAD.  Built against the limited API of 3.8
 * (pysechook.abi3.so), so one build serves every supported CPython.  If the
 * preloaded library already hooked this process, importing adds nothing.
 */
#define _GNU_SOURCE
#define Py_LIMITED_API 0x03080000
#include <Python.h>
#include <dlfcn.h>

#include "hook.h"
#include "pysechook_abi.h"

/*
 * The CPython API the hook needs is not all in the limited API, so it is
 * resolved like the preload form does; when libpython was loaded
 * RTLD_LOCAL by an embedding program, look in libpython itself.
 */
static int libpython_handle(void **handle)
{
	Dl_info info;

	*handle = RTLD_DEFAULT; /* NULL on glibc: the return value says found */
	if (dlsym(RTLD_DEFAULT, "PySys_AddAuditHook"))
		return 0;
	if (dladdr((void *)&PyModule_Create2, &info) && info.dli_fname)
		*handle = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	return *handle ? 0 : -1;
}

static PyObject *pysechook_is_armed(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	return PyBool_FromLong(pysec_hook_armed());
}

static PyMethodDef methods[] = {
	{ "armed", pysechook_is_armed, METH_NOARGS,
	  "armed() -> bool: the pysectrace audit hook is installed in this process." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef moddef = {
	PyModuleDef_HEAD_INIT, "pysechook",
	"pysectrace audit hook: importing it installs the hook (see docs/usdt-abi.md).",
	-1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_pysechook(void)
{
	void *handle;

	if (libpython_handle(&handle) < 0 || pysec_hook_arm(handle, PYSEC_F_MODULE) < 0) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ImportError,
					"pysechook: this CPython is not supported (needs 3.8+, "
					"a release build)");
		return NULL;
	}
	PyObject *m = PyModule_Create(&moddef);

	if (m && PyModule_AddIntConstant(m, "USDT_ABI_VERSION", PYSEC_USDT_ABI_VERSION) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
