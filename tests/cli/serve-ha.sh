#!/bin/sh
# tests/cli/serve-ha.sh — three replicas on a real 3-member etcd cluster: kill -9
# the leader under POST load (tests/serve/ha.py); skipped visibly without etcd.
. "$(dirname "$0")/lib.sh"
# The plan holds for the default rounds (TP_HA_ROUNDS=10, TP_HA_ETCD_ROUNDS=3).
tp_plan 18
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs python3"
fi
if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
    tp_skip_rest "no etcd binary (tools/deps.sh installs etcd-server)"
fi
export TP_BIN TP_PLAN
exec python3 "$TP_SRC/tests/serve/ha.py" "${TP_HA_ROUNDS:-10}" "${TP_HA_ETCD_ROUNDS:-3}"
