"""tests/serve/e2e.py — end-to-end invariants under load.

Mid-run, the attestation results of some nodes expire and a rack's cap drops
(a power event). No answer may place attested work on an expired node once the
expiry has passed, and once the event's plan is answered the rack's planned
draw stays within the cap — the validator runs on every decision; this checks
its outcome from outside. Work left on expired nodes is evicted (reconcile)."""
import json
import os
import random
import tempfile
import threading
import time

import common as c

d = tempfile.mkdtemp()
now = int(time.time())
fleet = c.make_fleet(d, 128, now)
state = json.load(open(d + "/state.json"))
# Attested nodes whose results expire 3 s into the run.
EXPIRE = now + 3
attested = [n for n, o in state["nodes"].items()
            if o.get("attestation", {}).get("status") == "affirming"
            and o["attestation"]["expires_at"] > now + 60]
expiring = set(attested[: len(attested) // 3])
for n in expiring:
    state["nodes"][n]["attestation"]["expires_at"] = EXPIRE
json.dump(state, open(d + "/state.json", "w"))
c.check("the fleet has attested nodes to expire (%d of %d)" % (len(expiring), len(attested)),
        len(expiring) >= 3)

# every job checks its kept load against a fresh one (scheduler/worker.c)
os.environ["TP_SERVE_SELF_CHECK"] = "1"
srv = c.Server(d, "-q")
rng = random.Random(now)
answers = []  # (sent_at, body, status, answer)
lock = threading.Lock()
stop = threading.Event()


def load(tid):
    k = 0
    while not stop.is_set():
        sens = rng.choice(["confidential", "internal", "public"])
        body = {"id": "e%d-%d" % (tid, k), "gpus": rng.choice([1, 2]), "sensitivity": sens,
                "preemptible": True}
        k += 1
        sent = time.time()
        try:
            st, j = c.request(srv.port, "POST", "/v1/placements", body)
        except Exception as e:
            with lock:
                answers.append((sent, body, 0, str(e)))
            return
        with lock:
            answers.append((sent, body, st, j))
        if k % 3 == 0:  # some work finishes
            c.request(srv.port, "DELETE", "/v1/placements/" + body["id"])


threads = [threading.Thread(target=load, args=(t,)) for t in range(3)]
for t in threads:
    t.start()
time.sleep(4)
# a rack's cap drops to half its planned draw
st, nodes = c.request(srv.port, "GET", "/v1/nodes")
by_dom = {}
for n in nodes["nodes"]:
    by_dom.setdefault(n["power_domain"], []).append(n)
rack = max(by_dom, key=lambda r: sum(n["gpus_used"] for n in by_dom[r]))
draw = sum(c.request(srv.port, "GET", "/v1/nodes/" + n["id"])[1]["planned_draw_w"]
           for n in by_dom[rack])
cap = draw * 0.5
st, ev = c.request(srv.port, "POST", "/v1/power/events", {"domain": rack, "cap_w": cap})
ev_done = time.time()
c.check("power event answered with its plan", st == 201 and "plan" in ev, ev)
time.sleep(3)
stop.set()
for t in threads:
    t.join(timeout=60)

bad_attest, bad_status = [], []
for sent, body, st, j in answers:
    if st not in (200, 201):
        bad_status.append((st, j))
        continue
    if j["state"] != "placed":
        continue
    if sent > EXPIRE + 1 and body["sensitivity"] in ("confidential", "internal") \
            and j["node"] in expiring:
        bad_attest.append((body, j))
c.check("every answer under load was a decision (%d answers)" % len(answers),
        not bad_status and len(answers) > 30, bad_status[:5])
c.check("no attested work placed on a node after its attestation expired",
        not bad_attest, bad_attest[:5])
rack_draw = sum(c.request(srv.port, "GET", "/v1/nodes/" + n["id"])[1]["planned_draw_w"]
                for n in by_dom[rack])
c.check("the rack's planned draw stays within the lowered cap (%.0f <= %.0f W)"
        % (rack_draw, cap), rack_draw <= cap * (1 + 1e-9))
# reconciliation evicts attested work still running on expired nodes
attested_ids = {b["id"] for _, b, _, _ in answers if b["sensitivity"] != "public"}
deadline = time.time() + 15
left = None
while time.time() < deadline:
    st, pl = c.request(srv.port, "GET", "/v1/placements?state=running")
    left = [p for p in pl["placements"]
            if p["node"] in expiring and p["workload"] in attested_ids]
    if not left:
        break
    time.sleep(0.5)
c.check("attested work on expired nodes is evicted, never silently kept", not left,
        (left or [])[:5])
st, pre = c.request(srv.port, "GET", "/v1/preemptions")
c.check("evictions name the lost attestation",
        all(p["why"].startswith(("eviction:", "power_")) for p in pre["preemptions"]))
c.check("SIGTERM exits 0 (the kept load matched a fresh one after every job)",
        srv.stop() == 0 and "self-check" not in open(d + "/serve.log").read())
c.done()
