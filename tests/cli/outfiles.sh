#!/bin/sh
# tests/cli/outfiles.sh — files the CLI writes (sim results, a synthetic
# checkpoint) go through a mkstemp() temporary beside them: a symlink planted at
# the old predictable NAME.tmp is neither followed nor replaced, and no
# temporary is left behind.
# tp: parallel (tests/run.sh: no server, no check that depends on timing)
. "$(dirname "$0")/lib.sh"
tp_plan 2
T="$TP_TMP"
echo precious >"$T/victim"

cat >"$T/s.json" <<JSON
{"version": 1, "name": "outfiles", "fleet": "$TP_SRC/config/demo-fleet.json",
 "duration_s": 1200, "tick_s": 60, "sample_s": 600, "seed": 5,
 "sources": [{"type": "list", "jobs": [{"id": "a", "at_s": 0, "gpus": 1, "duration_s": 300, "sensitivity": "public"}]}]}
JSON
mkdir -p "$T/simout"
for f in summary.json timeseries.csv report.html; do ln -s "$T/victim" "$T/simout/$f.tmp"; done
t="sim --out does not follow DIR/NAME.tmp"
if tp_run "$t" 0 "$TP_BIN" sim "$T/s.json" --out "$T/simout" --quiet; then
    if [ "$(cat "$T/victim")" = precious ] && [ -L "$T/simout/summary.json.tmp" ] &&
        [ -s "$T/simout/summary.json" ] && [ ! -L "$T/simout/summary.json" ] &&
        [ -z "$(find "$T/simout" -name '.*.??????')" ]; then
        tp_ok "$t"
    else tp_fail "$t" "victim: $(cat "$T/victim"); $(ls -la "$T/simout")"; fi
fi

mkdir -p "$T/ck"
ln -s "$T/victim" "$T/ck/model.safetensors.tmp"
t="bench --write-checkpoint does not follow model.safetensors.tmp"
if tp_run "$t" 0 "$TP_BIN" bench --shape tiny --dtype f32 --write-checkpoint "$T/ck"; then
    if [ "$(cat "$T/victim")" = precious ] && [ -s "$T/ck/model.safetensors" ] &&
        [ ! -L "$T/ck/model.safetensors" ] && [ -z "$(find "$T/ck" -name '.*.??????')" ]; then
        tp_ok "$t"
    else tp_fail "$t" "victim: $(cat "$T/victim"); $(ls -la "$T/ck")"; fi
fi
tp_done
