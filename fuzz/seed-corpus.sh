#!/bin/sh
# Seeds the fuzz corpora with every scenario file in scenarios/, so the
# fuzzers start from real, valid inputs (every section, every action) and
# mutate from there. Run from anywhere; then, in fuzz/:
#   RUSTC_BOOTSTRAP=1 cargo fuzz run parse_scenario corpus/parse_scenario -- -max_total_time=60
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for target in parse_scenario decode_frame; do
    mkdir -p "$here/corpus/$target"
    cp "$here"/../scenarios/*.toml "$here/corpus/$target/"
done
echo "seeded $(ls "$here"/../scenarios/*.toml | wc -l) scenario files into $here/corpus/{parse_scenario,decode_frame}"
