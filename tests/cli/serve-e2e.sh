#!/bin/sh
# tests/cli/serve-e2e.sh — attestation expiry and a cap drop mid-run under load:
# no answer breaks either (tests/serve/e2e.py).
. "$(dirname "$0")/lib.sh"
tp_plan 8
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs python3"
fi
export TP_BIN TP_PLAN
exec python3 "$TP_SRC/tests/serve/e2e.py"
