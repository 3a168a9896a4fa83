"""tests/serve/openadr.py — `trustplace serve --openadr` against a loopback
OpenADR 3 VTN emulator (tests/serve/vtn.py): the capacity-limit event of the
OpenADR 3.1.1 User Guide (Example 8.10.1-1, "Create capacity limit event":
two contiguous PT30M intervals of IMPORT_CAPACITY_LIMIT 10.0 and 8.0 KW) with
its start moved to now, read with OAuth2 client credentials, becomes two power
events on the mapped domain with the right caps and windows; re-polls and a
restart order nothing twice; malformed documents are logged with their JSON
path and change nothing; a deleted event ends its orders; bad configurations
are refused with the JSON path."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import common as c

d = tempfile.mkdtemp()
now = int(time.time())
c.make_fleet(d, 16, now)
DOMAIN = "eu-fr-row01"


def write(name, doc, mode=0o600):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(doc if isinstance(doc, str) else json.dumps(doc))
    os.chmod(p, mode)
    return p


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


T0 = now - 60  # the first interval is under way
EVENT = {  # User Guide 3.1.1 Example 8.10.1-1, with the metadata a VTN adds
    "id": "ev-cap-1", "createdDateTime": iso(now - 600), "modificationDateTime": iso(now - 600),
    "objectType": "EVENT", "eventName": "capacity_limit_Event", "programID": "44",
    "targets": ["group-1"],
    "intervalPeriod": {"start": iso(T0), "duration": "PT30M"},
    "reportDescriptors": [{"payloadType": "READING", "readingType": "DIRECT_READ",
                           "units": "KW", "startInterval": -1, "numIntervals": -1,
                           "historical": True, "frequency": -1, "repeat": 1}],
    "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                            "payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"},
                           {"objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                            "payloadType": "EXPORT_CAPACITY_LIMIT", "units": "KW"}],
    "intervals": [
        {"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [10.0]},
                               {"type": "EXPORT_CAPACITY_LIMIT", "values": [4.0]}]},
        {"id": 1, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [8.0]},
                               {"type": "EXPORT_CAPACITY_LIMIT", "values": [6.0]}]}]}
OTHER = dict(EVENT, id="ev-other", programID="45")  # another program: ignored
write("events.json", [EVENT, OTHER])

vtn = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "vtn.py"), d])
deadline = time.time() + 20
while not os.path.exists(d + "/vtn.port") and time.time() < deadline:
    time.sleep(0.05)
VTN = "http://127.0.0.1:%s" % open(d + "/vtn.port").read()
secret = write("secret", "s3cret-ven\n")
CFG = {"vtn": VTN, "allow_http": True, "client_id": "ven-trustplace",
       "client_secret_file": secret, "program_name": "Capacity",
       "domains": {"group-1": DOMAIN}, "poll_s": 0.2}


def serve_fails(cfg, want, name):
    p = write("bad.json", cfg)
    r = subprocess.run([c.BIN, "serve", "--config", d + "/fleet.json", "--state",
                        d + "/state.json", "--data", d + "/bad-data", "--listen",
                        "127.0.0.1:0", "--openadr", p], capture_output=True, text=True,
                       timeout=60)
    c.check(name, r.returncode == 2 and want in r.stderr, r.stderr[-600:])


serve_fails(dict(CFG, allow_http=False), 'bad.json: $.vtn: expected an https URL',
            "an http VTN without allow_http is refused")
serve_fails(dict(CFG, domains={"group-1": "nowhere"}),
            'the power domain "nowhere" is not in the fleet file',
            "a domain the fleet lacks is refused")
serve_fails(dict(CFG, poll_s="1"), "bad.json: $.poll_s: expected",
            "a poll_s of the wrong type is refused with its path")
serve_fails(dict(CFG, poll_s=0.05), "bad.json: $.poll_s: expected a number in 0.1..86400",
            "a poll_s under 0.1 s is refused with its path")
serve_fails(dict(CFG, program_id="44"), 'exactly one of "program_id" and "program_name"',
            "program_id and program_name together are refused")

cfg = write("openadr.json", CFG)


def events(srv):
    st, j = c.request(srv.port, "GET", "/v1/power/events")
    return j["events"] if st == 200 else None


def wait_for(pred, srv, secs=20):
    deadline = time.time() + secs
    while time.time() < deadline:
        ev = events(srv)
        if ev is not None and pred(ev):
            return ev
        time.sleep(0.2)
    return events(srv)


def polls():
    return sum(1 for line in open(d + "/vtn.log") if line.startswith("GET /events"))


srv = c.Server(d, "--openadr", cfg)
ev = wait_for(lambda e: len(e) >= 2, srv)
mine = sorted(ev or [], key=lambda e: e["start"])
c.check("both capacity-limit intervals became power events on the mapped domain",
        len(mine) == 2 and all(e["domain"] == DOMAIN for e in mine), ev)
c.check("interval 0: cap 10 kW from the event's start for PT30M, in force now",
        len(mine) == 2 and mine[0]["cap_w"] == 10000 and mine[0]["start"] == T0 and
        mine[0]["end"] == T0 + 1800 and mine[0]["state"] == "active", mine)
c.check("interval 1: cap 8 kW right after it, scheduled",
        len(mine) == 2 and mine[1]["cap_w"] == 8000 and mine[1]["start"] == T0 + 1800 and
        mine[1]["end"] == T0 + 3600 and mine[1]["state"] == "scheduled", mine)
st, j = c.request(srv.port, "GET", "/v1/preemptions")
c.check("GET /v1/preemptions answers the plan's preemptions", st == 200 and
        "preemptions" in j, (st, j))
log = open(d + "/vtn.log").read()
c.check("OAuth2 client credentials: a token was fetched and every read carried it",
        "POST /auth/token" in log and "GET /programs bearer" in log and
        "anonymous" not in log, log[-500:])
p0 = polls()
deadline = time.time() + 20
while polls() < p0 + 3 and time.time() < deadline:
    time.sleep(0.2)
c.check("re-polls order nothing twice", polls() >= p0 + 3 and len(events(srv)) == 2,
        (polls(), events(srv)))

# malformed documents: logged with their path, nothing changes
for bad, want in (
        ([dict(EVENT, intervalPeriod={"start": iso(T0), "duration": "PT30X"})],
         '$[0].intervalPeriod.duration: expected an ISO 8601 duration (e.g. PT1H), got "PT30X"'),
        ([dict(EVENT, intervals=[{"id": 0, "payloads": [
            {"type": "IMPORT_CAPACITY_LIMIT", "values": ["lots"]}]}])],
         "$[0].intervals[0].payloads[0].values: expected one non-negative number"),
        ([dict(EVENT, payloadDescriptors=[{"payloadType": "IMPORT_CAPACITY_LIMIT",
                                           "units": "KWH"}])],
         '$[0].payloadDescriptors[0].units: expected the units W, KW or MW'),
        # forged numbers and durations (huge, negative, a string, strtod's exponent)
        ([dict(EVENT, intervals=[{"id": 0, "payloads": [
            {"type": "IMPORT_CAPACITY_LIMIT", "values": [1e300]}]}])],
         "$[0].intervals[0].payloads[0].values: expected one non-negative number"),
        ([dict(EVENT, intervals=[{"id": 0, "payloads": [
            {"type": "IMPORT_CAPACITY_LIMIT", "values": [-5]}]}])],
         "$[0].intervals[0].payloads[0].values: expected one non-negative number"),
        ([dict(EVENT, intervals=[{"id": 0, "payloads": [
            {"type": "IMPORT_CAPACITY_LIMIT", "values": ["NaN"]}]}])],
         "$[0].intervals[0].payloads[0].values: expected one non-negative number (IMPORT_CAPACITY_LIMIT is a float), got a string"),
        ([dict(EVENT, intervalPeriod={"start": iso(T0), "duration": "P1e3D"})],
         '$[0].intervalPeriod.duration: expected an ISO 8601 duration (e.g. PT1H), got "P1e3D"'),
        ('[{"id": "ev-cap-1",', "VTN GET /events (skip 0):1:"),
        ({"events": []}, "VTN GET /events (skip 0): $: expected an array")):
    write("events.json", bad)
    deadline = time.time() + 20
    while time.time() < deadline and want not in open(d + "/serve.log").read():
        time.sleep(0.2)
    ev = events(srv)
    c.check("malformed VTN document logged precisely (%s), nothing changed" % want[:40],
            want in open(d + "/serve.log").read() and len(ev) == 2 and
            all(e["state"] != "ended" for e in ev), (ev, open(d + "/serve.log").read()[-600:]))

# a redirect to another origin is not followed: the bearer token never leaves
# for it, the poll fails and nothing changes
port = open(d + "/vtn.port").read()
write("redirect", "http://localhost:%s/stolen" % port)
deadline = time.time() + 20
while time.time() < deadline and "HTTP 302" not in open(d + "/serve.log").read():
    time.sleep(0.2)
os.unlink(d + "/redirect")
ev = events(srv)
c.check("a 302 to another origin is not followed (no request reaches it), nothing changed",
        "HTTP 302" in open(d + "/serve.log").read() and
        "/stolen" not in open(d + "/vtn.log").read() and len(ev) == 2 and
        all(e["state"] != "ended" for e in ev), (ev, open(d + "/serve.log").read()[-600:]))
tok_log = [t for t in ("tok-1", "tok-2", "s3cret-ven") if t in open(d + "/serve.log").read()]
c.check("neither the bearer token nor the client secret is in the service log", not tok_log,
        tok_log)

# a restart against the same announcement orders nothing twice
write("events.json", [EVENT, OTHER])
srv.stop()
srv = c.Server(d, "--openadr", cfg)
p0 = polls()
deadline = time.time() + 20
while polls() < p0 + 2 and time.time() < deadline:
    time.sleep(0.2)
c.check("after a restart the journaled orders are recognised, not repeated",
        polls() >= p0 + 2 and len(events(srv)) == 2, events(srv))

# the VTN deletes the event: its orders end
write("events.json", [OTHER])
ev = wait_for(lambda e: all(x["state"] == "ended" for x in e), srv)
c.check("a deleted event ends both its orders", len(ev) == 2 and
        all(e["state"] == "ended" for e in ev), ev)


# A VTN cannot raise a cap above the fleet's declared one: a limit of 1 GW on the
# domain is journaled, but the cap in force stays the declared cap; an
# overlapping lower limit on the same domain then wins.
def dom_cap(srv):
    st, j = c.request(srv.port, "GET", "/v1/kpis")
    found = []

    def walk(x):
        if isinstance(x, dict):
            if x.get("domain") == DOMAIN and "cap_w" in x:
                found.append(x["cap_w"])
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(j)
    return found[0] if st == 200 and found else None


declared = next(x["cap_w"] for x in json.load(open(d + "/fleet.json"))["power_domains"]
                if x["id"] == DOMAIN)
RAISE = dict(EVENT, id="ev-raise", intervalPeriod={"start": iso(now - 5), "duration": "PT1H"},
             intervals=[{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT",
                                                 "values": [1e6]}]}])
write("events.json", [OTHER, RAISE])
ev = wait_for(lambda e: any(x["cap_w"] == 1e9 and x["state"] == "active" for x in e), srv)
cap = dom_cap(srv)
c.check("a VTN limit of 1 GW is taken, but the cap in force stays the declared %g W" % declared,
        any(x["cap_w"] == 1e9 for x in ev) and cap is not None and cap <= declared, (cap, ev))
LOW = dict(RAISE, id="ev-low", intervals=[{"id": 0, "payloads": [
    {"type": "IMPORT_CAPACITY_LIMIT", "values": [5.0]}]}])
write("events.json", [OTHER, RAISE, LOW])
ev = wait_for(lambda e: any(x["cap_w"] == 5000 and x["state"] == "active" for x in e), srv)
deadline = time.time() + 10
while time.time() < deadline and dom_cap(srv) != 5000:
    time.sleep(0.2)
c.check("an overlapping lower limit on the same domain wins (5 kW)", dom_cap(srv) == 5000,
        (dom_cap(srv), ev))
c.check("SIGTERM exits 0", srv.stop() == 0)
vtn.send_signal(signal.SIGTERM)
vtn.wait(timeout=10)
c.done()
