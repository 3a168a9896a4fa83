#!/bin/sh
# tests/cli/serve-ha-collect.sh — shared collection: three replicas on a real
# 3-member etcd cluster split the test bed's BMCs; kill -9 one, its BMCs move
# (tests/serve/ha_collect.py); skipped visibly without etcd or the test bed.
. "$(dirname "$0")/lib.sh"
tp_plan 15
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs python3"
fi
if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
    tp_skip_rest "no etcd binary (tools/deps.sh installs etcd-server)"
fi
[ -x "$(dirname "$TP_BIN")/tp-testbed" ] || tp_skip_rest "no tp-testbed (make tests builds it)"
export TP_BIN TP_PLAN
exec python3 "$TP_SRC/tests/serve/ha_collect.py" "${TP_HA_COLLECT_NODES:-24}"
