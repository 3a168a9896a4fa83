#!/bin/sh
# tests/cli/openapi.sh — docs/openapi.yaml is valid OpenAPI 3.1 with no warning
# under Redocly CLI's recommended rules, and names every route the service has.
# tp: parallel (tests/run.sh: no server, no check that depends on timing)
. "$(dirname "$0")/lib.sh"
tp_plan 2
R="$TP_SRC/build/npm/node_modules/.bin/redocly"
if [ ! -x "$R" ]; then
    if command -v npm >/dev/null 2>&1; then
        tp_fail "openapi lint" "npm is present but $R is not: make tests installs it"
    else
        tp_skip_rest "no npm (the build installs @redocly/cli with it)"
    fi
    tp_skip_rest "no linter"
fi
if tp_run "redocly lint docs/openapi.yaml" 0 env NO_COLOR=1 REDOCLY_TELEMETRY=off \
    REDOCLY_SUPPRESS_UPDATE_NOTICE=true "$R" lint "$TP_SRC/docs/openapi.yaml"; then
    case "$OUT$ERR" in
    *"valid"*) case "$OUT$ERR" in *"You have "*warning*) tp_fail "no lint warnings" "$OUT$ERR" ;; *) tp_ok "redocly lint: valid, no warnings" ;; esac ;;
    *) tp_fail "redocly lint docs/openapi.yaml" "$OUT$ERR" ;;
    esac
fi
# every route api.c serves is documented
missing=""
for r in $(grep -o '"/[a-z0-9/:._]*"' "$TP_SRC/scheduler/api.c" | tr -d '"' | sort -u); do
    case $r in */) r="$r{" ;; esac
    grep -q "^  ${r%\{}" "$TP_SRC/docs/openapi.yaml" || missing="$missing $r"
done
if [ -z "$missing" ]; then tp_ok "every route is in docs/openapi.yaml"; else tp_fail "every route is in docs/openapi.yaml" "$missing"; fi
tp_done
