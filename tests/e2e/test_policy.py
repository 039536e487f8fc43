# SPDX-License-Identifier: MIT
"""End-to-end tests of policies and in-process deny (docs/policy.md,
docs/control-abi.md).

For every Python under test (TestPolicy_<n>_<label>): a program opens a
canary file, connects to a loopback listener and runs `true`, each denied
by a rule of an enforce-mode policy given to `pysectrace run --policy`.
Each must raise PermissionError naming its rule in the program, which
carries on; the audit record says `denied`; the kernel trace (--show all)
holds no openat of the canary, no connect to the listener and no execve
of `true`; the listener accepts nothing; there is no alert.

Once, with /usr/bin/python3 (PolicyToolTests): observe mode does not
deny; an allow-listing policy runs a control program to exit 0 with no
denial; `run --policy BAD` exits 125 and runs nothing; `policy check`,
`explain`, `default` and the examples; hook-only enforcement through
`policy install` with no tracer, including a policy replaced while the
program runs and withdrawn; hostile control files (wrong owner, writable
by others, bad offsets, garbage) are ignored without a crash.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as U  # noqa: E402

HOST_CTL = "/run/pysectrace/control"
EXAMPLES = os.path.join(U.TOP, "examples")

# The program: each step prints one JSON line with what happened.
PROGRAM = r'''
import json, os, socket, subprocess, sys
canary, port = sys.argv[1], int(sys.argv[2])

def step(name, fn):
    try:
        r = fn()
        print(json.dumps({"step": name, "ok": True, "result": r}))
    except PermissionError as e:
        print(json.dumps({"step": name, "denied": True, "msg": str(e)}))
    except OSError as e:
        print(json.dumps({"step": name, "error": str(e)}))
    sys.stdout.flush()

def read_canary():
    with open(canary) as f:
        return f.read()

def connect():
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        return "connected"
    finally:
        s.close()

def run_true():
    return subprocess.run(["true"]).returncode

step("open", read_canary)
step("connect", connect)
step("exec", run_true)
step("after", lambda: open(os.path.join(os.path.dirname(canary), "other")).read())
'''

POLICY = """\
version: 1
mode: enforce
default: log
rules:
  - id: no-canary
    action: deny
    event: open
    path: "{tmp}/canary*"
  - id: no-listener
    action: deny
    event: socket.connect
    host: 127.0.0.0/8
    port: {port}
  - id: no-true
    action: deny
    exe: "true"
"""


class Listener(object):
    """A loopback TCP listener that counts the connections it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = False
        self.t = threading.Thread(target=self.loop)
        self.t.daemon = True
        self.t.start()

    def loop(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.accepted += 1
                c.close()
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.stop = True
        self.t.join(2)
        self.sock.close()


def setup_tree(tmp, port):
    with open(os.path.join(tmp, "canary"), "w") as f:
        f.write("secret\n")
    with open(os.path.join(tmp, "other"), "w") as f:
        f.write("fine\n")
    with open(os.path.join(tmp, "prog.py"), "w") as f:
        f.write(PROGRAM)
    pol = os.path.join(tmp, "policy.yaml")
    with open(pol, "w") as f:
        f.write(POLICY.format(tmp=tmp, port=port))
    return pol


def steps(stdout):
    out = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            out[d["step"]] = d
    return out


def syscalls(res):
    return [r for r in res.records if r.get("type") == "syscall"]


class PerPython(object):
    PY = None
    LABEL = None
    maxDiff = 4000
    _cache = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pysectrace-pol-")
        cls.listener = Listener()
        pol = cls.pol = setup_tree(cls.tmp, cls.listener.port)
        cls.canary = os.path.join(cls.tmp, "canary")
        cls.res = U.trace([cls.PY, os.path.join(cls.tmp, "prog.py"), cls.canary,
                           str(cls.listener.port)], show="all", opts=["--policy", pol])
        cls.accepted = cls.listener.accepted
        cls.listener.close()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def step(self, name):
        s = steps(self.res.stdout)
        self.assertIn(name, s, "%s: step %s missing%s" % (self.LABEL, name, self.res.describe()))
        return s[name]

    def assertDenied(self, name, rule, event):
        s = self.step(name)
        self.assertTrue(s.get("denied"), "%s: %s not denied: %r" % (self.LABEL, name, s))
        self.assertIn("'%s'" % rule, s["msg"])
        recs = self.res.audit(event, denied=rule)
        self.assertEqual(len(recs), 1, "%s: no denied %s record%s" % (self.LABEL, event,
                                                                    self.res.describe()))
        self.assertEqual(recs[0].get("rule"), rule)

    def test_exit_status_and_no_alert(self):
        self.assertEqual(self.res.rc, 0, self.res.describe())
        alerts = [r for r in self.res.records if r.get("type") == "alert"]
        self.assertEqual(alerts, [], "%s: alerts%s" % (self.LABEL, self.res.describe()))

    def test_open_denied_before_openat(self):
        self.assertDenied("open", "no-canary", "open")
        opened = [r for r in syscalls(self.res) if r.get("path", "").endswith("/canary")]
        self.assertEqual(opened, [], "%s: the canary was opened in the kernel" % self.LABEL)
        # the same trace does show ordinary opens: the check above can fail
        self.assertTrue([r for r in syscalls(self.res) if r.get("path", "").endswith("/other")])

    def test_connect_denied_before_connect(self):
        self.assertDenied("connect", "no-listener", "socket.connect")
        conns = [r for r in syscalls(self.res)
                 if r.get("syscall") == "connect" and r.get("port") == self.listener.port]
        self.assertEqual(conns, [], "%s: connect reached the kernel" % self.LABEL)
        self.assertEqual(self.accepted, 0)

    def test_exec_denied_before_execve(self):
        self.assertDenied("exec", "no-true", "subprocess.Popen")
        execs = [r for r in syscalls(self.res) if r.get("syscall", "").startswith("execve")
                 and os.path.basename(r.get("path", "")) == "true"]
        self.assertEqual(execs, [], "%s: true was exec'd" % self.LABEL)
        runs = self.res.audit("cpython.run_file")
        self.assertTrue(runs, self.res.describe())
        self.assertEqual(self.res.process("fork", pid=runs[0]["pid"]), [],
                         "%s: a child was forked for the denied Popen" % self.LABEL)

    def test_program_continues(self):
        s = self.step("after")
        self.assertEqual(s.get("result"), "fine\n", s)

    def test_hook_only_enforcement(self):
        """policy install, no tracer: the preloaded hook alone denies."""
        listener = Listener()
        try:
            _, rc, out, err, _ = U.run_cmd([U.tracer(), "policy", "install", self.pol])
            self.assertEqual(rc, 0, err)
            # the policy names the first listener's port; use it, nothing listens there now
            _, rc, out, err, _ = U.run_cmd(
                [self.PY, os.path.join(self.tmp, "prog.py"), self.canary,
                 str(self.listener.port)], env=U.clean_env(LD_PRELOAD=U.hook_lib()))
        finally:
            subprocess.call([U.tracer(), "policy", "uninstall"])
            listener.close()
        self.assertEqual(rc, 0, err)
        s = steps(out)
        for name, rule in (("open", "no-canary"), ("connect", "no-listener"),
                           ("exec", "no-true")):
            self.assertTrue(s[name].get("denied"), "%s: %s: %r" % (self.LABEL, name, s))
            self.assertIn(rule, s[name]["msg"])
        self.assertEqual(s["after"].get("result"), "fine\n")
        self.assertFalse(os.path.exists(HOST_CTL))


def _make_python_classes():
    classes = {}
    for i, info in enumerate(U.pythons_under_test()):
        name = "TestPolicy_%d_" % i + re.sub(r"[^0-9A-Za-z]+", "_", info["label"])
        classes[name] = type(name, (PerPython, unittest.TestCase),
                             {"PY": info["path"], "LABEL": info["label"],
                              "__doc__": "policy deny with %s" % info["path"]})
    return classes


globals().update(_make_python_classes())

SYS_PY = U.SYSTEM_PYTHON


def hooked_env():
    return U.clean_env(LD_PRELOAD=U.hook_lib())


class PolicyToolTests(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pysectrace-pol-")
        self.listener = Listener()
        self.pol = setup_tree(self.tmp, self.listener.port)
        self.canary = os.path.join(self.tmp, "canary")
        self.prog = [SYS_PY, os.path.join(self.tmp, "prog.py"), self.canary,
                     str(self.listener.port)]
        self.ctl_before = os.path.exists(HOST_CTL)

    def tearDown(self):
        self.listener.close()
        subprocess.call([U.tracer(), "policy", "uninstall"])
        self.assertFalse(os.path.exists(HOST_CTL))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def tool(self, *args, **kw):
        return U.run_cmd([U.tracer()] + list(args), **kw)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # ---- run

    def test_observe_does_not_deny(self):
        res = U.trace(self.prog, show="alerts", opts=["--policy", self.pol, "--observe"])
        self.assertEqual(res.rc, 0, res.describe())
        s = steps(res.stdout)
        self.assertEqual(s["open"].get("result"), "secret\n", s)
        self.assertEqual(s["connect"].get("result"), "connected", s)
        self.assertEqual(s["exec"].get("result"), 0, s)
        # each would-be denial is written even with --show alerts
        for event, rule in (("open", "no-canary"), ("socket.connect", "no-listener"),
                            ("subprocess.Popen", "no-true")):
            recs = res.audit(event, would_deny=rule)
            self.assertEqual(len(recs), 1, "%s %s%s" % (event, rule, res.describe()))
            self.assertNotIn("denied", recs[0])
        self.assertGreaterEqual(self.listener.accepted, 1)
        self.assertEqual([r for r in res.records if r.get("type") == "alert"], [])

    def test_allow_listing_policy_clean_control(self):
        pol = self.write("allow.yaml", """\
version: 1
mode: enforce
rules:
  - id: own-tree
    action: allow
    path: ["{tmp}/**", "/usr/**", "/etc/**", "/proc/**", "/dev/**", "/root/.pyenv/**"]
  - id: no-other-files
    action: deny
    path: "/**"
  - id: loopback
    action: allow
    event: socket.connect
    host: 127.0.0.1
    port: {port}
  - id: no-network
    action: deny
    event: ["socket.connect", "socket.sendto", "socket.sendmsg"]
  - id: no-ctypes
    action: deny
    event: "ctypes.*"
""".format(tmp=self.tmp, port=self.listener.port))
        ctl = self.write("ctl.py", """\
import json, socket, subprocess, sys, os
d = sys.argv[1]
open(os.path.join(d, "other")).read()
with open(os.path.join(d, "new"), "w") as f:
    f.write("x")
os.listdir(d)
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
s.close()
subprocess.run(["true"], check=True)
import sqlite3
sqlite3.connect(os.path.join(d, "db.sqlite")).execute("create table t(x)")
print("clean")
""")
        res = U.trace([SYS_PY, ctl, self.tmp, str(self.listener.port)], show="audit",
                      opts=["--policy", pol])
        self.assertEqual(res.rc, 0, res.describe())
        self.assertIn("clean", res.stdout)
        denied = [r for r in res.records if "denied" in r]
        self.assertEqual(denied, [])
        self.assertEqual([r for r in res.records if r.get("type") == "alert"], [])
        # the same policy does deny outside the list: the control above can fail
        bad = self.write("bad.py", "import ctypes\n")
        res = U.trace([SYS_PY, bad], show="alerts", opts=["--policy", pol])
        self.assertNotEqual(res.rc, 0)
        self.assertIn("no-ctypes", res.stderr)

    def test_log_and_kill_rules(self):
        pol = self.write("lk.yaml", """\
version: 1
mode: enforce
rules:
  - {id: watch-json, action: log, event: import, module: json}
  - {id: boom, action: kill, signal: SIGTERM, event: myapp.boom}
""")
        res = U.trace([SYS_PY, "-c", "import json, sys; print('before', flush=True); "
                       "sys.audit('myapp.boom'); print('after')"], show="alerts",
                      opts=["--policy", pol])
        self.assertEqual(res.rc, 128 + 15, res.describe())
        self.assertEqual(res.stdout.strip(), "before")
        logged = res.audit("import", rule="watch-json")
        self.assertEqual(len(logged), 1, res.describe())
        self.assertNotIn("denied", logged[0])
        self.assertEqual(len(res.audit("myapp.boom", denied="boom")), 1, res.describe())
        # --show alerts hides other audit events
        self.assertEqual(res.audit("compile"), [])

    def test_run_bad_policy_exits_125_nothing_traced(self):
        bad = self.write("bad.yaml", "version: 1\nrules:\n  - id: x\n    action: deny\n"
                         "    host: 10.0.0.0/33\n")
        marker = os.path.join(self.tmp, "ran")
        _, rc, out, err, _ = self.tool("run", "--format", "json", "--policy", bad, "--",
                                       SYS_PY, "-c", "open(%r, 'w')" % marker)
        self.assertEqual(rc, 125, err)
        self.assertIn("bad.yaml:5:11:", err)
        self.assertIn("bad CIDR", err)
        self.assertEqual(out, "")
        self.assertFalse(os.path.exists(marker))

    def test_run_enforce_default_policy_runs_clean_program(self):
        res = U.trace([SYS_PY, "-c", "import json; open('/etc/hostname').read(); print('ok')"],
                      show="alerts", opts=["--enforce"])
        self.assertEqual(res.rc, 0, res.describe())
        self.assertEqual(res.stdout.strip(), "ok")

    # ---- policy verbs

    def test_check_exit_codes_and_positions(self):
        _, rc, out, err, _ = self.tool("policy", "check", self.pol)
        self.assertEqual(rc, 0, err)
        bad = self.write("bad.yaml", "version: 1\nrules:\n  - id: a\n    action: deny\n"
                         "    colour: red\n")
        _, rc, out, err, _ = self.tool("policy", "check", bad)
        self.assertEqual(rc, 1)
        self.assertIn("bad.yaml:5:5: error: unknown key 'colour' in rule", err)
        self.assertIn("hint:", err)
        _, rc, out, err, _ = self.tool("policy", "check", os.path.join(self.tmp, "missing"))
        self.assertEqual(rc, 2)

    def test_default_round_trips(self):
        _, rc, out, err, _ = self.tool("policy", "default")
        self.assertEqual(rc, 0, err)
        for kind in ("bypass", "hook_cleared", "hook_missing", "tamper"):
            self.assertRegex(out, r"action: kill\n    signal: 9\n    finding: \[%s\]" % kind)
        path = self.write("default.yaml", out)
        _, rc, out2, err, _ = self.tool("policy", "check", path)
        self.assertEqual(rc, 0, err)

    def test_explain(self):
        _, rc, out, err, _ = self.tool("policy", "explain", self.pol, "open", self.canary, "r")
        self.assertEqual(rc, 0, err)
        self.assertIn("=> deny (rule no-canary)", out)
        _, rc, out, err, _ = self.tool("policy", "explain", self.pol, "socket.connect", "null",
                                       '["127.0.0.1", %d]' % (self.listener.port + 1))
        self.assertIn("rule no-listener (line 9): no: its port condition does not hold", out)
        self.assertIn("=> log (default", out)

    def test_examples_are_valid(self):
        names = sorted(n for n in os.listdir(EXAMPLES) if n.endswith(".yaml"))
        self.assertGreaterEqual(len(names), 3, names)
        for n in names:
            _, rc, out, err, _ = self.tool("policy", "check", os.path.join(EXAMPLES, n))
            self.assertEqual(rc, 0, "%s: %s" % (n, err))

    def test_example_data_job_denies_network(self):
        res = U.trace([SYS_PY, "-c", """
import socket
try:
    socket.create_connection(("127.0.0.1", %d))
    print("connected")
except PermissionError as e:
    print("denied", e)
""" % self.listener.port], show="alerts", opts=["--policy",
                                                 os.path.join(EXAMPLES, "data-job.yaml")])
        self.assertEqual(res.rc, 0, res.describe())
        self.assertIn("denied", res.stdout)
        self.assertEqual(self.listener.accepted, 0)

    # ---- hook-only enforcement

    def hooked(self, *args, **kw):
        return U.run_cmd([SYS_PY] + list(args), env=hooked_env(), **kw)

    def test_install_hook_only_enforcement(self):
        _, rc, out, err, _ = self.tool("policy", "install", self.pol)
        self.assertEqual(rc, 0, err)
        st = os.stat(HOST_CTL)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (0, 0o644))
        _, rc, out, err, _ = self.hooked(*self.prog[1:])
        self.assertEqual(rc, 0, err)
        s = steps(out)
        self.assertTrue(s["open"].get("denied"), s)
        self.assertIn("no-canary", s["open"]["msg"])
        self.assertTrue(s["connect"].get("denied"), s)
        self.assertTrue(s["exec"].get("denied"), s)
        self.assertEqual(s["after"].get("result"), "fine\n")
        self.assertEqual(self.listener.accepted, 0)
        # without the hook nothing is denied: the policy lives in the hook
        _, rc, out, err, _ = U.run_cmd(self.prog)
        self.assertEqual(steps(out)["open"].get("result"), "secret\n")
        # --observe installs it without denying
        _, rc, out, err, _ = self.tool("policy", "install", "--observe", self.pol)
        self.assertEqual(rc, 0, err)
        _, rc, out, err, _ = self.hooked(*self.prog[1:])
        self.assertEqual(steps(out)["open"].get("result"), "secret\n", out + err)

    def test_install_replaced_and_withdrawn_while_running(self):
        other = os.path.join(self.tmp, "other")
        pol2 = self.write("p2.yaml", "version: 1\nmode: enforce\nrules:\n"
                          "  - {id: no-other, action: deny, event: open, path: \"%s\"}\n" % other)
        prog = self.write("loop.py", """\
import sys
def attempt(p):
    try:
        open(p).read()
        return "ok"
    except PermissionError as e:
        return str(e)
for line in sys.stdin:
    print(attempt(sys.argv[1]), "|", attempt(sys.argv[2]), flush=True)
""")
        self.assertEqual(self.tool("policy", "install", self.pol)[1], 0)
        p = subprocess.Popen([SYS_PY, prog, self.canary, other], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=hooked_env(), universal_newlines=True)
        try:
            def ask():
                p.stdin.write("go\n")
                p.stdin.flush()
                return p.stdout.readline().strip()
            first = ask()
            self.assertEqual(self.tool("policy", "install", pol2)[1], 0)
            second = ask()
            self.assertEqual(self.tool("policy", "uninstall")[1], 0)
            third = ask()
        finally:
            p.stdin.close()
            p.wait(30)
            p.stdout.close()
        self.assertRegex(first, r"no-canary.* \| ok$")
        self.assertRegex(second, r"^ok \| .*no-other")
        self.assertEqual(third, "ok | ok")

    def hostile(self, mutate):
        """Install the enforce policy, mutate the control file, run the program hooked."""
        self.assertEqual(self.tool("policy", "install", self.pol)[1], 0)
        mutate()
        pid, rc, out, err, _ = self.hooked(*self.prog[1:])
        self.assertEqual(rc, 0, "the hooked program failed: %s" % err)
        s = steps(out)
        self.assertEqual(s["open"].get("result"), "secret\n", "control file not ignored: %r" % s)
        self.assertEqual(s["after"].get("result"), "fine\n")

    def test_hostile_writable_by_others_ignored(self):
        self.hostile(lambda: os.chmod(HOST_CTL, 0o666))

    def test_hostile_not_root_owned_ignored(self):
        self.hostile(lambda: os.chown(HOST_CTL, 65534, 65534))

    def test_hostile_bad_offsets_ignored(self):
        def mutate():
            with open(HOST_CTL, "r+b") as f:
                data = bytearray(f.read())
                # rules_off (header offset 32) far past the end of the file
                data[32:36] = (0x7ffffff0).to_bytes(4, "little")
                f.seek(0)
                f.write(data)
        self.hostile(mutate)

    def test_hostile_garbage_and_truncation_ignored(self):
        def garbage():
            with open(HOST_CTL, "wb") as f:
                f.write(b"PYSECCTL" + os.urandom(300))
        self.hostile(garbage)

        def truncate():
            with open(HOST_CTL, "r+b") as f:
                f.truncate(os.path.getsize(HOST_CTL) - 8)
        self.hostile(truncate)


if __name__ == "__main__":
    unittest.main()
