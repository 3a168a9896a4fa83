#!/bin/sh
# tests/cli/serve-kubebind.sh — /k8s/bind creates the pod's Binding in a fake
# Kubernetes API server on loopback (tests/serve/k8s_bind.py): 201, 409, 500,
# 403, timeouts, TLS with --kube-ca, http only with --kube-insecure-http, the
# loop answering while a Binding POST is held.
. "$(dirname "$0")/lib.sh"
tp_plan 26
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs python3"
fi
export TP_BIN TP_PLAN  # common.py checks the plan too, where it does
python3 "$TP_SRC/tests/serve/k8s_bind.py" >"$TP_TMP/out" 2>&1
rc=$?
while IFS= read -r line; do
    case "$line" in
    "ok   "*) tp_ok "${line#ok   }" ;;
    "FAIL "*) tp_fail "${line#FAIL }" ;;
    "skip "*) tp_skip "k8s_bind" "${line#skip }" ;;
    *) echo "$line" ;;
    esac
done <"$TP_TMP/out"
[ $rc -eq 0 ] || [ "$TP_F" -gt 0 ] || tp_fail "k8s_bind.py exited $rc"
tp_done
