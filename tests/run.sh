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
# budgets, never wall-clock limits), split in groups (each of HEAVY_TESTS alone,
# then the others), and the CLI scripts with a line "# tp: parallel". Then the
# rest, whose checks wait on servers, sockets and timers (they spend most of
# their time waiting, not computing): one lane per build runs its build's
# suites one at a time, TP_LANES lanes side by side (default 2, the plain and
# the sanitizer build's at once; TP_LANES=1: one suite at a time in all).
# In the sanitizer build the heaviest property tests run one in TP_SAN_STRIDE
# (default 4) of the plain build's random instances (tp_test_stride()); the
# plain build runs them all, the suite line says the stride.
set -u
if [ "${1:-}" = --job ]; then # run.sh --job DIR N: job N
    t0=$(date +%s)
    sh -c "$(sed -n 2p "$2/job.$3")" >"$2/job.$3.out" 2>&1
    echo "$? $(($(date +%s) - t0))" >"$2/job.$3.rc"
    exit 0
fi
if [ "${1:-}" = --lane ]; then # run.sh --lane DIR N: lane N's jobs, one at a time
    while read -r j; do sh "$0" --job "$2" "$j"; done <"$2/lane.$3"
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
export TP_SAN_STRIDE="${TP_SAN_STRIDE:-4}"
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
# disjoint groups: each of HEAVY_TESTS (the two gang property tests, the longest
# by far) alone, and the other PURE_TESTS; the rest of the unit tests run in the
# second phase.
HEAVY_TESTS="solver_gangs_random solver_gangs_bounds_cover"
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

# job NAME CMD...: queues a suite in $log/job.N (its name,
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

# The first phase, roughly the longest jobs first (the sanitizer build's [pure]
# outlasts the second heavy test, cut to a stride there).
heavy1=${HEAVY_TESTS%% *} heavy2=${HEAVY_TESTS#"$heavy1"}
for b in "$@"; do job "$b/unit-tests [$heavy1]" "$(absdir "$b")/unit-tests" $heavy1; done
for b in "$@"; do job "$b/unit-tests [pure]" "$(absdir "$b")/unit-tests" $pure; done
for w in $heavy2; do
    for b in "$@"; do job "$b/unit-tests [$w]" "$(absdir "$b")/unit-tests" $w; done
done
for b in "$@"; do
    for t in "$here"/cli/*.sh; do
        [ -f "$t" ] && mark parallel "$t" || continue
        job "$b:$(basename "$t")" env TP_BIN="$(absdir "$b")/trustplace" sh "$t"
    done
done
j=0
while [ $j -lt $nj ]; do j=$((j + 1)) && echo $j; done |
    xargs -n 1 -P "${TP_JOBS:-$(nproc 2>/dev/null || echo 2)}" sh "$here/run.sh" --job "$log"
# account_jobs FROM TO: the lines of jobs FROM..TO, in queue order.
account_jobs() {
    j=$1
    while [ $j -le $2 ]; do
        rc=1 took=0
        [ -f "$log/job.$j.rc" ] && read -r rc took <"$log/job.$j.rc"
        [ -f "$log/job.$j.out" ] || echo "the job did not run" >"$log/job.$j.out"
        account "$(sed -n 1p "$log/job.$j")" "$log/job.$j.out" "$rc" "$took"
        j=$((j + 1))
    done
}
account_jobs 1 $nj

# The second phase: one lane per build, each running its build's suites one at
# a time; TP_LANES lanes side by side (default 2: the plain and the sanitizer
# build's at once; TP_LANES=1 runs one suite at a time in all).
first=$((nj + 1)) nl=0
for b in "$@"; do
    bdir=$(absdir "$b")
    nl=$((nl + 1)) && : >"$log/lane.$nl"
    job "$b/unit-tests [the rest]" "$bdir/unit-tests" $rest && echo $nj >>"$log/lane.$nl"
    if [ -f "$bdir/test-bins.txt" ]; then
        while read -r bin; do
            [ -n "$bin" ] && job "$bin" "$bin" && echo $nj >>"$log/lane.$nl"
        done <"$bdir/test-bins.txt"
    fi
    for t in "$here"/cli/*.sh; do
        [ -f "$t" ] || continue
        case $(basename "$t") in lib.sh) continue ;; esac
        mark parallel "$t" && continue
        job "$b:$(basename "$t")" env TP_BIN="$bdir/trustplace" sh "$t"
        echo $nj >>"$log/lane.$nl"
    done
done
l=0
while [ $l -lt $nl ]; do l=$((l + 1)) && echo $l; done |
    xargs -n 1 -P "${TP_LANES:-2}" sh "$here/run.sh" --lane "$log"
account_jobs $first $nj
echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
