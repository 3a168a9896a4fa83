"""tests/serve/k8s_bind.py — /k8s/bind creates the pod's v1.Binding in the
Kubernetes API server (scheduler/kubebind.c) before it journals the placement.

A fake API server on loopback (https with a CA made here by the openssl CLI,
then plain http with --kube-insecure-http) records every request and answers
per pod: 201, 409 (already bound here or elsewhere), 500, 403, a POST slower
than --kube-timeout-ms (lost, or committed on the server). Checks the Binding
POST (method, path, Authorization, Content-Type, body), the extender's answer,
what the journal holds, that a failed binding leaves the capacity free, and
that the API token never reaches the log."""
import copy
import json
import re
import os
import secrets
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import common as c

d = tempfile.mkdtemp()
now = int(time.time())
fleet = c.make_k8s_fleet(d, 16, now)
names = c.K8S_NODES
gpus_a = fleet["nodes"][0]["gpus"]

KTOK = "kube-" + secrets.token_urlsafe(32)
open(d + "/kube-token", "w").write(KTOK + "\n")

# ---- the fake API server ----
SEEN = []          # (method, path, headers, body)
PODS = {}          # name -> {"uid", "node"}
ANSWER = {}        # name -> behaviour
LOCK = threading.Lock()
HELD, RELEASE = threading.Event(), threading.Event()  # the "hold" behaviour


class Api(BaseHTTPRequestHandler):
    timeout = 10

    def log_message(self, *a):
        pass

    def reply(self, st, doc):
        raw = json.dumps(doc).encode()
        self.send_response(st)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def pod_name(self):
        p = self.path.split("/")  # '', api, v1, namespaces, NS, pods, NAME[, binding]
        return p[6] if len(p) >= 7 else ""

    def do_GET(self):
        with LOCK:
            SEEN.append(("GET", self.path, dict(self.headers), None))
            pod = PODS.get(self.pod_name())
        if not pod:
            return self.reply(404, {"kind": "Status", "code": 404})
        self.reply(200, {"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": self.pod_name(), "namespace": "ml-team",
                                      "uid": pod["uid"]},
                         "spec": {"nodeName": pod["node"]} if pod["node"] else {}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(n, 1 << 20))
        name = self.pod_name()
        with LOCK:
            SEEN.append(("POST", self.path, dict(self.headers), body))
            how = ANSWER.get(name, "ok")
            pod = PODS.setdefault(name, {"uid": "", "node": None})
        try:
            target = json.loads(body)["target"]["name"]
        except (ValueError, KeyError, TypeError):
            return self.reply(400, {"kind": "Status", "message": "bad binding"})
        if how == "hold":  # keep the POST until the test lets it go (bounded)
            HELD.set()
            RELEASE.wait(20)
            how = "ok"
        if how == "ok":
            pod["node"] = target
            return self.reply(201, {"kind": "Status", "status": "Success", "code": 201})
        if how == "conflict":
            return self.reply(409, {"kind": "Status", "code": 409, "reason": "Conflict",
                                    "message": "pod %s is already assigned to node \"%s\""
                                    % (name, pod["node"])})
        if how == "fail":
            return self.reply(500, {"kind": "Status", "code": 500,
                                    "message": "etcdserver: request timed out\n\x1b[2Jfake log line"})
        if how == "denied":
            return self.reply(403, {"kind": "Status", "code": 403, "message":
                                    "pods \"%s\" is forbidden: cannot create pods/binding" % name})
        if how in ("slow", "slow-committed"):
            if how == "slow-committed":
                pod["node"] = target
            time.sleep(2)  # past --kube-timeout-ms: the answer is lost
            try:
                return self.reply(500, {"kind": "Status", "code": 500})
            except OSError:
                return


def start_api(tls):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    srv.daemon_threads = True
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(d + "/srv.pem", d + "/srv.key")
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    return srv


def openssl(*args):
    return subprocess.run(["openssl", *args], capture_output=True, timeout=60).returncode == 0


open(d + "/ext", "w").write("subjectAltName=IP:127.0.0.1\n")
have_tls = (openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "1", "-subj", "/CN=trustplace test kube CA",
                    "-keyout", d + "/ca.key", "-out", d + "/ca.pem") and
            openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=127.0.0.1", "-keyout", d + "/srv.key", "-out", d + "/srv.csr")
            and openssl("x509", "-req", "-in", d + "/srv.csr", "-CA", d + "/ca.pem", "-CAkey",
                        d + "/ca.key", "-CAcreateserial", "-days", "1", "-extfile", d + "/ext",
                        "-out", d + "/srv.pem"))

fx = os.path.join(os.environ.get("TP_SHARED", "../shared"), "fixtures", "k8s-extender")
if not os.path.isdir(fx):
    for _ in range(26):
        c.S += 1
        print("skip no " + fx)
    c.done()
FILTER = json.load(open(os.path.join(fx, "filter-request.json")))
BIND = json.load(open(os.path.join(fx, "bind-request.json")))


def pod(name, gpus):
    """The fixture's filter request for a labelled pod `name` asking for `gpus` GPUs."""
    f = copy.deepcopy(FILTER)
    md = f["Pod"]["metadata"]
    md["name"] = name
    md["uid"] = "uid-" + name
    md["labels"]["trustplace.io/sensitivity"] = "public"
    for ctr in f["Pod"]["spec"]["containers"]:
        for k in ("requests", "limits"):
            if "nvidia.com/gpu" in ctr["resources"].get(k, {}):
                ctr["resources"][k]["nvidia.com/gpu"] = str(gpus)
    with LOCK:
        PODS[name] = {"uid": md["uid"], "node": None}
    return f


def bind_args(name, node):
    b = dict(BIND)
    b.update({"PodName": name, "PodUID": "uid-" + name, "Node": node})
    return b


def placement(srv, name):
    return c.request(srv.port, "GET", "/v1/placements/ml-team." + name)


def posts(name):
    with LOCK:
        return [s for s in SEEN if s[0] == "POST" and s[1].endswith("/" + name + "/binding")]


# ---- https, the CA given by --kube-ca ----
if not have_tls:
    for _ in range(19):
        c.S += 1
        print("skip https: the openssl CLI could not make a certificate")
else:
    api = start_api(True)
    srv = c.Server(d, "--kube-api", "https://127.0.0.1:%d" % api.server_address[1],
                   "--kube-token-file", d + "/kube-token", "--kube-ca", d + "/ca.pem",
                   "--kube-timeout-ms", "500")
    cases = [("bind-fail", "fail", gpus_a), ("bind-slow", "slow", gpus_a),
             ("bind-denied", "denied", gpus_a), ("bind-ok-1", "ok", gpus_a),
             ("bind-ok-2", "ok", gpus_a), ("bind-elsewhere", "conflict", 1),
             ("bind-again", "conflict", 1), ("bind-committed", "slow-committed", 1)]
    bad = []
    for name, how, g in cases:
        ANSWER[name] = how
        st, j = c.request(srv.port, "POST", "/k8s/filter", pod(name, g))
        if st != 200 or j["Error"] or "gpu-node-a" not in (j.get("NodeNames") or []):
            bad.append((name, st, j))
    c.check("filter keeps node A for every pod (so bind finds them)", not bad, bad)
    PODS["bind-elsewhere"]["node"] = "gpu-node-c"   # bound by someone else
    PODS["bind-again"]["node"] = "gpu-node-b"       # our own earlier attempt

    st, j = c.request(srv.port, "POST", "/k8s/bind", bind_args("bind-fail", "gpu-node-a"))
    c.check("500 from the API server: Error set, the answer's message kept",
            st == 200 and "500" in j["Error"] and "etcdserver" in j["Error"], (st, j))
    st2, _ = placement(srv, "bind-fail")
    c.check("500: nothing journaled; the message reaches the log on one line",
            st2 == 404 and "request timed out?" in open(d + "/serve.log").read() and
            "\nfake log line" not in open(d + "/serve.log").read(), st2)
    st, j = c.request(srv.port, "POST", "/k8s/bind", bind_args("bind-slow", "gpu-node-a"))
    c.check("no answer within --kube-timeout-ms, pod not bound: Error set, nothing journaled",
            st == 200 and "imeout" in j["Error"] and placement(srv, "bind-slow")[0] == 404,
            (st, j))
    st, j = c.request(srv.port, "POST", "/k8s/bind", bind_args("bind-denied", "gpu-node-a"))
    c.check("403: Error names the RBAC it needs", st == 200 and "pods/binding" in j["Error"]
            and placement(srv, "bind-denied")[0] == 404, (st, j))

    st, j = c.request(srv.port, "POST", "/k8s/bind", bind_args("bind-ok-1", "gpu-node-a"))
    c.check("201: Error empty (the failed bindings left node A's %d GPUs free)" % gpus_a,
            st == 200 and j == {"Error": ""}, (st, j))
    st, j = placement(srv, "bind-ok-1")
    c.check("201: the placement is journaled, running on its node",
            st == 200 and j["state"] == "running" and j["node"] == "gpu-node-a", (st, j))
    p = posts("bind-ok-1")
    c.check("one Binding POST for the pod", len(p) == 1, p)
    method, path, hdr, body = p[0] if p else ("", "", {}, b"null")
    hdr = {k.lower(): v for k, v in hdr.items()}
    c.check("the POST's path", path == "/api/v1/namespaces/ml-team/pods/bind-ok-1/binding",
            path)
    c.check("the POST's headers: Authorization Bearer <token file>, Content-Type JSON",
            hdr.get("authorization") == "Bearer " + KTOK and
            hdr.get("content-type") == "application/json", hdr)
    c.check("the POST's body is the v1.Binding",
            json.loads(body) == {"apiVersion": "v1", "kind": "Binding",
                                 "metadata": {"name": "bind-ok-1", "namespace": "ml-team",
                                              "uid": "uid-bind-ok-1"},
                                 "target": {"apiVersion": "v1", "kind": "Node",
                                            "name": "gpu-node-a"}}, body)
    st, j = c.request(srv.port, "POST", "/k8s/bind", bind_args("bind-ok-2", "gpu-node-a"))
    c.check("node A full: refused by policy before any Binding is posted",
            st == 200 and "gpu_capacity" in j["Error"] and not posts("bind-ok-2"), (st, j))

    st, j = c.request(srv.port, "POST", "/k8s/bind", bind_args("bind-elsewhere", "gpu-node-b"))
    c.check("409, the pod bound to another node: Error names it, nothing journaled",
            st == 200 and "gpu-node-c" in j["Error"] and
            placement(srv, "bind-elsewhere")[0] == 404, (st, j))
    st, j = c.request(srv.port, "POST", "/k8s/bind", bind_args("bind-again", "gpu-node-b"))
    st2, j2 = placement(srv, "bind-again")
    c.check("409, the pod already bound to that node: accepted and journaled",
            st == 200 and j == {"Error": ""} and st2 == 200 and j2["node"] == "gpu-node-b",
            (st, j, st2, j2))
    st, j = c.request(srv.port, "POST", "/k8s/bind", bind_args("bind-committed", "gpu-node-c"))
    st2, j2 = placement(srv, "bind-committed")
    c.check("a timed-out POST the server committed: found bound by the read-back, journaled",
            st == 200 and j == {"Error": ""} and st2 == 200 and j2["state"] == "running",
            (st, j, st2, j2))
    st, j = c.request(srv.port, "GET", "/v1/placements?state=running")
    ids = sorted(p["workload"] for p in (j.get("placements", j) if isinstance(j, dict) else j))
    c.check("running placements: exactly the bound pods",
            ids == ["ml-team.bind-again", "ml-team.bind-committed", "ml-team.bind-ok-1"],
            (st, j))
    c.check("SIGTERM exits 0", srv.stop() == 0)
    api.shutdown()
    srv = c.Server(d, "--kube-api", "https://127.0.0.1:%d" % api.server_address[1],
                   "--kube-token-file", d + "/kube-token", "--kube-ca", d + "/ca.pem")
    st, j = placement(srv, "bind-ok-1")
    c.check("a bound pod survives a restart", st == 200 and j["state"] == "running", (st, j))
    srv.stop()
    # a CA that did not sign the server: TLS refuses, nothing is bound
    api = start_api(True)
    srv = c.Server(d, "--kube-api", "https://127.0.0.1:%d" % api.server_address[1],
                   "--kube-token-file", d + "/kube-token", "--kube-timeout-ms", "2000")
    c.request(srv.port, "POST", "/k8s/filter", pod("bind-untrusted", 1))
    n0 = len(SEEN)
    st, j = c.request(srv.port, "POST", "/k8s/bind", bind_args("bind-untrusted", "gpu-node-b"))
    c.check("an API server certificate no CA vouches for: Error, no request sent",
            st == 200 and j["Error"] and len(SEEN) == n0 and
            placement(srv, "bind-untrusted")[0] == 404, (st, j))
    srv.stop()
    api.shutdown()

# ---- plain http: only with --kube-insecure-http, loudly ----
api = start_api(False)
url = "http://127.0.0.1:%d" % api.server_address[1]
r = subprocess.run([c.BIN, "serve", "--config", d + "/fleet.json", "--state", d + "/state.json",
                    "--data", d + "/data2", "--listen", "127.0.0.1:0", "--kube-api", url,
                    "--kube-token-file", d + "/kube-token"], capture_output=True, text=True,
                   timeout=30)
c.check("an http:// API server without --kube-insecure-http: refused at start",
        r.returncode != 0 and "https" in r.stderr and KTOK not in r.stderr, r.stderr)
r = subprocess.run([c.BIN, "serve", "--config", d + "/fleet.json", "--data", d + "/data2",
                    "--kube-api", "https://user:pw@127.0.0.1:1", "--kube-token-file",
                    d + "/kube-token"], capture_output=True, text=True, timeout=30)
c.check("a URL with userinfo: refused at start", r.returncode != 0 and "user" in r.stderr,
        r.stderr)
srv = c.Server(d, "--kube-api", url, "--kube-token-file", d + "/kube-token",
               "--kube-insecure-http", "--kube-timeout-ms", "30000")
c.request(srv.port, "POST", "/k8s/filter", pod("bind-http", 1))
ANSWER["bind-http"] = "hold"
out = {}


def bind_in_thread():
    out["r"] = c.request(srv.port, "POST", "/k8s/bind", bind_args("bind-http", "gpu-node-b"),
                         timeout=60)


t = threading.Thread(target=bind_in_thread, daemon=True)
t.start()
held = HELD.wait(20)
st, j = c.request(srv.port, "GET", "/healthz")
st2, _ = c.request(srv.port, "GET", "/v1/nodes/gpu-node-a")
c.check("while the API server holds the Binding POST, the loop still answers",
        held and st == 200 and st2 == 200 and t.is_alive() and "r" not in out,
        (held, st, st2))
RELEASE.set()
t.join(60)
st, j = out.get("r", (0, None))
c.check("--kube-insecure-http: bound over http", st == 200 and j == {"Error": ""} and
        len(posts("bind-http")) == 1, (st, j))
srv.stop()
api.shutdown()
log = open(d + "/serve.log").read()
c.check("--kube-insecure-http is logged as a warning", "WARNING: --kube-insecure-http" in log,
        log[-2000:])
c.check("the API token never reaches the log", KTOK not in log and KTOK[5:] not in log)
c.check("no sanitizer report from any of the service's runs",
        not re.search(r"ERROR: (Address|Leak)Sanitizer|runtime error: ", log), log[-3000:])
c.done()
