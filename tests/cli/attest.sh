#!/bin/sh
# tests/cli/attest.sh — `trustplace attest verify` on every token of
# ../shared/fixtures/attestation/veraison-ear with the MANIFEST's outcome, plus
# the exit statuses for unusable input.
# tp: parallel (tests/run.sh: no server, no check that depends on timing)
. "$(dirname "$0")/lib.sh"
D="${TP_SHARED:-$TP_SRC/../shared}/fixtures/attestation/veraison-ear"
ntok=$(ls "$D"/tokens/*.jwt 2>/dev/null | wc -l)
tp_plan $((ntok + 10))
[ -f "$D/MANIFEST.json" ] || tp_skip_rest "no $D (../shared absent)"
NOW=1666091400
for t in "$D"/tokens/*.jwt; do
    name=$(basename "$t")
    expect=$(jq -r --arg f "tokens/$name" '.tokens[] | select(.file == $f) | .expect' "$D/MANIFEST.json")
    case $expect in accept*) want=0 ;; *reject*) want=1 ;; *)
        tp_fail "$name" "MANIFEST.json: no expectation for tokens/$name"; continue ;; esac
    if tp_run "$name" "$want" "$TP_BIN" attest verify --jwks "$D/keys/pkey.json" --bind none --now "$NOW" "$t"; then
        if [ "$want" = 0 ]; then
            case $OUT in *'"status": "affirming"'*'"issued_at": 1666091373'*) tp_ok "$name" ;;
            *) tp_fail "$name" "$OUT" ;; esac
        else
            case $ERR in *"rejected: "*) tp_ok "$name" ;; *) tp_fail "$name" "$ERR" ;; esac
        fi
    fi
done
if tp_run "expired with today's clock" 1 "$TP_BIN" attest verify --jwks "$D/keys/pkey.json" \
    "$D/tokens/pos-tv-ok.es256.jwt"; then
    case $ERR in *expired*) tp_ok "expired with today's clock" ;; *) tp_fail "expired with today's clock" "$ERR" ;; esac
fi
tp_run "alg allow-list" 1 "$TP_BIN" attest verify --jwks "$D/keys/pkey.json" --now $NOW --alg ES384 \
    "$D/tokens/pos-tv-ok.es256.jwt" && tp_ok "alg allow-list"
tp_run "test keys denied" 1 "$TP_BIN" attest verify --jwks "$D/keys/pkey.json" --now $NOW --deny-test-keys \
    "$D/tokens/pos-tv-ok.es256.jwt" && tp_ok "test keys denied"
printf '{"token": "%s"}' "$(cat "$D/tokens/pos-tv-ok.es256.jwt")" >"$TP_TMP/wrapped.json"
tp_run "JSON carrying a token" 0 "$TP_BIN" attest verify --jwks "$D/keys/pkey.json" --now $NOW --bind none \
    "$TP_TMP/wrapped.json" && tp_ok "JSON carrying a token"
tp_run "stdin" 0 sh -c "cat '$D/tokens/pos-tv-ok.es256.jwt' | '$TP_BIN' attest verify --jwks '$D/keys/pkey.json' --bind none --now $NOW -" && tp_ok "stdin"
# A result that names no node is status none, never affirming.
if tp_run "unbound result is none" 0 "$TP_BIN" attest verify --jwks "$D/keys/pkey.json" --now $NOW \
    --node n1 "$D/tokens/pos-tv-ok.es256.jwt"; then
    case $OUT$ERR in *'"status": "none"'*'names no node'*) tp_ok "unbound result is none" ;;
    *) tp_fail "unbound result is none" "$OUT$ERR" ;; esac
fi
echo "not a token" >"$TP_TMP/junk"
tp_run "unusable input" 2 "$TP_BIN" attest verify --jwks "$D/keys/pkey.json" "$TP_TMP/junk" && tp_ok "unusable input"
tp_run "missing file" 2 "$TP_BIN" attest verify --jwks "$D/keys/pkey.json" "$TP_TMP/nope" && tp_ok "missing file"
tp_run "bad JWKS" 2 "$TP_BIN" attest verify --jwks "$TP_TMP/junk" "$D/tokens/pos-tv-ok.es256.jwt" && tp_ok "bad JWKS"
tp_run "usage" 2 "$TP_BIN" attest && tp_ok "usage"
tp_done
