// SPDX-License-Identifier: MIT
/* pyapi.c — resolve the CPython API at run time (see pyapi.h). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>

#include "pyapi.h"

#define RESOLVE(field, sym)                                            \
	do {                                                           \
		*(void **)&api->field = dlsym(handle, sym);            \
		if (!api->field)                                       \
			return -1;                                     \
	} while (0)

int pyapi_resolve(struct pysec_pyapi *api, void *handle)
{
	memset(api, 0, sizeof(*api));
	RESOLVE(AddAuditHook, "PySys_AddAuditHook");
	RESOLVE(Unicode_AsUTF8AndSize, "PyUnicode_AsUTF8AndSize");
	RESOLVE(Unicode_AsEncodedString, "PyUnicode_AsEncodedString");
	RESOLVE(Unicode_GetLength, "PyUnicode_GetLength");
	RESOLVE(Unicode_EncodeFSDefault, "PyUnicode_EncodeFSDefault");
	RESOLVE(Unicode_Substring, "PyUnicode_Substring");
	RESOLVE(Bytes_AsString, "PyBytes_AsString");
	RESOLVE(Bytes_Size, "PyBytes_Size");
	RESOLVE(Long_AsLongLongAndOverflow, "PyLong_AsLongLongAndOverflow");
	RESOLVE(Long_AsDouble, "PyLong_AsDouble");
	RESOLVE(Object_Str, "PyObject_Str");
	RESOLVE(Float_AsDouble, "PyFloat_AsDouble");
	RESOLVE(Tuple_Size, "PyTuple_Size");
	RESOLVE(Tuple_GetItem, "PyTuple_GetItem");
	RESOLVE(List_Size, "PyList_Size");
	RESOLVE(List_GetItem, "PyList_GetItem");
	RESOLVE(Err_Occurred, "PyErr_Occurred");
	RESOLVE(Err_Fetch, "PyErr_Fetch");
	RESOLVE(Err_Restore, "PyErr_Restore");
	RESOLVE(Err_Clear, "PyErr_Clear");
	RESOLVE(DecRef, "Py_DecRef");
	RESOLVE(IncRef, "Py_IncRef");
	RESOLVE(Eval_GetFrame, "PyEval_GetFrame");
	RESOLVE(Frame_GetLineNumber, "PyFrame_GetLineNumber");
	RESOLVE(Object_GetAttrString, "PyObject_GetAttrString");
	RESOLVE(Code_Type, "PyCode_Type");
	*(void **)&api->Frame_GetCode = dlsym(handle, "PyFrame_GetCode"); /* 3.9+ */
	RESOLVE(Unicode_Type, "PyUnicode_Type");
	RESOLVE(Bytes_Type, "PyBytes_Type");
	RESOLVE(Long_Type, "PyLong_Type");
	RESOLVE(Bool_Type, "PyBool_Type");
	RESOLVE(Float_Type, "PyFloat_Type");
	RESOLVE(Tuple_Type, "PyTuple_Type");
	RESOLVE(List_Type, "PyList_Type");
	RESOLVE(None, "_Py_NoneStruct");
	RESOLVE(True, "_Py_TrueStruct");
	RESOLVE(Err_SetString, "PyErr_SetString");
	RESOLVE(Exc_PermissionError, "PyExc_PermissionError");

	/*
	 * Layout check: every static type object's ob_type is &PyType_Type
	 * and tp_name is where pyapi_type_name() reads it.  Debug
	 * (Py_TRACE_REFS) and free-threaded builds fail here and stay
	 * unhooked rather than being misread.
	 */
	void *type_type = dlsym(handle, "PyType_Type");

	if (!type_type || pyapi_type(api->Long_Type) != type_type ||
	    pyapi_type(api->None) == NULL ||
	    strcmp(pyapi_type_name(api->Long_Type), "int") != 0 ||
	    strcmp(pyapi_type_name(api->Unicode_Type), "str") != 0 ||
	    pyapi_type(api->True) != api->Bool_Type)
		return -1;
	return 0;
}
