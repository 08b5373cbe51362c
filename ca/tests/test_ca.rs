//! `TestCa` (feature `test-util`): what later crates' tests call, on the real clock.

#![cfg(all(feature = "test-util", any(feature = "ring", feature = "aws-lc-rs")))]

use ca::TestCa;
use rustls_pki_types::UnixTime;
use svid::{Audience, Crypto, JwtValidator, X509Verifier};

#[test]
fn one_liners_verify_now() {
    let ca = TestCa::new("example.org");
    let svid = ca.x509_svid("/web");
    assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/web");
    let full = ca.x509_svid("spiffe://example.org/db");
    assert_eq!(full.spiffe_id().path(), "/db");

    let verifier = X509Verifier::new(ca.bundle_set(), &Crypto::default());
    assert!(verifier.verify(svid.chain(), UnixTime::now()).is_ok());

    let expired = ca.expired_x509_svid("/web");
    assert!(verifier.verify(expired.chain(), UnixTime::now()).is_err());

    let token = ca.jwt_svid("/web", &["db"]);
    let validator = JwtValidator::new(ca.bundle_set(), &Crypto::default());
    let audience = Audience::new(["db"]).unwrap();
    assert!(
        validator
            .validate(&token, &audience, UnixTime::now())
            .is_ok()
    );
    let expired = ca.expired_jwt_svid("/web", &["db"]);
    assert!(
        validator
            .validate(&expired, &audience, UnixTime::now())
            .is_err()
    );

    assert_eq!(ca.x509_bundle().len(), 1);
    assert_eq!(ca.jwt_bundle().len(), 1);
    assert_eq!(ca.ca().trust_domain().as_str(), "example.org");
}

#[test]
fn federation_and_rotation() {
    let a = TestCa::new("example.org");
    let b = TestCa::new("other.org");
    let set = TestCa::bundle_set_of(&[&a, &b]);
    let verifier = X509Verifier::new(set, &Crypto::default());
    assert!(
        verifier
            .verify(a.x509_svid("/web").chain(), UnixTime::now())
            .is_ok()
    );
    assert!(
        verifier
            .verify(b.x509_svid("/api").chain(), UnixTime::now())
            .is_ok()
    );
    // Only example.org's bundle: other.org's SVID is untrusted.
    let only_a = X509Verifier::new(a.bundle_set(), &Crypto::default());
    assert!(
        only_a
            .verify(b.x509_svid("/api").chain(), UnixTime::now())
            .is_err()
    );

    let before = a.x509_svid("/web");
    let epoch = a.ca().snapshot().x509_authority_epoch();
    let a = a.rotated();
    assert_eq!(a.ca().snapshot().x509_authority_epoch(), epoch + 1);
    let after = a.x509_svid("/web");
    assert_ne!(before.chain()[0], after.chain()[0]);
    let verifier = X509Verifier::new(a.bundle_set(), &Crypto::default());
    // The old authority signed `before`, so it stays published.
    assert!(verifier.verify(before.chain(), UnixTime::now()).is_ok());
    assert!(verifier.verify(after.chain(), UnixTime::now()).is_ok());

    let node = a.intermediate();
    let svid = node.x509_svid("/node-web");
    assert_eq!(svid.chain().len(), 2);
    assert!(verifier.verify(svid.chain(), UnixTime::now()).is_ok());
}

#[test]
#[should_panic(expected = "TestCa::new")]
fn invalid_trust_domain_panics() {
    let _ = TestCa::new("Not A Trust Domain!");
}
