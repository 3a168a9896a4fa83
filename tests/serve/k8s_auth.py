"""tests/serve/k8s_auth.py — access control and the Kubernetes extender over
HTTP against the real binary.

Tokens made by `trustplace token add`: no token or a wrong one → 401 (counted,
never logged), a role without the right → 403, each role's rights. Then every
extender fixture of ../shared/fixtures/k8s-extender/ is posted as is, and once
more with trustplace labels on the pod: filter keeps eligible nodes,
prioritize scores 0..10, bind places through the journal."""
import copy
import json
import os
import subprocess
import tempfile
import time

import common as c

d = tempfile.mkdtemp()
now = int(time.time())
fleet = c.make_k8s_fleet(d, 16, now)
names = c.K8S_NODES

tok = {}
for name, role in (("argo", "orchestrator"), ("plan", "planner"), ("dash", "viewer")):
    r = subprocess.run([c.BIN, "token", "add", "--tokens", d + "/tokens.json", "--name", name,
                        "--role", role], capture_output=True, text=True, check=True)
    tok[role] = r.stdout.strip()
srv = c.Server(d, "--tokens", d + "/tokens.json")


def call(method, path, body=None, role=None, raw_auth=None):
    h = {}
    if role:
        h["Authorization"] = "Bearer " + tok[role]
    if raw_auth:
        h["Authorization"] = raw_auth
    return c.request(srv.port, method, path, body, h)


W = {"id": "a1", "gpus": 1, "sensitivity": "public"}
st, j = call("POST", "/v1/placements", W)
c.check("no token: 401", st == 401 and j["error"]["code"] == "unauthenticated", (st, j))
st, j = call("POST", "/v1/placements", W, raw_auth="Bearer tp_" + "A" * 43)
c.check("unknown token: 401", st == 401, (st, j))
st, j = call("POST", "/v1/placements", W, raw_auth="Basic " + tok["orchestrator"])
c.check("wrong scheme: 401", st == 401, (st, j))
st, j = call("POST", "/v1/placements", W, role="viewer")
c.check("viewer may not place: 403", st == 403 and j["error"]["code"] == "forbidden", (st, j))
st, j = call("POST", "/v1/placements", W, role="planner")
c.check("planner may not place: 403", st == 403, (st, j))
st, j = call("POST", "/v1/power/events", {"domain": fleet["power_domains"][0]["id"], "cap_w": 1},
             role="planner")
c.check("planner may not order power events: 403", st == 403, (st, j))
st, j = call("POST", "/v1/placements", W, role="orchestrator")
c.check("orchestrator places", st == 201, (st, j))
st, j = call("GET", "/v1/placements/a1", role="viewer")
c.check("viewer reads", st == 200 and j["state"] == "running", (st, j))
st, j = call("POST", "/v1/explain", W, role="planner")
c.check("planner explains", st == 200 and "eligible_nodes" in j, (st, j))
st, j = call("POST", "/v1/explain", W, role="viewer")
c.check("viewer may not explain: 403", st == 403, (st, j))
st, j = call("POST", "/v1/profiles",
             [{"model": "m", "gpu_model": fleet["nodes"][0]["gpu_model"], "tokens_per_s": 5,
               "watts": 500}], role="planner")
c.check("planner posts profiles", st == 200, (st, j))
# Kubernetes probes send no token: /readyz answers them, with no node names
st, full = call("GET", "/readyz", role="viewer")
expired = [e["node"] for e in full.get("stale", []) if e.get("fact") == "attestation"]
c.check("readyz with a viewer token: the detail, nodes with expired attestation named",
        st == 200 and full["ha"]["role"] == "single" and len(expired) >= 1 and
        full["expired_attestations"] == len(expired), (st, full))
st, j = call("GET", "/readyz")
c.check("readyz needs no token and says only ready, draining and the stale kinds",
        st == 200 and set(j) == {"ready", "draining", "stale_facts"} and
        j["ready"] == full["ready"] and j["stale_facts"] == ["attestation"] and
        not any(n in json.dumps(j) for n in expired), (st, j))
st, j = call("GET", "/readyz", raw_auth="Bearer tp_" + "A" * 43)
c.check("readyz with a bad token: the summary, not refused", st == 200 and
        "ha" not in j, (st, j))
st, j = call("GET", "/healthz")
c.check("healthz needs no token; refusals are counted (readyz's are none)",
        st == 200 and j["auth_refused"] == 7, j)
# trustplace bench --report-to: the measured profile reaches the service
stub = os.path.join(os.path.dirname(c.BIN), "libnvidia-ml-stub.so")
if not os.path.exists(stub):
    c.S += 1
    print("skip bench --report-to: no " + stub)
else:
    gm = fleet["nodes"][0]["gpu_model"]
    args = [c.BIN, "bench", "--shape", "tiny", "--batch", "1", "--gen", "4", "--meter", "nvml",
            "--cache", d + "/cache", "--no-copy-bandwidth", "--out", d + "/p.json",
            "--gpu-model", gm, "--model-name", "reported-model", "--report-to",
            "http://127.0.0.1:%d" % srv.port]
    env = dict(os.environ, TP_NVML_LIB=stub)
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    c.check("bench --report-to without a token: refused (exit 1, HTTP 401)",
            r.returncode == 1 and "HTTP 401" in r.stderr, r.stdout + r.stderr)
    open(d + "/tok", "w").write(tok["planner"] + "\n")
    r = subprocess.run(args + ["--token-file", d + "/tok"], env=env, capture_output=True,
                       text=True, timeout=300)
    c.check("bench --report-to with a planner token: the profile is accepted",
            r.returncode == 0 and "HTTP 200" in r.stdout and tok["planner"] not in r.stdout
            + r.stderr, r.stdout + r.stderr)
    st, j = call("POST", "/v1/placements", {"id": "rep", "gpus": 1, "sensitivity": "public",
                                            "model": "reported-model"}, role="orchestrator")
    c.check("work of the reported model is placed", st == 201, (st, j))
srv.stop()
log = open(d + "/serve.log").read()
c.check("no secret in the log", not any(t[3:] in log for t in tok.values()))

# ---- the extender ----
srv = c.Server(d, "--tokens", d + "/tokens.json")
fx = os.path.join(os.environ.get("TP_SHARED", "../shared"), "fixtures", "k8s-extender")
if not os.path.isdir(fx):
    c.S += 1
    print("skip k8s fixtures: no " + fx)
else:
    def load(name):
        return json.load(open(os.path.join(fx, name)))

    for name, path in (("filter-request.json", "/k8s/filter"),
                       ("filter-request-nodes.json", "/k8s/filter"),
                       ("filter-request.wire.json", "/k8s/filter")):
        raw = open(os.path.join(fx, name)).read()
        st, j = c.request(srv.port, "POST", path, raw,
                          {"Authorization": "Bearer " + tok["orchestrator"]})
        # the fixture pod carries no trustplace.io/sensitivity: judged fail-closed
        c.check("fixture %s: 200, the pod refused with its reason" % name,
                st == 200 and "sensitivity" in j["Error"] and not j.get("NodeNames"), (st, j))
    st, j = call("POST", "/k8s/prioritize", load("prioritize-request.json"), role="orchestrator")
    c.check("fixture prioritize-request.json: 422 for an unlabelled pod", st == 422, (st, j))
    st, j = call("POST", "/k8s/bind", load("bind-request.json"), role="orchestrator")
    c.check("fixture bind-request.json: a pod no filter judged is refused",
            st == 200 and j["Error"], (st, j))
    st, j = call("POST", "/k8s/preempt", load("preempt-request.json"), role="orchestrator")
    c.check("fixture preempt-request.json: no preempt verb (404)", st == 404, (st, j))
    st, j = call("POST", "/k8s/filter", load("filter-request.json"), role="viewer")
    c.check("viewer may not call the extender: 403", st == 403, (st, j))

    labelled = load("filter-request.json")
    labelled["Pod"]["metadata"]["labels"]["trustplace.io/sensitivity"] = "public"
    st, j = call("POST", "/k8s/filter", labelled, role="orchestrator")
    kept = j.get("NodeNames") or []
    c.check("labelled pod: filter keeps eligible fleet nodes", st == 200 and j["Error"] == ""
            and len(kept) >= 1 and set(kept) <= set(names), (st, j))
    withnodes = load("filter-request-nodes.json")
    withnodes["Pod"]["metadata"]["labels"]["trustplace.io/sensitivity"] = "public"
    st, j = call("POST", "/k8s/filter", withnodes, role="orchestrator")
    c.check("labelled pod, NodeList form: kept nodes returned as objects",
            st == 200 and j["Nodes"] and len(j["Nodes"]["items"]) >= 1, (st, j))
    pr = load("prioritize-request.json")
    pr["Pod"] = labelled["Pod"]
    st, j = call("POST", "/k8s/prioritize", pr, role="orchestrator")
    c.check("prioritize: a 0..10 score per node", st == 200 and
            [h["Host"] for h in j] == pr["NodeNames"] and all(0 <= h["Score"] <= 10 for h in j),
            (st, j))
    b = load("bind-request.json")
    b["Node"] = kept[0] if kept else "gpu-node-a"
    st, j = call("POST", "/k8s/bind", b, role="orchestrator")
    c.check("bind after filter places through the journal", st == 200 and j["Error"] == "",
            (st, j))
    wid = "ml-team.finetune-llama-7b-xk2p9"
    st, j = call("GET", "/v1/placements/" + wid, role="viewer")
    c.check("the bound pod is a running placement on its node",
            st == 200 and j["state"] == "running" and j["node"] == b["Node"], (st, j))
    st, j = call("POST", "/k8s/bind", b, role="orchestrator")
    c.check("binding the same pod twice is refused", st == 200 and j["Error"], (st, j))
    srv.stop()
    srv = c.Server(d, "--tokens", d + "/tokens.json")
    st, j = call("GET", "/v1/placements/" + wid, role="viewer")
    c.check("a bound pod survives a restart", st == 200 and j["state"] == "running", (st, j))
c.check("SIGTERM exits 0", srv.stop() == 0)
c.done()
