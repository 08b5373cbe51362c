//! Replays the checked-in fuzz corpus on stable: every file of `fuzz/corpus/<target>/` goes
//! through the same property check as the libFuzzer target of that name (`fuzz/checks/`).
//!
//! The fuzz crate stays outside the workspace (it needs `RUSTC_BOOTSTRAP=1` or nightly), so the
//! checks are plain files that both include with `#[path]`. This crate (`benches`) is the
//! workspace member that already depends on every library crate, so the test lives here.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[path = "../../fuzz/checks/mod.rs"]
mod checks;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn sorted_entries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut entries = fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

/// The `name = "..."` of each `[[bin]]` table of `fuzz/Cargo.toml` (what `smoke.sh` runs).
fn bin_names(manifest: &str) -> BTreeSet<String> {
    let mut bins = BTreeSet::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            if let Some(name) = line.strip_prefix("name = ") {
                bins.insert(name.trim_matches('"').to_owned());
            }
        }
    }
    bins
}

#[test]
fn every_corpus_file_passes_its_target_check() {
    let corpus = fuzz_dir().join("corpus");
    let mut failures = Vec::new();
    let mut replayed = 0usize;
    for &(target, check) in checks::TARGETS {
        let dir = corpus.join(target);
        assert!(dir.is_dir(), "missing seed corpus {}", dir.display());
        let files = sorted_entries(&dir).unwrap();
        assert!(!files.is_empty(), "empty seed corpus {}", dir.display());
        for file in files {
            let data = fs::read(&file).unwrap();
            // Keep going after a failure so one run names every failing file.
            if panic::catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failures.push(file.display().to_string());
            }
            replayed += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "property violations:\n{}",
        failures.join("\n")
    );
    assert!(replayed > 0);
}

#[test]
fn targets_bins_sources_and_corpora_agree() {
    let fuzz = fuzz_dir();
    let known: BTreeSet<String> = checks::TARGETS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    let manifest = fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
    assert_eq!(
        bin_names(&manifest),
        known,
        "fuzz/Cargo.toml [[bin]] names differ from checks::TARGETS"
    );
    for name in &known {
        let source = fuzz.join("fuzz_targets").join(format!("{name}.rs"));
        assert!(source.is_file(), "missing {}", source.display());
    }
    let corpora: BTreeSet<String> = sorted_entries(&fuzz.join("corpus"))
        .unwrap()
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    assert_eq!(
        corpora, known,
        "fuzz/corpus/ folders differ from checks::TARGETS"
    );
}
