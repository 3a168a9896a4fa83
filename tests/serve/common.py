"""tests/serve/common.py — what the service's load tests share: a fleet without
BMCs (the state file is the observed state), starting `trustplace serve` on a
free loopback port, and a small HTTP client on http.client. Every wait is
bounded."""
import http.client
import json
import os
import signal
import subprocess
import sys
import time

BIN = os.environ["TP_BIN"]
P = F = S = 0


def ok(name):
    global P
    P += 1
    print("ok   " + name, flush=True)


def fail(name, detail=""):
    global F
    F += 1
    print("FAIL " + name, flush=True)
    for line in str(detail).splitlines()[:20]:
        print("    " + line)


def check(name, cond, detail=""):
    ok(name) if cond else fail(name, detail)


def done():
    # The plan the calling tests/cli script declared (tp_plan N): a check that
    # silently records nothing is caught here, as in tests/cli/lib.sh.
    plan, ran = os.environ.get("TP_PLAN", ""), P + F + S
    if not plan:
        fail("plan", "the calling script declares no plan (tp_plan N)")
    elif int(plan) != ran:
        fail("plan", "planned %s checks, %d recorded a result" % (plan, ran))
    print("%d passed, %d failed, %d skipped" % (P, F, S))
    sys.exit(1 if F else 0)


def make_fleet(d, nodes, now, seed=5):
    subprocess.run([BIN, "gen-fleet", "--nodes", str(nodes), "--seed", str(seed), "--out",
                    d + "/gen.json"], check=True, capture_output=True)
    subprocess.run([BIN, "gen-state", "--config", d + "/gen.json", "--now", str(now), "--seed",
                    str(seed), "--out", d + "/state.json"], check=True, capture_output=True)
    f = json.load(open(d + "/gen.json"))
    for n in f["nodes"]:
        n.pop("bmc", None)
        n.pop("verifier", None)
    f.pop("collectors", None)
    json.dump(f, open(d + "/fleet.json", "w"))
    return f


K8S_NODES = ["gpu-node-a", "gpu-node-b", "gpu-node-c"]


def make_k8s_fleet(d, nodes, now):
    """make_fleet with its first nodes renamed to the extender fixtures' node names."""
    fleet = make_fleet(d, nodes, now)
    state = json.load(open(d + "/state.json"))
    for i, nm in enumerate(K8S_NODES):
        old = fleet["nodes"][i]["id"]
        fleet["nodes"][i]["id"] = nm
        state["nodes"][nm] = state["nodes"].pop(old)
    json.dump(fleet, open(d + "/fleet.json", "w"))
    json.dump(state, open(d + "/state.json", "w"))
    return fleet


class Server:
    def __init__(self, d, *extra):
        self.d = d
        port_file = d + "/port"
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = open(d + "/serve.log", "a")
        self.p = subprocess.Popen([BIN, "serve", "--config", d + "/fleet.json", "--state",
                                   d + "/state.json", "--data", d + "/data", "--listen",
                                   "127.0.0.1:0", "--port-file", port_file, *extra],
                                  stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 30
        self.port = None
        while time.time() < deadline and self.p.poll() is None:
            try:
                self.port = int(open(port_file).read())
                break
            except (OSError, ValueError):
                time.sleep(0.05)
        if not self.port:
            raise RuntimeError("serve did not start: " + open(d + "/serve.log").read()[-2000:])

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(timeout=30)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                return self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill9()
                return -9
        return self.p.returncode


def request(port, method, path, body=None, headers=None, timeout=20, conn=None):
    """(status, parsed body); raises OSError / http.client errors on transport failure."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = json.dumps(body) if body is not None and not isinstance(body, str) else body
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    raw = r.read()
    if not conn:
        c.close()
    return r.status, (json.loads(raw) if raw else None)


def metrics(port, timeout=20):
    """GET /metrics: (text, {"name" or "name{labels}": float}) of the 0.0.4 text."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    vals = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            vals[k] = float(v)
    return text, vals


if __name__ == "__main__":
    # common.py fleet DIR NODES [SEED]: fleet.json (no BMCs), state.json observed
    # now, nodes.txt (one id a line) in DIR — for the shell tests and bench-serve.
    if len(sys.argv) < 4 or sys.argv[1] != "fleet":
        sys.exit("usage: common.py fleet DIR NODES [SEED]")
    fl = make_fleet(sys.argv[2], int(sys.argv[3]), int(time.time()),
                    int(sys.argv[4]) if len(sys.argv) > 4 else 5)
    open(sys.argv[2] + "/nodes.txt", "w").write("\n".join(n["id"] for n in fl["nodes"]) + "\n")
    print("fleet: %d nodes, %d GPUs, %d power domains" % (
        len(fl["nodes"]), sum(n["gpus"] for n in fl["nodes"]), len(fl["power_domains"])))


def placement_states(port):
    """GET /v1/placements as {workload: state}."""
    st, j = request(port, "GET", "/v1/placements")
    return {p["workload"]: p["state"] for p in j["placements"]}


def gpu_accounting(port):
    """(GPUs the nodes report in use, GPUs of the running placements): equal when
    the service's books balance; a gang's placement counts gpus per member."""
    st, nodes = request(port, "GET", "/v1/nodes")
    st, pl = request(port, "GET", "/v1/placements?state=running")
    return sum(n["gpus_used"] for n in nodes["nodes"]), sum(
        p["gpus"] * max(1, len(p.get("members", []))) for p in pl["placements"])
