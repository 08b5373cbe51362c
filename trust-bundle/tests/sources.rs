//! The source traits and generations.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "helpers outside #[test] functions; a panic there is a failed test"
)]

mod common;

use std::sync::Arc;

use common::{data, golden, parse_ok, td};
use trust_bundle::{
    BundleSet, JwtBundle, JwtBundleSource, SpiffeBundle, X509Bundle, X509BundleSource,
};

fn golden_set() -> BundleSet {
    BundleSet::from_bundles([parse_ok(&golden()).0]).unwrap()
}

#[test]
fn different_sets_have_different_generations() {
    let a = golden_set();
    let b = golden_set();
    assert_eq!(a, b, "same contents");
    assert_ne!(a.generation(), b.generation());
    assert_ne!(
        BundleSet::new().generation(),
        BundleSet::default().generation()
    );

    let clone = a.clone();
    assert_eq!(
        clone.generation(),
        a.generation(),
        "a clone is the same set"
    );
    assert_eq!(X509BundleSource::generation(&a), a.generation());
    assert_eq!(JwtBundleSource::generation(&a), a.generation());
}

#[test]
fn bundles_and_sets_never_share_a_generation() {
    let x509 = X509Bundle::new(td("example.org"));
    let jwt = JwtBundle::new(td("example.org"));
    let set = BundleSet::new();
    let mut generations = [x509.generation(), jwt.generation(), set.generation()];
    generations.sort_unstable();
    generations.windows(2).for_each(|w| assert_ne!(w[0], w[1]));
    assert!(generations[0] > 0, "0 is never a generation");
    // Parsing the same document twice gives equal bundles with different generations.
    let (first, _) = parse_ok(&golden());
    let (second, _) = parse_ok(&golden());
    assert_eq!(first, second);
    assert_ne!(
        first.x509_bundle().generation(),
        second.x509_bundle().generation()
    );
    assert_ne!(
        first.jwt_bundle().generation(),
        second.jwt_bundle().generation()
    );
}

#[test]
fn sets_hand_out_shared_bundles() {
    let set = golden_set();
    let x509 = set.x509_bundle(&td("example.org")).unwrap();
    let again = set.x509_bundle(&td("example.org")).unwrap();
    assert!(Arc::ptr_eq(&x509, &again), "no copy per lookup");
    assert!(Arc::ptr_eq(
        &x509,
        set.get("example.org").unwrap().x509_bundle()
    ));
    assert!(set.x509_bundle(&td("example.com")).is_none());
    assert!(set.jwt_bundle(&td("example.com")).is_none());
    assert!(set.contains("example.org"));
    assert!(set.contains(&td("example.org")));
}

#[test]
fn a_single_bundle_serves_only_its_trust_domain() {
    let x509 = X509Bundle::from_der(td("example.org"), &data("certs/ca-ec-p256.der")).unwrap();
    let found = x509.x509_bundle(&td("example.org")).unwrap();
    assert_eq!(*found, x509);
    assert_eq!(found.generation(), x509.generation());
    assert!(x509.x509_bundle(&td("evil.example")).is_none());

    let jwt = JwtBundle::new(td("example.org"));
    assert!(jwt.jwt_bundle(&td("example.org")).is_some());
    assert!(jwt.jwt_bundle(&td("evil.example")).is_none());
}

#[test]
fn traits_are_object_safe_and_forwarded() {
    fn assert_send_sync<T: Send + Sync + ?Sized>() {}
    assert_send_sync::<dyn X509BundleSource>();
    assert_send_sync::<dyn JwtBundleSource>();
    assert_send_sync::<BundleSet>();
    assert_send_sync::<SpiffeBundle>();

    let set = golden_set();
    let generation = set.generation();
    let by_ref: &dyn X509BundleSource = &set;
    let boxed: Box<dyn JwtBundleSource> = Box::new(set.clone());
    let shared: Arc<dyn X509BundleSource> = Arc::new(set.clone());
    assert!(by_ref.x509_bundle(&td("example.org")).is_some());
    assert!(boxed.jwt_bundle(&td("example.org")).is_some());
    assert_eq!(shared.generation(), generation);

    fn lookup<S: X509BundleSource>(source: S) -> bool {
        source.x509_bundle(&td("example.org")).is_some()
    }
    assert!(lookup(&set));
    assert!(lookup(Arc::new(set.clone())));
    assert!(lookup(&shared));
    assert!(lookup(Box::new(set)));
}

/// Compiles only when `T` does not implement the trait: with an implementation, the two
/// blanket impls of `AmbiguousIfImpl` both apply and the call is ambiguous (the technique of
/// `static_assertions::assert_not_impl_any`).
macro_rules! assert_not_impl {
    ($ty:ty, $trait:path) => {{
        trait AmbiguousIfImpl<A> {
            fn some_item() {}
        }
        impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
        #[allow(dead_code, reason = "only names the second impl")]
        struct Invalid;
        impl<T: ?Sized + $trait> AmbiguousIfImpl<Invalid> for T {}
        let _ = <$ty as AmbiguousIfImpl<_>>::some_item;
    }};
}

/// W-API-11 (digest 5.13, 8.1; Workload API 5.2.1, 6.2.2): X.509 bundles are never used for JWT
/// validation and the reverse. The two kinds are separate types behind separate traits, so an
/// X.509 bundle cannot be handed to a JWT verifier; and a bundle document's keys of one kind
/// never show up among the other.
#[test]
fn w_api_11_x509_and_jwt_authorities_never_mix() {
    assert_not_impl!(X509Bundle, JwtBundleSource);
    assert_not_impl!(JwtBundle, X509BundleSource);

    let set = golden_set();
    let x509 = set.x509_bundle(&td("example.org")).unwrap();
    let jwt = set.jwt_bundle(&td("example.org")).unwrap();
    assert_eq!(x509.len(), 1);
    assert_eq!(
        jwt.keys().map(|(kid, _)| kid).collect::<Vec<_>>(),
        ["jwt-ec-p256", "jwt-rsa-2048"]
    );

    // A set built from Workload API X.509 bundles has no JWT keys, and the reverse.
    let x509_only = BundleSet::from_bundles([SpiffeBundle::from((*x509).clone())]).unwrap();
    assert!(x509_only.jwt_bundle(&td("example.org")).unwrap().is_empty());
    let jwt_only = BundleSet::from_bundles([SpiffeBundle::from((*jwt).clone())]).unwrap();
    assert!(jwt_only.x509_bundle(&td("example.org")).unwrap().is_empty());
}

/// What a parse skipped travels with the bundle, so callers who do not care are not forced to
/// take it (issue 13, "the first ten minutes"); it does not take part in equality (B-2..B-4:
/// skipped entries carry no authority).
#[test]
fn skipped_entries_travel_with_the_bundle_and_the_set() {
    let document = r#"{"keys": [{"kty": "EC", "use": "wat", "kid": "k2"}]}"#;
    let bundle = SpiffeBundle::parse(td("example.org"), document).unwrap();
    assert_eq!(bundle.ignored().len(), 1);
    assert_eq!(bundle.ignored()[0].kid(), Some("k2"));
    assert_eq!(bundle, SpiffeBundle::new(td("example.org")));
    assert!(SpiffeBundle::new(td("example.org")).ignored().is_empty());

    let jwks = r#"{"keys": [{"kty": "EC", "use": "x509-svid", "kid": "x"}]}"#;
    let jwt = JwtBundle::parse_workload_api(td("example.org"), jwks).unwrap();
    assert_eq!(jwt.ignored().len(), 1);

    let map = format!(r#"{{"trust_domains": {{"example.org": {document}}}}}"#);
    let set = BundleSet::parse_bundle_map(map).unwrap();
    let reported: Vec<_> = set
        .ignored()
        .map(|(td, key)| (td.as_str(), key.kid()))
        .collect();
    assert_eq!(reported, [("example.org", Some("k2"))]);
}

/// The Workload API hands out `X509Bundle`s and `JwtBundle`s; a set takes them as they are.
#[test]
fn a_set_takes_workload_api_bundles_as_they_are() {
    let x509 = X509Bundle::new(td("example.org"));
    let jwt = JwtBundle::new(td("partner.example"));
    let set = BundleSet::from_bundles([x509]).unwrap();
    assert!(set.contains("example.org"));
    let set = BundleSet::from_bundles([jwt]).unwrap();
    assert!(set.contains("partner.example"));
}
