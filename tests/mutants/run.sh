#!/bin/sh
# tests/mutants/run.sh [LIST] [NAME...] — `make mutants`: plants each deliberate
# bug of LIST (default tests/mutants/mutants.txt; its header says the format),
# one at a time, in a scratch copy of the tree, builds, runs the suite
# (tests/run.sh on the plain build; on the sanitizer build for "asan" mutants;
# `make fuzz` for "fuzz" ones) and prints a table: mutant, then the tests that
# caught it. NAMEs pick mutants. Exit 0 only when every mutant was caught; a
# mutant whose patch does not apply, or that does not build, is an ERROR.
# The scratch copy (tracked and untracked files, plus the build directories, so
# builds are incremental) is removed at the end. Long: run it with `nice`.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
list=$here/mutants.txt
if [ $# -gt 0 ] && [ -f "$1" ]; then
    list=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    shift
fi
want=" $* "
TP_SHARED=$(cd "${TP_SHARED:-$root/../shared}" 2>/dev/null && pwd || echo /nonexistent)
export TP_SHARED
BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
J=${J:-2}

scratch=$(mktemp -d /tmp/tp-mutants.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
S=$scratch/tree
mkdir -p "$S"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp -a --parents -t "$S") || {
    echo "mutants: cannot copy the tree to $S" >&2
    exit 2
}
[ -d "$root/$BUILD" ] && cp -a "$root/$BUILD" "$S/$BUILD"
results=$scratch/results
: >"$results"

# caught_by LOG — "suite: test" for every failure tests/run.sh reported in LOG.
caught_by() {
    awk '
        /^FAIL / { sub(/^FAIL /, ""); fails[++n] = $0; next }
        /^suite / {
            name = $2; sub(/:$/, "", name); sub(/.*\//, "", name); sub(/^[^:]*:/, "", name)
            if (n == 0 && ($0 ~ /no summary line/ || $0 ~ /\(exit [0-9]+\)$/ || $0 !~ / 0 failed/)) {
                x = $0; sub(/.*\(exit /, "exit ", x); sub(/\)$/, "", x)
                print name ": " x
            }
            for (i = 1; i <= n; i++) print name ": " fails[i]
            n = 0
        }' "$1"
}

build() { # BUILD-DIR SAN
    (cd "$S" && make -j"$J" --no-print-directory BUILD="$1" SAN="$2" tests) >"$scratch/build.log" 2>&1
}

# baseline plain|asan — the unmutated copy builds and passes (once per kind, before
# the first mutant that needs it), or nothing the mutants show means anything.
baseline() {
    [ -f "$scratch/base-$1" ] && return 0
    b=$BUILD san=0
    [ "$1" = asan ] && b=$BUILD/asan san=1
    echo "mutants: baseline, $1 build"
    if ! build "$b" "$san"; then
        tail -50 "$scratch/build.log"
        echo "mutants: the unmutated tree does not build ($1)"
        exit 2
    fi
    if ! (cd "$S" && sh tests/run.sh "$b") >"$scratch/base.log" 2>&1; then
        grep -vE '^(ok|skip|\[)' "$scratch/base.log" | tail -50
        echo "mutants: the unmutated tree fails its tests ($1)"
        exit 2
    fi
    touch "$scratch/base-$1"
}

# apply FILE FROM TO — replaces FROM (a fixed string) on the one line holding it.
apply() {
    n=$(grep -cF -- "$2" "$S/$1" 2>/dev/null)
    if [ "${n:-0}" -ne 1 ]; then
        echo "\"from\" occurs on ${n:-0} lines of $1, not 1"
        return 1
    fi
    FROM=$2 TO=$3 awk '
        !done && (i = index($0, ENVIRON["FROM"])) {
            $0 = substr($0, 1, i - 1) ENVIRON["TO"] substr($0, i + length(ENVIRON["FROM"]))
            done = 1
        }
        { print }' "$S/$1" >"$scratch/patched" &&
        cat "$scratch/patched" >"$S/$1" # keeps the file's mode; its mtime moves on
    if cmp -s "$S/$1" "$scratch/orig"; then
        echo "the patch changed nothing"
        return 1
    fi
    return 0
}

one() { # name file from to run hole
    name=$1 file=$2 from=$3 to=$4 run=$5 hole=$6
    case $want in "  ") ;; *" $name "*) ;; *) return ;; esac
    for r in $(echo "${run:-plain}" | tr ',' ' '); do
        case $r in plain | asan) baseline "$r" ;; fuzz) baseline plain ;; esac
    done
    printf 'mutant %-24s ' "$name"
    if [ ! -f "$S/$file" ]; then
        echo "ERROR: no $file"
        echo "$name	$hole	ERROR: no $file" >>"$results"
        return
    fi
    cp -p "$S/$file" "$scratch/orig"
    if ! why=$(apply "$file" "$from" "$to"); then
        echo "ERROR: $why"
        echo "$name	$hole	ERROR: patch does not apply: $why" >>"$results"
        cp -p "$scratch/orig" "$S/$file"
        return
    fi
    : >"$scratch/caught"
    status=ok
    for r in $(echo "${run:-plain}" | tr ',' ' '); do
        case $r in
        plain | asan)
            b=$BUILD san=0
            [ "$r" = asan ] && b=$BUILD/asan san=1
            if ! build "$b" "$san"; then
                status="ERROR: does not build ($r): $(grep -m1 -E 'error|Error' "$scratch/build.log")"
                break
            fi
            (cd "$S" && sh tests/run.sh "$b") >"$scratch/run.log" 2>&1
            caught_by "$scratch/run.log" | sed "s/^/[$r] /" >>"$scratch/caught"
            ;;
        fuzz)
            if ! (cd "$S" && make --no-print-directory fuzz FUZZ_SECONDS="$FUZZ_SECONDS" \
                FUZZ_DIR="$scratch/fuzz") >"$scratch/fuzz.log" 2>&1; then
                echo "[fuzz] make fuzz: $(grep -m1 -o '^fuzz_[a-z]* failed (exit [0-9]*)' "$scratch/fuzz.log")" >>"$scratch/caught"
            fi
            rm -rf "$scratch/fuzz"
            ;;
        *) status="ERROR: unknown run \"$r\"" ;;
        esac
    done
    # Restore the file with a fresh mtime, so the next build recompiles it.
    cat "$scratch/orig" >"$S/$file"
    if [ "$status" != ok ]; then
        echo "$status"
        echo "$name	$hole	$status" >>"$results"
        return
    fi
    k=$(wc -l <"$scratch/caught")
    if [ "$k" -eq 0 ]; then
        echo "NOT CAUGHT"
        echo "$name	$hole	NOT CAUGHT" >>"$results"
    else
        echo "caught by $k"
        printf '%s\t%s\t%s\n' "$name" "$hole" "$(paste -sd'|' "$scratch/caught")" >>"$results"
    fi
}

name="" file="" from="" to="" run="" hole=""
flush() {
    [ -n "$name" ] && one "$name" "$file" "$from" "$to" "$run" "$hole"
    name="" file="" from="" to="" run="" hole=""
}
while IFS= read -r line || [ -n "$line" ]; do
    case $line in
    '#'*) continue ;;
    '') flush; continue ;;
    esac
    k=${line%%|*} v=${line#*|}
    case $k in
    name) name=$v ;; hole) hole=$v ;; file) file=$v ;; from) from=$v ;; to) to=$v ;;
    run) run=$v ;;
    *) echo "mutants: $list: bad line: $line" >&2; exit 2 ;;
    esac
done <"$list"
flush

# The table: each mutant, the hole it proves closed, then what caught it (at
# most 8 tests named, then a count).
echo
echo "mutant                    caught by (hole)"
echo "------------------------  ----------------"
bad=0
while IFS="$(printf '\t')" read -r n h c; do
    printf '%-24s  (%s)\n' "$n" "$h"
    case $c in
    "NOT CAUGHT" | ERROR*) bad=$((bad + 1)); echo "      $c" ;;
    *)
        echo "$c" | tr '|' '\n' | head -8 | sed 's/^/      /'
        more=$(($(echo "$c" | tr '|' '\n' | wc -l) - 8))
        [ "$more" -gt 0 ] && echo "      ... and $more more"
        ;;
    esac
done <"$results"
total=$(wc -l <"$results")
echo
echo "$((total - bad)) of $total mutants caught"
[ "$bad" -eq 0 ] && [ "$total" -gt 0 ]
