#!/bin/sh
# tests/cli/sim-gangs.sh — `trustplace sim` with gangs and tenants: a training
# source's gangs start whole and stop whole when a cap drop or GPU failure hits a
# member (the engine checks after every decision and at every sample that no gang
# runs in part and no tenant grew past its limit, and ends the run otherwise);
# every tenant's most GPUs at once stay within its limit under every policy; the
# run is deterministic for a seed; bad training sources are refused with their
# JSON path.
# tp: parallel (tests/run.sh: no server, no check that depends on timing)
. "$(dirname "$0")/lib.sh"
tp_plan 8
T="$TP_TMP"

# 48 nodes in racks of 12; gangs of 2–8 members under one rack; four tenants,
# two of them in a group; GPUs fail on 8 nodes and the eu-de site is cut to 60%.
cat >"$T/g.json" <<JSON
{"version": 1, "name": "gangs-test",
 "fleet": {"generate": {"nodes": 48, "regions": "eu-de,eu-fr", "seed": 4, "rack_nodes": 12}},
 "tenants": {"org": {"quota_gpus": 160, "limit_gpus": 220},
             "research": {"quota_gpus": 60, "limit_gpus": 96, "parent": "org"},
             "product": {"quota_gpus": 60, "limit_gpus": 100, "parent": "org"},
             "ops": {"quota_gpus": 30, "limit_gpus": 40}},
 "duration_s": 21600, "tick_s": 60, "sample_s": 600, "seed": 3,
 "sources": [
   {"type": "training", "rate_per_h": 6, "nodes": {"2": 2, "4": 2, "8": 1},
    "duration_s": {"mean": 5400, "sigma": 0.5}, "sensitivity": {"public": 1},
    "models": {"llama-8b": 1}, "tenants": {"research": 2, "product": 1}},
   {"type": "jobs", "rate_per_h": 60, "duration_s": {"mean": 1800},
    "sensitivity": {"public": 1}, "tenants": {"ops": 1, "product": 1}}],
 "events": [{"type": "gpu_failure", "at_s": 5400, "duration_s": 1800, "gpus": 2, "count": 8},
            {"type": "power_cap", "at_s": 10800, "duration_s": 3600, "domain": "site-eu-de",
             "factor": 0.6}]}
JSON

t="gangs and tenants: every policy runs the day without a partial gang or a tenant over its limit"
if tp_run "$t" 0 "$TP_BIN" sim "$T/g.json" --out "$T/a" --quiet; then
    # Limits bind: under every policy some tenant reaches its limit, none passes it.
    if jq -e '.results[0].policies | to_entries | all(.value.gangs.started > 0 and
            .value.gangs.completed > 0 and
            (.value.tenants | to_entries | all(.value.max_gpus <= .value.limit_gpus)) and
            (.value.tenants | to_entries | any(.value.max_gpus == .value.limit_gpus)))' \
        "$T/a/summary.json" >/dev/null; then
        tp_ok "$t"
    else
        tp_fail "$t" "$(jq -c '.results[0].policies | map_values({gangs, tenants: (.tenants | map_values({max_gpus, limit_gpus}))})' "$T/a/summary.json")"
    fi
fi

t="a cap drop and GPU failures stop gangs whole (and they run again)"
jq -e '.results[0].policies.trustplace.gangs.stopped > 0 and
       (.results[0].policies | to_entries | map(.value.gangs.stopped) | add) > 1' \
    "$T/a/summary.json" >/dev/null && tp_ok "$t" ||
    tp_fail "$t" "$(jq -c '.results[0].policies | map_values(.gangs)' "$T/a/summary.json")"

t="a tenant's GPUs over the run: hourly, by quarter, and a group counts its members"
jq -e '.results[0].policies.trustplace.tenants as $t |
       ($t.research.hourly_gpus | length) == 6 and
       ($t.org.max_gpus >= $t.research.max_gpus) and ($t.org.mean_gpus >=
        $t.research.mean_gpus + $t.product.mean_gpus - 0.01) and
       ($t.ops.share_of_quota_by_quarter | length) == 4' "$T/a/summary.json" >/dev/null &&
    tp_ok "$t" || tp_fail "$t" "$(jq -c '.results[0].policies.trustplace.tenants' "$T/a/summary.json")"

t="the table shows tenants vs quota and gang wait p95 by size"
if tp_run "$t" 0 "$TP_BIN" sim "$T/g.json" --policy trustplace,first-fit --out "$T/b"; then
    echo "$OUT" | grep -q '^research  *60  *96  trustplace ' &&
        echo "$OUT" | grep -q '^gang wait p95 (s) by members:' &&
        echo "$OUT" | grep -Eq '^policy  *2  *4  *8$' && tp_ok "$t" || tp_fail "$t" "$OUT"
fi

t="same seed, same bytes"
if tp_run "$t" 0 "$TP_BIN" sim "$T/g.json" --out "$T/c" --quiet; then
    cmp -s "$T/a/summary.json" "$T/c/summary.json" && cmp -s "$T/a/timeseries.csv" "$T/c/timeseries.csv" &&
        tp_ok "$t" || tp_fail "$t" "two runs differ"
fi

t="a gang of one member is refused with its JSON path"
sed 's/"nodes": {"2": 2,/"nodes": {"1": 2,/' "$T/g.json" >"$T/bad1.json"
tp_run "$t" 2 "$TP_BIN" sim "$T/bad1.json" &&
    { echo "$ERR" | grep -q 'bad1.json: \$.sources\[0\].nodes: expected gang sizes of 2..64' && tp_ok "$t" || tp_fail "$t" "$ERR"; }

t="an unknown domain kind or tenant is refused with its JSON path"
sed 's/"models": {"llama-8b": 1}, "tenants"/"models": {"llama-8b": 1}, "together": "pod", "tenants"/' "$T/g.json" >"$T/bad2.json"
sed 's/"tenants": {"ops": 1,/"tenants": {"opz": 1,/' "$T/g.json" >"$T/bad3.json"
if tp_run "$t" 2 "$TP_BIN" sim "$T/bad2.json"; then
    e2=$ERR
    tp_run "$t" 2 "$TP_BIN" sim "$T/bad3.json" &&
        { echo "$e2" | grep -q '\$.sources\[0\].together: no power domain of kind "pod"' &&
            echo "$ERR" | grep -q '\$.sources\[1\].tenants.opz: no tenant "opz" in the fleet' &&
            tp_ok "$t" || tp_fail "$t" "$e2 / $ERR"; }
fi

t="a bad tenant of the scenario's \"tenants\" is refused with its JSON path"
sed 's/"ops": {"quota_gpus": 30, "limit_gpus": 40}/"ops": {"quota_gpus": 30, "limit_gpus": 40, "parent": "ops"}/' "$T/g.json" >"$T/bad4.json"
tp_run "$t" 2 "$TP_BIN" sim "$T/bad4.json" &&
    { echo "$ERR" | grep -q 'bad4.json: \$.tenants.ops.parent: tenant "ops" is its own ancestor' && tp_ok "$t" || tp_fail "$t" "$ERR"; }
tp_done
