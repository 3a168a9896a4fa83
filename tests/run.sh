#!/bin/sh
# tests/run.sh [BUILD_DIR...] — runs every suite against each build directory
# (plain, then sanitizers; default: $BUILD, else build) and ends with one line
# "N passed, N failed, N skipped".
# A suite is build/unit-tests, any extra test binary a module lists in
# BUILD/test-bins.txt, or a tests/cli/*.sh script (given TP_BIN). Every suite
# ends its output with its own "N passed, N failed[, N skipped]" line.
#
# Two phases. First what reads no clock and serves nothing runs TP_JOBS suites
# at a time (default: one per core), every build's at once: the unit tests
# named in PURE_TESTS (solver, policy, simulator, generators, loaders: work
# budgets, never wall-clock limits), split in two groups, and the CLI scripts
# with a line "# tp: parallel". Then the rest, whose checks wait on
# servers, sockets and timers, one suite at a time with nothing else of the run
# beside it.
set -u
if [ "${1:-}" = --job ]; then # run.sh --job DIR N: job N of the first phase
    t0=$(date +%s)
    sh -c "$(sed -n 2p "$2/job.$3")" >"$2/job.$3.out" 2>&1
    echo "$? $(($(date +%s) - t0))" >"$2/job.$3.rc"
    exit 0
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
export TP_SHARED="${TP_SHARED:-$root/../shared}"
export TP_SRCDIR="$root/tests"
# The sanitizers exit with their own statuses (ASan/LSan 86, UBSan 87), never
# with 1 or 2, which are trustplace's "rejected" and "bad input": a leak or UB
# on a rejection path must not pass a check that expects exit 1.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}:exitcode=86"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:exitcode=87"
P=0 F=0 S=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
# The suites call python3 hundreds of times: the interpreter PATH's python3
# resolves to is put first on PATH, so that a version manager's shim (pyenv's
# is a bash script that execs pyenv) runs once here, not on every call.
py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ -n "$py" ] && [ -x "$py" ]; then
    mkdir -p "$log/bin" && ln -s "$py" "$log/bin/python3" && export PATH="$log/bin:$PATH"
fi

# The unit tests that read no clock (name filters of build/unit-tests), run in
# two disjoint groups: HEAVY_TESTS (the gang property test, the longest by far)
# and the other PURE_TESTS; the rest of the unit tests run in the second phase.
HEAVY_TESTS="solver_gangs"
PURE_TESTS="solver_ policy_ sim_ gen_ validator_ model_ load_ workload_decoder workload_safetensors"

# account NAME OUT RC TOOK: prints the suite's line and adds up its counts.
account() {
    name=$1 out=$2 rc=$3 took=$4
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        cat "$out"
        echo "suite $name: no summary line (exit $rc)"
        F=$((F + 1))
        return
    fi
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')
    s=${s:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # crashed or leaked after its summary
    fi
    if [ "$f" -ne 0 ]; then
        grep -vE '^(ok|skip) ' "$out"
    fi
    grep -E '^skip ' "$out" | sed "s|^|[$name] |"
    if [ "$rc" -ne 0 ]; then
        echo "suite $name: $line (exit $rc) [${took} s]"
    else
        echo "suite $name: $line [${took} s]"
    fi
    P=$((P + p)) F=$((F + f)) S=$((S + s))
}

run_suite() { # name cmd...
    name=$1; shift
    t0=$(date +%s)
    "$@" >"$log/out" 2>&1
    rc=$?
    account "$name" "$log/out" "$rc" $(($(date +%s) - t0))
}

# job NAME CMD...: queues a suite of the first phase in $log/job.N (its name,
# then its command with every word quoted for sh).
nj=0
job() {
    nj=$((nj + 1))
    {
        printf '%s\n' "$1"
        shift
        for w in "$@"; do
            printf "'%s' " "$(printf '%s' "$w" | sed "s/'/'\\\\''/g")"
        done
        echo
    } >"$log/job.$nj"
}
mark() { grep -q "^# tp: $1" "$2"; } # mark WORD SCRIPT: it has a line "# tp: WORD"
absdir() { case $1 in /*) echo "$1" ;; *) echo "$root/$1" ;; esac; }

[ $# -gt 0 ] || set -- "${BUILD:-build}"
pure=$PURE_TESTS rest=""
for w in $HEAVY_TESTS; do pure="$pure -$w"; done
for w in $HEAVY_TESTS $PURE_TESTS; do rest="$rest -$w"; done

# The first phase, the longest jobs first.
for b in "$@"; do job "$b/unit-tests [$HEAVY_TESTS]" "$(absdir "$b")/unit-tests" $HEAVY_TESTS; done
for b in "$@"; do job "$b/unit-tests [pure]" "$(absdir "$b")/unit-tests" $pure; done
for b in "$@"; do
    for t in "$here"/cli/*.sh; do
        [ -f "$t" ] && mark parallel "$t" || continue
        job "$b:$(basename "$t")" env TP_BIN="$(absdir "$b")/trustplace" sh "$t"
    done
done
j=0
while [ $j -lt $nj ]; do j=$((j + 1)) && echo $j; done |
    xargs -n 1 -P "${TP_JOBS:-$(nproc 2>/dev/null || echo 2)}" sh "$here/run.sh" --job "$log"
j=0
while [ $j -lt $nj ]; do
    j=$((j + 1))
    rc=1 took=0
    [ -f "$log/job.$j.rc" ] && read -r rc took <"$log/job.$j.rc"
    [ -f "$log/job.$j.out" ] || echo "the job did not run" >"$log/job.$j.out"
    account "$(sed -n 1p "$log/job.$j")" "$log/job.$j.out" "$rc" "$took"
done

# The second phase: one suite at a time.
for b in "$@"; do
    bdir=$(absdir "$b")
    run_suite "$b/unit-tests [the rest]" "$bdir/unit-tests" $rest
    if [ -f "$bdir/test-bins.txt" ]; then
        while read -r bin; do
            [ -n "$bin" ] && run_suite "$bin" "$bin"
        done <"$bdir/test-bins.txt"
    fi
    for t in "$here"/cli/*.sh; do
        [ -f "$t" ] || continue
        case $(basename "$t") in lib.sh) continue ;; esac
        mark parallel "$t" && continue
        TP_BIN="$bdir/trustplace" run_suite "$b:$(basename "$t")" sh "$t"
    done
done
echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
