#!/bin/sh
# sim/bench.sh TRUSTPLACE — `make bench-sim`: events per second and wall time of
#   1. the Azure LLM conv trace replayed 10x faster on a 1,000-node fleet (two
#      simulated hours, all four policies);
#   2. one simulated week, 1,000,000 requests, a 10,000-node fleet, trustplace.
# Pinned to two cores when taskset exists (the target is a 2-core machine). Needs
# ../shared (or TP_SHARED) for the traces.
set -eu
bin=${1:-build/trustplace}
here=$(cd "$(dirname "$0")/.." && pwd)
export TP_SHARED="${TP_SHARED:-$here/../shared}"
if [ ! -d "$TP_SHARED/traces/azure-llm" ]; then
    echo "bench-sim: $TP_SHARED/traces is absent (set TP_SHARED); skipped"
    exit 0
fi
pin=""
command -v taskset >/dev/null 2>&1 && pin="taskset -c 0,1"
out=${TP_BENCH_OUT:-build/bench-sim}
mkdir -p "$out"
for s in azure-conv-10x-1k week-1m-10k; do
    echo "== bench-sim: $s"
    start=$(date +%s.%N)
    $pin "$bin" sim "$here/config/scenarios/bench/$s.json" --out "$out/$s" 2>"$out.err" || {
        cat "$out.err"
        exit 1
    }
    end=$(date +%s.%N)
    grep 'events in' "$out.err" | sed 's/^trustplace sim: /   /'
    echo "   wall (whole process, incl. fleet generation and trace loading): $(awk "BEGIN { printf \"%.2f\", $end - $start }") s"
done
rm -f "$out.err"
