# SPDX-License-Identifier: MIT
"""End-to-end tests of hook_cleared and tamper alerts: blinding the bridge.

For every Python under test (one generated class TestTamper_<n>_<label>):

  bridge    fixtures/bridge_attack.py finds the runtime's audit-hook list
            with ctypes (ctypes.dlsym of _PyRuntime: a tamper alert), then
            breaks one part of the bridge -- the list head, the hook entry's
            function, the probe semaphore, the probe site's breakpoint
            (through /proc/self/mem: a tamper alert) -- and opens a canary
            through plain Python: the open must be a hook_cleared alert that
            names what was broken.  The control finds everything and writes
            nothing: no hook_cleared.
  everywhere  every CPython of the traced tree carries the hook whatever it
            does to its environment (env -i; -I -S with subprocess env={}):
            its ctypes open is a bypass alert; a child that defeats the
            preload (its own mount namespace without our /etc/ld.so.preload,
            env -i) is one hook_missing alert and no bypass flood; with
            --no-namespace an env -i child is hook_missing.
  ptrace    PTRACE_ATTACH and process_vm_writev aimed at a traced process
            (a forked child): tamper; process_vm_readv (reading): nothing.
  atexit    native code run after the interpreter cleared its hooks at
            finalization (a Py_AtExit function of fixtures/atexitext.c)
            opens and connects: hook_cleared; a Python atexit handler doing
            the same stays audited: no alert.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as U  # noqa: E402

FIXTURES = os.path.join(U.HERE, "fixtures")
BRIDGE = os.path.join(FIXTURES, "bridge_attack.py")
PTRACE = os.path.join(FIXTURES, "ptrace_attack.py")
ATEXIT_SRC = os.path.join(FIXTURES, "atexitext.c")

_NATIVE = {}


def atexit_ext_dir():
    """Compile atexitext.abi3.so once (stable ABI: one build for 3.8-3.13)."""
    if "error" in _NATIVE:
        raise AssertionError(_NATIVE["error"])
    if "dir" not in _NATIVE:
        d = tempfile.mkdtemp(prefix="pysectrace-e2e-tamper-")
        inc = subprocess.run(["/usr/bin/python3-config", "--includes"], stdout=subprocess.PIPE,
                             universal_newlines=True, timeout=30).stdout.split()
        argv = (["gcc", "-shared", "-fPIC", "-O1", "-Wall"] + inc +
                ["-DPy_LIMITED_API=0x03080000", ATEXIT_SRC, "-o",
                 os.path.join(d, "atexitext.abi3.so")])
        c = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=120)
        if c.returncode != 0:
            shutil.rmtree(d, ignore_errors=True)
            _NATIVE["error"] = "cannot build %s: %s" % (ATEXIT_SRC, c.stdout)
            raise AssertionError(_NATIVE["error"])
        _NATIVE["dir"] = d
    return _NATIVE["dir"]


def tearDownModule():
    if _NATIVE.get("dir"):
        shutil.rmtree(_NATIVE["dir"], ignore_errors=True)


def summary(a):
    """(kind, what, broken) of an alert record."""
    what = a.get("event") or a.get("syscall")
    if a.get("path"):
        what += " " + a["path"]
    return (a["kind"], what, tuple(a.get("broken", ())))


class PerPython(object):
    PY = None
    LABEL = None
    maxDiff = 4000

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pysectrace-e2e-tamper-")
        self.canary = os.path.join(self.tmp, "canary.txt")
        with open(self.canary, "w") as f:
            f.write("secret\n")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def alerts_of(self, argv, want_out=None):
        res = U.trace(argv, show="alerts", timeout=120)
        self.assertEqual(res.rc, 0, res.describe())
        if want_out is not None:
            self.assertEqual(res.stdout, want_out, res.describe())
        lost = [r for r in res.records if r.get("type") == "lost"]
        self.assertEqual(lost, [], res.describe())
        return sorted(summary(r) for r in res.records if r["type"] == "alert"), res

    def bridge(self, mode, *extra):
        got, res = self.alerts_of([self.PY, BRIDGE, mode, self.canary], "found\ndone\n")
        want = sorted([("tamper", "ctypes.dlsym", ())] + list(extra))
        self.assertEqual(got, want, res.describe())

    def cleared(self, broken):
        return ("hook_cleared", "openat " + self.canary, (broken,))

    def test_bridge_hook_list_overwritten(self):
        self.bridge("list", self.cleared("hook_list"))

    def test_bridge_hook_function_rewritten(self):
        self.bridge("fn", self.cleared("hook_function"))

    def test_bridge_semaphore_zeroed(self):
        self.bridge("sema", ("tamper", "ctypes.dlsym", ()), self.cleared("semaphore"))

    def test_bridge_probe_site_restored(self):
        self.bridge("site", ("tamper", "openat /proc/self/mem", ()), self.cleared("probe_site"))

    def test_bridge_control_looks_without_writing(self):
        self.bridge("look")

    def _ptrace(self, mode):
        res = U.trace([self.PY, PTRACE, mode], show="alerts", timeout=120)
        self.assertEqual(res.rc, 0, res.describe())
        child = int(res.stdout.split()[0])
        return [(a["kind"], a["syscall"], a.get("target_pid")) for a in res.records
                if a["type"] == "alert"], child, res

    def test_ptrace_attach_to_a_traced_process(self):
        got, child, res = self._ptrace("ptrace")
        self.assertEqual(got, [("tamper", "ptrace", child)], res.describe())

    def test_process_vm_writev_into_a_traced_process(self):
        got, child, res = self._ptrace("pvw")
        self.assertEqual(got, [("tamper", "process_vm_writev", child)], res.describe())

    def test_process_vm_readv_is_no_alert(self):
        got, child, res = self._ptrace("pvr")
        self.assertEqual(got, [], res.describe())

    def ctypes_open(self):
        return ("import ctypes, os; print(os.getpid(), flush=True); "
                "ctypes.CDLL(None).open(%r.encode(), 0)" % self.canary)

    def kinds_by_pid(self, res):
        return sorted((a["kind"], a["pid"]) for a in res.records if a["type"] == "alert")

    def test_hook_survives_env_i(self):
        res = U.trace(["env", "-i", self.PY, "-c", self.ctypes_open()], show="alerts", timeout=120)
        self.assertEqual(res.rc, 0, res.describe())
        pid = int(res.stdout.split()[0])
        self.assertEqual(self.kinds_by_pid(res), [("bypass", pid)], res.describe())

    def test_hook_survives_isolated_child_with_empty_env(self):
        code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', %r], env={}, "
                "check=True)" % self.ctypes_open())
        res = U.trace([self.PY, "-I", "-S", "-c", code], show="alerts", timeout=120)
        self.assertEqual(res.rc, 0, res.describe())
        pid = int(res.stdout.split()[0])
        self.assertEqual(self.kinds_by_pid(res), [("bypass", pid)], res.describe())

    def test_defeated_preload_is_one_hook_missing(self):
        code = self.ctypes_open().replace('"', "'")
        inner = "umount /etc/ld.so.preload && exec env -i %s -c \"%s\"" % (self.PY, code)
        res = U.trace(["unshare", "-m", "sh", "-c", inner], show="alerts", timeout=120)
        self.assertEqual(res.rc, 0, res.describe())
        pid = int(res.stdout.split()[0])
        self.assertEqual(self.kinds_by_pid(res), [("hook_missing", pid)], res.describe())
        (a,) = [r for r in res.records if r["type"] == "alert"]
        self.assertEqual(os.path.realpath(a["image"]), os.path.realpath(self.PY), a)

    def test_no_namespace_leaves_env_i_child_unhooked(self):
        res = U.trace(["env", "-i", self.PY, "-c", self.ctypes_open()], show="alerts",
                      opts=["--no-namespace"], timeout=120)
        self.assertEqual(res.rc, 0, res.describe())
        pid = int(res.stdout.split()[0])
        self.assertEqual(self.kinds_by_pid(res), [("hook_missing", pid)], res.describe())

    def _atexit(self, native):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        port = srv.getsockname()[1]
        srv.close()  # nobody listens: the connect is refused, but it is made
        if native:
            code = ("import sys; sys.path.insert(0, %r); import atexitext\n"
                    "atexitext.arm(%r, %d)\n" % (atexit_ext_dir(), self.canary, port))
        else:
            code = ("import atexit, socket\n"
                    "def bye():\n"
                    "    open(%r).read()\n"
                    "    s = socket.socket()\n"
                    "    try: s.connect(('127.0.0.1', %d))\n"
                    "    except OSError: pass\n"
                    "    s.close()\n"
                    "atexit.register(bye)\n" % (self.canary, port))
        return self.alerts_of([self.PY, "-c", code], "")

    def test_native_code_after_the_finalization_clear(self):
        got, res = self._atexit(native=True)
        self.assertEqual([(k, w.split()[0]) for k, w, _ in got],
                         [("hook_cleared", "connect"), ("hook_cleared", "openat")], res.describe())
        for a in res.records:
            if a["type"] == "alert":
                self.assertIn("cleared its audit hooks", a["reason"], a)
                self.assertNotIn("broken", a, "our own unlinking at exit is no broken bridge")

    def test_python_atexit_handler_stays_audited(self):
        got, res = self._atexit(native=False)
        self.assertEqual(got, [], res.describe())


def _make_python_classes():
    classes = {}
    for i, info in enumerate(U.pythons_under_test()):
        name = "TestTamper_%d_" % i + re.sub(r"[^0-9A-Za-z]+", "_", info["label"])
        classes[name] = type(name, (PerPython, unittest.TestCase),
                             {"PY": info["path"], "LABEL": info["label"],
                              "__doc__": "tamper alerts with %s" % info["label"]})
    return classes


globals().update(_make_python_classes())


if __name__ == "__main__":
    unittest.main()
