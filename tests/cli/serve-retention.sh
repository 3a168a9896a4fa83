#!/bin/sh
# tests/cli/serve-retention.sh — idempotency keys and released placements are
# forgotten after their retention, never within it, also across kill -9
# (tests/serve/retention.py).
. "$(dirname "$0")/lib.sh"
tp_plan 16
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs python3"
fi
export TP_BIN TP_PLAN
exec python3 "$TP_SRC/tests/serve/retention.py"
