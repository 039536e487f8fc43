"""A small program for `make demo`: the kinds of things pysectrace shows."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

with open("/etc/hostname") as f:
    host = f.read().strip()

with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "state.json")
    with open(path, "w") as f:
        json.dump({"host": host}, f)
    os.listdir(d)

# A network connection to a loopback listener started here.
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
with socket.create_connection(srv.getsockname()) as c:
    c.sendall(b"hello")
srv.close()


def worker():
    open("/etc/os-release").read()


t = threading.Thread(target=worker, name="worker")
t.start()
t.join()

# A child process, itself Python: it carries the hook too.
subprocess.run([sys.executable, "-c", "import platform; platform.machine()"], check=True)
print("demo done")
