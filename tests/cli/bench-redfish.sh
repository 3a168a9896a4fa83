#!/bin/sh
# tests/cli/bench-redfish.sh — `trustplace bench --meter redfish` against the
# test bed: the node's draw, sampled through the collectors' Redfish code with
# the fleet's credentials (sessions), integrated over each run, equals the
# BMC's constant draw × the run's duration within one sampling period; the
# report names the meter and its resolution (1 W × the period). A node whose
# BMC is down fails the measurement (exit 1); a missing --config/--node is a
# usage error. The test bed is stopped by its pid and by itself after 60 s.
. "$(dirname "$0")/lib.sh"
TB="$(dirname "$TP_BIN")/tp-testbed"
C="$TP_TMP/cache"
tp_plan 9
[ -x "$TB" ] || tp_skip_rest "needs $TB (make tests builds it)"
TBPID=""
stop_tb() { [ -n "$TBPID" ] && kill "$TBPID" 2>/dev/null && wait "$TBPID" 2>/dev/null; TBPID=""; }
trap 'stop_tb; rm -rf "$TP_TMP"' EXIT

"$TP_BIN" gen-fleet --nodes 2 --seed 3 --out "$TP_TMP/fleet.json" >/dev/null 2>&1
down=$(jq -r '.nodes[1].id' "$TP_TMP/fleet.json")
"$TB" --fleet "$TP_TMP/fleet.json" --fleet-out "$TP_TMP/tb.json" --ready "$TP_TMP/ready" \
    --auth --latency 1 --fault "$down=down" --duration 60 2>"$TP_TMP/tb.log" &
TBPID=$!
i=0
while [ ! -f "$TP_TMP/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -f "$TP_TMP/ready" ]; then
    tp_fail "testbed starts" "$(cat "$TP_TMP/tb.log")"
    tp_done
    exit 1
fi
node=$(jq -r '.nodes[0].id' "$TP_TMP/tb.json")
# The draw the BMC reports, as the collector reads it.
"$TP_BIN" collect --config "$TP_TMP/tb.json" --once --out "$TP_TMP/state.json" 2>/dev/null
draw=$(jq -r --arg n "$node" '.nodes[$n].draw_w' "$TP_TMP/state.json")
case $draw in '' | null) tp_fail "the node's draw is known" "$(cat "$TP_TMP/state.json")" ;;
*) tp_ok "the node's draw is known ($draw W)" ;; esac

t="--meter redfish integrates the BMC's draw over each run"
if tp_run "$t" 0 "$TP_BIN" bench --shape tiny --batch 4,16 --prompt 16 --gen 400 --cache "$C" \
    --no-copy-bandwidth --meter redfish --config "$TP_TMP/tb.json" --node "$node" \
    --meter-interval 50 --report "$TP_TMP/r.json" --out "$TP_TMP/p.json"; then
    if echo "$OUT" | grep -q "^meter    redfish: node power from the BMC, sampled every 50 ms" &&
        jq -e --argjson w "$draw" '
            .meter_resolution_j == 0.05 and (.runs | length) == 2 and
            all(.runs[]; .energy_measured and .total_s > 0 and
                ((.joules - $w * .total_s) | fabs) <= $w * 0.05 and
                ((.watts - $w) | fabs) <= 0.05 * $w)' "$TP_TMP/r.json" >/dev/null &&
        jq -e --argjson w "$draw" '((.[0].watts - $w) | fabs) <= 0.05 * $w' "$TP_TMP/p.json" >/dev/null; then
        tp_ok "$t"
    else
        tp_fail "$t" "$OUT
$(cat "$TP_TMP/r.json")"
    fi
fi

t="--meter redfish on a BMC that is down: the measurement fails"
if tp_run "$t" 1 "$TP_BIN" bench --shape tiny --gen 4 --cache "$C" --no-copy-bandwidth \
    --meter redfish --config "$TP_TMP/tb.json" --node "$down" --meter-interval 50; then
    case $ERR in *"no power reading"*) tp_ok "$t" ;; *) tp_fail "$t" "$ERR" ;; esac
fi

stop_tb
# Samples were taken during the runs, not only at their ends: the report counts
# the meter's readings per run (its first and last included).
t="sampled during the runs"
if jq -e 'all(.runs[]; .meter_readings >= 3)' "$TP_TMP/r.json" >/dev/null; then
    tp_ok "$t ($(jq -c '[.runs[].meter_readings]' "$TP_TMP/r.json") readings)"
else
    tp_fail "$t" "$(cat "$TP_TMP/r.json")"
fi

for args in "--meter redfish" "--meter redfish --config $TP_TMP/tb.json" \
    "--meter none --node x" "--meter redfish --config $TP_TMP/tb.json --node x --meter-interval 5"; do
    t="usage: bench $args"
    # shellcheck disable=SC2086
    tp_run "$t" 2 "$TP_BIN" bench $args --cache "$C" &&
        { [ -n "$ERR" ] && tp_ok "$t" || tp_fail "$t" "exit 2 without a message"; }
done
t="--meter redfish with an unknown node is bad input"
tp_run "$t" 2 "$TP_BIN" bench --shape tiny --gen 4 --cache "$C" --meter redfish \
    --config "$TP_TMP/tb.json" --node nosuchnode &&
    case $ERR in *'no node "nosuchnode"'*) tp_ok "$t" ;; *) tp_fail "$t" "$ERR" ;; esac
tp_done
