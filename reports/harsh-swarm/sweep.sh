#!/bin/sh
# Sweeps reports/harsh-swarm/harsh.toml under every ordering x nick_collision
# combination. Usage: sweep.sh DRCSIM SEEDS OUTDIR   (e.g. sweep.sh
# target/release/drcsim 0..200 /tmp/harsh). Prints one summary line per variant.
set -e
bin=$1; seeds=$2; out=$3
here=$(dirname "$0")
mkdir -p "$out"
for ord in epoch home; do
  for nc in kill-both ts-kill ts-rename reject; do
    v="$ord-$nc"
    sed -e "s/^ordering = .*/ordering = \"$ord\"/" \
        -e "s/^nick_collision = .*/nick_collision = \"$nc\"/" \
        -e "s/^name = \"harsh-swarm\"/name = \"harsh-$v\"/" \
        "$here/harsh.toml" > "$out/$v.toml"
    "$bin" sweep "$out/$v.toml" --seeds "$seeds" --jobs 1 --out "$out/$v" 2>&1 | head -1
  done
done
