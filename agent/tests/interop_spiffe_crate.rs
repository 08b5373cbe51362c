//! Interop with rust-spiffe (crates.io `spiffe` 0.19), a Workload API client written
//! independently of ours: it fetches X509-SVIDs, bundles and JWT-SVIDs from our agent,
//! accepts every response, and its own JWT validation (jsonwebtoken on aws-lc-rs) accepts
//! our tokens with our JWT bundle. Its X509-SVIDs are checked against its bundles with our
//! verifier (rust-spiffe has no X.509 path validation of its own).

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

mod common;

use common::{mine, start, test_ca};
use rustls_pki_types::{CertificateDer, UnixTime};
use spiffe::{JwtSvid, WorkloadApiClient};
use svid::{Crypto, X509Verifier};
use trust_bundle::{BundleSet, SpiffeBundle, X509Bundle};

#[tokio::test]
async fn spiffe_crate_fetches_and_verifies_everything() {
    let ca = test_ca();
    let partner = ca::TestCa::new("partner.org");
    let running = start(
        agent::Agent::builder(ca.ca().clone())
            .entry(
                mine("/rust-spiffe")
                    .with_hint("main")
                    .with_federates_with("partner.org".parse().unwrap()),
            )
            .entry(mine("/second").with_hint("second"))
            .federated_bundle(SpiffeBundle::clone(&partner.bundle())),
    )
    .await;
    let client = WorkloadApiClient::connect_to(running.agent.endpoint())
        .await
        .unwrap();

    // X.509: the default SVID, all SVIDs with their hints, and the bundles.
    let default = client.fetch_x509_svid().await.unwrap();
    assert_eq!(
        default.spiffe_id().to_string(),
        "spiffe://example.org/rust-spiffe"
    );
    assert_eq!(default.hint(), Some("main"));
    let all = client.fetch_all_x509_svids().await.unwrap();
    let hints: Vec<_> = all.iter().map(|s| s.hint().unwrap_or_default()).collect();
    assert_eq!(hints, ["main", "second"]);

    let bundles = client.fetch_x509_bundles().await.unwrap();
    assert_eq!(bundles.len(), 2);
    let own: spiffe::TrustDomain = "example.org".parse().unwrap();
    let own_bundle = bundles.get(&own).unwrap();
    let ours = X509Bundle::from_certificates(
        "example.org".parse().unwrap(),
        own_bundle
            .authorities()
            .iter()
            .map(|c| CertificateDer::from(c.as_bytes().to_vec())),
    )
    .unwrap();
    assert_eq!(ours, *ca.x509_bundle());
    let verifier = X509Verifier::new(
        BundleSet::from_bundles([SpiffeBundle::from(ours)]).unwrap(),
        &Crypto::default(),
    );
    for svid in &all {
        let chain: Vec<CertificateDer<'static>> = svid
            .cert_chain()
            .iter()
            .map(|c| CertificateDer::from(c.as_bytes().to_vec()))
            .collect();
        let verified = verifier.verify(&chain, UnixTime::now()).unwrap();
        assert_eq!(verified.spiffe_id().as_str(), svid.spiffe_id().to_string());
    }
    let context = client.fetch_x509_context().await.unwrap();
    assert!(context.default_svid().is_some());
    let partner_td: spiffe::TrustDomain = "partner.org".parse().unwrap();
    assert!(context.bundle_set().get(&partner_td).is_some());

    // JWT: rust-spiffe validates our token against our JWT bundles on its own, and our
    // ValidateJWTSVID accepts it.
    let jwt_bundles = client.fetch_jwt_bundles().await.unwrap();
    let token = client
        .fetch_jwt_token(["rust-spiffe-audience"], None)
        .await
        .unwrap();
    let validated =
        JwtSvid::parse_and_validate(&token, &jwt_bundles, &["rust-spiffe-audience"]).unwrap();
    assert_eq!(
        validated.spiffe_id().to_string(),
        "spiffe://example.org/rust-spiffe"
    );
    assert!(
        JwtSvid::parse_and_validate(&token, &jwt_bundles, &["someone-else"]).is_err(),
        "wrong audience must fail"
    );
    let all_jwt = client
        .fetch_all_jwt_svids(["rust-spiffe-audience"], None)
        .await
        .unwrap();
    assert_eq!(all_jwt.len(), 2);
    let second: spiffe::SpiffeId = "spiffe://example.org/second".parse().unwrap();
    let only_second = client.fetch_jwt_svid(["a"], Some(&second)).await.unwrap();
    assert_eq!(only_second.spiffe_id(), &second);

    let checked = client
        .validate_jwt_token("rust-spiffe-audience", &token)
        .await
        .unwrap();
    assert_eq!(
        checked.spiffe_id().to_string(),
        "spiffe://example.org/rust-spiffe"
    );
    assert!(
        client
            .validate_jwt_token("someone-else", &token)
            .await
            .is_err()
    );
}
