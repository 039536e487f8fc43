// SPDX-License-Identifier: MIT
/*
 * test_policy.c — the policy language (userspace/policy.c), its compiled
 * control file and the matcher the hook shares (hookmod/rulematch.c):
 * every parser error with its line:column, glob and path semantics,
 * first-match-wins, fail-closed unknown arguments, scope, findings, the
 * event filter, and hostile control files (every truncation and every
 * single-byte corruption of a valid one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

static struct pysec_policy *load(const char *text, struct pysec_policy_error *err)
{
	return pysec_policy_load_buf(text, strlen(text), err);
}

/* The policy must be rejected at line:col with msg (substring) in the message. */
static void expect_error(const char *text, unsigned line, unsigned col, const char *msg)
{
	struct pysec_policy_error err;
	struct pysec_policy *p = load(text, &err);

	if (p)
		fail_msg("accepted, expected '%s' at %u:%u:\n%s", msg, line, col, text);
	if (!strstr(err.msg, msg) || err.line != line || err.col != col)
		fail_msg("got %u:%u '%s', expected %u:%u '%s'", err.line, err.col, err.msg, line,
			 col, msg);
	assert_false(err.unreadable);
}

static struct pysec_policy *must_load(const char *text)
{
	struct pysec_policy_error err;
	struct pysec_policy *p = load(text, &err);

	if (!p)
		fail_msg("rejected at %u:%u: %s\n%s", err.line, err.col, err.msg, text);
	return p;
}

/* ---- parser errors, each with its position */

static void test_errors_syntax_and_structure(void **s)
{
	(void)s;
	expect_error("", 0, 0, "empty");
	expect_error("version: 1\nrules: [ {id: a\n", 3, 1, "YAML syntax");
	expect_error("- a\n- b\n", 1, 1, "must be a mapping");
	expect_error("rules: []\n", 1, 1, "no 'version'");
	expect_error("version: 1\n", 1, 1, "no 'rules'");
	expect_error("version: 1\nrules: {a: 1}\n", 2, 8, "'rules' must be a list");
	expect_error("version: 1\nrules: []\ncolour: red\n", 3, 1, "unknown key 'colour'");
	expect_error("version: 1\nversion: 1\nrules: []\n", 2, 1, "duplicate key 'version'");
	expect_error("version: 1\nrules: []\n---\nversion: 1\nrules: []\n", 4, 1,
		     "more than one YAML document");
}

static void test_errors_types(void **s)
{
	(void)s;
	expect_error("version: one\nrules: []\n", 1, 10, "must be a number");
	expect_error("version: \"1\"\nrules: []\n", 1, 10, "must be a number");
	expect_error("version: 2\nrules: []\n", 1, 10, "out of range");
	expect_error("version: 1\nmode: loud\nrules: []\n", 2, 7, "unknown mode 'loud'");
	expect_error("version: 1\nmode: [enforce]\nrules: []\n", 2, 7, "must be a string");
	expect_error("version: 1\ndefault: deny\nrules: []\n", 2, 10,
		     "default must be allow or log");
	expect_error("version: 1\nrules: [5]\n", 2, 9, "a rule must be a mapping");
	expect_error("version: 1\nrules:\n  - id: a\n    action: deny\n    event: {x: 1}\n", 5, 12,
		     "not a mapping");
	expect_error("version: 1\nrules:\n  - id: a\n    action: deny\n    event: [[x]]\n", 5, 13,
		     "must be values");
	expect_error("version: 1\nrules:\n  - id: a\n    action: deny\n    event: []\n", 5, 12,
		     "empty list");
}

static void test_errors_rules(void **s)
{
	(void)s;
	expect_error("version: 1\nrules:\n  - action: deny\n", 3, 5, "no 'id'");
	expect_error("version: 1\nrules:\n  - id: a\n", 3, 5, "no 'action'");
	expect_error("version: 1\nrules:\n  - id: a b\n    action: deny\n", 3, 9, "bad rule id");
	expect_error("version: 1\nrules:\n  - {id: a, action: log}\n  - {id: a, action: log}\n", 4,
		     10, "duplicate rule id 'a'");
	expect_error("version: 1\nrules:\n  - {id: a, action: smite}\n", 3, 21,
		     "unknown action 'smite'");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, colour: red}\n", 3, 27,
		     "unknown key 'colour' in rule");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, id: b}\n", 3, 27,
		     "duplicate key 'id'");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, signal: TERM}\n", 3, 35,
		     "'signal' is only for action kill");
	expect_error("version: 1\nrules:\n  - {id: a, action: kill, signal: SIGFOO}\n", 3, 35,
		     "unknown signal");
	expect_error("version: 1\nrules:\n  - {id: a, action: kill, signal: 99}\n", 3, 35,
		     "out of range");
}

static void test_errors_values(void **s)
{
	(void)s;
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, path: \"/x/[ab\"}\n", 3, 33,
		     "unterminated '[' class");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, path: \"/x\\\\\"}\n", 3, 33,
		     "trailing backslash");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, path: etc/passwd}\n", 3, 33,
		     "relative");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, host: 10.0.0.0/33}\n", 3, 33,
		     "bad CIDR '10.0.0.0/33'");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, host: 10.0.0.300}\n", 3, 33,
		     "bad CIDR");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, host: 10.1.2.3/24}\n", 3, 33,
		     "host bits set");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, host: \"fe80::zz/64\"}\n", 3,
		     33, "bad CIDR");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, host: \"a b\"}\n", 3, 33,
		     "bad host");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, port: 70000}\n", 3, 33,
		     "out of range");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, port: 90-80}\n", 3, 33,
		     "empty");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, port: http}\n", 3, 33,
		     "bad port");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, scope: {uid: -1}}\n", 3, 40,
		     "bad uid");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, scope: {pid: 1}}\n", 3, 35,
		     "unknown scope key 'pid'");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, scope: [exe]}\n", 3, 34,
		     "'scope' must be a mapping");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, event: compile, path: /x}\n", 3,
		     27, "no event of rule 'a' has all of its argument matchers");
}

static void test_errors_findings(void **s)
{
	(void)s;
	expect_error("version: 1\nrules:\n  - {id: a, action: kill, finding: escape}\n", 3, 36,
		     "unknown finding 'escape'");
	expect_error("version: 1\nrules:\n  - {id: a, action: deny, finding: bypass}\n", 3, 21,
		     "'deny' is for audit events");
	expect_error(
	    "version: 1\nrules:\n  - {id: a, action: kill, finding: bypass, event: open}\n", 3, 44,
	    "'event' cannot be used in a finding rule");
	expect_error("version: 1\nrules:\n  - {id: a, action: kill, syscall: openat}\n", 3, 27,
		     "'syscall' is only for finding rules");
	expect_error(
	    "version: 1\nrules:\n  - {id: a, action: kill, finding: bypass, syscall: read}\n", 3,
	    53, "unknown syscall 'read'");
}

static void test_unreadable_file(void **s)
{
	struct pysec_policy_error err;

	(void)s;
	assert_null(pysec_policy_load_file("/nonexistent/policy.yaml", &err));
	assert_true(err.unreadable);
	assert_null(pysec_policy_load_file("/", &err));
	assert_true(err.unreadable);
}

static void test_limits(void **s)
{
	struct pysec_policy_error err;
	size_t n = PYSEC_POLICY_FILE_MAX + 1;
	char *big = malloc(n + 1);

	(void)s;
	memset(big, ' ', n);
	big[n] = 0;
	assert_null(pysec_policy_load_buf(big, n, &err));
	assert_non_null(strstr(err.msg, "larger than"));
	free(big);
	/* aliases cannot multiply the work past the item budget */
	char buf[8192];
	size_t o = (size_t)snprintf(buf, sizeof(buf),
				    "version: 1\nrules:\n"
				    "  - {id: r, action: log, event: &l [");

	for (int i = 0; i < 1000; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%sa", i ? "," : "");
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "]}\n");
	for (int i = 0; i < 100; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o,
				      "  - {id: r%d, action: log, event: *l}\n", i);
	assert_null(pysec_policy_load_buf(buf, o, &err));
	assert_non_null(strstr(err.msg, "too many list items"));
}

/* ---- globs and paths */

static void test_glob(void **s)
{
	const int P = PYSEC_GLOB_PATH;
	size_t col;

	(void)s;
	assert_true(pysec_glob_match("/etc/*", "/etc/passwd", P));
	assert_false(pysec_glob_match("/etc/*", "/etc/ssl/x", P));
	assert_true(pysec_glob_match("/etc/**", "/etc/ssl/x", P));
	assert_true(pysec_glob_match("/etc/**", "/etc", P)); /* the directory itself */
	assert_false(pysec_glob_match("/etc/**", "/etcx", P));
	assert_true(pysec_glob_match("/**/*.py", "/a/b/c.py", P));
	assert_true(pysec_glob_match("/a/?", "/a/b", P));
	assert_false(pysec_glob_match("/a/?", "/a//", P));
	assert_true(pysec_glob_match("/a/[bc]x", "/a/cx", P));
	assert_false(pysec_glob_match("/a/[!bc]x", "/a/cx", P));
	assert_true(pysec_glob_match("/a/[a-c]", "/a/b", P));
	assert_false(pysec_glob_match("/a[/]b", "/a/b", P));
	assert_true(pysec_glob_match("/a/\\*", "/a/*", P));
	assert_false(pysec_glob_match("/a/\\*", "/a/b", P));
	assert_true(pysec_glob_match("socket.*", "socket.connect", 0));
	assert_true(pysec_glob_match("*", "a/b", 0)); /* no path rule outside paths */
	assert_true(pysec_glob_match("*.EXAMPLE.com", "db.example.COM", PYSEC_GLOB_FOLD));
	assert_false(pysec_glob_match("*.example.com", "example.com", PYSEC_GLOB_FOLD));
	/* pathological patterns stay polynomial */
	assert_false(pysec_glob_match("/**a**a**a**a**a**a**a**b",
				      "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", P));
	assert_false(pysec_glob_match("*a*a*a*a*a*a*a*a*b",
				      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0));
	assert_null(pysec_glob_check("/a/[]x]", &col));
	assert_non_null(pysec_glob_check("/a/[x", &col));
	assert_int_equal(col, 3);
	assert_non_null(pysec_glob_check("", &col));
}

static void test_path_normalize(void **s)
{
	char out[64];

	(void)s;
	assert_int_equal(pysec_path_normalize("/etc//./passwd", NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "/etc/passwd");
	assert_int_equal(pysec_path_normalize("/tmp/../etc/shadow", NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "/etc/shadow");
	assert_int_equal(pysec_path_normalize("../../../../x", "/a/b", out, sizeof(out)), 0);
	assert_string_equal(out, "/x");
	assert_int_equal(pysec_path_normalize("shadow", "/etc", out, sizeof(out)), 0);
	assert_string_equal(out, "/etc/shadow");
	assert_int_equal(pysec_path_normalize(".", "/", out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(pysec_path_normalize("x", NULL, out, sizeof(out)), -1);
	assert_int_equal(
	    pysec_path_normalize(
		"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL, out,
		sizeof(out)),
	    -1);
}

/* ---- matching */

static const char *decide(const struct pysec_policy *p, const char *event, const char *args_json,
			  const struct pysec_procid *proc)
{
	static char scratch[8192];
	struct json_object *args = json_tokener_parse(args_json);
	struct pysec_evargs ev;
	struct pysec_procid none = {.uid = -1};
	const struct pysec_rule *r, *seq = NULL;

	assert_non_null(args);
	pysec_evargs_from_json(event, args, "/home/u", &ev, scratch, sizeof(scratch));
	r = pysec_policy_match_event(p, event, &ev, proc ? proc : &none);
	/* the event table and a walk over every rule in order agree */
	for (uint32_t i = 0; i < p->ctl.hdr->nrules && !seq; i++)
		if (pysec_ctl_rule_matches(&p->ctl, i, event, &ev, proc ? proc : &none, NULL))
			seq = &p->rules[p->ctl_rule[i]];
	assert_ptr_equal(r, seq);
	json_object_put(args);
	return r ? r->id : "-";
}

static const char WEB[] =
    "version: 1\n"
    "mode: enforce\n"
    "rules:\n"
    "  - {id: tree, action: allow, path: [\"/opt/app/**\", \"/usr/**\"]}\n"
    "  - {id: files, action: deny, path: \"/**\"}\n"
    "  - {id: db, action: allow, event: socket.connect, host: [10.0.0.0/24, "
    "db.internal, \"fd00::/8\"], port: 5432}\n"
    "  - {id: dns, action: allow, event: socket.getaddrinfo, port: [53, "
    "\"5000-5432\"]}\n"
    "  - {id: net, action: deny, event: \"socket.*\"}\n"
    "  - {id: curl, action: kill, signal: TERM, exe: curl}\n"
    "  - {id: rm, action: deny, exe: /bin/rm, argv: \"* -rf *\"}\n"
    "  - {id: ctypes, action: deny, event: import, module: [ctypes, \"_ctypes*\"]}\n"
    "  - {id: logall, action: log, event: [compile, \"myapp.*\"]}\n"
    "  - {id: bypass, action: kill, finding: bypass, syscall: [connect, sendto], "
    "host: 0.0.0.0/0}\n"
    "  - {id: tamper, action: kill, finding: [tamper, hook_cleared]}\n";

static void test_match_first_wins_and_roles(void **s)
{
	struct pysec_policy *p = must_load(WEB);

	(void)s;
	assert_int_equal(p->mode, PYSEC_CTL_ENFORCE);
	assert_string_equal(decide(p, "open", "[\"/opt/app/x.py\", \"r\", 0]", NULL), "tree");
	assert_string_equal(decide(p, "open", "[\"/opt/app\", \"r\", 0]", NULL), "tree");
	assert_string_equal(decide(p, "open", "[\"/etc/passwd\", \"r\", 0]", NULL), "files");
	/* relative and dotted paths are made absolute first */
	assert_string_equal(decide(p, "open", "[\"../../opt/app/a\", \"r\", 0]", NULL), "tree");
	assert_string_equal(decide(p, "open", "[\"/opt/app/../../etc/x\", \"r\", 0]", NULL),
			    "files");
	/* an fd has no path: no path rule */
	assert_string_equal(decide(p, "open", "[3, \"r\", 0]", NULL), "-");
	/* both paths of a rename */
	assert_string_equal(
	    decide(p, "os.rename", "[\"/opt/app/a\", \"/etc/b\", null, null]", NULL), "tree");
	assert_string_equal(decide(p, "os.rename", "[\"/etc/a\", \"/etc/b\", null, null]", NULL),
			    "files");
	/* os.listdir(None) is the cwd */
	assert_string_equal(decide(p, "os.listdir", "[null]", NULL), "files");
	/* bytes paths */
	assert_string_equal(
	    decide(p, "open", "[{\"bytes\": \"/opt/app/\\\\xff\"}, \"r\", 0]", NULL), "tree");
	/* sockets */
	assert_string_equal(
	    decide(p, "socket.connect", "[{\"type\": \"socket\"}, [\"10.0.0.9\", 5432]]", NULL),
	    "db");
	assert_string_equal(
	    decide(p, "socket.connect", "[{\"type\": \"socket\"}, [\"10.0.1.9\", 5432]]", NULL),
	    "net");
	assert_string_equal(
	    decide(p, "socket.connect", "[{\"type\": \"socket\"}, [\"10.0.0.9\", 5433]]", NULL),
	    "net");
	assert_string_equal(
	    decide(p, "socket.connect", "[{\"type\": \"socket\"}, [\"DB.internal\", 5432]]", NULL),
	    "db");
	assert_string_equal(decide(p, "socket.connect",
				   "[{\"type\": \"socket\"}, [\"fd00::1\", 5432, 0, 0]]", NULL),
			    "db");
	/* a host name never matches a CIDR, an address never a name glob */
	assert_string_equal(decide(p, "socket.connect",
				   "[{\"type\": \"socket\"}, [\"10.0.0.9.nip.io\", 5432]]", NULL),
			    "net");
	/* AF_UNIX: a path, the file rules see it first */
	assert_string_equal(
	    decide(p, "socket.connect", "[{\"type\": \"socket\"}, \"/run/x.sock\"]", NULL),
	    "files");
	assert_string_equal(
	    decide(p, "socket.getaddrinfo", "[\"example.org\", 5001, 0, 0, 0]", NULL), "dns");
	assert_string_equal(
	    decide(p, "socket.getaddrinfo", "[\"example.org\", \"53\", 0, 0, 0]", NULL), "dns");
	assert_string_equal(decide(p, "socket.getaddrinfo", "[\"example.org\", 80, 0, 0, 0]", NULL),
			    "net");
	/* exec */
	assert_string_equal(decide(p, "subprocess.Popen",
				   "[\"/usr/bin/curl\", [\"curl\", \"x\"], null, null]", NULL),
			    "curl");
	assert_int_equal(p->rules[5].signal, 15);
	assert_string_equal(decide(p, "os.exec",
				   "[{\"bytes\": \"/bin/rm\"}, [\"rm\", \"-rf\", "
				   "\"/\"], null]",
				   NULL),
			    "rm");
	assert_string_equal(decide(p, "os.exec", "[\"/bin/rm\", [\"rm\", \"x\"], null]", NULL),
			    "-");
	assert_string_equal(
	    decide(p, "os.exec", "[\"/usr/bin/rm\", [\"rm\", \"-rf\", \"/\"], null]", NULL), "-");
	/* os.system: /bin/sh -c COMMAND */
	assert_string_equal(decide(p, "os.system", "[{\"bytes\": \"curl x\"}]", NULL), "-");
	/* imports, names */
	assert_string_equal(decide(p, "import", "[\"ctypes\", null, [], [], []]", NULL), "ctypes");
	assert_string_equal(decide(p, "import", "[\"_ctypes\", \"/x.so\", null, null, null]", NULL),
			    "ctypes");
	assert_string_equal(decide(p, "import", "[\"json\", null, [], [], []]", NULL), "-");
	assert_string_equal(decide(p, "compile", "[null, \"<string>\"]", NULL), "logall");
	assert_string_equal(decide(p, "myapp.login", "[]", NULL), "logall");
	assert_string_equal(decide(p, "myapp", "[]", NULL), "-");
	assert_string_equal(decide(p, "builtins.id", "[1]", NULL), "-");
	pysec_policy_free(p);
}

static void test_match_unknown_fails_closed(void **s)
{
	struct pysec_policy *p =
	    must_load("version: 1\nrules:\n"
		      "  - {id: ok, action: allow, path: \"/ok/**\"}\n"
		      "  - {id: no, action: deny, event: open, path: \"/etc/**\"}\n");

	(void)s;
	/* a PathLike object or a cut name: the allow rule does not match, the deny rule does */
	assert_string_equal(decide(p, "open", "[{\"type\": \"PosixPath\"}, \"r\", 0]", NULL), "no");
	assert_string_equal(
	    decide(p, "open", "[{\"str_escaped\": \"/ok/\\\\udc80\"}, \"r\", 0]", NULL), "no");
	/* but not for an event the deny rule does not name */
	assert_string_equal(decide(p, "os.remove", "[{\"type\": \"PosixPath\"}, null]", NULL), "-");
	pysec_policy_free(p);
}

static void test_match_scope(void **s)
{
	struct pysec_policy *p = must_load(
	    "version: 1\nrules:\n"
	    "  - {id: worker, action: deny, event: open, scope: {script: /opt/app/worker.py}}\n"
	    "  - {id: py311, action: deny, event: socket.connect, scope: {exe: "
	    "\"/usr/bin/python3*\", "
	    "uid: [0, \"1000-1999\"]}}\n"
	    "  - {id: cg, action: deny, event: os.system, scope: {cgroup: \"/jobs/**\"}}\n");
	struct pysec_procid worker = {"/usr/bin/python3.11", "/opt/app/worker.py", "/jobs/a", 1500};
	struct pysec_procid web = {"/usr/bin/python3.11", "/opt/app/web.py", "/", 2000};

	(void)s;
	assert_string_equal(decide(p, "open", "[\"/x\", \"r\", 0]", &worker), "worker");
	assert_string_equal(decide(p, "open", "[\"/x\", \"r\", 0]", &web), "-");
	assert_string_equal(decide(p, "open", "[\"/x\", \"r\", 0]", NULL), "-");
	assert_string_equal(decide(p, "socket.connect", "[null, [\"1.2.3.4\", 1]]", &worker),
			    "py311");
	assert_string_equal(decide(p, "socket.connect", "[null, [\"1.2.3.4\", 1]]", &web), "-");
	assert_string_equal(decide(p, "os.system", "[{\"bytes\": \"ls\"}]", &worker), "cg");
	assert_string_equal(decide(p, "os.system", "[{\"bytes\": \"ls\"}]", &web), "-");
	pysec_policy_free(p);
}

static void test_match_findings(void **s)
{
	struct pysec_policy *p = must_load(WEB);
	struct pysec_finding_q q = {.kind = PYSEC_FIND_BYPASS,
				    .syscall = "connect",
				    .family = 4,
				    .addr = {10, 1, 2, 3},
				    .port = 443,
				    .proc = {.uid = -1}};
	char why[256];

	(void)s;
	assert_string_equal(pysec_policy_match_finding(p, &q)->id, "bypass");
	q.syscall = "openat";
	assert_null(pysec_policy_match_finding(p, &q));
	assert_non_null(strstr(pysec_policy_explain_finding(&p->rules[9], &q, why, sizeof(why)),
			       "syscall openat"));
	q.syscall = "connect";
	q.family = 0; /* an AF_UNIX connect: no address, the host narrowing does not hold */
	assert_null(pysec_policy_match_finding(p, &q));
	q.kind = PYSEC_FIND_HOOK_CLEARED;
	assert_string_equal(pysec_policy_match_finding(p, &q)->id, "tamper");
	q.kind = PYSEC_FIND_HOOK_MISSING;
	assert_null(pysec_policy_match_finding(p, &q));
	pysec_policy_free(p);
}

static void test_default_policy(void **s)
{
	struct pysec_policy *p = pysec_policy_default(), *again;
	struct pysec_policy_error err;
	struct pysec_finding_q q = {.proc = {.uid = -1}, .port = -1};
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)s;
	assert_non_null(p);
	assert_int_equal(p->mode, PYSEC_CTL_ENFORCE);
	assert_int_equal(p->default_action, PYSEC_ACT_LOG);
	for (uint32_t k = PYSEC_FIND_BYPASS; k <= PYSEC_FIND_TAMPER; k <<= 1) {
		q.kind = k;
		assert_int_equal(pysec_policy_match_finding(p, &q)->action, PYSEC_ACT_KILL);
		assert_int_equal(pysec_policy_match_finding(p, &q)->signal, 9);
	}
	assert_string_equal(decide(p, "open", "[\"/etc/shadow\", \"r\", 0]", NULL), "-");
	/* printed YAML loads back to the same policy */
	f = open_memstream(&text, &len);
	pysec_policy_write_yaml(f, p);
	fclose(f);
	again = pysec_policy_load_buf(text, len, &err);
	assert_non_null(again);
	assert_int_equal(again->nrules, p->nrules);
	for (unsigned i = 0; i < p->nrules; i++) {
		assert_string_equal(again->rules[i].id, p->rules[i].id);
		assert_int_equal(again->rules[i].findings, p->rules[i].findings);
	}
	free(text);
	pysec_policy_free(again);
	pysec_policy_free(p);
}

static void test_yaml_round_trip_web(void **s)
{
	struct pysec_policy *p = must_load(WEB), *q;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct pysec_policy_error err;

	(void)s;
	pysec_policy_write_yaml(f, p);
	fclose(f);
	q = pysec_policy_load_buf(text, len, &err);
	if (!q)
		fail_msg("%u:%u %s\n%s", err.line, err.col, err.msg, text);
	assert_int_equal(q->ctl_size, p->ctl_size);
	assert_memory_equal(q->ctl_buf, p->ctl_buf, p->ctl_size);
	free(text);
	pysec_policy_free(q);
	pysec_policy_free(p);
}

/* ---- the control file */

static void test_event_filter(void **s)
{
	struct pysec_policy *p = must_load(WEB);
	const char *names[] = {"open", "socket.connect"}, *quiet[] = {"builtins.id"};
	struct pysec_evfilter only = {.names = names, .n = 2};
	struct pysec_evfilter most = {
	    .fire_other = 1, .names = names, .n = 2, .quiet = quiet, .nquiet = 1};
	struct pysec_ctl c;
	const char *why;
	size_t size;
	void *buf;

	(void)s;
	buf = pysec_policy_compile(p, PYSEC_CTL_OBSERVE, &only, &size);
	assert_int_equal(pysec_ctl_open(&c, buf, size, &why), 0);
	assert_int_equal(c.hdr->mode, PYSEC_CTL_OBSERVE);
	assert_true(pysec_ctl_fires(&c, pysec_ctl_find_event(&c, "open")));
	assert_true(pysec_ctl_fires(&c, pysec_ctl_find_event(&c, "socket.connect")));
	/* named by a rule, not in the filter */
	assert_non_null(pysec_ctl_find_event(&c, "compile"));
	assert_false(pysec_ctl_fires(&c, pysec_ctl_find_event(&c, "compile")));
	assert_false(pysec_ctl_fires(&c, pysec_ctl_find_event(&c, "builtins.id")));
	free(buf);
	buf = pysec_policy_compile(p, PYSEC_CTL_ENFORCE, &most, &size);
	assert_int_equal(pysec_ctl_open(&c, buf, size, &why), 0);
	assert_false(pysec_ctl_fires(&c, pysec_ctl_find_event(&c, "builtins.id")));
	assert_true(pysec_ctl_fires(&c, pysec_ctl_find_event(&c, "compile")));
	assert_true(pysec_ctl_fires(&c, pysec_ctl_find_event(&c, "anything.else")));
	/* an unnamed event gets the wildcard rules only */
	uint32_t n;
	const uint32_t *cand =
	    pysec_ctl_candidates(&c, pysec_ctl_find_event(&c, "socket.bind"), &n);

	assert_int_equal(n, 3); /* tree, files (an AF_UNIX path), net */
	assert_int_equal(cand[0], 0);
	assert_int_equal(cand[1], 1);
	assert_int_equal(cand[2], 4);
	free(buf);
	pysec_policy_free(p);
}

/* Every truncation and every single-byte change: rejected, or safe to use. */
static void test_hostile_control_files(void **s)
{
	struct pysec_policy *p = must_load(WEB);
	struct pysec_evfilter all = {.all = 1};
	struct pysec_evargs ev = {.path = {"/etc/passwd"},
				  .host = "10.0.0.1",
				  .family = 4,
				  .addr = {10, 0, 0, 1},
				  .port = 5432,
				  .exe = "/bin/rm",
				  .argv = "rm -rf /",
				  .module = "ctypes"};
	struct pysec_procid proc = {"/usr/bin/python3", "/x.py", "/", 0};
	static const char *const events[] = {"open",   "socket.connect", "os.exec",
					     "import", "compile",	 "x"};
	struct pysec_ctl c;
	const char *why;
	size_t size;
	uint8_t *good = pysec_policy_compile(p, PYSEC_CTL_ENFORCE, &all, &size), *bad;
	unsigned accepted = 0;

	(void)s;
	assert_non_null(good);
	assert_int_equal(pysec_ctl_open(&c, good, size, &why), 0);
	bad = malloc(size);
	for (size_t n = 0; n < size; n++) {
		memcpy(bad, good, n);
		assert_int_equal(pysec_ctl_open(&c, bad, n, &why), -1);
	}
	for (size_t i = 0; i < size; i++) {
		static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};

		for (size_t v = 0; v < sizeof(vals); v++) {
			memcpy(bad, good, size);
			bad[i] = vals[v];
			if (pysec_ctl_open(&c, bad, size, &why) < 0)
				continue;
			accepted++;
			for (size_t e = 0; e < sizeof(events) / sizeof(events[0]); e++)
				(void)pysec_ctl_decide(&c, events[e], &ev, &proc);
		}
	}
	assert_true(accepted > 0); /* rule bodies and strings may change and stay valid */
	/* wrong magic, version, header size */
	memcpy(bad, good, size);
	bad[0] = 'X';
	assert_int_equal(pysec_ctl_open(&c, bad, size, &why), -1);
	assert_string_equal(why, "bad magic");
	free(bad);
	free(good);
	pysec_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_errors_syntax_and_structure),
	    cmocka_unit_test(test_errors_types),
	    cmocka_unit_test(test_errors_rules),
	    cmocka_unit_test(test_errors_values),
	    cmocka_unit_test(test_errors_findings),
	    cmocka_unit_test(test_unreadable_file),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_glob),
	    cmocka_unit_test(test_path_normalize),
	    cmocka_unit_test(test_match_first_wins_and_roles),
	    cmocka_unit_test(test_match_unknown_fails_closed),
	    cmocka_unit_test(test_match_scope),
	    cmocka_unit_test(test_match_findings),
	    cmocka_unit_test(test_default_policy),
	    cmocka_unit_test(test_yaml_round_trip_web),
	    cmocka_unit_test(test_event_filter),
	    cmocka_unit_test(test_hostile_control_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
