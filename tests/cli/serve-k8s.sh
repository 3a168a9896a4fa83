#!/bin/sh
# tests/cli/serve-k8s.sh — bearer tokens (401/403 per role) and the Kubernetes
# extender fixtures over HTTP (tests/serve/k8s_auth.py).
. "$(dirname "$0")/lib.sh"
tp_plan 34
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs python3"
fi
export TP_BIN TP_PLAN
exec python3 "$TP_SRC/tests/serve/k8s_auth.py"
