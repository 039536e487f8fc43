# SPDX-License-Identifier: MIT
"""End-to-end tests of `pysectrace probe` (stdlib only).

Runs the real binary on this host: $PYSECTRACE_BUILD/pysectrace, else
../../build/pysectrace relative to this file.  Alone:
    /usr/bin/python3 -m unittest discover -s tests/e2e -p 'test_probe.py'
The host assertions (ring buffer, uprobes, BTF, /usr/bin/python3 carrying
the stock probe and taking the hook) hold on the Debian 12 / 6.18 hosts
pysectrace targets; the ring buffer one needs root.
"""
import json
import os
import re
import shutil
import subprocess
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("PYSECTRACE_BUILD") or os.path.join(HERE, "..", "..", "build")
BIN = os.path.abspath(os.path.join(BUILD, "pysectrace"))
SYSTEM_PYTHON = "/usr/bin/python3"

TOP_KEYS = {"pysectrace_version", "kernel", "identity", "checks", "pythons", "skipped", "plan"}
CHECK_KEYS = {"btf", "privileges", "ringbuf", "raw_tp", "tp_btf", "uprobes", "usdt_semaphores",
              "nop5_fork_safe",
              "uprobe_optimized", "fentry", "bpf_lsm", "cgroup_sock_addr", "cgroup_v2",
              "send_signal", "io_uring", "ia32_syscalls", "kprobes"}
PYTHON_KEYS = {"path", "realpath", "version", "abiflags", "libpython", "dynamic",
               "exports_audit_hook_api", "hook_capable", "stock_audit_probe",
               "stock_audit_probe_semaphore"}
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def run(args, prefix=()):
    """Run pysectrace with args; a hang is a failure, not a stuck suite."""
    return subprocess.run(list(prefix) + [BIN] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)


def probe_json(prefix=()):
    p = run(["probe", "--format", "json"], prefix)
    if p.returncode != 0:
        raise AssertionError("probe --format json exited %d: %s" % (p.returncode, p.stderr))
    return json.loads(p.stdout)


def nobody_can_run():
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return False
    return subprocess.run(NOBODY + ["test", "-x", BIN]).returncode == 0


@unittest.skipUnless(os.access(BIN, os.X_OK), "%s not built" % BIN)
class ProbeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.report = probe_json()

    def python(self, path):
        real = os.path.realpath(path)
        for py in self.report["pythons"]:
            if py["path"] == path or py["realpath"] == real:
                return py
        self.fail("%s not among the Pythons found: %s"
                  % (path, [p["path"] for p in self.report["pythons"]]))

    def test_json_shape(self):
        r = self.report
        self.assertEqual(set(r), TOP_KEYS)
        self.assertEqual(set(r["kernel"]), {"release", "machine"})
        self.assertEqual(r["kernel"]["release"], os.uname().release)
        self.assertEqual(set(r["checks"]), CHECK_KEYS)
        for key, c in r["checks"].items():
            with self.subTest(check=key):
                self.assertIn(c["available"], (True, False, None))
                self.assertTrue(c["detail"], "a check without a reason")
        for py in r["pythons"]:
            self.assertLessEqual(PYTHON_KEYS, set(py))
        for item in r["plan"]:
            self.assertEqual(set(item), {"area", "use", "why"})
        areas = {item["area"] for item in r["plan"]}
        for area in ("event transport", "audit events", "syscalls", "process tracking",
                     "file/exec enforcement", "network enforcement", "io_uring",
                     "interpreters"):
            self.assertIn(area, areas)

    def test_host_features(self):
        c = self.report["checks"]
        self.assertIs(c["btf"]["available"], True, c["btf"]["detail"])
        self.assertIs(c["uprobes"]["available"], True, c["uprobes"]["detail"])
        self.assertIs(c["usdt_semaphores"]["available"], True)

    @unittest.skipUnless(os.geteuid() == 0, "creating a ring buffer needs root")
    def test_ringbuf_as_root(self):
        c = self.report["checks"]["ringbuf"]
        self.assertIs(c["available"], True, c["detail"])

    @unittest.skipUnless(os.geteuid() == 0, "attaching the test uprobe needs root")
    def test_uprobe_optimization_decided(self):
        c = self.report["checks"]["uprobe_optimized"]
        self.assertIn(c["state"], ("optimized", "int3 trap", "unknown"))
        self.assertNotEqual(c["state"], "unknown", c["detail"])

    @unittest.skipUnless(os.geteuid() == 0, "attaching the test uprobe needs root")
    def test_nop5_fork_test_decided(self):
        """Where uprobes are optimized, the fork-after-hit test gives a verdict,
        the plan says what it means, and the hook keeps its 1-byte nop site
        unless that verdict is "safe"."""
        opt = self.report["checks"]["uprobe_optimized"]
        c = self.report["checks"]["nop5_fork_safe"]
        if opt["state"] != "optimized":
            self.assertEqual(c["state"], "not needed", c)
            return
        self.assertIn(c["state"], ("safe", "crashes"), c["detail"])
        cost = [p for p in self.report["plan"] if p["area"] == "probe cost"]
        self.assertEqual(len(cost), 1, self.report["plan"])
        self.assertIn("does not use one" if c["state"] == "crashes" else "fork-safe here",
                      cost[0]["why"])
        if c["state"] == "crashes":
            self.assertEqual(self.site_opcode(), "90", "the hook's probe site must stay a "
                             "1-byte nop on a kernel where the nop5 test crashes")

    def site_opcode(self):
        """First byte of the hook's pysectrace:audit probe site (readelf, objdump)."""
        lib = os.path.join(os.environ.get("PYSECTRACE_BUILD", "build"), "libpysechook.so")
        notes = subprocess.run(["readelf", "-n", lib], capture_output=True, text=True).stdout
        m = re.search(r"Provider: pysectrace\s+Name: audit\s+Location: (0x[0-9a-f]+)", notes)
        self.assertIsNotNone(m, "no pysectrace:audit note in %s" % lib)
        loc = int(m.group(1), 16)
        dis = subprocess.run(["objdump", "-d", "--start-address=%d" % loc,
                              "--stop-address=%d" % (loc + 1), lib],
                             capture_output=True, text=True).stdout
        m = re.search(r"^\s*%x:\s+([0-9a-f]{2})" % loc, dis, re.M)
        self.assertIsNotNone(m, dis)
        return m.group(1)

    def test_system_python(self):
        if not os.path.exists(SYSTEM_PYTHON):
            self.skipTest("no %s" % SYSTEM_PYTHON)
        py = self.python(SYSTEM_PYTHON)
        self.assertIs(py["stock_audit_probe"], True, py)
        self.assertIs(py["hook_capable"], True, py)
        self.assertIs(py["exports_audit_hook_api"], True, py)

    def test_pythons_deduplicated(self):
        reals = [p["realpath"] for p in self.report["pythons"]]
        self.assertEqual(len(reals), len(set(reals)), reals)

    def test_text_output(self):
        p = run(["probe"])
        self.assertEqual(p.returncode, 0, p.stderr)
        for heading in ("kernel features", "pythons", "plan"):
            self.assertIn("\n%s" % heading, p.stdout)
        self.assertIn(SYSTEM_PYTHON, p.stdout)

    def test_help_and_usage_errors(self):
        p = run(["probe", "--help"])
        self.assertEqual(p.returncode, 0)
        self.assertIn("--format", p.stdout)
        self.assertEqual(run(["probe", "--format", "xml"]).returncode, 2)
        self.assertEqual(run(["probe", "stray"]).returncode, 2)

    @unittest.skipUnless(nobody_can_run(), "needs root, setpriv and a build nobody can run")
    def test_unprivileged_reports_unchecked(self):
        r = probe_json(NOBODY)
        c = r["checks"]
        self.assertIs(r["identity"]["root"], False)
        self.assertIs(c["privileges"]["available"], False)
        for key in ("ringbuf", "tp_btf", "fentry", "uprobe_optimized"):
            with self.subTest(check=key):
                self.assertIsNone(c[key]["available"], c[key]["detail"])
                self.assertIn("not checked", c[key]["detail"])
        self.assertIs(c["btf"]["available"], True)


if __name__ == "__main__":
    unittest.main()
