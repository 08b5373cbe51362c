//! CA rotation with the `ca` crate's test CA: while the old authority is still published, SVIDs
//! of both keys are accepted by the same server configuration; a bundle without it refuses the
//! old ones (regression 14 of USER-NEEDS section 2; X509-SVID 5).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::sync::Arc;

use ca::TestCa;
use common::{SwapBundles, SwapSvid, handshake};
use spiffe_id::IdMatcher;
use tls_integration::SpiffeTls;
use trust_bundle::{BundleSet, SpiffeBundle};

#[test]
fn ca_rotation_with_overlap_then_retirement() {
    let ca = TestCa::new("prod.example");
    let tls = SpiffeTls::new(common::provider()).with_result_cache(16);
    let bundles = SwapBundles::new(ca.bundle_set());
    let server_svid = SwapSvid::new(Arc::new(ca.x509_svid("/ns/payments/db")));
    let server = Arc::new(
        tls.mtls_server(
            server_svid.clone(),
            bundles.clone(),
            IdMatcher::pattern("spiffe://prod.example/ns/payments/*").unwrap(),
        )
        .unwrap(),
    );
    let client_for = |svid: svid::X509Svid, bundles: BundleSet| {
        Arc::new(
            tls.mtls_client(
                Arc::new(Arc::new(svid)),
                Arc::new(bundles),
                IdMatcher::exact(ca.id("/ns/payments/db")),
            )
            .unwrap(),
        )
    };
    let old_api = ca.x509_svid("/ns/payments/api");
    let old_client = client_for(old_api.clone(), ca.bundle_set());
    handshake(&old_client, &server).unwrap();

    // Rotate: new key active, old one published as retired.
    let before = ca.x509_bundle();
    ca.rotate();
    bundles.set(ca.bundle_set());
    server_svid.set(Arc::new(ca.x509_svid("/ns/payments/db")));
    let new_client = client_for(ca.x509_svid("/ns/payments/api"), ca.bundle_set());
    let (_, s) = handshake(&new_client, &server).unwrap();
    assert_eq!(s.peer().unwrap().spiffe_id(), &ca.id("/ns/payments/api"));
    // The old client's SVID (old key) is still accepted during the overlap; it verifies the
    // server's new SVID once it has the new bundle.
    let old_svid_new_bundle = client_for(old_api, ca.bundle_set());
    handshake(&old_svid_new_bundle, &server).unwrap();
    handshake(&old_client, &server).unwrap_err(); // its bundle predates the new key

    // Retire the old key: only the new authority stays in the server's bundle.
    let after = ca.x509_bundle();
    let new_only: Vec<_> = after
        .authorities()
        .iter()
        .filter(|a| !before.authorities().contains(a))
        .cloned()
        .collect();
    assert_eq!(new_only.len(), 1);
    let new_bundle =
        trust_bundle::X509Bundle::from_certificates(ca.trust_domain().clone(), new_only).unwrap();
    bundles.set(BundleSet::from_bundles([SpiffeBundle::from(new_bundle)]).unwrap());
    handshake(&new_client, &server).unwrap();
    let failure = handshake(&old_svid_new_bundle, &server)
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(failure.cause(), tls_integration::Error::Verify(_)),
        "{failure:?}"
    );
}
