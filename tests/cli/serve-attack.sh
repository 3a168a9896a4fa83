#!/bin/sh
# tests/cli/serve-attack.sh — the service under attack: hostile bytes in paths
# and ids, profiles out of the fleet's range, and a randomized never-widening
# check of every answer and of running work across expiry and a restart
# (tests/serve/attack.py).
. "$(dirname "$0")/lib.sh"
tp_plan 20
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs python3"
fi
export TP_BIN TP_PLAN
exec python3 "$TP_SRC/tests/serve/attack.py"
