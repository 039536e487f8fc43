#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end tests of pysectrace: `make e2e` runs
    /usr/bin/python3 tests/e2e/run_e2e.py --build build

Needs root and a kernel that loads the BPF object; fails loudly otherwise.
PYSECTRACE_E2E_OPTOUT=1 skips everything (reported as SKIPPED, exit 0).
Runs every tests/e2e/test_*.py module (unittest discovery) with
PYSECTRACE_BUILD set to the build directory and PYSECTRACE_E2E_PYTHONS to
the Pythons found (JSON list of {path, version, label}).
"""
import argparse
import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e_util as U  # noqa: E402


def die(msg):
    sys.stderr.write("\ne2e: FAILED: %s\n" % msg)
    sys.stdout.flush()
    sys.exit(2)


def preflight(build):
    if os.geteuid() != 0:
        die("the end-to-end tests need root (they load BPF programs); run them as root, "
            "or set PYSECTRACE_E2E_OPTOUT=1 to skip them explicitly")
    for name in ("pysectrace", "libpysechook.so", "pysechook.abi3.so"):
        path = os.path.join(build, name)
        if not os.path.exists(path):
            die("%s is missing: build first (make BUILD=%s)" % (path, build))
    argv = [os.path.join(build, "pysectrace"), "run", "--", "/bin/true"]
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=U.clean_env(), timeout=60, universal_newlines=True)
    except subprocess.TimeoutExpired:
        die("`%s` hung for 60 s" % " ".join(argv))
    if p.returncode != 0:
        die("`%s` exited %d, so the BPF object cannot be loaded/attached here:\n%s"
            % (" ".join(argv), p.returncode, (p.stderr + p.stdout).strip()))
    print("preflight: `%s` exited 0 (BPF loads and attaches)" % " ".join(argv))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(U.TOP, "build"),
                    help="build directory (default: build/ of the source tree)")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="only tests whose name contains this (unittest -k)")
    ap.add_argument("-q", "--quiet", action="store_true", help="less output")
    ap.add_argument("--module", action="append", default=[],
                    help="only this test module (test_run.py); repeatable")
    ap.add_argument("--max-pythons", type=int, default=0,
                    help="test /usr/bin/python3 and the newest N-1 other Pythons only")
    a = ap.parse_args()

    if os.environ.get("PYSECTRACE_E2E_OPTOUT") == "1":
        print("e2e: SKIPPED (PYSECTRACE_E2E_OPTOUT=1): no end-to-end test was run")
        return 0

    build = os.path.abspath(a.build)
    os.environ["PYSECTRACE_BUILD"] = build
    print("e2e: build directory %s" % build)
    preflight(build)

    print("e2e: Pythons:")
    pythons = U.discover_pythons(report=print)
    if not any(p["path"] == U.SYSTEM_PYTHON for p in pythons):
        die("%s (the Python every test needs) is missing or does not run" % U.SYSTEM_PYTHON)
    if a.max_pythons > 0:
        others = [p for p in pythons if p["path"] != U.SYSTEM_PYTHON]
        pythons = [p for p in pythons if p["path"] == U.SYSTEM_PYTHON] + \
            (others[-(a.max_pythons - 1):] if a.max_pythons > 1 else [])
        print("e2e: --max-pythons %d: %s" % (a.max_pythons,
                                             ", ".join(p["label"] for p in pythons)))
    pyenv = [p for p in pythons if p["label"].startswith("pyenv-")]
    if not pyenv:
        print("e2e: note: no pyenv CPython 3.8+ found; testing %s only" % U.SYSTEM_PYTHON)
    os.environ["PYSECTRACE_E2E_PYTHONS"] = json.dumps(pythons)

    loader = unittest.TestLoader()
    if a.patterns:
        loader.testNamePatterns = ["*%s*" % p for p in a.patterns]
    modules = sorted(f for f in os.listdir(HERE) if f.startswith("test_") and f.endswith(".py"))
    if a.module:
        missing = [m for m in a.module if m not in modules]
        if missing:
            die("no test module %s in %s" % (", ".join(missing), HERE))
        modules = a.module
    suite = unittest.TestSuite(loader.discover(start_dir=HERE, pattern=m, top_level_dir=HERE)
                               for m in modules)
    print("e2e: modules: %s; %d tests" % (", ".join(modules), suite.countTestCases()))
    sys.stdout.flush()

    all_tests = list(_tests(suite))  # the suite forgets its tests as they run
    t0 = time.monotonic()
    result = unittest.TextTestRunner(verbosity=1 if a.quiet else 2, stream=sys.stdout).run(suite)
    took = time.monotonic() - t0
    return summarize(all_tests, result, pythons, took)


def _tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _tests(t)
        else:
            yield t


def summarize(all_tests, result, pythons, took):
    """Per-Python and overall verdict; a test with failed subtests counts once."""
    def parent(t):
        return getattr(t, "test_case", t)  # a subtest's test

    failed = set()
    for t, _ in result.failures + result.errors:
        failed.add(parent(t).id())
    for t in result.unexpectedSuccesses:
        failed.add(parent(t).id())
    skipped = {parent(t).id() for t, _ in result.skipped}
    groups = {}
    for t in all_tests:
        cls = type(t)
        label = getattr(cls, "LABEL", None) or ("%s (once)" % cls.__name__
                                                if cls.__module__ != "unittest.loader"
                                                else "modules that failed to load")
        g = groups.setdefault(label, [0, 0, 0])
        g[0] += 1
        if t.id() in failed:
            g[1] += 1
        elif t.id() in skipped:
            g[2] += 1
    print("\ne2e: results")
    for label, (n, nf, ns) in groups.items():
        verdict = "FAILED" if nf else "ok"
        print("  %-34s %3d tests, %2d failed, %2d skipped: %s" % (label, n, nf, ns, verdict))
    if result.testsRun == 0:
        print("e2e: FAILED: no test ran")
        return 1
    if failed or not result.wasSuccessful():
        print("e2e: FAILED: %d of %d tests failed in %.0fs" % (
            len(failed), len(all_tests), took))
        for tid in sorted(failed):
            print("  FAILED %s" % tid)
        return 1
    print("e2e: passed: %d tests (%d skipped) in %.0fs with %s"
          % (result.testsRun, len(skipped), took, ", ".join(p["label"] for p in pythons)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
