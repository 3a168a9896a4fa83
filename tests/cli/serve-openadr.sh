#!/bin/sh
# tests/cli/serve-openadr.sh — `serve --openadr` against a loopback OpenADR 3
# VTN emulator: capacity limits become power events, idempotently, and bad
# documents change nothing (tests/serve/openadr.py, tests/serve/vtn.py).
. "$(dirname "$0")/lib.sh"
tp_plan 27
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs python3"
fi
export TP_BIN TP_PLAN
exec python3 "$TP_SRC/tests/serve/openadr.py"
