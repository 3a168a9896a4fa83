#!/bin/sh
# tests/run.sh [BUILD_DIR...] — runs every suite against each build directory
# (plain, then sanitizers; default: $BUILD, else build) and ends with one line
# "N passed, N failed, N skipped".
# A suite is build/unit-tests, any extra test binary a module lists in
# BUILD/test-bins.txt, or a tests/cli/*.sh script (given TP_BIN). Every suite
# ends its output with its own "N passed, N failed[, N skipped]" line.
set -u
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

run_suite() { # name cmd...
    name=$1; shift
    out="$log/out"
    t0=$(date +%s)
    "$@" >"$out" 2>&1
    rc=$?
    took=$(($(date +%s) - t0))
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

[ $# -gt 0 ] || set -- "${BUILD:-build}"
for b in "$@"; do
    case $b in /*) bdir=$b ;; *) bdir=$root/$b ;; esac
    run_suite "$b/unit-tests" "$bdir/unit-tests"
    if [ -f "$bdir/test-bins.txt" ]; then
        while read -r bin; do
            [ -n "$bin" ] && run_suite "$bin" "$bin"
        done <"$bdir/test-bins.txt"
    fi
    for t in "$here"/cli/*.sh; do
        [ -f "$t" ] || continue
        case $(basename "$t") in lib.sh) continue ;; esac
        TP_BIN="$bdir/trustplace" run_suite "$b:$(basename "$t")" sh "$t"
    done
done
echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
