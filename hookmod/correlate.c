// SPDX-License-Identifier: MIT
/*
 * correlate.c — which audit events announce which monitored syscall, and
 * the key the kernel will compare.  The table below is the event → syscall
 * mapping, measured on CPython 3.8-3.13 (docs/correlation-research.md §2);
 * the kernel side is bpf/pysectrace.bpf.c (token_*), the classification of
 * what no token explains is userspace/classify.c + baseline.c.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "correlate.h"
#include "pysechook_abi.h"

enum arg_shape {
	SHAPE_PATH,     /* str/bytes path; int fd: no syscall; PathLike: any */
	SHAPE_DIR,      /* like PATH; None means "." */
	SHAPE_SOCKADDR, /* socket address tuple or AF_UNIX path */
	SHAPE_PROGRAM,  /* program path: key its basename */
	SHAPE_SHELL,    /* os.system: libc runs /bin/sh */
};

/* Versions: all rows hold for CPython 3.8-3.13 unless noted. */
static const struct announce {
	const char *event;
	uint8_t kind;
	uint8_t arg;
	uint8_t shape;
} announces[] = {
	/*
	 * FileIO, os.open, _Py_fopen_obj, _Py_wfopen (getpath; 3.10+ only,
	 * 3.8/3.9 raise nothing there): openat(path) in this thread
	 */
	{ "open", PYSEC_TK_PATH, 0, SHAPE_PATH },
	/* opendir(path) = openat(O_DIRECTORY); an fd argument: fdopendir */
	{ "os.listdir", PYSEC_TK_PATH, 0, SHAPE_DIR },
	{ "os.scandir", PYSEC_TK_PATH, 0, SHAPE_DIR },
	/* connect(); a host name is resolved before the event: port only */
	{ "socket.connect", PYSEC_TK_CONNECT, 1, SHAPE_SOCKADDR },
	/* sendto/sendmsg with a destination (no event without one) */
	{ "socket.sendto", PYSEC_TK_CONNECT, 1, SHAPE_SOCKADDR },
	{ "socket.sendmsg", PYSEC_TK_CONNECT, 1, SHAPE_SOCKADDR },
	/* execve in this thread: os.exec* (one event per PATH attempt) */
	{ "os.exec", PYSEC_TK_EXEC, 0, SHAPE_PROGRAM },
	/* execve in the (v)fork/clone3 child; spawnp: one per PATH entry */
	{ "os.posix_spawn", PYSEC_TK_EXEC, 0, SHAPE_PROGRAM },
	{ "subprocess.Popen", PYSEC_TK_EXEC, 0, SHAPE_PROGRAM },
	/* glibc system(): execve("/bin/sh") in a clone3 child */
	{ "os.system", PYSEC_TK_EXEC, 0, SHAPE_SHELL },
};

size_t pysec_announce_events(const char **names, size_t cap)
{
	size_t n = sizeof(announces) / sizeof(announces[0]);

	for (size_t i = 0; i < n && i < cap; i++)
		names[i] = announces[i].event;
	return n;
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= PYSEC_FNV_PRIME;
	}
	return h;
}

uint64_t pysec_hash_bytes(const void *data, size_t n)
{
	const uint8_t *p = data;
	size_t len = strnlen((const char *)p, n < PYSEC_HASH_MAX ? n : PYSEC_HASH_MAX);

	return fnv(PYSEC_FNV_OFFSET, p, len);
}

uint64_t pysec_hash_basename(const char *path, size_t n)
{
	/* the kernel side sees the first PYSEC_HASH_MAX bytes of the path */
	size_t len = strnlen(path, n < PYSEC_HASH_MAX ? n : PYSEC_HASH_MAX), start = 0;

	for (size_t i = 0; i < len; i++)
		if (path[i] == '/')
			start = i + 1;
	return pysec_hash_bytes(path + start, len - start);
}

uint64_t pysec_sockaddr_key(uint16_t family, uint16_t port, const uint8_t *addr)
{
	uint8_t head[4] = { family & 0xff, family >> 8, port >> 8, port & 0xff };
	uint64_t h = fnv(PYSEC_FNV_OFFSET, head, sizeof(head));

	return fnv(h, addr, family == AF_INET ? 4 : 16);
}

static int is_exact(const struct pysec_pyapi *api, pyobj *o, void *type)
{
	return o && pyapi_type(o) == type;
}

/* str → fs-encoded bytes (new ref); bytes → itself (new ref); else NULL. */
static pyobj *fs_bytes(const struct pysec_pyapi *api, pyobj *o)
{
	if (is_exact(api, o, api->Bytes_Type)) {
		api->IncRef(o);
		return o;
	}
	if (is_exact(api, o, api->Unicode_Type)) {
		pyobj *b = api->Unicode_EncodeFSDefault(o);

		if (!b)
			api->Err_Clear();
		return b;
	}
	return NULL;
}

/* Key a path (or program basename); 0 when there is nothing to expect. */
static int key_path(const struct pysec_pyapi *api, pyobj *o, int shape, struct pysec_token *tok)
{
	pyobj *b;

	if (shape == SHAPE_DIR && o == api->None) {
		tok->key = pysec_hash_bytes(".", 1);
		return 1;
	}
	if (is_exact(api, o, api->Long_Type) || o == api->None)
		return 0; /* a file descriptor: no path lookup */
	b = fs_bytes(api, o);
	if (!b) {
		tok->flags |= PYSEC_F_KEY_ANY; /* PathLike: its __fspath__ is user code */
		return 1;
	}
	const char *p = api->Bytes_AsString(b);
	size_t n = (size_t)api->Bytes_Size(b);

	tok->key = shape == SHAPE_PROGRAM ? pysec_hash_basename(p, n) : pysec_hash_bytes(p, n);
	api->DecRef(b);
	return 1;
}

static int key_inet(const struct pysec_pyapi *api, pyobj *addr, struct pysec_token *tok)
{
	py_ssize_t n = api->Tuple_Size(addr), len = 0;
	pyobj *host = n >= 2 ? api->Tuple_GetItem(addr, 0) : NULL;
	pyobj *port = n >= 2 ? api->Tuple_GetItem(addr, 1) : NULL;
	uint8_t a[16];
	const char *h;
	int ovf = 0;
	long long pv;

	if (!is_exact(api, port, api->Long_Type) || !is_exact(api, host, api->Unicode_Type))
		goto any;
	pv = api->Long_AsLongLongAndOverflow(port, &ovf);
	if (ovf || pv < 0 || pv > 65535)
		goto any;
	h = api->Unicode_AsUTF8AndSize(host, &len);
	if (!h) {
		api->Err_Clear();
		goto any;
	}
	if (n == 2 && inet_pton(AF_INET, h, a) == 1) {
		tok->key = pysec_sockaddr_key(AF_INET, (uint16_t)pv, a);
	} else if (inet_pton(AF_INET6, h, a) == 1) {
		tok->key = pysec_sockaddr_key(AF_INET6, (uint16_t)pv, a);
	} else {
		/* a host name, resolved inside connect(): only the port is known */
		tok->key = (uint64_t)pv;
		tok->flags |= PYSEC_F_KEY_PORT;
	}
	return 1;
any:
	api->Err_Clear();
	tok->flags |= PYSEC_F_KEY_ANY;
	return 1;
}

static int key_sockaddr(const struct pysec_pyapi *api, pyobj *addr, struct pysec_token *tok)
{
	if (is_exact(api, addr, api->Tuple_Type))
		return key_inet(api, addr, tok);
	if (is_exact(api, addr, api->Unicode_Type) || is_exact(api, addr, api->Bytes_Type))
		return key_path(api, addr, SHAPE_PATH, tok); /* AF_UNIX */
	tok->flags |= PYSEC_F_KEY_ANY;
	return 1;
}

int pysec_token_for(const struct pysec_pyapi *api, const char *event, pyobj *args,
		    struct pysec_token *tok)
{
	const struct announce *a = NULL;
	pyobj *arg;
	int ok;

	for (size_t i = 0; i < sizeof(announces) / sizeof(announces[0]); i++) {
		if (event[0] == announces[i].event[0] && !strcmp(event, announces[i].event)) {
			a = &announces[i];
			break;
		}
	}
	if (!a || !is_exact(api, args, api->Tuple_Type) || api->Tuple_Size(args) <= a->arg)
		return 0;
	arg = api->Tuple_GetItem(args, a->arg);
	if (!arg) {
		api->Err_Clear();
		return 0;
	}
	tok->key = 0;
	tok->flags = (uint32_t)a->kind << PYSEC_TK_SHIFT;
	switch (a->shape) {
	case SHAPE_SHELL:
		tok->key = pysec_hash_bytes("sh", 2); /* glibc system(): /bin/sh */
		ok = 1;
		break;
	case SHAPE_SOCKADDR:
		ok = key_sockaddr(api, arg, tok);
		break;
	default:
		ok = key_path(api, arg, a->shape, tok);
	}
	return ok;
}
