#!/bin/sh
# tests/cli/collect-hardening.sh — `trustplace collect` against tp-testbed where
# the inputs try to leak credentials or mislead the logs: a BMC whose session
# Location names another BMC's origin (spelled to pass a prefix check) must not
# get that token sent there; a proxy from the environment is never used; BMC
# credentials over http:// are warned about loudly at every start; curl errors
# in log lines carry no stray status digit; a symlink planted at the old
# predictable STATE.tmp is not followed. Then `attest verify` bounds --now and
# --max-age (no signed overflow).
. "$(dirname "$0")/lib.sh"
TB="$(dirname "$TP_BIN")/tp-testbed"
tp_plan 12
[ -x "$TB" ] || tp_skip_rest "no $TB (make tests builds it)"
trap 'tp_tb_stop; rm -rf "$TP_TMP"' EXIT

"$TP_BIN" gen-fleet --nodes 4 --seed 5 --out "$TP_TMP/fleet.json" >/dev/null 2>&1
first=$(jq -r '.nodes[0].id' "$TP_TMP/fleet.json")
if ! tp_tb_start "$TP_TMP/fleet.json" --auth --fault "$first=xorigin" \
    --collect-timeout-ms 1000 --retries 0 --duration 60; then
    tp_fail "testbed starts" "$(cat "$TP_TMP/tb.log")"
    tp_done
    exit 1
fi

# A proxy in the environment that nothing answers: with it, no BMC would answer.
t="the environment's proxy is not used"
if tp_run "$t" 0 env -u no_proxy -u NO_PROXY http_proxy=http://127.0.0.1:9 \
    HTTPS_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9 \
    "$TP_BIN" collect --config "$TP_TMP/tb.json" --once --out "$TP_TMP/state.json"; then
    if jq -e '.nodes | length == 4 and all(.[]; has("cap_w"))' "$TP_TMP/state.json" >/dev/null; then
        tp_ok "$t"
    else tp_fail "$t" "$ERR"; fi
fi
t="http:// BMC credentials are warned about"
case $ERR in *"CREDENTIALS GO IN CLEAR TEXT to BMC http://127.0.0.1:"*) tp_ok "$t" ;;
*) tp_fail "$t" "$ERR" ;; esac
t="a session Location on another origin is refused"
case $ERR in *"session Location is on another origin"*) tp_ok "$t" ;; *) tp_fail "$t" "$ERR" ;; esac

# The planted symlink at the old temporary name: neither followed nor replaced.
echo precious >"$TP_TMP/victim"
ln -s "$TP_TMP/victim" "$TP_TMP/state2.json.tmp"
t="collect --out does not follow STATE.tmp"
if tp_run "$t" 0 "$TP_BIN" collect --config "$TP_TMP/tb.json" --once -q \
    --out "$TP_TMP/state2.json" --telemetry-out "$TP_TMP/tel.json"; then
    if [ "$(cat "$TP_TMP/victim")" = precious ] && [ -L "$TP_TMP/state2.json.tmp" ] &&
        grep -q '"nodes"' "$TP_TMP/state2.json" &&
        [ -z "$(find "$TP_TMP" -name '.state2.json.*')" ]; then
        tp_ok "$t"
    else
        tp_fail "$t" "victim: $(cat "$TP_TMP/victim")"
    fi
fi
ln -s "$TP_TMP/victim" "$TP_TMP/fleet2.json.tmp"
t="gen-fleet --out does not follow OUT.tmp"
if tp_run "$t" 0 "$TP_BIN" gen-fleet --nodes 2 --out "$TP_TMP/fleet2.json"; then
    if [ "$(cat "$TP_TMP/victim")" = precious ] && grep -q '"nodes"' "$TP_TMP/fleet2.json"; then
        tp_ok "$t"
    else
        tp_fail "$t" "victim: $(cat "$TP_TMP/victim")"
    fi
fi

# The verifier on a port where nothing listens: the curl error, no status digit.
jq '.collectors.verifiers |= map_values(.url |= sub("127\\.0\\.0\\.1:[0-9]+"; "127.0.0.1:9"))' \
    "$TP_TMP/tb.json" >"$TP_TMP/noverifier.json"
t="curl errors in log lines carry no stray 0"
if tp_run "$t" 0 "$TP_BIN" collect --config "$TP_TMP/noverifier.json" --once --out "$TP_TMP/s3.json"; then
    case $ERR in
    *"server0)"* | *"reached0)"*) tp_fail "$t" "$ERR" ;;
    *"verifier unreachable (Couldn't connect to server)"*) tp_ok "$t" ;;
    *) tp_fail "$t" "$ERR" ;;
    esac
fi

tp_tb_stop
# The token of the BMC with the foreign Location never reached the next BMC.
t="no token reaches another origin"
foreign=$(sed -n 's/.* \([0-9]*\) foreign tokens.*/\1/p' "$TP_TMP/tb.log")
logins=$(sed -n 's/.* \([0-9]*\) logins,.*/\1/p' "$TP_TMP/tb.log")
if [ "${foreign:-x}" = 0 ] && [ "${logins:-0}" -ge 4 ]; then tp_ok "$t"; else
    tp_fail "$t" "$(cat "$TP_TMP/tb.log")"
fi

# Origins shared by two nodes with different insecure flags: a config error.
jq '.nodes[0].bmc.insecure = true | .nodes[1].bmc.url = .nodes[0].bmc.url + "/redfish/v1"' \
    "$TP_TMP/tb.json" >"$TP_TMP/shared.json"
t="one origin, two insecure settings"
if tp_run "$t" 2 "$TP_BIN" collect --config "$TP_TMP/shared.json" --once; then
    case $ERR in *'$.nodes[1].bmc.insecure: conflicts with $.nodes[0].bmc.insecure'*) tp_ok "$t" ;;
    *) tp_fail "$t" "$ERR" ;; esac
fi

# attest verify: --now and --max-age beyond any real clock are usage errors.
D="${TP_SHARED:-$TP_SRC/../shared}/fixtures/attestation/veraison-ear"
if [ -f "$D/keys/pkey.json" ]; then
    for opt in "--now 9223372036854775807" "--now 1099511627777" \
        "--max-age 9223372036854775807" "--max-age 31622401"; do
        t="attest verify $opt"
        # shellcheck disable=SC2086
        if tp_run "$t" 2 "$TP_BIN" attest verify --jwks "$D/keys/pkey.json" $opt \
            "$D/tokens/pos-tv-ok.es256.jwt"; then
            case $ERR in *"${opt%% *} wants"*) tp_ok "$t" ;; *) tp_fail "$t" "$ERR" ;; esac
        fi
    done
else
    for i in 1 2 3 4; do tp_skip "attest verify bounds $i" "no $D (../shared absent)"; done
fi
tp_done
