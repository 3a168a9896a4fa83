#!/bin/sh
# tests/cli/bench.sh — `trustplace bench` on the tiny shape: the report table,
# unmeasured energy with --meter none, the --out profile file (through the stub
# NVML the test build makes), a checkpoint directory round trip, and usage
# errors (exit 2) and an unavailable CUDA backend (exit 1).
. "$(dirname "$0")/lib.sh"
C="$TP_TMP/cache"
STUB="$(dirname "$TP_BIN")/libnvidia-ml-stub.so"
tp_plan 20

t="bench tiny, batch 1,2, no meter"
if tp_run "$t" 0 "$TP_BIN" bench --shape tiny --batch 1,2 --gen 4 --meter none --cache "$C"; then
    echo "$OUT" | grep -q "^model    tiny: 2 layers, hidden 64, 4/2 heads, vocab 251, BF16" &&
        echo "$OUT" | grep -q "^backend  cpu (" &&
        echo "$OUT" | grep -q "^meter    none: energy unmeasured" &&
        echo "$OUT" | grep -q "^copy     [0-9.]* GB/s measured" &&
        echo "$OUT" | grep -Eq "^    1     16     4 +[0-9.]+ +[0-9.]+ +[0-9.]+ +unmeasured +unmeasured +unmeasured" &&
        echo "$OUT" | grep -Eq "^    2     16     4 " &&
        echo "$OUT" | grep -q "^roofline batch 1: <= " &&
        echo "$OUT" | grep -q "^energy   unmeasured (no meter): tokens/s only" &&
        [ -f "$C/tiny-BF16-seed1/config.json" ] && [ -f "$C/tiny-BF16-seed1/model.safetensors" ] &&
        tp_ok "$t" || tp_fail "$t" "$OUT"
fi

t="--out with the stub NVML (100 W) writes one profile entry with exactly the fleet keys, 100 W within 3%"
if [ ! -f "$STUB" ]; then
    tp_fail "$t" "$STUB missing"
elif TP_NVML_LIB="$STUB" tp_run "$t" 0 "$TP_BIN" bench --shape tiny --batch 1,2 --gen 4 \
    --meter nvml --cache "$C" --no-copy-bandwidth --out "$TP_TMP/p.json" \
    --report "$TP_TMP/r.json" --gpu-model H100-SXM --model-name tiny-test; then
    if [ "$(jq -c 'map(keys)' "$TP_TMP/p.json")" = '[["gpu_model","model","tokens_per_s","watts"]]' ] &&
        [ "$(jq -r '.[0].model + " " + .[0].gpu_model' "$TP_TMP/p.json")" = "tiny-test H100-SXM" ] &&
        jq -e '.[0].tokens_per_s > 0 and .[0].watts > 97 and .[0].watts < 103' "$TP_TMP/p.json" >/dev/null &&
        jq -e '(.runs | length) == 2 and .runs[0].energy_measured and (.meter | test("Stub GPU"))' \
            "$TP_TMP/r.json" >/dev/null &&
        echo "$OUT" | grep -q "^meter    nvml: GPU 0 (Stub GPU), total-energy counter" &&
        echo "$OUT" | grep -q "^profile  $TP_TMP/p.json: batch "; then
        tp_ok "$t"
    else
        tp_fail "$t" "$OUT
$(cat "$TP_TMP/p.json" "$TP_TMP/r.json")"
    fi
fi

t="--write-checkpoint then --model loads it, f32"
if tp_run "$t" 0 "$TP_BIN" bench --shape tiny --dtype f32 --write-checkpoint "$TP_TMP/ck" &&
    tp_run "$t" 0 "$TP_BIN" bench --model "$TP_TMP/ck" --meter none --gen 2 --no-copy-bandwidth \
        --temperature 0.8 --threads 1; then
    echo "$OUT" | grep -q "^model    ck: .*F32" && tp_ok "$t" || tp_fail "$t" "$OUT"
fi

t="a broken checkpoint is bad input"
mkdir -p "$TP_TMP/broken" && cp "$TP_TMP/ck/config.json" "$TP_TMP/broken/" &&
    printf '\020\000\000\000\000\000\000\000{"a":1}' >"$TP_TMP/broken/model.safetensors"
tp_run "$t" 2 "$TP_BIN" bench --model "$TP_TMP/broken" --meter none &&
    case $ERR in *"model.safetensors: header of 16 bytes runs past the end"*) tp_ok "$t" ;;
    *) tp_fail "$t" "$ERR" ;; esac

t="--out with --meter none is a usage error"
tp_run "$t" 2 "$TP_BIN" bench --shape tiny --meter none --out "$TP_TMP/x.json" &&
    case $ERR in *"--meter none cannot give"*) tp_ok "$t" ;; *) tp_fail "$t" "$ERR" ;; esac

t="the CUDA backend without a GPU fails cleanly"
if tp_run "$t" 1 "$TP_BIN" bench --shape tiny --backend cuda --meter none --cache "$C"; then
    case $ERR in *"cuda: no usable GPU"* | *"CUDA backend is not built"*) tp_ok "$t" ;;
    *) tp_fail "$t" "$ERR" ;; esac
fi

for args in "--batch 0" "--batch 1,,2" "--batch x" "--gen 0" "--prompt -3" "--backend tpu" \
    "--meter joulemeter" "--shape llama-70b" "--frobnicate" "--model a --shape tiny" \
    "--dtype int4" "--profile-batch 3 --batch 1,2" "stray"; do
    t="usage: bench $args"
    # shellcheck disable=SC2086
    tp_run "$t" 2 "$TP_BIN" bench $args --cache "$C" &&
        { [ -n "$ERR" ] && tp_ok "$t" || tp_fail "$t" "exit 2 without a message"; }
done

t="bench --help"
tp_run "$t" 0 "$TP_BIN" bench --help &&
    case $OUT in *"--meter auto|nvml|rapl|redfish|none"*) tp_ok "$t" ;; *) tp_fail "$t" "$OUT" ;; esac

tp_done
