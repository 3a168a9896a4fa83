#!/bin/sh
# tests/cli/commands.sh — the trustplace command: version, help, check-config,
# explain (text and JSON), gen-* determinism, --now, and usage errors.
# tp: parallel (tests/run.sh: no server, no check that depends on timing)
. "$(dirname "$0")/lib.sh"
D="$TP_SRC/config"
tp_plan 17
demo="--config $D/demo-fleet.json --state $D/demo-state.json --workloads $D/demo-workloads.json --running $D/demo-running.json"

t="version"
tp_run "$t" 0 "$TP_BIN" --version && case $OUT in "trustplace "[0-9]*) tp_ok "$t" ;; *) tp_fail "$t" "$OUT" ;; esac
t="help lists every command"
# Every entry of cli/main.c's command table, so a new command is covered too.
cmds=$(sed -n 's/^ *{"\([a-z][a-z-]*\)", *tp_cmd_[a-z_]*,.*/\1/p' "$TP_SRC/cli/main.c")
if [ "$(echo "$cmds" | wc -w)" -lt 10 ]; then
    tp_fail "$t" "cannot read the command table of cli/main.c: $cmds"
elif tp_run "$t" 0 "$TP_BIN" help; then
    miss=""
    for c in $cmds; do
        echo "$OUT" | grep -q "^  $c " || miss="$miss $c"
    done
    [ -z "$miss" ] && tp_ok "$t" || tp_fail "$t" "missing:$miss"
fi
t="unknown command is a usage error"
tp_run "$t" 2 "$TP_BIN" frobnicate && tp_ok "$t"

t="check-config demo summary"
if tp_run "$t" 0 "$TP_BIN" check-config "$D/demo-fleet.json"; then
    echo "$OUT" | grep -q "nodes        14 (96 GPUs)" &&
        echo "$OUT" | grep -q "eu-de (DE) 9 nodes" &&
        echo "$OUT" | grep -q "regulated      cpu_tee tdx|sev-snp, gpu_cc, attestation >= affirming within 600 s, residency" &&
        tp_ok "$t" || tp_fail "$t" "$OUT"
fi

t="explain demo in words"
# shellcheck disable=SC2086
if tp_run "$t" 0 "$TP_BIN" explain $demo; then
    want="bank-kyc-de (regulated, 2 GPUs): 2/14 nodes eligible: 10 gpu_cc, 9 cpu_tee, 6 attestation_missing, 5 residency, 2 attestation_stale, 1 attestation_status, 1 residency_mismatch"
    echo "$OUT" | grep -qF "$want" && echo "$OUT" | grep -qF "batch-embed (internal, 4 GPUs): 5/14 nodes eligible" &&
        tp_ok "$t" || tp_fail "$t" "$OUT"
fi

t="explain --json one workload"
# shellcheck disable=SC2086
if tp_run "$t" 0 "$TP_BIN" explain $demo --workload health-fr --json; then
    echo "$OUT" >"$TP_TMP/e.json"
    if jq -e '.now == 1795000000 and .nodes == 14 and (.workloads | length) == 1 and
        (.workloads[0] | .workload == "health-fr" and .eligible == 1 and
         .reasons == {"residency": 9, "gpu_cc": 10, "cpu_tee": 9, "attestation_missing": 6,
                      "attestation_stale": 2, "attestation_status": 1,
                      "residency_mismatch": 1})' "$TP_TMP/e.json" >/dev/null
    then tp_ok "$t"; else tp_fail "$t" "$OUT"; fi
fi

t="--now: an hour later every attestation is stale"
# shellcheck disable=SC2086
if tp_run "$t" 0 "$TP_BIN" explain $demo --workload bank-kyc-de --now 1795007200; then
    case $OUT in *"0/14 nodes eligible"*attestation_stale*) tp_ok "$t" ;; *) tp_fail "$t" "$OUT" ;; esac
fi
t="explain: unknown --workload"
# shellcheck disable=SC2086
tp_run "$t" 2 "$TP_BIN" explain $demo --workload nope && case $ERR in *'no workload "nope"'*) tp_ok "$t" ;; *) tp_fail "$t" "$ERR" ;; esac
t="explain: --config missing"
tp_run "$t" 2 "$TP_BIN" explain --workloads "$D/demo-workloads.json" && tp_ok "$t"
t="explain: bad --now"
# shellcheck disable=SC2086
tp_run "$t" 2 "$TP_BIN" explain $demo --now yesterday && case $ERR in *"--now"*) tp_ok "$t" ;; *) tp_fail "$t" "$ERR" ;; esac

t="gen-fleet is deterministic for a seed"
if tp_run "$t" 0 "$TP_BIN" gen-fleet --nodes 300 --seed 9 --out "$TP_TMP/a.json" &&
    tp_run "$t" 0 "$TP_BIN" gen-fleet --nodes 300 --seed 9 --out "$TP_TMP/b.json" &&
    tp_run "$t" 0 "$TP_BIN" gen-fleet --nodes 300 --seed 10 --out "$TP_TMP/c.json"; then
    cmp -s "$TP_TMP/a.json" "$TP_TMP/b.json" && ! cmp -s "$TP_TMP/a.json" "$TP_TMP/c.json" &&
        tp_ok "$t" || tp_fail "$t" "outputs differ (or seeds agree)"
fi
t="gen-workloads and gen-state are deterministic and valid"
if tp_run "$t" 0 "$TP_BIN" gen-workloads --config "$TP_TMP/a.json" --count 200 --seed 3 --out "$TP_TMP/w1.json" &&
    tp_run "$t" 0 "$TP_BIN" gen-workloads --config "$TP_TMP/a.json" --count 200 --seed 3 --out "$TP_TMP/w2.json" &&
    tp_run "$t" 0 "$TP_BIN" gen-state --config "$TP_TMP/a.json" --seed 3 --out "$TP_TMP/s1.json" &&
    tp_run "$t" 0 "$TP_BIN" gen-state --config "$TP_TMP/a.json" --seed 3 --out "$TP_TMP/s2.json" &&
    tp_run "$t" 0 "$TP_BIN" check-config "$TP_TMP/a.json" --state "$TP_TMP/s1.json" --workloads "$TP_TMP/w1.json"; then
    cmp -s "$TP_TMP/w1.json" "$TP_TMP/w2.json" && cmp -s "$TP_TMP/s1.json" "$TP_TMP/s2.json" &&
        echo "$OUT" | grep -q "valid, 200 pending" && tp_ok "$t" || tp_fail "$t" "$OUT"
fi
t="gen-fleet: 10,000 nodes load and explain"
if tp_run "$t" 0 "$TP_BIN" gen-fleet --nodes 10000 --out "$TP_TMP/big.json" &&
    tp_run "$t" 0 "$TP_BIN" check-config "$TP_TMP/big.json"; then
    echo "$OUT" | grep -q "nodes        10,000" && tp_ok "$t" || tp_fail "$t" "$OUT"
fi
t="gen-fleet: --nodes required"
tp_run "$t" 2 "$TP_BIN" gen-fleet && tp_ok "$t"
t="gen-fleet: unknown region"
tp_run "$t" 2 "$TP_BIN" gen-fleet --nodes 5 --regions eu-de,atlantis && case $ERR in *atlantis*) tp_ok "$t" ;; *) tp_fail "$t" "$ERR" ;; esac
t="gen-workloads: junk count"
tp_run "$t" 2 "$TP_BIN" gen-workloads --config "$TP_TMP/a.json" --count many && tp_ok "$t"
t="gen-state: option of another generator"
tp_run "$t" 2 "$TP_BIN" gen-state --config "$TP_TMP/a.json" --nodes 4 && tp_ok "$t"
tp_done
