#!/usr/bin/env python3
"""Marginal instructions per unit, by the functions they were inlined from.

    callgrind-inlined.py SMALL BIG UNITS BINARY [--rows flood] [--top N]

SMALL and BIG are two callgrind outputs of the same BINARY made with
`--dump-instr=yes` (a short and a long run of one benchmark); UNITS is
what the long run did more (hops, deliveries). Each instruction's
difference is put on the chain of functions it was inlined from
(`addr2line -i`), which callgrind's own listings fold into whichever
function the compiler kept: in a release build nearly the whole per-hop
path is inlined into one or two functions.

Prints the chains by the first two of the project's own functions in
each, and with `--rows flood` the rows of docs/performance.md's account
of a flood hop. Only the binary's own code is counted (libc's memcpy
and friends are left out: callgrind_annotate shows them by name).
"""
import argparse
import collections
import re
import subprocess


def self_costs(path, binary):
    """Self cost of every instruction address of `binary` in one output."""
    cost = collections.Counter()
    objects, current, addr, after_call = {}, None, 0, False
    for line in open(path):
        line = line.rstrip("\n")
        if not line:
            continue
        m = re.match(r"(c?ob)=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(3):
                objects[m.group(2)] = m.group(3)
            if m.group(1) == "ob":
                current = objects.get(m.group(2))
            continue
        if line.startswith("calls="):
            after_call = True  # the next line is the call's inclusive cost
            continue
        first = line.split()[0]
        if first.startswith("0x"):
            addr = int(first, 16)
        elif first[0] in "+-":
            addr += int(first, 0) if first[1:].startswith("0x") else int(first)
        elif first != "*":
            continue
        if after_call:
            after_call = False
            continue
        fields = line.split()
        if len(fields) >= 3 and current and current.endswith(binary.split("/")[-1]):
            cost[addr] += int(fields[2])
    return cost


def inline_chains(binary, addrs):
    """addr -> [function, innermost first] from addr2line."""
    out = subprocess.run(
        ["addr2line", "-a", "-i", "-f", "-C", "-e", binary] + [hex(a) for a in addrs],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    chains, cur, i = {}, None, 0
    while i < len(out):
        if out[i].startswith("0x"):
            cur = int(out[i], 16)
            chains[cur] = []
            i += 1
        else:
            chains[cur].append(out[i])
            i += 2  # function, then file:line
    return chains


STD = re.compile(r"<?(core|alloc|std|smallvec|hashbrown|rand_core|rand_chacha|ppv_lite86)::")


def short(name):
    for _ in range(3):
        name = re.sub(r"<[^<>]*>", "", name)
    parts = name.split("::")
    return "::".join(parts[-2:])


# docs/performance.md, "Where a flood hop's 1,126 go": the first row whose
# words appear anywhere in a chain takes it.
FLOOD_ROWS = [
    ("trace hash", ["TraceHash", "drc_sim::trace::"]),
    ("msg.direction probe", ["before_frame", "after_frame", "first_arg", "checkers::"]),
    ("BCAST read off the bytes", ["parse_plain_bcast", "plain_args", "plain_commas", "commas_head", "parse_u64", "decode::"]),
    ("server", ["Server::handle", "drc_protocol::"]),
    ("event loop and queue", ["run_one", "EventQueue", "clock::"]),
    ("carrying out the send", ["apply_outputs", "Network::send", "Network::latency", "Dir::push", "FrameStore::put"]),
    ("delivery bookkeeping", ["deliver", "handed", "rearm", "reschedule", "Network::pop"]),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("small")
    p.add_argument("big")
    p.add_argument("units", type=float)
    p.add_argument("binary")
    p.add_argument("--rows", choices=["flood"])
    p.add_argument("--top", type=int, default=40)
    a = p.parse_args()
    small, big = self_costs(a.small, a.binary), self_costs(a.big, a.binary)
    diff = {k: (big[k] - small[k]) / a.units for k in set(small) | set(big)}
    diff = {k: v for k, v in diff.items() if abs(v) > 0.001}
    chains = inline_chains(a.binary, sorted(diff))
    by_owner = collections.Counter()
    rows = collections.Counter()
    for addr, v in diff.items():
        chain = chains.get(addr, [])
        own = [short(f) for f in chain if not STD.match(f) and not f.startswith("<[")]
        by_owner[" < ".join(own[:2]) or "?"] += v
        joined = " | ".join(chain)
        row = next((r for r, words in FLOOD_ROWS if any(w in joined for w in words)), "the rest")
        rows[row] += v
    print(f"{sum(diff.values()):.1f} per unit in {a.binary}'s own code")
    for k, v in by_owner.most_common(a.top):
        print(f"{v:9.1f}  {k}")
    if a.rows == "flood":
        print("\nrows of the flood account:")
        for k, v in rows.most_common():
            print(f"{v:9.1f}  {k}")


if __name__ == "__main__":
    main()
