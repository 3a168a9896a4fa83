#!/bin/sh
# tests/cli/serve-batch.sh — releases share batches with placements: racing
# requests for one workload get answers some order of them gives, and the
# journal agrees (tests/serve/batch.py).
. "$(dirname "$0")/lib.sh"
tp_plan 10
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs python3"
fi
export TP_BIN TP_PLAN
exec python3 "$TP_SRC/tests/serve/batch.py"
