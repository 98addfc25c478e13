#!/usr/bin/env python3
"""Reads `llvm-cov report -show-functions -show-branch-summary` for one fuzz target on stdin and
prints each function the target called with its branch and region coverage; exit 1 when one
is below the floor. Functions of the listed files that the target never calls (writers,
lookups the loader does not use) are counted, not judged; neither are the functions named in
the exemptions file (argument 4: lines of "target  function-name-substring  reason"), which
do no parsing of the fuzzed bytes (file I/O, lookups in the bundled data) and say what covers
them instead."""
import re
import sys

target, inputs, floor = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
exempt = []  # (substring, reason) for this target
if len(sys.argv) > 4:
    for line in open(sys.argv[4], encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        t, fn, why = re.split(r"\s{2,}", line.strip(), maxsplit=2)
        if t == target:
            exempt.append((fn, why))
called, uncalled, exempted = [], [], []
for line in sys.stdin:
    # Name  Regions Miss Cover  Lines Miss Cover  Branches Miss Cover
    m = re.match(r"^(.*?)\s+(\d+)\s+(\d+)\s+([\d.]+%|-)\s+(\d+)\s+(\d+)\s+([\d.]+%|-)\s+(\d+)\s+(\d+)\s+([\d.]+%|-)\s*$", line)
    if not m or m.group(1).startswith(("Name", "TOTAL", "File")):
        continue
    name = m.group(1).strip()
    regions, rmiss, branches, bmiss = int(m.group(2)), int(m.group(3)), int(m.group(8)), int(m.group(9))
    if regions == rmiss:
        uncalled.append(name)
        continue
    why = next((w for fn, w in exempt if fn in name), None)
    if why is not None:
        exempted.append((name, why))
        continue
    if branches:
        share, kind = 100.0 * (branches - bmiss) / branches, f"{branches - bmiss}/{branches} branches"
    else:
        share, kind = 100.0 * (regions - rmiss) / regions, f"{regions - rmiss}/{regions} regions"
    called.append((share, name, kind))

below = [c for c in called if c[0] < floor]
tot = sorted(c[0] for c in called)
print(f"{target}: {inputs} inputs replayed; {len(called)} functions called, "
      f"lowest {tot[0]:.1f}%, median {tot[len(tot) // 2]:.1f}%; {len(uncalled)} not called by this target; "
      f"{len(exempted)} not parsing (exempt)")
for share, name, kind in sorted(called):
    if share < floor or floor <= 0:
        short = name if len(name) <= 90 else name[:87] + "..."
        print(f"  {share:5.1f}%  {kind:>18}  {short}")
for name, why in exempted if floor <= 0 else []:
    short = name if len(name) <= 60 else name[:57] + "..."
    print(f"  exempt  {short}: {why}")
if below:
    print(f"{target}: {len(below)} functions below {floor:.0f}%", file=sys.stderr)
    sys.exit(1)
