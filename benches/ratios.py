#!/usr/bin/env python3
"""Prints the ratios of the last `cargo bench -p benches` run from criterion's estimates.

Bench IDs follow one naming scheme, `<group>/<kind>/<name>`:
  ours/...      our operation; `ours/parse` (else the only `ours/...`) is the group's primary
  spiffe/...    the same operation in the `spiffe` crate (0.19); shown as primary's speed-up
  baseline/...  the raw operation (`==`, copying into an Arc<str>); every other entry is shown
                as a multiple of the group's first baseline

Usage: python3 benches/ratios.py [criterion dir]
The default is $CARGO_TARGET_DIR/criterion, else target/criterion of the workspace.
Times are criterion's median point estimates (ns), which are less noisy than means here.
"""

import json
import os
import sys
from pathlib import Path


def criterion_dir() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return Path(target) / "criterion"
    return Path(__file__).resolve().parent.parent / "target" / "criterion"


def load(root: Path) -> dict:
    groups: dict = {}
    for bench in sorted(root.glob("*/**/new/benchmark.json")):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        group = meta["group_id"]
        name = meta["function_id"] or meta.get("value_str") or meta["full_id"]
        groups.setdefault(group, {})[name] = estimates["median"]["point_estimate"]
    return groups


def fmt_time(ns: float) -> str:
    if ns >= 1000:
        return f"{ns / 1000:8.2f} us"
    return f"{ns:8.2f} ns"


def main() -> int:
    root = criterion_dir()
    groups = load(root)
    if not groups:
        print(f"no criterion results under {root}", file=sys.stderr)
        return 1
    for group, benches in groups.items():
        ours = sorted(n for n in benches if n.startswith("ours/"))
        baselines = sorted(n for n in benches if n.startswith("baseline/"))
        primary = "ours/parse" if "ours/parse" in benches else (ours[0] if ours else None)
        print(group)
        order = ours + sorted(n for n in benches if n.startswith("spiffe/")) + baselines
        order += sorted(n for n in benches if n not in order)
        for name in order:
            t = benches[name]
            notes = []
            if baselines and name not in baselines:
                notes.append(f"{t / benches[baselines[0]]:6.2f}x {baselines[0]}")
            if name.startswith("spiffe/") and primary:
                notes.append(f"{primary} is {t / benches[primary]:.2f}x faster")
            print(f"  {name:<28} {fmt_time(t)}   {'; '.join(notes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
