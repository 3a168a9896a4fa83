"""tests/serve/observe.py — issue 15 against the real binary: the audit log of a
running service (signed, verified, recovered from the journal after a torn
file and after kill -9), GET /v1/kpis on a fixed scenario against values
computed by hand (and again after a restart), GET /metrics through promtool,
and the dashboard page in headless Chromium (screenshot saved).

The scenario (see docs/observability.md for the KPI definitions):
  a1  rack-a eu-de H100 x8  tdx,     attestation affirming, issued now-600,  draw 5000 W
  a2  rack-a eu-de H100 x8  none,    attestation warning,   issued now-7200, draw 1500 W
  b1  rack-b eu-fr L40S x4  sev-snp, attestation affirming, issued now-60,   draw unknown
  rack-b's observed cap 3000 W; profiles llama-8b: H100 10000 tok/s 700 W, L40S 3000 tok/s 300 W
  w-conf1 confidential 4 GPUs H100 → a1;  w-pub1 public 8 GPUs H100 → a2 (a1 has 4 left)
  w-pub2  public 2 GPUs L40S → b1;        w-conf2 confidential 8 GPUs L40S → pending
"""
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time

import common as c

BIN = c.BIN
d = tempfile.mkdtemp()
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(BIN)), "artifacts")
now = int(time.time())

FLEET = {
    "version": 1,
    "regions": {"eu-de": {"countries": ["DE"]}, "eu-fr": {"countries": ["FR"]}},
    "power_domains": [{"id": "site", "cap_w": 40000},
                      {"id": "rack-a", "parent": "site", "cap_w": 20000},
                      {"id": "rack-b", "parent": "site", "cap_w": 15000}],
    "nodes": [
        {"id": "a1", "power_domain": "rack-a", "region": "eu-de", "gpu_model": "H100", "gpus": 8,
         "cpu_tee": "tdx", "gpu_cc": True, "cap_w": 10000, "idle_w": 1000, "gpu_w": 700},
        {"id": "a2", "power_domain": "rack-a", "region": "eu-de", "gpu_model": "H100", "gpus": 8,
         "cap_w": 10000, "idle_w": 1000, "gpu_w": 700},
        {"id": "b1", "power_domain": "rack-b", "region": "eu-fr", "gpu_model": "L40S", "gpus": 4,
         "cpu_tee": "sev-snp", "gpu_cc": True, "cap_w": 4000, "idle_w": 500, "gpu_w": 350}],
    "policy": {"classes": {
        "public": {},
        "confidential": {"cpu_tee": ["tdx", "sev-snp"], "gpu_cc": True,
                         "attestation": {"min_status": "affirming", "max_age_s": 3600}}}},
    "profiles": [
        {"model": "llama-8b", "gpu_model": "H100", "tokens_per_s": 10000, "watts": 700},
        {"model": "llama-8b", "gpu_model": "L40S", "tokens_per_s": 3000, "watts": 300}]}


def att(status, tee, cc, age, life, ev):
    return {"status": status, "cpu_tee": tee, "gpu_cc": cc, "issued_at": now - age,
            "expires_at": now - age + life, "verifier": "trustee-eu", "evidence": ev}


STATE = {"observed_at": now, "power_domains": {"rack-b": {"cap_w": 3000}},
         "nodes": {"a1": {"attestation": att("affirming", "tdx", True, 600, 3600, "sha256:a1"),
                          "draw_w": 5000},
                   "a2": {"attestation": att("warning", "none", False, 7200, 14400, "sha256:a2"),
                          "draw_w": 1500},
                   "b1": {"attestation": att("affirming", "sev-snp", True, 60, 3600,
                                             "sha256:b1")}}}
json.dump(FLEET, open(d + "/fleet.json", "w"))
json.dump(STATE, open(d + "/state.json", "w"))
LOG = d + "/data/audit.jsonl"
key, pub = d + "/audit.pem", d + "/audit.pub"
subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True,
               capture_output=True)
subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True,
               capture_output=True)


def near(a, b, tol=1e-6):
    return a is not None and abs(a - b) <= tol


def records():
    """The complete records: a line the service is still writing is not one."""
    return [json.loads(l) for l in open(LOG) if l.endswith("\n")]


def records_when(ok):
    """The records once ok(records) holds (or after 10 s): a job's rows follow
    its answers into audit.jsonl (the journal holds them before)."""
    deadline = time.time() + 10
    while not ok(records()) and time.time() < deadline:
        time.sleep(0.02)
    return records()


def verify(*extra):
    r = subprocess.run([BIN, "audit", "verify", LOG, *extra], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


# ---- the scenario ----
srv = c.Server(d, "--audit-key", key)
port = srv.port
posted = [
    ("w-conf1", {"gpus": 4, "sensitivity": "confidential", "gpu_models": ["H100"], "priority": 90}),
    ("w-pub1", {"gpus": 8, "sensitivity": "public", "gpu_models": ["H100"], "priority": 10}),
    ("w-pub2", {"gpus": 2, "sensitivity": "public", "gpu_models": ["L40S"]}),
    ("w-conf2", {"gpus": 8, "sensitivity": "confidential", "gpu_models": ["L40S"]})]
answers = {}
for wid, body in posted:
    body = dict(body, id=wid, model="llama-8b")
    st, j = c.request(port, "POST", "/v1/placements", body)
    answers[wid] = (st, j)
want_nodes = {"w-conf1": "a1", "w-pub1": "a2", "w-pub2": "b1", "w-conf2": None}
c.check("scenario placed as designed (conf1→a1, pub1→a2, pub2→b1, conf2 pending)",
        all(answers[w][1].get("node") == n for w, n in want_nodes.items()), answers)
# the KPI history is fed from the audit rows, which follow the answers
records_when(lambda r: sum(x["kind"] == "decision" for x in r) >= len(want_nodes))

st, k = c.request(port, "GET", "/v1/kpis")
c.check("GET /v1/kpis answers 200", st == 200, k)
now_ = k["tee_share"]["now"]
c.check("TEE share now: 2 of 3 running on attested TEEs (a1 tdx, b1 sev-snp; a2 none) = 0.6667",
        now_["running"] == 3 and now_["in_tee"] == 2 and near(now_["share"], 2 / 3), now_)
bs = now_["by_sensitivity"]
c.check("by sensitivity: confidential 1/1, public 1/2",
        bs["confidential"]["running"] == 1 and bs["confidential"]["in_tee"] == 1 and
        bs["public"]["running"] == 2 and bs["public"]["in_tee"] == 1 and
        near(bs["public"]["share"], 0.5), bs)
sen = now_["sensitive"]
c.check("sensitive work in TEEs: classes [confidential], 1 of 1 = 1.0",
        sen["classes"] == ["confidential"] and sen["running"] == 1 and sen["share"] == 1.0, sen)
a = k["attestation"]
c.check("attestation: 3 results, 2 affirming, 1 warning, pass rate 2/3, none expired",
        a["results"] == 3 and a["affirming"] == 2 and a["warning"] == 1 and a["expired"] == 0
        and near(a["pass_rate"], 2 / 3), a)
age = a["age"]
drift = k["at"] - now  # seconds since the state was written
c.check("attestation ages: p50 = 600 s, max = 7200 s (+ %d s since the state was taken)" % drift,
        age["p50_s"] == 600 + drift and age["max_s"] == 7200 + drift, age)
c.check("age buckets (cumulative): ≤300 s 1, ≤900 s 2, ≤3600 s 2, ≤86400 s 3",
        [b["results"] for b in age["buckets"]] == [1, 2, 2, 3, 3], age["buckets"])
r = a["by_region"]
c.check("freshness per region: eu-de 2 nodes 1 fresh (oldest 7200 s), eu-fr 1 node 1 fresh",
        r["eu-de"]["nodes"] == 2 and r["eu-de"]["fresh"] == 1 and
        r["eu-de"]["oldest_age_s"] == 7200 + drift and r["eu-fr"]["fresh"] == 1, r)
t = k["tokens_per_watt"]
# a1: 4×10000 tok/s, max(observed 5000, modelled 1000+4×700) = 5000 W
# a2: 8×10000 tok/s, max(observed 1500, modelled 1000+8×700) = 6600 W
# b1: 2×3000 tok/s, draw unknown → modelled 500+2×300 = 1100 W
c.check("tokens/W: 126000 tok/s over 12700 W = 9.9213",
        near(t["tokens_per_s"], 126000) and near(t["watts"], 12700) and
        near(t["tokens_per_watt"], 126000 / 12700), t)
c.check("tokens/W by GPU model: H100 120000/11600 = 10.345, L40S 6000/1100 = 5.4545",
        near(t["by_gpu_model"]["H100"]["tokens_per_watt"], 120000 / 11600) and
        near(t["by_gpu_model"]["L40S"]["tokens_per_watt"], 6000 / 1100), t["by_gpu_model"])
c.check("tokens/W by region: eu-de 10.345, eu-fr 5.4545",
        near(t["by_region"]["eu-de"]["tokens_per_watt"], 120000 / 11600) and
        near(t["by_region"]["eu-fr"]["tokens_per_watt"], 6000 / 1100), t["by_region"])
doms = {x["domain"]: x for x in k["power"]["domains"]}
c.check("power: rack-a draw 6500 of 20000 W (headroom 13500); rack-b cap 3000 (observed) "
        "draw unknown; site headroom 33500",
        near(doms["rack-a"]["draw_w"], 6500) and near(doms["rack-a"]["headroom_w"], 13500) and
        near(doms["rack-b"]["cap_w"], 3000) and doms["rack-b"]["nodes_unknown"] == 1 and
        near(doms["site"]["headroom_w"], 33500) and doms["site"]["parent"] is None, doms)
p = k["pending"]
c.check("pending: 1 workload, 8 GPUs; gpu_capacity (b1 has 4) and gpu_model (a1, a2 are H100)",
        p["workloads"] == 1 and p["gpus"] == 8 and
        p["by_reason"]["gpu_capacity"]["workloads"] == 1 and
        p["by_reason"]["gpu_model"]["workloads"] == 1, p)

# GPU-hours: recomputed here from the audit records' times and the KPI's own `at`
recs = records()
placed = {x["workload"]: x["at"] for x in recs
          if x["kind"] == "decision" and x.get("state") == "running"}
T = k["at"]
tee_gh = (4 * (T - placed["w-conf1"]) + 2 * (T - placed["w-pub2"])) / 3600
all_gh = tee_gh + 8 * (T - placed["w-pub1"]) / 3600
w = k["tee_share"]["windows"]["1h"]
c.check("1 h window: GPU-hours and TEE share from the decision times",
        near(w["gpu_hours"], all_gh, 1e-9) and near(w["tee_gpu_hours"], tee_gh, 1e-9), w)

# ---- the audit log ----
rc, out = verify("--pubkey", pub)
c.check("audit verify --pubkey: chain intact, every signature verified",
        rc == 0 and "every signature verified" in out, out)
kinds = [(x["kind"], x.get("workload")) for x in recs]
c.check("every decision has its record (4 decisions after the service start)",
        kinds[0][0] == "service_start" and
        sorted(w for kd, w in kinds if kd == "decision") == sorted(want_nodes), kinds)
conf1 = [x for x in recs if x.get("workload") == "w-conf1"][0]
c.check("a decision records the attestation evidence and facts it relied on",
        conf1["facts"]["attestation"]["evidence"] == "sha256:a1" and
        conf1["facts"]["attestation"]["status"] == "affirming" and
        conf1["facts"]["region"] == "eu-de" and conf1["node"] == "a1", conf1)
st, _ = c.request(port, "DELETE", "/v1/placements/w-pub2")
rel = [x for x in records_when(lambda r: any(x["kind"] == "release" for x in r))
       if x["kind"] == "release"]
c.check("a release is recorded (right after its answer)",
        st == 200 and len(rel) == 1 and rel[0]["workload"] == "w-pub2" and rel[0]["node"] == "b1",
        rel)
st, _ = c.request(port, "POST", "/v1/power/events",
                  {"domain": "rack-a", "cap_w": 9000})
# a power event's records follow its answer (the journal holds them before it)
deadline = time.time() + 10
while time.time() < deadline and not any(
        x["kind"] == "power_event" and x.get("state") == "active" for x in records()):
    time.sleep(0.02)
# the preemptions it caused (the service's own count) are recorded after the
# event's record: wait for all of them, not just the first record
_, kp = c.request(port, "GET", "/v1/kpis")
npre = kp["power"]["preemptions"]["cap_changes"]
while time.time() < deadline and sum(x["kind"] == "preemption" for x in records()) < npre:
    time.sleep(0.02)
pe = [x for x in records() if x["kind"] == "power_event"]
pre = [x for x in records() if x["kind"] == "preemption"]
c.check("a power event and the preemptions it caused are recorded",
        st == 201 and pe and pe[-1].get("state") in ("active", "scheduled") and
        all(x["why"].startswith("power_") for x in pre), (st, pe, pre))
q = subprocess.run([BIN, "audit", "query", LOG, "--node", "a1"], capture_output=True, text=True)
c.check("audit query --node a1: where w-conf1 ran and on what attested hardware",
        q.returncode == 0 and '"workload":"w-conf1"' in q.stdout and "sha256:a1" in q.stdout,
        q.stdout + q.stderr)
rc, out = verify("--pubkey", d + "/nonexistent.pub")
c.check("verify with an unreadable key is a usage error", rc == 2, out)
other = d + "/other.pem"
subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", other], check=True,
               capture_output=True)
subprocess.run(["openssl", "pkey", "-in", other, "-pubout", "-out", other + ".pub"], check=True,
               capture_output=True)
rc, out = verify("--pubkey", other + ".pub")
c.check("a wrong public key is refused at record 1", rc == 1 and ":1: record seq 1:" in out, out)
srv.p.send_signal(c.signal.SIGHUP)
deadline = time.time() + 10
while time.time() < deadline and not any(
        x.get("change") == "fleet_reload" for x in records()):
    time.sleep(0.05)
rl = [x for x in records() if x.get("change") == "fleet_reload"]
c.check("SIGHUP: the fleet reload is a policy_change record with the file's SHA-256",
        rl and rl[0]["kind"] == "policy_change" and
        re.fullmatch(r"[0-9a-f]{64}", rl[0]["config_sha256"] or ""), rl)
k_before = k
c.check("SIGTERM exits 0", srv.stop() == 0)

# ---- recovery: a torn / short audit file is completed from the journal ----
full = open(LOG).read()
lines = full.splitlines(True)
open(LOG, "w").write("".join(lines[:-2]) + lines[-2][:25])  # lost the tail, torn line
srv = c.Server(d, "--audit-key", key)
port = srv.port
after = open(LOG).read()
c.check("restart: the lost records are rewritten from the journal, byte for byte",
        after.startswith(full) and after[len(full):].count("\n") == 1 and
        json.loads(after[len(full):])["kind"] == "service_start", after[len(full) - 200:])
rc, out = verify("--pubkey", pub)
c.check("the recovered log verifies", rc == 0, out)

# ---- KPIs survive the restart ----
time.sleep(1.1)  # w-conf1 has run for at least a whole second: its GPU-hours are > 0
st, k2 = c.request(port, "GET", "/v1/kpis")
c.check("after restart: running and pending as before the restart (less the release and "
        "the preemptions, which the journal holds)",
        st == 200 and k2["tee_share"]["now"]["running"] ==
        3 - 1 - len(pre) and k2["pending"]["workloads"] == 1 and
        k2["power"]["preemptions"]["cap_changes"] == len(pre), k2["tee_share"]["now"])


def spans_gpu_hours(recs, T):
    """(all, tee) GPU-hours up to T, from the audit records alone."""
    open_, tot, tee = {}, 0.0, 0.0
    def close(w, at):
        nonlocal tot, tee
        if w in open_:
            s, g, t = open_.pop(w)
            tot += g * (at - s) / 3600
            tee += g * (at - s) / 3600 if t else 0
    for x in recs:
        w = x.get("workload")
        if x["kind"] in ("release", "preemption") or (x["kind"] == "decision" and
                                                      x.get("state") == "running"):
            close(w, x["at"])
        if x["kind"] == "decision" and x.get("state") == "running":
            a = x["facts"]["attestation"]
            open_[w] = (x["at"], x["gpus"], a and a["status"] == "affirming" and
                        a["cpu_tee"] not in ("none", "unknown") and a["expires_at"] > x["at"])
    for w in list(open_):
        close(w, T)
    return tot, tee


w2 = k2["tee_share"]["windows"]["24h"]
tot, tee = spans_gpu_hours(records(), k2["at"])
c.check("after restart: the 24 h window holds the work done before it (%.5f GPU-h, %.5f on "
        "TEEs, recomputed from the audit records)" % (tot, tee),
        near(w2["gpu_hours"], tot, 1e-9) and near(w2["tee_gpu_hours"], tee, 1e-9) and tot > 0,
        w2)

# ---- /metrics ----
import http.client
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
conn.request("GET", "/metrics")
resp = conn.getresponse()
text = resp.read().decode()
ctype = resp.getheader("Content-Type")
c.check("GET /metrics: text format 0.0.4", resp.status == 200 and
        ctype.startswith("text/plain; version=0.0.4"), ctype)
open(d + "/metrics.txt", "w").write(text)
fams = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
c.check("every family has HELP and TYPE, all prefixed trustplace_ (%d families)" % len(fams),
        fams == helps and all(f.startswith("trustplace_") for f in fams) and len(fams) > 30,
        sorted(fams ^ helps))
m = re.search(r"^trustplace_tee_share_ratio (\S+)$", text, re.M)
c.check("trustplace_tee_share_ratio is the KPI's TEE share (1 of 1 after the power event's "
        "preemptions, else its value)",
        m and near(float(m.group(1)), k2["tee_share"]["now"]["share"] or float("nan")), m)
c.check("the request histogram is labelled by route (the KPI reads show as /v1/kpis), "
        "never by a workload id",
        'trustplace_http_request_duration_seconds_count{route="/v1/kpis",method="GET",code="200"}'
        in text and "w-pub" not in text, text[:600])
graf = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                         "grafana-dashboard.json")).read()
used = set(re.findall(r"trustplace_[a-z_]+", graf))
c.check("every metric the Grafana dashboard (docs/grafana-dashboard.json) uses is exposed",
        used and all(n in text for n in used), sorted(n for n in used if n not in text))
if shutil.which("promtool"):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    c.check("promtool check metrics: clean", r.returncode == 0 and not r.stdout.strip(),
            r.stdout + r.stderr)
else:
    c.S += 1
    print("skip promtool check metrics: promtool not installed (Debian package prometheus)")
conn.request("GET", "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
resp = conn.getresponse()
om = resp.read().decode()
c.check("Accept: application/openmetrics-text → OpenMetrics, ends with # EOF",
        resp.getheader("Content-Type").startswith("application/openmetrics-text") and
        om.endswith("# EOF\n") and "# TYPE trustplace_preemptions counter" in om, om[-200:])
conn.close()

# ---- the dashboard in headless Chromium ----
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
st, k3 = c.request(port, "GET", "/v1/kpis")
if chromium:
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "dashboard.png")
    url = "http://127.0.0.1:%d/" % port
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--user-data-dir=" + d + "/chrome", "--window-size=1440,1000",
            "--virtual-time-budget=4000"]
    r = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    dom = r.stdout

    def tile(id_):
        mm = re.search(r'id="%s"[^>]*>([^<]*)<' % id_, dom)
        return mm.group(1) if mm else None

    tee = "%.1f %%" % (100 * k3["tee_share"]["now"]["share"])
    tpw = "%.2f" % k3["tokens_per_watt"]["tokens_per_watt"]
    att_ = "%.1f %%" % (100 * k3["attestation"]["pass_rate"])
    c.check("dashboard tiles show the API's values (TEE %s, tokens/W %s, pass rate %s, "
            "pending %d)" % (tee, tpw, att_, k3["pending"]["workloads"]),
            'data-loaded="' in dom and tile("t-tee") == tee and tile("t-tpw") == tpw and
            tile("t-att") == att_ and tile("t-pend") == str(k3["pending"]["workloads"]),
            [tile(x) for x in ("t-tee", "t-tpw", "t-att", "t-pend")] + [r.stderr[-500:]])
    c.check("dashboard: one power bar per domain with a cap, a table row per region",
        len(re.findall(r" free(?: · \d+ unread)?</text>", dom)) == 3 and dom.count("<tr><td>eu-") == 2, dom[-800:])
    pc = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    pc.request("GET", "/")
    pr = pc.getresponse()
    page = pr.read().decode()
    pc.close()
    c.check("GET / is one self-contained HTML page (no external script, style or font)",
            pr.status == 200 and pr.getheader("Content-Type").startswith("text/html") and
            not re.search(r'(src|href)\s*=\s*"(https?:)?//', page) and
            "@import" not in page, page[:300])
    subprocess.run(base + ["--screenshot=" + shot, url], capture_output=True, timeout=120)
    c.check("dashboard screenshot saved: " + shot,
            os.path.exists(shot) and os.path.getsize(shot) > 10000)
    print("artifact: dashboard screenshot at " + shot, flush=True)
else:
    c.S += 1
    print("skip dashboard in headless Chromium: chromium not installed (Debian package chromium)")

# ---- kill -9: every acknowledged decision has its audit record ----
acked = {}
lock = threading.Lock()
for rnd in range(3):
    stop = threading.Event()

    def load(tid):
        k_ = 0
        conn_ = None
        while not stop.is_set():
            wid = "k%d-%d-%d" % (rnd, tid, k_)
            k_ += 1
            try:
                conn_ = conn_ or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                st_, j_ = c.request(port, "POST", "/v1/placements",
                                    {"id": wid, "gpus": 1, "sensitivity": "public",
                                     "gpu_models": ["H100"], "priority": 1}, conn=conn_)
            except Exception:
                return
            if 200 <= st_ < 300:
                with lock:
                    acked[wid] = j_.get("node")
            if wid.endswith("-0") is False and k_ % 5 == 0:
                try:
                    c.request(port, "DELETE", "/v1/placements/" + wid, conn=conn_)
                except Exception:
                    return
    ths = [threading.Thread(target=load, args=(i,)) for i in range(3)]
    for th in ths:
        th.start()
    time.sleep(random.uniform(0.3, 0.8))
    srv.kill9()
    stop.set()
    for th in ths:
        th.join(timeout=30)
    srv = c.Server(d, "--audit-key", key)
    port = srv.port
recs = records()
dec = {x["workload"]: x.get("node") for x in recs if x["kind"] == "decision"}
missing = [w for w, n in acked.items() if w not in dec or dec[w] != n]
c.check("kill -9 ×3 under load: each of %d acknowledged decisions has its audit record"
        % len(acked), acked and not missing, missing[:10])
rc, out = verify("--pubkey", pub)
c.check("after the kills the chain verifies with every signature", rc == 0, out)
c.check("SIGTERM exits 0", srv.stop() == 0)

# ---- with --tokens: KPIs and metrics need a token, the page does not ----
tok = subprocess.run([BIN, "token", "add", "--tokens", d + "/tokens.json", "--name", "exec",
                      "--role", "viewer"], capture_output=True, text=True).stdout.strip()
srv = c.Server(d, "--audit-key", key, "--tokens", d + "/tokens.json")
port = srv.port


def status(path, token=None):
    hc = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    hc.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
    rr = hc.getresponse()
    rr.read()
    hc.close()
    return rr.status


c.check("--tokens: /v1/kpis and /metrics answer 401 without a token, 200 with a viewer's; "
        "/ is served without one",
        tok and status("/v1/kpis") == 401 and status("/metrics") == 401 and
        status("/v1/kpis", tok) == 200 and status("/metrics", tok) == 200 and
        status("/") == 200, tok)
c.check("POST /v1/kpis is 405", c.request(port, "POST", "/v1/kpis", {},
                                          {"Authorization": "Bearer " + tok})[0] == 405)
c.check("SIGTERM exits 0", srv.stop() == 0)

# ---- --audit-export: streamed to a SIEM (RFC 5424 over TCP on loopback) ----
import socket
siem = socket.socket()
siem.bind(("127.0.0.1", 0))
siem.listen(8)
siem.settimeout(10)
target = "syslog+tcp:127.0.0.1:%d" % siem.getsockname()[1]


def frames_until(needle, limit=10.0):
    """RFC 6587 octet-counted frames from the exporter's connections until one
    contains needle (bounded in time)."""
    got, deadline = [], time.time() + limit
    while time.time() < deadline:
        try:
            conn_, _ = siem.accept()
        except socket.timeout:
            break
        conn_.settimeout(5)
        buf = b""
        while True:
            try:
                chunk = conn_.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
        conn_.close()
        while buf:
            sp = buf.index(b" ")
            n = int(buf[:sp])
            got.append(buf[sp + 1:sp + 1 + n].decode())
            buf = buf[sp + 1 + n:]
        if any(needle in f for f in got):
            break
    return got


srv = c.Server(d, "--audit-key", key, "--audit-export", target)
port = srv.port
c.request(port, "POST", "/v1/placements", {"id": "x-exp1", "gpus": 1, "sensitivity": "public"})
fr = frames_until('"workload":"x-exp1"')
mine = [f for f in fr if '"workload":"x-exp1"' in f]
c.check("--audit-export: the decision reaches the SIEM as an RFC 5424 message with its record",
        mine and mine[0].startswith("<85>1 ") and " trustplace " in mine[0] and
        " decision [origin " in mine[0], fr[-3:])
first_seqs = [json.loads(f[f.index("] ") + 2:])["seq"] for f in fr]
sv = {}
for line in c.metrics(port)[0].splitlines():
    if line.startswith(("trustplace_leader", "trustplace_store_")):
        sv[line.rpartition(" ")[0]] = float(line.rpartition(" ")[2])
c.check("a single instance on SQLite: trustplace_leader 1, term 0, no elections; store "
        "commits counted (%s) and each attempt in the commit latency histogram"
        % sv.get("trustplace_store_commits_total"),
        sv.get("trustplace_leader") == 1 and sv.get("trustplace_leader_term") == 0 and
        sv.get("trustplace_leader_elections_total") == 0 and
        sv.get("trustplace_store_commits_total", 0) > 0 and
        sv.get("trustplace_store_commit_duration_seconds_count") ==
        sv["trustplace_store_commits_total"] + sv.get("trustplace_store_commit_failures_total", -1)
        == sv.get('trustplace_store_commit_duration_seconds_bucket{le="+Inf"}'), sv)
c.check("SIGTERM exits 0", srv.stop() == 0)
srv = c.Server(d, "--audit-key", key, "--audit-export", target)
port = srv.port
fr2 = frames_until('"kind":"service_start"')
seqs2 = [json.loads(f[f.index("] ") + 2:])["seq"] for f in fr2]
c.check("after a restart the export resumes after the last record sent (no resend)",
        seqs2 and min(seqs2) > max(first_seqs) and
        not any("x-exp1" in f for f in fr2), (first_seqs[-3:], seqs2))
c.check("SIGTERM exits 0", srv.stop() == 0)
siem.close()
r = subprocess.run([BIN, "serve", "--config", d + "/fleet.json", "--data", d + "/data",
                    "--audit-export", "syslog+udp:x:1", "-q"], capture_output=True, text=True,
                   timeout=30)
c.check("a bad --audit-export target refuses to start (exit 2, the forms named)",
        r.returncode == 2 and "syslog+tcp:HOST:PORT" in r.stderr, r.stderr)

shutil.rmtree(d, ignore_errors=True)
c.done()
