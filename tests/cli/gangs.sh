#!/bin/sh
# tests/cli/gangs.sh — gangs and tenants end to end: generated fleet with
# tenants and domain kinds, generated gangs, `place --json` writes one entry
# per gang with all its members on distinct nodes of one rack (or row), pending
# gangs and held-back work carry gang_topology / tenant_limit, and `explain`
# names the gang's size.
# tp: parallel (tests/run.sh: no server, no check that depends on timing)
. "$(dirname "$0")/lib.sh"
tp_plan 4
F="$TP_TMP/fleet.json" W="$TP_TMP/w.json" S="$TP_TMP/s.json"

if tp_run "gangs: generate" 0 "$TP_BIN" gen-fleet --nodes 240 --tenants 6 --out "$F" &&
    tp_run "gangs: generate workloads" 0 "$TP_BIN" gen-workloads --config "$F" \
        --count 160 --gang-percent 25 --seed 3 --out "$W" &&
    tp_run "gangs: generate state" 0 "$TP_BIN" gen-state --config "$F" --out "$S"; then
    if jq -e '(.policy.tenants | length) == 8 and
              all(.power_domains[]; .kind == "site" or .kind == "row" or .kind == "rack")' \
        "$F" >/dev/null && jq -e '[.[] | select(.nodes)] | length > 20' "$W" >/dev/null; then
        tp_ok "gangs: generated fleet and workloads"
    else
        tp_fail "gangs: generated fleet and workloads" "$(head -c 400 "$W")"
    fi
fi

if tp_run "gangs: place --json" 0 "$TP_BIN" place --config "$F" --state "$S" \
    --workloads "$W" --json; then
    printf '%s\n' "$OUT" >"$TP_TMP/p.json"
    # Node ids are <rack>-n<i> and racks <region>-r<row>-k<k>: the rack of a
    # node is its id less the last part, its row the rack less the last part.
    if jq -e --slurpfile w "$W" '
        ($w[0] | map({key: .id, value: .}) | from_entries) as $wl |
        ([.placements[] | select($wl[.workload].nodes)] | length) > 0 and
        all(.placements[]; . as $p | $wl[$p.workload] as $x |
            if $x.nodes then
                ($p.members | length) == $x.nodes and
                ($p.members | unique | length) == $x.nodes and
                $p.node == $p.members[0] and
                (if $x.together == "rack" then
                     ($p.members | map(sub("-n[0-9]+$"; "")) | unique | length) == 1
                 elif $x.together == "row" then
                     ($p.members | map(sub("-k[0-9]+-n[0-9]+$"; "")) | unique | length) == 1
                 else true end)
            else has("members") | not end) and
        any(.pending[]; .reasons.tenant_limit > 0) and
        all(.pending[]; (.reasons | add) > 0)' "$TP_TMP/p.json" >/dev/null; then
        tp_ok "gangs: place --json"
    else
        tp_fail "gangs: place --json" "$(head -c 2000 "$TP_TMP/p.json")"
    fi
fi

if tp_run "gangs: explain" 0 "$TP_BIN" explain --config "$F" --state "$S" \
    --workloads "$W" --json; then
    if printf '%s\n' "$OUT" | jq -e --slurpfile w "$W" '
        ($w[0] | map(select(.nodes)) | length) as $n |
        ([.workloads[] | select(.members)] | length) == $n' >/dev/null; then
        tp_ok "gangs: explain"
    else
        tp_fail "gangs: explain" "$(printf '%s' "$OUT" | head -c 600)"
    fi
fi
# A gang of 4 that no 3-node rack can hold; the 3-node gang takes rack-a, so
# the 3 nodes of rack-b could each take a member (gang_topology 3).
cat >"$TP_TMP/small.json" <<'JSON'
{"version": 1, "regions": {"eu": {"countries": ["DE"]}},
 "power_domains": [{"id": "site", "cap_w": 1e6, "kind": "site"},
                   {"id": "rack-a", "parent": "site", "cap_w": 1e5, "kind": "rack"},
                   {"id": "rack-b", "parent": "site", "cap_w": 1e5, "kind": "rack"}],
 "nodes": [
  {"id": "a1", "power_domain": "rack-a", "region": "eu", "gpu_model": "H100", "gpus": 8, "cap_w": 9000, "idle_w": 1000, "gpu_w": 700},
  {"id": "a2", "power_domain": "rack-a", "region": "eu", "gpu_model": "H100", "gpus": 8, "cap_w": 9000, "idle_w": 1000, "gpu_w": 700},
  {"id": "a3", "power_domain": "rack-a", "region": "eu", "gpu_model": "H100", "gpus": 8, "cap_w": 9000, "idle_w": 1000, "gpu_w": 700},
  {"id": "b1", "power_domain": "rack-b", "region": "eu", "gpu_model": "H100", "gpus": 8, "cap_w": 9000, "idle_w": 1000, "gpu_w": 700},
  {"id": "b2", "power_domain": "rack-b", "region": "eu", "gpu_model": "H100", "gpus": 8, "cap_w": 9000, "idle_w": 1000, "gpu_w": 700},
  {"id": "b3", "power_domain": "rack-b", "region": "eu", "gpu_model": "H100", "gpus": 8, "cap_w": 9000, "idle_w": 1000, "gpu_w": 700}],
 "policy": {"classes": {"public": {}}}}
JSON
printf '%s\n' '[{"id": "g4", "gpus": 8, "nodes": 4, "together": "rack", "sensitivity": "public"},
  {"id": "g3", "gpus": 8, "nodes": 3, "together": "rack", "sensitivity": "public"}]' >"$TP_TMP/small-w.json"
if tp_run "gangs: gang_topology" 0 "$TP_BIN" place --config "$TP_TMP/small.json" \
    --workloads "$TP_TMP/small-w.json" --json; then
    if printf '%s\n' "$OUT" | jq -e '
        (.pending | length) == 1 and .pending[0].workload == "g4" and
        .pending[0].reasons.gang_topology == 3 and .pending[0].reasons.gpu_capacity == 3 and
        (.placements | length) == 1 and .placements[0].workload == "g3" and
        (.placements[0].members | sort) == ["a1", "a2", "a3"]' >/dev/null; then
        tp_ok "gangs: gang_topology"
    else
        tp_fail "gangs: gang_topology" "$OUT"
    fi
fi
tp_done
