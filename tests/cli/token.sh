#!/bin/sh
# tests/cli/token.sh — `trustplace token add|list|remove`: the secret is printed
# once and only its SHA-256 is stored (mode 0600, atomic replace); list shows no
# secret; bad input exits 2 and leaves the file unchanged.
# tp: parallel (tests/run.sh: no server, no check that depends on timing)
. "$(dirname "$0")/lib.sh"
tp_plan 20
F="$TP_TMP/tokens.json"

if tp_run "add creates the file" 0 "$TP_BIN" token add --tokens "$F" --name argo --role orchestrator; then
    S1=$OUT
    case $S1 in
    tp_???????????????????????????????????????????) tp_ok "add creates the file" ;;
    *) tp_fail "add creates the file" "secret '$S1'" ;;
    esac
fi
mode=$(stat -c %a "$F" 2>/dev/null)
[ "$mode" = 600 ] && tp_ok "mode 0600" || tp_fail "mode 0600" "mode $mode"
digest=$(printf '%s' "$S1" | sha256sum | cut -d' ' -f1)
if grep -q "\"sha256\": \"$digest\"" "$F" && ! grep -q "${S1#tp_}" "$F"; then
    tp_ok "stores the SHA-256, not the secret"
else
    tp_fail "stores the SHA-256, not the secret" "$(cat "$F")"
fi
case $ERR in *'"argo" (orchestrator)'*) tp_ok "add says what it did" ;; *) tp_fail "add says what it did" "$ERR" ;; esac
case $ERR in *"$S1"*) tp_fail "secret not on stderr" "$ERR" ;; *) tp_ok "secret not on stderr" ;; esac

S2=
tp_run "add a second" 0 "$TP_BIN" token add --tokens "$F" --name grafana --role viewer && S2=$OUT
[ -n "$S2" ] && [ "$S2" != "$S1" ] && tp_ok "add a second" || tp_fail "add a second" "'$S2'"
if tp_run "list" 0 "$TP_BIN" token list --tokens "$F"; then
    want=$(printf 'argo\torchestrator\ngrafana\tviewer')
    if [ "$OUT" = "$want" ]; then
        case $OUT in *"${S1#tp_}"* | *"${S2#tp_}"* | *"$digest"*) tp_fail "list" "secret shown: $OUT" ;;
        *) tp_ok "list" ;; esac
    else
        tp_fail "list" "$OUT"
    fi
fi

# Re-adding a name rotates its secret and may change its role.
if tp_run "rotate" 0 "$TP_BIN" token add --tokens "$F" --name argo --role planner; then
    if [ "$OUT" != "$S1" ] && ! grep -q "$digest" "$F" &&
        [ "$("$TP_BIN" token list --tokens "$F" | head -1)" = "$(printf 'argo\tplanner')" ]; then
        tp_ok "rotate"
    else
        tp_fail "rotate" "$(cat "$F")"
    fi
fi

cp "$F" "$TP_TMP/before.json"
tp_run "bad role" 2 "$TP_BIN" token add --tokens "$F" --name x --role admin &&
    case $ERR in *'--role: expected orchestrator, planner or viewer, got "admin"'*) tp_ok "bad role" ;;
    *) tp_fail "bad role" "$ERR" ;; esac
tp_run "bad name" 2 "$TP_BIN" token add --tokens "$F" --name 'a b' --role viewer &&
    case $ERR in *"token name: expected 1..64 characters"*) tp_ok "bad name" ;; *) tp_fail "bad name" "$ERR" ;; esac
tp_run "missing --role" 2 "$TP_BIN" token add --tokens "$F" --name x && tp_ok "missing --role"
tp_run "missing --tokens" 2 "$TP_BIN" token list && tp_ok "missing --tokens"
tp_run "unknown verb" 2 "$TP_BIN" token show --tokens "$F" && tp_ok "unknown verb"
cmp -s "$F" "$TP_TMP/before.json" && tp_ok "bad input leaves the file unchanged" ||
    tp_fail "bad input leaves the file unchanged"

# A broken file is reported with its position and never overwritten.
printf '{"version": 1, "tokens": [\n {"name": "a", "role": "viewer", "sha256": "00", "x": 1}]}\n' >"$TP_TMP/bad.json"
cp "$TP_TMP/bad.json" "$TP_TMP/bad.orig"
tp_run "broken file" 2 "$TP_BIN" token add --tokens "$TP_TMP/bad.json" --name b --role viewer &&
    case $ERR in *'bad.json: $.tokens[0].x: unknown key'*) tp_ok "broken file" ;; *) tp_fail "broken file" "$ERR" ;; esac
cmp -s "$TP_TMP/bad.json" "$TP_TMP/bad.orig" && tp_ok "broken file untouched" || tp_fail "broken file untouched"
tp_run "list of a missing file" 2 "$TP_BIN" token list --tokens "$TP_TMP/none.json" && tp_ok "list of a missing file"

if tp_run "remove" 0 "$TP_BIN" token remove --tokens "$F" --name grafana; then
    [ "$("$TP_BIN" token list --tokens "$F")" = "$(printf 'argo\tplanner')" ] && tp_ok "remove" ||
        tp_fail "remove" "$("$TP_BIN" token list --tokens "$F")"
fi
tp_run "remove unknown" 1 "$TP_BIN" token remove --tokens "$F" --name grafana &&
    case $ERR in *'no token named "grafana"'*) tp_ok "remove unknown" ;; *) tp_fail "remove unknown" "$ERR" ;; esac
ls "$TP_TMP" | grep -q '\.tmp\.' && tp_fail "no temporary files left" "$(ls "$TP_TMP")" || tp_ok "no temporary files left"
tp_done
