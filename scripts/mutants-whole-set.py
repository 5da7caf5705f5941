#!/usr/bin/env python3
"""The mutation score of the whole protocol core, from several runs.

    scripts/mutants-whole-set.py DIR [DIR ...]

Lists the mutants of the current tree (`cargo mutants --list --json`,
with the repository's .cargo/mutants.toml) and gives each the latest
outcome any of the runs recorded for it. Each DIR is a cargo-mutants
output directory (`DIR/mutants.out`, `DIR/mutants.out.old`, or one of
those itself); what a run recorded is its outcomes.json, and the names
in a previously_caught.txt count as caught at that file's time.

A mutant is found by its name (file, line, column, what changed). One
whose line moved since it was tested (an edit above it) is found by
file and what changed ("replace > with >= in Server::f"), and counted
with the outcome those runs gave every mutant of that description in
that file, if they all agree; otherwise, or if never tested, it is
listed as not tested. Prints the counts and every mutant not caught.
"""

import collections
import json
import os
import re
import subprocess
import sys

# cargo-mutants' summaries, as this script counts them.
OUTCOME = {
    "CaughtMutant": "caught",
    "Timeout": "timeout",
    "MissedMutant": "missed",
    "Unviable": "unviable",
}


def runs(dirs):
    """(mtime, path) of every outcomes.json / previously_caught.txt."""
    found = []
    for d in dirs:
        for sub in ("", "mutants.out", "mutants.out.old"):
            base = os.path.join(d, sub)
            for name in ("outcomes.json", "previously_caught.txt"):
                p = os.path.join(base, name)
                if os.path.isfile(p):
                    found.append((os.path.getmtime(p), p))
    return sorted(set(found))


def history(dirs):
    """name -> outcome, the latest run winning."""
    seen = {}
    for _, p in runs(dirs):
        if p.endswith(".txt"):
            for line in open(p):
                if line.strip():
                    seen[line.strip()] = "caught"
            continue
        for o in json.load(open(p))["outcomes"]:
            m = o["scenario"]
            if not isinstance(m, dict) or "Mutant" not in m:
                continue  # the baseline
            seen[m["Mutant"]["name"]] = OUTCOME.get(o["summary"], o["summary"])
    return seen


def key(name):
    m = re.match(r"^(.*?):\d+:\d+: (.*)$", name)
    return (m.group(1), m.group(2)) if m else (name, "")


def main():
    dirs = sys.argv[1:]
    if not dirs:
        sys.exit(__doc__)
    listed = subprocess.run(
        ["cargo", "mutants", "--list", "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    current = [m["name"] for m in json.loads(listed)]
    seen = history(dirs)
    by_key = collections.defaultdict(set)
    for name, outcome in seen.items():
        by_key[key(name)].add(outcome)
    tally = collections.Counter()
    moved = 0
    listing = []
    for name in current:
        outcome = seen.get(name)
        if outcome is None:
            outcomes = by_key.get(key(name), set())
            if len(outcomes) == 1:
                outcome = next(iter(outcomes))
                moved += 1
            else:
                outcome = "not tested"
        tally[outcome] += 1
        if outcome in ("missed", "not tested"):
            listing.append(f"  {outcome}: {name}")
    viable = tally["caught"] + tally["timeout"] + tally["missed"] + tally["not tested"]
    caught = tally["caught"] + tally["timeout"]
    print(f"{len(current)} mutants in the tree; {tally['unviable']} unviable, {viable} viable")
    print(f"caught {caught} ({tally['timeout']} by the timeout), missed {tally['missed']}, "
          f"not tested {tally['not tested']}")
    print(f"({moved} found by file and description: their line moved since the run that tested them)")
    if viable:
        print(f"score: {100 * caught / viable:.1f} % of viable mutants caught")
    print("\n".join(listing))


if __name__ == "__main__":
    main()
