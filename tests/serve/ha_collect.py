"""tests/serve/ha_collect.py — shared collection (docs/ha.md): three replicas on a
real 3-member etcd cluster and the test bed's emulated BMCs and verifier. Each
BMC is walked by exactly one replica (the test bed counts Redfish session
logins per BMC: every replica that walks a BMC logs in to it once), the facts
reach the leader through etcd, and after kill -9 of a replica its nodes are
collected by the others within 2 x TTL + a few periods, and no other node moves.

usage: ha_collect.py NODES   (TP_BIN set; tests/cli/serve-ha-collect.sh runs it)"""
import atexit
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402
import etcd  # noqa: E402

NODES = int(sys.argv[1]) if len(sys.argv) > 1 else 24
TTL = 3
PREFIX = "/tp-hac/"
TB = os.path.join(os.path.dirname(c.BIN), "tp-testbed")
d = tempfile.mkdtemp(prefix="tp-ha-collect-")
procs = []


@atexit.register
def _cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def wait_for(what, cond, limit):
    deadline = time.time() + limit
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    return None


# the fleet and the test bed (sessions: one login per BMC per replica that walks it)
subprocess.run([c.BIN, "gen-fleet", "--nodes", str(NODES), "--seed", "7", "--out",
                d + "/gen.json"], check=True, capture_output=True)
tb = subprocess.Popen([TB, "--fleet", d + "/gen.json", "--fleet-out", d + "/tb.json",
                       "--ready", d + "/ready", "--auth", "--latency", "2,1",
                       "--collect-timeout-ms", "1000", "--duration", "300"],
                      stdout=subprocess.DEVNULL, stderr=open(d + "/tb.log", "w"))
procs.append(tb)
if not wait_for("testbed", lambda: os.path.exists(d + "/ready"), 30):
    c.fail("the test bed starts", open(d + "/tb.log").read())
    c.done()
vport = json.load(open(d + "/ready"))["verifier_port"]
fleet = json.load(open(d + "/tb.json"))
coll = fleet["collectors"]
coll["interval_s"] = 1
coll.setdefault("bmc", {}).update({"stale_after_s": 30, "walk_timeout_ms": 3000,
                                   "rediscover_s": 20})
json.dump(fleet, open(d + "/fleet.json", "w"))
ids = [n["id"] for n in fleet["nodes"]]


def counts():
    return c.request(vport, "GET", "/_testbed/counts", timeout=5)[1]


cluster = etcd.Cluster(d)


class Replica:
    def __init__(self, name):
        self.name = name
        pf = "%s/%s.port" % (d, name)
        self.p = subprocess.Popen(
            [c.BIN, "serve", "--config", d + "/fleet.json", "--listen", "127.0.0.1:0",
             "--port-file", pf, "--store", "etcd:" + cluster.urls, "--replica-name", name,
             "--store-prefix", PREFIX, "--lease-ttl", str(TTL), "--keepalive-ms", "500",
             "--poll-ms", "100", "--data", "%s/%s-data" % (d, name)],
            stdout=subprocess.DEVNULL, stderr=open("%s/%s.log" % (d, name), "a"))
        procs.append(self.p)
        self.port = wait_for(name, lambda: _port(pf), 30)
        if not self.port:
            raise RuntimeError("replica %s did not start: %s" % (
                name, open("%s/%s.log" % (d, name)).read()[-2000:]))

    def ha(self):
        try:
            return c.request(self.port, "GET", "/readyz", timeout=3)[1].get("ha")
        except Exception:
            return None


def _port(pf):
    try:
        return int(open(pf).read())
    except (OSError, ValueError):
        return None


def rows():
    """node → (by, at, obs, t) of the P o/ rows in etcd"""
    out = {}
    for k, v, _, _ in cluster.range(PREFIX + "o/", prefix=True):
        j = json.loads(v)
        out[k[len(PREFIX) + 2:]] = (j["by"], j["at"], j["obs"], j["t"])
    return out


def owner(members, node):
    """rendezvous hashing as scheduler/ring.c does it, written independently"""
    def score(m):
        return int.from_bytes(hashlib.sha256(m.encode() + b"\0" + node.encode()).digest()[:8],
                              "big")
    return max(sorted(members), key=lambda m: (score(m), [-ord(ch) for ch in m]))


reps = [Replica("r%d" % i) for i in range(3)]
names = [r.name for r in reps]


def settled():
    hs = [r.ha() for r in reps]
    if any(h is None or "collection" not in h for h in hs):
        return None
    if any(sorted(h["collection"]["members"]) != names for h in hs):
        return None
    if sum(h["collection"]["owned"] for h in hs) != NODES:
        return None
    rs = rows()
    if len(rs) != NODES or any("draw_w" not in r[2] for r in rs.values()):
        return None
    if any(rs[n][0] != owner(names, n) for n in ids):  # the owners' own rows
        return None
    return hs


hs = wait_for("settled", settled, 60)
c.check("three replicas register, split the %d nodes and write every node's facts" % NODES,
        hs is not None, "\n".join(open("%s/%s.log" % (d, n)).read()[-600:] for n in names))
if not hs:
    c.done()
owned = [h["collection"]["owned"] for h in hs]
c.check("each replica owns a share (%s) and watches the facts rows" %
        "/".join(map(str, owned)),
        all(o > 0 for o in owned) and all(h["collection"]["watch"] for h in hs), hs)

# steady state (cycles started under the old member sets are over): a window of
# several cycles
time.sleep(3)
w0 = sum(r.ha()["collection"]["written"] for r in reps)
c0 = counts()
t0 = time.time()
time.sleep(float(os.environ.get("TP_HA_COLLECT_WINDOW", "6")))
c1 = counts()
window = time.time() - t0
w1 = sum(r.ha()["collection"]["written"] for r in reps)
print("    steady state: %d fact rows written to etcd in %.1f s (%.1f rows/s for %d nodes, "
      "interval_s 1, stale_after_s 30)" % (w1 - w0, window, (w1 - w0) / window, NODES),
      flush=True)
rs = rows()
# The test bed holds one Redfish session per BMC: a login ends the previous
# session, so two replicas walking one BMC would log each other out and log in
# again every cycle. No new login in a window of several cycles: one walker.
relog = {n: c1["logins"][n] - c0["logins"][n] for n in ids}
c.check("each BMC was walked by exactly one replica (no session churn in %.1f s)" % window,
        all(v == 0 for v in relog.values()), {n: v for n, v in relog.items() if v})
polled = {n: c1["bmc"][n] - c0["bmc"][n] for n in ids}
c.check("every BMC was polled in the window", all(v > 0 for v in polled.values()), polled)
att = {n: c1["att"][n] - c0["att"][n] for n in ids}
# one replica at interval_s 1 fetches a node's result at most once per second of the
# window (+1 for the edges); three replicas each fetching would triple it
limit = int(window) + 2
c.check("each node's attestation fetched by one replica (≤ %d in %.1f s)" % (limit, window),
        all(0 < v <= limit for v in att.values()), att)
by = {n: rs[n][0] for n in ids}
c.check("the rows' writers are the ring's owners (each replica writes its own nodes)",
        sorted(set(by.values())) == names and all(by[n] == owner(names, n) for n in ids) and
        all(sum(1 for n in ids if by[n] == nm) == o for nm, o in zip(names, owned)),
        (by, owned))

leader = wait_for("leader", lambda: next((r for r in reps if (r.ha() or {}).get("role") ==
                                          "leader"), None), 20)


def leader_fresh(after=0, fresh_ids=()):
    st, j = c.request(leader.port, "GET", "/v1/nodes", timeout=5)
    if st != 200:
        return None
    rs = rows()
    ns = {n["id"]: n for n in j["nodes"]}
    good = all(ns[i]["draw_w"] is not None and ns[i]["attestation"] and
               ns[i]["attestation"]["status"] == "affirming" and
               not ns[i]["attestation"]["expired"] and
               abs(ns[i]["draw_w"] - rs[i][2].get("draw_w", -1)) < 1e-6 and
               (i not in fresh_ids or rs[i][3].get("draw", 0) >= after)
               for i in ids)
    return ns if good else None


ns = wait_for("leader facts", leader_fresh, 10)
others = [n for n in ids if by[n] != leader.name]
c.check("the leader (%s) shows fresh facts for all nodes, %d collected by followers" %
        (leader.name, len(others)), ns is not None and len(others) > 0)

# A row that does not validate (here: written "in the future") is refused: the
# leader counts it and never takes its facts (it drops the node's facts until
# the owner writes the node again, which may be at once).
bad_node = ids[0]
bad0 = leader.ha()["collection"]["bad_rows"]
cluster.call("/v3/kv/put", {
    "key": base64.b64encode((PREFIX + "o/" + bad_node).encode()).decode(),
    "value": base64.b64encode(json.dumps({"by": "evil", "at": int(time.time()) + 3600,
                                          "t": {"draw": int(time.time()) + 3600},
                                          "obs": {"draw_w": 1}}).encode()).decode()})
taken = []


def refused():
    st, j = c.request(leader.port, "GET", "/v1/nodes", timeout=5)
    n = next(x for x in j["nodes"] if x["id"] == bad_node)
    if n["draw_w"] == 1:
        taken.append(n)
    return leader.ha()["collection"]["bad_rows"] > bad0 and not taken


c.check("a facts row from the future is refused, its facts never taken",
        wait_for("refused", refused, 10) is not None and not taken, taken[:1])

# Forged rows that would widen eligibility are refused and counted: wrong
# types, an attestation status that is not one, and a row for a node the fleet
# does not have (held nowhere, so such keys cannot grow the replica's rows).
def plant(node, doc):
    cluster.call("/v3/kv/put", {
        "key": base64.b64encode((PREFIX + "o/" + node).encode()).decode(),
        "value": base64.b64encode((doc if isinstance(doc, str) else json.dumps(doc))
                                  .encode()).decode()})


bad1 = leader.ha()["collection"]["bad_rows"]
t_now = int(time.time())
plant(ids[1], {"by": "evil", "at": t_now, "t": {"draw": t_now}, "obs": {"draw_w": "1"}})
plant(ids[2], {"by": "evil", "at": t_now, "t": {}, "obs": {"attestation": {
    "status": "trusted", "issued_at": t_now, "expires_at": t_now + 10 ** 6}}})
for k in range(20):
    plant("ghost-%d" % k, {"by": "evil", "at": t_now, "t": {}, "obs": {}})


def forged_refused():
    h = leader.ha()["collection"]
    return h["bad_rows"] >= bad1 + 22 and h["rows_held"] <= len(ids)


c.check("forged rows (a string draw, status \"trusted\", 20 unknown nodes) are refused, "
        "no row held for an unknown node",
        wait_for("forged", forged_refused, 10) is not None, leader.ha()["collection"])

# kill -9 a follower: its nodes move to the others, nothing else moves
victim = next(r for r in reps if r is not leader)
lost = [n for n in ids if by[n] == victim.name]
before = counts()["logins"]
t_kill = time.time()
victim.p.send_signal(signal.SIGKILL)
victim.p.wait()
alive = [r for r in reps if r is not victim]


def moved():
    rs = rows()
    survivors = [r.name for r in alive]
    # the new owner's own reading, made after the kill (its collector may still
    # hold older facts of the node, which it writes with their read times)
    if all(rs[n][0] == owner(survivors, n) and rs[n][3].get("draw", 0) >= int(t_kill) and
           "draw_w" in rs[n][2] for n in lost):
        return time.time() - t_kill
    return None


took = wait_for("moved", moved, 2 * TTL + 10)
print("    ownership move after kill -9 of %s (%d nodes): %s s (TTL %d s)" %
      (victim.name, len(lost), "%.2f" % took if took else "never", TTL), flush=True)
c.check("the killed replica's %d nodes are read by the others within 2 x TTL + 4 s" %
        len(lost), took is not None and took <= 2 * TTL + 4, took)
after = counts()["logins"]
c.check("only the killed replica's BMCs were taken over (new logins there only)",
        all((after[n] > before[n]) == (n in lost) for n in ids),
        {n: (before[n], after[n], n in lost) for n in ids
         if (after[n] > before[n]) != (n in lost)})
hs = [r.ha() for r in alive]
c.check("the survivors see two members and split every node",
        all(h and sorted(h["collection"]["members"]) == sorted(r.name for r in alive)
            for h in hs) and sum(h["collection"]["owned"] for h in hs) == NODES, hs)
ns = wait_for("leader facts after", lambda: leader_fresh(int(t_kill), lost), 10)
c.check("the leader shows fresh facts for all nodes, the moved ones read after the kill",
        ns is not None)
w = sum(h["collection"]["written"] for h in hs)
print("    facts rows written by the survivors so far: %d" % w, flush=True)

# The audit log on etcd: a decision on this leader, kill -9 it, one on the next;
# the new leader's audit.jsonl holds both in one chain, the old one's the same
# prefix byte for byte.
def place(rep, wid):
    body = {"id": wid, "gpus": 1, "sensitivity": "public", "priority": 10}
    for _ in range(50):
        try:
            st, j = c.request(rep.port, "POST", "/v1/placements", body, timeout=10)
        except Exception:
            st = 0
        if st in (200, 201, 202):
            return st
        time.sleep(0.2)
    return st


def audit_lines(rep):
    try:
        return [ln for ln in open("%s/%s-data/audit.jsonl" % (d, rep.name)).read().splitlines()
                if ln]
    except OSError:
        return []


def has_decision(rep, wid):
    return any(json.loads(ln).get("kind") == "decision" and json.loads(ln).get("workload") ==
               wid for ln in audit_lines(rep))


st1 = place(leader, "audited-1")
# a job's records follow its answers into audit.jsonl (the journal holds them before)
wait_for("audit record", lambda: has_decision(leader, "audited-1"), 10)
old = audit_lines(leader)
c.check("the leader journals a decision's audit record on etcd (%s)" % st1,
        st1 in (200, 201, 202) and has_decision(leader, "audited-1"), old[-3:])
leader.p.send_signal(signal.SIGKILL)
leader.p.wait()
last = next(r for r in alive if r is not leader)
newl = wait_for("new leader", lambda: (last.ha() or {}).get("role") == "leader", 4 * TTL)
st2 = place(last, "audited-2") if newl else 0
wait_for("audit record", lambda: has_decision(last, "audited-2"), 10)
new = audit_lines(last)
vr = subprocess.run([c.BIN, "audit", "verify", "%s/%s-data/audit.jsonl" % (d, last.name)],
                    capture_output=True, text=True)
c.check("the next leader's audit.jsonl continues the chain: both decisions, verified, "
        "the old leader's records as its first ones",
        st2 in (200, 201, 202) and has_decision(last, "audited-2") and
        has_decision(last, "audited-1") and vr.returncode == 0 and len(old) > 0 and
        new[:len(old)] == old, (st2, vr.stdout, vr.stderr, len(old), len(new)))
c.done()
