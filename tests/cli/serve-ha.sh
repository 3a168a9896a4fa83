#!/bin/sh
# tests/cli/serve-ha.sh — three replicas on a real 3-member etcd cluster: kill -9
# the leader under POST load (tests/serve/ha.py); skipped visibly without etcd.
. "$(dirname "$0")/lib.sh"
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip serve-ha "needs python3"
    tp_done
    exit $?
fi
export TP_BIN
exec python3 "$TP_SRC/tests/serve/ha.py" "${TP_HA_ROUNDS:-10}" "${TP_HA_ETCD_ROUNDS:-3}"
