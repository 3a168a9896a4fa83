#!/bin/sh
# tools/serve-demo.sh BUILD — `make run`: the test bed's emulated fleet (BMCs and
# a verifier for config/demo-fleet.json, on loopback) and `trustplace serve`
# collecting from it, with a demo token. Prints the URL, the token and three
# curl lines; Ctrl-C stops both. TP_RUN_LISTEN overrides 127.0.0.1:8750.
set -u
B=${1:-build}
LISTEN=${TP_RUN_LISTEN:-127.0.0.1:8750}
D=$B/run-demo
rm -rf "$D" && mkdir -p "$D"
TBPID="" SPID=""
stop() {
    trap - INT TERM EXIT
    [ -n "$SPID" ] && kill -TERM "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    [ -n "$TBPID" ] && kill "$TBPID" 2>/dev/null && wait "$TBPID" 2>/dev/null
    echo "stopped the service and the test bed"
    exit 0
}
trap stop INT TERM EXIT
"$B/tp-testbed" --fleet config/demo-fleet.json --fleet-out "$D/fleet.json" --ready "$D/ready" \
    --duration 86400 2>"$D/testbed.log" &
TBPID=$!
i=0
while [ ! -s "$D/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$D/ready" ] || { echo "the test bed did not start:"; cat "$D/testbed.log"; exit 1; }
TOKEN=$("$B/trustplace" token add --tokens "$D/tokens.json" --name demo --role orchestrator 2>/dev/null)
"$B/trustplace" serve --config "$D/fleet.json" --data "$D/data" --tokens "$D/tokens.json" \
    --listen "$LISTEN" --port-file "$D/port" 2>"$D/serve.log" &
SPID=$!
i=0
while [ ! -s "$D/port" ] && [ $i -lt 100 ] && kill -0 "$SPID" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
[ -s "$D/port" ] || { echo "the service did not start:"; cat "$D/serve.log"; exit 1; }
URL="http://${LISTEN%:*}:$(cat "$D/port")"
sleep 1 # the first collector cycle
cat <<MSG

trustplace serve is running at $URL against the test bed's $(grep -o '"bmcs": [0-9]*' "$D/ready" | cut -d' ' -f2) emulated BMCs
and its attestation verifier (config/demo-fleet.json). Logs: $D/serve.log

demo token (orchestrator): $TOKEN
dashboard (KPIs, power headroom, attestation freshness): $URL/#token=$TOKEN

  curl -s -H "Authorization: Bearer $TOKEN" $URL/v1/nodes/fra1-n1
  curl -s -H "Authorization: Bearer $TOKEN" -X POST $URL/v1/placements \\
       -d '{"id": "health-fr", "gpus": 2, "sensitivity": "regulated", "residency": ["eu-fr"]}'
  curl -s -H "Authorization: Bearer $TOKEN" -X POST $URL/v1/power/events \\
       -d '{"domain": "rack-par-1", "factor": 0.5}'

Ctrl-C stops both.
MSG
wait "$SPID"
SPID=""
stop
