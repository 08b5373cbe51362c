//! Differential test against go-spiffe 2.5.0, the reference implementation SPIRE is built on.
//!
//! The test mints a corpus of X.509-SVID chains (rcgen) and JWT-SVIDs (ring) with bundles for
//! them, runs [`X509Verifier`] / [`JwtValidator`] on each input, and hands the same inputs to
//! `interop/.go/bin/spiffediff` (`interop/go/gopath/src/spiffediff/main.go`), which runs
//! go-spiffe's `x509svid.ParseAndVerify` and `jwtsvid.ParseAndValidate` against `x509bundle` /
//! `jwtbundle` sets parsed from the same SPIFFE bundle documents with `spiffebundle.Parse`
//! (ours parse them with [`SpiffeBundle::parse`]).
//!
//! - Every case states our expected verdict, so a harness that rejects everything fails.
//! - Where the two implementations agree, nothing more is asked (accepted IDs must be equal).
//! - Where they disagree, the case must be listed in [`EXPECTED_DISAGREEMENTS`] with the side we
//!   take and the spec rule that makes it right; any other disagreement fails the test, and so
//!   does a listed disagreement that no longer happens (the list must stay exact).
//!
//! X.509 material is valid 2026-01-01 to 2027-01-01 and verified at 2026-06-01 on both sides
//! (`x509svid.WithTime`). go-spiffe 2.5.0's JWT validation always reads the system clock, so
//! JWT-SVIDs are minted around the current time and our validator runs at the current time.
//! Our X.509 verifier runs with [`Usage::Any`], as go-spiffe's `Verify` ignores extended key
//! usage.
//!
//! The Go program is built by `interop/go/setup.sh`. Without it the test is skipped with a
//! printed reason, except under CI (`CI=true`), where it fails.

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code and its helpers: a panic is a failed test"
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
    SanType,
};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::{Value, json};
use spiffe_id::TrustDomain;
use svid::{Audience, Crypto, JwtValidator, X509Verifier};
use test_support::differential::{self, Expected, Judgement, Ours, judge};
use test_support::pem::{flip_signature as flip_last, tlv};
use test_support::time::unix_now;
use test_support::x509::{self, KeyType, raw_extension as extension, uri, validity as dates};
use trust_bundle::{
    BundleSet, EcCurve, EcPublicKey, JwtBundle, JwtKey, RsaPublicKey, SpiffeBundle, X509Bundle,
};

// ---- expected disagreements -------------------------------------------------------------

/// Every case on which we differ from go-spiffe 2.5.0, and why we are right.
const EXPECTED_DISAGREEMENTS: &[Expected] = &[
    // ---- X.509 ----
    Expected {
        case: "x509/X-4/leaf-root-path",
        ours: Ours::Rejects,
        rule: "X509-SVID 3.1, 5.2: a leaf's SPIFFE ID MUST have a non-root path and validators \
               MUST check it (digest X-4, 8.4 item 9); go-spiffe's Verify does not",
    },
    Expected {
        case: "x509/leaf-no-key-usage",
        ours: Ours::Rejects,
        rule: "X509-SVID 4.3: a leaf MUST carry keyUsage with digitalSignature (digest 2.2, 2.6); \
               go-spiffe checks it only when parsing its own SVID, not in Verify",
    },
    Expected {
        case: "x509/leaf-no-digital-signature",
        ours: Ours::Rejects,
        rule: "X509-SVID 4.3: a leaf's keyUsage MUST set digitalSignature (digest 2.2, 2.6); \
               go-spiffe's Verify skips this check",
    },
    Expected {
        case: "x509/X-3/uppercase-scheme",
        ours: Ours::Rejects,
        rule: "SPIFFE-ID 2: the scheme MUST be `spiffe`; the decided reading of 2.4 is lowercase \
               only, never normalized (digest 1.5, 8.4 item 1; go-spiffe's own FromString \
               rejects it). Go's x509 parser runs URI SANs through url.Parse, which lowercases \
               the scheme before go-spiffe validates the ID",
    },
    Expected {
        case: "x509/X-3/empty-fragment",
        ours: Ours::Rejects,
        rule: "SPIFFE-ID 2: a SPIFFE ID MUST NOT have a fragment (digest ID-3); validate the raw \
               bytes, never a URL parser's rendering (digest 1.5). Go's url.Parse drops an \
               empty `#`, so go-spiffe validates a different string than the certificate holds",
    },
    Expected {
        case: "x509/X-10/intermediate-without-key-usage",
        ours: Ours::Rejects,
        rule: "X509-SVID 4.3: keyUsage MUST be present on signing certificates, with \
               keyCertSign (digest 2.3, X-10); Go checks keyCertSign only when a keyUsage \
               extension is present",
    },
    Expected {
        case: "x509/authority-without-key-usage",
        ours: Ours::Rejects,
        rule: "X509-SVID 3.2, 4.3: a signing certificate (bundle authorities included) MUST \
               carry keyUsage with keyCertSign; Go checks keyCertSign only when a keyUsage \
               extension is present",
    },
    Expected {
        case: "x509/intermediate-id-with-path",
        ours: Ours::Rejects,
        rule: "X509-SVID 3.2: a signing certificate's SPIFFE ID MUST NOT have a path; go-spiffe \
               does not look at intermediates' URI SANs",
    },
    Expected {
        case: "x509/X-13/x5c-two-certificates",
        ours: Ours::Accepts,
        rule: "X509-SVID 6.2 (digest 2.5, X-13, 8.4 item 10): when x5c holds several \
               certificates, consumers MUST use the first; go-spiffe refuses the whole bundle",
    },
    Expected {
        case: "x509/X-13/x5c-empty-entry",
        ours: Ours::Accepts,
        rule: "X509-SVID 6.2 (digest 2.5, X-13, 8.4 item 10): an x509-svid entry without x5c is \
               ignored, not an error; go-spiffe refuses the whole bundle",
    },
    // ---- JWT ----
    Expected {
        case: "jwt/J-3/typ-wit+jwt",
        ours: Ours::Rejects,
        rule: "JWT-SVID 2.3: typ, when present, MUST be JWT or JOSE (digest J-3); go-spiffe \
               2.5.0 does not read typ",
    },
    Expected {
        case: "jwt/J-3/typ-lowercase-jwt",
        ours: Ours::Rejects,
        rule: "JWT-SVID 2.3 and its schema: typ is JWT or JOSE, case-sensitive (digest 3.2, J-3); \
               go-spiffe 2.5.0 does not read typ",
    },
    Expected {
        case: "jwt/J-5/empty-expected-audience",
        ours: Ours::Rejects,
        rule: "JWT-SVID 3.2: the validator MUST check the token's aud against the audience it \
               identifies as; an empty expectation is refused at construction (digest 3.4 step \
               8, 8.1); go-jose skips the check when AnyAudience is empty",
    },
    Expected {
        case: "jwt/J-8/root-subject",
        ours: Ours::Rejects,
        rule: "JWT-SVID 3.1: sub MUST be the SPIFFE ID of the workload, and a trust domain ID \
               (no path) names no workload (X509-SVID 3.1 draws the same line); go-spiffe \
               accepts any valid ID (a deliberate choice here, digest 3.3 [rec] differs)",
    },
    Expected {
        case: "jwt/J-1/whitespace-inside",
        ours: Ours::Rejects,
        rule: "RFC 7515 2, 7.1 (JWT-SVID 1: compact serialization only): base64url is written \
               without line breaks, whitespace or other characters; Go's base64 decoder skips \
               CR and LF, so go-jose accepts a token with a newline inside",
    },
    Expected {
        case: "jwt/header-jku",
        ours: Ours::Rejects,
        rule: "JWT-SVID 2: only alg, kid and typ may appear in the JOSE header (digest 3.2, \
               8.4 item 7, J-12); go-spiffe ignores extra headers",
    },
    Expected {
        case: "jwt/header-x5c",
        ours: Ours::Rejects,
        rule: "JWT-SVID 2: only alg, kid and typ may appear in the JOSE header (digest 3.2, \
               8.4 item 7); go-spiffe ignores extra headers",
    },
    Expected {
        case: "jwt/header-private",
        ours: Ours::Rejects,
        rule: "JWT-SVID 2: private headers MUST NOT be included (digest 3.2, 8.4 item 7); \
               go-spiffe ignores extra headers",
    },
    Expected {
        case: "jwt/iat-in-future",
        ours: Ours::Accepts,
        rule: "JWT-SVID 3 makes iat optional and 4 sets no rule for it; RFC 7519 4.1.6 defines \
               iat as informational, with no validation; go-jose refuses a future iat \
               (digest 3.4 step 7, [de facto])",
    },
];

// ---- the Go program ---------------------------------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Go program, or `None` (after printing why) when the test should be skipped.
fn go_program() -> Option<PathBuf> {
    let program = repo_root().join("interop/.go/bin/spiffediff");
    if program.exists() {
        return Some(program);
    }
    let message = format!(
        "go-spiffe differential test: {} is missing; run `bash interop/go/setup.sh` to build it",
        program.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("skipped: {message}");
    None
}

/// One verdict: accepted with this SPIFFE ID, or refused with this error.
type Verdict = Result<String, String>;

/// Runs the Go program on a job and returns its verdicts by case name.
fn run_go(program: &Path, job: &Value) -> BTreeMap<String, Verdict> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.json");
    std::fs::write(&path, serde_json::to_vec(job).unwrap()).unwrap();
    let output = Command::new(program).arg(&path).output().unwrap();
    assert!(
        output.status.success(),
        "spiffediff failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    eprintln!(
        "go-spiffe side: {} (jwt clock {})",
        report["go"], report["jwt_clock"]
    );
    let mut verdicts = BTreeMap::new();
    for result in report["results"].as_array().unwrap() {
        let name = result["name"].as_str().unwrap().to_owned();
        let verdict = if result["ok"].as_bool().unwrap() {
            Ok(result["spiffe_id"].as_str().unwrap().to_owned())
        } else {
            Err(result["error"].as_str().unwrap().to_owned())
        };
        assert!(
            verdicts.insert(name.clone(), verdict).is_none(),
            "duplicate {name}"
        );
    }
    verdicts
}

// ---- cases and comparison ---------------------------------------------------------------

/// The input of one case.
enum Input {
    X509(Vec<CertificateDer<'static>>),
    Jwt {
        token: String,
        audience: Vec<String>,
    },
}

/// One input, our expected verdict, and optionally its own bundles (a map from trust domain
/// name to SPIFFE bundle document) instead of the corpus's.
struct Case {
    name: String,
    input: Input,
    accept: bool,
    bundles: Option<Value>,
}

/// A corpus: shared bundles and the cases.
struct Corpus {
    bundles: Value,
    cases: Vec<Case>,
}

impl Corpus {
    fn new(bundles: Value) -> Self {
        Self {
            bundles,
            cases: Vec::new(),
        }
    }

    fn push(&mut self, name: &str, input: Input, accept: bool, bundles: Option<Value>) {
        assert!(
            self.cases.iter().all(|c| c.name != name),
            "duplicate case {name}"
        );
        self.cases.push(Case {
            name: name.to_owned(),
            input,
            accept,
            bundles,
        });
    }

    fn x509(&mut self, name: &str, chain: &[&CertificateDer<'static>], accept: bool) {
        let chain = chain.iter().map(|&c| c.clone()).collect();
        self.push(name, Input::X509(chain), accept, None);
    }

    fn x509_with(
        &mut self,
        name: &str,
        chain: &[&CertificateDer<'static>],
        accept: bool,
        bundles: Value,
    ) {
        let chain = chain.iter().map(|&c| c.clone()).collect();
        self.push(name, Input::X509(chain), accept, Some(bundles));
    }

    fn jwt(&mut self, name: &str, token: String, accept: bool) {
        self.jwt_for(name, token, &[AUD], accept);
    }

    fn jwt_for(&mut self, name: &str, token: String, audience: &[&str], accept: bool) {
        let audience = audience.iter().map(|&a| a.to_owned()).collect();
        self.push(name, Input::Jwt { token, audience }, accept, None);
    }

    /// The job for the Go program.
    fn job(&self, now: u64) -> Value {
        let cases: Vec<Value> = self
            .cases
            .iter()
            .map(|case| {
                let mut value = match &case.input {
                    Input::X509(chain) => json!({
                        "name": case.name,
                        "kind": "x509",
                        "chain_der_b64": chain.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>(),
                    }),
                    Input::Jwt { token, audience } => json!({
                        "name": case.name,
                        "kind": "jwt",
                        "token": token,
                        "audience": audience,
                    }),
                };
                if let Some(bundles) = &case.bundles {
                    value["bundles"] = bundles.clone();
                }
                value
            })
            .collect();
        json!({ "now": now, "bundles": self.bundles, "cases": cases })
    }
}

/// Our bundle set from a map of bundle documents, as go-spiffe gets them.
fn bundle_set(bundles: &Value) -> Result<BundleSet, String> {
    let mut parsed = Vec::new();
    for (name, document) in bundles.as_object().unwrap() {
        let trust_domain = TrustDomain::parse(name).map_err(|e| format!("bundle {name}: {e}"))?;
        let bundle = SpiffeBundle::parse(trust_domain, serde_json::to_vec(document).unwrap())
            .map_err(|e| format!("bundle {name}: {e}"))?;
        parsed.push(bundle);
    }
    BundleSet::from_bundles(parsed).map_err(|e| e.to_string())
}

/// Our verdict on one case.
fn ours(case: &Case, shared: &Value, x509_now: UnixTime) -> Verdict {
    let set = bundle_set(case.bundles.as_ref().unwrap_or(shared))?;
    let backend = Crypto::default();
    match &case.input {
        Input::X509(chain) => X509Verifier::new(&set, &backend)
            .verify(chain, x509_now)
            .map(|v| v.spiffe_id().as_str().to_owned())
            .map_err(|e| format!("{e} [{e:?}]")),
        Input::Jwt { token, audience } => {
            let audience = Audience::new(audience.clone()).map_err(|e| format!("{e} [{e:?}]"))?;
            JwtValidator::new(&set, &backend)
                .validate(token, &audience, UnixTime::now())
                .map(|v| v.spiffe_id().as_str().to_owned())
                .map_err(|e| format!("{e} [{e:?}]"))
        }
    }
}

/// Runs both sides on a corpus and fails on anything unexpected. Returns (cases, agreements).
fn compare(program: &Path, corpus: &Corpus, prefix: &str, x509_now: u64) -> (usize, usize) {
    let go = run_go(program, &corpus.job(x509_now));
    let now = UnixTime::since_unix_epoch(Duration::from_secs(x509_now));
    let mut table = String::new();
    let mut failures = Vec::new();
    let mut agreements = 0;
    let show = |v: &Verdict| match v {
        Ok(id) => format!("accept {id}"),
        Err(e) => format!("reject: {e}"),
    };
    for case in &corpus.cases {
        let name = &case.name;
        let rust = ours(case, &corpus.bundles, now);
        let Some(go) = go.get(name) else {
            failures.push(format!("{name}: no result from spiffediff"));
            continue;
        };
        if rust.is_ok() != case.accept {
            failures.push(format!(
                "{name}: ours should {} but did {}",
                if case.accept { "accept" } else { "reject" },
                show(&rust)
            ));
        }
        let expected = differential::listed(EXPECTED_DISAGREEMENTS, name);
        let status = match judge(rust.as_deref().ok(), go.as_deref().ok(), expected) {
            Judgement::IdMismatch => {
                failures.push(format!(
                    "{name}: both accept but with IDs {} (ours) / {} (go)",
                    rust.as_deref().unwrap_or_default(),
                    go.as_deref().unwrap_or_default()
                ));
                "ID MISMATCH"
            }
            Judgement::Agree => {
                agreements += 1;
                "agree"
            }
            Judgement::Stale => {
                failures.push(format!(
                    "{name}: listed as an expected disagreement ({}) but both {}; remove it from \
                     EXPECTED_DISAGREEMENTS",
                    expected.map_or("", |e| e.rule),
                    if rust.is_ok() { "accept" } else { "reject" }
                ));
                "STALE"
            }
            Judgement::ExpectedDisagreement => "expected disagreement",
            Judgement::Unexpected => {
                failures.push(format!(
                    "{name}: UNEXPECTED disagreement: ours {} / go-spiffe {}",
                    show(&rust),
                    show(go)
                ));
                "UNEXPECTED"
            }
        };
        writeln!(
            table,
            "{status:>21}  {name}\n{:>23}ours: {}\n{:>23}go:   {}",
            "",
            show(&rust),
            "",
            show(go)
        )
        .unwrap();
    }
    for expected in EXPECTED_DISAGREEMENTS
        .iter()
        .filter(|e| e.case.starts_with(prefix))
    {
        if !corpus.cases.iter().any(|c| c.name == expected.case) {
            failures.push(format!(
                "EXPECTED_DISAGREEMENTS names {}, which is not in the corpus",
                expected.case
            ));
        }
    }
    eprintln!("{table}");
    eprintln!(
        "{prefix}: {} cases, {agreements} agreements, {} expected disagreements",
        corpus.cases.len(),
        corpus.cases.len() - agreements
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    (corpus.cases.len(), agreements)
}

// ---- X.509 material ---------------------------------------------------------------------

/// 2026-06-01T00:00:00Z: the X.509 verification time on both sides.
const X509_NOW: u64 = test_support::time::NOW;

/// `test_support`'s CA with this corpus's shorthands: roots named by the caller, P-256
/// intermediates, leaves as bare certificates (the corpus never needs their keys).
struct Ca(x509::Ca);

impl std::ops::Deref for Ca {
    type Target = x509::Ca;

    fn deref(&self) -> &x509::Ca {
        &self.0
    }
}

impl Ca {
    fn root(trust_domain: &str, name: &str, key_type: KeyType) -> Self {
        Self::root_with(trust_domain, name, key_type, |_| {})
    }

    fn root_with(
        trust_domain: &str,
        name: &str,
        key_type: KeyType,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Self {
        let builder = x509::Ca::builder(trust_domain).common_name(name);
        Self(builder.key_type(key_type).build_with(edit))
    }

    fn intermediate(&self, name: &str) -> Self {
        self.intermediate_with(name, |_| {})
    }

    fn intermediate_with(&self, name: &str, edit: impl FnOnce(&mut CertificateParams)) -> Self {
        Self(self.0.issue_ca(name).build_with(edit))
    }

    fn leaf(&self, spiffe_id: &str) -> CertificateDer<'static> {
        self.leaf_with(spiffe_id, KeyType::P256, |_| {})
    }

    fn leaf_with(
        &self,
        spiffe_id: &str,
        key_type: KeyType,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> CertificateDer<'static> {
        self.0.leaf_with(spiffe_id, key_type, edit).cert
    }
}

/// A SPIFFE bundle document (as a JSON value) with these X.509 and JWT authorities, written
/// by `trust_bundle` (one x509-svid entry per certificate with its key members and a single
/// x5c, one jwt-svid entry per key).
fn document(
    trust_domain: &str,
    authorities: &[&CertificateDer<'static>],
    jwt: &[&TestKey],
) -> Value {
    let td = TrustDomain::parse(trust_domain).unwrap();
    let x509 =
        X509Bundle::from_certificates(td.clone(), authorities.iter().map(|&c| c.clone())).unwrap();
    let jwt = JwtBundle::from_keys(td, jwt.iter().map(|k| (k.kid.clone(), k.jwt_key()))).unwrap();
    let bundle = SpiffeBundle::from_parts(x509, jwt).unwrap();
    serde_json::from_str(&bundle.to_json()).unwrap()
}

fn x509_corpus() -> Corpus {
    let ex = Ca::root("example.org", "example.org root", KeyType::P256);
    let ex384 = Ca::root("example.org", "example.org P-384 root", KeyType::P384);
    let ex_rsa = Ca::root("example.org", "example.org RSA root", KeyType::Rsa2048);
    let ex_ed = Ca::root("example.org", "example.org Ed25519 root", KeyType::Ed25519);
    // A CA whose keyUsage also has digitalSignature: allowed by X509-SVID 4.3 (digest 2.3).
    let ex_ds = Ca::root_with("example.org", "example.org root +ds", KeyType::P256, |p| {
        p.key_usages.push(KeyUsagePurpose::DigitalSignature);
    });
    // pathLenConstraint 0: no intermediate may follow.
    let ex_pl0 = Ca::root_with(
        "example.org",
        "example.org root pathlen 0",
        KeyType::P256,
        |p| {
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        },
    );
    let other = Ca::root("other.org", "other.org root", KeyType::P256);

    let bundles = json!({
        "example.org": document(
            "example.org",
            &[&ex.cert, &ex384.cert, &ex_rsa.cert, &ex_ed.cert, &ex_ds.cert, &ex_pl0.cert],
            &[],
        ),
        "other.org": document("other.org", &[&other.cert], &[]),
    });
    let mut c = Corpus::new(bundles);
    let id = "spiffe://example.org/workload";

    // ---- valid ----
    c.x509("x509/valid/p256-leaf", &[&ex.leaf(id)], true);
    let leaf = ex384.leaf_with(id, KeyType::P384, |_| {});
    c.x509("x509/valid/p384-root-and-leaf", &[&leaf], true);
    let leaf = ex_rsa.leaf(id);
    c.x509("x509/valid/rsa-root-p256-leaf", &[&leaf], true);
    let leaf = ex.leaf_with(id, KeyType::Rsa2048, |_| {});
    c.x509("x509/valid/p256-root-rsa-leaf", &[&leaf], true);
    let leaf = ex_ed.leaf_with(id, KeyType::Ed25519, |_| {});
    c.x509("x509/valid/ed25519-root-and-leaf", &[&leaf], true);
    let int = ex.intermediate("example.org intermediate");
    let leaf = int.leaf(id);
    c.x509("x509/valid/one-intermediate", &[&leaf, &int.cert], true);
    c.x509(
        "x509/valid/one-intermediate-and-root-sent",
        &[&leaf, &int.cert, &ex.cert],
        true,
    );
    let int2 = int.intermediate("example.org intermediate 2");
    let leaf2 = int2.leaf(id);
    c.x509(
        "x509/valid/two-intermediates",
        &[&leaf2, &int2.cert, &int.cert],
        true,
    );
    let int_rsa = ex_rsa.intermediate("example.org intermediate under RSA");
    let leaf = int_rsa.leaf(id);
    c.x509(
        "x509/valid/rsa-root-intermediate",
        &[&leaf, &int_rsa.cert],
        true,
    );
    let leaf = ex.leaf_with(id, KeyType::P256, |p| p.extended_key_usages.clear());
    c.x509("x509/valid/leaf-without-eku", &[&leaf], true);
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    c.x509("x509/valid/leaf-eku-server-only", &[&leaf], true);
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    });
    c.x509("x509/valid/leaf-digital-signature-only", &[&leaf], true);
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        p.subject_alt_names
            .push(SanType::DnsName("workload.example.org".try_into().unwrap()));
        p.distinguished_name
            .push(DnType::CommonName, "workload.example.org");
    });
    c.x509("x509/valid/leaf-with-dns-san-and-subject", &[&leaf], true);
    let long_id = format!("spiffe://example.org/{}", "a".repeat(2048 - 21));
    assert_eq!(long_id.len(), 2048);
    let leaf = ex.leaf(&long_id);
    c.x509("x509/valid/2048-byte-id", &[&leaf], true);
    c.x509(
        "x509/valid/ca-with-digital-signature",
        &[&ex_ds.leaf(id)],
        true,
    );
    c.x509(
        "x509/valid/federated-other-org",
        &[&other.leaf("spiffe://other.org/workload")],
        true,
    );

    // ---- X-1 .. X-3: the URI SAN ----
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        p.subject_alt_names.push(uri("spiffe://example.org/other"));
    });
    c.x509("x509/X-1/two-spiffe-uri-sans", &[&leaf], false);
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        p.subject_alt_names.push(uri("https://example.org/other"));
    });
    c.x509("x509/X-1/spiffe-and-https-uri-sans", &[&leaf], false);
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        p.subject_alt_names = vec![SanType::DnsName("example.org".try_into().unwrap())];
    });
    c.x509("x509/X-2/no-uri-san", &[&leaf], false);
    let leaf = ex.leaf("https://example.org/workload");
    c.x509("x509/X-3/https-scheme", &[&leaf], false);
    let leaf = ex.leaf("SPIFFE://example.org/workload");
    c.x509("x509/X-3/uppercase-scheme", &[&leaf], false);
    let leaf = ex.leaf("spiffe://Example.org/workload");
    c.x509("x509/X-3/uppercase-trust-domain", &[&leaf], false);
    let leaf = ex.leaf("spiffe://example.org/a//b");
    c.x509("x509/X-3/empty-path-segment", &[&leaf], false);
    let leaf = ex.leaf("spiffe://example.org/workload/");
    c.x509("x509/X-3/trailing-slash", &[&leaf], false);
    let leaf = ex.leaf("spiffe://example.org:8443/workload");
    c.x509("x509/X-3/port", &[&leaf], false);

    let leaf = ex.leaf("spiffe://example.org/workload#");
    c.x509("x509/X-3/empty-fragment", &[&leaf], false);
    let leaf = ex.leaf("spiffe://example.org/workload?");
    c.x509("x509/X-3/empty-query", &[&leaf], false);
    let leaf = ex.leaf("spiffe://example.org/work%6Coad");
    c.x509("x509/X-3/percent-encoded-path", &[&leaf], false);
    let leaf = ex.leaf("spiffe://example.org/a/../workload");
    c.x509("x509/X-3/dot-segment", &[&leaf], false);
    let leaf = ex.leaf("spiffe://user@example.org/workload");
    c.x509("x509/X-3/userinfo", &[&leaf], false);

    // ---- X-4 .. X-7: the leaf's role ----
    let leaf = ex.leaf("spiffe://example.org");
    c.x509("x509/X-4/leaf-root-path", &[&leaf], false);
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    });
    c.x509("x509/X-5/leaf-ca-true", &[&leaf], false);
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        p.key_usages.push(KeyUsagePurpose::KeyCertSign);
    });
    c.x509("x509/X-6/leaf-key-cert-sign", &[&leaf], false);
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        p.key_usages.push(KeyUsagePurpose::CrlSign);
    });
    c.x509("x509/X-7/leaf-crl-sign", &[&leaf], false);
    c.x509("x509/X-5/bundle-ca-as-leaf", &[&ex.cert], false);
    let leaf = ex.leaf_with(id, KeyType::P256, |p| p.key_usages.clear());
    c.x509("x509/leaf-no-key-usage", &[&leaf], false);
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    });
    c.x509("x509/leaf-no-digital-signature", &[&leaf], false);

    // ---- X-8, X-9: bundle selection ----
    let leaf = ex.leaf("spiffe://other.org/workload");
    c.x509(
        "x509/X-8/other-td-leaf-signed-by-example-ca",
        &[&leaf],
        false,
    );
    let leaf = other.leaf(id);
    c.x509("x509/X-8/example-leaf-signed-by-other-ca", &[&leaf], false);
    let other_int = other.intermediate("other.org intermediate");
    let leaf = other_int.leaf(id);
    c.x509(
        "x509/X-8/example-leaf-via-other-intermediate",
        &[&leaf, &other_int.cert],
        false,
    );
    let leaf = ex.leaf("spiffe://unknown.org/workload");
    c.x509("x509/X-9/no-bundle-for-trust-domain", &[&leaf], false);
    c.x509_with(
        "x509/X-9/bundle-without-x509-authorities",
        &[&ex.leaf(id)],
        false,
        json!({ "example.org": { "keys": [] } }),
    );

    // ---- X-10: RFC 5280 path validation ----
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        dates(p, (2025, 1, 1), (2026, 3, 1));
    });
    c.x509("x509/X-10/expired-leaf", &[&leaf], false);
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        dates(p, (2026, 9, 1), (2027, 1, 1));
    });
    c.x509("x509/X-10/leaf-not-yet-valid", &[&leaf], false);
    let old_int = ex.intermediate_with("example.org expired intermediate", |p| {
        dates(p, (2025, 1, 1), (2026, 3, 1));
    });
    let leaf = old_int.leaf(id);
    c.x509(
        "x509/X-10/expired-intermediate",
        &[&leaf, &old_int.cert],
        false,
    );
    let old_root = Ca::root_with("example.org", "expired root", KeyType::P256, |p| {
        dates(p, (2025, 1, 1), (2026, 3, 1));
    });
    c.x509_with(
        "x509/X-10/expired-bundle-authority",
        &[&old_root.leaf(id)],
        false,
        json!({ "example.org": document("example.org", &[&old_root.cert], &[]) }),
    );
    c.x509(
        "x509/X-10/bad-leaf-signature",
        &[&flip_last(&ex.leaf(id))],
        false,
    );
    let leaf = int.leaf(id);
    c.x509(
        "x509/X-10/bad-intermediate-signature",
        &[&leaf, &flip_last(&int.cert)],
        false,
    );
    let stranger = Ca::root("example.org", "example.org root", KeyType::P256);
    c.x509(
        "x509/X-10/unknown-issuer-same-name",
        &[&stranger.leaf(id)],
        false,
    );
    let leaf = int.leaf(id);
    c.x509("x509/X-10/missing-intermediate", &[&leaf], false);
    let not_ca = ex.intermediate_with("example.org not a CA", |p| {
        p.is_ca = IsCa::ExplicitNoCa;
    });
    let leaf = not_ca.leaf(id);
    c.x509(
        "x509/X-10/intermediate-ca-false",
        &[&leaf, &not_ca.cert],
        false,
    );
    let no_kcs = ex.intermediate_with("example.org no keyCertSign", |p| {
        p.key_usages = vec![KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    });
    let leaf = no_kcs.leaf(id);
    c.x509(
        "x509/X-10/intermediate-no-key-cert-sign",
        &[&leaf, &no_kcs.cert],
        false,
    );
    let no_ku = ex.intermediate_with("example.org no keyUsage", |p| p.key_usages.clear());
    let leaf = no_ku.leaf(id);
    c.x509(
        "x509/X-10/intermediate-without-key-usage",
        &[&leaf, &no_ku.cert],
        false,
    );
    let int_pl0 = ex_pl0.intermediate("example.org under pathlen 0");
    let leaf = int_pl0.leaf(id);
    c.x509(
        "x509/X-10/path-len-exceeded",
        &[&leaf, &int_pl0.cert],
        false,
    );
    c.x509(
        "x509/valid/path-len-0-direct-leaf",
        &[&ex_pl0.leaf(id)],
        true,
    );
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        p.custom_extensions = vec![extension(&[1, 3, 6, 1, 4, 1, 55555, 1], vec![5, 0], true)];
    });
    c.x509("x509/X-10/unknown-critical-extension", &[&leaf], false);
    let leaf = ex.leaf_with(id, KeyType::P256, |p| {
        p.custom_extensions = vec![extension(&[1, 3, 6, 1, 4, 1, 55555, 1], vec![5, 0], false)];
    });
    c.x509("x509/valid/unknown-non-critical-extension", &[&leaf], true);
    // nameConstraints permitting only URIs in other.org, on an example.org intermediate.
    let permitted = tlv(0x30, &tlv(0xa0, &tlv(0x30, &tlv(0x86, b"other.org"))));
    let nc_int = ex.intermediate_with("example.org constrained to other.org", |p| {
        p.custom_extensions = vec![extension(x509::OID_NAME_CONSTRAINTS, permitted, true)];
    });
    let leaf = nc_int.leaf(id);
    c.x509(
        "x509/X-10/uri-name-constraint-violated",
        &[&leaf, &nc_int.cert],
        false,
    );

    // ---- malformed input ----
    c.x509("x509/empty-chain", &[], false);
    c.x509(
        "x509/not-der",
        &[&CertificateDer::from(b"not a certificate".to_vec())],
        false,
    );

    // ---- signing certificates that are not CAs ----
    let not_ca_root = Ca::root_with("example.org", "authority cA=false", KeyType::P256, |p| {
        p.is_ca = IsCa::ExplicitNoCa;
    });
    c.x509_with(
        "x509/authority-not-ca",
        &[&not_ca_root.leaf(id)],
        false,
        json!({ "example.org": document("example.org", &[&not_ca_root.cert], &[]) }),
    );
    let no_kcs_root = Ca::root_with(
        "example.org",
        "authority no keyCertSign",
        KeyType::P256,
        |p| {
            p.key_usages = vec![KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        },
    );
    c.x509_with(
        "x509/authority-no-key-cert-sign",
        &[&no_kcs_root.leaf(id)],
        false,
        json!({ "example.org": document("example.org", &[&no_kcs_root.cert], &[]) }),
    );
    let no_ku_root = Ca::root_with("example.org", "authority no keyUsage", KeyType::P256, |p| {
        p.key_usages.clear();
    });
    c.x509_with(
        "x509/authority-without-key-usage",
        &[&no_ku_root.leaf(id)],
        false,
        json!({ "example.org": document("example.org", &[&no_ku_root.cert], &[]) }),
    );
    let path_int = ex.intermediate_with("example.org intermediate with a path", |p| {
        p.subject_alt_names = vec![uri("spiffe://example.org/ca")];
    });
    let leaf = path_int.leaf(id);
    c.x509(
        "x509/intermediate-id-with-path",
        &[&leaf, &path_int.cert],
        false,
    );

    // ---- X-13: x5c count in the bundle ----
    let mut doc = document("example.org", &[&ex.cert], &[]);
    let x5c = doc["keys"][0]["x5c"].as_array_mut().unwrap();
    x5c.push(Value::String(STANDARD.encode(&other.cert)));
    c.x509_with(
        "x509/X-13/x5c-two-certificates",
        &[&ex.leaf(id)],
        true,
        json!({ "example.org": doc }),
    );
    let mut doc = document("example.org", &[&ex.cert, &ex384.cert], &[]);
    doc["keys"][1]
        .as_object_mut()
        .unwrap()
        .remove("x5c")
        .unwrap();
    c.x509_with(
        "x509/X-13/x5c-empty-entry",
        &[&ex.leaf(id)],
        true,
        json!({ "example.org": doc }),
    );
    c
}

// ---- JWT material -----------------------------------------------------------------------

const AUD: &str = "spiffe://example.org/service";
const SUB: &str = "spiffe://example.org/workload";

/// The RSA-2048 key of `tests/data/jwt/rsa2048.pk8.der` (ring cannot generate RSA keys).
const RSA2048_PKCS8: &[u8] = include_bytes!("data/jwt/rsa2048.pk8.der");

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

enum Private {
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A JWT signing key with its `kid`.
struct TestKey {
    kid: String,
    /// PKCS#8 of EC keys, to sign with the same key in another encoding.
    pkcs8: Vec<u8>,
    private: Private,
}

impl TestKey {
    fn ec(kid: &str, p384: bool) -> Self {
        let rng = SystemRandom::new();
        let alg = if p384 {
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING
        } else {
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING
        };
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let private = if p384 {
            Private::P384(pair)
        } else {
            Private::P256(pair)
        };
        Self {
            kid: kid.to_owned(),
            pkcs8: pkcs8.as_ref().to_vec(),
            private,
        }
    }

    fn rsa(kid: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            pkcs8: Vec::new(),
            private: Private::Rsa(RsaKeyPair::from_pkcs8(RSA2048_PKCS8).unwrap()),
        }
    }

    fn jwt_key(&self) -> JwtKey {
        match &self.private {
            Private::P256(pair) => JwtKey::Ec(
                EcPublicKey::from_sec1(EcCurve::P256, pair.public_key().as_ref()).unwrap(),
            ),
            Private::P384(pair) => JwtKey::Ec(
                EcPublicKey::from_sec1(EcCurve::P384, pair.public_key().as_ref()).unwrap(),
            ),
            Private::Rsa(pair) => {
                let parts = signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                JwtKey::Rsa(RsaPublicKey::from_components(&parts.n, &parts.e).unwrap())
            }
        }
    }

    /// The key's default algorithm.
    fn alg(&self) -> &'static str {
        match self.private {
            Private::P256(_) => "ES256",
            Private::P384(_) => "ES384",
            Private::Rsa(_) => "RS256",
        }
    }

    /// Signs `input` with `alg` (which must fit the key); ECDSA comes out as JWS `r || s`.
    fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.private {
            Private::P256(pair) | Private::P384(pair) => {
                pair.sign(&rng, input).unwrap().as_ref().to_vec()
            }
            Private::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    other => panic!("{other} with an RSA key"),
                };
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(padding, &rng, input, &mut out).unwrap();
                out
            }
        }
    }

    /// A token with raw header and claims JSON, signed with `alg`.
    fn mint_raw(&self, alg: &str, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let sig = self.sign(alg, input.as_bytes());
        format!("{input}.{}", b64(sig))
    }

    /// A token with the standard header (`alg`, `kid`, `typ: JWT`) and these claims.
    fn mint_alg(&self, alg: &str, claims: &str) -> String {
        let header = format!(r#"{{"alg":"{alg}","kid":"{}","typ":"JWT"}}"#, self.kid);
        self.mint_raw(alg, &header, claims)
    }

    fn mint(&self, claims: &str) -> String {
        self.mint_alg(self.alg(), claims)
    }
}

fn jwt_corpus(now: u64) -> Corpus {
    let exp = now + 600;
    let claims =
        |sub: &str, aud: &str| format!(r#"{{"sub":"{sub}","aud":{aud},"exp":{exp},"iat":{now}}}"#);
    let std_claims = claims(SUB, &format!(r#"["{AUD}"]"#));

    let p256 = TestKey::ec("ex-p256", false);
    let p384 = TestKey::ec("ex-p384", true);
    let rsa = TestKey::rsa("ex-rsa");
    let shared_ex = TestKey::ec("shared", false);
    let other_key = TestKey::ec("oth-p256", false);
    let shared_other = TestKey::ec("shared", false);
    // Keys published in the example.org document under a `use` other than jwt-svid.
    let use_sig = TestKey::ec("use-sig", false);
    let use_none = TestKey::ec("use-none", false);
    let use_upper = TestKey::ec("use-upper", false);

    let mut ex_doc = document("example.org", &[], &[&p256, &p384, &rsa, &shared_ex]);
    let keys = ex_doc["keys"].as_array_mut().unwrap();
    for (key, key_use) in [
        (&use_sig, Some("sig")),
        (&use_none, None),
        (&use_upper, Some("JWT-SVID")),
    ] {
        let mut entry = document("example.org", &[], &[key])["keys"][0].clone();
        let entry_map = entry.as_object_mut().unwrap();
        match key_use {
            Some(u) => entry_map.insert("use".to_owned(), Value::String(u.to_owned())),
            None => entry_map.remove("use"),
        };
        keys.push(entry);
    }
    let bundles = json!({
        "example.org": ex_doc,
        "other.org": document("other.org", &[], &[&other_key, &shared_other]),
    });
    let mut c = Corpus::new(bundles);

    // ---- valid ----
    c.jwt("jwt/valid/es256", p256.mint(&std_claims), true);
    c.jwt("jwt/valid/es384", p384.mint(&std_claims), true);
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        let name = format!("jwt/valid/{}", alg.to_lowercase());
        c.jwt(&name, rsa.mint_alg(alg, &std_claims), true);
    }
    c.jwt(
        "jwt/valid/aud-as-string",
        p256.mint(&claims(SUB, &format!(r#""{AUD}""#))),
        true,
    );
    c.jwt(
        "jwt/valid/aud-several-values",
        p256.mint(&claims(
            SUB,
            &format!(r#"["spiffe://example.org/x","{AUD}"]"#),
        )),
        true,
    );
    c.jwt_for(
        "jwt/valid/one-of-several-expected-audiences",
        p256.mint(&std_claims),
        &["spiffe://example.org/other", AUD],
        true,
    );
    let header = r#"{"alg":"ES256","kid":"ex-p256","typ":"JOSE"}"#;
    c.jwt(
        "jwt/valid/typ-jose",
        p256.mint_raw("ES256", header, &std_claims),
        true,
    );
    let header = r#"{"alg":"ES256","kid":"ex-p256"}"#;
    c.jwt(
        "jwt/valid/no-typ",
        p256.mint_raw("ES256", header, &std_claims),
        true,
    );
    let fractional = format!(r#"{{"sub":"{SUB}","aud":["{AUD}"],"exp":{exp}.5}}"#);
    c.jwt(
        "jwt/valid/fractional-exp-no-iat",
        p256.mint(&fractional),
        true,
    );
    let extra = format!(
        r#"{{"sub":"{SUB}","aud":["{AUD}"],"exp":{exp},"iat":{now},"nbf":{},"iss":"https://issuer.example","jti":"x1","custom":{{"a":[1,2]}}}}"#,
        now - 60
    );
    c.jwt(
        "jwt/valid/registered-and-private-claims",
        p256.mint(&extra),
        true,
    );
    c.jwt(
        "jwt/valid/federated-other-org",
        other_key.mint(&claims(
            "spiffe://other.org/workload",
            &format!(r#"["{AUD}"]"#),
        )),
        true,
    );

    // ---- J-1: serialization ----
    let token = p256.mint(&std_claims);
    let parts: Vec<&str> = token.split('.').collect();
    let flattened = json!({ "protected": parts[0], "payload": parts[1], "signature": parts[2] });
    c.jwt("jwt/J-1/jws-json-flattened", flattened.to_string(), false);
    let general = json!({
        "payload": parts[1],
        "signatures": [{ "protected": parts[0], "signature": parts[2] }],
    });
    c.jwt("jwt/J-1/jws-json-general", general.to_string(), false);
    c.jwt("jwt/J-1/five-parts", format!("{token}.AAAA.AAAA"), false);
    c.jwt(
        "jwt/J-1/two-parts",
        format!("{}.{}", parts[0], parts[1]),
        false,
    );
    let padded_header = format!("{}==", parts[0]);
    c.jwt(
        "jwt/J-1/padded-base64",
        format!("{padded_header}.{}.{}", parts[1], parts[2]),
        false,
    );
    c.jwt(
        "jwt/J-1/whitespace-inside",
        format!("{}.\n{}.{}", parts[0], parts[1], parts[2]),
        false,
    );

    // ---- J-2: algorithms ----
    let header = r#"{"alg":"none","kid":"ex-p256","typ":"JWT"}"#;
    c.jwt(
        "jwt/J-2/alg-none",
        format!("{}.{}.", b64(header), b64(&std_claims)),
        false,
    );
    let header = r#"{"alg":"HS256","kid":"ex-p256","typ":"JWT"}"#;
    let input = format!("{}.{}", b64(header), b64(&std_claims));
    let hmac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"secret");
    let tag = ring::hmac::sign(&hmac_key, input.as_bytes());
    c.jwt("jwt/J-2/hs256", format!("{input}.{}", b64(tag)), false);
    let ed_pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let ed = Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref()).unwrap();
    let header = r#"{"alg":"EdDSA","kid":"ex-p256","typ":"JWT"}"#;
    let input = format!("{}.{}", b64(header), b64(&std_claims));
    let sig = ed.sign(input.as_bytes());
    c.jwt("jwt/J-2/eddsa", format!("{input}.{}", b64(sig)), false);
    let header = r#"{"alg":"ES256K","kid":"ex-p256","typ":"JWT"}"#;
    c.jwt(
        "jwt/J-2/es256k",
        p256.mint_raw("ES256", header, &std_claims),
        false,
    );
    let header = r#"{"alg":"es256","kid":"ex-p256","typ":"JWT"}"#;
    c.jwt(
        "jwt/J-2/lowercase-alg",
        p256.mint_raw("ES256", header, &std_claims),
        false,
    );
    let header = r#"{"kid":"ex-p256","typ":"JWT"}"#;
    c.jwt(
        "jwt/J-2/missing-alg",
        p256.mint_raw("ES256", header, &std_claims),
        false,
    );

    // ---- J-3: typ ----
    let header = r#"{"alg":"ES256","kid":"ex-p256","typ":"wit+jwt"}"#;
    c.jwt(
        "jwt/J-3/typ-wit+jwt",
        p256.mint_raw("ES256", header, &std_claims),
        false,
    );
    let header = r#"{"alg":"ES256","kid":"ex-p256","typ":"jwt"}"#;
    c.jwt(
        "jwt/J-3/typ-lowercase-jwt",
        p256.mint_raw("ES256", header, &std_claims),
        false,
    );

    // ---- J-4, J-5: audience ----
    let no_aud = format!(r#"{{"sub":"{SUB}","exp":{exp},"iat":{now}}}"#);
    c.jwt("jwt/J-4/missing-aud", p256.mint(&no_aud), false);
    c.jwt(
        "jwt/J-4/empty-aud-array",
        p256.mint(&claims(SUB, "[]")),
        false,
    );
    c.jwt(
        "jwt/J-4/empty-aud-string",
        p256.mint(&claims(SUB, r#""""#)),
        false,
    );
    c.jwt(
        "jwt/J-5/aud-mismatch",
        p256.mint(&claims(SUB, r#"["spiffe://example.org/other"]"#)),
        false,
    );
    c.jwt(
        "jwt/J-5/aud-differs-in-case",
        p256.mint(&claims(SUB, r#"["SPIFFE://example.org/service"]"#)),
        false,
    );
    c.jwt_for(
        "jwt/J-5/empty-expected-audience",
        p256.mint(&std_claims),
        &[],
        false,
    );

    // ---- J-6, J-7: lifetime ----
    let no_exp = format!(r#"{{"sub":"{SUB}","aud":["{AUD}"],"iat":{now}}}"#);
    c.jwt("jwt/J-6/missing-exp", p256.mint(&no_exp), false);
    let string_exp = format!(r#"{{"sub":"{SUB}","aud":["{AUD}"],"exp":"{exp}"}}"#);
    c.jwt("jwt/J-6/string-exp", p256.mint(&string_exp), false);
    let expired = format!(
        r#"{{"sub":"{SUB}","aud":["{AUD}"],"exp":{},"iat":{}}}"#,
        now - 3600,
        now - 3900
    );
    c.jwt("jwt/J-7/expired-an-hour-ago", p256.mint(&expired), false);
    let future_nbf = format!(
        r#"{{"sub":"{SUB}","aud":["{AUD}"],"exp":{},"nbf":{}}}"#,
        now + 7200,
        now + 3600
    );
    c.jwt("jwt/J-7/nbf-in-an-hour", p256.mint(&future_nbf), false);
    let future_iat = format!(
        r#"{{"sub":"{SUB}","aud":["{AUD}"],"exp":{},"iat":{}}}"#,
        now + 7200,
        now + 3600
    );
    c.jwt("jwt/iat-in-future", p256.mint(&future_iat), true);

    // ---- J-8: subject ----
    let no_sub = format!(r#"{{"aud":["{AUD}"],"exp":{exp}}}"#);
    c.jwt("jwt/J-8/missing-sub", p256.mint(&no_sub), false);
    for (name, sub) in [
        ("jwt/J-8/sub-https", "https://example.org/workload"),
        ("jwt/J-8/sub-uppercase-td", "spiffe://Example.org/workload"),
        (
            "jwt/J-8/sub-trailing-slash",
            "spiffe://example.org/workload/",
        ),
        ("jwt/J-8/sub-not-a-uri", "workload"),
        ("jwt/J-8/root-subject", "spiffe://example.org"),
    ] {
        c.jwt(
            name,
            p256.mint(&claims(sub, &format!(r#"["{AUD}"]"#))),
            false,
        );
    }

    // ---- J-9, J-10: trust domain of the key ----
    c.jwt(
        "jwt/J-9/no-bundle-for-sub-td",
        p256.mint(&claims(
            "spiffe://unknown.org/workload",
            &format!(r#"["{AUD}"]"#),
        )),
        false,
    );
    c.jwt(
        "jwt/J-10/other-td-key-kid",
        other_key.mint(&std_claims),
        false,
    );
    c.jwt(
        "jwt/J-10/same-kid-other-td-key",
        shared_other.mint(&std_claims),
        false,
    );
    c.jwt(
        "jwt/J-10/example-key-for-other-td-sub",
        p256.mint(&claims(
            "spiffe://other.org/workload",
            &format!(r#"["{AUD}"]"#),
        )),
        false,
    );
    c.jwt(
        "jwt/valid/shared-kid-own-td",
        shared_ex.mint(&std_claims),
        true,
    );

    // ---- J-11: keys whose use is not jwt-svid ----
    c.jwt("jwt/J-11/key-use-sig", use_sig.mint(&std_claims), false);
    c.jwt(
        "jwt/J-11/key-without-use",
        use_none.mint(&std_claims),
        false,
    );
    c.jwt(
        "jwt/J-11/key-use-uppercase",
        use_upper.mint(&std_claims),
        false,
    );

    // ---- kid, key and signature ----
    let header = r#"{"alg":"ES256","typ":"JWT"}"#;
    c.jwt(
        "jwt/missing-kid",
        p256.mint_raw("ES256", header, &std_claims),
        false,
    );
    let header = r#"{"alg":"ES256","kid":"nope","typ":"JWT"}"#;
    c.jwt(
        "jwt/unknown-kid",
        p256.mint_raw("ES256", header, &std_claims),
        false,
    );
    let header = r#"{"alg":"ES256","kid":7,"typ":"JWT"}"#;
    c.jwt(
        "jwt/numeric-kid",
        p256.mint_raw("ES256", header, &std_claims),
        false,
    );
    // ES384 signed with a P-384 key, naming the P-256 key's kid.
    let header = r#"{"alg":"ES384","kid":"ex-p256","typ":"JWT"}"#;
    c.jwt(
        "jwt/alg-curve-mismatch",
        p384.mint_raw("ES384", header, &std_claims),
        false,
    );
    // RS256 claimed for an EC key.
    let header = r#"{"alg":"RS256","kid":"ex-p256","typ":"JWT"}"#;
    c.jwt(
        "jwt/alg-key-type-mismatch",
        rsa.mint_raw("RS256", header, &std_claims),
        false,
    );
    // PS256 header, RS256 signature.
    let header = r#"{"alg":"PS256","kid":"ex-rsa","typ":"JWT"}"#;
    c.jwt(
        "jwt/pss-header-pkcs1-signature",
        rsa.mint_raw("RS256", header, &std_claims),
        false,
    );
    let token = p256.mint(&std_claims);
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig[10] ^= 1;
    c.jwt(
        "jwt/bad-signature",
        format!("{signed}.{}", b64(&sig)),
        false,
    );
    let header = r#"{"alg":"ES256","kid":"ex-p256","typ":"JWT"}"#;
    let input = format!("{}.{}", b64(header), b64(&std_claims));
    let rng = SystemRandom::new();
    let der_pair = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &p256.pkcs8,
        &rng,
    )
    .unwrap();
    let der_sig = der_pair.sign(&rng, input.as_bytes()).unwrap();
    c.jwt(
        "jwt/der-encoded-ecdsa-signature",
        format!("{input}.{}", b64(der_sig)),
        false,
    );
    let tampered = claims("spiffe://example.org/admin", &format!(r#"["{AUD}"]"#));
    let (header_b64, rest) = token.split_once('.').unwrap();
    let (_, sig_b64) = rest.split_once('.').unwrap();
    c.jwt(
        "jwt/claims-swapped-after-signing",
        format!("{header_b64}.{}.{sig_b64}", b64(&tampered)),
        false,
    );

    // ---- extra and duplicate headers, duplicate claims ----
    let header =
        r#"{"alg":"ES256","kid":"ex-p256","typ":"JWT","jku":"https://attacker.example/jwks"}"#;
    c.jwt(
        "jwt/header-jku",
        p256.mint_raw("ES256", header, &std_claims),
        false,
    );
    // A well-formed certificate: go-jose parses x5c and refuses the token if it cannot.
    let x5c = Ca::root("attacker.example", "attacker", KeyType::P256)
        .0
        .cert;
    let header = format!(
        r#"{{"alg":"ES256","kid":"ex-p256","typ":"JWT","x5c":["{}"]}}"#,
        STANDARD.encode(&x5c)
    );
    c.jwt(
        "jwt/header-x5c",
        p256.mint_raw("ES256", &header, &std_claims),
        false,
    );
    let header = r#"{"alg":"ES256","kid":"ex-p256","typ":"JWT","x-private":true}"#;
    c.jwt(
        "jwt/header-private",
        p256.mint_raw("ES256", header, &std_claims),
        false,
    );
    let header = r#"{"alg":"ES256","kid":"ex-p256","typ":"JWT","crit":["exp"],"exp":1}"#;
    c.jwt(
        "jwt/header-crit",
        p256.mint_raw("ES256", header, &std_claims),
        false,
    );
    let header = r#"{"alg":"HS256","alg":"ES256","kid":"ex-p256","typ":"JWT"}"#;
    c.jwt(
        "jwt/duplicate-header-alg",
        p256.mint_raw("ES256", header, &std_claims),
        false,
    );
    let duplicate = format!(
        r#"{{"sub":"spiffe://example.org/admin","sub":"{SUB}","aud":["{AUD}"],"exp":{exp}}}"#
    );
    c.jwt("jwt/duplicate-claim-sub", p256.mint(&duplicate), false);
    c.jwt("jwt/claims-not-json", p256.mint("not json"), false);
    c.jwt("jwt/claims-array", p256.mint("[1,2]"), false);
    c
}

#[test]
fn x509_verdicts_match_go_spiffe() {
    let Some(program) = go_program() else { return };
    let (cases, agreements) = compare(&program, &x509_corpus(), "x509/", X509_NOW);
    assert!(
        cases >= 40 && agreements >= 30,
        "{cases} cases, {agreements} agreements"
    );
}

#[test]
fn jwt_verdicts_match_go_spiffe() {
    let Some(program) = go_program() else { return };
    let now = unix_now();
    let (cases, agreements) = compare(&program, &jwt_corpus(now), "jwt/", X509_NOW);
    assert!(
        cases >= 50 && agreements >= 40,
        "{cases} cases, {agreements} agreements"
    );
}

#[test]
fn expected_disagreements_are_unique_and_cite_a_rule() {
    differential::check_list(EXPECTED_DISAGREEMENTS, &["SVID", "SPIFFE-ID", "RFC"]);
    for e in EXPECTED_DISAGREEMENTS {
        assert!(e.case.starts_with("x509/") || e.case.starts_with("jwt/"));
    }
}
