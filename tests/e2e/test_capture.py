# SPDX-License-Identifier: MIT
"""End-to-end tests of capture files: record, replay, verify, report.

For every Python under test (one generated class TestCapture_<n>_<label>):
fixtures/bypass_attacks.py (test_bypass.py's attack script: ctypes, raw
syscalls, a C extension and its thread, shellcode, io_uring, ... next to
audited work) is recorded once with
    pysectrace record -w CAP --key KEY --format json --show all -o LIVE
and then
  replay    `replay --format json --show all CAP` prints exactly the records
            and alerts the live run wrote to LIVE (docs/capture-format.md:
            no JSON field differs), `--show alerts` exactly its alerts;
  verify    passes on CAP; fails naming the block after one flipped byte,
            a cut, a removed block; 3 with another key;
  prefix    replay of a cut capture prints a prefix of the whole replay;
  mode      CAP and the key record creates are 0600.
Once (Debian's python3): rotation (--max-size: parts that each verify,
that chain, and replay together as the live run); a capture recorded with
a policy replays with that policy's labels, and `replay --policy` with a
stricter one adds its would_deny records and decides the alerts with its
rules; the tracer SIGKILLed mid-capture (the program runs on; the capture
verifies as incomplete, intact up to its last sealed block, and replays
that prefix); and the HTML report
opened in headless Chromium: the DOM must hold the timeline (one lane per
thread, one marker per alert) and one card per alert.

Run through run_e2e.py (-k Capture), or alone:
    PYSECTRACE_BUILD=build python3 -m unittest discover -s tests/e2e -p 'test_capture.py'
"""
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as U  # noqa: E402
import test_bypass as TB  # noqa: E402  (its attack script and native fixtures)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


_NATIVE = {}


def native_dir():
    """test_bypass's native fixtures, built into a directory of this module
    (test_bypass removes its own when its tests end)."""
    if not _NATIVE.get("dir") or not os.path.isdir(_NATIVE["dir"]):
        saved = dict(TB._NATIVE)
        TB._NATIVE.clear()
        try:
            _NATIVE["dir"] = TB.native_dir()
        finally:
            TB._NATIVE.clear()
            TB._NATIVE.update(saved)
    return _NATIVE["dir"]


def tearDownModule():
    if _NATIVE.get("dir"):
        shutil.rmtree(_NATIVE["dir"], ignore_errors=True)


def blocks(data):
    """(index, offset, length) of each block of a capture (docs/capture-format.md)."""
    off, out = 16, []
    while off + 24 <= len(data) and data[off:off + 4] == b"PSCB":
        idx, clen = struct.unpack_from("<II", data, off + 4)
        out.append((idx, off, 24 + clen + 32))
        off += 24 + clen + 32
    return out


def tool(*argv, timeout=U.DEFAULT_TIMEOUT):
    return U.run_cmd([U.tracer()] + list(argv), timeout=timeout)


class Recording(object):
    """One recorded run of the attack script: capture, key, live JSON lines."""

    def __init__(self, py, tmp, opts=()):
        self.dir = tempfile.mkdtemp(prefix="rec-", dir=tmp)
        self.cap = os.path.join(self.dir, "attacks.cap")
        self.key = os.path.join(self.dir, "keys", "capture.key")  # record creates it
        self.live = os.path.join(self.dir, "live.jsonl")
        scratch = os.path.join(self.dir, "scratch")
        os.mkdir(scratch)
        self.argv = ([U.tracer(), "record", "-w", self.cap, "--key", self.key, "--format", "json",
                      "--show", "all", "-o", self.live] + list(opts) +
                     ["--", py, TB.ATTACKS, native_dir(), scratch])
        _, self.rc, self.stdout, self.stderr, _ = U.run_cmd(self.argv, timeout=180)
        with open(self.live) as f:
            self.live_text = f.read()
        self.records = U.parse_json_lines(self.live_text, "record -o")

    def describe(self):
        return "\n  command: %s\n  exit %s\n  stderr: %s" % (" ".join(self.argv), self.rc,
                                                            self.stderr[-2000:])


class PerPython(object):
    PY = None
    LABEL = None
    maxDiff = 3000

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.mkdtemp(prefix="pysectrace-e2e-capture-")
        cls._rec = None
        try:
            cls._rec = Recording(cls.PY, cls._tmp)
        except AssertionError as e:
            cls._rec_error = str(e)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls._tmp, ignore_errors=True)

    def rec(self):
        if self._rec is None:
            self.fail("%s: recording failed: %s" % (self.LABEL, self._rec_error))
        r = self._rec
        if r.rc != 0:
            self.fail("%s: record exited %d%s" % (self.LABEL, r.rc, r.describe()))
        return r

    def alerts(self, records):
        return [r for r in records if r.get("type") == "alert"]

    def broken_copy(self, name, data):
        path = os.path.join(self._tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def read_cap(self):
        with open(self.rec().cap, "rb") as f:
            return f.read()

    # -- the recording itself -------------------------------------------------

    def test_record_saw_the_attacks(self):
        r = self.rec()
        alerts = self.alerts(r.records)
        kinds = {a["kind"] for a in alerts}
        self.assertIn("bypass", kinds, "%s: no bypass alert recorded%s" % (self.LABEL,
                                                                          r.describe()))
        self.assertTrue(any(x.get("type") == "audit" for x in r.records))
        self.assertTrue(any(x.get("type") == "syscall" and x.get("verdict") == "audited"
                            for x in r.records), "no audited syscall: the program's audited "
                        "work is missing")

    def test_files_are_0600(self):
        r = self.rec()
        for path in (r.cap, r.key):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            self.assertEqual(mode, 0o600, "%s: %s has mode %o" % (self.LABEL, path, mode))
        self.assertIn(r.key, r.stderr, "record does not say where it created the key")

    # -- replay ------------------------------------------------------------------

    def test_replay_json_is_the_live_output(self):
        r = self.rec()
        _, rc, out, err, _ = tool("replay", "--format", "json", "--show", "all", r.cap)
        self.assertEqual(rc, 0, "%s: replay exited %d: %s" % (self.LABEL, rc, err))
        got = U.parse_json_lines(out, "replay")
        self.assertEqual(len(got), len(r.records), "%s: replay printed %d records, the live "
                         "run %d" % (self.LABEL, len(got), len(r.records)))
        for i, (a, b) in enumerate(zip(r.records, got)):
            if not U.strict_equal(a, b):
                self.fail("%s: record %d differs:\n  live:   %s\n  replay: %s"
                          % (self.LABEL, i, json.dumps(a)[:1500], json.dumps(b)[:1500]))
        self.assertGreater(len(self.alerts(got)), 0)

    def test_replay_alerts_are_the_live_alerts(self):
        r = self.rec()
        _, rc, out, err, _ = tool("replay", "--format", "json", "--show", "alerts", r.cap)
        self.assertEqual(rc, 0, err)
        got = U.parse_json_lines(out, "replay --show alerts")
        want = [x for x in r.records if x.get("type") in ("alert", "lost")]
        self.assertTrue(U.strict_equal(got, want), "%s: alerts differ:\n  live:   %s\n  "
                        "replay: %s" % (self.LABEL, [TB.fmt(a) for a in want],
                                        [TB.fmt(a) for a in got]))

    # -- verify ------------------------------------------------------------------

    def test_verify_passes(self):
        r = self.rec()
        _, rc, out, err, _ = tool("verify", "--key", r.key, r.cap)
        self.assertEqual(rc, 0, "%s: verify: %s %s" % (self.LABEL, out, err))
        self.assertRegex(out, r": OK: \d+ blocks")

    def test_verify_flipped_byte_names_block(self):
        data = self.read_cap()
        bl = blocks(data)
        self.assertGreaterEqual(len(bl), 3, "expected several blocks")
        idx, off, length = bl[len(bl) // 2]
        d = bytearray(data)
        d[off + length // 2] ^= 0x01
        path = self.broken_copy("flipped.cap", bytes(d))
        _, rc, out, err, _ = tool("verify", "--key", self.rec().key, path)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("CHANGED: block %d at offset %d" % (idx, off), out)

    def test_verify_truncated_names_block_and_replay_keeps_prefix(self):
        r = self.rec()
        data = self.read_cap()
        bl = blocks(data)
        idx, off, length = bl[-2]  # the last block of records (the end block follows)
        path = self.broken_copy("cut.cap", data[:off + length // 2])
        _, rc, out, err, _ = tool("verify", "--key", r.key, path)
        self.assertEqual(rc, 2, out + err)
        self.assertIn("INCOMPLETE: cut inside block %d at offset %d" % (idx, off), out)
        _, full_rc, full, _, _ = tool("replay", "--format", "json", "--show", "all", r.cap)
        _, rc, part, err, _ = tool("replay", "--format", "json", "--show", "all", path)
        self.assertEqual(rc, 1, "replay of a cut capture must say so (exit 1): %s" % err)
        self.assertIn("incomplete", err)
        full_lines, part_lines = full.splitlines(), part.splitlines()
        self.assertGreater(len(part_lines), 0, "nothing replayed from the intact prefix")
        # records of the intact blocks come out as in the whole replay (finishing
        # may add the repeated alerts' final counts at the end)
        n = len([x for x in U.parse_json_lines(part) if x.get("type") != "alert"])
        self.assertGreater(n, 10)
        full_non_alert = [l for l in full_lines if '"type":"alert"' not in l]
        part_non_alert = [l for l in part_lines if '"type":"alert"' not in l]
        self.assertEqual(part_non_alert, full_non_alert[:len(part_non_alert)])

    def test_verify_removed_block_names_it(self):
        data = self.read_cap()
        bl = blocks(data)
        idx, off, length = bl[1]
        path = self.broken_copy("removed.cap", data[:off] + data[off + length:])
        _, rc, out, err, _ = tool("verify", "--key", self.rec().key, path)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("block %d at offset %d: it says it is block %d" % (idx, off, idx + 1), out)

    def test_verify_other_key(self):
        other = os.path.join(self._tmp, "other.key")
        with open(other, "wb") as f:
            f.write(os.urandom(32))
        _, rc, out, err, _ = tool("verify", "--key", other, self.rec().cap)
        self.assertEqual(rc, 3, out + err)
        self.assertIn("signed with another key", out)


def _make_python_classes():
    classes = {}
    for i, info in enumerate(U.pythons_under_test()):
        name = "TestCapture_%d_" % i + re.sub(r"[^0-9A-Za-z]+", "_", info["label"])
        classes[name] = type(name, (PerPython, unittest.TestCase),
                             {"PY": info["path"], "LABEL": info["label"],
                              "__doc__": "capture with %s (%s)" % (info["path"], info["label"])})
    return classes


globals().update(_make_python_classes())


class TestCaptureOnce(unittest.TestCase):
    """Rotation and the HTML report, with Debian's python3."""

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.mkdtemp(prefix="pysectrace-e2e-capture1-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls._tmp, ignore_errors=True)

    def test_rotation_parts_verify_and_replay_together(self):
        rec = Recording(U.SYSTEM_PYTHON, self._tmp, opts=("--max-size", "16k"))
        self.assertEqual(rec.rc, 0, rec.describe())
        parts = [rec.cap]
        while os.path.exists("%s.%d" % (rec.cap, len(parts))):
            parts.append("%s.%d" % (rec.cap, len(parts)))
        self.assertGreaterEqual(len(parts), 2, "no rotation at 16k: %s" % os.listdir(rec.dir))
        for p in parts:
            self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o600, p)
        _, rc, out, err, _ = tool("verify", "--key", rec.key, *parts)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(out.count(": OK:"), len(parts), out)
        _, rc, out, err, _ = tool("verify", "--key", rec.key, parts[1], parts[0])
        self.assertEqual(rc, 1, "parts out of order must fail: " + out)
        self.assertIn("does not follow the previous file", out)
        _, rc, out, err, _ = tool("replay", "--format", "json", "--show", "all", *parts)
        self.assertEqual(rc, 0, err)
        got = U.parse_json_lines(out)
        self.assertTrue(U.strict_equal(got, rec.records),
                        "replay of the parts in order differs from the live output")
        for p in parts:  # each part replays alone
            _, rc, out, err, _ = tool("replay", "--format", "json", p)
            self.assertEqual(rc, 0, "%s: %s" % (p, err))

    def test_replay_hook_missing(self):
        """A CPython that drops the preload (no namespace): its hook_missing alert,
        judged live from its ELF, comes back in replay from the recorded answer."""
        d = tempfile.mkdtemp(prefix="hm-", dir=self._tmp)
        cap, key, live = (os.path.join(d, n) for n in ("hm.cap", "k", "live.jsonl"))
        child = ["/usr/bin/env", "-u", "LD_PRELOAD", U.SYSTEM_PYTHON, "-c",
                 "open('/etc/hostname').read()"]
        _, rc, _, err, _ = tool("record", "-w", cap, "--key", key, "--no-namespace",
                                "--format", "json", "--show", "all", "-o", live, "--",
                                U.SYSTEM_PYTHON, "-c",
                                "import subprocess; subprocess.run(%r)" % (child,))
        self.assertEqual(rc, 0, err)
        with open(live) as f:
            want = U.parse_json_lines(f.read())
        self.assertEqual([a["kind"] for a in want if a["type"] == "alert"], ["hook_missing"])
        _, rc, out, err, _ = tool("replay", "--format", "json", "--show", "all", cap)
        self.assertEqual(rc, 0, err)
        self.assertTrue(U.strict_equal(U.parse_json_lines(out), want),
                        "replay differs from the live output")

    POLICY_PROG = r"""
import ctypes, os, sys
d = sys.argv[1]
with open(os.path.join(d, "audited.txt"), "w") as f:
    f.write("x")
libc = ctypes.CDLL(None)
fd = libc.open(os.path.join(d, "native.txt").encode(), os.O_WRONLY | os.O_CREAT, 0o600)
libc.close(fd)
"""

    def write(self, d, name, text):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_replay_with_recorded_and_stricter_policy(self):
        d = tempfile.mkdtemp(prefix="pol-", dir=self._tmp)
        scratch = os.path.join(d, "scratch")
        os.mkdir(scratch)
        prog = self.write(d, "prog.py", self.POLICY_PROG)
        recorded = self.write(d, "recorded.yaml", """version: 1
mode: observe
default: log
rules:
  - id: log-scratch-writes
    action: log
    event: open
    path: "%s/**"
  - id: kill-native-open
    action: kill
    finding: bypass
    syscall: [openat, open]
""" % scratch)
        stricter = self.write(d, "stricter.yaml", """version: 1
mode: enforce
default: log
rules:
  - id: deny-scratch
    action: deny
    event: open
    path: "%s/**"
  - id: no-ctypes
    action: deny
    event: "ctypes.*"
  - id: kill-any-bypass
    action: kill
    finding: bypass
""" % scratch)
        cap, key, live = (os.path.join(d, n) for n in ("p.cap", "k", "live.jsonl"))
        _, rc, _, err, _ = tool("record", "-w", cap, "--key", key, "--policy", recorded,
                                "--format", "json", "--show", "alerts", "-o", live, "--",
                                U.SYSTEM_PYTHON, prog, scratch)
        self.assertEqual(rc, 0, err)
        with open(live) as f:
            want = U.parse_json_lines(f.read())
        # live: the log rule labels the audited open, the finding rule the bypass
        self.assertEqual([(r["type"], r.get("event") or r.get("kind"), r.get("rule"),
                           r.get("would")) for r in want],
                         [("audit", "open", "log-scratch-writes", None),
                          ("alert", "bypass", "kill-native-open", "kill")], want)
        _, rc, out, err, _ = tool("replay", "--format", "json", "--show", "alerts", cap)
        self.assertEqual(rc, 0, err)
        self.assertTrue(U.strict_equal(U.parse_json_lines(out), want),
                        "replay with the recorded policy differs from the live output:\n"
                        + out)
        _, rc, out, err, _ = tool("replay", "--format", "json", "--show", "alerts",
                                  "--policy", stricter, cap)
        self.assertEqual(rc, 0, err)
        got = U.parse_json_lines(out)
        denied = [(r["event"], r["would_deny"]) for r in got if r["type"] == "audit"]
        self.assertIn(("open", "deny-scratch"), denied, out)
        self.assertIn(("ctypes.dlopen", "no-ctypes"), denied, out)
        self.assertFalse(any(r.get("rule") == "log-scratch-writes" for r in got), out)
        alerts = [r for r in got if r["type"] == "alert"]
        self.assertEqual([(a["kind"], a["rule"], a["action"], a.get("would")) for a in alerts],
                         [("bypass", "kill-any-bypass", "log", "kill")], out)
        # the alert itself is the live one: only the decision changed
        strip = ("rule", "action", "would")
        self.assertEqual({k: v for k, v in alerts[0].items() if k not in strip},
                         {k: v for k, v in want[1].items() if k not in strip})
        _, rc, out, err, _ = tool("replay", "--policy", os.path.join(d, "none.yaml"), cap)
        self.assertEqual(rc, 125, "a missing --policy must fail: " + out)
        self.assertIn("none.yaml", err)

    def test_tracer_killed_mid_capture(self):
        """SIGKILL to record: the program runs on unharmed; the capture verifies as
        incomplete, intact up to its last sealed block, and replays that prefix."""
        d = tempfile.mkdtemp(prefix="kill-", dir=self._tmp)
        cap, key, done = (os.path.join(d, n) for n in ("k.cap", "k", "done"))
        prog = ("import os, sys, time\n"
                "end = time.time() + 6\n"
                "while time.time() < end:\n"
                "    open('/etc/hostname').read()\n"
                "    time.sleep(0.01)\n"
                "open(sys.argv[1], 'w').write('ok')\n")
        p = subprocess.Popen([U.tracer(), "record", "-w", cap, "--key", key, "--show", "alerts",
                              "-o", os.path.join(d, "live.txt"), "--", U.SYSTEM_PYTHON, "-c",
                              prog, done], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 60
            # wait for sealed blocks beyond the first (the header's)
            while time.time() < deadline and p.poll() is None:
                if os.path.exists(cap) and len(blocks(open(cap, "rb").read())) >= 3:
                    break
                time.sleep(0.1)
            if p.poll() is not None:
                self.fail("record ended early: %r" % (p.communicate(),))
            p.kill()
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
            p.stdout.close()
            p.stderr.close()
        deadline = time.time() + 60
        while time.time() < deadline and not os.path.exists(done):
            time.sleep(0.1)
        self.assertTrue(os.path.exists(done), "the traced program did not survive the "
                        "tracer's death")
        data = open(cap, "rb").read()
        sealed = blocks(data)
        _, rc, out, err, _ = tool("verify", "--key", key, cap)
        self.assertEqual(rc, 2, "verify of a cut capture: " + out + err)
        self.assertIn("INCOMPLETE", out)
        m = re.search(r"intact: (\d+) blocks", out)
        self.assertTrue(m, out)
        self.assertEqual(int(m.group(1)), len(sealed), out)
        _, rc, out, err, _ = tool("replay", "--format", "json", "--show", "all", cap)
        self.assertEqual(rc, 1, err)
        self.assertIn("incomplete", err)
        got = U.parse_json_lines(out)
        self.assertGreater(sum(1 for r in got if r.get("event") == "open"), 0,
                           "the intact prefix holds the program's opens")

    def test_record_running_process(self):
        """record -p: a hooked process started on its own; its bypass after the
        attach is in the capture, and replay prints what record printed live."""
        d = tempfile.mkdtemp(prefix="pid-", dir=self._tmp)
        cap, key, live, go = (os.path.join(d, n) for n in ("p.cap", "k", "live.jsonl", "go"))
        prog = ("import ctypes, os, sys, time\n"
                "while not os.path.exists(sys.argv[1]):\n"
                "    time.sleep(0.05)\n"
                "libc = ctypes.CDLL(None)\n"
                "fd = libc.open(b'/etc/shadow', 0)\n"
                "libc.close(fd)\n")
        env = U.clean_env(LD_PRELOAD=U.hook_lib())
        target = subprocess.Popen([U.SYSTEM_PYTHON, "-c", prog, go], env=env,
                                  stdin=subprocess.DEVNULL)
        try:
            rec = subprocess.Popen([U.tracer(), "record", "-w", cap, "--key", key, "-p",
                                    str(target.pid), "--format", "json", "--show", "alerts",
                                    "-o", live], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   universal_newlines=True)
            deadline = time.time() + 30  # the source record: attached
            while time.time() < deadline and rec.poll() is None and not (
                    os.path.exists(live) and os.path.getsize(live)):
                time.sleep(0.05)
            open(go, "w").close()
            _, err = rec.communicate(timeout=60)
        finally:
            if target.poll() is None:
                target.kill()
            target.wait()
        self.assertEqual(rec.returncode, 0, err)
        with open(live) as f:
            want = U.parse_json_lines(f.read())
        self.assertEqual(want[0]["type"], "source", want)
        self.assertEqual((want[0]["pid"], want[0]["source"]), (target.pid, "hook"))
        shadow = [r for r in want if r["type"] == "alert" and r.get("path") == "/etc/shadow"]
        self.assertEqual([a["kind"] for a in shadow], ["bypass"], want)
        _, rc, out, err, _ = tool("verify", "--key", key, cap)
        self.assertEqual(rc, 0, out + err)
        _, rc, out, err, _ = tool("replay", "--format", "json", "--show", "alerts", cap)
        self.assertEqual(rc, 0, err)
        self.assertTrue(U.strict_equal(U.parse_json_lines(out), want),
                        "replay differs from record -p's live output:\n" + out)
        _, rc, _, err, _ = tool("record", "-w", os.path.join(d, "x.cap"), "--key", key, "-p",
                                "999999999")
        self.assertEqual(rc, 125, err)
        self.assertIn("999999999", err)

    def test_report_renders_in_chromium(self):
        rec = Recording(U.SYSTEM_PYTHON, self._tmp)
        self.assertEqual(rec.rc, 0, rec.describe())
        html = os.path.join(self._tmp, "report.html")
        _, rc, out, err, _ = tool("report", rec.cap, "-o", html)
        self.assertEqual(rc, 0, err)
        with open(html) as f:
            page = f.read()
        self.assertNotRegex(page, r"(?i)(src|href)\s*=\s*[\"']?(https?:|//)",
                            "the report fetches something from the network")
        self.assertTrue(os.path.exists(CHROMIUM), "chromium is missing (tools/install-deps.sh)")
        profile = os.path.join(self._tmp, "chromium-profile")
        base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                "--user-data-dir=" + profile, "--window-size=1400,1400"]
        _, rc, dom, err, _ = U.run_cmd(base + ["--dump-dom", "file://" + html], timeout=120)
        self.assertEqual(rc, 0, err[-2000:])
        self.assertIn('data-rendered="1"', dom, "the report's script did not finish:\n" +
                      err[-2000:])
        alerts = [r for r in rec.records if r.get("type") == "alert"]
        threads = {(r["pid"], r["tid"]) for r in rec.records if r.get("type") != "lost"}
        self.assertGreater(len(alerts), 0)
        self.assertEqual(dom.count('class="alert-mark"'), len(alerts), "timeline alert markers")
        self.assertEqual(len(re.findall(r'<div class="alert" id="alert-\d+"', dom)), len(alerts),
                         "alert cards")
        self.assertEqual(dom.count('class="lane"'), len(threads), "timeline lanes")
        self.assertIn('id="timeline-svg"', dom)
        self.assertGreater(dom.count('class="mark-audit"'), 0)
        self.assertGreater(dom.count('class="mark-syscall"'), 0)
        self.assertGreaterEqual(dom.count("<li data-pid="), len({p for p, _ in threads}) // 2)
        shot = os.path.join(self._tmp, "report.png")
        _, rc, _, err, _ = U.run_cmd(base + ["--screenshot=" + shot, "file://" + html],
                                     timeout=120)
        self.assertEqual(rc, 0, err[-2000:])
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", "no PNG screenshot")


if __name__ == "__main__":
    unittest.main()
