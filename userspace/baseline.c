// SPDX-License-Identifier: MIT
/*
 * baseline.c — the interpreter's own known unaudited work: monitored
 * syscalls that a hooked CPython makes with no audit event announcing
 * them, and that are safe.  One table; every rule constrains the syscall's
 * arguments (never just a time window), says why it is safe, and has a
 * negative test (tests/e2e/test_bypass.py) showing that a native syscall
 * of the same kind outside the rule is still alerted.  Sources:
 * docs/correlation-research.md.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "classify.h"
#include "procinfo.h"

#define NR_execve 59
#define NR_execveat 322
#define NR_connect 42
#define KERNEL_O_LARGEFILE 0100000 /* x86_64, like the syscall numbers */

static int has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && !strcmp(s + n - m, suf);
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static int is_open(const struct pysec_sysctx *x)
{
	return x->r->token_kind == PYSEC_TK_PATH;
}

/* Opened for reading only: no O_WRONLY/O_RDWR, no O_CREAT/O_TRUNC. */
static int read_only(const struct pysec_sysctx *x)
{
	return is_open(x) && (x->r->flags & O_ACCMODE) == O_RDONLY &&
	       !(x->r->flags & (O_CREAT | O_TRUNC));
}

/* name.so or name.so.N[.M...]: what the dynamic loader opens */
static int is_shared_lib(const char *path)
{
	const char *b = base_name(path), *so = strstr(b, ".so");

	while (so) {
		const char *t = so + 3;

		if (!*t)
			return 1;
		if (*t == '.') {
			while (*t == '.' || (*t >= '0' && *t <= '9'))
				t++;
			if (!*t)
				return 1;
		}
		so = strstr(so + 1, ".so");
	}
	return 0;
}

/* A ".." component: the path may leave the directory it starts with. */
static int has_dotdot(const char *p)
{
	for (const char *s = p; (s = strstr(s, "..")); s += 2)
		if ((s == p || s[-1] == '/') && (s[2] == 0 || s[2] == '/'))
			return 1;
	return 0;
}

static int in_list(const char *path, const char *const *list)
{
	for (; *list; list++) {
		size_t n = strlen(*list);

		if ((*list)[n - 1] == '/' ? has_prefix(path, *list) && !has_dotdot(path)
					  : !strcmp(path, *list))
			return 1;
	}
	return 0;
}

static const char *last_event(const struct pysec_sysctx *x)
{
	const struct pysec_event_ctx *e = x->thr ? pysec_thread_last(x->thr, 0) : NULL;

	return e ? e->event : "";
}

/* ---- the rules */

/*
 * The dynamic loader opens libraries with exactly O_RDONLY|O_CLOEXEC: at
 * exec before any constructor, for every C extension import, ctypes.dlopen,
 * NSS modules inside name lookups, libgcc_s for thread exit (3.8).  Reading
 * a library exposes nothing; the code it brings runs under the same watch.
 */
static int ld_so_library_load(const struct pysec_sysctx *x)
{
	/* the kernel's O_LARGEFILE: glibc's is 0 on 64-bit, so it cannot mask it */
	unsigned long fl = x->r->flags & ~(unsigned long)KERNEL_O_LARGEFILE;
	char opened[PYSEC_ORIGIN_MAX];

	/* a library-shaped name that is a symlink to something else is not one */
	memcpy(opened, x->r->opened, sizeof(opened));
	opened[sizeof(opened) - 1] = 0;
	if (opened[0] && !is_shared_lib(opened) && strcmp(opened, "ld.so.cache") &&
	    strcmp(opened, "ld.so.preload") && !(x->r->flags & O_DIRECTORY))
		return 0;
	return is_open(x) && fl == (O_RDONLY | O_CLOEXEC) &&
	       (is_shared_lib(x->path) || !strcmp(x->path, "/etc/ld.so.cache") ||
		(strstr(x->path, "/glibc-hwcaps/") && !has_dotdot(x->path)) ||
		!strcmp(x->path, "/etc/ld.so.preload"));
}

/*
 * O_PATH: a handle that can neither read nor write the file (glibc's
 * fchmodat(AT_SYMLINK_NOFOLLOW) behind os.chmod(follow_symlinks=False),
 * nss-systemd's directory walks).  Re-opening it through /proc/self/fd, or
 * executing it, are monitored syscalls of their own.
 */
static int o_path_no_data(const struct pysec_sysctx *x)
{
	return is_open(x) && (x->r->flags & 010000000 /* O_PATH */);
}

/* glibc loads locale, charset and time-zone data lazily, with no event */
static int libc_locale_tz(const struct pysec_sysctx *x)
{
	static const char *const data[] = {
		"/usr/lib/locale/", "/usr/share/locale/", "/usr/lib/x86_64-linux-gnu/gconv/",
		"/usr/lib/aarch64-linux-gnu/gconv/", "/usr/lib64/gconv/", "/usr/lib/gconv/",
		"/usr/share/zoneinfo/", "/etc/localtime", "/etc/locale.alias",
		"/usr/share/i18n/", NULL,
	};

	return read_only(x) && in_list(x->path, data);
}

/*
 * glibc's resolver reads its configuration lazily, also inside
 * socket.connect/bind/sendto of a host name, where CPython resolves the
 * name before it raises the event (Modules/socketmodule.c, setipaddr).
 */
static int libc_nss_config(const struct pysec_sysctx *x)
{
	static const char *const conf[] = {
		"/etc/hosts", "/etc/nsswitch.conf", "/etc/resolv.conf", "/etc/host.conf",
		"/etc/gai.conf", "/etc/services", "/etc/protocols", "/etc/networks",
		"/etc/passwd", "/etc/group", NULL, /* pwd, grp, getpass.getuser() */
	};

	return read_only(x) && in_list(x->path, conf);
}

/*
 * nss-systemd (pwd, grp, getpass.getuser(), shutil.chown by name): the
 * userdb directories and their records, read-only
 */
static int libc_nss_userdb(const struct pysec_sysctx *x)
{
	static const char *const dirs[] = {
		"/run/systemd/userdb/", "/etc/userdb/", "/run/userdb/", "/run/host/userdb/",
		"/usr/local/lib/userdb/", "/usr/lib/userdb/", "/lib/userdb/", NULL,
	};

	return read_only(x) && in_list(x->path, dirs);
}

/* glibc asks the name-service cache daemon first (AF_UNIX connect) */
static int libc_nscd(const struct pysec_sysctx *x)
{
	static const char *const sock[] = {
		"/var/run/nscd/socket", "/run/nscd/socket",
		"/run/systemd/resolve/io.systemd.Resolve", NULL,
	};

	return x->r->nr == NR_connect && x->r->family == 1 /* AF_UNIX */ && in_list(x->path, sock);
}

static int resolution_event(const char *ev)
{
	static const char *const evs[] = {
		"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
		"socket.gethostbyaddr", "socket.getnameinfo", NULL,
	};

	for (const char *const *e = evs; *e; e++)
		if (!strcmp(ev, *e))
			return 1;
	return 0;
}

int pysec_baseline_nameservers(uint16_t *fam, uint8_t (*ns)[16], int max)
{
	static uint8_t cns[PYSEC_NAMESERVERS_MAX][16];
	static uint16_t cfam[PYSEC_NAMESERVERS_MAX];
	static int n = -1;
	char conf[4097], a[64];

	if (n < 0) {
		n = 0;
		if (pysec_lookup(PYSEC_Q_FILE, 0, "/etc/resolv.conf", conf, sizeof(conf)) < 0)
			conf[0] = 0;
		for (char *line = conf; *line && n < PYSEC_NAMESERVERS_MAX; line += !!*line) {
			char *end = line + strcspn(line, "\n");
			char saved = *end;

			*end = 0;
			int ok = sscanf(line, " nameserver %63s", a) == 1;

			*end = saved;
			line = end;
			if (!ok)
				continue;
			if (inet_pton(AF_INET, a, cns[n]) == 1)
				cfam[n++] = AF_INET;
			else if (inet_pton(AF_INET6, a, cns[n]) == 1)
				cfam[n++] = AF_INET6;
		}
	}
	for (int i = 0; i < n && i < max; i++) {
		fam[i] = cfam[i];
		memcpy(ns[i], cns[i], 16);
	}
	return n < max ? n : max;
}

/* Is addr (AF_INET/AF_INET6 bytes) a nameserver of /etc/resolv.conf? */
static int is_nameserver(uint16_t family, const uint8_t *addr)
{
	uint8_t ns[PYSEC_NAMESERVERS_MAX][16];
	uint16_t fam[PYSEC_NAMESERVERS_MAX];
	int n = pysec_baseline_nameservers(fam, ns, PYSEC_NAMESERVERS_MAX);

	for (int i = 0; i < n; i++)
		if (fam[i] == family && !memcmp(ns[i], addr, family == AF_INET ? 4 : 16))
			return 1;
	return 0;
}

int pysec_baseline_dns_shaped(const struct pysec_sysctx *x)
{
	return x->r->token_kind == PYSEC_TK_CONNECT && x->r->port == 53 &&
	       (x->r->family == AF_INET || x->r->family == AF_INET6) &&
	       is_nameserver(x->r->family, x->r->addr);
}

/*
 * glibc's stub resolver queries the configured nameservers on port 53:
 * inside a resolution event, or inside a socket call given a host name
 * (the thread's last event is then a socket.* one, typically
 * socket.__new__; when it is not, the query is held, see classify.c)
 */
static int libc_dns_query(const struct pysec_sysctx *x)
{
	const char *ev = last_event(x);

	return pysec_baseline_dns_shaped(x) && (resolution_event(ev) || !strncmp(ev, "socket.", 7));
}

const char *pysec_baseline_resolved_by(const char *event, struct json_object *args)
{
	struct json_object *addr, *host;
	uint8_t buf[16];
	const char *h;

	if (strcmp(event, "socket.connect") && strcmp(event, "socket.sendto") &&
	    strcmp(event, "socket.sendmsg") && strcmp(event, "socket.bind"))
		return NULL;
	if (!args || json_object_array_length(args) < 2)
		return NULL;
	addr = json_object_array_get_idx(args, 1);
	if (!json_object_is_type(addr, json_type_array) || json_object_array_length(addr) < 2)
		return NULL;
	host = json_object_array_get_idx(addr, 0);
	if (!json_object_is_type(host, json_type_string))
		return NULL;
	h = json_object_get_string(host);
	if (!*h || inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1)
		return NULL; /* a literal address needs no resolver */
	return "libc_resolve_in_sockaddr";
}

/*
 * getaddrinfo() sorts its answers (RFC 3484) by connecting a UDP socket
 * to each candidate: same port as asked, inside the audited call.
 */
static int libc_gai_sort(const struct pysec_sysctx *x)
{
	const struct pysec_event_ctx *e = x->thr ? pysec_thread_last(x->thr, 0) : NULL;
	struct json_object *port;
	long want = 0;

	if (x->r->nr != NR_connect || !e || strcmp(e->event, "socket.getaddrinfo") || !e->args ||
	    json_object_array_length(e->args) < 2)
		return 0;
	port = json_object_array_get_idx(e->args, 1);
	/* the port glibc puts in its answers: none or out of range → 0 */
	if (json_object_is_type(port, json_type_int)) {
		want = json_object_get_int64(port);
		if (want < 0 || want > 65535)
			want = 0;
	} else if (json_object_is_type(port, json_type_string)) {
		const char *sv = json_object_get_string(port);
		struct servent *se;

		if (*sv >= '0' && *sv <= '9')
			want = atol(sv);
		else if ((se = getservbyname(sv, NULL)))
			want = ntohs((uint16_t)se->s_port);
		else
			return 0;
	}
	return want == x->r->port;
}

/* os.openpty/forkpty, pty.*: glibc allocates a pseudo-terminal, no event */
static int libc_openpty(const struct pysec_sysctx *x)
{
	return is_open(x) && !strcmp(x->path, "/dev/ptmx") && (x->r->flags & O_ACCMODE) == O_RDWR;
}

/* uuid.uuid1()/getnode(): libuuid's daemon and clock file, no event */
static int libuuid_clock(const struct pysec_sysctx *x)
{
	if (x->r->nr == NR_connect)
		return x->r->family == 1 && !strcmp(x->path, "/run/uuidd/request");
	return is_open(x) && !strcmp(x->path, "/var/lib/libuuid/clock.txt");
}

/* syslog.openlog/syslog: the event carries no address; libc uses /dev/log */
static int libc_syslog(const struct pysec_sysctx *x)
{
	return x->r->nr == NR_connect && x->r->family == 1 && !strcmp(x->path, "/dev/log") &&
	       !strncmp(last_event(x), "syslog.", 7);
}

/* os.posix_spawn file_actions: opens in the child the event announced */
static int posix_spawn_file_actions(const struct pysec_sysctx *x)
{
	return is_open(x) && x->proc->spawn_child == 2;
}

/* OpenSSL's default trust store (ssl.create_default_context) */
static int openssl_trust_store(const struct pysec_sysctx *x)
{
	static const char *const certs[] = {
		"/etc/ssl/certs/", "/etc/ssl/certs", "/usr/lib/ssl/cert.pem", "/usr/lib/ssl/certs",
		"/usr/lib/ssl/certs/", "/etc/ssl/cert.pem", "/usr/lib/ssl/openssl.cnf", NULL,
	};

	return read_only(x) && in_list(x->path, certs);
}

/*
 * ssl.SSLContext.load_cert_chain / load_verify_locations(cafile=) /
 * load_dh_params: OpenSSL reads the certificate and key files it was given,
 * with no audit event (Modules/_ssl.c raises none).  Only reads of
 * certificate/key-named files, in a process where CPython's _ssl module (or
 * libssl, when _ssl is built in) is loaded, and that never used ctypes
 * (which reaches libc or libcrypto by hand: then such reads stay alerts).
 */
static int openssl_key_files(const struct pysec_sysctx *x)
{
	static const char *const sfx[] = { ".pem", ".crt", ".cer", ".key", ".der" };
	int named = 0;

	if (!read_only(x) || has_dotdot(x->path))
		return 0;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
		named |= has_suffix(x->path, sfx[i]);
	if (!named)
		return 0;
	if (x->proc->native_ffi)
		return 0;
	/* seen loading it, else (attached later) still mapping it */
	return x->proc->ssl_loaded || pysec_proc_maps_file(x->r->h.pid, "_ssl.") ||
	       pysec_proc_maps_file(x->r->h.pid, "libssl.so");
}

/*
 * glibc's get_nprocs() behind os.cpu_count() and multiprocessing reads the
 * online CPU list (sysfs, world-readable)
 */
static int libc_cpu_online(const struct pysec_sysctx *x)
{
	return read_only(x) && (!strcmp(x->path, "/sys/devices/system/cpu/online") ||
				!strcmp(x->path, "/sys/devices/system/cpu/possible"));
}

/*
 * Importing readline (pdb, the REPL, sqlite3's CLI): GNU readline reads
 * its init file and the terminal's terminfo entry (Modules/readline.c has
 * no audit event).  Only those reads: its history files are not covered.
 */
static int readline_init(const struct pysec_sysctx *x)
{
	static const char *const terminfo[] = {
		"/lib/terminfo/", "/usr/share/terminfo/", "/etc/terminfo/", "/usr/lib/terminfo/",
		NULL,
	};

	return read_only(x) && (!strcmp(x->path, "/etc/inputrc") ||
				(has_suffix(x->path, "/.inputrc") && !has_dotdot(x->path)) ||
				in_list(x->path, terminfo) ||
				(strstr(x->path, "/.terminfo/") && !has_dotdot(x->path)));
}

/* allocators (mimalloc in 3.13's libpython) read the overcommit policy */
static int overcommit_policy(const struct pysec_sysctx *x)
{
	return read_only(x) && !strcmp(x->path, "/proc/sys/vm/overcommit_memory");
}

/* entropy for hash seeds and sqlite: reading it exposes nothing */
static int urandom_read(const struct pysec_sysctx *x)
{
	return read_only(x) && (!strcmp(x->path, "/dev/urandom") || !strcmp(x->path, "/dev/random"));
}

size_t pysec_sqlite_db_len(const char *path)
{
	static const char *const sfx[] = { "-journal", "-wal", "-shm" };
	size_t pl = strlen(path);

	for (size_t k = 0; k < sizeof(sfx) / sizeof(sfx[0]); k++)
		if (pl > strlen(sfx[k]) && !strcmp(path + pl - strlen(sfx[k]), sfx[k]))
			return pl - strlen(sfx[k]);
	return pl;
}

size_t pysec_sqlite_match_relative(const char *path, const char *db)
{
	size_t pl = pysec_sqlite_db_len(path), dl = strlen(db);

	return pl > dl && path[pl - dl - 1] == '/' && !strncmp(path + pl - dl, db, dl) ? pl : 0;
}

/*
 * sqlite opens its journal, WAL and shared-memory files and the database's
 * directory itself, after an audited sqlite3.connect(db) in this process.
 */
static int sqlite_side_files(const struct pysec_sysctx *x)
{
	if (!is_open(x))
		return 0;
	for (unsigned i = 0; i < x->proc->ndbs; i++) {
		const char *db = x->proc->dbs[i];
		const char *slash = strrchr(db, '/');
		size_t n = strlen(db);

		/* a name left relative (its process's cwd was gone): match the tail */
		if (db[0] != '/') {
			if (pysec_sqlite_match_relative(x->path, db))
				return 1;
			continue;
		}
		if (pysec_sqlite_db_len(x->path) == n && !strncmp(x->path, db, n))
			return 1;
		if (read_only(x) && slash && (size_t)(slash - db) == strlen(x->path) &&
		    !strncmp(x->path, db, (size_t)(slash - db)))
			return 1;
	}
	return 0;
}

/* The interpreter's path configuration, read before user code runs */
static int interpreter_startup(const struct pysec_sysctx *x)
{
	const char *b = base_name(x->path);

	return !x->proc->started && read_only(x) &&
	       (!strcmp(b, "pyvenv.cfg") || !strcmp(b, "pybuilddir.txt") || has_suffix(b, "._pth"));
}

/* 3.12+: os.fork() counts threads in /proc/self/stat to warn about them */
static int fork_thread_count(const struct pysec_sysctx *x)
{
	return read_only(x) && !strcmp(last_event(x), "os.fork") &&
	       !strcmp(x->path, "/proc/self/stat");
}

/*
 * _posixsubprocess in the child, between fork and exec: lists its fds to
 * close them (no audit event: the child runs no Python code).  Also after
 * _posixsubprocess.fork_exec called directly (multiprocessing): a fork
 * child that has raised no audit event yet.
 */
static int subprocess_child_fds(const struct pysec_sysctx *x)
{
	return (x->proc->spawn_child ||
		(x->proc->forked && !x->proc->pyfork && x->proc->events == 0)) &&
	       read_only(x) && (!strcmp(x->path, "/proc/self/fd") || !strcmp(x->path, "/dev/fd"));
}

/*
 * POSIX semaphores (multiprocessing Lock/Queue/Pool: _multiprocessing's
 * sem_open, no event): glibc creates /dev/shm/sem.* read-write.
 */
static int libc_posix_sem(const struct pysec_sysctx *x)
{
	return is_open(x) && has_prefix(x->path, "/dev/shm/sem.") &&
	       (x->r->flags & O_ACCMODE) == O_RDWR && !strchr(x->path + 13, '/');
}

/* Same file: resolved paths (or the strings, when one cannot be resolved). */
static int same_file(const char *a, const char *b)
{
	char ra[4096], rb[4096];

	if (realpath(a, ra) && realpath(b, rb))
		return !strcmp(ra, rb);
	return !strcmp(a, b);
}

/*
 * multiprocessing (spawn, forkserver) re-executes this very interpreter
 * through _posixsubprocess.fork_exec, which raises no event.
 */
static int multiprocessing_reexec(const struct pysec_sysctx *x)
{
	static const char *const mains[] = {
		"from multiprocessing.spawn import spawn_main",
		"from multiprocessing.forkserver import main",
		"from multiprocessing.resource_tracker import main",
		"from multiprocessing.semaphore_tracker import main",
	};
	const struct pysec_sys_rec *r = x->r;
	size_t n = r->argv_len < PYSEC_SYS_ARGV_MAX ? r->argv_len : PYSEC_SYS_ARGV_MAX;
	/* a successful exec's record comes after the new image's: compare the old */
	const char *self = r->ret == 0 ? x->proc->prev_exe : x->proc->exe;
	int dash_c = 0;

	if (r->nr != NR_execve || !self[0] || !same_file(x->path, self))
		return 0;
	for (size_t i = 0; i < n;) {
		const char *a = r->argv + i;
		size_t l = strnlen(a, n - i);

		if (dash_c) {
			for (size_t k = 0; k < sizeof(mains) / sizeof(mains[0]); k++)
				if (l >= strlen(mains[k]) && !strncmp(a, mains[k], strlen(mains[k])))
					return 1;
			return 0;
		}
		dash_c = l == 2 && !strncmp(a, "-c", 2);
		i += l + 1;
	}
	return 0;
}

static const struct baseline_rule {
	const char *id;
	int (*match)(const struct pysec_sysctx *x);
	const char *reason;
} rules[] = {
	{ "ld_so_library_load", ld_so_library_load,
	  "the dynamic loader opening a library (exec, C extension import, ctypes.dlopen, NSS)" },
	{ "o_path_no_data", o_path_no_data,
	  "an O_PATH handle gives no access to the file's data" },
	{ "libc_locale_tz", libc_locale_tz, "glibc reads locale/charset/time-zone data lazily" },
	{ "libc_nss_config", libc_nss_config,
	  "glibc's resolver reads its configuration (also inside CPython's setipaddr)" },
	{ "libc_nscd", libc_nscd, "glibc asks the name-service cache daemon" },
	{ "libc_nss_userdb", libc_nss_userdb,
	  "nss-systemd reads its user/group records (pwd, grp lookups)" },
	{ "libc_dns_query", libc_dns_query,
	  "glibc's stub resolver queries a nameserver of /etc/resolv.conf on port 53" },
	{ "libc_gai_sort", libc_gai_sort,
	  "getaddrinfo() probing its answers (RFC 3484 sort) on the asked port" },
	{ "openssl_trust_store", openssl_trust_store, "OpenSSL reads its default trust store" },
	{ "openssl_key_files", openssl_key_files,
	  "OpenSSL reads the certificate/key files given to ssl (load_cert_chain, cafile=)" },
	{ "libc_openpty", libc_openpty, "glibc allocating a pseudo-terminal (os.openpty, pty)" },
	{ "libuuid_clock", libuuid_clock, "libuuid's clock file and daemon (uuid.uuid1)" },
	{ "libc_syslog", libc_syslog, "syslog.openlog/syslog connecting to /dev/log" },
	{ "posix_spawn_file_actions", posix_spawn_file_actions,
	  "file actions of an audited os.posix_spawn, in the child before exec" },
	{ "urandom_read", urandom_read, "reading system entropy" },
	{ "libc_cpu_online", libc_cpu_online, "glibc counting CPUs (os.cpu_count)" },
	{ "readline_init", readline_init,
	  "GNU readline reading its init file and terminfo when imported" },
	{ "overcommit_policy", overcommit_policy,
	  "memory allocators read the kernel's overcommit policy" },
	{ "sqlite_side_files", sqlite_side_files,
	  "sqlite's journal/WAL/shm files of a database opened by audited sqlite3.connect" },
	{ "interpreter_startup", interpreter_startup,
	  "the interpreter's path configuration, before user code runs" },
	{ "fork_thread_count", fork_thread_count, "os.fork() counting threads (3.12+)" },
	{ "subprocess_child_fds", subprocess_child_fds,
	  "_posixsubprocess closing fds in the child before exec" },
	{ "libc_posix_sem", libc_posix_sem,
	  "POSIX semaphores of multiprocessing (sem_open in /dev/shm)" },
	{ "multiprocessing_reexec", multiprocessing_reexec,
	  "multiprocessing re-executing this interpreter (spawn/forkserver)" },
};

const char *pysec_baseline_explain(const struct pysec_sysctx *x)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].match(x))
			return rules[i].id;
	return NULL;
}
