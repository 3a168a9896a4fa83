"""scheduler/bench/bench_ha.py BUILD — the etcd part of `make bench-serve`
(docs/ha.md): POST /v1/placements decisions/s and latency with wrk against one
replica on SQLite and against the leader of three replicas on a 3-member etcd
on loopback, same fleet, same machine; then the failover time (kill -9 of the
leader until another replica answers /readyz as leader), FAILOVERS times.
Prints figures; asserts nothing. NODES, DURATION, CONNS, FAILOVERS, TTL
override."""
import atexit
import json
import shutil
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/serve"))
os.environ.setdefault("TP_BIN", os.path.join(sys.argv[1] if len(sys.argv) > 1 else "build",
                                             "trustplace"))
import common as c  # noqa: E402
import etcd  # noqa: E402

NODES = int(os.environ.get("NODES", "1000"))
DURATION = int(os.environ.get("DURATION", "10"))
CONNS = int(os.environ.get("CONNS", "32"))
FAILOVERS = int(os.environ.get("FAILOVERS", "5"))
TTL = int(os.environ.get("TTL", "3"))
HERE = os.path.dirname(os.path.abspath(__file__))

if not etcd.available():
    print("bench-serve (etcd): skipped, no etcd binary (tools/deps.sh installs etcd-server)")
    sys.exit(0)
d = tempfile.mkdtemp()
atexit.register(shutil.rmtree, d, True)  # registered first: runs after the cluster stops
c.make_fleet(d, NODES, int(time.time()), seed=7)
cluster = etcd.Cluster(d)
procs = []


def start(name, *store):
    pf = "%s/%s.port" % (d, name)
    if os.path.exists(pf):  # a killed instance's port
        os.unlink(pf)
    p = subprocess.Popen([c.BIN, "serve", "--config", d + "/fleet.json", "--state",
                          d + "/state.json", "--listen", "127.0.0.1:0", "--port-file", pf,
                          *store], stdout=subprocess.DEVNULL,
                         stderr=open("%s/%s.log" % (d, name), "a"))
    procs.append(p)
    for _ in range(600):
        try:
            return p, int(open(pf).read())
        except (OSError, ValueError):
            time.sleep(0.05)
    raise RuntimeError(name + " did not start")


def role(port):
    try:
        return c.request(port, "GET", "/readyz", timeout=2)[1]["ha"]["role"]
    except Exception:
        return None


def wrk(port, run):
    out = subprocess.run(["wrk", "-t2", "-c%d" % CONNS, "-d%ds" % DURATION, "--latency", "-s",
                          HERE + "/post_place.lua", "http://127.0.0.1:%d" % port],
                         capture_output=True, text=True, env=dict(os.environ, RUN=run)).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    ans = re.search(r"answers: .*", out)
    return "%s decisions/s, p50 %s, p99 %s (%s)" % (rps and rps.group(1), p50 and p50.group(1),
                                                    p99 and p99.group(1), ans and ans.group(0))


def etcd_store(name):
    return ["--store", "etcd:" + cluster.urls, "--replica-name", name, "--lease-ttl", str(TTL)]


try:
    print("fleet: %d nodes; wrk: 2 threads, %d connections, %d s each" % (NODES, CONNS, DURATION))
    p, port = start("sqlite", "--store", "sqlite:" + d + "/data")
    print("== POST /v1/placements, SQLite (one instance):  " + wrk(port, "s"))
    p.kill()
    reps = {n: start(n, *etcd_store(n)) for n in ("e0", "e1", "e2")}

    def leader(limit=30):
        t = time.time() + limit
        while time.time() < t:
            for n, (p, port) in reps.items():
                if p.poll() is None and role(port) == "leader":
                    return n
            time.sleep(0.01)
        return None

    n = leader()
    print("== POST /v1/placements, etcd (leader of 3 replicas, 3-member etcd):  "
          + wrk(reps[n][1], "e"))
    times = []
    for i in range(FAILOVERS):
        n = leader()
        t0 = time.time()
        reps[n][0].kill()
        reps[n][0].wait()
        m = leader()
        times.append(time.time() - t0)
        if os.environ.get("VERBOSE"):
            print("   killed %s, %s leader after %.2f s" % (n, m, times[-1]))

        reps[n] = start(n, *etcd_store(n))
    print("== failover (kill -9 of the leader → another replica leader), lease TTL %d s, "
          "%d times: mean %.2f s, max %.2f s" % (TTL, len(times), sum(times) / len(times),
                                                 max(times)))
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
    cluster.stop()
