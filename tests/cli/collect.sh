#!/bin/sh
# tests/cli/collect.sh — `trustplace collect` against the test bed program
# (tp-testbed): one cycle to stdout and to --out, the state loads back through
# check-config, faults leave facts unknown, polling rewrites --out and stops
# after --cycles, bad configs exit 2. The test bed is stopped by its pid.
. "$(dirname "$0")/lib.sh"
TB="$(dirname "$TP_BIN")/tp-testbed"
tp_plan 12
[ -x "$TB" ] || tp_skip_rest "no $TB (make tests builds it)"
TBPID=""
stop_tb() { [ -n "$TBPID" ] && kill "$TBPID" 2>/dev/null && wait "$TBPID" 2>/dev/null; TBPID=""; }
trap 'stop_tb; rm -rf "$TP_TMP"' EXIT

"$TP_BIN" gen-fleet --nodes 12 --seed 3 --out "$TP_TMP/fleet.json" >/dev/null 2>&1
first=$(jq -r '.nodes[0].id' "$TP_TMP/fleet.json")
second=$(jq -r '.nodes[1].id' "$TP_TMP/fleet.json")
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
if jq -e --arg a "$first" --arg b "$second" '.nodes as $s |
    (($s[$a] // {}) | (has("cap_w") or has("gpus_healthy")) | not) and
    ($s[$b] | has("attestation") | not) and
    ([$s | to_entries[] | select(.key != $a and .key != $b) | .value] |
        length == 10 and all(has("cap_w") and has("country")))' "$TP_TMP/state2.json" >/dev/null
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

# Credentials never logged: a real collection with sessions at the highest
# verbosity (-v -v: debug), against BMCs that refuse the login, answer a valid
# token with 401, or work; nothing written — stdout, stderr, state, telemetry —
# holds the password, the Basic header of the credentials or a session token
# (the test bed's are "tb" and 16 hex digits).
t="credentials never logged"
"$TP_BIN" gen-fleet --nodes 3 --seed 4 --out "$TP_TMP/f3.json" >/dev/null 2>&1
n0=$(jq -r '.nodes[0].id' "$TP_TMP/f3.json")
n1=$(jq -r '.nodes[1].id' "$TP_TMP/f3.json")
"$TB" --fleet "$TP_TMP/f3.json" --fleet-out "$TP_TMP/tb3.json" --ready "$TP_TMP/ready3" --auth \
    --fault "$n0=login" --fault "$n1=stale" --retries 0 --duration 60 2>"$TP_TMP/tb3.log" &
TBPID=$!
i=0
while [ ! -f "$TP_TMP/ready3" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
pw=$(jq -r .password "$TP_TMP/tb3.credentials.json" 2>/dev/null)
basic=$(printf '%s:%s' "$(jq -r .username "$TP_TMP/tb3.credentials.json" 2>/dev/null)" "$pw" | openssl base64 -A)
if [ ! -f "$TP_TMP/ready3" ] || [ -z "$pw" ] || [ "$pw" = null ]; then
    tp_fail "$t" "test bed did not start: $(cat "$TP_TMP/tb3.log")"
elif tp_run "$t" 0 "$TP_BIN" collect --config "$TP_TMP/tb3.json" --once -v -v \
    --out "$TP_TMP/state4.json" --telemetry-out "$TP_TMP/tel4.json"; then
    printf '%s\n%s\n' "$OUT" "$ERR" >"$TP_TMP/written"
    cat "$TP_TMP/state4.json" "$TP_TMP/tel4.json" >>"$TP_TMP/written" 2>/dev/null
    leak=$(grep -noF -e "$pw" -e "$basic" "$TP_TMP/written"; grep -noE 'tb[0-9a-f]{16}' "$TP_TMP/written")
    if [ -n "$leak" ]; then
        tp_fail "$t" "credentials in the output: $leak"
    elif ! jq -e --arg a "$n0" --arg c "$(jq -r '.nodes[2].id' "$TP_TMP/f3.json")" \
        '(.nodes[$a] | has("cap_w") | not) and (.nodes[$c] | has("cap_w"))' "$TP_TMP/state4.json" >/dev/null ||
        ! echo "$ERR" | grep -q "error: BMC .*session login failed" ||
        ! echo "$ERR" | grep -q "debug: BMC .*HTTP 401"; then
        tp_fail "$t" "the collection did not log in, or did not log the refused login and the 401s at debug level: $ERR"
    else
        tp_ok "$t"
    fi
fi
stop_tb
tp_done
