# SPDX-License-Identifier: MIT
"""End-to-end tests of bypass alerts: native code around the audit layer.

For every Python under test (one generated class TestBypass_<n>_<label>):

  attacks   fixtures/bypass_attacks.py, traced once: ctypes libc calls,
            raw syscall(), a C extension (fixtures/evilext.c, compiled here
            as evilext.abi3.so: one stable-ABI build for 3.8-3.13) and its
            pthread, shellcode in an anonymous RWX page, a replaced
            sys.audit, io_uring -- each must give exactly its bypass
            alert(s), from the attacking process and thread;
  negatives the same script: for every baseline rule of
            userspace/baseline.c, native syscalls just outside the rule's
            argument constraints -- each must still be alerted;
  pre-arm   an LD_PRELOAD constructor (fixtures/evilpre.c) opening files
            before the hook armed -- alerted;
  controls  fixtures/bypass_controls.py: ordinary Python work
            (files, sqlite3, sockets, subprocess, fork, ssl, threads,
            extension imports, multiprocessing spawn/forkserver) -- no alert.

The traced scripts mark each step with the audit event
pysectrace.e2e.step(NAME); an alert belongs to the last step marked before
it (mono_ns).  Every script runs once per Python (cached), every step is
asserted by its own test.  Run through run_e2e.py (-k Bypass), or alone:
    PYSECTRACE_BUILD=build python3 -m unittest discover -s tests/e2e -p 'test_bypass.py'
"""
import bisect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as U  # noqa: E402

FIXTURES = os.path.join(U.HERE, "fixtures")
ATTACKS = os.path.join(FIXTURES, "bypass_attacks.py")
CONTROLS = os.path.join(FIXTURES, "bypass_controls.py")
EXT_SRC = os.path.join(FIXTURES, "evilext.c")
PRE_SRC = os.path.join(FIXTURES, "evilpre.c")
BASELINE_C = os.path.join(U.TOP, "userspace", "baseline.c")

STEP_EVENT = "pysectrace.e2e.step"
BEFORE = "(before the first step)"
LIBC = "libc"  # origin.mapping of a syscall made by libc (full path, or "libc.so.6")

O_RDWR = os.O_RDWR

# Baseline rule id -> the attack-script steps (or "prearm:*" cases) that
# make a native syscall just outside the rule; each must be alerted.
NEGATIVES = {
    "ld_so_library_load": ["n01a_lib_without_cloexec", "n01b_ld_so_cache_without_cloexec",
                           "n01c_not_a_lib_cloexec", "n01d_lib_rdwr_cloexec",
                           "n01e_ld_so_cache_lookalike_cloexec", "n02_after_import",
                           "n02e_after_dlopen_not_a_lib", "prearm:read_only_not_a_lib",
                           "prearm:lib_for_writing"],
    "libc_locale_tz": ["n03a_zoneinfo_for_writing", "n03b_zoneinfo_lookalike"],
    "libc_nss_config": ["n04a_etc_hosts_for_writing", "n04b_etc_hosts_lookalike"],
    "libc_nscd": ["n05_unix_connect_not_nscd"],
    "libc_dns_query": ["n06a_dns_port_outside_resolution"],
    "libc_resolve_in_sockaddr": ["n06b_dns_port_then_literal_connect"],
    "libc_gai_sort": ["n07_connect_other_port_in_getaddrinfo"],
    "openssl_trust_store": ["n08a_certs_for_writing", "n08b_certs_lookalike"],
    "openssl_key_files": ["n25a_key_file_by_ctypes", "n25b_pem_for_writing"],
    "libc_openpty": ["n16a_ptmx_read_only", "n16b_dev_tty"],
    "libuuid_clock": ["n17a_unix_connect_not_uuidd", "n17b_uuid_clock_lookalike"],
    "libc_syslog": ["n18a_dev_log_without_syslog_event", "n18b_other_socket_after_syslog_event"],
    "posix_spawn_file_actions": ["n19_open_in_parent_after_posix_spawn"],
    "urandom_read": ["n09a_urandom_for_writing", "n09b_dev_zero"],
    "libc_posix_sem": ["n20a_sem_write_only", "n20b_shm_not_a_semaphore"],
    "o_path_no_data": ["n21_same_path_without_o_path"],
    "libc_nss_userdb": ["n22a_userdb_dotdot", "n22b_userdb_lookalike"],
    "libc_cpu_online": ["n23a_cpu_online_for_writing", "n23b_cpu_lookalike"],
    "readline_init": ["n24a_inputrc_for_writing", "n24b_terminfo_dotdot"],
    "overcommit_policy": ["n10_overcommit_lookalike"],
    "sqlite_side_files": ["n11a_journal_of_unknown_db", "n11b_file_next_to_db",
                          "n11c_db_dir_for_writing"],
    "interpreter_startup": ["n12a_pyvenv_cfg_after_start", "n12b_pth_after_start"],
    "fork_thread_count": ["n13a_proc_stat_outside_fork", "n13b_proc_status_after_fork"],
    "subprocess_child_fds": ["n14a_proc_fd_in_main", "n14b_proc_fd_in_fork_child"],
    "multiprocessing_reexec": ["n15a_reexec_not_multiprocessing",
                               "n15b_multiprocessing_main_other_program",
                               "n15c_multiprocessing_main_interpreter_lookalike"],
}

CONTROL_STEPS = ["files", "zipfile", "sqlite3", "logging", "json", "sockets", "subprocess",
                 "posix_spawn", "fork_execv", "fork_child_events", "hashlib_ssl",
                 "ssl_cert_files", "time", "tempfile", "import_extensions", "python_thread", "multiprocessing_spawn",
                 "multiprocessing_forkserver", "end"]


# ---------------------------------------------------------------- native code

_NATIVE = {}


def native_dir():
    """Compile evilext.abi3.so and libevilpre.so once for the module."""
    if "error" in _NATIVE:
        raise AssertionError(_NATIVE["error"])
    if "dir" in _NATIVE:
        return _NATIVE["dir"]
    d = tempfile.mkdtemp(prefix="pysectrace-e2e-native-")
    try:
        cfg = "/usr/bin/python3-config"
        p = subprocess.run([cfg, "--includes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=30)
        if p.returncode != 0:
            raise AssertionError("`%s --includes` failed (%d): %s" % (cfg, p.returncode, p.stderr))
        builds = [
            (["gcc", "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Wno-unused-parameter"]
             + p.stdout.split() + ["-DPy_LIMITED_API=0x03080000", EXT_SRC,
                                   "-o", os.path.join(d, "evilext.abi3.so"), "-lpthread"]),
            ["gcc", "-shared", "-fPIC", "-O1", "-Wall", PRE_SRC,
             "-o", os.path.join(d, "libevilpre.so")],
        ]
        for argv in builds:
            c = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=120)
            if c.returncode != 0:
                raise AssertionError("compiling a test fixture failed (%d): %s\n%s"
                                     % (c.returncode, " ".join(argv), c.stdout))
    except (OSError, subprocess.TimeoutExpired, AssertionError) as e:
        shutil.rmtree(d, ignore_errors=True)
        _NATIVE["error"] = "cannot build the native fixtures: %s" % e
        raise AssertionError(_NATIVE["error"])
    _NATIVE["dir"] = d
    return d


def tearDownModule():
    if _NATIVE.get("dir"):
        shutil.rmtree(_NATIVE["dir"], ignore_errors=True)


# ---------------------------------------------------------------- records


def target(r):
    """path, addr:port or argv of a syscall/alert record, as text."""
    if r.get("addr") is not None:
        return "%s:%s" % (r["addr"], r.get("port"))
    if "path" in r:
        t = json.dumps(r["path"]) if not isinstance(r["path"], str) else r["path"]
        if r.get("argv"):
            t += " argv=%s" % json.dumps(r["argv"])
        return t
    if "arg0" in r:
        return "arg0=%s" % r["arg0"]
    return "?"


def fmt(r):
    """One record, compactly, for failure messages."""
    who = "%s/%s" % (r.get("pid"), r.get("tid"))
    t = r.get("type")
    if t == "alert":
        ctx = [c.get("event") for c in r.get("context") or []]
        return ("ALERT %s %s %s %s ret=%s flags=%s count=%s from %s why=%s reason=%r context=%s"
                % (r.get("kind"), who, r.get("syscall", r.get("event")), target(r), r.get("ret"),
                   r.get("flags"), r.get("count"), (r.get("origin") or {}).get("mapping"),
                   r.get("why"), r.get("reason"), ctx))
    if t == "syscall":
        return ("syscall %s %s %s flags=%s ret=%s %s%s why=%s" % (
            who, r.get("syscall"), target(r), r.get("flags"), r.get("ret"), r.get("verdict"),
            " by " + r["explained_by"] if r.get("explained_by") else "", r.get("why")))
    if t == "audit":
        return "audit %s %s %s" % (who, r.get("event"), json.dumps(r.get("args"))[:120])
    if t == "process":
        return "process %s %s %s" % (who, r.get("action"),
                                     r.get("child_pid") or r.get("filename") or
                                     r.get("exit_status", r.get("exit_signal", "")))
    return json.dumps(r)[:200]


def alert_key(r):
    return (r.get("kind"), r.get("pid"), r.get("tid"), r.get("syscall"), r.get("event"),
            json.dumps(r.get("path")), r.get("addr"), r.get("port"),
            (r.get("origin") or {}).get("ip"))


def alert_signature(run, a):
    """An alert with what differs between runs (pids, ports, scratch
    paths) replaced by the step that reported it."""
    names = {}
    for step, info in run.report["steps"].items():
        for k, v in (info or {}).items():
            if isinstance(v, (str, int)) and not isinstance(v, bool) and k not in ("ret",
                                                                                   "status"):
                names.setdefault(json.dumps(v), "<%s.%s>" % (step, k))

    def norm(v):
        return names.get(json.dumps(v), v)

    def role(pid):
        if pid == run.pid:
            return "main"
        return norm(pid) if json.dumps(pid) in names else "other"

    return (a.get("kind"), a.get("syscall"), str(norm(a.get("path"))), a.get("addr"),
            str(norm(a.get("port"))), role(a.get("pid")), role(a.get("tid")),
            "libc" if LIBC in os.path.basename((a.get("origin") or {}).get("mapping", ""))
            else (a.get("origin") or {}).get("mapping"))


class StepTrace(object):
    """A traced script run, its records cut into steps by the step events."""

    def __init__(self, what, res):
        self.what = what
        self.res = res
        self.marks = sorted((r["mono_ns"], r["args"][0]) for r in res.records
                            if r.get("type") == "audit" and r.get("event") == STEP_EVENT
                            and r.get("args") and isinstance(r["args"][0], str))
        self._ns = [m for m, _ in self.marks]
        self.report = None
        for line in reversed(res.stdout_lines()):
            try:
                rep = json.loads(line)
            except ValueError:
                continue
            if isinstance(rep, dict) and "steps" in rep:
                self.report = rep
                break

    @property
    def pid(self):
        return self.report["pid"]

    def info(self, step):
        return self.report["steps"][step]

    def step_of(self, rec):
        i = bisect.bisect_right(self._ns, rec.get("mono_ns", 0)) - 1
        return self.marks[i][1] if i >= 0 else BEFORE

    def records(self, step, types=None):
        return [r for r in self.res.records if (types is None or r.get("type") in types)
                and self.step_of(r) == step]

    def alerts(self, step=None):
        """Distinct alerts (the final repeat of a counted alert folded in)."""
        out = {}
        for r in self.res.records:
            if r.get("type") != "alert" or (step is not None and self.step_of(r) != step):
                continue
            k = alert_key(r)
            if k not in out or (r.get("count") or 0) > (out[k].get("count") or 0):
                out[k] = r
        return list(out.values())

    def describe(self, step=None, limit=60):
        """The run, and the records of one step that explain a verdict: its
        alerts, its syscall records that were not audited, its process
        records, and (when few) its audit events."""
        head = "\n  %s: %s" % (self.what, self.res.describe(limit=1500))
        if step is None:
            return head
        recs = self.records(step)
        keep = [r for r in recs if r.get("type") in ("alert", "process", "lost") or
                (r.get("type") == "syscall" and r.get("verdict") != "audited") or
                (r.get("type") == "audit" and (len(recs) <= 2 * limit or
                                               r.get("event") == STEP_EVENT))]
        body = "\n".join("    " + fmt(r)[:300] for r in keep[:limit])
        more = ("\n    ... %d more" % (len(keep) - limit)) if len(keep) > limit else ""
        return ("%s\n  step %r (python pid %s), reported %s\n  its records (--show all; "
                "%d in all, audited syscalls%s left out):\n%s%s"
                % (head, step, self.report and self.report.get("pid"),
                   json.dumps((self.report or {}).get("steps", {}).get(step)), len(recs),
                   "" if len(recs) <= 2 * limit else " and audit events", body, more))


# ---------------------------------------------------------------- the tests


class PerPython(object):
    """Mixed into one generated TestCase per Python; PY and LABEL set there."""

    PY = None
    LABEL = None
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls._runs = {}
        cls._tmp = tempfile.mkdtemp(prefix="pysectrace-e2e-bypass-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls._tmp, ignore_errors=True)

    # -- running (once per class) ------------------------------------------

    def traced(self, name, script, show="all"):
        key = (name, show)
        if key not in self._runs:
            self._runs[key] = None  # a failed run fails every test that needs it
            ext = native_dir()
            scratch = tempfile.mkdtemp(prefix=name + "-", dir=self._tmp)
            res = U.trace([self.PY, script, ext, scratch], show=show, timeout=120)
            self._runs[key] = StepTrace("%s with %s (--show %s)" % (
                os.path.basename(script), self.PY, show), res)
        run = self._runs[key]
        if run is None:
            self.fail("%s: the traced %s did not run (see the first failure)" % (self.LABEL, name))
        if run.res.rc != 0 or run.report is None:
            self.fail("%s: %s exited %s without its report%s"
                      % (self.LABEL, name, run.res.rc, run.describe()))
        lost = [r for r in run.res.records if r.get("type") == "lost"]
        if lost:
            self.fail("%s: events were lost, the verdicts cannot be trusted: %s%s"
                      % (self.LABEL, lost, run.describe()))
        return run

    def attacks(self):
        return self.traced("attacks", ATTACKS)

    def controls(self):
        return self.traced("controls", CONTROLS)

    # -- expectations ------------------------------------------------------

    def mismatches(self, a, exp, run):
        """How alert a differs from the expected alert exp ([] if it matches)."""
        bad = []
        for k in ("syscall", "path", "addr", "port", "family", "pid", "tid", "ppid", "kind",
                  "flags"):
            if k in exp and a.get(k) != exp[k]:
                bad.append("%s %r != %r" % (k, a.get(k), exp[k]))
        if "not_pid" in exp and a.get("pid") == exp["not_pid"]:
            bad.append("pid is %r" % exp["not_pid"])
        mapping = (a.get("origin") or {}).get("mapping", "")
        if exp.get("mapping") == "[anon]" and mapping != "[anon]":
            bad.append("origin.mapping %r != '[anon]'" % mapping)
        elif exp.get("mapping") == LIBC and LIBC not in os.path.basename(mapping):
            bad.append("origin.mapping %r is not libc" % mapping)
        if "last_event" in exp:
            ctx = a.get("context") or []
            if not ctx or ctx[-1].get("event") != exp["last_event"]:
                bad.append("last context event %r != %r"
                           % (ctx and ctx[-1].get("event"), exp["last_event"]))
        return bad

    def expect(self, step, expected, optional=(), attacker=None):
        """The distinct alerts of step are exactly `expected` (plus any of
        `optional`); each is a bypass alert with count >= 1."""
        run = attacker or self.attacks()
        if step != BEFORE:
            self.assertIn(step, run.report["steps"], "%s: the script never reached step %r%s"
                          % (self.LABEL, step, run.describe()))
        got = run.alerts(step)
        left = list(got)
        problems = []
        for exp in expected:
            exp = dict(exp)
            exp.setdefault("kind", "bypass")
            hits = [a for a in left if not self.mismatches(a, exp, run)]
            if not hits:
                near = ["      %s: %s" % (fmt(a), "; ".join(self.mismatches(a, exp, run)))
                        for a in left]
                problems.append("MISSING alert %s%s" % (
                    {k: v for k, v in exp.items()}, "\n    candidates:\n" + "\n".join(near)
                    if near else " (no alert at all in the step)"))
                continue
            a = hits[0]
            left.remove(a)
            if not (isinstance(a.get("count"), int) and a["count"] >= 1):
                problems.append("count of %s is not >= 1" % fmt(a))
            if not (isinstance(a.get("reason"), str) and a["reason"]):
                problems.append("no reason in %s" % fmt(a))
        for opt in optional:
            for a in list(left):
                if not self.mismatches(a, dict(opt, kind=opt.get("kind", "bypass")), run):
                    left.remove(a)
        for a in left:
            problems.append("UNEXPECTED %s" % fmt(a))
        if problems:
            self.fail("%s: step %s:\n  %s%s" % (self.LABEL, step, "\n  ".join(problems),
                                                run.describe(step)))
        return got

    def main_open(self, step, path=None, **kw):
        run = self.attacks()
        exp = dict(syscall="openat", path=path or run.info(step)["path"], pid=run.pid,
                   tid=run.pid, mapping=LIBC)
        exp.update(kw)
        return exp

    def main_connect(self, step, **kw):
        run = self.attacks()
        i = run.info(step)
        exp = dict(syscall="connect", family="AF_INET", addr=i.get("addr", "127.0.0.1"),
                   port=i["port"], pid=run.pid, tid=run.pid, mapping=LIBC)
        exp.update(kw)
        return exp

    def child_exec(self, step, path, **kw):
        run = self.attacks()
        child = run.info(step)["child"]
        self.assertNotEqual(child, run.pid)
        exp = dict(syscall="execve", path=path, pid=child, tid=child, ppid=run.pid, mapping=LIBC)
        exp.update(kw)
        return exp

    # == attacks: each gives exactly its alert(s) ==========================

    def test_attack_01_ctypes_libc_open(self):
        run = self.attacks()
        (a,) = self.expect("a01_ctypes_open", [self.main_open("a01_ctypes_open", "/etc/hostname")])
        # the alert names the process and what it was doing
        proc = a.get("process") or {}
        self.assertEqual(proc.get("script"), ATTACKS, fmt(a))
        self.assertTrue(str(proc.get("id", "")).startswith("%d@" % run.pid), proc)
        ctx = a.get("context") or []
        self.assertTrue(ctx and all("event" in c and "seq" in c and "args" in c for c in ctx), ctx)
        self.assertIn(STEP_EVENT, [c["event"] for c in ctx],
                      "the context holds the thread's last events: %s" % fmt(a))

    def test_attack_02_ctypes_libc_openat(self):
        self.expect("a02_ctypes_openat", [self.main_open("a02_ctypes_openat")])

    def test_attack_03_raw_syscall_openat(self):
        self.expect("a03_syscall_openat", [self.main_open("a03_syscall_openat")])

    def test_attack_04_raw_syscall_openat2(self):
        self.expect("a04_syscall_openat2",
                    [self.main_open("a04_syscall_openat2", syscall="openat2")])

    def test_attack_05_ctypes_connect(self):
        self.expect("a05_ctypes_connect", [self.main_connect("a05_ctypes_connect")])

    def test_attack_06_ctypes_sendto_fastopen(self):
        self.expect("a06_ctypes_sendto_fastopen",
                    [self.main_connect("a06_ctypes_sendto_fastopen", syscall="sendto")])

    def test_attack_07_ctypes_execve_in_fork_child(self):
        run = self.attacks()
        self.assertEqual(run.info("a07_fork_ctypes_execve")["status"], 0, run.describe())
        self.expect("a07_fork_ctypes_execve", [self.child_exec("a07_fork_ctypes_execve",
                                                               "/bin/true")])

    def test_attack_08_ctypes_system(self):
        run = self.attacks()
        self.assertEqual(run.info("a08_ctypes_system")["status"], 0, run.describe())
        got = self.expect("a08_ctypes_system",
                          [dict(syscall="execve", path="/bin/sh", not_pid=run.pid, ppid=run.pid,
                                mapping=LIBC)])
        self.assertEqual(got[0]["pid"], got[0]["tid"], fmt(got[0]))

    def test_attack_09_extension_open_and_connect(self):
        self.expect("a09_ext_open", [self.main_open("a09_ext_open")])
        self.expect("a09_ext_connect", [self.main_connect("a09_ext_connect")])

    def test_attack_10_extension_pthread(self):
        run = self.attacks()
        i = run.info("a10_ext_pthread")
        tid = i["tid"]
        self.assertNotEqual(tid, run.pid, "the extension's pthread is a thread of its own")
        self.assertGreaterEqual(i["open_ret"], 0, i)
        self.assertEqual(i["connect_ret"], 0, i)
        got = self.expect("a10_ext_pthread", [
            self.main_open("a10_ext_pthread", tid=tid),
            self.main_connect("a10_ext_pthread", tid=tid),
        ])
        for a in got:
            # the thread raised no event: the context is the main thread's
            self.assertEqual(a.get("context_tid"), run.pid, fmt(a))

    def test_attack_11_shellcode_in_anonymous_memory(self):
        run = self.attacks()
        i = run.info("a11_shellcode")
        self.assertNotIn("error", i, i)
        self.assertGreaterEqual(i.get("ret", -1), 0, "the shellcode's openat failed: %s" % i)
        got = self.expect("a11_shellcode", [self.main_open("a11_shellcode", mapping="[anon]")])
        self.assertIs(got[0]["origin"].get("executable"), True, fmt(got[0]))

    def test_attack_12_sys_audit_replaced(self):
        run = self.attacks()
        # _posixsubprocess forks without the (suppressed) subprocess.Popen
        # event, so listing /proc/self/fd in the child is rightly alerted too
        # (3.8-3.11; later versions use close_range).
        for step in ("a12a_sys_audit_replaced", "a12b_sys_audit_replaced_fork_exec"):
            with self.subTest(step=step):
                child = run.info(step)["child"]
                self.assertEqual(run.info(step)["status"], 0, run.describe(step))
                spawned = [r for r in run.records(step, ("audit",))
                           if r.get("event") == "os.posix_spawn" and r.get("pid") == run.pid]
                fds = dict(syscall="openat", path="/proc/self/fd", pid=child)
                if spawned:
                    # 3.13+: Popen takes os.posix_spawn, whose event is raised
                    # in C and announces the exec: not a bypass.
                    execs = [r for r in run.records(step, ("syscall",))
                             if r.get("pid") == child and r.get("syscall") == "execve"]
                    self.assertEqual([r.get("verdict") for r in execs], ["audited"],
                                     "%s: os.posix_spawn announced the exec%s"
                                     % (self.LABEL, run.describe(step)))
                    self.expect(step, [], optional=[fds])
                else:
                    self.expect(step, [self.child_exec(step, "/bin/true")], optional=[fds])

    def test_attack_13_io_uring_setup(self):
        run = self.attacks()
        self.expect("a13_io_uring_setup", [dict(syscall="io_uring_setup", pid=run.pid,
                                                tid=run.pid, mapping=LIBC)])

    def test_attack_no_alert_outside_the_steps(self):
        """Starting up (ctypes, listeners) and shutting down alert nothing."""
        run = self.attacks()
        for step in (BEFORE, "end"):
            with self.subTest(step=step):
                self._no_alerts(run, step)

    def _no_alerts(self, run, step):
        got = run.alerts(step)
        if got:
            self.fail("%s: alerts %s:\n  %s%s" % (self.LABEL, step, "\n  ".join(
                fmt(a) for a in got), run.describe(step)))

    def test_attack_same_alerts_with_show_alerts(self):
        """--show all changes what is printed, not what is alerted: the
        same attacks traced with --show alerts give the same alerts."""
        full = self.attacks()
        quiet = self.traced("attacks", ATTACKS, show="alerts")
        self.assertEqual([r for r in quiet.res.records if r.get("type") != "alert"], [],
                         "--show alerts printed other records" + quiet.describe())

        def signatures(run):
            return sorted(alert_signature(run, a) for a in run.alerts())

        want, got = signatures(full), signatures(quiet)
        if want != got:
            self.fail("%s: alerts differ between --show all and --show alerts\n"
                      "  only with --show all:    %s\n  only with --show alerts: %s%s" % (
                          self.LABEL, [x for x in want if x not in got],
                          [x for x in got if x not in want], quiet.describe()))

    # == baseline rules: native syscalls just outside each are alerted ======

    def neg_open(self, step, **kw):
        return self.expect(step, [self.main_open(step, **kw)])

    def test_negative_ld_so_library_load(self):
        run = self.attacks()
        for step in ("n01a_lib_without_cloexec", "n01b_ld_so_cache_without_cloexec",
                     "n01c_not_a_lib_cloexec", "n01d_lib_rdwr_cloexec",
                     "n01e_ld_so_cache_lookalike_cloexec"):
            with self.subTest(step=step):
                self.neg_open(step)
        with self.subTest(step="n02_after_import"):
            # right after the import of evilext (its `import` event is the
            # thread's last): not the loader's opens
            i = run.info("n02_after_import")
            got = self.expect("n02_after_import", [
                self.main_open("n02_after_import", path=i["not_a_lib"], last_event="import"),
                self.main_open("n02_after_import", path=i["openssl_cnf"], last_event="import"),
                self.main_open("n02_after_import", path=i["lib_rw"], last_event="import",
                               flags=O_RDWR),
            ])
            for a in got:
                self.assertIn("evilext", json.dumps(a["context"][-1].get("args")), fmt(a))
        with self.subTest(step="n02e_after_dlopen_not_a_lib"):
            self.neg_open("n02e_after_dlopen_not_a_lib", last_event="ctypes.dlopen")

    def test_negative_ld_so_library_load_before_the_hook_armed(self):
        """Before the hook arms only the loader's own opens are explained."""
        ext = native_dir()
        scratch = tempfile.mkdtemp(prefix="prearm-", dir=self._tmp)
        ro = os.path.join(scratch, "prearm-read-only.txt")
        rw = os.path.join(scratch, "libpysec-prearm.so")
        for p in (ro, rw):
            with open(p, "w") as f:
                f.write("x\n")
        env = U.clean_env(LD_PRELOAD=os.path.join(ext, "libevilpre.so"),
                          PYSEC_E2E_PREOPEN_RO=ro, PYSEC_E2E_PREOPEN_RW=rw)
        res = U.trace([self.PY, "-c", "import os, json; print(json.dumps("
                       "{'pid': os.getpid(), 'steps': {}}))"], show="all", env=env)
        run = StepTrace("python -c with libevilpre.so preloaded", res)
        self.assertEqual(res.rc, 0, run.describe())
        self.assertIsNotNone(run.report, run.describe())
        pid = run.pid
        why = "made before the hook armed"
        got = self.expect(BEFORE, [
            dict(syscall="openat", path=ro, pid=pid, tid=pid, mapping=LIBC, flags=0),
            dict(syscall="openat", path=rw, pid=pid, tid=pid, mapping=LIBC, flags=O_RDWR),
        ], attacker=run)
        for a in got:
            self.assertIn(why, a["reason"], fmt(a))

    def test_negative_libc_locale_tz(self):
        for step in ("n03a_zoneinfo_for_writing", "n03b_zoneinfo_lookalike"):
            with self.subTest(step=step):
                self.neg_open(step)

    def test_negative_libc_nss_config(self):
        for step in ("n04a_etc_hosts_for_writing", "n04b_etc_hosts_lookalike"):
            with self.subTest(step=step):
                self.neg_open(step)

    def test_negative_libc_nscd(self):
        run = self.attacks()
        step = "n05_unix_connect_not_nscd"
        self.expect(step, [dict(syscall="connect", family="AF_UNIX", path=run.info(step)["path"],
                                pid=run.pid, tid=run.pid, mapping=LIBC)])

    def test_negative_libc_dns_query(self):
        self.expect("n06a_dns_port_outside_resolution",
                    [self.main_connect("n06a_dns_port_outside_resolution")])

    def test_negative_libc_resolve_in_sockaddr(self):
        run = self.attacks()
        step = "n06b_dns_port_then_literal_connect"
        conns = [r for r in run.records(step, ("audit",)) if r.get("event") == "socket.connect"]
        literal = ["127.0.0.1", run.info(step)["next_port"]]
        self.assertTrue(conns and conns[-1]["args"][1] == literal,
                        "the query is followed by socket.connect to a literal address"
                        + run.describe(step))
        self.expect(step, [self.main_connect(step)])

    def test_negative_libc_gai_sort(self):
        step = "n07_connect_other_port_in_getaddrinfo"
        self.expect(step, [self.main_connect(step, last_event="socket.getaddrinfo")])

    def test_negative_openssl_trust_store(self):
        for step in ("n08a_certs_for_writing", "n08b_certs_lookalike"):
            with self.subTest(step=step):
                self.neg_open(step)

    def test_negative_openssl_key_files(self):
        for step in ("n25a_key_file_by_ctypes", "n25b_pem_for_writing"):
            with self.subTest(step=step):
                self.neg_open(step)

    def test_negative_libc_openpty(self):
        for step in ("n16a_ptmx_read_only", "n16b_dev_tty"):
            with self.subTest(step=step):
                self.neg_open(step)

    def test_negative_libuuid_clock(self):
        run = self.attacks()
        with self.subTest(step="n17a_unix_connect_not_uuidd"):
            step = "n17a_unix_connect_not_uuidd"
            self.expect(step, [dict(syscall="connect", family="AF_UNIX",
                                    path=run.info(step)["path"], pid=run.pid, tid=run.pid,
                                    mapping=LIBC)])
        with self.subTest(step="n17b_uuid_clock_lookalike"):
            self.neg_open("n17b_uuid_clock_lookalike")

    def test_negative_libc_syslog(self):
        run = self.attacks()
        for step, last in (("n18a_dev_log_without_syslog_event", None),
                           ("n18b_other_socket_after_syslog_event", "syslog.openlog")):
            with self.subTest(step=step):
                exp = dict(syscall="connect", family="AF_UNIX", path=run.info(step)["path"],
                           pid=run.pid, tid=run.pid, mapping=LIBC)
                if last:
                    exp["last_event"] = last
                self.expect(step, [exp])

    def test_negative_posix_spawn_file_actions(self):
        run = self.attacks()
        step = "n19_open_in_parent_after_posix_spawn"
        self.assertEqual(run.info(step)["status"], 0, run.describe(step))
        self.neg_open(step, last_event="os.posix_spawn")

    def test_negative_urandom_read(self):
        for step in ("n09a_urandom_for_writing", "n09b_dev_zero"):
            with self.subTest(step=step):
                self.neg_open(step)

    def test_negative_libc_nss_userdb(self):
        for step in ("n22a_userdb_dotdot", "n22b_userdb_lookalike"):
            with self.subTest(step=step):
                self.neg_open(step)

    def test_negative_libc_cpu_online(self):
        for step in ("n23a_cpu_online_for_writing", "n23b_cpu_lookalike"):
            with self.subTest(step=step):
                self.neg_open(step)

    def test_negative_readline_init(self):
        for step in ("n24a_inputrc_for_writing", "n24b_terminfo_dotdot"):
            with self.subTest(step=step):
                self.neg_open(step)

    def test_negative_o_path_no_data(self):
        self.neg_open("n21_same_path_without_o_path")

    def test_negative_libc_posix_sem(self):
        for step in ("n20a_sem_write_only", "n20b_shm_not_a_semaphore"):
            with self.subTest(step=step):
                self.neg_open(step)

    def test_negative_overcommit_policy(self):
        self.neg_open("n10_overcommit_lookalike")

    def test_negative_sqlite_side_files(self):
        for step in ("n11a_journal_of_unknown_db", "n11b_file_next_to_db",
                     "n11c_db_dir_for_writing"):
            with self.subTest(step=step):
                self.neg_open(step)

    def test_negative_interpreter_startup(self):
        for step in ("n12a_pyvenv_cfg_after_start", "n12b_pth_after_start"):
            with self.subTest(step=step):
                self.neg_open(step)

    def test_negative_fork_thread_count(self):
        run = self.attacks()
        with self.subTest(step="n13a_proc_stat_outside_fork"):
            self.neg_open("n13a_proc_stat_outside_fork")
        with self.subTest(step="n13b_proc_status_after_fork"):
            step = "n13b_proc_status_after_fork"
            self.assertEqual(run.info(step)["status"], 0, run.describe(step))
            self.neg_open(step, last_event="os.fork")

    def test_negative_subprocess_child_fds(self):
        run = self.attacks()
        with self.subTest(step="n14a_proc_fd_in_main"):
            self.neg_open("n14a_proc_fd_in_main")
        with self.subTest(step="n14b_proc_fd_in_fork_child"):
            step = "n14b_proc_fd_in_fork_child"
            child = run.info(step)["child"]
            self.assertEqual(run.info(step)["status"], 0, run.describe(step))
            self.expect(step, [dict(syscall="openat", path="/proc/self/fd", pid=child, tid=child,
                                    ppid=run.pid, mapping=LIBC)])

    def test_negative_multiprocessing_reexec(self):
        run = self.attacks()
        # n15b/n15c: a multiprocessing command line, but another program
        # than the interpreter (n15c: a copy of /bin/true named like it)
        for step in ("n15a_reexec_not_multiprocessing",
                     "n15b_multiprocessing_main_other_program",
                     "n15c_multiprocessing_main_interpreter_lookalike"):
            with self.subTest(step=step):
                i = run.info(step)
                self.assertEqual(i["status"], 0, run.describe(step))
                self.expect(step, [self.child_exec(step, i["path"])])

    # == controls: ordinary Python work alerts nothing =====================

    def control(self, step):
        run = self.controls()
        self.assertEqual(run.report.get("failed"), [],
                         "%s: parts of the control script failed%s" % (self.LABEL, run.describe()))
        self.assertIn(step, run.report["steps"], "%s: control step %r never ran%s"
                      % (self.LABEL, step, run.describe()))
        self._no_alerts(run, step)

    def test_control_script_ran(self):
        run = self.controls()
        self.assertEqual(sorted(run.report["steps"]), sorted(CONTROL_STEPS), run.describe())
        self.assertEqual(run.report.get("failed"), [], run.describe())
        st = run.info("fork_child_events")
        self.assertEqual(st["status"], 0, "an os.fork child raising audit events exits 0 "
                         "(the hook must not crash it): %s%s" % (st, run.describe()))

    def test_control_whole_run_has_no_alert(self):
        run = self.controls()
        got = [r for r in run.res.records if r.get("type") == "alert"]
        if got:
            self.fail("%s: %d alert records in a run of ordinary Python work:\n  %s%s" % (
                self.LABEL, len(got), "\n  ".join("[%s] %s" % (run.step_of(a), fmt(a))
                                                  for a in got), run.describe()))

    def test_control_before_the_first_step(self):
        self._no_alerts(self.controls(), BEFORE)

    def test_control_no_alert_with_show_alerts(self):
        """The default filtering (--show alerts) alerts nothing either."""
        run = self.traced("controls", CONTROLS, show="alerts")
        self.assertEqual(run.report.get("failed"), [], run.describe())
        got = run.alerts()
        if got:
            self.fail("%s: %d alerts with --show alerts:\n  %s%s" % (
                self.LABEL, len(got), "\n  ".join(fmt(a) for a in got), run.describe()))


def _add_control_tests():
    for step in CONTROL_STEPS:
        def t(self, step=step):
            self.control(step)
        t.__name__ = "test_control_%s" % step
        t.__doc__ = "control %r: no alert" % step
        setattr(PerPython, t.__name__, t)


_add_control_tests()


def _make_python_classes():
    classes = {}
    for i, info in enumerate(U.pythons_under_test()):
        name = "TestBypass_%d_" % i + re.sub(r"[^0-9A-Za-z]+", "_", info["label"])
        cls = type(name, (PerPython, unittest.TestCase),
                   {"PY": info["path"], "LABEL": info["label"], "VERSION": info["version"],
                    "__doc__": "bypass alerts with %s (%s)" % (info["path"], info["label"])})
        classes[name] = cls
    return classes


globals().update(_make_python_classes())


class TestBypassBaselineCoverage(unittest.TestCase):
    """Every baseline rule (userspace/baseline.c) has a negative test here."""

    def test_every_baseline_rule_has_a_negative_test(self):
        with open(BASELINE_C) as f:
            src = f.read()
        m = re.search(r"rules\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
        self.assertIsNotNone(m, "no rules[] table in %s" % BASELINE_C)
        ids = set(re.findall(r'\{\s*"([a-z0-9_]+)",\s*[a-z0-9_]+,', m.group(1)))
        ids |= set(re.findall(r'return\s+"([a-z0-9_]+)";', src))
        self.assertTrue(ids, "no rule ids found in %s" % BASELINE_C)
        missing = sorted(ids - set(NEGATIVES))
        self.assertEqual(missing, [], "baseline rules without a negative test in "
                         "tests/e2e/test_bypass.py (NEGATIVES): %s" % missing)
        stale = sorted(set(NEGATIVES) - ids)
        self.assertEqual(stale, [], "NEGATIVES names rules baseline.c no longer has: %s" % stale)
        for rule, steps in NEGATIVES.items():
            for s in steps:
                if s.startswith("prearm:"):
                    continue
                self.assertIn('step("%s"' % s, open(ATTACKS).read(),
                              "%s: step %s is not in %s" % (rule, s, ATTACKS))


if __name__ == "__main__":
    unittest.main()
