"""tests/serve/etcd.py — a real 3-member etcd cluster on loopback for the HA
tests (the C twin is tests/unit/etcd_cluster.c): free ports, data in the
test's temporary directory, every member under `timeout` (bounded lifetime even
if the test dies) and killed at exit. A tiny v3 gateway reader for checks."""
import atexit
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time


def available():
    return shutil.which("etcd") is not None and shutil.which("timeout") is not None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Cluster:
    def __init__(self, d, members=3, lifetime=600):
        self.d = d
        self.n = members
        self.lifetime = lifetime
        self.client = [free_port() for _ in range(members)]
        self.peer = [free_port() for _ in range(members)]
        self.procs = [None] * members
        self.urls = ",".join("http://127.0.0.1:%d" % p for p in self.client)
        atexit.register(self.stop)
        for i in range(members):
            self.start(i, True)
        self.wait_ready()

    def start(self, i, fresh=False):
        ic = ",".join("m%d=http://127.0.0.1:%d" % (k, self.peer[k]) for k in range(self.n))
        cu = "http://127.0.0.1:%d" % self.client[i]
        pu = "http://127.0.0.1:%d" % self.peer[i]
        log = open("%s/etcd-m%d.log" % (self.d, i), "a")
        self.procs[i] = subprocess.Popen(
            ["timeout", "-s", "KILL", str(self.lifetime), "etcd", "--name", "m%d" % i,
             "--data-dir", "%s/etcd-m%d" % (self.d, i), "--listen-client-urls", cu,
             "--advertise-client-urls", cu, "--listen-peer-urls", pu,
             "--initial-advertise-peer-urls", pu, "--initial-cluster", ic,
             "--initial-cluster-state", "new" if fresh else "existing",
             "--initial-cluster-token", "tp-ha-test", "--heartbeat-interval", "50",
             "--election-timeout", "500", "--max-txn-ops", "8192", "--logger", "zap",
             "--log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)

    def kill(self, i):
        p = self.procs[i]
        if p and p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=30)
        self.procs[i] = None

    def restart(self, i):
        self.start(i)
        self.wait_ready()

    def stop(self):
        """Kills every member and removes their data (etcd preallocates ~120 MB each)."""
        for i in range(self.n):
            try:
                self.kill(i)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for i in range(self.n):
            shutil.rmtree("%s/etcd-m%d" % (self.d, i), ignore_errors=True)

    def wait_ready(self, limit=30):
        deadline = time.time() + limit
        while time.time() < deadline:
            try:
                self.range("tp-ready")
                return
            except (OSError, RuntimeError, http.client.HTTPException):
                time.sleep(0.1)
        raise RuntimeError("etcd cluster not ready")

    def call(self, path, body):
        last = None
        for p in self.client:
            try:
                c = http.client.HTTPConnection("127.0.0.1", p, timeout=5)
                c.request("POST", path, json.dumps(body))
                r = c.getresponse()
                raw = r.read()
                c.close()
                if r.status == 200:
                    return json.loads(raw)
                last = RuntimeError("etcd %d: %s" % (r.status, raw[:200]))
            except (OSError, http.client.HTTPException) as e:
                last = e
        raise last

    def range(self, key, prefix=False):
        """[(key, value, create_revision, mod_revision)] — int64s arrive as strings,
        absent fields mean their default."""
        k = key.encode()
        body = {"key": base64.b64encode(k).decode()}
        if prefix:
            end = k[:-1] + bytes([k[-1] + 1])
            body["range_end"] = base64.b64encode(end).decode()
        ans = self.call("/v3/kv/range", body)
        out = []
        for kv in ans.get("kvs", []):
            out.append((base64.b64decode(kv["key"]).decode(),
                        base64.b64decode(kv.get("value", "")).decode(),
                        int(kv.get("create_revision", "0")), int(kv.get("mod_revision", "0"))))
        return out
