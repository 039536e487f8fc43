# SPDX-License-Identifier: MIT
"""End-to-end tests of `pysectrace attach -p PID`, per Python under test.

  hook      a Python started with libpysechook.so preloaded (no tracer),
            traced from the middle on: source "hook"; its audited open is
            an audit event and raises nothing, its ctypes open after the
            attach is a bypass alert.
  nohook    the same without the hook: /usr/bin/python3 has CPython's
            stock python:audit probe (source "stock": the same audit event
            and the same alert); a pyenv build has none (source "kernel":
            its syscalls are recorded unjudged, nothing is alerted).
  detach    SIGINT to attach: attach ends at once with status 0, the
            process runs on, does its work again and exits with its own
            status.

The target is fixtures/attach_target.py (see there).
"""
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

TARGET = os.path.join(U.HERE, "fixtures", "attach_target.py")
WAIT = 60


def wait_until(pred, what, timeout=WAIT):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


class Attached(object):
    """A target process and a `pysectrace attach` on it (JSON to a file)."""

    def __init__(self, py, preload, status=0, show="audit", argv=None):
        """argv(dir): the target's arguments after py (default: attach_target.py)."""
        self.dir = tempfile.mkdtemp(prefix="pysectrace-e2e-attach-")
        self.out = os.path.join(self.dir, "trace.jsonl")
        env = U.clean_env(LD_PRELOAD=U.hook_lib()) if preload else U.clean_env()
        args = argv(self.dir) if argv else [TARGET, self.dir, str(status)]
        self.target = subprocess.Popen([py] + args, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       start_new_session=True)
        self.tracer = None
        wait_until(lambda: os.path.exists(self.path("ready")) or self.target.poll() is not None,
                   "the target to start")
        if self.target.poll() is not None:
            raise AssertionError("the target exited early (%s): %r" % (
                self.target.returncode, self.target.communicate()))
        self.tracer = subprocess.Popen(
            [U.tracer(), "attach", "-p", str(self.target.pid), "--format", "json",
             "--show", show, "-o", self.out], env=U.clean_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.source = wait_until(self.first_record, "the source record of attach")

    def path(self, name):
        return os.path.join(self.dir, name)

    def touch(self, name):
        with open(self.path(name), "w"):
            pass

    def records(self):
        try:
            with open(self.out) as f:
                text = f.read()
        except OSError:
            return []
        lines = text.splitlines()
        if text and not text.endswith("\n"):
            lines = lines[:-1]  # a line being written
        return U.parse_json_lines("\n".join(lines), "attach -o file") if lines else []

    def first_record(self):
        if self.tracer.poll() is not None:
            raise AssertionError("attach exited %s before its first record: %r" % (
                self.tracer.returncode, self.tracer.communicate()))
        recs = self.records()
        return recs[0] if recs else None

    def alerts(self):
        return [r for r in self.records() if r.get("type") == "alert"]

    def audit_opens(self, name):
        return [r for r in self.records() if r.get("type") == "audit"
                and r.get("event") == "open" and r.get("args")
                and r["args"][0] == self.path(name)]

    def finish(self):
        """End the target (end file) and collect both exits."""
        self.touch("end")
        try:
            self.target.wait(timeout=WAIT)
        finally:
            if self.target.poll() is None:
                self.target.kill()
        try:
            out, err = self.tracer.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.tracer.kill()
            out, err = self.tracer.communicate()
            raise AssertionError("attach did not end when its process exited: %r" % err)
        return self.tracer.returncode, err.decode("utf-8", "replace")

    def close(self):
        for p in (self.target, self.tracer):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def describe(self):
        return "\n  target dir %s\n  records: %s" % (
            self.dir, "\n    ".join(str(r)[:300] for r in self.records()[-30:]))


class PerPython(object):
    PY = None
    LABEL = None
    VERSION = None

    def attach(self, **kw):
        a = Attached(self.PY, **kw)
        self.addCleanup(a.close)
        return a

    def stock_expected(self):
        """/usr/bin/python3 carries CPython's python:audit probe; pyenv builds do not."""
        return os.path.realpath(self.PY).startswith("/usr/bin/")

    def check_traced_work(self, a, source):
        a.touch("go")
        wait_until(lambda: os.path.exists(a.path("child")), "the target's fork")
        with open(a.path("child")) as f:
            child = int(f.read())
        if source != "kernel":
            # a fork child is followed once its probe is in place: its own events show it
            wait_until(lambda: [r for r in a.records() if r.get("pid") == child
                                and r.get("event") == "pysec.attach.ping"],
                       "the forked child's events" + a.describe())
        a.touch("child-go")
        wait_until(lambda: os.path.exists(a.path("did")), "the target's work")
        native = a.path("native.txt")
        want_alert = lambda: [x for x in a.alerts() if x.get("path") == native]  # noqa: E731
        if source != "kernel":
            alerts = wait_until(lambda: len({x["pid"] for x in want_alert()}) == 2 and want_alert(),
                                "the bypass alerts of the ctypes opens" + a.describe())
            self.assertEqual({x["kind"] for x in alerts}, {"bypass"}, a.describe())
            self.assertEqual({x["pid"] for x in alerts}, {a.target.pid, child}, a.describe())
            self.assertTrue(wait_until(lambda: {r["pid"] for r in a.audit_opens("audited.txt")}
                                       == {a.target.pid, child},
                                       "the audited opens' events" + a.describe()))
        rc, err = a.finish()
        self.assertEqual(rc, 0, "attach: %s%s" % (err, a.describe()))
        self.assertEqual(a.target.returncode, 5, a.describe())
        recs = a.records()
        others = [x for x in recs if x.get("type") == "alert" and x.get("path") != native]
        self.assertEqual(others, [], "%s: alerts besides the ctypes open:%s" % (self.LABEL,
                                                                                a.describe()))
        if source == "kernel":
            self.assertEqual(a.alerts(), [], a.describe())
            self.assertEqual([r for r in recs if r.get("type") == "audit"], [], a.describe())
        else:
            # after the attach: both rounds of work in the target (counted), one in the child
            counts = {}
            for x in a.alerts():
                counts[x["pid"]] = max(counts.get(x["pid"], 0), x.get("count", 1))
            self.assertEqual(counts, {a.target.pid: 2, child: 1}, a.describe())
        return recs

    def test_hook_preloaded(self):
        a = self.attach(preload=True, status=5)
        self.assertEqual(a.source.get("type"), "source", a.describe())
        self.assertEqual(a.source.get("source"), "hook", a.describe())
        self.assertEqual(a.source.get("pid"), a.target.pid)
        self.assertIn("pysechook", a.source.get("probe", ""), a.describe())
        self.assertTrue(a.source.get("cannot_see"), a.describe())
        self.check_traced_work(a, "hook")

    def test_without_hook(self):
        a = self.attach(preload=False, status=5, show="all")
        want = "stock" if self.stock_expected() else "kernel"
        self.assertEqual(a.source.get("source"), want, a.describe())
        self.assertTrue(a.source.get("cannot_see"), a.describe())
        recs = self.check_traced_work(a, want)
        if want == "kernel":
            opens = [r for r in recs if r.get("type") == "syscall"
                     and r.get("path") == a.path("native.txt")]
            self.assertTrue(opens, "the kernel-only trace recorded nothing" + a.describe())
            self.assertEqual({r["verdict"] for r in opens}, {"unhooked"}, a.describe())
        else:
            stock = [r for r in a.audit_opens("audited.txt")]
            self.assertTrue(stock and all(r.get("hook") == "stock" for r in stock), a.describe())

    def test_detach(self):
        a = self.attach(preload=True, status=3)
        a.tracer.send_signal(signal.SIGINT)
        try:
            a.tracer.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.fail("attach did not end on SIGINT")
        self.assertEqual(a.tracer.returncode, 0, a.tracer.communicate())
        self.assertIsNone(a.target.poll(), "the target died with the detach")
        a.touch("child-go")
        a.touch("go")
        wait_until(lambda: os.path.exists(a.path("did")), "the target's work after the detach")
        a.touch("end")
        a.target.wait(timeout=WAIT)
        out, err = a.target.communicate()
        self.assertEqual(a.target.returncode, 3, "target: %r %r" % (out, err))
        self.assertEqual(a.alerts(), [], "alerts after the detach" + a.describe())


class ToolTests(unittest.TestCase):
    """attach's own errors (once)."""

    def test_bad_pid(self):
        _, rc, out, err, _ = U.run_cmd([U.tracer(), "attach", "-p", "x12"])
        self.assertEqual(rc, 125)
        self.assertIn("-p must be a process id", err)
        _, rc, out, err, _ = U.run_cmd([U.tracer(), "attach"])
        self.assertEqual(rc, 125)
        self.assertIn("no process given", err)

    def test_no_such_process(self):
        p = subprocess.Popen(["/bin/true"])
        p.wait()  # reaped: the pid is free
        _, rc, out, err, _ = U.run_cmd([U.tracer(), "attach", "-p", str(p.pid)])
        self.assertEqual(rc, 125, err)
        self.assertIn("cannot attach to process %d" % p.pid, err)


def _make_python_classes():
    classes = {}
    for i, info in enumerate(U.pythons_under_test()):
        name = "TestAttach_%d_" % i + re.sub(r"[^0-9A-Za-z]+", "_", info["label"])
        classes[name] = type(name, (PerPython, unittest.TestCase),
                             {"PY": info["path"], "LABEL": info["label"],
                              "VERSION": info["version"],
                              "__doc__": "attach -p with %s (%s)" % (info["path"], info["label"])})
    return classes


globals().update(_make_python_classes())
