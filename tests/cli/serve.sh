#!/bin/sh
# tests/cli/serve.sh — `trustplace serve` against the real binary with the curl
# CLI: place/release round trips, batches, idempotency, conflicts, malformed
# JSON / wrong types / unknown keys (400/422 with the JSON path), 413, a slow
# client that does not block others, power events and their preemption plan,
# profiles, recovery after SIGTERM, reconciliation of work on a node that lost
# its attestation, SIGHUP with a bad fleet. Loopback only, free ports, every
# wait bounded.
. "$(dirname "$0")/lib.sh"
tp_plan 61
if ! command -v curl >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs curl and python3"
fi
SPID=""
stop_srv() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null; SPID=""; }
trap 'stop_srv; [ -n "${SLOW:-}" ] && kill "$SLOW" 2>/dev/null; rm -rf "$TP_TMP"' EXIT
D=$TP_TMP

# A 64-node fleet without BMCs (the state file is the observed state) and a
# state observed now.
TP_BIN="$TP_BIN" python3 "$TP_SRC/tests/serve/common.py" fleet "$D" 64 5 >/dev/null

# start_srv [extra options…]: starts the service on a free port; sets P and SPID.
start_srv() { tp_serve_start "$D" "$@"; }
# req METHOD PATH [BODY] [curl options…]: sets CODE and BODY (and headers in $D/h).
req() {
    m=$1 p=$2; shift 2
    if [ $# -gt 0 ]; then b=$1; shift; set -- --data-binary "$b" "$@"; fi
    CODE=$(curl -s --max-time 20 -o "$D/body" -D "$D/h" -w '%{http_code}' -X "$m" \
        -H 'Content-Type: application/json' "$@" "http://127.0.0.1:$P$p")
    BODY=$(cat "$D/body" 2>/dev/null)
}
# check NAME WANT_CODE PYTHON_EXPR: the expression sees the body as `j`.
check() {
    name=$1 want=$2 expr=$3
    if [ "$CODE" != "$want" ]; then
        tp_fail "$name" "HTTP $CODE, wanted $want: $BODY"
        return
    fi
    if printf '%s' "$BODY" | python3 -c "import json,sys; j=json.load(sys.stdin); sys.exit(0 if ($expr) else 1)"; then
        tp_ok "$name"
    else
        tp_fail "$name" "$BODY"
    fi
}

if ! start_srv; then
    tp_fail "serve starts" "$(cat "$D/serve.log")"
    tp_done
    exit 1
fi
tp_ok "serve starts on a free port"

req GET /healthz
check "healthz" 200 'j["status"] == "alive"'
req GET /readyz
check "readyz: a fresh state is ready" 200 'j["ready"] is True'

W1='{"id":"w1","tenant":"t1","gpus":2,"sensitivity":"public"}'
req POST /v1/placements "$W1"
check "place: 201 with node and gpus" 201 'j["state"] == "placed" and j["gpus"] == 2 and j["node"]'
N1=$(printf '%s' "$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])')
req GET /v1/placements/w1
check "GET placement: running on the node" 200 "j['state'] == 'running' and j['node'] == '$N1' and j['tenant'] == 't1'"
req GET "/v1/nodes/$N1"
check "node shows the work and its GPUs" 200 "'w1' in j['running'] and j['gpus_used'] >= 2 and 'public' in j['eligibility']"
req POST /v1/placements "$W1"
check "same workload again: 409" 409 'j["error"]["code"] == "conflict"'
req GET "/v1/placements?state=running&tenant=t1"
check "list filtered by state and tenant" 200 '[p["workload"] for p in j["placements"]] == ["w1"]'
req GET "/v1/placements?colour=red"
check "unknown query parameter: 400" 400 'j["error"]["code"] == "invalid_query"'
req DELETE /v1/placements/w1
check "release" 200 'j["state"] == "released"'
req GET /v1/placements/w1
check "released stays visible as released" 200 'j["state"] == "released"'
req DELETE /v1/placements/w1
check "release twice: 409" 409 'j["error"]["code"] == "conflict"'
req DELETE /v1/placements/nope
check "release unknown: 404" 404 'j["error"]["code"] == "not_found"'
req POST /v1/placements "$W1"
check "a released workload may be placed again" 201 'j["state"] == "placed"'

# idempotency
W2='{"id":"w2","gpus":1,"sensitivity":"public"}'
req POST /v1/placements "$W2" -H 'Idempotency-Key: key-2'
check "idempotent place" 201 'j["state"] == "placed"'
FIRST=$BODY
req POST /v1/placements "$W2" -H 'Idempotency-Key: key-2'
if [ "$CODE" = 201 ] && [ "$BODY" = "$FIRST" ] && grep -qi '^idempotent-replayed: true' "$D/h"; then
    tp_ok "same key: the same decision, replayed"
else
    tp_fail "same key: the same decision, replayed" "$CODE $BODY"
fi
req POST /v1/placements '{"id":"w3","gpus":1,"sensitivity":"public"}' -H 'Idempotency-Key: key-2'
check "same key, other body: 422" 422 'j["error"]["code"] == "idempotency_key_reused"'
req GET "/v1/placements?state=running"
check "the key placed once" 200 'sorted(p["workload"] for p in j["placements"]) == ["w1", "w2"]'

# malformed input
req POST /v1/placements '{"id":"x",'
check "malformed JSON: 400" 400 'j["error"]["code"] == "malformed_json" and j["error"]["path"] == "$"'
req POST /v1/placements '{"id":"x","gpus":"2","sensitivity":"public"}'
check "wrong type: 422 at \$.gpus" 422 'j["error"]["path"] == "$.gpus"'
req POST /v1/placements '{"id":"x","gpus":2,"sensitivity":"public","colour":1}'
check "unknown key: 422 at \$.colour" 422 'j["error"]["path"] == "$.colour"'
req POST /v1/placements '{"id":"x","gpus":2,"sensitivity":"secret"}'
check "unknown class: 422 at \$.sensitivity" 422 'j["error"]["path"] == "$.sensitivity"'
req POST /v1/placements '{"id":"g","gpus":2,"nodes":1,"sensitivity":"public"}'
check "a gang of one member: 422 at \$.nodes" 422 'j["error"]["path"] == "$.nodes"'
req POST /v1/placements '{"id":"g","gpus":2,"nodes":2,"together":"hall","sensitivity":"public"}'
check "a gang under an unknown domain kind: 422 at \$.together" 422 'j["error"]["path"] == "$.together"'
req POST /v1/placements '[1]'
check "not an object: 422" 422 'j["error"]["path"] == "$"'
req POST /v1/placements:batch '{"workloads":[{"id":"b1","gpus":1,"sensitivity":"public"},{"id":"b2","gpus":0,"sensitivity":"public"}]}'
check "batch: bad item names its path" 422 'j["error"]["path"] == "$.workloads[1].gpus"'
req GET /v1/placements/b1
check "a refused batch places nothing" 404 'True'
req POST /v1/placements:batch '{"workloads":[{"id":"b1","gpus":1,"sensitivity":"public"},{"id":"b2","gpus":4,"sensitivity":"public"},{"id":"b3","gpus":64,"sensitivity":"public"}]}'
check "batch: one solve, a decision each" 200 '[d["state"] for d in j["decisions"]] == ["placed", "placed", "pending"] and j["decisions"][2]["reasons"]["gpu_capacity"] > 0'
req PUT /v1/placements '{}'
check "wrong method: 405" 405 'j["error"]["code"] == "method_not_allowed"'
req GET /v2/nothing
check "unknown route: 404" 404 'j["error"]["code"] == "not_found"'
req GET /v1/nodes/no-such-node
check "unknown node: 404" 404 'True'
req POST /v1/explain '{"id":"e1","gpus":8,"sensitivity":"regulated","residency":["eu-de"]}'
check "explain: eligible nodes and reasons, nothing placed" 200 'j["nodes"] == 64 and j["eligible_nodes"] + 0 >= 0 and j["reasons"].get("residency", 0) > 0'
req GET /v1/placements/e1
check "explain placed nothing" 404 'True'

# 413: a body over --max-body is refused (the service runs with the default 4 MiB)
python3 -c "print('{\"id\":\"big\",\"pad\":\"' + 'x' * 5000000 + '\"}')" >"$D/big.json"
CODE=$(curl -s --max-time 20 -o "$D/body" -w '%{http_code}' -X POST --data-binary "@$D/big.json" \
    "http://127.0.0.1:$P/v1/placements")
if [ "$CODE" = 413 ]; then tp_ok "oversize body: 413"; else tp_fail "oversize body: 413" "HTTP $CODE"; fi
LONGH=$(python3 -c "print('x' * 20000)")
req GET /healthz "" -H "X-Pad: $LONGH"
if [ "$CODE" = 413 ]; then tp_ok "oversize headers: 413"; else tp_fail "oversize headers: 413" "HTTP $CODE"; fi

# a slow client (half a request, then silence) does not block another one
python3 - "$P" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1/placements HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"id\":")
time.sleep(8)
PY
SLOW=$!
sleep 0.3
START=$(date +%s)
req POST /v1/placements '{"id":"fast","gpus":1,"sensitivity":"public"}' --max-time 5
check "a slow client does not block others" 201 'j["state"] == "placed"'
kill "$SLOW" 2>/dev/null; wait "$SLOW" 2>/dev/null; SLOW=""

# power events: a rack's cap drops under its running work → a preemption plan
RACK=$(printf '%s' "$BODY" | python3 -c 'import json,sys; n=json.load(sys.stdin)["node"]; print(n.rsplit("-", 1)[0])')
req POST /v1/placements:batch "$(python3 -c "
import json; print(json.dumps({'workloads': [{'id': 'r%d' % i, 'gpus': 1, 'sensitivity': 'public', 'priority': i} for i in range(6)]}))")"
check "more work to preempt" 200 'all(d["state"] == "placed" for d in j["decisions"])'
req GET /v1/nodes/"$(printf '%s' "$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["decisions"][0]["node"])')"
DOM=$(printf '%s' "$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["declared"]["power_domain"])')
# long enough that the checks below run while it is active, even under ASan at load 10
END=$(( $(date +%s) + 12 ))
req POST /v1/power/events "{\"domain\":\"$DOM\",\"cap_w\":1,\"end\":$END}"
check "power event: 201 with its preemption plan" 201 "j['state'] == 'active' and j['domain'] == '$DOM' and len(j['plan']['preemptions']) > 0"
NPRE=$(printf '%s' "$BODY" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["plan"]["preemptions"]))')
req GET /v1/preemptions
check "GET /v1/preemptions lists the plan" 200 "len([p for p in j['preemptions'] if p['why'].startswith('power_domain') or p['why'].startswith('power_node')]) == $NPRE"
req GET "/v1/placements?state=running"
check "no running work left under the 1 W cap" 200 "all(not p['node'].startswith('$DOM') for p in j['placements'])"
req POST /v1/placements '{"id":"after-cap","gpus":1,"sensitivity":"public"}'
check "new work avoids the capped domain" 201 "not j['node'].startswith('$DOM' + '-')"
req POST /v1/power/events '{"domain":"nope","cap_w":5}'
check "power event for an unknown domain: 422" 422 'j["error"]["path"] == "$.domain"'
req POST /v1/power/events "{\"domain\":\"$DOM\",\"cap_w\":5,\"factor\":0.5}"
check "cap_w and factor together: 422" 422 'True'
i=0
while [ $i -lt 200 ]; do
    req GET /v1/power/events
    printf '%s' "$BODY" | grep -q '"ended"' && break
    sleep 0.1; i=$((i + 1))
done
check "the cap is restored at its end" 200 'j["events"][0]["state"] == "ended"'

# a scheduled event: answered 202, in force at its start, over at its end
S=$(( $(date +%s) + 2 )); E=$(( S + 2 ))
req POST /v1/power/events "{\"domain\":\"$DOM\",\"cap_w\":2,\"start\":$S,\"end\":$E}"
check "a later event is scheduled (202, no plan yet)" 202 'j["state"] == "scheduled" and "plan" not in j'
EV=$(printf '%s' "$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["event"])')
seen_active=0 i=0
while [ $i -lt 150 ]; do
    req GET /v1/power/events
    st=$(printf '%s' "$BODY" | python3 -c "import json,sys; print([e['state'] for e in json.load(sys.stdin)['events'] if e['event'] == $EV][0])")
    [ "$st" = active ] && seen_active=1
    [ "$st" = ended ] && break
    sleep 0.1; i=$((i + 1))
done
if [ "$seen_active" = 1 ] && [ "$st" = ended ]; then
    tp_ok "a scheduled event starts, then ends"
else
    tp_fail "a scheduled event starts, then ends" "active seen: $seen_active, last state: $st"
fi

# profiles
req POST /v1/profiles '[{"model":"new-model","gpu_model":"H100-SXM","tokens_per_s":1234,"watts":600}]'
check "profiles accepted" 200 'j["accepted"] == 1 and j["profiles"] >= 1'
req POST /v1/profiles '[{"model":"m","gpu_model":"H100-SXM","tokens_per_s":1,"watts":"600"}]'
check "bad profile: 422 at its path" 422 'j["error"]["path"] == "$[0].watts"'
req POST /v1/placements '{"id":"uses-profile","gpus":1,"sensitivity":"public","model":"new-model"}'
check "placement after a profile" 201 'j["state"] == "placed"'

# SIGHUP with an invalid fleet keeps the old one
cp "$D/fleet.json" "$D/fleet.good"
echo '{"version": 1,' >"$D/fleet.json"
kill -HUP "$SPID"
sleep 0.5
cp "$D/fleet.good" "$D/fleet.json"
req GET /v1/nodes/"$N1"
check "bad fleet on SIGHUP: old one kept, still answering" 200 'j["id"]'
if grep -q "SIGHUP: .* is not usable; keeping the fleet" "$D/serve.log"; then
    tp_ok "SIGHUP says why the new fleet was refused"
else
    tp_fail "SIGHUP says why the new fleet was refused" "$(tail -3 "$D/serve.log")"
fi

# SIGTERM drains and exits 0; a restart recovers the running work from the journal
req GET "/v1/placements?state=running"
BEFORE=$(printf '%s' "$BODY" | python3 -c 'import json,sys; print(sorted((p["workload"], p["node"]) for p in json.load(sys.stdin)["placements"]))')
kill -TERM "$SPID"
wait "$SPID"
RC=$?
SPID=""
if [ $RC -eq 0 ]; then tp_ok "SIGTERM: drained, exit 0"; else tp_fail "SIGTERM: drained, exit 0" "exit $RC: $(grep -A30 -m1 ERROR "$D/serve.log")"; fi
start_srv
req GET "/v1/placements?state=running"
AFTER=$(printf '%s' "$BODY" | python3 -c 'import json,sys; print(sorted((p["workload"], p["node"]) for p in json.load(sys.stdin)["placements"]))')
if [ "$BEFORE" = "$AFTER" ] && [ -n "$AFTER" ] && [ "$AFTER" != "[]" ]; then
    tp_ok "restart recovers the running work"
else
    tp_fail "restart recovers the running work" "before $BEFORE after $AFTER"
fi
req POST /v1/placements "$W2" -H 'Idempotency-Key: key-2'
if [ "$CODE" = 201 ] && [ "$BODY" = "$FIRST" ]; then
    tp_ok "idempotency keys survive a restart"
else
    tp_fail "idempotency keys survive a restart" "$CODE $BODY"
fi

# Reconcile: attested work on a node whose attestation is gone after a restart
req POST /v1/placements '{"id":"secret","gpus":1,"sensitivity":"confidential"}'
check "confidential work placed" 201 'j["state"] == "placed"'
SN=$(printf '%s' "$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])')
stop_srv
python3 - "$D/state.json" "$SN" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["nodes"][sys.argv[2]].pop("attestation", None)
json.dump(s, open(sys.argv[1], "w"))
PY
start_srv
i=0
while [ $i -lt 50 ]; do
    req GET /v1/placements/secret
    printf '%s' "$BODY" | grep -q '"preempted"' && break
    sleep 0.1; i=$((i + 1))
done
check "lost attestation while down: work reported for eviction" 200 'j["state"] == "preempted"'
req GET /v1/preemptions
# Without a result the node attests no TEE either: either predicate is the truth.
check "the eviction names why" 200 "any(p['workload'] == 'secret' and p['why'] in ('eviction:attestation_missing', 'eviction:cpu_tee') for p in j['preemptions'])"
stop_srv

# --max-connections: a connection over the limit is closed at accept; others go on
rm -rf "$D/data"
start_srv --max-connections 2
rm -f "$D/held" "$D/release"
python3 - "$P" "$D/held" "$D/release" <<'PY' &
import os, socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(2)]
time.sleep(0.5)  # both accepted by the service
open(sys.argv[2], "w").close()
end = time.time() + 3  # held until the over-limit request is answered (at most 3 s)
while not os.path.exists(sys.argv[3]) and time.time() < end:
    time.sleep(0.05)
PY
HOLD=$!
i=0
while [ ! -f "$D/held" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
req GET /healthz "" --max-time 3
OVER=$CODE
touch "$D/release"
wait "$HOLD"
sleep 0.2
req GET /healthz
if [ "$OVER" = 000 ] && [ "$CODE" = 200 ]; then
    tp_ok "over --max-connections: refused at accept; served again once below"
else
    tp_fail "over --max-connections: refused at accept; served again once below" "over: $OVER after: $CODE"
fi
stop_srv

# --store sqlite:DIR is --data DIR: the journal and the audit log side by side.
t="--store sqlite:DIR keeps the journal and the audit log there"
if start_srv --store "sqlite:$D/st" && req GET /healthz && [ "$CODE" = 200 ] &&
    [ -f "$D/st/journal.db" ] && [ -s "$D/st/audit.jsonl" ]; then
    tp_ok "$t"
else
    tp_fail "$t" "$(ls -la "$D/st" 2>&1; tail -3 "$D/serve.log")"
fi
stop_srv

# bad starts
if tp_run "serve without --config" 2 "$TP_BIN" serve; then tp_ok "serve without --config"; fi
if tp_run "serve with a bad --listen" 2 "$TP_BIN" serve --config "$D/fleet.json" --listen nowhere --data "$D/d2"; then
    tp_ok "serve with a bad --listen"
fi
tp_done
