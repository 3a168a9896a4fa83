#!/bin/sh
# tests/cli/serve-observe.sh — issue 15 against the real binary: audit log
# (signed, tamper-evident, recovered after kill -9), /v1/kpis on a fixed
# scenario, /metrics through promtool, the dashboard in headless Chromium
# (tests/serve/observe.py; the screenshot lands in BUILD/artifacts/).
. "$(dirname "$0")/lib.sh"
tp_plan 51
if ! command -v python3 >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
    tp_skip_rest "needs python3 and openssl"
fi
export TP_BIN TP_PLAN
exec python3 "$TP_SRC/tests/serve/observe.py"
