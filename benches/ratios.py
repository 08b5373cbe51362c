#!/usr/bin/env python3
"""Prints the ratios of one `cargo bench -p benches` run from criterion's estimates.

Bench IDs follow one naming scheme, `<group>/<kind>/<op>[.<variant>]`:
  ours/...      our operation
  spiffe/...    the same operation in the `spiffe` crate (0.19)
  baseline/...  the raw operation (a signature, `==`, copying into an Arc<str>)
  anything else (rcgen/..., ...) another implementation, shown against the baseline only

Like is compared with like only. Every entry that is not a baseline is shown as a multiple of
the group's first baseline. A `spiffe/<op>[.<variant>]` entry is compared with our entry for the
same `<op>` (`ours/<op>` or `ours/<op>.<variant>`), and with nothing else: a peer entry without
a counterpart of ours gets no speed-up line.

Only the current run is read. `python3 benches/ratios.py run [cargo bench args]` records when it
starts, runs `cargo bench -p benches [args]` and prints the entries that run wrote. Without
`run`, the entries written since the last `run` started are printed; entries older than that
(groups renamed or no longer benched) are skipped and counted. `--all` prints every entry.

Usage:
  python3 benches/ratios.py run [-- cargo bench args]
  python3 benches/ratios.py [--all] [criterion dir]
The default directory is $CARGO_TARGET_DIR/criterion, else target/criterion of the workspace.
Times are criterion's median point estimates (ns), which are less noisy than means here.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

MARKER = ".ratios-run-started"


def criterion_dir(args: list) -> Path:
    if args:
        return Path(args[0])
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return Path(target) / "criterion"
    return Path(__file__).resolve().parent.parent / "target" / "criterion"


def load(root: Path, since: float) -> tuple:
    """The groups written at or after `since` (seconds), and how many older entries were skipped."""
    groups: dict = {}
    skipped = 0
    for bench in sorted(root.glob("*/**/new/benchmark.json")):
        estimates_file = bench.parent / "estimates.json"
        if estimates_file.stat().st_mtime < since:
            skipped += 1
            continue
        meta = json.loads(bench.read_text())
        estimates = json.loads(estimates_file.read_text())
        group = meta["group_id"]
        name = meta["function_id"] or meta.get("value_str") or meta["full_id"]
        groups.setdefault(group, {})[name] = estimates["median"]["point_estimate"]
    return groups, skipped


def op_of(name: str) -> str:
    """`spiffe/parse.new` -> `parse`: the operation an entry measures, without its kind."""
    return name.split("/", 1)[-1].split(".", 1)[0]


def counterpart(name: str, ours: list):
    """Our entry measuring the same operation as the peer entry `name`, if there is one."""
    same = [n for n in ours if op_of(n) == op_of(name)]
    return same[0] if same else None


def fmt_time(ns: float) -> str:
    if ns >= 1000:
        return f"{ns / 1000:8.2f} us"
    return f"{ns:8.2f} ns"


def report(groups: dict) -> None:
    for group, benches in sorted(groups.items()):
        ours = sorted(n for n in benches if n.startswith("ours/"))
        peers = sorted(n for n in benches if n.startswith("spiffe/"))
        baselines = sorted(n for n in benches if n.startswith("baseline/"))
        print(group)
        order = ours + peers + baselines
        order += sorted(n for n in benches if n not in order)
        for name in order:
            t = benches[name]
            notes = []
            if baselines and name not in baselines:
                notes.append(f"{t / benches[baselines[0]]:6.2f}x {baselines[0]}")
            if name in peers:
                mine = counterpart(name, ours)
                if mine:
                    notes.append(f"{mine} is {t / benches[mine]:.2f}x faster")
                else:
                    notes.append("no like-for-like entry of ours")
            print(f"  {name:<36} {fmt_time(t)}   {'; '.join(notes)}")


def main(argv: list) -> int:
    if argv[:1] == ["run"]:
        extra = argv[1:]
        if extra[:1] == ["--"]:
            extra = extra[1:]
        root = criterion_dir([])
        root.mkdir(parents=True, exist_ok=True)
        started = time.time()
        (root / MARKER).write_text(f"{started}\n")
        status = subprocess.call(["cargo", "bench", "-p", "benches", *extra])
        if status != 0:
            return status
        since = started
    else:
        show_all = "--all" in argv
        root = criterion_dir([a for a in argv if a != "--all"])
        marker = root / MARKER
        since = 0.0
        if not show_all and marker.exists():
            since = float(marker.read_text().strip() or 0)
    groups, skipped = load(root, since)
    if not groups:
        print(f"no criterion results of the current run under {root}", file=sys.stderr)
        return 1
    report(groups)
    if skipped:
        print(f"\n({skipped} entries from earlier runs skipped; --all shows them)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
