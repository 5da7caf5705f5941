#!/bin/sh
# The score of a cargo-mutants output directory, counting what earlier
# `--iterate` runs into it caught.
#
#   scripts/mutants-score.sh DIR/mutants.out
set -eu
o=${1:?usage: mutants-score.sh DIR/mutants.out}
[ -f "$o/outcomes.json" ] || {
    echo "no cargo-mutants results in $o (did the run start? see run.log beside it)" >&2
    exit 2
}
count() { if [ -f "$o/$1" ]; then grep -c . "$o/$1" || true; else echo 0; fi; }
earlier=$(count previously_caught.txt)
caught=$(( $(count caught.txt) + earlier ))
timeout=$(count timeout.txt)
missed=$(count missed.txt)
unviable=$(count unviable.txt)
viable=$((caught + timeout + missed))
echo "$viable viable mutants tested: $((caught + timeout)) caught ($timeout by the timeout, $earlier in earlier runs), $missed missed; $unviable unviable"
if [ "$viable" -gt 0 ]; then
    echo "score: $(( (caught + timeout) * 1000 / viable / 10 )).$(( (caught + timeout) * 1000 / viable % 10 )) %"
fi
if [ "$missed" -gt 0 ]; then
    echo "missed:"
    sed 's/^/  /' "$o/missed.txt"
fi
echo "outputs: $o"
