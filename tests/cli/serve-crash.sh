#!/bin/sh
# tests/cli/serve-crash.sh — kill -9 `trustplace serve` 20 times under steady
# POST load; every acknowledged placement survives exactly once
# (tests/serve/crash.py).
. "$(dirname "$0")/lib.sh"
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip serve-crash "needs python3"
    tp_done
    exit $?
fi
export TP_BIN
exec python3 "$TP_SRC/tests/serve/crash.py" "${TP_CRASH_ROUNDS:-20}"
