//! Replays the checked-in vector corpus (`tests/data/vectors/`, written by
//! `cargo xtask gen-vectors`; see its README) against `svid`.
//!
//! Each vector states its validation time, its usage (X.509) or audience (JWT), and the exact
//! expected outcome: `ok` with a SPIFFE ID, or the `svid` error variant. The corpus itself is
//! held to its manifest: the vector count matches, every file the manifest names exists, and no
//! file is left unreferenced. Every X-1..X-10 and J-1..J-11 rule of the digest index has at least
//! one refused vector.
//!
//! shared/spec/SPIFFE-DIGEST.md 2.6, 3.4, 8.5 (X-1..X-10, J-1..J-11).

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code and its helpers: a panic is a failed test"
)]

mod vector_corpus;

use std::collections::BTreeSet;
use std::path::Path;

use svid::{Crypto, X509Svid};
use vector_corpus::{Kind, Outcome, load, run_svid};

/// Every vector gives exactly its expected outcome, at its own validation time.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-1..X-10, J-1..J-11; 2.6; 3.4.
#[test]
fn every_vector_has_its_expected_outcome() {
    let manifest = load();
    let mismatches: Vec<String> = manifest
        .vectors
        .iter()
        .filter_map(|vector| {
            let expected = vector.expected_outcome();
            let got = run_svid(vector);
            (got != expected).then(|| {
                format!(
                    "{} ({}): expected {expected}, got {got}",
                    vector.name, vector.rule
                )
            })
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} vectors differ:\n{}",
        mismatches.len(),
        manifest.vectors.len(),
        mismatches.join("\n")
    );
}

/// The manifest's `count` is the number of vectors; names are unique; both kinds are there.
#[test]
fn vector_count_matches_the_manifest() {
    let manifest = load();
    assert_eq!(manifest.format, 1);
    assert_eq!(manifest.count, manifest.vectors.len());
    let names: BTreeSet<&str> = manifest.vectors.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names.len(),
        manifest.vectors.len(),
        "duplicate vector names"
    );
    for kind in [Kind::X509, Kind::Jwt] {
        assert!(
            manifest.vectors.iter().any(|v| v.kind == kind),
            "no {kind:?} vector"
        );
    }
}

/// Every file the manifest names exists, and every file of the corpus folder is named by the
/// manifest (besides the manifest and the README): no orphan from a removed vector.
#[test]
fn every_file_is_referenced_and_present() {
    let manifest = load();
    let mut referenced: BTreeSet<String> = ["manifest.json", "README.md"].map(str::to_owned).into();
    for vector in &manifest.vectors {
        referenced.extend(vector.files.values().cloned());
        referenced.extend(vector.bundles.values().cloned());
    }
    let root = vector_corpus::dir();
    let mut present = BTreeSet::new();
    collect_files(&root, &root, &mut present);
    let missing: Vec<_> = referenced.difference(&present).collect();
    let orphans: Vec<_> = present.difference(&referenced).collect();
    assert!(
        missing.is_empty(),
        "named by the manifest but absent: {missing:?}"
    );
    assert!(orphans.is_empty(), "not named by the manifest: {orphans:?}");
}

fn collect_files(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(root, &path, out);
        } else {
            let relative = path.strip_prefix(root).unwrap();
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.insert(parts.join("/"));
        }
    }
}

/// Every rule X-1..X-10 and J-1..J-11 of the digest's index is exercised by at least one
/// refused vector that cites it (STYLE rule 8).
///
/// shared/spec/SPIFFE-DIGEST.md 8.5.
#[test]
fn every_indexed_rule_has_a_refused_vector() {
    let manifest = load();
    let cited: BTreeSet<&str> = manifest
        .vectors
        .iter()
        .filter(|v| v.expected != "ok")
        .flat_map(|v| {
            v.rule
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .filter(|word| !word.is_empty())
        })
        .collect();
    let rules = (1..=10)
        .map(|n| format!("X-{n}"))
        .chain((1..=11).map(|n| format!("J-{n}")));
    let uncovered: Vec<String> = rules.filter(|r| !cited.contains(r.as_str())).collect();
    assert!(
        uncovered.is_empty(),
        "no refused vector cites {uncovered:?}"
    );
    for vector in &manifest.vectors {
        assert!(
            vector.rule.starts_with("digest "),
            "{}: the rule must cite the digest",
            vector.name
        );
    }
}

/// The accepted X.509 vectors also load as a workload's own SVID with their key: the profile
/// checks of `X509Svid` and of the verifier agree on them.
#[test]
fn accepted_x509_vectors_load_as_own_svid() {
    let manifest = load();
    let backend = Crypto::default();
    let mut checked = 0;
    for vector in manifest
        .vectors
        .iter()
        .filter(|v| v.kind == Kind::X509 && v.expected == "ok")
    {
        let svid = X509Svid::from_pem(&vector.file("chain"), &vector.file("key"), &backend)
            .unwrap_or_else(|e| panic!("{}: {e}", vector.name));
        assert_eq!(
            Outcome::Ok(svid.spiffe_id().as_str().to_owned()),
            vector.expected_outcome(),
            "{}",
            vector.name
        );
        checked += 1;
    }
    assert!(checked > 0);
}
