"""tests/serve/batch.py — releases share batches with placements.

Under a steady background of placements and releases (so requests queue behind
the job in flight and form mixed batches), pairs of requests for one workload
race: DELETE and POST of running work, two DELETEs, two POSTs of new work. Each
outcome must be one that some order of the two requests gives (the service
decides a batch's placements before its releases and keeps a workload to one
release per batch), the final state must match it — also after a restart from
the journal — and the GPU accounting must match the running work."""
import os
import threading
import tempfile
import time

import common as c

os.environ["TP_SERVE_SELF_CHECK"] = "1"  # kept load and running index re-checked per job
d = tempfile.mkdtemp()
c.make_fleet(d, 64, int(time.time()))
srv = c.Server(d, "-q")
stop = threading.Event()
background = [0, 0]  # placed, released


def filler(tid):
    conn = c.http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
    k = 0
    while not stop.is_set():
        wid = "bg%d-%d" % (tid, k)
        k += 1
        st, _ = c.request(srv.port, "POST", "/v1/placements",
                          {"id": wid, "gpus": 1, "sensitivity": "public"}, conn=conn)
        if st == 201:
            background[0] += 1
            st, _ = c.request(srv.port, "DELETE", "/v1/placements/" + wid, conn=conn)
            background[1] += st == 200


def race(a, b):
    """Runs requests a and b (method, path, body) at once: their (status, body)."""
    out = [None, None]
    go = threading.Barrier(2)

    def one(i, req):
        conn = c.http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
        conn.connect()
        go.wait()
        out[i] = c.request(srv.port, req[0], req[1], req[2], conn=conn)
        conn.close()

    ts = [threading.Thread(target=one, args=(i, r)) for i, r in enumerate((a, b))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=30)
    return out


def spec(wid):
    return {"id": wid, "gpus": 1, "sensitivity": "public"}


fillers = [threading.Thread(target=filler, args=(t,)) for t in range(4)]
for t in fillers:
    t.start()
expect = {}  # workload → state it must be in
bad_del_post, orders, bad_two_del, bad_two_post = [], set(), [], []
for k in range(40):
    wid = "race-%d" % k
    st, j = c.request(srv.port, "POST", "/v1/placements", spec(wid))
    if st != 201:
        bad_del_post.append((wid, "setup", st, j))
        continue
    (sd, jd), (sp, jp) = race(("DELETE", "/v1/placements/" + wid, None),
                              ("POST", "/v1/placements", spec(wid)))
    if sd == 200 and sp == 201:  # the release, then the placement
        expect[wid] = "running"
        orders.add("release first")
    elif sd == 200 and sp == 409:  # the placement (a conflict), then the release
        expect[wid] = "released"
        orders.add("placement first")
    else:
        bad_del_post.append((wid, sd, jd, sp, jp))
    # two releases of one running workload: exactly one releases it
    wid2 = "twice-%d" % k
    if c.request(srv.port, "POST", "/v1/placements", spec(wid2))[0] == 201:
        r = race(("DELETE", "/v1/placements/" + wid2, None),
                 ("DELETE", "/v1/placements/" + wid2, None))
        if sorted(x[0] for x in r) != [200, 409]:
            bad_two_del.append((wid2, r))
        expect[wid2] = "released"
    # two placements of one new workload: exactly one places it
    wid3 = "new-%d" % k
    r = race(("POST", "/v1/placements", spec(wid3)), ("POST", "/v1/placements", spec(wid3)))
    if sorted(x[0] for x in r) != [201, 409]:
        bad_two_post.append((wid3, r))
    expect[wid3] = "running"
stop.set()
for t in fillers:
    t.join(timeout=30)
c.check("background load placed and released work (%d placed, %d released)" % tuple(background),
        background[0] > 40 and background[1] > 40)
c.check("DELETE racing POST of running work: released then placed again, or the POST "
        "refused (409) and the work released (%s)" % ", ".join(sorted(orders)),
        not bad_del_post, bad_del_post[:3])
c.check("two DELETEs of one workload: one 200, one 409", not bad_two_del, bad_two_del[:3])
c.check("two POSTs of one new workload: one 201, one 409", not bad_two_post, bad_two_post[:3])


got = c.placement_states(srv.port)
wrong = [(w, s, got.get(w)) for w, s in expect.items() if got.get(w) != s]
c.check("every raced workload ends in the state its answers say (%d)" % len(expect), not wrong,
        wrong[:5])
used, want = c.gpu_accounting(srv.port)
c.check("GPU accounting matches the running work", used == want, "%d vs %d" % (used, want))
c.check("SIGTERM exits 0", srv.stop() == 0)
srv = c.Server(d, "-q")
again = c.placement_states(srv.port)
c.check("after a restart the journal gives the same states", again == got,
        [(w, got.get(w), again.get(w)) for w in set(got) | set(again)
         if got.get(w) != again.get(w)][:5])
used, want = c.gpu_accounting(srv.port)
c.check("after a restart the GPU accounting matches too", used == want,
        "%d vs %d" % (used, want))
c.check("SIGTERM after the restart exits 0", srv.stop() == 0)
c.done()
