"""tests/serve/gangs.py — gangs (multi-node work) through `trustplace serve`:
POST /v1/placements places every member in one decision or none, the decision
lists its members (one rack), GET shows them and ?node= finds the gang by any
member, the Idempotency-Key replays the same answer, release frees every
member, kill -9 recovery restores whole gangs, and — placing gangs while the
service is killed — a gang is never seen or journaled in part."""
import json
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time

# The service compares its kept load with a fresh one after every job and
# aborts on a difference: gang starts and stops move several entries at once.
os.environ["TP_SERVE_SELF_CHECK"] = "1"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Server, check, done, make_fleet, request  # noqa: E402


def rack(node):
    return node.rsplit("-n", 1)[0]  # node ids are <rack>-n<i> (gen-fleet)


def gang(i, nodes, gpus=8, tenant=None):
    w = {"id": "train-%d" % i, "gpus": gpus, "nodes": nodes, "together": "rack",
         "sensitivity": "public", "priority": 30}
    if tenant:
        w["tenant"] = tenant
    return w


def whole(name, fleet_nodes, recs):
    """Every running gang whole: its spec's member count, distinct nodes of one
    rack, GPUs per node within the node's GPUs; returns a failure text or ''."""
    used = {}
    for r in recs:
        if r["state"] != "running":
            continue
        mem = r.get("members") or [r["node"]]
        want = r["decision"].get("members") and len(r["decision"]["members"])
        if want and (len(mem) != want or len(set(mem)) != want or
                     len({rack(m) for m in mem}) != 1 or mem[0] != r["node"]):
            return "%s: %s runs in part or across racks: %s" % (name, r["workload"], mem)
        for m in mem:
            used[m] = used.get(m, 0) + r["gpus"]
    for n, g in used.items():
        if g > fleet_nodes[n]:
            return "%s: node %s holds %d GPUs of %d" % (name, n, g, fleet_nodes[n])
    return ""


def journal_rows(d):
    """workload → (state, node, decision, spec) from the SQLite journal (read-only)."""
    path = None
    for root, _, files in os.walk(d + "/data"):
        for f in files:
            if f.endswith(".db") or f.endswith(".sqlite"):
                path = os.path.join(root, f)
    if not path:
        return None
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    rows = {w: (st, node, json.loads(dec), json.loads(spec)) for w, st, node, dec, spec in
            c.execute("SELECT workload, state, node, decision, spec FROM placements")}
    c.close()
    return rows


def main():
    d = tempfile.mkdtemp(prefix="tp-gangs-")
    fleet = make_fleet(d, 64, int(time.time()), seed=9)
    gpus = {n["id"]: n["gpus"] for n in fleet["nodes"]}
    srv = Server(d)
    port = srv.port

    st, dec = request(port, "POST", "/v1/placements", gang(1, 4))
    mem = (dec or {}).get("members") or []
    check("gang: placed whole, one decision lists every member on one rack",
          st == 201 and dec["state"] == "placed" and len(mem) == 4 and len(set(mem)) == 4 and
          len({rack(m) for m in mem}) == 1 and dec["node"] == mem[0] and dec["gpus"] == 8,
          "%s %s" % (st, dec))

    st1, one = request(port, "GET", "/v1/placements/train-1")
    st2, by = request(port, "GET", "/v1/placements?node=" + (mem[2] if mem else "x"))
    other = next(n for n in gpus if mem and rack(n) != rack(mem[0]))
    st3, none = request(port, "GET", "/v1/placements?node=" + other)
    check("gang: GET shows the members; ?node= finds it by any member, not elsewhere",
          st1 == 200 and one.get("members") == mem and st2 == 200 and
          [p["workload"] for p in by["placements"]] == ["train-1"] and st3 == 200 and
          all(p["workload"] != "train-1" for p in none["placements"]),
          "%s %s / %s / %s" % (st1, one, by, none))

    h = {"Idempotency-Key": "gang-key-2"}
    sa, a = request(port, "POST", "/v1/placements", gang(2, 2), headers=h)
    sb, b = request(port, "POST", "/v1/placements", gang(2, 2), headers=h)
    sc, c = request(port, "POST", "/v1/placements", gang(2, 2))
    check("gang: the same Idempotency-Key replays the answer; the id again is a conflict",
          sa == 201 and (sb, b) == (sa, a) and sc == 409 and len(a.get("members", [])) == 2,
          "%s %s / %s %s / %s %s" % (sa, a, sb, b, sc, c))

    # A gang no rack can hold (racks have 8 nodes): pending with gang_topology,
    # never recorded on any node.
    sp, p = request(port, "POST", "/v1/placements", gang(3, 9))
    _, lst = request(port, "GET", "/v1/placements?state=running")
    check("gang: one that fits no rack waits whole (gang_topology), on no node",
          sp == 200 and p["state"] == "pending" and p["reasons"].get("gang_topology", 0) > 0
          and "members" not in p and
          all(r["workload"] != "train-3" for r in lst["placements"]),
          "%s %s" % (sp, p))

    # kill -9: the journal holds the gangs; recovery restores them whole.
    srv.kill9()
    srv = Server(d)
    port = srv.port
    _, one2 = request(port, "GET", "/v1/placements/train-1")
    node_views = [request(port, "GET", "/v1/nodes/" + m)[1] for m in mem]
    check("gang: kill -9 recovery restores every member (GET and each node's running work)",
          one2.get("members") == mem and one2["state"] == "running" and
          all("train-1" in v["running"] and v["gpus_used"] >= 8 for v in node_views),
          "%s %s" % (one2, node_views))

    sr, rel = request(port, "DELETE", "/v1/placements/train-1")
    views = [request(port, "GET", "/v1/nodes/" + m)[1] for m in mem]
    _, gone = request(port, "GET", "/v1/placements?node=" + mem[1])
    srv.kill9()
    srv = Server(d)
    port = srv.port
    _, after = request(port, "GET", "/v1/placements/train-1")
    check("gang: release frees every member, also after a restart",
          sr == 200 and all("train-1" not in v["running"] for v in views) and
          all(x["workload"] != "train-1" for x in gone["placements"]) and
          after["state"] == "released" and "members" not in after,
          "%s %s %s %s" % (sr, rel, views, after))

    # A power event on the gang's rack: the plan stops the gang whole, one
    # preemption per member, and no member keeps running.
    g5 = gang(5, 4)
    g5["preemptible"] = True
    s5, d5 = request(port, "POST", "/v1/placements", g5)
    m5 = d5.get("members", [])
    se, ev = request(port, "POST", "/v1/power/events",
                     {"domain": rack(m5[0]) if m5 else "x", "factor": 0.2})
    _, after5 = request(port, "GET", "/v1/placements/train-5")
    views5 = [request(port, "GET", "/v1/nodes/" + m)[1] for m in m5]
    pre5 = sorted(p["node"] for p in (ev or {}).get("plan", {}).get("preemptions", [])
                  if p["workload"] == "train-5")
    check("gang: a cap drop on its rack stops it whole, a preemption per member",
          s5 == 201 and se == 201 and pre5 == sorted(m5) and after5["state"] == "preempted"
          and all("train-5" not in v["running"] for v in views5),
          "%s %s / %s %s / %s" % (s5, d5, se, ev, after5))

    # Reconciliation: one member's node turns contraindicated while the
    # service is down; on restart the gang is evicted whole, a row per member.
    g6 = gang(6, 3)
    g6["sensitivity"] = "internal"
    s6, d6 = request(port, "POST", "/v1/placements", g6)
    m6 = d6.get("members", [])
    srv.stop()
    state = json.load(open(d + "/state.json"))
    if m6:
        state["nodes"][m6[1]]["attestation"]["status"] = "contraindicated"
    json.dump(state, open(d + "/state.json", "w"))
    srv = Server(d)
    port = srv.port
    _, after6 = request(port, "GET", "/v1/placements/train-6")
    _, pre = request(port, "GET", "/v1/preemptions")
    rows6 = sorted(p["node"] for p in pre["preemptions"] if p["workload"] == "train-6")
    views6 = [request(port, "GET", "/v1/nodes/" + m)[1] for m in m6]
    check("gang: a member's node no longer trusted evicts the gang whole on recovery",
          s6 == 201 and after6["state"] == "preempted" and rows6 == sorted(m6) and
          all("train-6" not in v["running"] for v in views6),
          "%s %s / %s / %s" % (s6, d6, after6, pre))

    # Gangs of 2–8 members and single-node work from four clients while the
    # service is killed twice: every acknowledged gang comes back whole, and no
    # listing or journal row ever holds a gang in part.
    acked, lock, stop = {}, threading.Lock(), threading.Event()
    bad = []

    def client(k):
        rng = random.Random(k)
        i = 0
        while not stop.is_set():
            i += 1
            n = rng.choice([0, 2, 3, 4, 8])
            w = gang(1000 * (k + 1) + i, n, gpus=rng.choice([2, 4])) if n else {
                "id": "one-%d-%d" % (k, i), "gpus": 1, "sensitivity": "public"}
            try:
                st, dec = request(srv.port, "POST", "/v1/placements", w, timeout=5)
            except OSError:
                time.sleep(0.05)
                continue
            if st == 201:
                with lock:
                    acked[w["id"]] = dec
            if n and st == 201 and len(dec.get("members", [])) != n:
                bad.append("acknowledged in part: %s" % dec)

    for rnd in range(2):
        threads = [threading.Thread(target=client, args=(k + 4 * rnd,)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        try:
            _, live = request(srv.port, "GET", "/v1/placements?state=running", timeout=5)
            why = whole("while placing", gpus, live["placements"])
            if why:
                bad.append(why)
        except OSError as e:
            bad.append("listing failed: %s" % e)
        srv.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        stop.clear()
        srv = Server(d)
    _, recs = request(srv.port, "GET", "/v1/placements?state=running")
    why = whole("after recovery", gpus, recs["placements"])
    if why:
        bad.append(why)
    running = {r["workload"]: r for r in recs["placements"]}
    for wid, dec in acked.items():
        r = running.get(wid)
        if not r or r.get("members", [r["node"]]) != dec.get("members", [dec["node"]]):
            bad.append("acknowledged %s came back as %s" % (dec, r))
    rows = journal_rows(d)
    for wid, (st, node, dec, spec) in (rows or {}).items():
        # one row per gang, written in one commit: all its members or none
        if st == "running" and spec.get("nodes", 1) > 1 and (
                len(set(dec.get("members", []))) != spec["nodes"] or
                node != dec["members"][0]):
            bad.append("journal row of %s holds a gang in part: %s" % (wid, dec))
    ngangs = sum(1 for v in acked.values() if v.get("members"))
    check("gang: placing gangs under kill -9, every acknowledged gang returns whole "
          "(%d gangs)" % ngangs, not bad and ngangs > 0 and rows is not None,
          "\n".join(bad[:10]) or "no gangs acknowledged / no journal")
    srv.stop()
    done()


if __name__ == "__main__":
    main()
