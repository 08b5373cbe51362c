#!/usr/bin/env python3
"""Tests of ratios.py: like-for-like pairing, and only the current run's entries."""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ratios  # noqa: E402


def write(root: Path, group: str, name: str, ns: float, mtime: float) -> None:
    folder = root / group / name.replace("/", "_") / "new"
    folder.mkdir(parents=True)
    (folder / "benchmark.json").write_text(
        json.dumps({"group_id": group, "function_id": name, "full_id": f"{group}/{name}"})
    )
    estimates = folder / "estimates.json"
    estimates.write_text(json.dumps({"median": {"point_estimate": ns}}))
    os.utime(estimates, (mtime, mtime))


def run(root: Path, *args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ratios.main([*args, str(root)])
    return out.getvalue()


class Ratios(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_peer_is_compared_only_with_the_same_operation(self) -> None:
        now = 2_000_000_000.0
        write(self.root, "x509", "ours/verify", 40_000, now)
        write(self.root, "x509", "ours/parse_only.x509svid_new", 2_000, now)
        write(self.root, "x509", "spiffe/parse_only.parse_from_der", 4_000, now)
        write(self.root, "x509", "spiffe/other_thing", 9_000, now)
        write(self.root, "x509", "baseline/sign", 20_000, now)
        text = run(self.root)
        peer = next(l for l in text.splitlines() if "spiffe/parse_only" in l)
        self.assertIn("ours/parse_only.x509svid_new is 2.00x faster", peer)
        self.assertNotIn("ours/verify is", text)
        other = next(l for l in text.splitlines() if "spiffe/other_thing" in l)
        self.assertIn("no like-for-like entry of ours", other)
        verify = next(l for l in text.splitlines() if "ours/verify" in l)
        self.assertIn("2.00x baseline/sign", verify)

    def test_entries_older_than_the_run_are_skipped(self) -> None:
        write(self.root, "stale_group", "ours/op", 10, 1_000_000_000.0)
        write(self.root, "fresh_group", "ours/op", 10, 2_000_000_000.0)
        (self.root / ratios.MARKER).write_text("1500000000.0\n")
        text = run(self.root)
        self.assertIn("fresh_group", text)
        self.assertNotIn("stale_group", text)
        self.assertIn("1 entries from earlier runs skipped", text)
        self.assertIn("stale_group", run(self.root, "--all"))


if __name__ == "__main__":
    unittest.main()
