# Python the seed generator runs: real audit events of the kinds the tracer
# decodes (paths, sockets, exec argv) plus every tag of the args format.
import os, socket, subprocess, sys, tempfile
d = tempfile.mkdtemp()
open("/etc/hostname").read()
open(os.path.join(d, "plain.txt"), "w").close()
open(os.fsencode(d) + b"/\xff\xfe-bytes", "wb").close()
open(d + "/\udcfe-surrogate", "w").close()
try:
    socket.create_connection(("127.0.0.1", 9), timeout=0.1)
except OSError:
    pass
try:
    socket.socket(socket.AF_INET6).connect(("::1", 9))
except OSError:
    pass
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("/nonexistent/sock")
except OSError:
    pass
subprocess.run(["/bin/true", "x" * 700, "é"])
sys.audit("seed.scalars", 1, -1, 2**63 - 1, -2**63, 2**64, -2**70, 3.5, float("nan"),
          float("inf"), None, True, False)
sys.audit("seed.text", "", "é" * 600, "a\udc80b", b"\x00\x01\xff", bytearray(b"ba"))
sys.audit("seed.nest", (1, [2, (3, (4, (5, (6,))))]), list(range(40)), ())
sys.audit("seed.big", b"z" * 2000, ["a" * 300] * 5)
class Sub(str):
    pass
sys.audit("seed.objects", object(), Sub("x"), {"k": 1}, {1, 2}, 1j)
os.listdir(d)
compile("1+1", "<seed>", "eval")
