# SPDX-License-Identifier: MIT
"""End-to-end tests of `pysectrace monitor` (root, real BPF, real Pythons,
a real Prometheus server).  Monitor-wide: the tests run once, and start
hooked processes of two Pythons (/usr/bin/python3 and a pyenv one) that are
not the monitor's children.  Alone:
    PYSECTRACE_BUILD=build python3 -m unittest discover -s tests/e2e -p 'test_monitor.py'

The monitor watches every hooked process on the host, so other programs
preloading a libpysechook.so may add records: assertions about "our"
processes select them by pid; counter agreement compares the whole output.
"""
import glob
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as U  # noqa: E402

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
CURL = shutil.which("curl") or "/usr/bin/curl"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
UNIT = os.path.join(U.TOP, "tools", "pysectrace-monitor.service")

# audited work, then a ctypes open that no audit event announces
WORKER = r"""
import ctypes, os, sys, time
target, repeat = sys.argv[1], int(sys.argv[2])
print(os.getpid(), flush=True)
sys.stdin.readline()                # the test says go once the monitor is up
open("/etc/hostname").read()        # audited
os.listdir("/etc")                  # audited
libc = ctypes.CDLL(None)
libc.open.argtypes = [ctypes.c_char_p, ctypes.c_int]
for _ in range(repeat):
    fd = libc.open(target.encode(), 0)   # bypass (the same one, repeated)
    if fd >= 0:
        os.close(fd)
"""

# the same audited work, no bypass: must raise no alert
CONTROL = r"""
import os, sys
print(os.getpid(), flush=True)
sys.stdin.readline()
open("/etc/hostname").read()
os.listdir("/etc")
with open(sys.argv[1]) as f:
    f.read()
"""

# many distinct bypasses from one process: the rate limit's case
NOISY = r"""
import ctypes, os, sys
print(os.getpid(), flush=True)
sys.stdin.readline()
libc = ctypes.CDLL(None)
libc.open.argtypes = [ctypes.c_char_p, ctypes.c_int]
for i in range(int(sys.argv[2])):
    fd = libc.open(("%s/f%d" % (sys.argv[1], i)).encode(), 0)
    if fd >= 0:
        os.close(fd)
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, what, interval=0.2):
    """pred() until truthy; its value, or AssertionError naming what."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


def read_records(path):
    try:
        with open(path, "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    # the writer may be in the middle of a line
    lines = data.split("\n")[:-1]
    return U.parse_json_lines("\n".join(lines), path) if lines else []


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of the text exposition format."""
    out, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        labels = frozenset()
        if "{" in head:
            name, rest = head.split("{", 1)
            pairs = [p for p in rest.rstrip("}").split('",') if p]
            labels = frozenset((k, v.strip('"')) for k, v in (p.split("=", 1) for p in pairs))
        else:
            name = head
        out[(name, labels)] = float(value)
    return out, types


def metric_sum(metrics, name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and want <= ls)


def second_python():
    """A pyenv CPython under test, to watch two different interpreters."""
    for p in U.pythons_under_test():
        if p["path"] != U.SYSTEM_PYTHON:
            return p["path"]
    return None


class Monitor(object):
    """A running `pysectrace monitor` with its output file and metrics port."""

    def __init__(self, tmp, name, opts):
        self.out = os.path.join(tmp, name + ".json")
        self.err_path = os.path.join(tmp, name + ".stderr")
        self.port = free_port()
        self.argv = [U.tracer(), "monitor", "-o", self.out, "--metrics",
                     "127.0.0.1:%d" % self.port] + list(opts)
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.err,
                                     env=U.clean_env(), start_new_session=True)
        wait_for(lambda: self.alive() and b"monitoring" in self.stderr_bytes(), 60,
                 "the monitor to attach (stderr: %s)" % self.err_path)

    def stderr_bytes(self):
        with open(self.err_path, "rb") as f:
            return f.read()

    def alive(self):
        if self.proc.poll() is not None:
            raise AssertionError("monitor exited %s: %s" % (
                self.proc.returncode, self.stderr_bytes().decode("utf-8", "replace")))
        return True

    def metrics_text(self):
        p = subprocess.run([CURL, "-sS", "--max-time", "20",
                            "http://127.0.0.1:%d/metrics" % self.port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30,
                           universal_newlines=True)
        if p.returncode != 0:
            raise AssertionError("curl /metrics failed (%d): %s" % (p.returncode, p.stderr))
        return p.stdout

    def metrics(self):
        return parse_metrics(self.metrics_text())[0]

    def records(self):
        return read_records(self.out)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("monitor did not exit %ss after signal %d" % (timeout, sig))
        self.err.close()
        return self.proc.returncode


def start_hooked(py, script, args, env_extra=None):
    """A hooked Python, started by the test (not by the monitor); waits for go."""
    env = U.clean_env(LD_PRELOAD=U.hook_lib())
    p = subprocess.Popen([py, "-c", script] + list(args), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         start_new_session=True)
    pid = int(p.stdout.readline())
    return p, pid


def finish_hooked(p, testcase):
    p.stdin.write(b"go\n")
    p.stdin.flush()
    out, err = p.communicate(timeout=60)
    testcase.assertEqual(p.returncode, 0, "hooked process failed: %r" % err[-2000:])


class MonitorTests(unittest.TestCase):
    """One monitor for the whole class (a service), one Prometheus scraping it."""

    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pysectrace-e2e-mon-")
        os.chmod(cls.tmp, 0o755)
        cls.mon = Monitor(cls.tmp, "main", ["--show", "audit", "--rate-limit", "0"])
        cls.prom = None
        cls.prom_port = free_port()
        cfg = os.path.join(cls.tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: pysectrace\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % cls.mon.port)
        cls.prom_log = open(os.path.join(cls.tmp, "prometheus.log"), "wb")
        cls.prom = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + cfg,
             "--storage.tsdb.path=" + os.path.join(cls.tmp, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % cls.prom_port],
            stdin=subprocess.DEVNULL, stdout=cls.prom_log, stderr=cls.prom_log,
            start_new_session=True, cwd=cls.tmp)
        cls.py2 = second_python()
        cls.bypass = {}   # pid -> (python, target path)
        cls.controls = []
        cls.repeated = None

    @classmethod
    def tearDownClass(cls):
        if cls.prom and cls.prom.poll() is None:
            cls.prom.terminate()
            try:
                cls.prom.wait(timeout=30)
            except subprocess.TimeoutExpired:
                cls.prom.kill()
                cls.prom.wait()
        cls.prom_log.close()
        if cls.mon.proc.poll() is None:
            cls.mon.stop(signal.SIGKILL)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def mine(self, records, kind=None):
        return [r for r in records if r.get("type") == "alert" and r.get("pid") in self.bypass
                and (kind is None or r["kind"] == kind)]

    # 1 ------------------------------------------------------------------
    def test_1_alerts_of_independent_processes(self):
        self.assertIsNotNone(self.py2, "a second CPython (pyenv) is needed to watch two "
                             "different interpreters; none found")
        secret = os.path.join(self.tmp, "secret-%d")
        procs = []
        for i, py in enumerate([U.SYSTEM_PYTHON, self.py2, U.SYSTEM_PYTHON, self.py2]):
            path = secret % i
            with open(path, "w") as f:
                f.write("x")
            repeat = 3 if i == 0 else 1
            p, pid = start_hooked(py, WORKER, [path, str(repeat)])
            procs.append(p)
            type(self).bypass[pid] = (py, path, repeat)
        for py in (U.SYSTEM_PYTHON, self.py2):
            p, pid = start_hooked(py, CONTROL, [secret % 0])
            procs.append(p)
            type(self).controls.append(pid)
        for p in procs:
            finish_hooked(p, self)

        def all_seen():
            recs = self.mon.records()
            pids = {r["pid"] for r in self.mine(recs)}
            return recs if pids >= set(self.bypass) else None

        recs = wait_for(all_seen, 60, "alerts of every bypassing process")
        host = socket.gethostname()
        for pid, (py, path, repeat) in self.bypass.items():
            alerts = [r for r in self.mine(recs) if r["pid"] == pid]
            self.assertEqual(len(alerts), 1, "%s pid %d: one alert (repeats are counted): %r"
                             % (py, pid, alerts))
            a = alerts[0]
            self.assertEqual(a["kind"], "bypass", a)
            self.assertEqual(a["path"], path, a)
            self.assertEqual(a["host"], host, a)
            self.assertEqual(a["schema_version"], 1, a)
            self.assertRegex(a["time"], U.RFC3339_RE)
            self.assertIn(a["syscall"], ("open", "openat"), a)
            # the audited work of the same process is in the output (--show audit)
            opens = [r for r in recs if r.get("type") == "audit" and r["pid"] == pid
                     and r["event"] == "open" and r["args"][:1] == ["/etc/hostname"]]
            self.assertEqual(len(opens), 1, "%s pid %d: its audited open" % (py, pid))
        for pid in self.controls:
            self.assertTrue([r for r in recs if r.get("type") == "audit" and r["pid"] == pid],
                            "control pid %d was not watched at all" % pid)
            self.assertEqual([r for r in recs if r.get("type") == "alert" and r["pid"] == pid],
                             [], "control pid %d (audited work only) raised an alert" % pid)
        type(self).repeated = [pid for pid, v in self.bypass.items() if v[2] == 3][0]

    # 2 ------------------------------------------------------------------
    def test_2_metrics_agree_with_records(self):
        self.assertTrue(self.bypass, "test_1 must run first")
        text = self.mon.metrics_text()
        metrics, types = parse_metrics(text)
        for name, typ in (("pysectrace_audit_events_total", "counter"),
                          ("pysectrace_syscalls_total", "counter"),
                          ("pysectrace_alerts_total", "counter"),
                          ("pysectrace_events_lost_total", "counter"),
                          ("pysectrace_tracked_processes", "gauge"),
                          ("pysectrace_ringbuf_bytes", "gauge"),
                          ("pysectrace_build_info", "gauge"),
                          ("process_start_time_seconds", "gauge")):
            self.assertEqual(types.get(name), typ, "%s should be a %s:\n%s" % (name, typ, text))
            self.assertIn("# HELP %s " % name, text)
        for (name, labels) in metrics:
            for k, v in labels:
                self.assertNotIn(k, ("pid", "path", "tid"), "unbounded label %s" % k)
        with open(os.path.join(U.TOP, "VERSION")) as f:
            version = f.read().strip()
        self.assertEqual(metrics.get(("pysectrace_build_info",
                                      frozenset([("version", version)]))), 1.0)
        self.assertGreater(metric_sum(metrics, "pysectrace_syscalls_total", audited="true"), 0)
        self.assertGreaterEqual(metric_sum(metrics, "pysectrace_syscalls_total",
                                           syscall="openat", audited="false"),
                                len(self.bypass), "the ctypes opens are counted unaudited")

        # the whole output against the counters, at a moment nothing changed in between
        problems = []
        for _ in range(20):
            m1 = self.mon.metrics()
            recs = self.mon.records()
            m2 = self.mon.metrics()
            if m1 != m2:
                time.sleep(0.5)
                continue
            alerts = [r for r in recs if r.get("type") == "alert"]
            got = metric_sum(m1, "pysectrace_alerts_total")
            problems = []
            if got != len(alerts):
                problems.append("alerts_total %d, alert records %d" % (got, len(alerts)))
            for kind in ("bypass", "tamper", "hook_cleared", "hook_missing"):
                n = len([a for a in alerts if a["kind"] == kind])
                if metric_sum(m1, "pysectrace_alerts_total", kind=kind) != n:
                    problems.append("kind %s: %d records" % (kind, n))
            for ev in ("open", "cpython.run_file", "ctypes.dlopen"):
                n = len([r for r in recs if r.get("type") == "audit" and r["event"] == ev])
                if metric_sum(m1, "pysectrace_audit_events_total", event=ev) != n:
                    problems.append("event %s: %d records, metric %d" % (
                        ev, n, metric_sum(m1, "pysectrace_audit_events_total", event=ev)))
            lost = sum(r["count"] for r in recs if r.get("type") == "lost")
            if metric_sum(m1, "pysectrace_events_lost_total") != lost:
                problems.append("lost: records %d" % lost)
            if not problems:
                break
            time.sleep(0.5)
        self.assertEqual(problems, [], "metrics disagree with the JSON records")
        self.assertGreaterEqual(metric_sum(m1, "pysectrace_alerts_total", kind="bypass",
                                           rule="no_token"), len(self.bypass))

    # 3 ------------------------------------------------------------------
    def test_3_prometheus_scrapes_it(self):
        self.assertTrue(self.bypass, "test_1 must run first")
        base = "http://127.0.0.1:%d" % self.prom_port

        def query(q):
            url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    doc = json.load(r)
            except OSError:
                return None
            if doc.get("status") != "success" or not doc["data"]["result"]:
                return None
            return float(doc["data"]["result"][0]["value"][1])

        seen = []

        def agrees():
            if self.prom.poll() is not None:
                raise AssertionError("prometheus exited %s" % self.prom.returncode)
            v = query("sum(pysectrace_alerts_total{job=\"pysectrace\"})")
            now = metric_sum(self.mon.metrics(), "pysectrace_alerts_total")
            seen.append((v, now))
            return v is not None and v == now and v >= len(self.bypass)

        try:
            wait_for(agrees, 90, "Prometheus to report the endpoint's pysectrace_alerts_total",
                     interval=1)
        except AssertionError as e:
            raise AssertionError("%s; last (prometheus, endpoint): %r" % (e, seen[-3:]))
        self.assertEqual(query("up{job=\"pysectrace\"}"), 1.0)

        # every query of the shipped Grafana dashboard parses and finds data
        # (rate() needs two samples of a series)
        wait_for(lambda: (query("count_over_time(up{job=\"pysectrace\"}[1m])") or 0) >= 3,
                 60, "three scrapes")
        with open(os.path.join(U.TOP, "tools", "grafana-dashboard.json")) as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
        self.assertGreaterEqual(len(exprs), 8)
        for e in exprs:
            q = (e.replace("$job", ".*").replace("$instance", ".*")
                 .replace("$__range", "5m"))
            url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
            with urllib.request.urlopen(url, timeout=10) as r:
                doc = json.load(r)
            self.assertEqual(doc.get("status"), "success", (q, doc))
            self.assertTrue(doc["data"]["result"], "dashboard query finds nothing: %s" % q)

    # 4 ------------------------------------------------------------------
    def test_4_sighup_reopens_and_keeps_running(self):
        self.assertTrue(self.bypass, "test_1 must run first")
        moved = self.mon.out + ".moved"
        os.rename(self.mon.out, moved)      # as logrotate does
        self.mon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: b"SIGHUP" in self.mon.stderr_bytes(), 30, "the SIGHUP message")
        self.assertTrue(self.mon.alive())
        path = os.path.join(self.tmp, "after-hup")
        with open(path, "w") as f:
            f.write("x")
        p, pid = start_hooked(U.SYSTEM_PYTHON, WORKER, [path, "1"])
        type(self).bypass[pid] = (U.SYSTEM_PYTHON, path, 1)
        finish_hooked(p, self)
        recs = wait_for(lambda: [r for r in self.mon.records()
                                 if r.get("type") == "alert" and r["pid"] == pid],
                        60, "the alert of a process started after SIGHUP, in the new file")
        self.assertEqual(recs[0]["path"], path)
        old = read_records(moved)
        self.assertEqual([r for r in old if r.get("pid") == pid], [],
                         "records after SIGHUP went to the old file")

    # 9 ------------------------------------------------------------------
    def test_9_sigterm_flushes_and_exits_0(self):
        self.assertTrue(self.repeated, "test_1 must run first")
        rc = self.mon.stop(signal.SIGTERM)
        err = self.mon.stderr_bytes().decode("utf-8", "replace")
        self.assertEqual(rc, 0, "monitor exit status after SIGTERM: %s" % err)
        self.assertIn("stopped by signal 15", err)
        recs = self.mon.records() + read_records(self.mon.out + ".moved")
        # the final flush: the repeated bypass's total
        finals = [r for r in recs if r.get("type") == "alert" and r["pid"] == self.repeated
                  and r["count"] > 1]
        self.assertEqual([r["count"] for r in finals], [3], "final count of the repeated "
                         "bypass: %r" % finals)


class MonitorOutputTests(unittest.TestCase):
    """Rotation, compression and the rate limit, with a monitor of their own."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pysectrace-e2e-mon2-")
        os.chmod(self.tmp, 0o755)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_rate_limit_and_rotation(self):
        mon = Monitor(self.tmp, "noisy", ["--rate-limit", "2/3", "--rotate-size", "8K",
                                          "--rotate-keep", "3", "--compress"])
        try:
            targets = os.path.join(self.tmp, "targets")
            os.mkdir(targets)
            n = 40
            for i in range(n):
                with open(os.path.join(targets, "f%d" % i), "w") as f:
                    f.write("x")
            p, pid = start_hooked(U.SYSTEM_PYTHON, NOISY, [targets, str(n)])
            finish_hooked(p, self)

            def all_files():
                out = []
                for path in sorted(glob.glob(mon.out + "*")):
                    if path.endswith(".gz"):
                        with gzip.open(path, "rb") as f:
                            data = f.read().decode()
                        out += U.parse_json_lines(data.rstrip("\n"), path)
                    else:
                        out += read_records(path)
                return out

            def settled():
                recs = all_files()
                alerts = [r for r in recs if r.get("type") == "alert" and r.get("pid") == pid]
                drops = sum(r["dropped"] for r in recs if r.get("type") == "rate_limited"
                            and r.get("pid") == pid)
                return (recs, alerts, drops) if len(alerts) + drops == n else None

            recs, alerts, drops = wait_for(settled, 60, "every alert of the noisy process "
                                           "written or reported as held back")
            self.assertGreater(drops, 0, "the rate limit held nothing back")
            self.assertLess(len(alerts), n)
            self.assertGreaterEqual(len(alerts), 3, "the burst goes through")
            rl = [r for r in recs if r.get("type") == "rate_limited" and r.get("pid") == pid]
            for r in rl:
                self.assertEqual(r["kind"], "bypass", r)
                self.assertEqual(r["host"], socket.gethostname(), r)
            m = mon.metrics()
            all_drops = sum(r["dropped"] for r in recs if r.get("type") == "rate_limited")
            self.assertEqual(metric_sum(m, "pysectrace_events_lost_total", stage="rate_limit"),
                             all_drops)
            rotated = glob.glob(mon.out + ".*.gz")
            self.assertTrue(rotated, "no rotated file: %r" % os.listdir(self.tmp))
            self.assertLessEqual(len(rotated), 3, "more than --rotate-keep files: %r" % rotated)
            self.assertFalse(glob.glob(mon.out + ".[0-9]"), "rotated files left uncompressed")
        finally:
            rc = mon.stop()
        self.assertEqual(rc, 0)


class MonitorSyslogTests(unittest.TestCase):
    """--syslog: each record a datagram to /dev/log (LOG_DAEMON, alerts at LOG_WARNING).

    The monitor runs in a private mount namespace whose /dev holds only a
    /dev/log that leads to the test's socket: the host's syslog is untouched."""

    def test_alerts_reach_syslog(self):
        tmp = tempfile.mkdtemp(prefix="pysectrace-e2e-mon5-")
        os.chmod(tmp, 0o755)
        sock_path = os.path.join(tmp, "log.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.settimeout(1)
        out = os.path.join(tmp, "out.json")
        err = open(os.path.join(tmp, "stderr"), "wb")
        script = ("mount -t tmpfs none /dev && ln -s %s /dev/log && exec %s monitor --syslog "
                  "-o %s" % (sock_path, U.tracer(), out))
        mon = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                script], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=err, env=U.clean_env(), start_new_session=True)
        try:
            wait_for(lambda: mon.poll() is None and b"monitoring" in open(err.name, "rb").read(),
                     60, "the monitor to start")
            target = os.path.join(tmp, "secret")
            with open(target, "w") as f:
                f.write("x")
            p, pid = start_hooked(U.SYSTEM_PYTHON, WORKER, [target, "1"])
            finish_hooked(p, self)
            got = []
            end = time.monotonic() + 60
            while time.monotonic() < end and not got:
                try:
                    d = sock.recv(1 << 16).decode("utf-8", "replace")
                except socket.timeout:
                    continue
                # <PRI>TIMESTAMP pysectrace[PID]: JSON
                if "pysectrace[" in d and '"pid":%d,' % pid in d:
                    got.append(d)
            self.assertTrue(got, "no syslog record of pid %d" % pid)
            pri, rest = got[0][1:].split(">", 1)
            self.assertEqual(int(pri), 3 * 8 + 4, "LOG_DAEMON|LOG_WARNING: %r" % got[0])
            rec = json.loads(rest.split("]: ", 1)[1])
            self.assertEqual((rec["type"], rec["kind"], rec["path"], rec["host"]),
                             ("alert", "bypass", target, socket.gethostname()))
            filed = [r for r in read_records(out) if r.get("pid") == pid]
            self.assertEqual(len(filed), 1)
            self.assertEqual(filed[0]["mono_ns"], rec["mono_ns"], "the same record in both")
        finally:
            if mon.poll() is None:
                mon.terminate()
            rc = mon.wait(timeout=60)
            err.close()
            sock.close()
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(rc, 0)
        self.assertFalse(os.path.exists("/dev/log") and os.path.islink("/dev/log")
                         and os.readlink("/dev/log") == sock_path, "the host's /dev was changed")


class MonitorBoundsTests(unittest.TestCase):
    """More live hooked processes than --max-procs: bounded, and nothing wrong."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pysectrace-e2e-mon4-")
        os.chmod(self.tmp, 0o755)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_evicted_processes_are_counted_not_misjudged(self):
        mon = Monitor(self.tmp, "bounds", ["--max-procs", "16", "--rate-limit", "0"])
        procs = []
        try:
            for i in range(24):
                path = os.path.join(self.tmp, "s%d" % i)
                with open(path, "w") as f:
                    f.write("x")
                procs.append(start_hooked(U.SYSTEM_PYTHON, WORKER, [path, "1"]) + (path,))
            before = metric_sum(mon.metrics(), "pysectrace_events_lost_total",
                                stage="classifier_evicted")
            for p, pid, path in procs:
                finish_hooked(p, self)
            pids = {pid: path for p, pid, path in procs}

            def settled():
                m = mon.metrics()
                alerts = [r for r in mon.records() if r.get("type") == "alert"
                          and r.get("pid") in pids]
                unjudged = metric_sum(m, "pysectrace_events_lost_total",
                                      stage="classifier_evicted") - before
                return (m, alerts, unjudged) if len(alerts) + unjudged >= 24 else None

            m, alerts, unjudged = wait_for(settled, 60, "every bypass alerted or counted")
            self.assertEqual(len(alerts) + unjudged, 24)
            for a in alerts:
                self.assertEqual(a["path"], pids[a["pid"]], a)
                self.assertEqual(a["kind"], "bypass", a)
            self.assertGreaterEqual(metric_sum(m, "pysectrace_table_evictions_total",
                                               table="classifier_procs"), 8)
            self.assertLessEqual(metric_sum(m, "pysectrace_classifier_processes"), 16)
        finally:
            for p, pid, path in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            rc = mon.stop()
        self.assertEqual(rc, 0)


class MonitorUpgradeTests(unittest.TestCase):
    """After an upgrade, running processes map the old, deleted hook file."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pysectrace-e2e-mon3-")
        os.chmod(self.tmp, 0o755)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_deleted_hook_copy_of_a_running_process(self):
        libdir = os.path.join(self.tmp, "lib")
        os.mkdir(libdir)
        lib = os.path.join(libdir, "libpysechook.so")
        shutil.copy(U.hook_lib(), lib)
        target = os.path.join(self.tmp, "secret")
        with open(target, "w") as f:
            f.write("x")
        env = U.clean_env(LD_PRELOAD=lib)
        p = subprocess.Popen([U.SYSTEM_PYTHON, "-c", WORKER, target, "1"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             start_new_session=True)
        try:
            pid = int(p.stdout.readline())
            old_ino = os.stat(lib).st_ino
            os.unlink(lib)                      # the upgrade: a new file, a new inode
            shutil.copy(U.hook_lib(), lib)
            self.assertNotEqual(os.stat(lib).st_ino, old_ino)
            with open("/proc/%d/maps" % pid) as f:
                self.assertIn("%s (deleted)" % lib, f.read())
            mon = Monitor(self.tmp, "upgrade", ["--rescan", "1"])
        except BaseException:
            p.kill()
            p.wait()
            raise
        try:
            finish_hooked(p, self)
            alerts = wait_for(lambda: [r for r in mon.records() if r.get("type") == "alert"
                                       and r.get("pid") == pid], 60,
                              "the alert of a process that maps a deleted hook copy")
            self.assertEqual(alerts[0]["path"], target)
            self.assertGreaterEqual(metric_sum(mon.metrics(), "pysectrace_hook_copies"), 2)
        finally:
            rc = mon.stop()
        self.assertEqual(rc, 0)


class ServiceUnitTests(unittest.TestCase):
    def test_systemd_unit_verifies(self):
        # a skip would not be a pass: systemd-analyze is part of the test dependencies
        self.assertTrue(os.access(SYSTEMD_ANALYZE, os.X_OK),
                        "systemd-analyze missing (tools/install-deps.sh installs systemd)")
        tmp = tempfile.mkdtemp(prefix="pysectrace-unit-")
        try:
            # the unit names the installed binary; verify it against the built one
            with open(UNIT) as f:
                text = f.read()
            self.assertIn("ExecStart=/usr/local/bin/pysectrace monitor", text)
            unit = os.path.join(tmp, "pysectrace-monitor.service")
            with open(unit, "w") as f:
                f.write(text.replace("/usr/local/bin/pysectrace", U.tracer()))
            p = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", unit],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=120)
            problems = [l for l in p.stdout.splitlines() if "pysectrace" in l]
            self.assertEqual((p.returncode, problems), (0, []), p.stdout)
            # a broken unit must fail the same check (the check can fail)
            with open(unit, "a") as f:
                f.write("\n[Service]\nCapabilityBoundingSet=CAP_NOT_A_THING\nBogusKey=1\n")
            p = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", unit],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=120)
            self.assertTrue(p.returncode != 0 or "BogusKey" in p.stdout, p.stdout)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_bad_options_are_refused(self):
        for args, want in ((["--rate-limit", "fast"], "--rate-limit"),
                           (["--rate-limit", "5/x"], "offset 2"),
                           (["--rotate-size", "1"], "--rotate-size"),
                           (["--metrics", "127.0.0.1:99999"], "--metrics"),
                           (["--rotate-size", "1M"], "-o FILE")):
            p = subprocess.run([U.tracer(), "monitor"] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
            self.assertEqual(p.returncode, 125, (args, p.stderr))
            self.assertIn(want, p.stderr, args)


if __name__ == "__main__":
    unittest.main()
