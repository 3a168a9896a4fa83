#!/bin/sh
# tests/cli/serve-crash.sh — kill -9 `trustplace serve` 20 times under steady
# POST and DELETE load; every acknowledged placement survives exactly once, every
# acknowledged release stays released
# (tests/serve/crash.py).
. "$(dirname "$0")/lib.sh"
tp_plan 9
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs python3"
fi
export TP_BIN TP_PLAN
exec python3 "$TP_SRC/tests/serve/crash.py" "${TP_CRASH_ROUNDS:-20}"
