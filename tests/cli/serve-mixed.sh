#!/bin/sh
# tests/cli/serve-mixed.sh — mixed batches of placements and releases with
# gangs, power events, a SIGHUP reload and Idempotency-Key replays, under the
# service's self-check; then kill -9 right after power events' answers: the
# audit log holds every journal row (tests/serve/mixed.py).
. "$(dirname "$0")/lib.sh"
tp_plan 10
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs python3"
fi
export TP_BIN TP_PLAN
exec python3 "$TP_SRC/tests/serve/mixed.py"
