"""tests/serve/crash.py — kill -9 under steady POST load, 20 times.

Each round restarts the service on the same journal, checks that every
placement acknowledged with a 2xx so far is present exactly once with the
decision that was answered, every acknowledged release is released, and that
nothing else is — except a request that was in flight at the kill (its answer
may have been lost after the commit); then four clients post workloads and
release about half of what was placed (releases and placements share batches)
until a random moment when the service is killed with SIGKILL. At the end
audit.jsonl (appended after the answers, completed from the journal at each
start) verifies, ends at the journal's last audit row, and holds exactly one
decision record per acknowledged placement and one release record per
acknowledged release."""
import collections
import json
import os
import sqlite3
import subprocess
import random
import sys
import tempfile
import threading
import time

import common as c

# the service re-checks its kept load and running index after every job
os.environ["TP_SERVE_SELF_CHECK"] = "1"
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
d = tempfile.mkdtemp()
c.make_fleet(d, 256, int(time.time()))
acked = {}      # workload → (state, node) answered with a 2xx
inflight = set()  # sent, no answer: may or may not have been committed
released = set()  # workloads whose DELETE was answered 200
rel_inflight = set()  # DELETE sent, no answer
lock = threading.Lock()
rng = random.Random(int(time.time()))


def load(port, stop, tid, rnd):
    k = 0
    conn = None
    while not stop.is_set():
        wid = "c%02d-%d-%d" % (rnd, tid, k)
        k += 1
        body = {"id": wid, "gpus": rng.choice([1, 1, 2]), "sensitivity": "public",
                "priority": rng.randrange(0, 50)}
        with lock:
            inflight.add(wid)
        try:
            if conn is None:
                conn = c.http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            st, j = c.request(port, "POST", "/v1/placements", body, conn=conn)
        except Exception:
            return  # killed: the id stays "in flight"
        with lock:
            inflight.discard(wid)
            if 200 <= st < 300:
                acked[wid] = (j["state"], j.get("node"))
            elif st != 503:
                c.fail("unexpected answer %d" % st, j)
                return
        if st != 201 or rng.random() < 0.5:
            continue
        with lock:
            rel_inflight.add(wid)
        try:
            st, j = c.request(port, "DELETE", "/v1/placements/" + wid, conn=conn)
        except Exception:
            return
        with lock:
            rel_inflight.discard(wid)
            if st == 200:
                released.add(wid)
            elif st != 503:
                c.fail("unexpected release answer %d" % st, j)
                return


def verify(port, label):
    st, j = c.request(port, "GET", "/v1/placements")
    if st != 200:
        c.fail(label + ": list", j)
        return False
    seen = {}
    dup = []
    for p in j["placements"]:
        if p["workload"] in seen:
            dup.append(p["workload"])
        seen[p["workload"]] = p
    def as_answered(w, s, n):
        p = seen.get(w)
        if p is None:
            return False
        if w in released:
            return p["state"] == "released"
        kept = p["state"] != "released" and p["decision"]["state"] == s and p.get("node") == n
        return kept or (w in rel_inflight and p["state"] == "released")

    missing = [w for w, (s, n) in acked.items() if not as_answered(w, s, n)]
    extra = [w for w in seen if w not in acked and w not in inflight]
    good = not dup and not missing and not extra
    if not good:
        c.fail(label, "dup %s missing %s extra %s" % (dup[:5], missing[:5], extra[:5]))
    # in-flight work that was committed is now known: count it as acknowledged
    for w in list(inflight):
        if w in seen:
            acked[w] = (seen[w]["decision"]["state"], seen[w].get("node"))
    inflight.clear()
    released.update(w for w in rel_inflight if w in seen and seen[w]["state"] == "released")
    rel_inflight.clear()
    return good


bad = 0
total_kills = 0
for rnd in range(ROUNDS):
    srv = c.Server(d, "-q")
    if not verify(srv.port, "round %d: recovered exactly what was acknowledged" % rnd):
        bad += 1
    stop = threading.Event()
    threads = [threading.Thread(target=load, args=(srv.port, stop, t, rnd)) for t in range(4)]
    for t in threads:
        t.start()
    time.sleep(rng.uniform(0.15, 0.8))
    srv.kill9()
    total_kills += 1
    stop.set()
    for t in threads:
        t.join(timeout=30)
srv = c.Server(d, "-q")
final = verify(srv.port, "after the last kill")
c.check("%d kill -9 under load: every 2xx placement present exactly once, nothing else "
        "(%d acknowledged)" % (total_kills, len(acked)), final and bad == 0)
c.check("load was real: placements were acknowledged between kills", len(acked) > ROUNDS)
c.check("releases were acknowledged between kills (%d)" % len(released), len(released) > 0)
used, want = c.gpu_accounting(srv.port)
c.check("GPU accounting after recovery matches the running work (%d GPUs)" % want,
        used == want, "%d used vs %d running" % (used, want))
audit = d + "/data/audit.jsonl"


def audit_ends():
    """(the file's last seq, the journal's last audit seq)"""
    db = sqlite3.connect("file:%s?mode=ro" % (d + "/data/journal.db"), uri=True, timeout=10)
    jmax = db.execute("SELECT max(seq) FROM audit").fetchone()[0]
    db.close()
    last = None
    for line in open(audit):
        if line.endswith("\n"):
            last = json.loads(line)["seq"]
    return last, jmax


# the live service appends a job's rows after its answers, without a restart
for k in range(5):
    st, j = c.request(srv.port, "POST", "/v1/placements",
                      {"id": "live-%d" % k, "gpus": 1, "sensitivity": "public"})
    if 200 <= st < 300:
        acked["live-%d" % k] = (j["state"], j.get("node"))
deadline = time.time() + 10
while time.time() < deadline and audit_ends()[0] != audit_ends()[1]:
    time.sleep(0.02)
c.check("a running service's audit.jsonl reaches the journal's last row after the answers",
        audit_ends()[0] == audit_ends()[1], str(audit_ends()))
# SIGTERM under load: the drain leaves every committed row in the file
stop = threading.Event()
threads = [threading.Thread(target=load, args=(srv.port, stop, t, ROUNDS)) for t in range(4)]
for t in threads:
    t.start()
time.sleep(0.3)
rc = srv.stop()
stop.set()
for t in threads:
    t.join(timeout=30)
c.check("SIGTERM under load exits 0 with audit.jsonl at the journal's last row",
        rc == 0 and audit_ends()[0] == audit_ends()[1], "rc %s, %s" % (rc, audit_ends()))
srv = c.Server(d, "-q")
drained = verify(srv.port, "after the drain")  # committed in-flight work: acknowledged
c.check("the drain kept exactly what was acknowledged; SIGTERM again exits 0",
        drained and srv.stop() == 0)
r = subprocess.run([c.BIN, "audit", "verify", audit], capture_output=True, text=True)
jmax = audit_ends()[1]
recs = [json.loads(line) for line in open(audit)]
c.check("audit verify after the kills: chain intact, every journal row in the file",
        r.returncode == 0 and recs and recs[-1]["seq"] == jmax,
        "%s%s file ends at %s, journal at %s" % (r.stdout, r.stderr,
                                                  recs[-1]["seq"] if recs else None, jmax))
dec = collections.Counter(x["workload"] for x in recs if x["kind"] == "decision")
rel = collections.Counter(x["workload"] for x in recs if x["kind"] == "release")
wrong = [(w, dec[w]) for w in acked if dec[w] != 1]
wrong += [(w, "release", rel[w]) for w in released if rel[w] != 1]
wrong += [(w, "unacknowledged") for w in dec if w not in acked]
c.check("one audit record per acknowledged decision (%d) and release (%d)" %
        (len(acked), len(released)), not wrong, str(wrong[:5]))
c.done()
