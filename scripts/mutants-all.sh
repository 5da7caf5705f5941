#!/bin/sh
# The whole protocol core under cargo-mutants, resumable: about 3,000
# mutants at 5-10 s each on one job, so 4-8 hours; stop it when you like
# and run the script again with the same DIR to go on where it stopped
# (`--iterate` skips what an earlier run caught and retests what it
# missed). Prints the score over the mutants tested so far. Figures and
# the open survivors: docs/testing.md.
#
#   scripts/mutants-all.sh [DIR [CARGO-MUTANTS ARGS...]]
#
# DIR defaults to target/mutants-all. Further arguments go to cargo
# mutants, e.g. `-F 'chat/'` to take some files first; a later run with
# the same DIR and no filter still skips everything caught so far.
set -eu
out=${1:-target/mutants-all}
[ $# -gt 0 ] && shift
command -v cargo-mutants >/dev/null || {
    echo "cargo-mutants is not installed: cargo install cargo-mutants --locked" >&2
    exit 2
}
mkdir -p "$out"
iterate=
[ -f "$out/mutants.out/outcomes.json" ] && iterate=--iterate
# One job, in list order: consecutive mutants sit in the same function, so
# each incremental rebuild is 3-5 s; two jobs on two cores took longer per
# mutant than one. A failing property test need not shrink its input to
# count as a catch.
PROPTEST_MAX_SHRINK_ITERS=0 cargo mutants --test-package drc-protocol -j 1 \
    -o "$out" $iterate "$@" >>"$out/run.log" 2>&1 || true
exec "$(dirname "$0")/mutants-score.sh" "$out/mutants.out"
