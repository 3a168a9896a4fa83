#!/bin/sh
# tests/cli/serve-ha-watch.sh — the follower feed is a watch: a follower with a
# 20 s --poll-ms serves a leader's commits within 2 s; the stream breaks and
# resumes; a new leader catches up with a read (tests/serve/ha_watch.py);
# skipped visibly without etcd.
. "$(dirname "$0")/lib.sh"
tp_plan 11
if ! command -v python3 >/dev/null 2>&1; then
    tp_skip_rest "needs python3"
fi
if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
    tp_skip_rest "no etcd binary (tools/deps.sh installs etcd-server)"
fi
export TP_BIN TP_PLAN
exec python3 "$TP_SRC/tests/serve/ha_watch.py"
