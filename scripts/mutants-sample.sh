#!/bin/sh
# A short sample of how well the tests pin the protocol core down: one
# round-robin shard of cargo-mutants' list (shard K of N; by default 0 of
# 75, about 40 mutants, 10-20 minutes on two cores), run against the
# protocol crate's own tests, then the score printed. The whole set and
# its figures: docs/testing.md.
#
#   scripts/mutants-sample.sh [K] [N]
set -eu
k=${1:-0}
n=${2:-75}
command -v cargo-mutants >/dev/null || {
    echo "cargo-mutants is not installed: cargo install cargo-mutants --locked" >&2
    exit 2
}
out=$(mktemp -d)
# cargo-mutants exits non-zero when a mutant survives: that is a result.
cargo mutants --shard "$k/$n" --sharding round-robin --test-package drc-protocol \
    -o "$out" >"$out/run.log" 2>&1 || true
o="$out/mutants.out"
[ -f "$o/outcomes.json" ] || {
    echo "cargo mutants did not run; its log: $out/run.log" >&2
    exit 2
}
count() { if [ -f "$o/$1" ]; then grep -c . "$o/$1" || true; else echo 0; fi; }
caught=$(count caught.txt)
timeout=$(count timeout.txt)
missed=$(count missed.txt)
unviable=$(count unviable.txt)
viable=$((caught + timeout + missed))
echo "shard $k/$n: $viable viable mutants, $((caught + timeout)) caught ($timeout by the timeout), $missed missed, $unviable unviable"
if [ "$viable" -gt 0 ]; then
    echo "score: $(( (caught + timeout) * 1000 / viable / 10 )).$(( (caught + timeout) * 1000 / viable % 10 )) %"
fi
if [ "$missed" -gt 0 ]; then
    echo "missed:"
    sed 's/^/  /' "$o/missed.txt"
fi
echo "outputs: $o"
