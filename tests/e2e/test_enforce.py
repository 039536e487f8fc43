# SPDX-License-Identifier: MIT
"""End-to-end tests of kernel-side enforcement (`pysectrace run --enforce`,
`--observe`; docs/enforcement.md), for every Python under test (one
generated class TestEnforce_<n>_<label>).

The traced script (fixtures/enforce_attacks.py) tries to get a canary
file's bytes to loopback listeners of this test (TCP, TCP with Fast Open,
UDP) or to run a native payload that would write a marker file:

  enforce   each attack in its own run: the process is killed by the
            built-in default (rule default-kill-bypass), the listeners
            receive zero bytes, the marker is never created, and the alert
            says so (action "kill", rule, signal 9, why "stopped", and
            "denied" where the cgroup hook refused the send with EPERM);
  resolver  a query to the nameserver of /etc/resolv.conf right after a
            resolution event is let through with no alert; the same query
            after an unrelated event, and the query of a socket.connect to a
            name that does not resolve, are alerted and logged, not killed
            (rule default-log-resolver-query);
  controls  fixtures/bypass_controls.py under --enforce: exit 0, no alert;
  observe   all attacks in one run under --observe: every alert says
            action "log", would "kill", and the data does arrive (which
            shows the listeners would have seen a leak).

net.ipv4.tcp_fastopen is set to 0x207 (client and server, no cookie) for
the module and restored after.  Run through run_e2e.py (-k Enforce), or:
    PYSECTRACE_BUILD=build python3 -m unittest discover -s tests/e2e -p 'test_enforce.py'
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
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as U  # noqa: E402
import test_bypass as TB  # noqa: E402  (fixture paths, record formatting)

ATTACKS = os.path.join(U.HERE, "fixtures", "enforce_attacks.py")
CONTROLS = os.path.join(U.HERE, "fixtures", "bypass_controls.py")
TFO_SYSCTL = "/proc/sys/net/ipv4/tcp_fastopen"
TCP_FASTOPEN = 23
SIGKILL = 9
CANARY_BYTES = b"pysectrace-canary-3f1c9a\n"

_saved = {}
_native = {}


def native_dir():
    """evilext.abi3.so, built once for this module (test_bypass removes its own
    build when its module ends)."""
    if "error" in _native:
        raise AssertionError(_native["error"])
    if "dir" not in _native:
        d = tempfile.mkdtemp(prefix="pysectrace-e2e-enforce-native-")
        cfg = subprocess.run(["/usr/bin/python3-config", "--includes"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True, timeout=30)
        argv = (["gcc", "-shared", "-fPIC", "-O1"] + cfg.stdout.split() +
                ["-DPy_LIMITED_API=0x03080000", TB.EXT_SRC,
                 "-o", os.path.join(d, "evilext.abi3.so"), "-lpthread"])
        c = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=120)
        if cfg.returncode != 0 or c.returncode != 0:
            shutil.rmtree(d, ignore_errors=True)
            _native["error"] = "cannot build evilext: %s%s" % (cfg.stdout, c.stdout)
            raise AssertionError(_native["error"])
        _native["dir"] = d
    return _native["dir"]


def setUpModule():
    with open(TFO_SYSCTL) as f:
        _saved["tfo"] = f.read().strip()
    with open(TFO_SYSCTL, "w") as f:
        f.write("519\n")  # 0x207: client, server, client and server without cookie


def tearDownModule():
    if _native.get("dir"):
        shutil.rmtree(_native["dir"], ignore_errors=True)
    if "tfo" in _saved:
        with open(TFO_SYSCTL, "w") as f:
            f.write(_saved["tfo"] + "\n")


def resolver_ipv4():
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                w = line.split()
                if len(w) >= 2 and w[0] == "nameserver" and w[1].count(".") == 3:
                    return w[1]
    except OSError:
        pass
    return None


class Listeners(object):
    """Loopback TCP, TCP Fast Open and UDP listeners counting what arrives."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = {"tcp": b"", "tfo": b"", "udp": b""}
        self.accepted = {"tcp": 0, "tfo": 0}
        self.open_conns = 0
        self.socks = []
        self.tcp = self._listen("tcp")
        self.tfo = self._listen("tfo", fastopen=True)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.socks.append(self.udp)
        self.stop = False
        self.threads = [threading.Thread(target=self._accept, args=(n, s), daemon=True)
                        for n, s in (("tcp", self.tcp), ("tfo", self.tfo))]
        self.threads.append(threading.Thread(target=self._udp, daemon=True))
        for t in self.threads:
            t.start()

    def _listen(self, name, fastopen=False):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fastopen:
            s.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN, 16)
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        s.settimeout(0.2)
        self.socks.append(s)
        return s

    def port(self, name):
        return {"tcp": self.tcp, "tfo": self.tfo, "udp": self.udp}[name].getsockname()[1]

    def _accept(self, name, srv):
        while not self.stop:
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.accepted[name] += 1
                self.open_conns += 1
            threading.Thread(target=self._read, args=(name, c), daemon=True).start()

    def _read(self, name, c):
        c.settimeout(30)
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                with self.lock:
                    self.received[name] += b
        except OSError:
            pass
        finally:
            c.close()
            with self.lock:
                self.open_conns -= 1

    def _udp(self):
        while not self.stop:
            try:
                b = self.udp.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.received["udp"] += b

    def settle(self):
        """Wait until every accepted connection was read to its end."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.lock:
                if self.open_conns == 0:
                    break
            time.sleep(0.05)
        time.sleep(0.3)  # a datagram or a last accept still in flight
        with self.lock:
            return dict(self.received), dict(self.accepted)

    def close(self):
        self.stop = True
        for s in self.socks:
            s.close()
        for t in self.threads:
            t.join(2)


class PerPython(object):
    """Mixed into one generated TestCase per Python; PY and LABEL set there."""

    PY = None
    LABEL = None
    maxDiff = 4000

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pysectrace-e2e-enforce-")
        self.canary = os.path.join(self.tmp, "canary.txt")
        with open(self.canary, "wb") as f:
            f.write(CANARY_BYTES)
        self.net = Listeners()

    def tearDown(self):
        self.net.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- running -----------------------------------------------------------

    def run_attacks(self, mode, attacks):
        argv = [self.PY, ATTACKS, native_dir(), self.tmp, self.canary,
                str(self.net.port("tcp")), str(self.net.port("tfo")), str(self.net.port("udp"))]
        res = U.trace(argv + list(attacks), show="alerts", opts=["--" + mode], timeout=120)
        received, accepted = self.net.settle()
        return res, received, accepted

    def alerts(self, res):
        return [r for r in res.records if r.get("type") == "alert"]

    def describe(self, res, received=None, accepted=None):
        return "%s\n  alerts:\n    %s\n  listeners received %r, accepted %r" % (
            res.describe(), "\n    ".join(TB.fmt(a) + " action=%s rule=%s would=%s signal=%s" % (
                a.get("action"), a.get("rule"), a.get("would"), a.get("signal"))
                for a in self.alerts(res)) or "(none)", received, accepted)

    def assert_killed(self, res, syscall, pid=None, denied=False):
        """One kill alert for syscall (of pid, default: the traced Python)."""
        want_pid = pid
        hits = [a for a in self.alerts(res) if a.get("syscall") == syscall and
                (want_pid is None or a.get("pid") == want_pid)]
        self.assertTrue(hits, "%s: no alert for %s%s" % (self.LABEL, syscall, self.describe(res)))
        a = hits[0]
        self.assertEqual((a.get("kind"), a.get("action"), a.get("rule"), a.get("signal")),
                         ("bypass", "kill", "default-kill-bypass", SIGKILL),
                         "%s: %s" % (self.LABEL, TB.fmt(a)))
        self.assertIn("stopped", a.get("why") or [], TB.fmt(a))
        self.assertEqual("denied" in (a.get("why") or []), denied, TB.fmt(a))
        self.assertNotIn("would", a)
        return a

    def assert_died_at(self, res, step):
        """pysectrace exits 128+SIGKILL; the script reached step, never past it."""
        out = res.stdout_lines()
        self.assertEqual(res.rc, 128 + SIGKILL, "%s: COMMAND was not killed%s"
                         % (self.LABEL, self.describe(res)))
        self.assertIn("reached %s" % step, out, self.describe(res))
        self.assertFalse([l for l in out if l.startswith("survived")],
                         "%s: the process ran on after the bypass%s" % (self.LABEL,
                                                                       self.describe(res)))

    # -- enforce: every attack stopped ---------------------------------------

    def test_enforce_canary_read_then_send(self):
        res, rx, acc = self.run_attacks("enforce", ["canary_read_then_send"])
        self.assert_died_at(res, "canary_read_then_send")
        self.assert_killed(res, "openat")
        self.assertEqual(acc["tcp"], 1, "the audited connection was made%s"
                         % self.describe(res, rx, acc))
        self.assertEqual(rx["tcp"], b"", self.describe(res, rx, acc))

    def test_enforce_ctypes_connect_send(self):
        res, rx, acc = self.run_attacks("enforce", ["ctypes_connect_send"])
        self.assert_died_at(res, "ctypes_connect_send")
        a = self.assert_killed(res, "connect", denied=True)
        self.assertEqual(a.get("ret"), -1, "refused with EPERM: %s" % TB.fmt(a))
        self.assertEqual((rx["tcp"], acc["tcp"]), (b"", 0), self.describe(res, rx, acc))

    def test_enforce_tcp_fastopen_sendto(self):
        res, rx, acc = self.run_attacks("enforce", ["tcp_fastopen_sendto"])
        self.assert_died_at(res, "tcp_fastopen_sendto")
        a = self.assert_killed(res, "sendto", denied=True)
        self.assertEqual(a.get("ret"), -1, "refused with EPERM: %s" % TB.fmt(a))
        self.assertEqual((rx["tfo"], acc["tfo"]), (b"", 0), self.describe(res, rx, acc))

    def test_enforce_udp_sendto(self):
        res, rx, acc = self.run_attacks("enforce", ["udp_sendto"])
        self.assert_died_at(res, "udp_sendto")
        a = self.assert_killed(res, "sendto", denied=True)
        self.assertEqual(a.get("ret"), -1, "refused with EPERM: %s" % TB.fmt(a))
        self.assertEqual(rx["udp"], b"", self.describe(res, rx, acc))

    def test_enforce_native_system(self):
        res, rx, acc = self.run_attacks("enforce", ["native_system"])
        marker = os.path.join(self.tmp, "marker-native_system")
        self.assertFalse(os.path.exists(marker), "the payload ran%s" % self.describe(res))
        self.assertEqual(res.rc, 0, "the Python itself made no bypass%s" % self.describe(res))
        rep = json.loads(res.stdout_lines()[-1])
        # system() returns the wait status of its shell: killed by SIGKILL
        self.assertEqual(rep["steps"]["native_system"]["result"], SIGKILL, self.describe(res))
        a = self.assert_killed(res, "execve")
        self.assertNotEqual(a["pid"], rep["pid"], "the child is killed, not the Python")

    def test_enforce_native_execv(self):
        res, rx, acc = self.run_attacks("enforce", ["native_execv"])
        marker = os.path.join(self.tmp, "marker-native_execv")
        self.assertFalse(os.path.exists(marker), "the payload ran%s" % self.describe(res))
        self.assertEqual(res.rc, 128 + SIGKILL, self.describe(res))
        self.assert_killed(res, "execve")

    def test_enforce_extension_open_connect(self):
        res, rx, acc = self.run_attacks("enforce", ["extension_open_connect"])
        self.assert_died_at(res, "extension_open_connect")
        a = self.assert_killed(res, "openat")
        self.assertEqual(a.get("path"), self.canary, TB.fmt(a))
        self.assertEqual((rx["tcp"], acc["tcp"]), (b"", 0), self.describe(res, rx, acc))

    # -- the resolver exception: narrow ---------------------------------------

    def test_enforce_resolver_query_after_resolution_is_let_through(self):
        if not resolver_ipv4():
            self.skipTest("no IPv4 nameserver in /etc/resolv.conf")
        res, rx, acc = self.run_attacks("enforce", ["resolver_query_after_getaddrinfo"])
        self.assertEqual(res.rc, 0, self.describe(res))
        self.assertEqual(self.alerts(res), [], self.describe(res))
        rep = json.loads(res.stdout_lines()[-1])
        self.assertGreater(rep["steps"]["resolver_query_after_getaddrinfo"]["result"], 0,
                           "the query was sent%s" % self.describe(res))

    def test_enforce_resolver_query_unexplained_is_alerted_and_logged(self):
        if not resolver_ipv4():
            self.skipTest("no IPv4 nameserver in /etc/resolv.conf")
        res, rx, acc = self.run_attacks("enforce", ["resolver_query_unexplained"])
        self.assertEqual(res.rc, 0, self.describe(res))
        a = [x for x in self.alerts(res) if x.get("syscall") == "sendto"]
        self.assertEqual(len(a), 1, self.describe(res))
        self.assertEqual((a[0].get("port"), a[0].get("action"), a[0].get("rule")),
                         (53, "log", "default-log-resolver-query"), TB.fmt(a[0]))
        self.assertIn("stopped", a[0].get("why") or [], TB.fmt(a[0]))
        self.assertNotIn("denied", a[0].get("why") or [], TB.fmt(a[0]))

    def test_enforce_resolver_failure_in_connect_is_not_killed(self):
        if not resolver_ipv4():
            self.skipTest("no IPv4 nameserver in /etc/resolv.conf")
        res, rx, acc = self.run_attacks("enforce", ["resolver_failure_in_connect"])
        self.assertEqual(res.rc, 0, self.describe(res))
        rep = json.loads(res.stdout_lines()[-1])
        self.assertEqual(rep["steps"]["resolver_failure_in_connect"]["result"], "gaierror",
                         self.describe(res))
        self.assertTrue(self.alerts(res), "the resolver's query is alerted%s" % self.describe(res))
        for a in self.alerts(res):
            self.assertEqual((a.get("port"), a.get("action"), a.get("rule")),
                             (53, "log", "default-log-resolver-query"), TB.fmt(a))

    # -- controls -------------------------------------------------------------

    def test_enforce_controls_run_to_completion(self):
        scratch = tempfile.mkdtemp(prefix="controls-", dir=self.tmp)
        res = U.trace([self.PY, CONTROLS, native_dir(), scratch], show="alerts",
                      opts=["--enforce"], timeout=180)
        self.assertEqual(res.rc, 0, "%s: a clean program did not complete%s"
                         % (self.LABEL, self.describe(res)))
        self.assertEqual(self.alerts(res), [], self.describe(res))
        rep = json.loads(res.stdout_lines()[-1])
        self.assertEqual(rep.get("failed"), [], self.describe(res))
        self.assertEqual(sorted(rep["steps"]), sorted(TB.CONTROL_STEPS), self.describe(res))

    # -- observe: the same attacks, reported, nothing stopped -----------------

    def test_observe_reports_and_lets_everything_through(self):
        attacks = ["canary_read_then_send", "ctypes_connect_send", "tcp_fastopen_sendto",
                   "udp_sendto", "native_system", "native_execv", "extension_open_connect"]
        res, rx, acc = self.run_attacks("observe", attacks)
        self.assertEqual(res.rc, 0, self.describe(res, rx, acc))
        out = res.stdout_lines()
        for name in attacks:
            self.assertIn("reached %s" % name, out, self.describe(res))
            self.assertTrue([l for l in out if l.startswith("survived %s " % name)],
                            "%s did not complete%s" % (name, self.describe(res)))
        alerts = self.alerts(res)
        for a in alerts:
            self.assertEqual((a.get("action"), a.get("would"), a.get("rule")),
                             ("log", "kill", "default-kill-bypass"), TB.fmt(a))
            self.assertNotIn("signal", a)
            self.assertNotIn("stopped", a.get("why") or [])
            self.assertNotIn("denied", a.get("why") or [])
        got = sorted(set(a.get("syscall") for a in alerts))
        self.assertEqual(got, ["connect", "execve", "openat", "sendto"], self.describe(res))
        # what enforce stops does leak here: the listeners are not blind
        self.assertEqual(rx["tcp"].count(CANARY_BYTES), 2, self.describe(res, rx, acc))
        self.assertEqual(rx["tfo"], CANARY_BYTES, self.describe(res, rx, acc))
        self.assertEqual(rx["udp"], CANARY_BYTES, self.describe(res, rx, acc))
        for m in ("native_system", "native_execv"):
            self.assertTrue(os.path.exists(os.path.join(self.tmp, "marker-" + m)),
                            self.describe(res))


def _make_python_classes():
    classes = {}
    for i, info in enumerate(U.pythons_under_test()):
        name = "TestEnforce_%d_" % i + re.sub(r"[^0-9A-Za-z]+", "_", info["label"])
        classes[name] = type(name, (PerPython, unittest.TestCase), {
            "PY": info["path"], "LABEL": info["label"],
            "__doc__": "enforcement with %s (%s)" % (info["path"], info["label"])})
    return classes


globals().update(_make_python_classes())


class TestEnforceCgroup(unittest.TestCase):
    """run --enforce leaves no cgroup behind; --enforce and --observe exclude each other."""

    def test_cgroup_removed_at_exit(self):
        mnt = None
        with open("/proc/self/mountinfo") as f:
            for line in f:
                pre, _, post = line.partition(" - ")
                if post.split()[0] == "cgroup2" and pre.split()[3] == "/":
                    mnt = pre.split()[4]
                    break
        self.assertIsNotNone(mnt, "no cgroup2 mount on this host")
        res = U.trace([U.SYSTEM_PYTHON, "-c", "print(open('/proc/self/cgroup').read())"],
                      opts=["--enforce"])
        self.assertEqual(res.rc, 0, res.describe())
        m = re.search(r"^0::(\S*/pysectrace-run-(\d+))$", res.stdout, re.M)
        self.assertTrue(m, "COMMAND ran in the run's own cgroup: %r" % res.stdout)
        self.assertFalse(os.path.exists(mnt + m.group(1)), "cgroup left behind: %s" % m.group(1))

    def test_enforce_and_observe_exclude_each_other(self):
        res = U.trace(["/bin/true"], opts=["--enforce", "--observe"], output=False)
        self.assertEqual(res.rc, 125, res.describe())
        self.assertIn("exclude each other", res.stderr)


if __name__ == "__main__":
    unittest.main()
