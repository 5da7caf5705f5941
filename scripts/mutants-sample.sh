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
PROPTEST_MAX_SHRINK_ITERS=0 cargo mutants --shard "$k/$n" --sharding round-robin \
    --test-package drc-protocol -o "$out" >"$out/run.log" 2>&1 || true
echo "shard $k/$n:"
exec "$(dirname "$0")/mutants-score.sh" "$out/mutants.out"
