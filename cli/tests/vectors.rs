//! `verify`, `validate` and `inspect` through the binary over svid's vector corpus
//! (`svid/tests/data/vectors`, made by `cargo xtask gen-vectors`): each CLI verdict is the
//! library's, to the error variant; and bad input gets a clear error and exit code 2, never a
//! panic.
//!
//! shared/spec/SPIFFE-DIGEST.md 2.6, 3.4, 8.5 (X-1..X-10, J-1..J-11): the corpus has a refused
//! vector for each of these rules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test"
)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{assert_exit, describe, json, run};
use rustls_pki_types::pem::PemObject as _;
use serde_json::Value;
use svid::{
    Audience, BundleSet, CertificateDer, Crypto, JwtValidator, SpiffeBundle, TrustDomain, UnixTime,
    Usage, X509Bundle, X509Verifier,
};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../svid/tests/data/vectors")
}

fn manifest() -> Vec<Value> {
    let text = std::fs::read(corpus().join("manifest.json")).unwrap();
    let manifest: Value = serde_json::from_slice(&text).unwrap();
    manifest["vectors"].as_array().unwrap().clone()
}

fn file(relative: &Value) -> PathBuf {
    corpus().join(relative.as_str().unwrap())
}

fn bundle_args(vector: &Value) -> Vec<String> {
    vector["bundles"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(td, path)| {
            [
                "--bundle".to_owned(),
                format!("{td}={}", file(path).display()),
            ]
        })
        .collect()
}

/// What `svid` says about a vector, as the CLI's JSON reports it: `ok <id>` or the error's
/// Debug form (the variant path with its fields).
fn library_verdict(vector: &Value) -> String {
    let now = UnixTime::since_unix_epoch(Duration::from_secs(
        vector["validation_time_unix"].as_u64().unwrap(),
    ));
    let bundles = vector["bundles"].as_object().unwrap();
    let td = |name: &str| TrustDomain::parse(name).unwrap();
    if vector["kind"] == "x509" {
        let set = BundleSet::from_bundles(bundles.iter().map(|(name, path)| {
            SpiffeBundle::from(
                X509Bundle::from_pem(td(name), &std::fs::read(file(path)).unwrap()).unwrap(),
            )
        }))
        .unwrap();
        let usage = match vector["usage"].as_str() {
            Some("client_auth") => Usage::ClientAuth,
            Some("server_auth") => Usage::ServerAuth,
            _ => Usage::Any,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(
            &std::fs::read(file(&vector["files"]["chain"])).unwrap(),
        )
        .collect::<Result<_, _>>()
        .unwrap();
        match X509Verifier::new(set, &Crypto::default())
            .with_usage(usage)
            .verify(&chain, now)
        {
            Ok(verified) => format!("ok {}", verified.spiffe_id()),
            Err(error) => format!("{error:?}"),
        }
    } else {
        let set = BundleSet::from_bundles(bundles.iter().map(|(name, path)| {
            SpiffeBundle::parse(td(name), std::fs::read(file(path)).unwrap()).unwrap()
        }))
        .unwrap();
        let audience: Vec<String> = serde_json::from_value(vector["audience"].clone()).unwrap();
        let token = token(vector);
        match JwtValidator::new(set, &Crypto::default()).validate(
            &token,
            &Audience::new(audience).unwrap(),
            now,
        ) {
            Ok(verified) => format!("ok {}", verified.spiffe_id()),
            Err(error) => format!("{:?}", svid::Error::Jwt(error)),
        }
    }
}

fn token(vector: &Value) -> String {
    let document: Value =
        serde_json::from_slice(&std::fs::read(file(&vector["files"]["token"])).unwrap()).unwrap();
    document["token"].as_str().unwrap().to_owned()
}

/// What the binary says: runs `verify` or `validate` with the vector's bundles, time, usage
/// or audience, and reads the verdict from `--json`; exit 0 for ok, 1 for refused.
fn cli_verdict(vector: &Value) -> String {
    let at = vector["validation_time"].as_str().unwrap().to_owned();
    let mut args: Vec<String> = Vec::new();
    let stdin = if vector["kind"] == "x509" {
        args.extend([
            "verify".to_owned(),
            "--json".to_owned(),
            "--at".to_owned(),
            at,
        ]);
        let usage = match vector["usage"].as_str() {
            Some("client_auth") => "client",
            Some("server_auth") => "server",
            _ => "any",
        };
        args.extend(["--usage".to_owned(), usage.to_owned()]);
        args.extend(bundle_args(vector));
        args.push(file(&vector["files"]["chain"]).display().to_string());
        None
    } else {
        args.extend([
            "validate".to_owned(),
            "--json".to_owned(),
            "--at".to_owned(),
            at,
        ]);
        for audience in vector["audience"].as_array().unwrap() {
            args.extend([
                "--audience".to_owned(),
                audience.as_str().unwrap().to_owned(),
            ]);
        }
        args.extend(bundle_args(vector));
        args.push("-".to_owned());
        Some(token(vector).into_bytes())
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&args, stdin.as_deref());
    let value = json(&output);
    match value["verdict"].as_str() {
        Some("ok") => {
            assert_exit(&output, 0);
            format!("ok {}", value["spiffe_id"].as_str().unwrap())
        }
        Some("refused") => {
            assert_exit(&output, 1);
            value["error_debug"].as_str().unwrap().to_owned()
        }
        _ => panic!("no verdict: {}", describe(&output)),
    }
}

/// Every vector: the binary's verdict equals the library's, to the error variant and its
/// fields, and both agree with the manifest on ok versus refused.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-1..X-10, J-1..J-11; 2.6; 3.4.
#[test]
fn verify_and_validate_verdicts_match_the_library() {
    let vectors = manifest();
    assert!(vectors.len() >= 75, "the whole corpus");
    let mut mismatches = Vec::new();
    for vector in &vectors {
        let library = library_verdict(vector);
        let cli = cli_verdict(vector);
        let expected_ok = vector["expected"] == "ok";
        if library != cli || library.starts_with("ok ") != expected_ok {
            mismatches.push(format!(
                "{} ({}): manifest {}, library {library}, cli {cli}",
                vector["name"], vector["rule"], vector["expected"]
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// A refusal names the failed rule on stdout and on stderr, exit 1: an expired leaf is refused
/// at the vector's time (SVID validity, shared/spec/SPIFFE-DIGEST.md 2.6 step 5).
#[test]
fn refusal_prints_the_rule() {
    let vector = manifest()
        .into_iter()
        .find(|v| {
            v["expected"]
                .as_str()
                .is_some_and(|e| e.starts_with("Verify(Expired"))
        })
        .expect("an expired-leaf vector");
    let mut args = vec!["verify".to_owned(), "--at".to_owned()];
    args.push(vector["validation_time"].as_str().unwrap().to_owned());
    args.extend(bundle_args(&vector));
    args.push(file(&vector["files"]["chain"]).display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&args, None);
    assert_exit(&output, 1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("REFUSED: ") && stdout.contains("expired"),
        "{}",
        describe(&output)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("the chain was refused"));
}

/// `inspect` reads every corpus file without a panic: chains, keys and bundle documents are
/// described (exit 0, valid JSON); the corpus's `{"token": ...}` wrappers are no format
/// `inspect` knows (exit 2 with a reason), and the tokens inside are decoded (exit 0) or, for
/// the JWE and JSON-serialization vectors, refused with a reason (exit 2). Key files are
/// described by type and their base64 never appears in the output.
#[test]
fn inspect_reads_every_corpus_file_and_never_prints_key_material() {
    let mut files: Vec<PathBuf> = Vec::new();
    for kind in ["x509", "jwt"] {
        for entry in std::fs::read_dir(corpus().join(kind)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    files.sort();
    assert!(files.len() > 150);
    for path in &files {
        let shown = path.display().to_string();
        let wrapper = shown.ends_with(".token.json");
        for args in [
            &["inspect", "--json", shown.as_str()][..],
            &["inspect", shown.as_str()][..],
        ] {
            let output = run(args, None);
            assert_exit(&output, if wrapper { 2 } else { 0 });
            if args.len() == 3 {
                assert!(json(&output).is_array());
            }
            if shown.ends_with(".key.pem") {
                let key = std::fs::read_to_string(path).unwrap();
                let printed = String::from_utf8_lossy(&output.stdout);
                assert!(printed.contains("Private key") || printed.contains("private_key"));
                for line in key
                    .lines()
                    .filter(|l| !l.starts_with("-----") && l.len() > 16)
                {
                    assert!(!printed.contains(line), "{shown}: key material printed");
                }
            }
        }
    }
    let mut decoded = 0;
    for vector in manifest().iter().filter(|v| v["kind"] == "jwt") {
        let output = run(&["inspect", "--json", "-"], Some(token(vector).as_bytes()));
        assert!(
            matches!(output.status.code(), Some(0 | 2)),
            "{}",
            describe(&output)
        );
        if output.status.success() {
            assert_eq!(json(&output)[0]["verified"], false);
            decoded += 1;
        }
    }
    assert!(decoded >= 25, "{decoded} tokens decoded");
}

/// A token is decoded and marked NOT VERIFIED, with its claims and whether svid accepts its
/// structure; a bundle document reports each key the parser ignored and why (SPIFFE bundle
/// 4.2.1: entries a consumer cannot use are ignored).
#[test]
fn inspect_jwt_and_bundle_ignored_keys() {
    let vector = manifest()
        .into_iter()
        .find(|v| v["name"] == "alg-eddsa")
        .unwrap();
    let token = token(&vector);
    let output = run(&["inspect", "-"], Some(token.as_bytes()));
    assert_exit(&output, 0);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("NOT VERIFIED"), "{text}");
    assert!(
        text.contains("\"sub\":\"spiffe://example.org/workload\""),
        "{text}"
    );
    assert!(text.contains("JWT-SVID structure: refused"), "{text}");

    let bundle = file(&vector["bundles"]["example.org"])
        .display()
        .to_string();
    let output = run(&["inspect", "--json", &bundle], None);
    assert_exit(&output, 0);
    let value = json(&output);
    assert_eq!(value[0]["kind"], "bundle");
    assert_eq!(value[0]["trust_domain"], "example.org");
    let ignored = value[0]["ignored"].as_array().unwrap();
    assert_eq!(ignored.len(), 1, "{value}");
    assert!(
        ignored[0]["reason"].as_str().unwrap().contains("OKP"),
        "{value}"
    );
}

/// Bad input is a clear error with exit 2, never a panic: unknown bytes, a missing file, a
/// malformed `--at`, a truncated PEM chain, a bundle given without a trust domain where none
/// can be inferred, an empty audience.
#[test]
fn bad_input_is_exit_2_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, [0xffu8, 0x00, 0x13, 0x37]).unwrap();
    let junk = junk.display().to_string();
    let truncated = dir.path().join("truncated.pem");
    std::fs::write(&truncated, "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
    let truncated = truncated.display().to_string();
    let vector = manifest()
        .into_iter()
        .find(|v| v["name"] == "valid-leaf-under-root")
        .unwrap();
    let bundle = file(&vector["bundles"]["example.org"])
        .display()
        .to_string();
    let chain = file(&vector["files"]["chain"]).display().to_string();
    let no_id = manifest()
        .into_iter()
        .find(|v| v["name"] == "leaf-no-uri-san")
        .unwrap();
    let no_id_chain = file(&no_id["files"]["chain"]).display().to_string();
    let junk_bundle = format!("example.org={junk}");

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["inspect", &junk], "not a PEM or DER"),
        (vec!["inspect", "/nonexistent/file.pem"], "cannot read"),
        (
            vec!["verify", "--bundle", &bundle, "/nonexistent/chain.pem"],
            "cannot read",
        ),
        (
            vec!["verify", "--bundle", &bundle, "--at", "yesterday", &chain],
            "RFC 3339",
        ),
        (vec!["verify", "--bundle", &bundle, &truncated], "chain"),
        (vec!["verify", "--bundle", &bundle, &junk], "chain"),
        (
            vec!["verify", "--bundle", &bundle, &no_id_chain],
            "cannot tell its trust domain",
        ),
        (vec!["verify", "--bundle", &junk_bundle, &chain], "bundle"),
        (
            vec!["verify", "--bundle", "not a td=x", &chain],
            "not a trust domain",
        ),
        (
            vec![
                "validate",
                "--bundle",
                &bundle,
                "--audience",
                "",
                "tok.en.x",
            ],
            "--audience",
        ),
    ];
    for (args, reason) in cases {
        let output = run(&args, None);
        assert_exit(&output, 2);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(reason),
            "{args:?}: expected {reason:?}: {}",
            describe(&output)
        );
    }
}
