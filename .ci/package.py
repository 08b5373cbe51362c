#!/usr/bin/env python3
"""Checks that every publishable crate of the workspace can go to crates.io and docs.rs.

The publishable crates are the workspace members without `publish = false`. For them:

1. `cargo package --list`: the README, LICENSE-MIT and LICENSE-APACHE are in each package, and
   nothing from a target directory or over 1 MiB is.
2. Each README's first `rust` block is the first doc example of the crate's `src/lib.rs`
   (without rustdoc's hidden `# ` lines), so the two cannot drift apart.
3. `cargo package -p ... -p ...`: every crate packaged and built from its .crate file. Our
   crates depend on each other by version, so cargo verifies them together through a local
   overlay registry (cargo >= 1.90).
4. `cargo doc` as docs.rs runs it: nightly features on (RUSTC_BOOTSTRAP), `--cfg docsrs`, every
   feature and the crate's `[package.metadata.docs.rs] rustdoc-args`.

Run from the workspace root: `python3 .ci/package.py` (`--allow-dirty` for uncommitted work).
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

MAX_FILE_BYTES = 1024 * 1024
REQUIRED_FILES = ("README.md", "LICENSE-MIT", "LICENSE-APACHE")


def cargo(*args, env=None, capture=False):
    print("+ cargo " + " ".join(args), flush=True)
    result = subprocess.run(
        ("cargo",) + args,
        env=env,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return result.stdout


def forget_stale_overlay_copies(packages):
    """Removes earlier runs' unpacked copies of our crates from cargo's registry cache.

    The overlay registry of step 3 is named after the workspace path, and cargo never unpacks a
    crate again once `registry/src/<registry>/<name>-<version>` exists. On a machine that ran an
    older commit from the same path, cargo would otherwise build the *old* sources of an
    unchanged version number and report errors that are not in this commit.
    """
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    releases = {f"{p['name']}-{p['version']}" for p in packages}
    for kind, suffix in (("src", ""), ("cache", ".crate")):
        for registry in (cargo_home / "registry" / kind).glob("*"):
            if registry.name.startswith("index.crates.io"):
                continue
            for release in releases:
                stale = registry / (release + suffix)
                if stale.is_dir():
                    shutil.rmtree(stale)
                elif stale.exists():
                    stale.unlink()


def first_doc_example(lib_rs):
    """The first fenced example of the `//!` crate docs, hidden lines removed, or None."""
    docs = []
    for line in lib_rs.read_text().splitlines():
        if line.startswith("//! "):
            docs.append(line[4:])
        elif line.startswith("//!"):
            docs.append(line[3:])
    block = None
    for line in docs:
        if block is None:
            if re.fullmatch(r"```[\w,]*", line):
                block = []
        elif line == "```":
            return block
        elif not (line == "#" or line.startswith("# ")):
            block.append(line)
    return None


def first_readme_example(readme):
    block = None
    for line in readme.read_text().splitlines():
        if block is None:
            if line == "```rust":
                block = []
        elif line == "```":
            return block
        else:
            block.append(line)
    return None


def main():
    allow_dirty = ["--allow-dirty"] if "--allow-dirty" in sys.argv[1:] else []
    metadata = json.loads(cargo("metadata", "--no-deps", "--format-version", "1", capture=True))
    packages = [p for p in metadata["packages"] if p["publish"] != []]
    failures = []

    for package in packages:
        name = package["name"]
        root = Path(package["manifest_path"]).parent
        listed = cargo("package", "--list", "-p", name, *allow_dirty, capture=True).split()
        for required in REQUIRED_FILES:
            if required not in listed:
                failures.append(f"{name}: {required} is not in the package")
        for path in listed:
            file = root / path
            if path.startswith("target/") or "/target/" in path:
                failures.append(f"{name}: packages a build output: {path}")
            elif file.is_file() and file.stat().st_size > MAX_FILE_BYTES:
                failures.append(f"{name}: {path} is over {MAX_FILE_BYTES} bytes")
        rs = (package["metadata"] or {}).get("docs", {}).get("rs", {})
        if rs.get("all-features") is not True:
            failures.append(f"{name}: [package.metadata.docs.rs] must set all-features = true")

        doc_example = first_doc_example(root / "src" / "lib.rs")
        readme_example = first_readme_example(root / "README.md")
        if doc_example is None:
            print(f"note: {name}: src/lib.rs has no crate-level example; README example not checked")
        elif readme_example != doc_example:
            failures.append(
                f"{name}: the first `rust` block of README.md is not the first doc example of "
                "src/lib.rs (hidden `# ` lines removed); copy it over"
            )
    if failures:
        sys.exit("package checks failed:\n  " + "\n  ".join(failures))

    selection = [arg for p in packages for arg in ("-p", p["name"])]
    forget_stale_overlay_copies(packages)
    cargo("package", *selection, *allow_dirty)

    for package in packages:
        rs = package["metadata"]["docs"]["rs"]
        flags = ["-Dwarnings", "--cfg", "docsrs"] + rs.get("rustdoc-args", [])
        env = dict(os.environ, RUSTC_BOOTSTRAP="1", CARGO_ENCODED_RUSTDOCFLAGS="\x1f".join(flags))
        env.pop("RUSTDOCFLAGS", None)
        cargo("doc", "-p", package["name"], "--all-features", "--no-deps", env=env)

    print(f"package.py: {len(packages)} crates packaged, verified and documented as on docs.rs")


if __name__ == "__main__":
    main()
