#!/usr/bin/python3
"""bench.py — `make bench`: what pysectrace costs, next to what its peers cost.

Five workloads (W1 open-heavy, W2 loopback TCP connects, W3 subprocess
/bin/true, W4 audit events without I/O, W5 a mixed start-up-like job) plus
W0 (interpreter start-up: `python -c pass`), each run under every
configuration (plain python, an A/A copy of it, a no-op C hook, our hook
without a tracer, `pysectrace run` in three views, `pysectrace record` when
the verb exists, and the peers: a Python-level logging hook, strace
--seccomp-bpf, bpftrace on the stock python:audit probe), in rounds whose
order is shuffled.  Ratios are taken to plain python of the same round.
Then the pipeline's events/s ceiling with its loss accounting.

Stdlib only; run with /usr/bin/python3 as root.  See BENCHMARKS.md.
"""
import argparse
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_hook as bh  # noqa: E402  (shared helpers: noop hook, private hook copy)

RUN_TIMEOUT = 600
CHUNKS = 20

PRELUDE = r'''
import json, os, sys, time

def report(elapsed, units, chunks):
    import ctypes
    me = ctypes.CDLL(None)
    armed = {}
    for sym in ("pysechook_armed_in_process", "noophook_armed"):
        try:
            armed[sym] = ctypes.c_int.in_dll(me, sym).value
        except ValueError:
            armed[sym] = None
    print("BENCH " + json.dumps({"elapsed": elapsed, "units": units,
                                 "steady": min(chunks) * len(chunks),
                                 "chunks": chunks, "armed": armed}), flush=True)

def timed(nchunks, per, body):
    clock = time.perf_counter
    chunks = []
    t0 = clock()
    for _ in range(nchunks):
        c0 = clock()
        body(per)
        chunks.append(clock() - c0)
    report(clock() - t0, nchunks * per, chunks)
'''

# Every workload: argv = nchunks, units per chunk, data dir.
SCRIPTS = {
    "W0": r'''
import subprocess
def body(n):
    for _ in range(n):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
timed(int(sys.argv[1]), int(sys.argv[2]), body)
''',
    "W1": r'''
path = os.path.join(sys.argv[3], "small.txt")
def body(n):
    for _ in range(n):
        with open(path, "rb") as f:
            f.read()
timed(int(sys.argv[1]), int(sys.argv[2]), body)
''',
    "W2": r'''
import socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(512)
addr = srv.getsockname()
def body(n):
    for _ in range(n):
        c = socket.socket()
        c.connect(addr)
        s, _ = srv.accept()
        s.close()
        c.close()
timed(int(sys.argv[1]), int(sys.argv[2]), body)
''',
    "W3": r'''
import subprocess
def body(n):
    for _ in range(n):
        subprocess.run(["/bin/true"], check=True)
timed(int(sys.argv[1]), int(sys.argv[2]), body)
''',
    "W4": r'''
class K: pass
class L: pass
def body(n):
    x = object()
    o = K()
    getframe = sys._getframe
    for _ in range(n // 10):
        # one unit = one audit event, none does I/O
        id(x); id(x); id(x); id(x); getframe(); getframe(); getframe()
        o.__class__ = L; o.__class__ = K; id(o)
timed(int(sys.argv[1]), int(sys.argv[2]), body)
''',
    "W5": r'''
import importlib
# a service starting up: imports from disk, config parsing, json, files
MODS = ["json", "json.decoder", "json.encoder", "json.scanner", "textwrap",
        "configparser", "string", "shlex", "fnmatch", "csv", "gettext"]
data = os.path.join(sys.argv[3], "small.txt")
cfg = os.path.join(sys.argv[3], "app.json")
def body(n):
    for _ in range(n):
        for m in MODS:
            sys.modules.pop(m, None)
        for m in MODS:
            importlib.import_module(m)
        import json as j
        with open(cfg) as f:
            doc = j.load(f)
        for _ in range(20):
            doc = j.loads(j.dumps(doc))
        with open(data, "rb") as f:
            f.read()
        os.listdir(sys.argv[3])
        os.stat(cfg)
timed(int(sys.argv[1]), int(sys.argv[2]), body)
''',
}

# name: (what one unit is, full units, quick units)
WORKLOADS = {
    "W0": ("python -c pass started", 20, 20),
    "W1": ("open/read/close", 12_000, 4_000),
    "W2": ("TCP connect+accept on loopback", 3_000, 1_000),
    "W3": ("subprocess.run(['/bin/true'])", 80, 40),
    "W4": ("audit event without I/O", 100_000, 40_000),
    "W5": ("start-up unit: 11 imports, json, file IO", 40, 20),
}

# A Python-level logging hook, the way PySecurityManager-style tools do it.
PYHOOK = r'''
import sys, runpy
_log = open("/dev/null", "w")
def _hook(event, args):
    _log.write("%s %r\n" % (event, args))
sys.addaudithook(_hook)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
'''

BPFTRACE_PROG = ('usdt:%s:python:audit { printf("%%d %%s\\n", pid, str(arg0)); }')


class Config:
    def __init__(self, key, label, prefix=(), preload=None, expect=None, kind="base",
                 wrap=None, ready=None):
        self.key, self.label, self.prefix = key, label, list(prefix)
        self.preload, self.expect, self.kind = preload, expect, kind
        self.wrap = wrap      # a script run in front of the workload (python hook)
        self.ready = ready    # a file the tool must have written before timing counts


def parse_args():
    ap = argparse.ArgumentParser(description="pysectrace benchmark (see BENCHMARKS.md)")
    ap.add_argument("--build", default="build")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--rounds", type=int, default=None, help="default 7 (3 with --quick)")
    ap.add_argument("--quick", action="store_true", help="5x smaller workloads, 3 rounds")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="e.g. W1,W4")
    ap.add_argument("--configs", default=None, help="only these configuration keys")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", default=None, help="default BUILD/bench.json")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the events/s ceiling")
    ap.add_argument("--ceiling-seconds", type=float, default=None)
    a = ap.parse_args()
    if a.rounds is None:
        a.rounds = 3 if a.quick else 7
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 32)
    return a


def note(notes, msg):
    notes.append(msg)
    print("note: " + msg, flush=True)


def tracer_verbs(tracer):
    try:
        out = subprocess.run([tracer, "--help"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {l.split()[0] for l in out.splitlines() if l.startswith("  ") and l.split()}


def run_one(cfg, script, n, data_dir, python, env):
    per = max(n // CHUNKS, 1)
    cmd = [python] + ([cfg.wrap] if cfg.wrap else []) + [script, str(CHUNKS), str(per),
                                                         data_dir]
    # bpftrace -c takes one string; our paths hold no spaces
    argv = cfg.prefix + ([" ".join(cmd)] if cfg.key == "bpftrace" else cmd)
    e = dict(env)
    if cfg.preload:
        e["LD_PRELOAD"] = cfg.preload
    t0 = time.perf_counter()
    try:
        p = subprocess.run(argv, env=e, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after %d s" % RUN_TIMEOUT}
    s = {"wall": time.perf_counter() - t0, "rc": p.returncode}
    line = next((l for l in reversed(p.stdout.splitlines()) if l.startswith("BENCH ")), None)
    if p.returncode != 0 or line is None:
        s["error"] = "exit %d, no result\n%s" % (p.returncode, bh.tail(p.stderr + p.stdout))
        return s
    r = json.loads(line[6:])
    s.update(elapsed=r["elapsed"], steady=r["steady"], units=r["units"])
    for sym in ("pysechook_armed_in_process", "noophook_armed"):
        want = sym == cfg.expect
        got = r["armed"].get(sym)
        if (want and got != 1) or (not want and got is not None):
            s["error"] = "%s = %r, expected %s" % (sym, got, "1" if want else "absent")
    return s


def ratio(xs, ys, field="elapsed"):
    return bh.ratio_stats(xs, ys, field)


def fmt_ratio(st):
    if not st:
        return "n/a"
    if st["median"] >= 20:
        return "%.0f [%.0f–%.0f]" % (st["median"], st["q1"], st["q3"])
    return "%.2f [%.2f–%.2f]" % (st["median"], st["q1"], st["q3"])


def make_configs(a, build, bench_dir, tmp, python, env, notes):
    hook_lib = bh.private_hook(build, bench_dir)
    noop_lib = bh.build_noophook(bench_dir)
    pyhook = os.path.join(tmp, "pyhook.py")
    with open(pyhook, "w") as f:
        f.write(PYHOOK)
    configs = [
        Config("plain", "plain python"),
        Config("plain2", "plain python again (A/A noise)"),
        Config("noop", "no-op C hook (PEP 578 floor)", preload=noop_lib,
               expect="noophook_armed"),
        Config("hook", "pysechook, no tracer", preload=hook_lib,
               expect="pysechook_armed_in_process"),
    ]
    why, tracer = bh.check_tracer(build, env)
    if why:
        note(notes, "tracer configurations skipped: " + why)
    else:
        run = [tracer, "run", "--hook-lib", hook_lib]
        hooked = "pysechook_armed_in_process"
        configs += [
            Config("run-alerts", "pysectrace run --show alerts",
                   run + ["--show", "alerts", "-o", "/dev/null", "--"], expect=hooked,
                   kind="ours"),
            Config("run-audit", "pysectrace run (default view)",
                   run + ["-o", "/dev/null", "--"], expect=hooked, kind="ours"),
            Config("run-all", "pysectrace run --show all",
                   run + ["--show", "all", "-o", "/dev/null", "--"], expect=hooked,
                   kind="ours"),
        ]
        if "record" in tracer_verbs(tracer):
            cap = os.path.join(tmp, "bench.capture")
            configs.append(Config("record", "pysectrace record",
                                  [tracer, "record", "--hook-lib", hook_lib, "-o", cap, "--"],
                                  expect=hooked, kind="ours"))
        else:
            note(notes, "pysectrace record: n/a (verb absent)")
    configs.append(Config("pyhook", "peer: Python logging audit hook", wrap=pyhook,
                          kind="peer"))
    strace = shutil.which("strace")
    if strace and a.have_strace:
        configs.append(Config("strace", "peer: strace -f --seccomp-bpf",
                              [strace, "-f", "--seccomp-bpf", "-qq", "-o", "/dev/null",
                               "-e", "trace=open,openat,openat2,creat,connect,execve,"
                               "execveat", "--"], kind="peer"))
    else:
        note(notes, "strace: n/a (not installed)")
    bpftrace = shutil.which("bpftrace")
    if bpftrace and os.geteuid() == 0:
        configs.append(Config("bpftrace", "peer: bpftrace on python:audit",
                              [bpftrace, "-q", "-o", "/dev/null", "-e",
                               BPFTRACE_PROG % os.path.realpath(python), "-c"],
                              kind="peer"))
    else:
        note(notes, "bpftrace: n/a (%s)" % ("not root" if bpftrace else "not installed"))
    if a.configs:
        want = set(a.configs.split(",")) | {"plain", "plain2"}
        configs = [c for c in configs if c.key in want]
    return configs, tracer, hook_lib


# ---- events/s ceiling ---------------------------------------------------------

CEILING_SCRIPT = r'''
import sys, threading, time
stop = time.monotonic() + float(sys.argv[1])
def spin():
    n = 0
    audit = sys.audit
    while time.monotonic() < stop:
        for _ in range(100):
            audit("bench.ceiling", n)
            n += 1
for t in [threading.Thread(target=spin) for _ in range(int(sys.argv[2]) - 1)]:
    t.start()
spin()
'''


def ceiling(tracer, hook_lib, python, env, tmp, seconds, producers, view):
    """Producers raise audit events as fast as they can under `pysectrace run
    --format json`; hook seq numbers say how many were produced, the output
    how many arrived and how many the tracer reports lost."""
    script = os.path.join(tmp, "ceiling.py")
    out = os.path.join(tmp, "ceiling.jsonl")
    with open(script, "w") as f:
        f.write(CEILING_SCRIPT)
    # --show all: the other views hide I/O-free events, which are counted here
    cmd = [tracer, "run", "--hook-lib", hook_lib, "--format", "json", "--show", "all",
           "-o", out, "--", "/bin/sh", "-c",
           " ".join("%s %s %s 1 &" % (python, script, seconds) for _ in range(producers))
           + " wait"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=RUN_TIMEOUT)
    wall = time.perf_counter() - t0
    # per process image: produced = highest seq (exec/exit records carry the
    # kernel's count, which survives lost records), received = records
    cur, produced, received, lost, bench = {}, 0, 0, {}, 0
    with open(out, errors="replace") as f:
        for line in f:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            t = o.get("type")
            if t == "audit":
                mx, got = cur.get(o["pid"], (0, 0))
                cur[o["pid"]] = (max(mx, o.get("seq", 0)), got + 1)
                bench += o.get("event") == "bench.ceiling"
            elif t == "process" and o.get("action") in ("exec", "exit"):
                mx, got = cur.pop(o["pid"], (0, 0))
                produced += max(mx, o.get("last_seq", 0))
                received += got
            elif t == "lost":
                lost[o["stage"]] = lost.get(o["stage"], 0) + o["count"]
    for mx, got in cur.values():
        produced += mx
        received += got
    missing = produced - received
    total_lost = lost.get("kernel_ringbuf", 0) + lost.get("kernel_shed", 0)
    return {"producers": producers, "seconds": seconds, "view": view,
            "rc": p.returncode, "wall_s": wall,
            "produced": produced, "received": received, "bench_events": bench,
            "missing_by_seq": missing, "reported_lost": lost,
            "unaccounted": max(missing - total_lost, 0),
            "received_per_s": received / seconds, "produced_per_s": produced / seconds,
            "stderr_tail": bh.tail(p.stderr, 3)}


# ---- main ---------------------------------------------------------------------


def main():
    a = parse_args()
    build = os.path.abspath(a.build)
    python = a.python
    bench_dir = os.path.join(build, "bench")
    os.makedirs(bench_dir, exist_ok=True)
    json_path = a.json or os.path.join(build, "bench.json")
    if not os.path.exists(os.path.join(build, "libpysechook.so")):
        sys.exit("bench: %s/libpysechook.so is missing: run `make` first" % build)
    a.have_strace = subprocess.run(["strace", "--seccomp-bpf", "-f", "-qq", "-o", "/dev/null",
                                    "/bin/true"], capture_output=True).returncode == 0 \
        if shutil.which("strace") else False
    env = bh.clean_env()
    notes = []
    wls = [w for w in a.workloads.split(",") if w]
    for w in wls:
        if w not in WORKLOADS:
            sys.exit("bench: unknown workload %r (have %s)" % (w, ",".join(WORKLOADS)))
    sizes = {w: WORKLOADS[w][2 if a.quick else 1] for w in wls}
    vers = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                          capture_output=True, text=True, env=env).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        with open(os.path.join(tmp, "small.txt"), "w") as f:
            f.write("pysectrace bench: a small file\n" * 3)
        with open(os.path.join(tmp, "app.json"), "w") as f:
            json.dump({"name": "svc", "workers": 4, "routes": [
                {"path": "/r%d" % i, "methods": ["GET", "POST"], "timeout": 1.5}
                for i in range(30)]}, f)
        scripts = {}
        for w in wls:
            scripts[w] = os.path.join(tmp, w + ".py")
            with open(scripts[w], "w") as f:
                f.write(PRELUDE + SCRIPTS[w])
        configs, tracer, hook_lib = make_configs(a, build, bench_dir, tmp, python, env, notes)
        print("bench: python %s (%s), kernel %s, %d CPUs, %d rounds, seed %d%s"
              % (vers, python, platform.release(), os.cpu_count() or 0, a.rounds, a.seed,
                 ", QUICK" if a.quick else ""), flush=True)
        # warm-up: every pair once, small; a configuration that fails is dropped
        for cfg in list(configs):
            for w in wls:
                s = run_one(cfg, scripts[w], max(sizes[w] // 20, CHUNKS), tmp, python, env)
                if "error" in s:
                    if cfg.key == "plain":
                        sys.exit("bench: plain python failed: " + s["error"])
                    note(notes, "%s: n/a (warm-up of %s failed: %s)"
                         % (cfg.label, w, s["error"].replace("\n", " | ")))
                    configs.remove(cfg)
                    break
        rng = random.Random(a.seed)
        samples = {(c.key, w): [] for c in configs for w in wls}
        pairs = [(c, w) for c in configs for w in wls]
        t_start = time.monotonic()
        for r in range(a.rounds):
            order = pairs[:]
            rng.shuffle(order)
            for cfg, w in order:
                s = run_one(cfg, scripts[w], sizes[w], tmp, python, env)
                s["round"] = r
                samples[(cfg.key, w)].append(s)
                if "error" in s:
                    print("\n  round %d %s %s: %s" % (r + 1, cfg.key, w, s["error"]),
                          flush=True)
            print("\rround %d/%d done (%.0f s)" % (r + 1, a.rounds, time.monotonic() - t_start),
                  end="", flush=True)
        print()
        ceil = []
        if not a.no_ceiling and tracer and any(c.kind == "ours" for c in configs):
            secs = a.ceiling_seconds or (3 if a.quick else 8)
            for producers, view in ((1, "all"), (2, "all"), (4, "all")):
                try:
                    ceil.append(ceiling(tracer, hook_lib, python, env, tmp, secs, producers,
                                        view))
                except (OSError, subprocess.TimeoutExpired) as e:
                    note(notes, "ceiling run failed: %s" % e)

    summary = {}
    for w in wls:
        base = samples[("plain", w)]
        summary[w] = {}
        for c in configs:
            cur = samples[(c.key, w)]
            ok = [x for x in cur if bh.valid(x)]
            summary[w][c.key] = {
                "label": c.label, "valid_rounds": len(ok),
                "median_s": statistics.median(x["elapsed"] for x in ok) if ok else None,
                "ratio": ratio(cur, base), "steady_ratio": ratio(cur, base, "steady")}
    noise = {}
    for w in wls:
        aa = summary[w].get("plain2", {}).get("ratio")
        noise[w] = max(abs(aa["median"] - 1), (aa["q3"] - aa["q1"]) / 2) if aa else None

    # the table
    print()
    print("ratios to plain python of the same round: median [IQR] over %d rounds" % a.rounds)
    hdr = "| configuration | " + " | ".join(w for w in wls) + " |"
    lines = [hdr, "|---|" + "---|" * len(wls)]
    lines.append("| plain python, median s | " + " | ".join(
        "%.3f" % summary[w]["plain"]["median_s"] for w in wls) + " |")
    for c in configs:
        if c.key == "plain":
            continue
        lines.append("| %s | %s |" % (c.label, " | ".join(
            fmt_ratio(summary[w][c.key]["ratio"]) for w in wls)))
    for m in notes:
        if m.endswith("(verb absent)"):
            lines.append("| pysectrace record | " + " | ".join("n/a" for _ in wls) + " |")
    lines.append("| noise (A/A: max of \\|median−1\\|, IQR/2) | " + " | ".join(
        "±%.1f%%" % (100 * noise[w]) if noise[w] is not None else "?" for w in wls) + " |")
    table = "\n".join(lines)
    print(table)
    print("units: " + "; ".join("%s %s × %s" % (w, "{:,}".format(sizes[w]), WORKLOADS[w][0])
                               for w in wls))
    if ceil:
        print()
        print("events/s ceiling (audit events raised as fast as possible, hook seq vs received):")
        print("| producers | view | produced/s | received/s | missing by seq | reported lost "
              "| unaccounted |")
        print("|---|---|---|---|---|---|---|")
        for c in ceil:
            print("| %d | %s | %.0f | %.0f | %d | %s | %d |" % (
                c["producers"], c["view"], c["produced_per_s"], c["received_per_s"],
                c["missing_by_seq"], json.dumps(c["reported_lost"]) if c["reported_lost"]
                else "0", c["unaccounted"]))
    for m in notes:
        print("note: " + m)
    result = {
        "tool": "tools/bench.py",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"kernel": platform.release(), "cpus": os.cpu_count()},
        "python": {"path": python, "version": vers},
        "rounds": a.rounds, "quick": a.quick, "seed": a.seed,
        "workloads": {w: {"units": sizes[w], "unit": WORKLOADS[w][0]} for w in wls},
        "configs": {c.key: {"label": c.label, "argv_prefix": c.prefix, "preload": c.preload,
                            "kind": c.kind} for c in configs},
        "notes": notes, "noise": noise, "summary": summary, "ceiling": ceil,
        "table_markdown": table,
        "samples": {"%s/%s" % k: v for k, v in samples.items()},
    }
    with open(json_path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print("results: %s" % json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
