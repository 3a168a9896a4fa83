# tests/cli/lib.sh — sourced by the CLI test scripts. TP_BIN is the binary under
# test; tp_ok/tp_fail count; tp_done prints "N passed, N failed, N skipped".
# Every script declares its plan first, `tp_plan N` (the number of checks it
# records, as TAP does; a skip counts): tp_done fails the suite when fewer or
# more were recorded, so a check that silently records nothing is caught.
# Whoever adds a check bumps N.
set -u
: "${TP_BIN:?TP_BIN must name the trustplace binary}"
TP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
TP_P=0 TP_F=0 TP_S=0 TP_PLAN=""
TP_TMP=$(mktemp -d)
trap 'rm -rf "$TP_TMP"' EXIT
tp_plan() { TP_PLAN=$1; }
tp_ok() { TP_P=$((TP_P + 1)); echo "ok   $1"; }
tp_fail() { TP_F=$((TP_F + 1)); echo "FAIL $1"; [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/    /'; return 0; }
tp_skip() { TP_S=$((TP_S + 1)); echo "skip $1: $2"; }
# tp_skip_rest REASON — the suite cannot run at all (its data or program is
# absent): skips what is left of the plan, then ends the suite.
tp_skip_rest() {
    n=$((${TP_PLAN:-1} - TP_P - TP_F - TP_S))
    [ "$n" -gt 0 ] || n=1
    while [ "$n" -gt 0 ]; do tp_skip "$(basename "$0")" "$1"; n=$((n - 1)); done
    tp_done
    exit $?
}
tp_done() {
    ran=$((TP_P + TP_F + TP_S))
    if [ -z "$TP_PLAN" ]; then
        tp_fail "plan" "$(basename "$0") declares no plan (tp_plan N)"
    elif [ "$ran" -ne "$TP_PLAN" ]; then
        tp_fail "plan" "$(basename "$0") planned $TP_PLAN checks, $ran recorded a result"
    fi
    echo "$TP_P passed, $TP_F failed, $TP_S skipped"
    [ "$TP_F" -eq 0 ]
}
# tp_sanitized NAME FILE — fails NAME when FILE holds a sanitizer report.
tp_sanitized() {
    if grep -qE 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|SUMMARY: [A-Za-z]*Sanitizer|runtime error: ' "$2"; then
        tp_fail "$1" "sanitizer report: $(cat "$2")"
        return 0
    fi
    return 1
}
# tp_run NAME EXPECTED_RC CMD... — runs CMD, keeps stdout in $OUT and stderr in $ERR.
# Returns 1 (after recording a failure) when the exit status is not the one
# expected or when stderr holds a sanitizer report, whatever the status.
tp_run() {
    name=$1 want=$2; shift 2
    "$@" >"$TP_TMP/out" 2>"$TP_TMP/err"
    rc=$?
    OUT=$(cat "$TP_TMP/out") ERR=$(cat "$TP_TMP/err")
    if tp_sanitized "$name" "$TP_TMP/err"; then
        return 1
    fi
    if [ "$rc" -ne "$want" ]; then
        tp_fail "$name" "exit $rc, wanted $want; stderr: $ERR"
        return 1
    fi
    return 0
}
# tp_tb_start FLEET OPTION... — starts tp-testbed (beside $TP_BIN) in the background
# with --fleet-out $TP_TMP/tb.json, its log in $TP_TMP/tb.log, and waits up to 10 s
# for it to serve (status 1 if it does not); tp_tb_stop stops it by its pid.
TBPID=""
tp_tb_stop() { [ -n "$TBPID" ] && kill "$TBPID" 2>/dev/null && wait "$TBPID" 2>/dev/null; TBPID=""; }
tp_tb_start() {
    fleet=$1; shift
    rm -f "$TP_TMP/ready"
    "$(dirname "$TP_BIN")/tp-testbed" --fleet "$fleet" --fleet-out "$TP_TMP/tb.json" \
        --ready "$TP_TMP/ready" "$@" 2>"$TP_TMP/tb.log" &
    TBPID=$!
    i=0
    while [ ! -f "$TP_TMP/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    [ -f "$TP_TMP/ready" ]
}
# tp_serve_start DIR [serve option…] — starts `trustplace serve` on a free loopback
# port with DIR/fleet.json, DIR/state.json and the journal DIR/data, its log
# appended to DIR/serve.log; sets P (the port) and SPID; status 1 when no port
# was written within 10 s (at once when serve exits first: a refused start).
tp_serve_start() {
    sd=$1; shift
    rm -f "$sd/port"
    "$TP_BIN" serve --config "$sd/fleet.json" --state "$sd/state.json" --data "$sd/data" \
        --listen 127.0.0.1:0 --port-file "$sd/port" "$@" 2>>"$sd/serve.log" &
    SPID=$!
    i=0
    while [ ! -s "$sd/port" ] && [ $i -lt 100 ] && kill -0 "$SPID" 2>/dev/null; do
        sleep 0.1; i=$((i + 1))
    done
    P=$(cat "$sd/port" 2>/dev/null)
    [ -n "$P" ]
}
