# SPDX-License-Identifier: MIT
"""Shared helpers of the pysectrace end-to-end tests (stdlib only).

The build directory comes from $PYSECTRACE_BUILD (set by run_e2e.py; the
default is build/ at the top of the source tree).  The Pythons to test come
from $PYSECTRACE_E2E_PYTHONS (a JSON list written by run_e2e.py) or are
discovered again.
"""
import glob
import json
import os
import re
import signal
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

SYSTEM_PYTHON = "/usr/bin/python3"
MIN_VERSION = (3, 8)
DEFAULT_TIMEOUT = 60

AUDIT_KEYS = ("schema_version", "type", "time", "mono_ns", "pid", "tid", "comm")
RFC3339_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def build_dir():
    return os.path.abspath(os.environ.get("PYSECTRACE_BUILD") or os.path.join(TOP, "build"))


def tracer():
    return os.path.join(build_dir(), "pysectrace")


def hook_lib():
    return os.path.join(build_dir(), "libpysechook.so")


# ---------------------------------------------------------------- Pythons


def python_version(py):
    """(major, minor, micro) of the interpreter py, or None if it does not run."""
    try:
        out = subprocess.run(
            [py, "-c", "import sys;print(tuple(sys.version_info[:3]))"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=clean_env(),
            timeout=30, universal_newlines=True)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    m = re.match(r"^\((\d+), (\d+), (\d+)\)$", out.stdout.strip())
    return tuple(int(x) for x in m.groups()) if m else None


def candidate_pythons():
    """/usr/bin/python3 first, then every pyenv CPython 3.x (realpath-deduplicated)."""
    cands = [SYSTEM_PYTHON]
    roots = ["/root/.pyenv"]
    if os.environ.get("PYENV_ROOT"):
        roots.append(os.environ["PYENV_ROOT"])
    pyenv = []
    for root in roots:
        pyenv.extend(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3")))

    def vkey(p):
        ver = os.path.basename(os.path.dirname(os.path.dirname(p)))
        return [int(x) if x.isdigit() else x for x in re.split(r"[.]", ver)], p

    cands.extend(sorted(set(pyenv), key=vkey))
    seen, out = set(), []
    for p in cands:
        rp = os.path.realpath(p)
        if rp in seen:
            continue
        seen.add(rp)
        out.append(p)
    return out


def label_for(py, version):
    v = ".".join(str(x) for x in version)
    if os.path.realpath(py).startswith("/usr/bin/"):
        return "system-%s" % v
    if "/.pyenv/" in py or (os.environ.get("PYENV_ROOT") and py.startswith(os.environ["PYENV_ROOT"])):
        return "pyenv-%s" % v
    return "%s-%s" % (py.replace("/", "_").strip("_"), v)


def discover_pythons(report=None):
    """List of dicts {path, version, label} of Pythons >= 3.8.

    report(msg) is called for every candidate, kept or not."""
    found = []
    for py in candidate_pythons():
        if not os.path.exists(py):
            if report:
                report("  %-45s missing" % py)
            continue
        ver = python_version(py)
        if ver is None:
            if report:
                report("  %-45s does not run: skipped" % py)
            continue
        if ver[:2] < MIN_VERSION:
            if report:
                report("  %-45s %s: older than 3.8 (no PySys_AddAuditHook): skipped"
                       % (py, ".".join(map(str, ver))))
            continue
        found.append({"path": py, "version": list(ver), "label": label_for(py, ver)})
        if report:
            report("  %-45s %s: tested as %s" % (py, ".".join(map(str, ver)), found[-1]["label"]))
    return found


def pythons_under_test():
    env = os.environ.get("PYSECTRACE_E2E_PYTHONS")
    if env:
        return json.loads(env)
    return discover_pythons()


# ---------------------------------------------------------------- running


def clean_env(**extra):
    """The environment for traced commands: nothing that would change the hook."""
    env = dict(os.environ)
    for k in ("LD_PRELOAD", "LD_BIND_NOW", "PYSECTRACE_HOOK_LIB", "PYTHONPATH", "PYTHONHOME",
              "PYTHONSTARTUP", "PYTHONINSPECT", "PYENV_VERSION"):
        env.pop(k, None)
    env.update(extra)
    return env


class Result(object):
    def __init__(self, argv, rc, stdout, stderr, records, raw, tracer_pid, elapsed):
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.records = records
        self.raw = raw
        self.tracer_pid = tracer_pid
        self.elapsed = elapsed

    def stdout_lines(self):
        return self.stdout.splitlines()

    def audit(self, event=None, pid=None, **match):
        out = []
        for r in self.records:
            if r.get("type") != "audit":
                continue
            if event is not None and r.get("event") != event:
                continue
            if pid is not None and r.get("pid") != pid:
                continue
            if any(r.get(k) != v for k, v in match.items()):
                continue
            out.append(r)
        return out

    def opens_of(self, path, pid=None):
        return [r for r in self.audit("open", pid=pid)
                if r.get("args") and r["args"][0] == path]

    def process(self, action=None, pid=None):
        return [r for r in self.records if r.get("type") == "process"
                and (action is None or r.get("action") == action)
                and (pid is None or r.get("pid") == pid)]

    def describe(self, limit=2000):
        """What to show when an assertion fails."""
        events = {}
        for r in self.records:
            key = r.get("event") or r.get("action") or r.get("type")
            events[key] = events.get(key, 0) + 1
        summary = ", ".join("%s x%d" % kv for kv in sorted(events.items())[:40])
        return ("\n  command: %s\n  exit status: %s (%.2fs)\n  stdout: %r\n  stderr: %r\n"
                "  %d records: %s" % (
                    " ".join(self.argv), self.rc, self.elapsed, self.stdout[:limit],
                    self.stderr[:limit], len(self.records), summary))


def parse_json_lines(text, where="output"):
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            raise AssertionError("%s line %d is empty" % (where, n))
        try:
            rec = json.loads(line)
        except ValueError as e:
            raise AssertionError("%s line %d is not JSON (%s): %r" % (where, n, e, line[:300]))
        if not isinstance(rec, dict):
            raise AssertionError("%s line %d is not a JSON object: %r" % (where, n, line[:300]))
        records.append(rec)
    return records


def run_cmd(argv, timeout=DEFAULT_TIMEOUT, env=None, preexec_fn=None, stdin=subprocess.DEVNULL):
    """Run argv in its own session; kill the whole session on timeout."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env if env is not None else clean_env(), start_new_session=True,
                         preexec_fn=preexec_fn)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = p.communicate()
        raise AssertionError("timed out after %ss: %s\nstdout: %r\nstderr: %r" % (
            timeout, " ".join(argv), out[-2000:], err[-2000:]))
    return (p.pid, p.returncode, out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"), time.monotonic() - t0)


def trace(command, fmt="json", show=None, opts=(), output=True, timeout=DEFAULT_TIMEOUT, env=None,
          preexec_fn=None):
    """pysectrace run [--format fmt] [--show show] [opts] -o FILE -- command.

    With output=False no -o is given (records go to stderr) and nothing is
    parsed.  Records of --format json are parsed into Result.records."""
    argv = [tracer(), "run"]
    if fmt:
        argv += ["--format", fmt]
    if show:
        argv += ["--show", show]
    argv += list(opts)
    fd, path = None, None
    if output:
        fd, path = tempfile.mkstemp(prefix="pysectrace-e2e-", suffix=".out")
        os.close(fd)
        argv += ["-o", path]
    argv += ["--"] + list(command)
    try:
        pid, rc, out, err, elapsed = run_cmd(argv, timeout=timeout, env=env, preexec_fn=preexec_fn)
        raw = ""
        if path:
            with open(path, "rb") as f:
                raw = f.read().decode("utf-8", "replace")
    finally:
        if path:
            os.unlink(path)
    records = []
    res = Result(argv, rc, out, err, records, raw, pid, elapsed)
    if fmt == "json" and output:
        try:
            records.extend(parse_json_lines(raw, "-o file"))
        except AssertionError as e:
            raise AssertionError("%s%s" % (e, res.describe()))
    return res


def strict_equal(a, b):
    """== that also tells bool from int and int from float (JSON types)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    return a == b
