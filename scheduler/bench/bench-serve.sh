#!/bin/sh
# scheduler/bench/bench-serve.sh BUILD — `make bench-serve`: the service on a
# generated 10,000-node fleet with 40,000 running workloads, measured with wrk
# on loopback against `serve --ceiling` (same HTTP stack, answers {}) in the
# same run: GET /v1/nodes/{id}, POST /v1/placements with releases (steady
# state) and without (until the fleet is full; journal commits), and
# the time to answer a power event's preemption plan. Prints figures; asserts
# nothing (targets: docs/serve.md). NODES, RUNNING, DURATION, CONNS,
# POST_CONNS (the connection counts of the POST runs) override.
set -eu
B=${1:-build}
NODES=${NODES:-10000}
RUNNING=${RUNNING:-40000}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
POST_CONNS=${POST_CONNS:-"$CONNS 16"}
H=$(cd "$(dirname "$0")" && pwd)
# wrk (Debian) is a benchmark-only dependency: installed here, not by tools/deps.sh.
if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        echo "bench-serve: installing wrk" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2 ||
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2; }
    fi
    command -v wrk >/dev/null || { echo "bench-serve: wrk is not installed: apt-get install -y wrk"; exit 1; }
fi
D=$(mktemp -d)
SP="" CP=""
trap '[ -n "$SP" ] && kill $SP 2>/dev/null; [ -n "$CP" ] && kill $CP 2>/dev/null; rm -rf "$D"' EXIT
T=$B/trustplace
TP_BIN=$T python3 "$H/../../tests/serve/common.py" fleet "$D" "$NODES" 7
$T serve --config "$D/fleet.json" --state "$D/state.json" --data "$D/data" -q \
    --listen 127.0.0.1:0 --port-file "$D/port" --max-body 67108864 &
SP=$!
$T serve --ceiling --listen 127.0.0.1:0 --port-file "$D/cport" -q &
CP=$!
i=0
while { [ ! -s "$D/port" ] || [ ! -s "$D/cport" ]; } && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
P=$(cat "$D/port") C=$(cat "$D/cport")
echo "service on :$P, ceiling on :$C; wrk: 2 threads, $CONNS connections, ${DURATION}s each"

python3 - "$P" "$RUNNING" <<'PY'
import http.client, json, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
t0 = time.time(); placed = 0; k = 0
while k < n:
    m = min(1000, n - k)
    ws = [{"id": "run-%d" % (k + i), "gpus": 1, "sensitivity": "public",
           "priority": (k + i) % 40} for i in range(m)]
    c.request("POST", "/v1/placements:batch", json.dumps({"workloads": ws}),
              {"Content-Type": "application/json"})
    r = json.loads(c.getresponse().read())
    placed += sum(1 for d in r["decisions"] if d.get("state") == "placed")
    k += m
print("preload: %d of %d workloads placed in batches of 1,000 in %.1f s" % (placed, n, time.time() - t0))
PY

echo "== ceiling: GET on serve --ceiling (same H2O stack, answers {})"
wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$H/ceiling.lua" "http://127.0.0.1:$C" |
    grep -E "Requests/sec|^ +50%|^ +99%"
echo "== GET /v1/nodes/{id} (10,000 nodes, $RUNNING running)"
NODES_FILE="$D/nodes.txt"
NODES="$NODES_FILE" wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$H/get_node.lua" \
    "http://127.0.0.1:$P" | grep -E "Requests/sec|^ +50%|^ +99%|Non-2xx"
# Steady state first (the runs below fill the fleet until every answer is
# "pending"): each thread releases what it placed once 8 are waiting, so most
# POSTs place. Latency covers both kinds of request; both commit to the journal.
echo "== POST /v1/placements + DELETE (steady state), $CONNS connections; load average $(cut -d' ' -f1-3 /proc/loadavg)"
BENCH_PID=$SP python3 "$H/phases.py" "$P" snap "$D/phases.json"
RUN=$$ wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$H/place_release.lua" "http://127.0.0.1:$P" |
    grep -E "Requests/sec|^ +50%|^ +99%|answers|Non-2xx"
BENCH_PID=$SP python3 "$H/phases.py" "$P" diff "$D/phases.json"
for PC in $POST_CONNS; do
    echo "== POST /v1/placements, $PC connections (each answer after its journal commit); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    BENCH_PID=$SP python3 "$H/phases.py" "$P" snap "$D/phases.json"
    RUN=$$-$PC wrk -t2 -c"$PC" -d"${DURATION}s" --latency -s "$H/post_place.lua" "http://127.0.0.1:$P" |
        grep -E "Requests/sec|^ +50%|^ +99%|answers|Non-2xx"
    BENCH_PID=$SP python3 "$H/phases.py" "$P" diff "$D/phases.json"
done
echo "== power event on the largest site (factor 0.8), $RUNNING+ running; load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$P" "$D/fleet.json" "$SP" <<'PY'
import http.client, json, os, sys, time
port = int(sys.argv[1])
def cpu():
    f = open("/proc/%s/stat" % sys.argv[3]).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
f = json.load(open(sys.argv[2]))
roots = [d for d in f["power_domains"] if "parent" not in d]
site = max(roots, key=lambda d: d["cap_w"])["id"]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
c.request("GET", "/v1/placements?state=running")
running = len(json.loads(c.getresponse().read())["placements"])
t0, c0 = time.time(), cpu()
c.request("POST", "/v1/power/events", json.dumps({"domain": site, "factor": 0.8}),
          {"Content-Type": "application/json"})
r = c.getresponse(); body = json.loads(r.read())
dt, dc = time.time() - t0, cpu() - c0
plan = body.get("plan", {})
print("power event on %s: HTTP %d, plan answered in %.3f s (service CPU %.3f s): %d "
      "preemptions, %d moves (%d running before)" % (
          site, r.status, dt, dc, len(plan.get("preemptions", [])),
          len(plan.get("moves", [])), running))
PY
echo "== a scheduled power event: its start second to its plan in force"
python3 - "$P" "$D/fleet.json" <<'PY'
import http.client, json, sys, time
port = int(sys.argv[1])
f = json.load(open(sys.argv[2]))
racks = [d for d in f["power_domains"] if "parent" in d]
rack = min(racks, key=lambda d: d["id"])["id"]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
start = int(time.time()) + 2
c.request("POST", "/v1/power/events", json.dumps({"domain": rack, "factor": 0.9, "start": start}),
          {"Content-Type": "application/json"})
r = c.getresponse(); ev = json.loads(r.read())
state = ev.get("state")
while state != "active" and time.time() < start + 10:
    time.sleep(0.005)
    c.request("GET", "/v1/power/events")
    state = [e["state"] for e in json.loads(c.getresponse().read())["events"]
             if e["event"] == ev.get("event")][0]
print("scheduled event on %s (HTTP %d): in force %.3f s after its start second" % (
    rack, r.status, time.time() - start))
PY
python3 "$H/bench_ha.py" "$B"
