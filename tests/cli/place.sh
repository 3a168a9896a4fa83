#!/bin/sh
# tests/cli/place.sh — `trustplace place` end to end: the table, the JSON shape
# of FORMATS.md, determinism, exit codes, a cap drop with preemptions, and a
# generated fleet whose result the JSON must keep consistent.
# tp: parallel (tests/run.sh: no server, no check that depends on timing)
. "$(dirname "$0")/lib.sh"
C="$TP_SRC/config"
tp_plan 8

if tp_run "place: demo table" 0 "$TP_BIN" place --config "$C/demo-fleet.json" \
    --state "$C/demo-state.json" --workloads "$C/demo-workloads.json" \
    --running "$C/demo-running.json"; then
    case $OUT in
    *placements:*pending:*preemptions:*"solve "*objective*) tp_ok "place: demo table" ;;
    *) tp_fail "place: demo table" "$OUT" ;;
    esac
fi

if tp_run "place: demo json" 0 "$TP_BIN" place --config "$C/demo-fleet.json" \
    --state "$C/demo-state.json" --workloads "$C/demo-workloads.json" \
    --running "$C/demo-running.json" --json; then
    printf '%s\n' "$OUT" >"$TP_TMP/a.json"
    if jq -e '(keys == ["pending", "placements", "preemptions", "stats"]) and
        all(.placements[]; has("workload") and has("node") and has("gpus")) and
        all(.pending[]; (.reasons | add) > 0) and
        (.stats | has("solve_ms") and has("objective") and has("bound") and has("gap") and
                  has("nodes") and has("workloads")) and
        .stats.bound >= .stats.objective - 1e-6' "$TP_TMP/a.json" >/dev/null
    then tp_ok "place: demo json"; else tp_fail "place: demo json" "$OUT"; fi
fi

# Same input, same answer (solve_ms aside).
if tp_run "place: deterministic" 0 "$TP_BIN" place --config "$C/demo-fleet.json" \
    --state "$C/demo-state.json" --workloads "$C/demo-workloads.json" \
    --running "$C/demo-running.json" --json; then
    printf '%s\n' "$OUT" >"$TP_TMP/b.json"
    if [ "$(grep -v solve_ms "$TP_TMP/a.json")" = "$(grep -v solve_ms "$TP_TMP/b.json")" ]; then
        tp_ok "place: deterministic"
    else
        tp_fail "place: deterministic" "$(diff "$TP_TMP/a.json" "$TP_TMP/b.json")"
    fi
fi

# Bad input: exit 2.
if tp_run "place: missing --workloads" 2 "$TP_BIN" place --config "$C/demo-fleet.json"; then
    tp_ok "place: missing --workloads"
fi
if tp_run "place: bad time limit" 2 "$TP_BIN" place --config "$C/demo-fleet.json" \
    --workloads "$C/demo-workloads.json" --time-limit-ms soon; then
    tp_ok "place: bad time limit"
fi
echo '[{"id": "x", "gpus": "two", "sensitivity": "public"}]' >"$TP_TMP/bad.json"
if tp_run "place: malformed workloads" 2 "$TP_BIN" place --config "$C/demo-fleet.json" \
    --workloads "$TP_TMP/bad.json"; then
    case $ERR in *bad.json*) tp_ok "place: malformed workloads" ;;
    *) tp_fail "place: malformed workloads" "$ERR" ;; esac
fi

# A generated fleet: exit 0 with work pending; every pending entry has reasons.
"$TP_BIN" gen-fleet --nodes 200 --seed 3 >"$TP_TMP/f.json" &&
    "$TP_BIN" gen-workloads --config "$TP_TMP/f.json" --count 400 >"$TP_TMP/w.json" &&
    "$TP_BIN" gen-state --config "$TP_TMP/f.json" >"$TP_TMP/s.json"
if tp_run "place: generated fleet" 0 "$TP_BIN" place --config "$TP_TMP/f.json" \
    --state "$TP_TMP/s.json" --workloads "$TP_TMP/w.json" --json; then
    printf '%s\n' "$OUT" >"$TP_TMP/g.json"
    if jq -e '(.placements | length) + (.pending | length) == 400 and
        (.placements | length) > 100 and (.pending | length) > 0 and
        all(.pending[]; (.reasons | add) > 0) and
        ([.placements[].workload] | unique | length) == (.placements | length)' \
        "$TP_TMP/g.json" >/dev/null
    then tp_ok "place: generated fleet"; else tp_fail "place: generated fleet" "$(head -c 2000 "$TP_TMP/g.json")"; fi
fi

# A rack loses 40% of its cap: preemptions name it, only preemptible work.
cat >"$TP_TMP/cap.json" <<'JSON'
{"observed_at": 1795000000, "nodes": {}, "power_domains": {"rack-fra-1": {"cap_w": 8000}}}
JSON
cat >"$TP_TMP/run.json" <<'JSON'
[{"id": "keep", "gpus": 2, "sensitivity": "public", "priority": 9, "preemptible": false, "node": "fra1-n1"},
 {"id": "low", "gpus": 4, "sensitivity": "public", "priority": 1, "node": "fra1-n1"},
 {"id": "mid", "gpus": 2, "sensitivity": "public", "priority": 5, "node": "fra1-n2"}]
JSON
echo '[]' >"$TP_TMP/none.json"
if tp_run "place: cap drop" 0 "$TP_BIN" place --config "$C/demo-fleet.json" \
    --state "$TP_TMP/cap.json" --workloads "$TP_TMP/none.json" --running "$TP_TMP/run.json" \
    --json; then
    case $OUT in
    *'"why": "power_domain:rack-fra-1"'*)
        case $OUT in *'"workload": "keep"'*) tp_fail "place: cap drop" "$OUT" ;;
        *) tp_ok "place: cap drop" ;; esac ;;
    *) tp_fail "place: cap drop" "$OUT" ;;
    esac
fi

tp_done
