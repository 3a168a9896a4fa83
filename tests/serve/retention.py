"""tests/serve/retention.py — what the service forgets (docs/serve.md,
"Retention") against the real binary: within --idempotency-retention the same
key answers the same decision, also after kill -9; past it the key is gone
from memory and from the journal, and the same request is decided afresh;
placements released longer ago than --released-retention are gone (404) while
running work is never pruned; a journal from before the retention existed gets
its keys' clock started at the upgrade, never pruned at once."""
import http.client
import json
import os
import sqlite3
import subprocess
import tempfile
import time

import common as c

d = tempfile.mkdtemp()
now = int(time.time())
c.make_fleet(d, 16, now)


def post(port, body, key):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request("POST", "/v1/placements", body=json.dumps(body),
                 headers={"Content-Type": "application/json", "Idempotency-Key": key})
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    return r.status, json.loads(raw), r.getheader("idempotent-replayed")


def rows(sql):
    db = sqlite3.connect(d + "/data/journal.db")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


# bad values are refused with the option's name
r = subprocess.run([c.BIN, "serve", "--config", d + "/fleet.json", "--idempotency-retention",
                    "0"], capture_output=True, text=True)
c.check("--idempotency-retention 0: refused, says the range",
        r.returncode == 2 and "--idempotency-retention: expected 1..315360000 seconds" in
        r.stderr, r.stderr)

# A journal from before the retention: its idempotency table has no `at`.
os.makedirs(d + "/data")
db = sqlite3.connect(d + "/data/journal.db")
db.execute("CREATE TABLE idempotency(key TEXT PRIMARY KEY, hash TEXT NOT NULL,"
           " status INTEGER NOT NULL, response TEXT NOT NULL)")
db.execute("INSERT INTO idempotency VALUES('legacy', 'sha256:00', 201, '{}')")
db.commit()
db.close()
t0 = int(time.time())
srv = c.Server(d, "--idempotency-retention", "3", "--released-retention", "3")
legacy = rows("SELECT at FROM idempotency WHERE key = 'legacy'")
c.check("an old journal gains idempotency.at, its keys' clock starting at the upgrade",
        len(legacy) == 1 and legacy[0][0] >= t0, legacy)

W1 = {"id": "w1", "gpus": 1, "sensitivity": "public"}
W2 = {"id": "w2", "gpus": 1, "sensitivity": "public"}
st1, d1, rep1 = post(srv.port, W1, "k1")
st2, d2, rep2 = post(srv.port, W1, "k1")
c.check("within the window the same key answers the same decision",
        st1 == 201 and rep1 is None and st2 == 201 and rep2 == "true" and d1 == d2,
        (st1, d1, rep1, st2, d2, rep2))
st, _, _ = post(srv.port, W2, "k2")
c.check("w2 placed (it stays running)", st == 201, st)
st, j = c.request(srv.port, "DELETE", "/v1/placements/w1")
c.check("w1 released", st == 200, (st, j))

deadline = time.time() + 20
while time.time() < deadline:
    if c.request(srv.port, "GET", "/v1/placements/w1")[0] == 404:
        break
    time.sleep(0.25)
st, j = c.request(srv.port, "GET", "/v1/placements/w1")
c.check("a placement released longer ago than the retention is forgotten (404)",
        st == 404, (st, j))
st, j = c.request(srv.port, "GET", "/v1/placements/w2")
c.check("running work is never pruned", st == 200 and j["state"] == "running", (st, j))
keys = [k for (k,) in rows("SELECT key FROM idempotency")]
c.check("the journal lost the old keys (k1, k2, legacy)", keys == [], keys)
c.check("the journal lost the released placement, kept the running one",
        rows("SELECT workload, state FROM placements") == [("w2", "running")],
        rows("SELECT workload, state FROM placements"))
st3, d3, rep3 = post(srv.port, W1, "k1")
c.check("past the window the same key and body are decided afresh (not replayed)",
        st3 == 201 and rep3 is None and d3["node"], (st3, d3, rep3))
st, j = c.request(srv.port, "POST", "/v1/placements", W2, headers={"Idempotency-Key": "k2"})
c.check("past the window a forgotten key cannot place running work twice (409), one row",
        st == 409 and j["error"]["code"] == "conflict" and
        rows("SELECT count(*) FROM placements WHERE workload = 'w2'") == [(1,)], (st, j))
log = open(d + "/serve.log").read()
c.check("the service says what it forgot",
        "retention: forgot" in log and "released or preempted placement(s)" in log, log[-800:])

# Crash recovery within the window: kill -9 right after the answer, restart with
# a long retention: the key still answers its decision.
W3 = {"id": "w3", "gpus": 2, "sensitivity": "public"}
st4, d4, _ = post(srv.port, W3, "k3")
srv.kill9()
srv = c.Server(d, "--idempotency-retention", "3600", "--released-retention", "3600")
st5, d5, rep5 = post(srv.port, W3, "k3")
c.check("after kill -9 the key within its window replays the same decision",
        st4 == 201 and st5 == 201 and rep5 == "true" and d4 == d5, (st4, d4, st5, d5, rep5))
c.check("SIGTERM exits 0", srv.stop() == 0)

# Keys kept longer than released placements: the replay of a key whose
# placement was released and pruned answers its decision and places nothing.
srv = c.Server(d, "--idempotency-retention", "3600", "--released-retention", "1")
W4 = {"id": "w4", "gpus": 1, "sensitivity": "public"}
st6, d6, _ = post(srv.port, W4, "k4")
c.request(srv.port, "DELETE", "/v1/placements/w4")
deadline = time.time() + 20
while time.time() < deadline and c.request(srv.port, "GET", "/v1/placements/w4")[0] != 404:
    time.sleep(0.25)
st7, d7, rep7 = post(srv.port, W4, "k4")
st8, j8 = c.request(srv.port, "GET", "/v1/placements/w4")
c.check("a key outliving its pruned placement replays the decision and places nothing",
        st6 == 201 and st7 == 201 and rep7 == "true" and d6 == d7 and st8 == 404,
        (st6, d6, st7, d7, rep7, st8, j8))
c.check("SIGTERM exits 0 (second run)", srv.stop() == 0)
c.done()
