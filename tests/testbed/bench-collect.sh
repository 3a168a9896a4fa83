#!/bin/sh
# tests/testbed/bench-collect.sh BUILD — the collector benchmark (make
# bench-collect): 10,000 virtual BMCs (generated trees, sessions required),
# 250 ms ± 100 ms latency, 1% random 500s. Prints the full-cycle time, CPU
# seconds, peak RSS of the collector, and the naive sequential estimate (BMCs x
# requests per BMC x 250 ms) beside it. Runs twice: with $expand (advertised by
# the BMCs, the default) and without. BENCH_NODES overrides the fleet size.
set -u
B=${1:-build}
N=${BENCH_NODES:-10000}
G=${BENCH_CONCURRENCY:-4096}
T=$(mktemp -d)
TBPID=""
cleanup() { [ -n "$TBPID" ] && kill "$TBPID" 2>/dev/null && wait "$TBPID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$B/trustplace" gen-fleet --nodes "$N" --seed 1 --out "$T/fleet.json" >/dev/null || exit 1
for mode in expand no-expand; do
    rm -f "$T/ready"
    extra=""
    [ "$mode" = no-expand ] && extra="--no-expand"
    # Ports below the ephemeral range: binding 10,000 kernel-assigned ports is slow.
    "$B/tp-testbed" --fleet "$T/fleet.json" --fleet-out "$T/tb.json" --ready "$T/ready" \
        --auth --latency 250,100 --error-rate 0.01 --no-verifier --port-base 20000 \
        --global-concurrency "$G" --collect-timeout-ms 10000 --retries 2 --duration 300 \
        $extra 2>"$T/tb.log" &
    TBPID=$!
    i=0
    while [ ! -f "$T/ready" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    [ -f "$T/ready" ] || { cat "$T/tb.log"; exit 1; }
    echo "== bench-collect: $N BMCs, 250 ± 100 ms, 1% errors, sessions, $mode, global concurrency $G"
    "$B/trustplace" collect --config "$T/tb.json" --once --out "$T/state.json" --stats -q 2>"$T/out" ||
        { cat "$T/out"; exit 1; }
    cat "$T/out"
    awk -v n="$N" '/requests per BMC/ { for (i = 1; i <= NF; i++) if ($i == "requests" && $(i+1) == "per") rpb = $(i-1) }
        /^collect: cycle/ { wall = $3 }
        END { naive = n * rpb * 0.25; printf "bench-collect: full cycle %.1f s; naive sequential estimate %d BMCs x %.1f requests x 250 ms = %.0f s (%.1f h), %.0fx the cycle\n", wall, n, rpb, naive, naive / 3600, naive / wall }' "$T/out"
    python3 -c "
import json; s = json.load(open('$T/state.json'))['nodes']
print('bench-collect: nodes with a cap %d, with GPUs %d, with a country %d (of $N)' % (sum('cap_w' in v for v in s.values()), sum('gpus_healthy' in v for v in s.values()), sum('country' in v for v in s.values())))" 2>/dev/null
    kill "$TBPID"; wait "$TBPID" 2>/dev/null; TBPID=""
    tail -1 "$T/tb.log"
done
