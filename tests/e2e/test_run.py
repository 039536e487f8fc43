# SPDX-License-Identifier: MIT
"""End-to-end tests of `pysectrace run` (root, real BPF, real Pythons).

PerPython tests are generated once per interpreter under test: the class
name (TestPython_<label>) names the Python in every failure.  ToolTests run
once.  Run through run_e2e.py, or alone:
    PYSECTRACE_BUILD=build python3 -m unittest discover -s tests/e2e -p 'test_run.py'
"""
import calendar
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as U  # noqa: E402

OPEN_HOSTNAME = 'import os;print(os.getpid());open("/etc/hostname").read()'


def _int_lines(res, n, testcase):
    """The first n stdout lines of the traced program, as ints."""
    lines = res.stdout_lines()
    testcase.assertGreaterEqual(len(lines), n, "program printed too little" + res.describe())
    try:
        return [int(x) for x in lines[:n]]
    except ValueError:
        testcase.fail("program stdout is not %d integers%s" % (n, res.describe()))


class PerPython(object):
    """Mixed into one generated TestCase per Python; PY and LABEL set there."""

    PY = None
    LABEL = None
    maxDiff = 4000

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pysectrace-e2e-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def py(self, *args):
        return [self.PY] + list(args)

    def assertOk(self, res, rc=0):
        self.assertEqual(res.rc, rc, "%s: unexpected exit status%s" % (self.LABEL, res.describe()))

    # 1 ------------------------------------------------------------------
    def test_01_open_json_records(self):
        t_start = time.time()
        res = U.trace(self.py("-c", OPEN_HOSTNAME))
        self.assertOk(res)
        (pid,) = _int_lines(res, 1, self)
        self.assertTrue(res.records, "no records at all" + res.describe())
        self.assertEqual(res.process(), [], "--show audit must not print process records")
        for r in res.records:
            for k in U.AUDIT_KEYS:
                self.assertIn(k, r, "record without %r: %r" % (k, r))
            self.assertIs(type(r["schema_version"]), int)
            self.assertEqual(r["schema_version"], 1, r)
            self.assertNotEqual(r["type"], "lost", "events were lost: %r" % r)
            self.assertEqual(r["type"], "audit", r)
            self.assertRegex(r["time"], U.RFC3339_RE)
            for k in ("mono_ns", "pid", "tid", "seq"):
                self.assertIs(type(r[k]), int, "%s of %r" % (k, r))
            self.assertIsInstance(r["comm"], str)
            self.assertIsInstance(r["event"], str)
            self.assertIsInstance(r["args"], list)
            self.assertEqual(r["pid"], pid, "a record of a process that is not the python: %r" % r)
        opens = res.opens_of("/etc/hostname")
        self.assertEqual(len(opens), 1, "expected one open of /etc/hostname" + res.describe())
        o = opens[0]
        self.assertEqual(o["args"][1], "r", o)
        self.assertIs(type(o["args"][2]), int, o)
        self.assertEqual(o["pid"], pid, o)
        self.assertEqual(o["tid"], pid, o)
        self.assertEqual(o["ppid"], res.tracer_pid, "the python's parent is pysectrace: %r" % o)
        self.assertTrue(o["comm"].startswith("python"), o)
        self.assertNotIn("hook", o, "the preloaded hook is not the module: %r" % o)
        self.assertNotIn("truncated", o, o)
        # The wall clock of the record is now (within a generous minute).
        t_rec = calendar.timegm(time.strptime(o["time"][:19], "%Y-%m-%dT%H:%M:%S"))
        self.assertLess(abs(t_rec - t_start), 60, "record time %s is not now" % o["time"])
        # Ordered: seq strictly increasing (frequent events are hidden, so
        # gaps are allowed here), mono_ns non-decreasing in one thread.
        seqs = [r["seq"] for r in res.records]
        self.assertGreaterEqual(seqs[0], 1)
        bad = [(a, b) for a, b in zip(seqs, seqs[1:]) if b <= a]
        self.assertEqual(bad, [], "seq not strictly increasing")
        monos = [r["mono_ns"] for r in res.records]
        self.assertEqual(monos, sorted(monos), "mono_ns goes back in time")
        # The -c command itself is visible, before the open.
        runs = res.audit("cpython.run_command")
        self.assertEqual(len(runs), 1, res.describe())
        self.assertEqual(runs[0]["args"], [OPEN_HOSTNAME + "\n"], runs[0])
        self.assertLess(runs[0]["seq"], o["seq"])

    def test_02_show_all_seq_has_no_gaps(self):
        res = U.trace(self.py("-c", "import os;id(1);print(os.getpid());open('/etc/hostname')"),
                      show="all")
        self.assertOk(res)
        (pid,) = _int_lines(res, 1, self)
        seqs = [r["seq"] for r in res.audit(pid=pid)]
        self.assertTrue(seqs, res.describe())
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)),
                         "with --show all the seq of a process is 1, 2, 3, ... (no gaps)")
        self.assertEqual(len(res.opens_of("/etc/hostname", pid=pid)), 1, res.describe())
        ids = res.audit("builtins.id", pid=pid)
        self.assertGreaterEqual(len(ids), 1, "--show all shows builtins.id" + res.describe())
        execs = res.process("exec", pid=pid)
        self.assertEqual(len(execs), 1, res.describe())
        self.assertEqual(execs[0]["filename"], self.PY, execs[0])
        exits = res.process("exit", pid=pid)
        self.assertEqual(len(exits), 1, res.describe())
        self.assertEqual(exits[0].get("exit_status"), 0, exits[0])
        self.assertNotIn("exit_signal", exits[0])
        self.assertEqual(res.records[-1], exits[0], "the exit of the python is its last record")

    # 2 ------------------------------------------------------------------
    def test_03_isolated_mode(self):
        res = U.trace(self.py("-I", "-S", "-c", OPEN_HOSTNAME))
        self.assertOk(res)
        (pid,) = _int_lines(res, 1, self)
        self.assertEqual(len(res.opens_of("/etc/hostname", pid=pid)), 1,
                         "no open record under -I -S" + res.describe())
        # -S: site was not imported.
        imports = [r["args"][0] for r in res.audit("import", pid=pid)]
        self.assertNotIn("site", imports)

    # 3 ------------------------------------------------------------------
    def test_04_subprocess_child(self):
        child_code = 'import os;print(os.getpid());open("/etc/hostname")'
        code = ("import os, subprocess, sys\n"
                "r = subprocess.run([sys.executable, '-c', %r], stdout=subprocess.PIPE,"
                " stderr=subprocess.PIPE, universal_newlines=True)\n"
                "print(os.getpid()); print(r.stdout.strip()); print(r.returncode)\n"
                "print(sys.executable)\n" % child_code)
        res = U.trace(self.py("-c", code), show="all")
        self.assertOk(res)
        parent, child, child_rc = _int_lines(res, 3, self)
        exe = res.stdout_lines()[3]
        self.assertEqual(child_rc, 0, res.describe())
        self.assertNotEqual(parent, child)
        opens = res.opens_of("/etc/hostname")
        self.assertEqual([r["pid"] for r in opens], [child],
                         "one open of /etc/hostname, by the child" + res.describe())
        self.assertEqual(opens[0]["ppid"], parent, opens[0])
        popens = res.audit("subprocess.Popen", pid=parent)
        self.assertEqual(len(popens), 1, "subprocess.Popen in the parent" + res.describe())
        args = popens[0]["args"]
        self.assertEqual(args[0], exe, popens[0])
        self.assertEqual(args[1], [exe, "-c", child_code], popens[0])
        with self.subTest("subprocess.Popen args keep cwd=None, env=None"):
            # (executable, args, cwd, env): None args must keep their place.
            self.assertTrue(U.strict_equal(args, [exe, [exe, "-c", child_code], None, None]),
                            "subprocess.Popen args: got %r" % (args,))
        self.assertEqual(res.audit("subprocess.Popen", pid=child), [])
        # The child is a new program: its own seq from 1, without gaps.
        cseqs = [r["seq"] for r in res.audit(pid=child)]
        self.assertEqual(cseqs, list(range(1, len(cseqs) + 1)), "child seq")
        forks = [r for r in res.process("fork", pid=parent) if r.get("child_pid") == child]
        self.assertEqual(len(forks), 1, "fork record parent -> child" + res.describe())
        execs = res.process("exec", pid=child)
        self.assertEqual([r["filename"] for r in execs], [exe], res.describe())

    # 4 ------------------------------------------------------------------
    def test_05_thread_tid(self):
        path = os.path.join(self.tmp, "thread-%d-file" % os.getpid())
        code = ("import os, sys, threading\n"
                "res = {}\n"
                "def work():\n"
                "    res['tid'] = threading.get_native_id()\n"
                "    open(sys.argv[1], 'w').close()\n"
                "t = threading.Thread(target=work); t.start(); t.join()\n"
                "print(os.getpid()); print(res['tid'])\n")
        res = U.trace(self.py("-c", code, path))
        self.assertOk(res)
        pid, tid = _int_lines(res, 2, self)
        self.assertNotEqual(pid, tid)
        opens = res.opens_of(path)
        self.assertEqual(len(opens), 1, "one open of %s%s" % (path, res.describe()))
        o = opens[0]
        self.assertEqual(o["pid"], pid, o)
        self.assertEqual(o["tid"], tid, "tid is the thread's native id: %r" % o)
        self.assertNotEqual(o["tid"], o["pid"], o)
        self.assertEqual(o["args"][1], "w", o)
        # The main thread's records carry tid == pid.
        main = [r for r in res.audit(pid=pid) if r is not o]
        self.assertTrue(main)
        self.assertTrue(all(r["tid"] in (pid, tid) for r in main), res.describe())
        self.assertTrue(any(r["tid"] == pid for r in main))

    # 5 ------------------------------------------------------------------
    def test_06_exit_status_passthrough(self):
        cases = [
            ("import sys; sys.exit(7)", 7, {"exit_status": 7}),
            ("import os,signal; os.kill(os.getpid(), signal.SIGKILL)", 137, {"exit_signal": 9}),
            ("import os; os.kill(os.getpid(), 15)", 143, {"exit_signal": 15}),
        ]
        for code, want, exit_rec in cases:
            with self.subTest(code=code):
                res = U.trace(self.py("-c", "import os;print(os.getpid(), flush=True)\n" + code),
                              show="all")
                self.assertOk(res, want)
                (pid,) = _int_lines(res, 1, self)
                exits = res.process("exit", pid=pid)
                self.assertEqual(len(exits), 1, res.describe())
                got = {k: exits[0][k] for k in ("exit_status", "exit_signal") if k in exits[0]}
                self.assertEqual(got, exit_rec, exits[0])

    # 6 ------------------------------------------------------------------
    ARGS_CODE = r"""
import os, sys
marker = sys.argv[1]
try:
    open(b'/tmp/pysec-\xff-bytes')
except OSError:
    pass
try:
    open(os.fsdecode(b'/tmp/pysec-\xfe'))
except OSError:
    pass
sys.audit('pysec.test', 1, -2, 2**70, 1.5, None, True, (1, [2, 'x']), b'ab', object())

class Hostile:
    def _boom(self, *a, **k):
        with open(marker, 'w') as f:
            f.write('user code ran')
        raise RuntimeError('hostile object touched')
    __repr__ = __str__ = __fspath__ = __format__ = _boom
    __len__ = __iter__ = __index__ = __int__ = __float__ = __bool__ = _boom
    __getattr__ = _boom

sys.audit('pysec.hostile', Hostile())
sys.audit('pysec.empty')
sys.audit('pysec.false', False, 0, -9223372036854775808, 9223372036854775807, -(2**64))
sys.audit('pysec.floats', float('nan'), float('inf'), -0.25)
sys.audit('pysec.text', 'h\u00e9llo \u2603', '', b'', 'a\\b"q')
sys.audit('pysec.long', 'a' * 600)
sys.audit('pysec.longb', b'\x00' * 600)
sys.audit('pysec.full', 'a' * 600, b'b' * 600, 1)
sys.audit('pysec.none', None, [None, 1], 2)
sys.audit('pysec.many', tuple(range(40)))
sys.audit('pysec.deep', ((((1,),),),))
class MyStr(str):
    pass
sys.audit('pysec.subclass', MyStr('x'), type('T', (tuple,), {})((1,)))
print('OK')
"""

    def test_07_args_decoding(self):
        marker = os.path.join(self.tmp, "hostile-marker")
        res = U.trace(self.py("-c", self.ARGS_CODE, marker))
        self.assertOk(res)
        self.assertEqual(res.stdout, "OK\n", res.describe())
        self.assertFalse(os.path.exists(marker),
                         "the hook ran user code of a hostile object (marker file written)")
        self.assertEqual(res.opens_of(marker), [], "user code of the hostile object ran")

        def args_of(event):
            recs = res.audit(event)
            self.assertEqual(len(recs), 1, "one %s record%s" % (event, res.describe()))
            self.assertNotIn("truncated", recs[0], recs[0])
            return recs[0]["args"]

        def check(got, want, what):
            self.assertTrue(U.strict_equal(got, want),
                            "%s:\n  got  %r\n  want %r" % (what, got, want))

        with self.subTest("bytes path"):
            opens = res.opens_of({"bytes": "/tmp/pysec-\\xff-bytes"})
            self.assertEqual(len(opens), 1, "open(b'/tmp/pysec-\\xff-bytes') args[0] == "
                             "{'bytes': '/tmp/pysec-\\\\xff-bytes'}" + res.describe())
        with self.subTest("lone surrogate str path"):
            opens = res.opens_of({"str_escaped": "/tmp/pysec-\\udcfe"})
            self.assertEqual(len(opens), 1, "open('/tmp/pysec-\\udcfe') args[0] == "
                             "{'str_escaped': '/tmp/pysec-\\\\udcfe'}" + res.describe())
        with self.subTest("pysec.test"):
            check(args_of("pysec.test"),
                  [1, -2, {"int": "1180591620717411303424"}, 1.5, None, True, [1, [2, "x"]],
                   {"bytes": "ab"}, {"type": "object"}], "sys.audit('pysec.test', ...)")
        with self.subTest("hostile object"):
            check(args_of("pysec.hostile"), [{"type": "Hostile"}], "hostile object")
        with self.subTest("no args"):
            check(args_of("pysec.empty"), [], "sys.audit('pysec.empty')")
        with self.subTest("ints at the 64-bit edges"):
            check(args_of("pysec.false"),
                  [False, 0, -9223372036854775808, 9223372036854775807,
                   {"int": "-18446744073709551616"}], "ints")
        with self.subTest("floats"):
            check(args_of("pysec.floats"), [{"float": "nan"}, {"float": "inf"}, -0.25], "floats")
        with self.subTest("text"):
            check(args_of("pysec.text"), ["h\u00e9llo \u2603", "", {"bytes": ""}, 'a\\b"q'],
                  "str and bytes")
        with self.subTest("None"):
            check(args_of("pysec.none"), [None, [None, 1], 2], "sys.audit('pysec.none', None, [None, 1], 2)")
        with self.subTest("long str/bytes are cut"):
            recs = res.audit("pysec.long") + res.audit("pysec.longb")
            self.assertEqual(len(recs), 2, res.describe())
            check(recs[0]["args"], [{"str": "a" * 512, "truncated": True, "size": 600}], "long str")
            check(recs[1]["args"], [{"bytes": "\u0000" * 512, "truncated": True, "size": 600}],
                  "long bytes")
        with self.subTest("args buffer full"):
            recs = res.audit("pysec.full")
            self.assertEqual(len(recs), 1, res.describe())
            r = recs[0]
            self.assertIs(r.get("truncated"), True, "a full args buffer marks the record")
            a = r["args"]
            self.assertEqual(len(a), 3, a)
            check(a[0], {"str": "a" * 512, "truncated": True, "size": 600}, "first arg")
            self.assertEqual(sorted(a[1]), ["bytes", "size", "truncated"], a[1])
            self.assertEqual((a[1]["size"], a[1]["truncated"]), (600, True), a[1])
            self.assertTrue(0 < len(a[1]["bytes"]) < 512 and set(a[1]["bytes"]) == {"b"}, a[1])
            check(a[2], {"truncated": True}, "the cut-off marker ends the args")
        with self.subTest("many items"):
            check(args_of("pysec.many"), [list(range(32)) + [{"more": 8}]], "40-item tuple")
        with self.subTest("deep nesting"):
            check(args_of("pysec.deep"), [[[[{"type": "tuple", "depth_limit": True}]]]],
                  "tuples nested 5 deep")
        with self.subTest("subclasses are not looked into"):
            check(args_of("pysec.subclass"), [{"type": "MyStr"}, {"type": "T"}], "subclasses")

    # module form --------------------------------------------------------
    def test_08_module_form_without_preload(self):
        code = ("import os, sys; sys.path.insert(0, %r); import pysechook;"
                " print(os.getpid()); print(pysechook.armed()); open('/etc/hostname')"
                % U.build_dir())
        # --no-namespace: otherwise the tree's /etc/ld.so.preload hooks it anyway
        res = U.trace(["env", "-u", "LD_PRELOAD", self.PY, "-c", code], opts=["--no-namespace"])
        self.assertOk(res)
        (pid,) = _int_lines(res, 1, self)
        self.assertEqual(res.stdout_lines()[1:], ["True"],
                         "pysechook.armed() after import" + res.describe())
        opens = res.opens_of("/etc/hostname", pid=pid)
        self.assertEqual(len(opens), 1,
                         "FINDING: `import pysechook` without LD_PRELOAD produced no open "
                         "record: the tracer does not see the module form of the hook"
                         + res.describe())
        self.assertEqual(opens[0].get("hook"), "module", opens[0])
        # Every record of the python came from the module's hook.
        self.assertEqual([r for r in res.audit(pid=pid) if r.get("hook") != "module"], [])
        # Nothing from before the import: the first event is after it.
        self.assertEqual(res.audit("cpython.run_command", pid=pid), [])


def _make_python_classes():
    classes = {}
    for i, info in enumerate(U.pythons_under_test()):
        name = "TestPython_%d_" % i + re.sub(r"[^0-9A-Za-z]+", "_", info["label"])
        cls = type(name, (PerPython, unittest.TestCase),
                   {"PY": info["path"], "LABEL": info["label"], "VERSION": info["version"],
                    "__doc__": "pysectrace run with %s (%s)" % (info["path"], info["label"])})
        classes[name] = cls
    return classes


globals().update(_make_python_classes())

SYS_PY = U.SYSTEM_PYTHON


class ToolTests(unittest.TestCase):
    """Behavior of the tool itself: checked once, with /usr/bin/python3."""

    maxDiff = 4000

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pysectrace-e2e-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_tool(self, args, **kw):
        return U.run_cmd([U.tracer()] + list(args), **kw)

    def test_command_not_found(self):
        name = "pysec-no-such-command-%d" % os.getpid()
        _, rc, out, err, _ = self.run_tool(["run", "--", name])
        self.assertEqual(rc, 127, err)
        self.assertIn(name, err)
        self.assertEqual(out, "")
        _, rc, out, err, _ = self.run_tool(["run", "--", "/nonexistent/dir/" + name])
        self.assertEqual(rc, 127, err)
        self.assertIn("/nonexistent/dir/" + name, err)

    def test_command_not_executable(self):
        path = os.path.join(self.tmp, "not-executable.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho should-not-run\n")
        os.chmod(path, 0o644)
        _, rc, out, err, _ = self.run_tool(["run", "--", path])
        self.assertEqual(rc, 126, err)
        self.assertIn(path, err)
        self.assertNotIn("should-not-run", out)

    def test_usage_errors(self):
        cases = [
            (["run", "--no-such-option", "--", "/bin/true"], "no-such-option"),
            (["run", "--format", "xml", "--", "/bin/true"], "xml"),
            (["run", "--show", "everything", "--", "/bin/true"], "everything"),
            (["run"], "COMMAND"),
            (["run", "--"], "COMMAND"),
            (["run", "--hook-lib", "/nonexistent/libpysechook.so", "--", "/bin/true"],
             "/nonexistent/libpysechook.so"),
            (["run", "-o", "/nonexistent/dir/out.json", "--", "/bin/true"], "/nonexistent/dir"),
        ]
        for args, mention in cases:
            with self.subTest(args=" ".join(args)):
                _, rc, out, err, _ = self.run_tool(args)
                self.assertEqual(rc, 125, "exit status of %s: stderr %r" % (args, err))
                self.assertIn(mention, err, "the message names what is wrong")
                self.assertEqual(out, "")

    def test_help(self):
        _, rc, out, err, _ = self.run_tool(["run", "--help"])
        self.assertEqual(rc, 0, err)
        self.assertIn("usage: pysectrace run", out)

    def test_output_dash_is_stdout(self):
        res = U.trace([SYS_PY, "-c", "open('/etc/hostname')"], opts=["-o", "-"], output=False)
        self.assertEqual(res.rc, 0, res.describe())
        recs = U.parse_json_lines(res.stdout, "stdout")
        self.assertEqual(len([r for r in recs if r.get("event") == "open"
                              and r["args"][0] == "/etc/hostname"]), 1, res.describe())
        self.assertEqual(res.stderr, "", "records went to stdout, nothing to stderr")

    def test_default_output_is_stderr(self):
        res = U.trace([SYS_PY, "-c", "print('hello-stdout'); open('/etc/hostname')"],
                      output=False)
        self.assertEqual(res.rc, 0, res.describe())
        self.assertEqual(res.stdout, "hello-stdout\n", "stdout holds only the program's output")
        recs = U.parse_json_lines(res.stderr, "stderr")
        self.assertEqual(len([r for r in recs if r.get("event") == "open"
                              and r["args"][0] == "/etc/hostname"]), 1, res.describe())

    def test_not_root(self):
        nobody = 65534
        if shutil.which("setpriv"):
            argv = ["setpriv", "--reuid=%d" % nobody, "--regid=%d" % nobody, "--clear-groups",
                    U.tracer(), "run", "--", "/bin/true"]
            pre = None
        else:
            argv = [U.tracer(), "run", "--", "/bin/true"]

            def pre():
                os.setgroups([])
                os.setgid(nobody)
                os.setuid(nobody)
        _, rc, out, err, _ = U.run_cmd(argv, preexec_fn=pre)
        self.assertEqual(rc, 125, "non-root run: stderr %r" % err)
        self.assertIn("root", err)

    def test_show_alerts_prints_no_audit_records(self):
        res = U.trace([SYS_PY, "-c", "print('ran'); open('/etc/hostname')"], show="alerts")
        self.assertEqual(res.rc, 0, res.describe())
        self.assertEqual(res.stdout, "ran\n")
        self.assertEqual([r for r in res.records if r.get("type") in ("audit", "process")], [],
                         "--show alerts printed audit/process records" + res.describe())

    def test_show_all_process_records_and_frequent_events(self):
        code = ("import os, subprocess; id(1); print(os.getpid(), flush=True);"
                " subprocess.run(['/bin/true'])")
        res = U.trace([SYS_PY, "-c", code], show="all")
        self.assertEqual(res.rc, 0, res.describe())
        (pid,) = _int_lines(res, 1, self)
        for r in res.process():
            for k in U.AUDIT_KEYS + ("action", "ppid"):
                self.assertIn(k, r, "process record without %r: %r" % (k, r))
            self.assertIn(r["action"], ("fork", "exec", "exit"), r)
        execs = res.process("exec", pid=pid)
        self.assertEqual([r["filename"] for r in execs], [SYS_PY], res.describe())
        self.assertEqual(execs[0]["ppid"], res.tracer_pid, execs[0])
        forks = res.process("fork", pid=pid)
        self.assertEqual(len(forks), 1, res.describe())
        child = forks[0]["child_pid"]
        self.assertIsInstance(child, int)
        self.assertNotEqual(child, pid)
        self.assertEqual([r["filename"] for r in res.process("exec", pid=child)], ["/bin/true"])
        cexit = res.process("exit", pid=child)
        self.assertEqual(len(cexit), 1, res.describe())
        self.assertEqual(cexit[0].get("exit_status"), 0, cexit[0])
        self.assertEqual(cexit[0]["ppid"], pid, cexit[0])
        pexit = res.process("exit", pid=pid)
        self.assertEqual(len(pexit), 1, res.describe())
        self.assertEqual(pexit[0].get("exit_status"), 0)
        self.assertEqual(res.records[-1], pexit[0], "the python's exit is the last record")
        # the fork comes before the child's exec, which comes before its exit
        idx = {id(r): i for i, r in enumerate(res.records)}
        self.assertLess(idx[id(forks[0])], idx[id(res.process("exec", pid=child)[0])])
        self.assertLess(idx[id(res.process("exec", pid=child)[0])], idx[id(cexit[0])])
        ids = res.audit("builtins.id", pid=pid)
        self.assertGreaterEqual(len(ids), 1, "--show all shows builtins.id" + res.describe())
        self.assertTrue(any(r["args"] and type(r["args"][0]) is int for r in ids), ids[:3])
        # ... which the default --show audit hides.
        res2 = U.trace([SYS_PY, "-c", code])
        self.assertEqual(res2.rc, 0, res2.describe())
        self.assertEqual(res2.audit("builtins.id"), [], "--show audit hides builtins.id")
        self.assertEqual(res2.process(), [], "--show audit hides process records")
        self.assertEqual(len(res2.audit("subprocess.Popen")), 1, res2.describe())

    def test_text_format(self):
        res = U.trace([SYS_PY, "-c", "import os;print(os.getpid());open('/etc/hostname')"],
                      fmt="text")
        self.assertEqual(res.rc, 0, res.describe())
        (pid,) = _int_lines(res, 1, self)
        lines = [l for l in res.raw.splitlines() if 'open ["/etc/hostname"' in l]
        self.assertEqual(len(lines), 1, "text output:\n" + res.raw[-3000:])
        self.assertRegex(lines[0], r'^\d\d:\d\d:\d\d\.\d{6} python3\[%d\] open \["/etc/hostname"'
                         % pid)
        # text, not JSON
        self.assertFalse(any(l.startswith("{") for l in res.raw.splitlines()))

    def test_text_format_thread_and_process_lines(self):
        code = ("import os, threading, subprocess\n"
                "t = threading.Thread(target=lambda: open('/etc/hostname')); t.start(); t.join()\n"
                "subprocess.run(['/bin/true'])\nprint(os.getpid())\n")
        res = U.trace([SYS_PY, "-c", code], fmt="text", show="all")
        self.assertEqual(res.rc, 0, res.describe())
        (pid,) = _int_lines(res, 1, self)
        self.assertRegex(res.raw, r'(?m)^\S+ python3\[%d/\d+\] open \["/etc/hostname"' % pid)
        self.assertRegex(res.raw, r'(?m)^\S+ python3\[%d\] \+fork child=\d+$' % pid)
        self.assertRegex(res.raw, r'(?m)^\S+ \S+\[\d+\] \+exec /bin/true$')
        self.assertRegex(res.raw, r'(?m)^\S+ python3\[%d\] \+exit status=0$' % pid)

    def test_preload_into_non_python_processes(self):
        hook = U.hook_lib()
        cases = [
            (["/bin/true"], ""),
            (["bash", "-c", "echo ok"], "ok\n"),
            (["sh", "-c", "echo ok; ls -d /"], "ok\n/\n"),
            (["/bin/ls", "-d", "/etc"], "/etc\n"),
        ]
        for bind_now in (False, True):
            for argv, want in cases:
                with self.subTest(argv=argv, LD_BIND_NOW=bind_now):
                    extra = {"LD_PRELOAD": hook}
                    if bind_now:
                        extra["LD_BIND_NOW"] = "1"
                    _, rc, out, err, _ = U.run_cmd(argv, env=U.clean_env(**extra))
                    self.assertEqual(rc, 0, err)
                    self.assertEqual(out, want)
                    self.assertEqual(err, "", "the preloaded library made noise")

    def test_preload_into_untraced_python(self):
        # Preloaded without a tracer: the hook is armed but silent.
        _, rc, out, err, _ = U.run_cmd(
            [SYS_PY, "-c", "open('/etc/hostname'); print('fine')"],
            env=U.clean_env(LD_PRELOAD=U.hook_lib(), LD_BIND_NOW="1"))
        self.assertEqual((rc, out, err), (0, "fine\n", ""))

    def test_tamper_alerts(self):
        # ctypes aimed at the runtime's hook list and /proc/self/mem opened
        # for writing are tamper alerts; a Python atexit handler's open and
        # reading /proc/self/maps are not alerted at all.
        code = ("import ctypes, atexit\n"
                "ctypes.c_void_p.in_dll(ctypes.pythonapi, '_PyRuntime')\n"
                "open('/proc/self/mem', 'r+b').close()\n"
                "open('/proc/self/maps').read()\n"
                "atexit.register(lambda: open('/etc/hostname').read())\n")
        for py in U.pythons_under_test():
            with self.subTest(python=py["label"]):
                res = U.trace([py["path"], "-c", code], show="alerts")
                self.assertEqual(res.rc, 0, res.describe())
                alerts = [r for r in res.records if r["type"] == "alert"]
                got = sorted((a["kind"], a.get("event") or a.get("syscall")) for a in alerts)
                self.assertEqual(got, [("tamper", "ctypes.dlsym"), ("tamper", "openat")],
                                 res.describe())

    def test_preload_with_debug_allocators(self):
        # -X dev and PYTHONMALLOC=debug switch allocators after the
        # preloaded hook registered (before Py_Initialize): CPython must not
        # free the hook's entry with the debug allocator at exit (SIGABRT).
        for py in U.pythons_under_test():
            path = py["path"]
            for extra_args, extra_env in ((["-X", "dev"], {}), ([], {"PYTHONMALLOC": "debug"})):
                with self.subTest(python=path, args=extra_args, env=extra_env):
                    _, rc, out, err, _ = U.run_cmd(
                        [path] + extra_args + ["-c", "open('/etc/hostname'); print('fine')"],
                        env=U.clean_env(LD_PRELOAD=U.hook_lib(), **extra_env))
                    self.assertEqual((rc, out), (0, "fine\n"), err)
            res = U.trace([path, "-X", "dev", "-c", "open('/etc/hostname')"])
            self.assertEqual(res.rc, 0, res.describe())
            self.assertEqual(len(res.opens_of("/etc/hostname")), 1, res.describe())

    def test_grandchild_python_through_bash(self):
        inner = "%s -c 'import os;print(os.getpid());open(\"/etc/hostname\")'; true" % SYS_PY
        res = U.trace(["bash", "-c", inner], show="all")
        self.assertEqual(res.rc, 0, res.describe())
        (pid,) = _int_lines(res, 1, self)
        opens = res.opens_of("/etc/hostname")
        self.assertEqual([r["pid"] for r in opens], [pid], res.describe())
        bash = [r for r in res.process("exec") if r["filename"].endswith("/bash")]
        self.assertEqual(len(bash), 1, res.describe())
        bash_pid = bash[0]["pid"]
        self.assertEqual(bash[0]["ppid"], res.tracer_pid)
        self.assertNotEqual(bash_pid, pid, "python ran in a child of bash")
        self.assertEqual(opens[0]["ppid"], bash_pid, opens[0])
        # bash itself is not Python: no audit record of it.
        self.assertEqual(res.audit(pid=bash_pid), [])

    def _signal_forwarding(self, sig, want_rc):
        outp = os.path.join(self.tmp, "out.json")
        argv = [U.tracer(), "run", "--format", "json", "-o", outp, "--", SYS_PY, "-c",
                "import os,time,sys; print('ready', os.getpid(), flush=True); time.sleep(30)"]
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=U.clean_env(), start_new_session=True)
        try:
            line = p.stdout.readline().decode()
            self.assertTrue(line.startswith("ready "), "no 'ready' line: %r" % line)
            child = int(line.split()[1])
            t0 = time.monotonic()
            os.kill(p.pid, sig)
            try:
                rc = p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.fail("pysectrace did not exit within 5 s of %s" % signal.Signals(sig).name)
            took = time.monotonic() - t0
            err = p.stderr.read().decode()
            self.assertEqual(rc, want_rc, "exit status after %s (stderr %r)"
                             % (signal.Signals(sig).name, err))
            self.assertLess(took, 5)
            with self.assertRaises(ProcessLookupError, msg="the python is gone"):
                os.kill(child, 0)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            p.stdout.close()
            p.stderr.close()

    def test_sigterm_is_forwarded(self):
        self._signal_forwarding(signal.SIGTERM, 143)

    def test_sigint_is_forwarded(self):
        # Python turns SIGINT into KeyboardInterrupt and then dies of SIGINT.
        self._signal_forwarding(signal.SIGINT, 130)


if __name__ == "__main__":
    unittest.main()
