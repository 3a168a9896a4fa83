#!/bin/sh
# tests/cli/corpus.sh — every broken input in tests/corpus/ gives exit 2 and its
# precise error (file:line:col or JSON path, and what was expected), and nothing
# else: no crash, no sanitizer report, no leak (the ASan build exits non-zero on
# a leak, so "exit 2 exactly" also proves there is none).
# tp: parallel (tests/run.sh: no server, no check that depends on timing)
. "$(dirname "$0")/lib.sh"
C="$TP_SRC/tests/corpus"
base="$C/base-fleet.json"
# One check per MANIFEST entry, plus four.
tp_plan $(($(grep -cvE '^(#|$)' "$C/MANIFEST") + 4))

if tp_run "corpus: base fleet is valid" 0 "$TP_BIN" check-config "$base"; then
    tp_ok "corpus: base fleet is valid"
fi

while IFS="$(printf '\t')" read -r role file expect; do
    case $role in '#'* | '') continue ;; esac
    case $role in
    fleet) set -- check-config "$C/$file" ;;
    state) set -- check-config "$base" --state "$C/$file" ;;
    workloads) set -- check-config "$base" --workloads "$C/$file" ;;
    running) set -- check-config "$base" --running "$C/$file" ;;
    both) set -- check-config "$base" --workloads "$C/both-pending.json" \
        --running "$C/both-running.json" ;;
    esac
    name="corpus: $file"
    tp_run "$name" 2 "$TP_BIN" "$@" || continue
    case $ERR in
    *"$expect"*) ;;
    *) tp_fail "$name" "stderr lacks: $expect
got: $ERR"; continue ;;
    esac
    if [ -n "$OUT" ]; then
        tp_fail "$name" "printed to stdout on bad input: $OUT"
        continue
    fi
    tp_ok "$name"
done <"$C/MANIFEST"

# Syntax errors carry line and column.
if tp_run "corpus: truncated file names line:col" 2 "$TP_BIN" check-config "$C/fleet-truncated.json"; then
    if echo "$ERR" | grep -Eq 'fleet-truncated\.json:[0-9]+:[0-9]+: '; then
        tp_ok "corpus: truncated file names line:col"
    else
        tp_fail "corpus: truncated file names line:col" "$ERR"
    fi
fi
# A missing file is an input error too.
if tp_run "corpus: missing file" 2 "$TP_BIN" check-config "$TP_TMP/nope.json"; then
    case $ERR in *nope.json*) tp_ok "corpus: missing file" ;; *) tp_fail "corpus: missing file" "$ERR" ;; esac
fi
# The collectors section is validated as collect loads it; allowed but insecure
# settings are warned about.
t="corpus: collectors section summarised"
if tp_run "$t" 0 "$TP_BIN" check-config "$C/fleet-collectors-valid.json"; then
    case $OUT in
    *"2 verifiers"*"bind claim, nonce"*"keylime, bind url"*)
        case $ERR in *"verifier kl: plain http allowed"*) tp_ok "$t" ;; *) tp_fail "$t" "$ERR" ;; esac ;;
    *) tp_fail "$t" "$OUT" ;;
    esac
fi
tp_done
