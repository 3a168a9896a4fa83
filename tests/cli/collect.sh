#!/bin/sh
# tests/cli/collect.sh — `trustplace collect` against the test bed program
# (tp-testbed): one cycle to stdout and to --out, the state loads back through
# check-config, faults leave facts unknown, polling rewrites --out and stops
# after --cycles, bad configs exit 2. The test bed is stopped by its pid.
. "$(dirname "$0")/lib.sh"
TB="$(dirname "$TP_BIN")/tp-testbed"
if [ ! -x "$TB" ]; then
    tp_skip collect "no $TB (make tests builds it)"
    tp_done
    exit $?
fi
TBPID=""
stop_tb() { [ -n "$TBPID" ] && kill "$TBPID" 2>/dev/null && wait "$TBPID" 2>/dev/null; TBPID=""; }
trap 'stop_tb; rm -rf "$TP_TMP"' EXIT

"$TP_BIN" gen-fleet --nodes 12 --seed 3 --out "$TP_TMP/fleet.json" >/dev/null 2>&1
first=$(python3 -c "import json;print(json.load(open('$TP_TMP/fleet.json'))['nodes'][0]['id'])" 2>/dev/null)
second=$(python3 -c "import json;print(json.load(open('$TP_TMP/fleet.json'))['nodes'][1]['id'])" 2>/dev/null)
"$TB" --fleet "$TP_TMP/fleet.json" --fleet-out "$TP_TMP/tb.json" --ready "$TP_TMP/ready" \
    --auth --latency 5,2 --fault "$first=500" --att "$second=expired" \
    --collect-timeout-ms 500 --retries 1 --duration 60 2>"$TP_TMP/tb.log" &
TBPID=$!
i=0
while [ ! -f "$TP_TMP/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -f "$TP_TMP/ready" ]; then
    tp_fail "testbed starts" "$(cat "$TP_TMP/tb.log")"
    tp_done
    exit 1
fi
tp_ok "testbed starts"

if tp_run "collect --once to stdout" 0 "$TP_BIN" collect --config "$TP_TMP/tb.json" --once; then
    printf '%s\n' "$OUT" >"$TP_TMP/state1.json"
    case $OUT in *'"observed_at"'*'"attestation"'*'"country"'*) tp_ok "collect --once to stdout" ;;
    *) tp_fail "collect --once to stdout" "$OUT" ;; esac
    # The test bed's verifier is plain HTTP (allow_http): said at every start.
    case $ERR in *"PLAIN HTTP ALLOWED for verifier"*) tp_ok "allow_http is logged loudly" ;;
    *) tp_fail "allow_http is logged loudly" "$ERR" ;; esac
fi
if tp_run "the state loads back" 0 "$TP_BIN" check-config "$TP_TMP/tb.json" --state "$TP_TMP/state1.json"; then
    tp_ok "the state loads back"
fi
if tp_run "collect --out with --stats" 0 "$TP_BIN" collect --config "$TP_TMP/tb.json" --once \
    --out "$TP_TMP/state2.json" --stats; then
    case $ERR in *"naive sequential estimate"*"peak RSS"*) tp_ok "collect --out with --stats" ;;
    *"peak RSS"*"naive sequential estimate"*) tp_ok "collect --out with --stats" ;;
    *) tp_fail "collect --out with --stats" "$ERR" ;; esac
fi
# The 500 BMC: no facts; the expired token: no attestation; the others: all facts.
if python3 - "$TP_TMP/state2.json" "$first" "$second" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["nodes"]
a, b = sys.argv[2], sys.argv[3]
assert "cap_w" not in s.get(a, {}) and "gpus_healthy" not in s.get(a, {}), s.get(a)
assert "attestation" not in s[b], s[b]
others = [v for k, v in s.items() if k not in (a, b)]
assert len(others) == 10 and all("cap_w" in v and "country" in v for v in others)
PY
then tp_ok "faults leave facts unknown"; else tp_fail "faults leave facts unknown"; fi
if tp_run "polling stops after --cycles" 0 "$TP_BIN" collect --config "$TP_TMP/tb.json" \
    --out "$TP_TMP/state3.json" --interval 1 --cycles 2 -q; then
    if [ -f "$TP_TMP/state3.json" ] && [ ! -f "$TP_TMP/state3.json.tmp" ]; then
        tp_ok "polling stops after --cycles"
    else
        tp_fail "polling stops after --cycles" "no state3.json"
    fi
fi
stop_tb
case $(cat "$TP_TMP/tb.log") in
*"logouts"*) tp_ok "testbed stops on SIGTERM" ;;
*) tp_fail "testbed stops on SIGTERM" "$(cat "$TP_TMP/tb.log")" ;; esac
# Every session that was opened was closed again.
logins=$(sed -n 's/.* \([0-9]*\) logins, \([0-9]*\) logouts.*/\1 \2/p' "$TP_TMP/tb.log")
set -- $logins
if [ "${1:-x}" = "${2:-y}" ]; then tp_ok "sessions logged out"; else tp_fail "sessions logged out" "$logins"; fi

# Usage and config errors.
tp_run "no --out without --once" 2 "$TP_BIN" collect --config "$TP_TMP/tb.json" && tp_ok "no --out without --once"
sed 's/"auth": "session"/"auth": "kerberos"/' "$TP_TMP/tb.json" >"$TP_TMP/bad.json"
if tp_run "bad collectors section" 2 "$TP_BIN" collect --config "$TP_TMP/bad.json" --once; then
    case $ERR in *auth*) tp_ok "bad collectors section" ;; *) tp_fail "bad collectors section" "$ERR" ;; esac
fi
if tp_run "credentials never logged" 2 "$TP_BIN" collect --config "$TP_TMP/bad.json" --once -v -v; then
    case $ERR in *secret*) tp_fail "credentials never logged" "$ERR" ;; *) tp_ok "credentials never logged" ;; esac
fi
tp_done
