//! The Workload API as a client sees it over the Unix socket: wire contents, status codes,
//! streaming and "empty means cleared" (digest sections 5 and 6, rule IDs W-API-*).

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use agent::{Agent, RegistrationEntry, Selector};
use common::{
    Client, mine, next, nobody, req, start, start_with, test_ca, verify_x509, x509_stream,
};
use rustls_pki_types::UnixTime;
use svid::{Audience, Crypto, JwtValidator};
use tonic::Code;
use trust_bundle::{BundleSet, JwtBundle, SpiffeBundle, X509Bundle};
use workload_api::proto::{
    JwtBundlesRequest, JwtsvidRequest, ValidateJwtsvidRequest, X509BundlesRequest, X509svidRequest,
};

const OWN_KEY: &str = "spiffe://example.org";

fn jwt_request(audience: &[&str], spiffe_id: &str) -> tonic::Request<JwtsvidRequest> {
    req(JwtsvidRequest {
        audience: audience.iter().map(|a| (*a).to_owned()).collect(),
        spiffe_id: spiffe_id.to_owned(),
    })
}

fn validate_request(audience: &str, svid: &str) -> tonic::Request<ValidateJwtsvidRequest> {
    req(ValidateJwtsvidRequest {
        audience: audience.to_owned(),
        svid: svid.to_owned(),
    })
}

async fn jwt_bundles(client: &mut Client) -> HashMap<String, Vec<u8>> {
    let mut stream = client
        .fetch_jwt_bundles(req(JwtBundlesRequest {}))
        .await
        .unwrap()
        .into_inner();
    next(&mut stream).await.bundles
}

/// W-API-3: the first FetchX509SVID message comes at once and holds a usable SVID: chain and
/// PKCS#8 key in DER, the bundle of its own trust domain, the hint, no federated bundles.
#[tokio::test]
async fn first_x509_response_holds_a_verifiable_svid() {
    let ca = test_ca();
    let running = start_with(
        &ca,
        vec![
            mine("/web")
                .with_hint("internal")
                .with_dns_name("web.example.org"),
        ],
    )
    .await;
    let mut client = running.client().await;
    let (_stream, first) = x509_stream(&mut client).await;
    assert_eq!(first.svids.len(), 1);
    let svid = &first.svids[0];
    assert_eq!(svid.spiffe_id, "spiffe://example.org/web");
    assert_eq!(svid.hint, "internal");
    assert_eq!(svid.bundle, ca.x509_bundle().to_der());
    verify_x509(svid);
    assert!(first.federated_bundles.is_empty());
    assert!(first.crl.is_empty());
}

/// W-API-1 (Workload Endpoint §6): every RPC refuses a request without
/// `workload.spiffe.io: true` with InvalidArgument, and so does a wrong value.
#[tokio::test]
async fn requests_without_the_security_header_are_invalid_argument() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/web")]).await;
    let mut client = running.client().await;
    let token = ca.jwt_svid("/web", &["a"]);

    let codes = [
        client
            .fetch_x509svid(tonic::Request::new(X509svidRequest {}))
            .await
            .err(),
        client
            .fetch_x509_bundles(tonic::Request::new(X509BundlesRequest {}))
            .await
            .err(),
        client
            .fetch_jwt_bundles(tonic::Request::new(JwtBundlesRequest {}))
            .await
            .err(),
        client
            .fetch_jwtsvid(tonic::Request::new(JwtsvidRequest {
                audience: vec!["a".into()],
                spiffe_id: String::new(),
            }))
            .await
            .err(),
        client
            .validate_jwtsvid(tonic::Request::new(ValidateJwtsvidRequest {
                audience: "a".into(),
                svid: token,
            }))
            .await
            .err(),
    ];
    for status in codes {
        assert_eq!(status.unwrap().code(), Code::InvalidArgument);
    }

    let mut wrong = tonic::Request::new(X509svidRequest {});
    wrong
        .metadata_mut()
        .insert("workload.spiffe.io", "True".parse().unwrap());
    let status = client.fetch_x509svid(wrong).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

/// Workload API §5.2.1, §6.2.1 (digest 5.7): a caller whose selectors match no entry gets
/// PermissionDenied from every RPC.
#[tokio::test]
async fn caller_matching_no_entry_gets_permission_denied() {
    let ca = test_ca();
    let other = RegistrationEntry::new("spiffe://example.org/other".parse().unwrap())
        .with_selector(nobody());
    let running = start_with(&ca, vec![other]).await;
    let mut client = running.client().await;
    let token = ca.jwt_svid("/other", &["a"]);

    let statuses = [
        client.fetch_x509svid(req(X509svidRequest {})).await.err(),
        client
            .fetch_x509_bundles(req(X509BundlesRequest {}))
            .await
            .err(),
        client
            .fetch_jwt_bundles(req(JwtBundlesRequest {}))
            .await
            .err(),
        client.fetch_jwtsvid(jwt_request(&["a"], "")).await.err(),
        client
            .validate_jwtsvid(validate_request("a", &token))
            .await
            .err(),
    ];
    for status in statuses {
        assert_eq!(status.unwrap().code(), Code::PermissionDenied);
    }
}

/// An entry needs all its selectors: one extra selector the caller lacks denies it.
#[tokio::test]
async fn every_selector_of_an_entry_must_match() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/web").with_selector(nobody())]).await;
    let mut client = running.client().await;
    let status = client
        .fetch_x509svid(req(X509svidRequest {}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

/// W-API-5 (Workload API §5.2.1, §8): the first SVID is the default identity (registration
/// order), and the server never sends a hint twice in one response: a later entry with an
/// already used hint is left out.
#[tokio::test]
async fn registration_order_is_kept_and_hints_are_unique() {
    let ca = test_ca();
    let running = start_with(
        &ca,
        vec![
            mine("/a").with_hint("x"),
            mine("/b").with_hint("x"),
            mine("/c").with_hint("y"),
            mine("/d"),
            mine("/e"),
        ],
    )
    .await;
    let mut client = running.client().await;
    let (_stream, first) = x509_stream(&mut client).await;
    let ids: Vec<(&str, &str)> = first
        .svids
        .iter()
        .map(|s| (s.spiffe_id.as_str(), s.hint.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("spiffe://example.org/a", "x"),
            ("spiffe://example.org/c", "y"),
            ("spiffe://example.org/d", ""),
            ("spiffe://example.org/e", ""),
        ]
    );
    let response = client
        .fetch_jwtsvid(jwt_request(&["aud"], ""))
        .await
        .unwrap()
        .into_inner();
    let hints: Vec<&str> = response.svids.iter().map(|s| s.hint.as_str()).collect();
    assert_eq!(hints, ["x", "y", "", ""]);
}

/// W-API-6 (Workload API §6.2.1): an empty `spiffe_id` returns a token per entitled identity;
/// a named one returns only that one; each validates against the fetched JWT bundle.
#[tokio::test]
async fn fetch_jwt_svid_returns_every_identity_when_no_id_is_named() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/a"), mine("/b")]).await;
    let mut client = running.client().await;

    let all = client
        .fetch_jwtsvid(jwt_request(&["svc-1", "svc-2"], ""))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = all.svids.iter().map(|s| s.spiffe_id.as_str()).collect();
    assert_eq!(ids, ["spiffe://example.org/a", "spiffe://example.org/b"]);

    let bundles = jwt_bundles(&mut client).await;
    let bundle =
        JwtBundle::parse_workload_api("example.org".parse().unwrap(), &bundles[OWN_KEY]).unwrap();
    let ignored = bundle.ignored().to_vec();
    assert!(ignored.is_empty());
    let set = BundleSet::from_bundles([SpiffeBundle::from(bundle)]).unwrap();
    let validator = JwtValidator::new(&set, &Crypto::default());
    for svid in &all.svids {
        for audience in ["svc-1", "svc-2"] {
            let verified = validator
                .validate(
                    &svid.svid,
                    &Audience::new([audience]).unwrap(),
                    UnixTime::now(),
                )
                .unwrap();
            assert_eq!(verified.spiffe_id().as_str(), svid.spiffe_id);
        }
    }

    let one = client
        .fetch_jwtsvid(jwt_request(&["svc-1"], "spiffe://example.org/b"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.svids.len(), 1);
    assert_eq!(one.svids[0].spiffe_id, "spiffe://example.org/b");
}

/// Workload API §4.5, §6.2.1 (digest 5.7, 5.12): missing audience and malformed IDs are
/// InvalidArgument; an ID the caller is not entitled to is PermissionDenied.
#[tokio::test]
async fn fetch_jwt_svid_rejects_bad_requests() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/a")]).await;
    let mut client = running.client().await;
    for (audience, id, code) in [
        (&[][..], "", Code::InvalidArgument),
        (&[""][..], "", Code::InvalidArgument),
        (&["a"][..], "not-an-id", Code::InvalidArgument),
        (&["a"][..], "spiffe://example.org/", Code::InvalidArgument),
        (&["a"][..], "spiffe://example.org/b", Code::PermissionDenied),
        (&["a"][..], "spiffe://other.org/a", Code::PermissionDenied),
    ] {
        let status = client
            .fetch_jwtsvid(jwt_request(audience, id))
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{audience:?} {id:?}: {status:?}");
    }
}

/// W-API-7 (Workload API §6.2.2): JWT bundles carry JWT keys only (`use` jwt-svid, a `kid`,
/// no certificates), keyed by the trust domain's SPIFFE ID.
#[tokio::test]
async fn jwt_bundles_hold_only_jwt_keys() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/a")]).await;
    let mut client = running.client().await;
    let bundles = jwt_bundles(&mut client).await;
    assert_eq!(bundles.keys().collect::<Vec<_>>(), [OWN_KEY]);
    let json: serde_json::Value = serde_json::from_slice(&bundles[OWN_KEY]).unwrap();
    let keys = json["keys"].as_array().unwrap();
    assert_eq!(keys.len(), ca.jwt_bundle().len());
    for key in keys {
        assert_eq!(key["use"], "jwt-svid");
        assert!(key["kid"].is_string());
        assert!(key.get("x5c").is_none(), "{key}");
    }
}

/// The X.509 bundle stream holds the own trust domain under `spiffe://example.org`, as DER
/// certificates concatenated (digest 5.4, 5.5).
#[tokio::test]
async fn x509_bundles_hold_the_own_trust_domain() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/a")]).await;
    let mut client = running.client().await;
    let mut stream = client
        .fetch_x509_bundles(req(X509BundlesRequest {}))
        .await
        .unwrap()
        .into_inner();
    let first = next(&mut stream).await;
    assert_eq!(first.bundles.keys().collect::<Vec<_>>(), [OWN_KEY]);
    let bundle =
        X509Bundle::from_der("example.org".parse().unwrap(), &first.bundles[OWN_KEY]).unwrap();
    assert_eq!(bundle, *ca.x509_bundle());
}

/// W-API-8 (Workload API §6.3): ValidateJWTSVID returns the SPIFFE ID and the claims for a
/// valid token, and InvalidArgument for any token JWT-SVID validation refuses.
#[tokio::test]
async fn validate_jwt_svid_applies_jwt_svid_validation() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/a")]).await;
    let mut client = running.client().await;
    let token = client
        .fetch_jwtsvid(jwt_request(&["reports"], ""))
        .await
        .unwrap()
        .into_inner()
        .svids
        .remove(0)
        .svid;

    let valid = client
        .validate_jwtsvid(validate_request("reports", &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(valid.spiffe_id, "spiffe://example.org/a");
    let claims = valid.claims.unwrap().fields;
    use prost_types::value::Kind;
    assert_eq!(
        claims["sub"].kind,
        Some(Kind::StringValue("spiffe://example.org/a".into()))
    );
    assert!(matches!(claims["exp"].kind, Some(Kind::NumberValue(_))));
    assert!(claims.contains_key("aud"));

    let impostor = ca::TestCa::new("example.org"); // same name, other keys
    let other_domain = ca::TestCa::new("other.org");
    for (audience, svid, what) in [
        ("other", token.clone(), "wrong audience (J-5)"),
        (
            "reports",
            impostor.jwt_svid("/a", &["reports"]),
            "unknown key",
        ),
        (
            "reports",
            other_domain.jwt_svid("/a", &["reports"]),
            "no bundle for the trust domain (J-9)",
        ),
        (
            "reports",
            ca.expired_jwt_svid("/a", &["reports"]),
            "expired (J-7)",
        ),
        ("reports", "not.a.jwt".to_owned(), "garbage"),
        ("", token.clone(), "audience missing"),
        ("reports", String::new(), "svid missing"),
    ] {
        let status = client
            .validate_jwtsvid(validate_request(audience, &svid))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    }
}

/// A caller may validate tokens of a federated trust domain it federates with, and no other.
#[tokio::test]
async fn validate_jwt_svid_uses_federated_bundles_of_the_caller_only() {
    let ca = test_ca();
    let partner = ca::TestCa::new("partner.org");
    let running = start(
        Agent::builder(ca.ca().clone())
            .entry(mine("/a").with_federates_with("partner.org".parse().unwrap()))
            .federated_bundle(SpiffeBundle::clone(&partner.bundle())),
    )
    .await;
    let mut client = running.client().await;
    let token = partner.jwt_svid("/peer", &["me"]);
    let valid = client
        .validate_jwtsvid(validate_request("me", &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(valid.spiffe_id, "spiffe://partner.org/peer");

    // Without federation the same token is refused.
    let running = start(
        Agent::builder(ca.ca().clone())
            .entry(mine("/a"))
            .federated_bundle(SpiffeBundle::clone(&partner.bundle())),
    )
    .await;
    let mut client = running.client().await;
    let status = client
        .validate_jwtsvid(validate_request("me", &token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

/// W-API-4 (Workload API §4.4): federated bundles follow the entries' `federates_with`, reach
/// open streams when set, and an update without them means they were removed.
#[tokio::test]
async fn federated_bundles_follow_federates_with_and_are_cleared() {
    let ca = test_ca();
    let partner = ca::TestCa::new("partner.org");
    let unrelated = ca::TestCa::new("unrelated.org");
    let running = start(
        Agent::builder(ca.ca().clone())
            .entry(mine("/a").with_federates_with("partner.org".parse().unwrap()))
            .federated_bundle(SpiffeBundle::clone(&unrelated.bundle())),
    )
    .await;
    let mut client = running.client().await;
    let (mut svids, first) = x509_stream(&mut client).await;
    assert!(first.federated_bundles.is_empty());
    let mut x509_bundles = client
        .fetch_x509_bundles(req(X509BundlesRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut x509_bundles).await.bundles.len(), 1);
    let mut jwt = client
        .fetch_jwt_bundles(req(JwtBundlesRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut jwt).await.bundles.len(), 1);

    running
        .agent
        .set_federated_bundle(SpiffeBundle::clone(&partner.bundle()))
        .unwrap();
    let update = next(&mut svids).await;
    assert_eq!(
        update.federated_bundles.keys().collect::<Vec<_>>(),
        ["spiffe://partner.org"]
    );
    assert_eq!(
        update.federated_bundles["spiffe://partner.org"],
        partner.x509_bundle().to_der()
    );
    let bundles = next(&mut x509_bundles).await.bundles;
    let mut keys: Vec<_> = bundles.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["spiffe://example.org", "spiffe://partner.org"]);
    let jwt_update = next(&mut jwt).await.bundles;
    let partner_jwt = JwtBundle::parse_workload_api(
        "partner.org".parse().unwrap(),
        &jwt_update["spiffe://partner.org"],
    )
    .unwrap();
    assert_eq!(partner_jwt, *partner.jwt_bundle());

    assert!(
        running
            .agent
            .remove_federated_bundle(&"partner.org".parse().unwrap())
    );
    let cleared = next(&mut svids).await;
    assert!(cleared.federated_bundles.is_empty());
    assert_eq!(cleared.svids.len(), 1);
    assert_eq!(next(&mut x509_bundles).await.bundles.len(), 1);
    assert_eq!(next(&mut jwt).await.bundles.len(), 1);
}

/// A federated bundle for the agent's own trust domain is refused.
#[tokio::test]
async fn federated_bundle_for_the_own_trust_domain_is_refused() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/a")]).await;
    let result = running.agent.set_federated_bundle(SpiffeBundle::clone(
        &ca::TestCa::new("example.org").bundle(),
    ));
    assert!(matches!(
        result,
        Err(agent::Error::FederatedBundleForOwnTrustDomain(_))
    ));
}

/// Entries added or removed at run time reach open streams; a caller that loses its last
/// entry gets PermissionDenied on the stream (Workload API §5.2.1: stop using the SVIDs).
#[tokio::test]
async fn entry_changes_reach_open_streams() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/a")]).await;
    let mut client = running.client().await;
    let (mut stream, first) = x509_stream(&mut client).await;
    assert_eq!(first.svids.len(), 1);
    let a = running.agent.entries()[0].0;

    let b = running.agent.add_entry(mine("/b")).await.unwrap();
    let update = next(&mut stream).await;
    let ids: Vec<&str> = update.svids.iter().map(|s| s.spiffe_id.as_str()).collect();
    assert_eq!(ids, ["spiffe://example.org/a", "spiffe://example.org/b"]);
    verify_x509(&update.svids[1]);
    // The unchanged SVID is the same certificate.
    assert_eq!(update.svids[0].x509_svid, first.svids[0].x509_svid);

    // An entry for someone else changes nothing for this caller: no message.
    running
        .agent
        .add_entry(
            RegistrationEntry::new("spiffe://example.org/z".parse().unwrap())
                .with_selector(nobody()),
        )
        .await
        .unwrap();

    running.agent.remove_entry(a).unwrap();
    let update = next(&mut stream).await;
    let ids: Vec<&str> = update.svids.iter().map(|s| s.spiffe_id.as_str()).collect();
    assert_eq!(ids, ["spiffe://example.org/b"]);

    running.agent.remove_entry(b).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(matches!(
        running.agent.remove_entry(b),
        Err(agent::Error::UnknownEntry(_))
    ));
}

/// Entries the agent cannot serve are refused when added.
#[tokio::test]
async fn unusable_entries_are_refused() {
    let ca = test_ca();
    let running = start_with(&ca, vec![]).await;
    let foreign = RegistrationEntry::new("spiffe://other.org/a".parse().unwrap())
        .with_selector(Selector::unix_uid(1));
    assert!(matches!(
        running.agent.add_entry(foreign).await,
        Err(agent::Error::Entry(
            agent::EntryError::ForeignTrustDomain { .. }
        ))
    ));
    let no_selectors = RegistrationEntry::new("spiffe://example.org/a".parse().unwrap());
    assert!(matches!(
        running.agent.add_entry(no_selectors).await,
        Err(agent::Error::Entry(agent::EntryError::NoSelectors))
    ));
    assert!(running.agent.entries().is_empty());
}

/// A forced SVID rotation pushes a new certificate and key for the same identity.
#[tokio::test]
async fn rotated_svids_are_pushed() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/a")]).await;
    let mut client = running.client().await;
    let (mut stream, first) = x509_stream(&mut client).await;
    running.agent.rotate_svids().await.unwrap();
    let update = next(&mut stream).await;
    assert_eq!(update.svids[0].spiffe_id, first.svids[0].spiffe_id);
    assert_ne!(update.svids[0].x509_svid, first.svids[0].x509_svid);
    assert_ne!(update.svids[0].x509_svid_key, first.svids[0].x509_svid_key);
    verify_x509(&update.svids[0]);
}

/// SVIDs are re-issued at about half their lifetime without any trigger.
#[tokio::test]
async fn svids_rotate_before_they_expire() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/a").with_x509_ttl(Duration::from_secs(2))]).await;
    let mut client = running.client().await;
    let (mut stream, first) = x509_stream(&mut client).await;
    // Refresh is due between 0.8 s and 1 s; `next` allows 10 s.
    let update = next(&mut stream).await;
    assert_ne!(update.svids[0].x509_svid, first.svids[0].x509_svid);
}

/// A CA rotation (new X.509 authority) re-issues every SVID and pushes it with the new
/// bundle; the new SVID chains to the new authority only.
#[tokio::test]
async fn ca_rotation_reissues_and_pushes_the_new_bundle() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/a")]).await;
    let mut client = running.client().await;
    let (mut stream, first) = x509_stream(&mut client).await;
    ca.rotate();
    let mut update = next(&mut stream).await;
    // The bundle may be published a moment before the re-issued SVIDs: wait for the SVID.
    while update.svids[0].x509_svid == first.svids[0].x509_svid {
        update = next(&mut stream).await;
    }
    assert_eq!(update.svids[0].bundle, ca.x509_bundle().to_der());
    assert!(
        ca.x509_bundle().len() >= 2,
        "old and new authority published"
    );
    verify_x509(&update.svids[0]);

    let new_authority = ca.ca().x509_authority_certificate().unwrap();
    let only_new =
        X509Bundle::from_certificates("example.org".parse().unwrap(), [new_authority]).unwrap();
    let only_new = BundleSet::from_bundles([SpiffeBundle::from(only_new)]).unwrap();
    let verify = |der: &[u8]| {
        let svid =
            svid::X509Svid::from_der(der, &update.svids[0].x509_svid_key, &Crypto::default());
        svid.map(|s| {
            svid::verify(
                s.chain(),
                &only_new,
                &Crypto::default(),
                svid::Usage::Any,
                UnixTime::now(),
            )
            .is_ok()
        })
    };
    assert!(verify(&update.svids[0].x509_svid).unwrap());
    let old_chain = svid::X509Svid::from_der(
        &first.svids[0].x509_svid,
        &first.svids[0].x509_svid_key,
        &Crypto::default(),
    )
    .unwrap();
    assert!(
        svid::verify(
            old_chain.chain(),
            &only_new,
            &Crypto::default(),
            svid::Usage::Any,
            UnixTime::now()
        )
        .is_err()
    );

    // JWT-SVIDs minted after the rotation are signed by the new key.
    let bundles = jwt_bundles(&mut client).await;
    let bundle =
        JwtBundle::parse_workload_api("example.org".parse().unwrap(), &bundles[OWN_KEY]).unwrap();
    assert_eq!(bundle, *ca.jwt_bundle());
}

/// JWT-SVIDs are reused while fresh, and minted again after the JWT key changes.
#[tokio::test]
async fn jwt_svids_are_cached_until_the_key_changes() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/a")]).await;
    let mut client = running.client().await;
    let fetch = |mut client: Client| async move {
        client
            .fetch_jwtsvid(jwt_request(&["x"], ""))
            .await
            .unwrap()
            .into_inner()
            .svids
            .remove(0)
            .svid
    };
    let one = fetch(client.clone()).await;
    let two = fetch(client.clone()).await;
    assert_eq!(one, two);
    let other_audience = client
        .fetch_jwtsvid(jwt_request(&["y"], ""))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(other_audience.svids[0].svid, one);

    // Wait for the agent to see the CA change through a stream, then fetch again.
    let mut bundles = client
        .fetch_jwt_bundles(req(JwtBundlesRequest {}))
        .await
        .unwrap()
        .into_inner();
    next(&mut bundles).await;
    ca.rotate();
    next(&mut bundles).await;
    let three = fetch(client.clone()).await;
    assert_ne!(three, one);
}

/// W-API-9 (Workload API §7): the WIT-SVID profile is not offered, so its RPCs are
/// Unimplemented.
#[tokio::test]
async fn wit_rpcs_are_unimplemented() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/a")]).await;
    let channel = common::channel(&running.socket()).await;
    for method in ["FetchWITSVID", "FetchWITBundles"] {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let path =
            http::uri::PathAndQuery::from_maybe_shared(format!("/SpiffeWorkloadAPI/{method}"))
                .unwrap();
        let codec = tonic_prost::ProstCodec::<X509svidRequest, X509svidRequest>::default();
        let status = grpc
            .server_streaming(req(X509svidRequest {}), path, codec)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented, "{method}");
    }
}

/// Shutdown ends open streams cleanly (end of stream, status OK), answers later calls with
/// Unavailable or a transport error, and removes the socket file.
#[tokio::test]
async fn shutdown_ends_streams_cleanly_and_removes_the_socket() {
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/a")]).await;
    let socket = running.socket();
    let mut client = running.client().await;
    let (mut stream, _) = x509_stream(&mut client).await;
    let common::Running { agent, dir } = running;
    tokio::time::timeout(Duration::from_secs(10), agent.shutdown())
        .await
        .unwrap()
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .unwrap();
    assert!(matches!(end, Ok(None)), "{end:?}");
    assert!(!socket.exists());
    drop(dir);
}

/// TCP callers are attested by source address (`tcp:ip:...`), never by Unix selectors.
#[tokio::test]
async fn tcp_callers_are_attested_by_address() {
    let ca = test_ca();
    let by_ip = RegistrationEntry::new("spiffe://example.org/tcp".parse().unwrap())
        .with_selector("tcp:ip:127.0.0.1".parse().unwrap());
    let running = start(
        Agent::builder(ca.ca().clone())
            .entry(mine("/unix"))
            .entry(by_ip)
            .tcp("127.0.0.1:0".parse().unwrap()),
    )
    .await;
    let addr = running.agent.tcp_addr().unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client =
        workload_api::proto::spiffe_workload_api_client::SpiffeWorkloadApiClient::new(channel);
    let (_stream, first) = x509_stream(&mut client).await;
    let ids: Vec<&str> = first.svids.iter().map(|s| s.spiffe_id.as_str()).collect();
    assert_eq!(ids, ["spiffe://example.org/tcp"]);

    let mut unix = running.client().await;
    let (_stream, first) = x509_stream(&mut unix).await;
    let ids: Vec<&str> = first.svids.iter().map(|s| s.spiffe_id.as_str()).collect();
    assert_eq!(ids, ["spiffe://example.org/unix"]);
}

/// A client whose `:authority` is shorter than `localhost` (here `a`) keeps working when its
/// HPACK dynamic table fills up: the rewrite must never make the agent's copy of a table entry
/// larger than the client's, or the agent evicts entries the client still refers to (RFC 7541
/// §4.4) and the next request fails to decode. The second request's header is sized so that
/// the two tables' sizes straddle the 4,096-byte limit; its exact size depends on tonic's
/// other headers, so a range of sizes is tried, each on a fresh connection.
#[tokio::test]
async fn short_authority_survives_a_full_hpack_table() {
    let ca = test_ca();
    let running = start(
        Agent::builder(ca.ca().clone())
            .entry(mine("/w"))
            .max_connections_per_uid(100_000)
            .max_connections(100_000),
    )
    .await;
    let request = |pad: Option<(&'static str, String)>| {
        let mut request = jwt_request(&["aud"], "");
        if let Some((name, value)) = pad {
            request.metadata_mut().insert(name, value.parse().unwrap());
        }
        request
    };
    for second in 600..1000 {
        let path = running.socket();
        let channel = tonic::transport::Endpoint::from_static("http://a")
            .connect_with_connector(tower::service_fn(move |_| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            }))
            .await
            .unwrap();
        let mut client =
            workload_api::proto::spiffe_workload_api_client::SpiffeWorkloadApiClient::new(channel);
        // 1: `:authority` is the table's oldest entry, then ~3 KB of other entries.
        // 2: one more entry that fits the client's table but, were the agent's copy of
        //    `:authority` larger, not the agent's, which would evict `:authority`.
        // 3: refers to `:authority` by its table index.
        for (step, pad) in [
            Some(("x-pad", "q".repeat(3000))),
            Some(("x-pad-2", "r".repeat(second))),
            None,
        ]
        .into_iter()
        .enumerate()
        {
            let response = client.fetch_jwtsvid(request(pad)).await;
            assert!(
                response.is_ok(),
                "second header of {second} bytes, request {}: {:?}",
                step + 1,
                response.err()
            );
        }
    }
}
