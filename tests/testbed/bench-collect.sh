#!/bin/sh
# tests/testbed/bench-collect.sh BUILD — the collector benchmark (make
# bench-collect): 10,000 virtual BMCs (generated trees, sessions required),
# 250 ms ± 100 ms latency, 1% random 500s, on this machine's cores (the farm
# runs on them too). One collector runs three cycles: the first discovers every
# BMC's tree, the second and third are the steady state (polls of each BMC's
# map; the second still starts from the connections discovery left). Prints
# per cycle the wall time, requests and new connections per BMC and the
# collector's CPU seconds,
# its peak RSS, the load average (the wall times are those of the CPU left by
# whatever else runs), and the targets (discovery <= 15 s, steady <= 5 s, RSS <= 300 MB). Runs twice:
# with $expand (advertised by the BMCs, the default) and without. BENCH_NODES
# overrides the fleet size, BENCH_MODES the modes ("expand no-expand").
set -u
B=${1:-build}
N=${BENCH_NODES:-10000}
G=${BENCH_CONCURRENCY:-4096}
MODES=${BENCH_MODES:-expand no-expand}
T=$(mktemp -d)
TBPID=""
cleanup() { [ -n "$TBPID" ] && kill "$TBPID" 2>/dev/null && wait "$TBPID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$B/trustplace" gen-fleet --nodes "$N" --seed 1 --out "$T/fleet.json" >/dev/null || exit 1
for mode in $MODES; do
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
    echo "== bench-collect: $N BMCs, 250 ± 100 ms, 1% errors, sessions, $mode, global concurrency $G; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
    # Three cycles a second apart: each starts as soon as the last one ends.
    "$B/trustplace" collect --config "$T/tb.json" --cycles 3 --interval 1 \
        --out "$T/state.json" --stats -q 2>"$T/out" || { cat "$T/out"; exit 1; }
    grep '^collect:' "$T/out"
    awk -v n="$N" '
        /^collect: cycle/ { k++; wall[k] = $3; cpu[k] = $6 - cum; cum = $6; rss = $(NF - 1) }
        /requests per BMC/ { for (i = 1; i <= NF; i++) { if ($i == "requests" && $(i+1) == "per") rpb[k] = $(i-1); if ($i == "new" && $(i+1) == "connections") cpb[k] = $(i-1) / n } }
        END {
            if (k < 3) { print "bench-collect: expected three cycles"; exit 1 }
            printf "bench-collect: %-18s %8s %14s %16s %16s %10s\n", "cycle", "wall s", "requests/BMC", "connections/BMC", "collector CPU s", "target"
            printf "bench-collect: %-18s %8.2f %14.1f %16.2f %16.2f %10s %s\n", "1 discovery", wall[1], rpb[1], cpb[1], cpu[1], "<= 15 s", wall[1] <= 15 ? "ok" : "MISSED"
            printf "bench-collect: %-18s %8.2f %14.1f %16.2f %16.2f %10s %s\n", "2 steady (polls)", wall[2], rpb[2], cpb[2], cpu[2], "<= 5 s", wall[2] <= 5 ? "ok" : "MISSED"
            printf "bench-collect: %-18s %8.2f %14.1f %16.2f %16.2f %10s %s\n", "3 steady (polls)", wall[3], rpb[3], cpb[3], cpu[3], "<= 5 s", wall[3] <= 5 ? "ok" : "MISSED"
            printf "bench-collect: peak RSS of the collector %.1f MB (target <= 300 MB) %s\n", rss, rss <= 300 ? "ok" : "MISSED"
            naive = n * rpb[1] * 0.25
            printf "bench-collect: naive sequential discovery %d BMCs x %.1f requests x 250 ms = %.0f s (%.1f h)\n", n, rpb[1], naive, naive / 3600
        }' "$T/out"
    python3 -c "
import json; s = json.load(open('$T/state.json'))['nodes']
print('bench-collect: after cycle 3: nodes with a cap %d, with GPUs %d, with a country %d (of $N)' % (sum('cap_w' in v for v in s.values()), sum('gpus_healthy' in v for v in s.values()), sum('country' in v for v in s.values())))" 2>/dev/null
    # The farm's CPU seconds: it shares the cores with the collector.
    awk -v hz="$(getconf CLK_TCK)" '{ printf "bench-collect: the farm used %.1f s CPU (all cycles, and its set-up)\n", ($14 + $15) / hz }' "/proc/$TBPID/stat" 2>/dev/null
    kill "$TBPID"; wait "$TBPID" 2>/dev/null; TBPID=""
    tail -1 "$T/tb.log"
done
