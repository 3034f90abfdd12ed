#!/usr/bin/env python3
"""Prints the median of every criterion benchmark under target/criterion, one per line:
group, function, median (ns per iteration), and round trips/s where a throughput is set.
BENCHMARKS.md's tables are built from this output after `cargo bench -p greenmongo-runtime`.
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
rows = []
for bench in sorted(root.glob("**/new/benchmark.json")):
    meta = json.loads(bench.read_text())
    est = json.loads((bench.parent / "estimates.json").read_text())
    median_ns = est["median"]["point_estimate"]
    per_sec = ""
    elements = (meta.get("throughput") or {}).get("Elements")
    if elements:
        per_sec = f"{elements / (median_ns * 1e-9):,.0f}/s"
    rows.append((meta["group_id"], meta["function_id"], median_ns, per_sec))
for group, function, ns, per_sec in rows:
    print(f"{group:<34} {function:<26} {ns:>14,.1f} ns  {per_sec}")
