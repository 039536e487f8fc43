/* SPDX-License-Identifier: MIT */
/*
 * pyapi.h — the slice of the CPython C API the hook uses, resolved at run
 * time so that one build of libpysechook.so serves every CPython 3.8-3.13
 * (static or shared libpython) and loads harmlessly into any other process.
 * Only functions exported by every supported version are used; object
 * layout is touched in two places (ob_type, tp_name), both checked against
 * the running interpreter before the hook arms (pyapi_resolve).
 */
#ifndef PYSEC_PYAPI_H
#define PYSEC_PYAPI_H

#include <stddef.h>
#include <stdint.h>

typedef struct pysec_pyobj pyobj; /* opaque PyObject */
typedef intptr_t py_ssize_t;
typedef int (*pysec_audit_hook_fn)(const char *event, pyobj *args, void *ud);

struct pysec_pyapi {
	int (*AddAuditHook)(pysec_audit_hook_fn, void *);
	const char *(*Unicode_AsUTF8AndSize)(pyobj *, py_ssize_t *);
	pyobj *(*Unicode_AsEncodedString)(pyobj *, const char *, const char *);
	py_ssize_t (*Unicode_GetLength)(pyobj *);
	pyobj *(*Unicode_EncodeFSDefault)(pyobj *);
	pyobj *(*Unicode_Substring)(pyobj *, py_ssize_t, py_ssize_t);
	char *(*Bytes_AsString)(pyobj *);
	py_ssize_t (*Bytes_Size)(pyobj *);
	long long (*Long_AsLongLongAndOverflow)(pyobj *, int *);
	double (*Long_AsDouble)(pyobj *);
	pyobj *(*Object_Str)(pyobj *);
	double (*Float_AsDouble)(pyobj *);
	py_ssize_t (*Tuple_Size)(pyobj *);
	pyobj *(*Tuple_GetItem)(pyobj *, py_ssize_t);
	py_ssize_t (*List_Size)(pyobj *);
	pyobj *(*List_GetItem)(pyobj *, py_ssize_t);
	pyobj *(*Err_Occurred)(void);
	void (*Err_Fetch)(pyobj **, pyobj **, pyobj **);
	void (*Err_Restore)(pyobj *, pyobj *, pyobj *);
	void (*Err_Clear)(void);
	void (*DecRef)(pyobj *);
	void (*IncRef)(pyobj *);
	/* where the event was raised (Python file:line) */
	pyobj *(*Eval_GetFrame)(void);
	int (*Frame_GetLineNumber)(pyobj *);
	pyobj *(*Frame_GetCode)(pyobj *); /* 3.9+; NULL on 3.8 */
	pyobj *(*Object_GetAttrString)(pyobj *, const char *);
	void *Code_Type;
	/* type objects and singletons */
	void *Unicode_Type, *Bytes_Type, *Long_Type, *Bool_Type, *Float_Type;
	void *Tuple_Type, *List_Type;
	void *None, *True;
	/* in-process deny (control.c) */
	void (*Err_SetString)(void *type, const char *msg);
	void **Exc_PermissionError; /* the variable PyExc_PermissionError */
};

/*
 * Fill api from the symbols visible through handle (RTLD_DEFAULT for the
 * preload form).  Returns 0 when every symbol was found and the object
 * layout matches what the hook assumes, -1 otherwise (not a supported
 * CPython: the hook must stay out of the way).
 */
int pyapi_resolve(struct pysec_pyapi *api, void *handle);

/* The type object of o, and a type's tp_name (layout checked at resolve). */
static inline void *pyapi_type(const pyobj *o)
{
	return ((void *const *)o)[1]; /* PyObject: ob_refcnt, ob_type */
}

static inline const char *pyapi_type_name(const void *type)
{
	return ((const char *const *)type)[3]; /* PyVarObject head, tp_name */
}

#endif /* PYSEC_PYAPI_H */
