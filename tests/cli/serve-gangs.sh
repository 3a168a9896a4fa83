#!/bin/sh
# tests/cli/serve-gangs.sh — gangs through `trustplace serve`: placed whole in
# one decision with their members, found by any member node, idempotent,
# stopped whole by a cap drop on their rack,
# released whole, restored whole after kill -9, never seen or journaled in part
# (tests/serve/gangs.py).
. "$(dirname "$0")/lib.sh"
tp_plan 9
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs python3"
fi
export TP_BIN TP_PLAN
exec python3 "$TP_SRC/tests/serve/gangs.py"
