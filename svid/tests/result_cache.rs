//! The opt-in result caches of `X509Verifier` and `JwtValidator` never serve a result the
//! uncached path would refuse: a changed bundle, a different input, a different audience or
//! source, or a moment outside the result's validity window each forces a fresh check.
//!
//! These are the invariants that make caching safe (issue: "tests prove a removed key or
//! authority takes effect on the next call"); hits themselves are not observable here and need
//! no timing assertion.

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]

mod common;
mod jwt_support;

use std::slice::from_ref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use spiffe_id::TrustDomain;
use svid::{Audience, Error, JwtError, VerifyError, X509Verifier};
use trust_bundle::{BundleSet, JwtBundle, JwtBundleSource, X509Bundle, X509BundleSource};

use common::CaExt as _;

/// A bundle source whose contents can be replaced, like a Workload API source on update.
struct Swappable(RwLock<BundleSet>);

impl Swappable {
    fn new(set: BundleSet) -> Self {
        Self(RwLock::new(set))
    }

    fn replace(&self, set: BundleSet) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = set;
    }

    fn current(&self) -> BundleSet {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl X509BundleSource for Swappable {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.current().x509_bundle(trust_domain)
    }

    fn generation(&self) -> u64 {
        X509BundleSource::generation(&self.current())
    }
}

impl JwtBundleSource for Swappable {
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        self.current().jwt_bundle(trust_domain)
    }

    fn generation(&self) -> u64 {
        JwtBundleSource::generation(&self.current())
    }
}

/// A JWT source that always reports the same generation: two of them must still never share
/// cache entries.
struct FixedGeneration(BundleSet);

impl JwtBundleSource for FixedGeneration {
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        self.0.jwt_bundle(trust_domain)
    }

    fn generation(&self) -> u64 {
        1
    }
}

fn cached_x509(source: Swappable) -> X509Verifier<Swappable> {
    X509Verifier::new(source, &common::backend()).with_result_cache(16)
}

/// A removed authority takes effect on the next call, cached success or not.
#[test]
fn x509_removed_authority_takes_effect_on_next_call() {
    let root = common::Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    let verifier = cached_x509(Swappable::new(common::set([root.bundle()])));
    for _ in 0..3 {
        assert!(verifier.verify(from_ref(&leaf.cert), common::now()).is_ok());
    }

    let other = common::Ca::root("example.org");
    verifier.source().replace(common::set([other.bundle()]));
    assert!(matches!(
        verifier.verify(from_ref(&leaf.cert), common::now()),
        Err(Error::Verify(_))
    ));
    verifier.source().replace(BundleSet::new());
    assert!(matches!(
        verifier.verify(from_ref(&leaf.cert), common::now()),
        Err(Error::Verify(VerifyError::NoBundle { .. }))
    ));
}

/// A cached result is not served past the path's earliest `notAfter`, nor before its latest
/// `notBefore`.
#[test]
fn x509_cached_result_respects_the_validity_window() {
    let root = common::Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    let verifier = cached_x509(Swappable::new(common::set([root.bundle()])));
    assert!(verifier.verify(from_ref(&leaf.cert), common::now()).is_ok());
    assert!(matches!(
        verifier.verify(from_ref(&leaf.cert), common::at(common::NOT_AFTER + 1)),
        Err(Error::Verify(VerifyError::Expired { .. }))
    ));
    assert!(matches!(
        verifier.verify(from_ref(&leaf.cert), common::at(common::NOT_BEFORE - 1)),
        Err(Error::Verify(VerifyError::NotYetValid { .. }))
    ));
}

/// Two chains with the same length and the same trailing bytes (where the fingerprint looks)
/// are still told apart by the full comparison: a byte changed inside the signed part makes
/// the signature fail even right after the original was cached.
#[test]
fn x509_same_fingerprint_different_bytes_is_verified_afresh() {
    let root = common::Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    let verifier = cached_x509(Swappable::new(common::set([root.bundle()])));
    assert!(verifier.verify(from_ref(&leaf.cert), common::now()).is_ok());

    // Byte 20 sits inside the TBS serial number: far from the tail the fingerprint reads.
    let mut tampered = leaf.cert.to_vec();
    tampered[20] ^= 0x01;
    let tampered = CertificateDer::from(tampered);
    assert_eq!(tampered.len(), leaf.cert.len());
    assert_eq!(
        tampered[tampered.len() - 48..],
        leaf.cert[leaf.cert.len() - 48..]
    );
    assert!(matches!(
        verifier.verify(from_ref(&tampered), common::now()),
        Err(Error::Verify(VerifyError::BadSignature))
    ));
}

fn cached_jwt<S: JwtBundleSource>(source: S) -> svid::JwtValidator<S> {
    jwt_support::validator(source).with_result_cache(16)
}

/// One validator's source that serves from `first` until [`Switch::switch`], then from
/// `second`, forwarding the generation of whichever serves: how one cached validator meets two
/// sources, as a live source that is replaced behind it would.
struct Switch<A, B> {
    first: A,
    second: B,
    switched: AtomicBool,
}

impl<A, B> Switch<A, B> {
    fn new(first: A, second: B) -> Self {
        Self {
            first,
            second,
            switched: AtomicBool::new(false),
        }
    }

    fn switch(&self) {
        self.switched.store(true, Ordering::SeqCst);
    }
}

impl<A: JwtBundleSource, B: JwtBundleSource> JwtBundleSource for Switch<A, B> {
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        if self.switched.load(Ordering::SeqCst) {
            self.second.jwt_bundle(trust_domain)
        } else {
            self.first.jwt_bundle(trust_domain)
        }
    }

    fn generation(&self) -> u64 {
        if self.switched.load(Ordering::SeqCst) {
            self.second.generation()
        } else {
            self.first.generation()
        }
    }
}

/// A removed JWT key takes effect on the next call.
#[test]
fn jwt_removed_key_takes_effect_on_next_call() {
    let key = jwt_support::TestKey::p256("k1");
    let token = key.mint_default();
    let source = Swappable::new(jwt_support::set([jwt_support::bundle(
        jwt_support::TD,
        &[&key],
    )]));
    let validator = cached_jwt(&source);
    let audience = jwt_support::audience();
    for _ in 0..3 {
        assert!(
            validator
                .validate(&token, &audience, jwt_support::now())
                .is_ok()
        );
    }
    source.replace(jwt_support::set([jwt_support::bundle(
        jwt_support::TD,
        &[],
    )]));
    assert_eq!(
        validator
            .validate(&token, &audience, jwt_support::now())
            .unwrap_err(),
        JwtError::UnknownKid("k1".into())
    );
}

/// A token cached for one audience is not accepted for another.
#[test]
fn jwt_cached_token_is_rechecked_for_another_audience() {
    let key = jwt_support::TestKey::p256("k1");
    let token = key.mint_default();
    let bundles = jwt_support::set([jwt_support::bundle(jwt_support::TD, &[&key])]);
    let validator = cached_jwt(&bundles);
    assert!(
        validator
            .validate(&token, &jwt_support::audience(), jwt_support::now())
            .is_ok()
    );
    let elsewhere = Audience::new(["spiffe://example.org/elsewhere"]).unwrap();
    assert_eq!(
        validator
            .validate(&token, &elsewhere, jwt_support::now())
            .unwrap_err(),
        JwtError::AudienceMismatch
    );
}

/// A cached token expires on time (exp plus the 30 s leeway).
#[test]
fn jwt_cached_token_expires() {
    let key = jwt_support::TestKey::p256("k1");
    let token = key.mint_default();
    let bundles = jwt_support::set([jwt_support::bundle(jwt_support::TD, &[&key])]);
    let validator = cached_jwt(&bundles);
    let audience = jwt_support::audience();
    assert!(
        validator
            .validate(&token, &audience, jwt_support::now())
            .is_ok()
    );
    assert!(
        validator
            .validate(&token, &audience, jwt_support::at(jwt_support::EXP + 30))
            .is_ok()
    );
    assert_eq!(
        validator
            .validate(&token, &audience, jwt_support::at(jwt_support::EXP + 31))
            .unwrap_err(),
        JwtError::Expired
    );
}

/// Two sources that report the same generation never share entries: after the validator's
/// source moves from one to the other, the bundle that decided the cached verdict is looked up
/// again and is not the one the new source serves.
#[test]
fn jwt_sources_with_equal_generations_do_not_share_entries() {
    let key = jwt_support::TestKey::p256("k1");
    let token = key.mint_default();
    let trusting = FixedGeneration(jwt_support::set([jwt_support::bundle(
        jwt_support::TD,
        &[&key],
    )]));
    let other_key = jwt_support::TestKey::p256("k1");
    let not_trusting = FixedGeneration(jwt_support::set([jwt_support::bundle(
        jwt_support::TD,
        &[&other_key],
    )]));
    let validator = cached_jwt(Switch::new(trusting, not_trusting));
    let audience = jwt_support::audience();
    assert!(
        validator
            .validate(&token, &audience, jwt_support::now())
            .is_ok()
    );
    validator.source().switch();
    assert_eq!(
        validator
            .validate(&token, &audience, jwt_support::now())
            .unwrap_err(),
        JwtError::BadSignature
    );
}

/// A validator that requires `kid` refuses a kid-less token even after a clone that allows a
/// missing `kid` (and shares its cache) accepted it: the `kid` policy is part of the key.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-10 (key selection); ARCHITECTURE "cached verification
/// results" (the key covers every setting that decides the verdict).
#[test]
fn jwt_strict_kid_validator_never_reuses_a_lax_clones_verdict() {
    let key = jwt_support::TestKey::p256("k1");
    let token = key.mint_with_header(
        r#"{"alg":"ES256","typ":"JWT"}"#,
        &jwt_support::default_claims(),
    );
    let bundles = jwt_support::set([jwt_support::bundle(jwt_support::TD, &[&key])]);
    let audience = jwt_support::audience();
    let strict = cached_jwt(&bundles);
    let lax = strict.clone().allow_missing_kid();
    let now = jwt_support::now();
    assert_eq!(
        strict.validate(&token, &audience, now).unwrap_err(),
        JwtError::MissingKid
    );
    assert!(lax.validate(&token, &audience, now).is_ok());
    assert_eq!(
        strict.validate(&token, &audience, now).unwrap_err(),
        JwtError::MissingKid
    );
}

/// A zero-leeway validator refuses a token that expired 100 s ago even after a clone with
/// 300 s leeway (sharing its cache) accepted it: the leeway is part of the key, and the cached
/// window is the accepting validator's own.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-7 (`exp`).
#[test]
fn jwt_zero_leeway_validator_never_reuses_a_lenient_clones_verdict() {
    let key = jwt_support::TestKey::p256("k1");
    let aud = format!(r#"["{}"]"#, jwt_support::AUD);
    let token = key.mint(&jwt_support::claims(
        jwt_support::SUB,
        &aud,
        jwt_support::NOW - 100,
    ));
    let bundles = jwt_support::set([jwt_support::bundle(jwt_support::TD, &[&key])]);
    let audience = jwt_support::audience();
    let strict = cached_jwt(&bundles).with_leeway(Duration::ZERO).unwrap();
    let lenient = strict.clone().with_leeway(svid::MAX_LEEWAY).unwrap();
    let now = jwt_support::now();
    assert_eq!(
        strict.validate(&token, &audience, now).unwrap_err(),
        JwtError::Expired
    );
    assert!(lenient.validate(&token, &audience, now).is_ok());
    for later in [0, 1, 150, 199] {
        assert_eq!(
            strict
                .validate(&token, &audience, jwt_support::at(jwt_support::NOW + later))
                .unwrap_err(),
            JwtError::Expired,
            "{later} s later"
        );
    }
}

/// A policy wrapper that serves only `other.org` shares its data address with the bundle set
/// it wraps (its first field) and forwards that set's generation. After the inner set validated
/// an `example.org` token, the wrapper must still refuse it: sources are not told apart by
/// address or generation, the bundle that decided a cached verdict is looked up again.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-9 (the bundle of the `sub` trust domain).
#[test]
fn jwt_policy_wrapper_never_reuses_its_inner_sources_verdict() {
    #[repr(C)]
    struct OnlyTrustDomain {
        inner: BundleSet,
        allowed: TrustDomain,
    }
    impl JwtBundleSource for OnlyTrustDomain {
        fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
            (*trust_domain == self.allowed)
                .then(|| self.inner.jwt_bundle(trust_domain))
                .flatten()
        }

        fn generation(&self) -> u64 {
            JwtBundleSource::generation(&self.inner)
        }
    }

    let key = jwt_support::TestKey::p256("k1");
    let token = key.mint_default();
    let wrapper = OnlyTrustDomain {
        inner: jwt_support::set([jwt_support::bundle(jwt_support::TD, &[&key])]),
        allowed: jwt_support::td("other.org"),
    };
    assert_eq!(
        core::ptr::from_ref(&wrapper).cast::<u8>(),
        core::ptr::from_ref(&wrapper.inner).cast::<u8>()
    );
    let validator = cached_jwt(Switch::new(&wrapper.inner, &wrapper));
    let audience = jwt_support::audience();
    let now = jwt_support::now();
    assert!(validator.validate(&token, &audience, now).is_ok());
    validator.source().switch();
    assert!(matches!(
        validator.validate(&token, &audience, now),
        Err(JwtError::NoBundle { .. })
    ));
}

/// A fractional `nbf` is first met at the next whole second: a token with `nbf` NOW + 0.5,
/// accepted (and cached) at NOW + 1 with zero leeway, is refused at NOW as a fresh check would.
///
/// RFC 7519 4.1.5 (`nbf`); ARCHITECTURE "cached verification results".
#[test]
fn jwt_cached_window_rounds_a_fractional_nbf_up() {
    let key = jwt_support::TestKey::p256("k1");
    let claims = format!(
        r#"{{"sub":"{}","aud":["{}"],"exp":{},"nbf":{}.5}}"#,
        jwt_support::SUB,
        jwt_support::AUD,
        jwt_support::EXP,
        jwt_support::NOW
    );
    let token = key.mint(&claims);
    let bundles = jwt_support::set([jwt_support::bundle(jwt_support::TD, &[&key])]);
    let audience = jwt_support::audience();
    let validator = cached_jwt(&bundles).with_leeway(Duration::ZERO).unwrap();
    let fresh = jwt_support::validator(&bundles)
        .with_leeway(Duration::ZERO)
        .unwrap();
    let at_now = jwt_support::now();
    assert_eq!(
        fresh.validate(&token, &audience, at_now).unwrap_err(),
        JwtError::NotYetValid
    );
    assert!(
        validator
            .validate(&token, &audience, jwt_support::at(jwt_support::NOW + 1))
            .is_ok()
    );
    assert_eq!(
        validator.validate(&token, &audience, at_now).unwrap_err(),
        JwtError::NotYetValid
    );
}
