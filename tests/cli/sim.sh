#!/bin/sh
# tests/cli/sim.sh — `trustplace sim`: a run writes its three files, the same
# seed gives the same summary.json, shards merge into the unsharded result, the
# job-array index comes from the environment, and bad input is refused with the
# file and JSON path.
# tp: parallel (tests/run.sh: no server, no check that depends on timing)
. "$(dirname "$0")/lib.sh"
tp_plan 16
T="$TP_TMP"

# A small self-contained scenario: the demo fleet and a list of jobs, plus a
# seeded generator and a cap drop, with a two-value grid.
cat >"$T/s.json" <<JSON
{"version": 1, "name": "cli-test", "fleet": "$TP_SRC/config/demo-fleet.json",
 "duration_s": 7200, "tick_s": 20, "sample_s": 600, "seed": 5,
 "sources": [
   {"type": "list", "jobs": [
     {"id": "kyc", "at_s": 0, "gpus": 8, "duration_s": 3000, "sensitivity": "regulated",
      "residency": ["eu-de"], "priority": 20},
     {"id": "batch", "at_s": 60, "gpus": 4, "duration_s": 600, "sensitivity": "public"}]},
   {"type": "jobs", "rate_per_h": 30, "duration_s": {"mean": 1200},
    "sensitivity": {"public": 2, "internal": 1, "confidential": 1, "regulated": 1},
    "residency": {"eu-de": 1, "eu-fr": 1}, "models": {"llama-8b": 1}}],
 "events": [{"type": "power_cap", "at_s": 3600, "domain": "site-fra", "factor": 0.7,
             "duration_s": 1800}],
 "grid": [{"path": "/events/0/factor", "values": [0.7, 0.9]}]}
JSON

t="sim writes summary, timeseries and report"
if tp_run "$t" 0 "$TP_BIN" sim "$T/s.json" --out "$T/a"; then
    if [ -s "$T/a/summary.json" ] && [ -s "$T/a/timeseries.csv" ] && [ -s "$T/a/report.html" ] &&
        echo "$OUT" | grep -q '^trustplace  *0 ' &&
        head -1 "$T/a/timeseries.csv" | grep -q '^variant,policy,t_s,gpu_util,tee_share' &&
        grep -q '<svg' "$T/a/report.html" && ! grep -qi '<script\|https\?://' "$T/a/report.html"; then
        tp_ok "$t"
    else
        tp_fail "$t" "$OUT"
    fi
fi

t="no progress bar when stderr is not a terminal"
case $ERR in *"["*"%"*) tp_fail "$t" "$ERR" ;; *) tp_ok "$t" ;; esac

t="same seed, same summary.json bytes"
if tp_run "$t" 0 "$TP_BIN" sim "$T/s.json" --out "$T/b" --quiet; then
    cmp -s "$T/a/summary.json" "$T/b/summary.json" && cmp -s "$T/a/timeseries.csv" "$T/b/timeseries.csv" &&
        tp_ok "$t" || tp_fail "$t" "summary.json differs between two runs"
fi

t="--seed changes the run"
if tp_run "$t" 0 "$TP_BIN" sim "$T/s.json" --out "$T/c" --seed 99 --quiet; then
    cmp -s "$T/a/summary.json" "$T/c/summary.json" && tp_fail "$t" "identical with another seed" || tp_ok "$t"
fi

t="--shard i/n and SLURM_ARRAY_TASK_ID / JOB_COMPLETION_INDEX, then merge"
if tp_run "$t" 0 "$TP_BIN" sim "$T/s.json" --out "$T/s0" --shard 0/2 --quiet &&
    SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 tp_run "$t" 0 "$TP_BIN" sim "$T/s.json" --out "$T/s1" --shard 2 --quiet &&
    tp_run "$t" 0 "$TP_BIN" sim merge --out "$T/m" "$T/s1" "$T/s0"; then
    if cmp -s "$T/a/summary.json" "$T/m/summary.json" && cmp -s "$T/a/timeseries.csv" "$T/m/timeseries.csv" &&
        cmp -s "$T/a/report.html" "$T/m/report.html" && grep -q '"shard"' "$T/s1/summary.json"; then
        tp_ok "$t"
    else
        tp_fail "$t" "merged output differs from the unsharded run"
    fi
fi
t="JOB_COMPLETION_INDEX names the shard of an Indexed Job"
if JOB_COMPLETION_INDEX=1 tp_run "$t" 0 "$TP_BIN" sim "$T/s.json" --out "$T/k1" --shard 2 --quiet; then
    cmp -s "$T/s1/summary.json" "$T/k1/summary.json" && tp_ok "$t" || tp_fail "$t" "not shard 1"
fi

t="merge refuses an incomplete set of shards"
tp_run "$t" 2 "$TP_BIN" sim merge --out "$T/m2" "$T/s0" && { echo "$ERR" | grep -q "variant 1 is missing" && tp_ok "$t" || tp_fail "$t" "$ERR"; }

t="--shard without an index or environment is a usage error"
tp_run "$t" 2 env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX "$TP_BIN" sim "$T/s.json" --shard 2 &&
    { echo "$ERR" | grep -q "SLURM_ARRAY_TASK_ID" && tp_ok "$t" || tp_fail "$t" "$ERR"; }

t="--policy picks policies; unknown ones are refused"
if tp_run "$t" 0 "$TP_BIN" sim "$T/s.json" --policy capacity-first,trustplace; then
    echo "$OUT" | grep -q '^capacity-first ' && ! echo "$OUT" | grep -q '^first-fit ' && tp_ok "$t" || tp_fail "$t" "$OUT"
fi
t="unknown policy"
tp_run "$t" 2 "$TP_BIN" sim "$T/s.json" --policy fastest && { echo "$ERR" | grep -q '"fastest" is unknown' && tp_ok "$t" || tp_fail "$t" "$ERR"; }

t="unknown scenario key names its JSON path"
sed 's/"seed": 5,/"seed": 5, "sed": 1,/' "$T/s.json" >"$T/bad.json"
tp_run "$t" 2 "$TP_BIN" sim "$T/bad.json" && { echo "$ERR" | grep -q 'bad.json: \$.sed: unknown key' && tp_ok "$t" || tp_fail "$t" "$ERR"; }

t="a malformed trace names file and line"
printf 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,12,3\n2023-11-16 18:15:47.1,x,3\n' >"$T/t.csv"
cat >"$T/tr.json" <<JSON
{"version": 1, "name": "t", "fleet": "$TP_SRC/config/demo-fleet.json", "duration_s": 60,
 "deployments": [{"id": "d", "model": "llama-8b", "sensitivity": "public"}],
 "sources": [{"type": "azure", "file": "t.csv", "deployments": {"d": 1}}]}
JSON
tp_run "$t" 2 "$TP_BIN" sim "$T/tr.json" &&
    { echo "$ERR" | grep -q 't.csv:3: column "ContextTokens" (context): expected an integer' && tp_ok "$t" || tp_fail "$t" "$ERR"; }

t="warm start: the running file's work runs from t = 0"
cat >"$T/running.json" <<JSON
[{"id": "train-7", "gpus": 8, "sensitivity": "confidential", "model": "llama-8b",
  "node": "fra1-n1", "priority": 40},
 {"id": "etl", "gpus": 4, "sensitivity": "public", "node": "fra1-n4"}]
JSON
cat >"$T/warm.json" <<JSON
{"version": 1, "name": "warm", "fleet": "$TP_SRC/config/demo-fleet.json", "duration_s": 600,
 "policies": ["trustplace"], "warm_start": {"running": "running.json", "remaining_s": 3600}}
JSON
if tp_run "$t" 0 "$TP_BIN" sim "$T/warm.json" --out "$T/w" --quiet; then
    grep -q '"running_end": 2' "$T/w/summary.json" && grep -q '"placements": 0' "$T/w/summary.json" &&
        tp_ok "$t" || tp_fail "$t" "$(cat "$T/w/summary.json")"
fi
t="warm start: work over a node's GPUs is refused with the file and path"
sed 's/"gpus": 4/"gpus": 12/' "$T/running.json" >"$T/running2.json"
sed 's/running.json/running2.json/' "$T/warm.json" >"$T/warm2.json"
tp_run "$t" 2 "$TP_BIN" sim "$T/warm2.json" && { echo "$ERR" | grep -q 'warm2.json: \$.warm_start.running: .*running2.json: \$\[1\].gpus: node "fra1-n4" has 8 healthy GPUs' && tp_ok "$t" || tp_fail "$t" "$ERR"; }

t="shipped scenarios are valid"
if [ -d "${TP_SHARED:-../shared}/traces" ]; then
    bad=""
    for s in "$TP_SRC"/config/scenarios/*.json; do
        # A one-minute run proves the file loads and runs; the real runs are long.
        sed 's/"duration_s": [0-9]*,/"duration_s": 60,/; s/"warmup_s": [0-9]*,//' "$s" >"$T/short.json"
        sed -i "s|\"fleet\": \"|\"fleet\": \"$(dirname "$s")/|" "$T/short.json"
        "$TP_BIN" sim "$T/short.json" --quiet --policy trustplace --seed 1 >/dev/null 2>"$T/err" || bad="$bad $(basename "$s"): $(cat "$T/err")"
    done
    [ -z "$bad" ] && tp_ok "$t" || tp_fail "$t" "$bad"
else
    tp_skip "$t" "../shared (TP_SHARED) is absent: the scenarios replay its traces"
fi

t="sim --help"
tp_run "$t" 0 "$TP_BIN" sim --help && { echo "$OUT" | grep -q 'sim merge' && tp_ok "$t" || tp_fail "$t" "$OUT"; }
tp_done
