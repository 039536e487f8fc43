#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The real-program corpus: CPython's own test suites under pysectrace.

For every Python, runs `PY -m test -q MODULE [filters]` for each module,
once under `pysectrace run --show alerts --format json -o FILE --` and once
without the tracer, and

  * fails when the suite's exit status differs (the suite must pass under
    the tracer exactly as it does without it);
  * collects every alert, and fails when one is not in EXPECTED below (the
    true unaudited paths these suites take, each with its CPython source).

Needs root (BPF).  Stdlib only; run it with /usr/bin/python3:

    /usr/bin/python3 tests/corpus/run_corpus.py --build build
    /usr/bin/python3 tests/corpus/run_corpus.py --pythons /root/.pyenv/versions/3.12.1/bin/python3 \
        --tests test_os,test_glob --keep /tmp/corpus --show all

Findings and the analysis of every alert: docs/corpus-findings.md.
"""
import argparse
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

SYSTEM_PYTHON = "/usr/bin/python3"
PYENV_ROOT = "/root/.pyenv"
MINORS = (8, 9, 10, 11, 12, 13)

DEFAULT_TESTS = ["test_tempfile", "test_shutil", "test_glob", "test_zipfile", "test_json",
                 "test_logging", "test_os", "test_subprocess", "test_socket", "test_sqlite3"]

# 3.8-3.10 call the sqlite3 suite test_sqlite
ALIASES = {"test_sqlite3": ["test_sqlite3", "test_sqlite"]}

# regrtest filters that always apply: tests that hang on this kind of machine
# with and without the tracer (the VSOCK tests block in accept() in a VM
# that has a vsock device but no peer).
ALWAYS_FILTERS = {
    "test_socket": ["-i", "*VSOCK*"],
}

# Extra filters of the default (quick) mode, dropped by --full: the slow
# tests whose syscalls other, faster tests of the same module also make
# (timeouts that sleep, a no-poll duplicate of a whole class, retry loops).
QUICK_FILTERS = {
    "test_socket": ["-i", "*FileObjectClassTestCase", "-i", "*TimeoutTest",
                    "-i", "Sendfile*", "-i", "TCPCloserTest", "-i", "NetworkConnectionBehaviourTest"],
    "test_subprocess": ["-i", "ProcessTestCaseNoPoll", "-i", "test_check_output_timeout",
                        "-i", "test_communicate_repeated_call_after_stdout_close",
                        "-i", "test_*_dead"],
    "test_logging": ["-i", "test_noserver"],
}

# ---------------------------------------------------------------------------
# The true unaudited paths these suites take: native code (a C library or a
# C extension) doing file or socket IO that CPython never announces with an
# audit event.  Each entry: id, the alert it matches, and where in CPython's
# source the missing event is.  Fields of `match` (all optional, all must hold):
#   syscall   set of syscall names
#   path      regex, fullmatch against the alert's path (or AF_UNIX path)
#   family    "AF_INET" / "AF_INET6" / "AF_UNIX"
#   flags     set of open flags
#   versions  set of "3.N" the entry is expected on (None: all)
#   tests     set of test modules it is expected in (None: all)
#   events    the thread's last audit events must contain one of these
#   mapping   regex, search in the alert's origin mapping
# Only true unaudited paths go here, never a false positive (that needs a
# baseline rule, userspace/baseline.c) nor a tracer bug.
# (test_logging's keycert.pem, read by SSLContext.load_cert_chain and
# create_default_context(cafile=), was here until the baseline rule
# openssl_key_files explained it: _ssl loaded, no ctypes, a key/cert file.)
EXPECTED = []


def expected_for(alert, version, test):
    for e in EXPECTED:
        if match_expected(e["match"], alert, version, test):
            return e["id"]
    return None


def match_expected(m, a, version, test):
    if "syscall" in m and a.get("syscall") not in m["syscall"]:
        return False
    if "path" in m and not re.fullmatch(m["path"], path_text(a.get("path"))):
        return False
    if "family" in m and a.get("family") != m["family"]:
        return False
    if "flags" in m and a.get("flags") not in m["flags"]:
        return False
    if m.get("versions") is not None and version not in m["versions"]:
        return False
    if m.get("tests") is not None and test not in m["tests"]:
        return False
    if "events" in m and not any(c.get("event") in m["events"] for c in a.get("context") or []):
        return False
    if "mapping" in m and not re.search(m["mapping"], (a.get("origin") or {}).get("mapping", "")):
        return False
    return True


OFLAGS = [(0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"),
          (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"), (0o10000, "O_DSYNC"),
          (0o100000, "O_LARGEFILE"), (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"),
          (0o1000000, "O_NOATIME"), (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH"),
          (0o20000000, "O_TMPFILE_")]


def oflags(sc, n):
    """Open flags in words (O_TMPFILE = O_TMPFILE_|O_DIRECTORY)."""
    if n is None or sc not in ("open", "openat", "openat2", "creat"):
        return str(n)
    out = [("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACC3")[n & 3]]
    out += [name for bit, name in OFLAGS if n & bit]
    return "|".join(out)


def path_text(p):
    if isinstance(p, dict):
        return p.get("bytes") or p.get("str_escaped") or ""
    return p or ""


# --------------------------------------------------------------- Pythons

def python_info(py):
    """(version 'X.Y.Z', test package dir) or None."""
    code = ("import sys, os\n"
            "try:\n import test; d = os.path.dirname(test.__file__)\n"
            "except Exception: d = ''\n"
            "print('%d.%d.%d' % sys.version_info[:3]); print(d)")
    try:
        p = subprocess.run([py, "-I", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           universal_newlines=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if p.returncode != 0:
        return None
    lines = p.stdout.splitlines()
    return (lines[0], lines[1] if len(lines) > 1 else "")


def default_pythons():
    out = [SYSTEM_PYTHON]
    for minor in MINORS:
        cands = glob.glob(os.path.join(PYENV_ROOT, "versions", "3.%d.*" % minor, "bin", "python3"))
        cands = [c for c in cands if re.fullmatch(r"3\.%d\.\d+" % minor,
                                                  c.split("/versions/")[1].split("/")[0])]
        if cands:
            out.append(max(cands, key=lambda c: int(c.split("/versions/")[1].split("/")[0]
                                                   .split(".")[2])))
    return out


def resolve_module(testdir, name):
    for cand in ALIASES.get(name, [name]):
        if os.path.exists(os.path.join(testdir, cand + ".py")) or \
                os.path.exists(os.path.join(testdir, cand, "__init__.py")):
            return cand
    return None


# --------------------------------------------------------------- running

def run(argv, timeout, cwd, env):
    """(rc, seconds, output tail); rc None on timeout."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             cwd=cwd, env=env, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # pysectrace forwards signals to its command; the group holds both
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            rc = None
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return rc, time.monotonic() - start, text


def result_line(text):
    m = re.findall(r"^(?:Result|Tests result): (.*)$", text, re.M)
    return m[-1].strip() if m else "?"


def read_records(path):
    recs = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        recs.append(json.loads(line))
                    except ValueError:
                        recs.append({"type": "unparsable", "line": line[:200]})
    except OSError:
        pass
    return recs


def target_of(a):
    if a.get("syscall") in ("connect", "sendto", "sendmsg", "sendmmsg"):
        if a.get("family") == "AF_UNIX":
            return "unix:" + path_text(a.get("path"))
        return "%s:%s:%s" % (a.get("family"), a.get("addr"), a.get("port"))
    if a.get("syscall") in ("execve", "execveat"):
        return path_text(a.get("path")) + " " + json.dumps(a.get("argv", [])[:4])
    return path_text(a.get("path"))


def generalize(path):
    """Collapse per-run names (temp dirs, pids, random suffixes) so that
    identical findings group, and cut very long names."""
    path = re.sub(r"/tmp/test_python_[\w.-]+", "/tmp/test_python_*", path)
    path = re.sub(r"/tmp/tmp[a-z0-9_]{8}", "/tmp/tmp*", path)
    path = re.sub(r"/tmp/[a-z0-9_]{8}(?=/|$)", "/tmp/<tempdir>", path)
    path = re.sub(r"@test_\d+_tmp\S*?(?=-journal|-wal|-shm|/|$)", "@test_*_tmp*", path)
    path = re.sub(r"/dev/shm/sem\.[A-Za-z0-9]{6}", "/dev/shm/sem.*", path)
    path = re.sub(r"/proc/\d+/", "/proc/PID/", path)
    path = re.sub(r"(.)\1{15,}", lambda m: "%s{%d}" % (m.group(1), len(m.group(0))), path)
    return path if len(path) <= 160 else path[:150] + "...(%d)" % len(path)


# frequent events with no IO of their own: skipped when showing what the
# thread did last
NOISE = {"builtins.id", "object.__getattr__", "object.__setattr__", "object.__delattr__",
         "sys._getframe", "sys._getframemodulename", "exec", "compile", "marshal.loads",
         "code.__new__", "function.__new__", "gc.get_referrers", "gc.get_objects",
         "sys.settrace", "sys.setprofile", "os.fspath"}


def last_events(a, n=3):
    evs = [c.get("event") for c in (a.get("context") or [])]
    sig = [e for e in evs if e not in NOISE]
    return " < ".join(reversed(sig[-n:])) or "(none)"


def summarize(alerts, version, test):
    """Group alerts by (kind, syscall, generalized target, flags, mapping)."""
    # the final record of a repeated alert carries the total: keep the max
    # per (pid, syscall, target, ip)
    per, first = {}, {}
    for a in alerts:
        k = (a.get("pid"), a.get("syscall"), target_of(a), (a.get("origin") or {}).get("ip"))
        first.setdefault(k, a)  # the first record carries the thread's context
        if k not in per or a.get("count", 1) >= per[k].get("count", 1):
            per[k] = a
    groups = {}
    for k, a in per.items():
        if not a.get("context") and first[k].get("context"):
            a = dict(a, context=first[k]["context"])
        key = (a.get("kind"), a.get("syscall"), generalize(target_of(a)), a.get("flags"),
               os.path.basename((a.get("origin") or {}).get("mapping") or "?"))
        g = groups.setdefault(key, {"count": 0, "expected": expected_for(a, version, test),
                                    "example": a, "last": []})
        g["count"] += a.get("count", 1)
        le = last_events(a)
        if le not in g["last"] and len(g["last"]) < 3:
            g["last"].append(le)
    return groups


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(TOP, "build"),
                    help="build directory holding pysectrace (default: build/)")
    ap.add_argument("--pythons", default=None,
                    help="comma/space separated interpreters (default: %s + pyenv 3.8-3.13 "
                         "under %s/versions)" % (SYSTEM_PYTHON, PYENV_ROOT))
    ap.add_argument("--tests", default=",".join(DEFAULT_TESTS),
                    help="comma separated test modules (default: %(default)s); "
                         "test_sqlite3 means test_sqlite on 3.8-3.10")
    ap.add_argument("--full", action="store_true",
                    help="run the modules whole (no quick-mode filters)")
    ap.add_argument("--show", default="alerts", choices=("alerts", "all"),
                    help="pysectrace --show for the traced run (all: for analysis; large)")
    ap.add_argument("--keep", default=None,
                    help="keep the traced output per Python/module in this directory")
    ap.add_argument("--json", default=None, help="write the grouped findings here as JSON")
    ap.add_argument("--timeout", type=int, default=900, help="per suite run, seconds")
    ap.add_argument("--no-untraced", action="store_true",
                    help="skip the run without the tracer (no exit status comparison)")
    a = ap.parse_args()

    tracer = os.path.join(os.path.abspath(a.build), "pysectrace")
    if os.geteuid() != 0:
        sys.exit("corpus: needs root (pysectrace loads BPF programs)")
    if not os.access(tracer, os.X_OK):
        sys.exit("corpus: %s missing: build first (make BUILD=%s)" % (tracer, a.build))
    pythons = re.split(r"[,\s]+", a.pythons.strip()) if a.pythons else default_pythons()
    tests = [t for t in re.split(r"[,\s]+", a.tests.strip()) if t]
    keep = os.path.abspath(a.keep) if a.keep else tempfile.mkdtemp(prefix="pysectrace-corpus-")
    os.makedirs(keep, exist_ok=True)

    env = dict(os.environ)
    for k in ("LD_PRELOAD", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYENV_VERSION"):
        env.pop(k, None)

    failures, report, timing = [], [], []
    for py in pythons:
        info = python_info(py)
        if not info:
            print("corpus: %s does not run: skipped" % py)
            failures.append("%s does not run" % py)
            continue
        version, testdir = info
        vshort = ".".join(version.split(".")[:2])
        label = "%s (%s)" % (py, version)
        mods = []
        for t in tests:
            m = resolve_module(testdir, t) if testdir else None
            if m is None:
                bare = not testdir or not os.path.exists(os.path.join(testdir, "test_os.py"))
                print("corpus: %s: no %s in %s%s" % (
                    label, t, testdir or "(no test package)",
                    " (Debian: apt-get install libpython%s-testsuite)" % vshort
                    if bare and py.startswith("/usr/bin/") else ""))
                continue
            mods.append(m)
        if not mods:
            failures.append("%s: none of the test modules exist" % label)
            continue
        print("\n=== %s: %s" % (label, " ".join(mods)))
        t_plain = t_traced = 0.0
        for mod in mods:
            filt = ALWAYS_FILTERS.get(mod, []) + ([] if a.full else QUICK_FILTERS.get(mod, []))
            suite = [py, "-m", "test", "-q", mod] + filt
            tag = "%s-%s" % (version, mod)
            out = os.path.join(keep, tag + ".jsonl")
            with tempfile.TemporaryDirectory(prefix="corpus-cwd-") as cwd:
                if a.no_untraced:
                    rc0, s0, txt0 = None, 0.0, ""
                else:
                    rc0, s0, txt0 = run(suite, a.timeout, cwd, env)
            with tempfile.TemporaryDirectory(prefix="corpus-cwd-") as cwd:
                rc1, s1, txt1 = run([tracer, "run", "--show", a.show, "--format", "json",
                                     "-o", out, "--"] + suite, a.timeout, cwd, env)
            with open(os.path.join(keep, tag + ".log"), "w") as f:
                f.write("$ %s\n%s\n--- traced:\n%s" % (" ".join(suite), txt0, txt1))
            t_plain += s0
            t_traced += s1
            recs = read_records(out)
            alerts = [r for r in recs if r.get("type") == "alert"]
            lost = [r for r in recs if r.get("type") == "lost"]
            groups = summarize(alerts, vshort, mod)
            status = "ok"
            if not a.no_untraced and rc0 != rc1:
                status = "EXIT STATUS DIFFERS"
                failures.append("%s %s: exit %s without the tracer, %s under it (%s / %s)" % (
                    label, mod, rc0, rc1, result_line(txt0), result_line(txt1)))
            elif rc1 is None:
                status = "TIMEOUT"
                failures.append("%s %s: timed out" % (label, mod))
            print("  %-16s plain %6.1fs rc=%-4s traced %6.1fs rc=%-4s %-20s alerts %d (%d kinds)%s %s"
                  % (mod, s0, rc0, s1, rc1, result_line(txt1)[:20], sum(g["count"] for g in groups.values()),
                     len(groups), " LOST %s" % [(x.get("stage"), x.get("count")) for x in lost]
                     if lost else "", status))
            for key, g in sorted(groups.items(), key=lambda kv: -kv[1]["count"]):
                kind, sc, target, flags, mapping = key
                ctx = " | ".join(g["last"])
                mark = "expected:%s" % g["expected"] if g["expected"] else "UNEXPECTED"
                print("      %4d %s %s %s flags=%s from %s | last: %s  [%s]"
                      % (g["count"], kind, sc, target, oflags(sc, flags), mapping, ctx, mark))
                if not g["expected"]:
                    f = "%s %s: unexpected alert %s %s %s" % (label, mod, kind, sc, target)
                    if f not in failures:
                        failures.append(f)
                report.append({"python": py, "version": version, "test": mod, "kind": kind,
                               "syscall": sc, "target": target, "flags": flags, "mapping": mapping,
                               "last_events": ctx, "count": g["count"], "expected": g["expected"],
                               "example": g["example"]})
            if lost:
                report.append({"python": py, "version": version, "test": mod, "lost": lost})
        timing.append((label, t_plain, t_traced))
        print("  time: plain %.1fs, traced %.1fs, total %.1fs" % (t_plain, t_traced, t_plain + t_traced))

    print("\n=== runtime per Python")
    for label, s0, s1 in timing:
        print("  %-55s plain %6.1fs  traced %6.1fs  total %6.1fs" % (label, s0, s1, s0 + s1))
    print("traced output kept in %s" % keep)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"findings": report, "timing": timing}, f, indent=1)
    if failures:
        print("\ncorpus: FAILED (%d):" % len(failures))
        for f in failures:
            print("  " + f)
        return 1
    print("\ncorpus: OK (every suite exits as without the tracer; every alert is expected)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
