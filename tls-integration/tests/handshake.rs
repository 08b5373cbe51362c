//! In-memory rustls handshakes through the verifiers, resolvers and configurations of this
//! crate, with each enabled crypto provider. Security regressions are cited from
//! shared/research/USER-NEEDS.md section 2 ("regression N") and the spec digest rule IDs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic here is a failed test"
)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use common::{Authority, SwapBundles, SwapSvid, bundle_set, handshake, providers};
use rcgen::{KeyUsagePurpose, SanType};
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use rustls::{AlertDescription, ClientConfig, HandshakeKind, RootCertStore};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use spiffe_id::{IdMatcher, SpiffeId};
use svid::{Crypto, ProfileError, VerifyError, X509SvidSource};
use tls_integration::{
    Denied, Error, SpiffeClientConfig, SpiffeServerConfig, SpiffeServerVerifier, SpiffeTls,
    SvidResolver, authorize, danger::AnyPeer,
};
use trust_bundle::{BundleSet, X509BundleSource};

/// Two trust domains, minted once per test binary.
struct World {
    a: Authority,
    b: Authority,
    /// spiffe://a.example/web and spiffe://a.example/api.
    a_web: Arc<svid::X509Svid>,
    a_api: Arc<svid::X509Svid>,
    /// spiffe://b.example/client.
    b_client: Arc<svid::X509Svid>,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let a = Authority::new("a.example");
    let b = Authority::new("b.example");
    World {
        a_web: a.svid("/web"),
        a_api: a.svid("/api"),
        b_client: b.svid("/client"),
        a,
        b,
    }
});

fn id(s: &str) -> SpiffeId {
    s.parse().unwrap()
}

fn both_bundles() -> Arc<BundleSet> {
    Arc::new(bundle_set(&[&WORLD.a, &WORLD.b]))
}

/// A server presenting a_web that accepts the clients `authorizer` accepts.
fn server(
    tls: &SpiffeTls,
    bundles: Arc<dyn X509BundleSource>,
    authorizer: IdMatcher,
) -> Arc<SpiffeServerConfig> {
    Arc::new(
        tls.mtls_server(Arc::new(WORLD.a_web.clone()), bundles, authorizer)
            .unwrap(),
    )
}

/// A client presenting `svid` that expects the server spiffe://a.example/web.
fn client(
    tls: &SpiffeTls,
    svid: Arc<svid::X509Svid>,
    bundles: Arc<dyn X509BundleSource>,
) -> Arc<SpiffeClientConfig> {
    Arc::new(
        tls.mtls_client(
            Arc::new(svid),
            bundles,
            IdMatcher::exact(id("spiffe://a.example/web")),
        )
        .unwrap(),
    )
}

/// A client that presents an arbitrary chain and key (an attacker does not use our resolver),
/// and accepts any verifiable SPIFFE server.
fn raw_client(
    provider: &Crypto,
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
) -> Arc<ClientConfig> {
    let verifier = SpiffeServerVerifier::new(both_bundles(), AnyPeer, provider);
    let signing = provider
        .provider()
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
        .unwrap();
    Arc::new(
        ClientConfig::builder_with_provider(Arc::clone(provider.provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_cert_resolver(Arc::new(Fixed(Arc::new(CertifiedKey::new(
                chain, signing,
            ))))),
    )
}

static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
static TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesClientCert for Fixed {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
    fn has_certs(&self) -> bool {
        true
    }
}

impl rustls::server::ResolvesServerCert for Fixed {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// The server's view of an attacker client presenting `chain` + `key` to a server accepting
/// any peer: the error of this crate it reports.
fn server_refuses(chain: Vec<CertificateDer<'static>>, key: Vec<u8>) -> Vec<String> {
    server_refusals(chain, key)
        .into_iter()
        .map(|(_, reason)| reason)
        .collect()
}

/// Per provider, the alert the attacker client of [`server_refuses`] receives, and the typed
/// reason the refusing server keeps (taken on the handshake's thread).
fn server_refusals(
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
) -> Vec<(AlertDescription, String)> {
    let mut refusals = Vec::new();
    for (name, provider) in providers() {
        let tls = SpiffeTls::new(provider.clone());
        let srv = Arc::new(
            tls.mtls_server(Arc::new(WORLD.a_web.clone()), both_bundles(), AnyPeer)
                .unwrap(),
        );
        let failure = handshake(&raw_client(&provider, chain.clone(), key.clone()), &srv)
            .map(|_| ())
            .expect_err(name);
        let alert = failure
            .client_received()
            .unwrap_or_else(|| panic!("{name}: the client received no alert: {failure:?}"));
        refusals.push((alert, format!("{:?}", failure.cause())));
    }
    refusals
}

#[test]
fn mtls_accepts_authorized_peers_and_exposes_their_ids() {
    for (name, provider) in providers() {
        let tls = SpiffeTls::new(provider);
        let srv = server(
            &tls,
            both_bundles(),
            IdMatcher::pattern("spiffe://a.example/*").unwrap(),
        );
        let (c, s) =
            handshake(&client(&tls, WORLD.a_api.clone(), both_bundles()), &srv).expect(name);
        assert_eq!(
            s.peer().unwrap().spiffe_id(),
            &id("spiffe://a.example/api"),
            "{name}"
        );
        assert_eq!(
            c.peer().unwrap().spiffe_id().clone(),
            id("spiffe://a.example/web"),
            "{name}"
        );
    }
}

#[test]
fn both_tls_versions_verify_handshake_signatures() {
    for (name, provider) in providers() {
        for (version, versions) in [
            (&rustls::version::TLS12, TLS12),
            (&rustls::version::TLS13, TLS13),
        ] {
            let tls = SpiffeTls::new(provider.clone()).with_protocol_versions(versions);
            let srv = server(&tls, both_bundles(), IdMatcher::any());
            let (c, _) =
                handshake(&client(&tls, WORLD.a_api.clone(), both_bundles()), &srv).expect(name);
            assert_eq!(c.protocol_version(), Some(version.version), "{name}");
        }
    }
}

/// A client whose certificate chain is valid but whose CertificateVerify is signed with
/// another key is refused: handshake signatures are checked, not only chains.
#[test]
fn rejects_handshake_signature_by_wrong_key() {
    for (name, provider) in providers() {
        for versions in [TLS12, TLS13] {
            let tls = SpiffeTls::new(provider.clone());
            let srv = server(&tls, both_bundles(), IdMatcher::any());
            let other_key = WORLD.a_web.private_key().to_private_key_der().clone_key();
            let signing = provider
                .provider()
                .key_provider
                .load_private_key(other_key)
                .unwrap();
            let forged = CertifiedKey::new(WORLD.a_api.chain().to_vec(), signing);
            let verifier = SpiffeServerVerifier::new(both_bundles(), AnyPeer, &provider);
            let cli = Arc::new(
                ClientConfig::builder_with_provider(Arc::clone(provider.provider()))
                    .with_protocol_versions(versions)
                    .unwrap()
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
                    .with_client_cert_resolver(Arc::new(Fixed(Arc::new(forged)))),
            );
            let failure = handshake(&cli, &srv).map(|_| ()).expect_err(name);
            assert!(
                matches!(
                    failure.server,
                    Some(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::BadSignature
                    ))
                ),
                "{name}: {failure:?}"
            );
        }
    }
}

#[test]
fn server_refuses_client_the_authorizer_refuses() {
    let tls = SpiffeTls::new(common::provider());
    let srv = server(
        &tls,
        both_bundles(),
        IdMatcher::exact(id("spiffe://a.example/api")),
    );
    let failure = handshake(&client(&tls, WORLD.b_client.clone(), both_bundles()), &srv)
        .map(|_| ())
        .unwrap_err();
    match failure.cause() {
        Error::Unauthorized { spiffe_id, .. } => {
            assert_eq!(spiffe_id, &id("spiffe://b.example/client"));
        }
        other => panic!("unexpected {other:?}"),
    }
    // The client learns it through the alert: access_denied, not bad_certificate.
    assert_eq!(
        failure.client_received(),
        Some(AlertDescription::AccessDenied),
        "{failure:?}"
    );
}

#[test]
fn client_refuses_server_the_authorizer_refuses() {
    let tls = SpiffeTls::new(common::provider());
    let srv = server(&tls, both_bundles(), IdMatcher::any());
    let cli = Arc::new(
        tls.mtls_client(
            Arc::new(WORLD.a_api.clone()),
            both_bundles(),
            IdMatcher::exact(id("spiffe://a.example/db")),
        )
        .unwrap(),
    );
    let failure = handshake(&cli, &srv).map(|_| ()).unwrap_err();
    // The refusing client keeps the typed reason; the server receives access_denied.
    assert!(
        matches!(failure.cause(), Error::Unauthorized { .. }),
        "{failure:?}"
    );
    assert!(
        matches!(
            failure.client,
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure
            ))
        ),
        "{failure:?}"
    );
    assert_eq!(
        failure.server_received(),
        Some(AlertDescription::AccessDenied),
        "{failure:?}"
    );
}

/// Regression 1 (spiffe/spiffe#375): a leaf for spiffe://b.example signed by a.example's CA is
/// refused although both bundles are loaded (X509-SVID 5; digest rule X-11).
#[test]
fn rejects_cross_trust_domain_impersonation_signed_directly() {
    let (chain, key) = WORLD.a.leaf_with("spiffe://b.example/client", |_| {});
    for error in server_refuses(chain, key) {
        assert!(error.contains("Verify"), "{error}");
    }
}

/// Regression 1, second form: through an a.example-issued intermediate named spiffe://b.example.
#[test]
fn rejects_cross_trust_domain_impersonation_via_intermediate() {
    let rogue = WORLD.a.intermediate("spiffe://b.example");
    let (chain, key) = rogue.leaf_with("spiffe://b.example/client", |_| {});
    for error in server_refuses(chain, key) {
        assert!(error.contains("Verify"), "{error}");
    }
}

/// Regression 4 (rust-spiffe#355): the intermediate CA itself, which has a SPIFFE ID and a key,
/// presented as the peer leaf (X509-SVID 4.1, 5.2; X-5).
#[test]
fn rejects_ca_certificate_presented_as_leaf() {
    // A CA certificate with a SPIFFE ID, issued by the real authority, with its own key.
    let (chain, key) = WORLD.a.leaf_with("spiffe://a.example/ca", |p| {
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    });
    for (alert, error) in server_refusals(chain, key) {
        assert!(
            error.contains("LeafIsCa") || error.contains("LeafCanSign"),
            "{error}"
        );
        // Not an SVID: bad_certificate.
        assert_eq!(alert, AlertDescription::BadCertificate, "{error}");
    }
}

/// Regression 5 (rust-spiffe#366, go-spiffe#405): leaves without digitalSignature, or without
/// key usage at all (X509-SVID 4.3).
#[test]
fn rejects_leaf_without_digital_signature_or_key_usage() {
    let (chain, key) = WORLD.a.leaf_with("spiffe://a.example/x", |p| {
        p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    });
    for (alert, error) in server_refusals(chain, key) {
        assert!(error.contains("DigitalSignature"), "{error}");
        // Well-formed, but not for signing: unsupported_certificate.
        assert_eq!(alert, AlertDescription::UnsupportedCertificate, "{error}");
    }
    let (chain, key) = WORLD
        .a
        .leaf_with("spiffe://a.example/x", |p| p.key_usages.clear());
    for error in server_refuses(chain, key) {
        assert!(error.contains("MissingKeyUsage"), "{error}");
    }
}

/// Regression 6 (rust-spiffe#325): a leaf with a SPIFFE URI SAN and a second URI SAN
/// (X509-SVID 2; X-1).
#[test]
fn rejects_leaf_with_two_uri_sans() {
    let (chain, key) = WORLD.a.leaf_with("spiffe://a.example/x", |p| {
        p.subject_alt_names
            .push(SanType::URI("https://a.example/".try_into().unwrap()));
    });
    for error in server_refuses(chain, key) {
        assert!(error.contains("MultipleUriSans"), "{error}");
    }
}

/// Regression 7 (go-spiffe#375/#405): a root-path leaf ID on the rustls server and client
/// paths (X509-SVID 5.2; X-4).
#[test]
fn rejects_root_path_leaf_on_server_and_client() {
    let (chain, key) = WORLD.a.leaf_with("spiffe://a.example", |_| {});
    for error in server_refuses(chain.clone(), key) {
        assert!(error.contains("LeafRootPath"), "{error}");
    }
    let verifier = SpiffeServerVerifier::new(both_bundles(), AnyPeer, &common::provider());
    let err = verifier
        .verify(&chain[0], &chain[1..], rustls_pki_types::UnixTime::now())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(svid::Error::Profile(ProfileError::LeafRootPath))
        ),
        "{err:?}"
    );
}

/// An expired SVID is refused with the certificate_expired alert, and the server keeps the
/// typed reason (which certificate, its notAfter).
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.6 step 6.
#[test]
fn rejects_expired_svid() {
    let (chain, key) = WORLD.a.leaf_with("spiffe://a.example/old", |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    for (alert, error) in server_refusals(chain, key) {
        assert!(
            error.contains("Expired") && error.contains("Leaf"),
            "{error}"
        );
        assert_eq!(alert, AlertDescription::CertificateExpired, "{error}");
    }
}

/// A chain whose signature does not verify under the bundle authority of its trust domain
/// (same issuer name, another key) is refused with decrypt_error, as rustls does for a bad
/// signature.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.6 step 6 (signatures verify up to the bundle).
#[test]
fn bad_chain_signature_gets_decrypt_error() {
    let stranger = Authority::new("a.example"); // same name, different key
    let (chain, key) = stranger.leaf_with("spiffe://a.example/api", |_| {});
    for (alert, error) in server_refusals(chain, key) {
        assert!(error.contains("BadSignature"), "{error}");
        assert_eq!(alert, AlertDescription::DecryptError, "{error}");
    }
}

/// Regression 8 (java-spiffe#449): an untrusted chain with an allowed ID fails on the chain;
/// the authorizer is never called.
#[test]
fn authorizer_never_sees_unverified_chains() {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let stranger = Authority::new("a.example"); // same name, different key
    let (chain, key) = stranger.leaf_with("spiffe://a.example/api", |_| {});
    let provider = common::provider();
    let tls = SpiffeTls::new(provider.clone());
    let spy = authorize::from_fn(|_| {
        CALLS.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    let srv = Arc::new(
        tls.mtls_server(Arc::new(WORLD.a_web.clone()), both_bundles(), spy)
            .unwrap(),
    );
    let failure = handshake(&raw_client(&provider, chain, key), &srv)
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(failure.cause(), Error::Verify(svid::Error::Verify(_))),
        "{failure:?}"
    );
    assert_eq!(CALLS.load(Ordering::SeqCst), 0);
}

/// Regression 3 (rust-spiffe#329/#346): there is no hostname check, so a server name that
/// matches nothing neither fails a good chain nor hides a bad one.
#[test]
fn server_name_is_ignored_and_never_masks_a_chain_failure() {
    let provider = common::provider();
    let tls = SpiffeTls::new(provider);
    let verifier = tls.server_verifier(both_bundles(), IdMatcher::any());
    let names = ["workload.invalid", "localhost", "10.0.0.1"];
    use rustls::client::danger::ServerCertVerifier;
    for name in names {
        let name = rustls_pki_types::ServerName::try_from(name).unwrap();
        let chain = WORLD.a_web.chain();
        verifier
            .verify_server_cert(
                &chain[0],
                &chain[1..],
                &name,
                &[],
                rustls_pki_types::UnixTime::now(),
            )
            .unwrap();
        let stranger = Authority::new("a.example");
        let (bad, _) = stranger.leaf_with("spiffe://a.example/web", |_| {});
        let err = verifier
            .verify_server_cert(&bad[0], &[], &name, &[], rustls_pki_types::UnixTime::now())
            .unwrap_err();
        assert!(
            matches!(Error::take_refusal(&err).as_deref(), Some(Error::Verify(_))),
            "{err:?}"
        );
    }
}

/// Regression 2 (rust-spiffe#350): with no bundle for the peer's trust domain, verification
/// fails closed with a typed error (X509-SVID 5; X-11).
#[test]
fn fails_closed_without_the_peer_trust_domain_bundle() {
    let tls = SpiffeTls::new(common::provider());
    let only_a = Arc::new(bundle_set(&[&WORLD.a]));
    let srv = server(&tls, only_a, IdMatcher::any());
    let failure = handshake(&client(&tls, WORLD.b_client.clone(), both_bundles()), &srv)
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(
            failure.cause(),
            Error::Verify(svid::Error::Verify(VerifyError::NoBundle { .. }))
        ),
        "{failure:?}"
    );
    // The client learns its trust domain is unknown here: unknown_ca.
    assert_eq!(
        failure.client_received(),
        Some(AlertDescription::UnknownCA),
        "{failure:?}"
    );
    let empty = Arc::new(BundleSet::new());
    let srv = server(&tls, empty, IdMatcher::any());
    assert!(handshake(&client(&tls, WORLD.a_api.clone(), both_bundles()), &srv).is_err());
}

/// A federated peer (b.example) is accepted only while b.example's bundle is present.
#[test]
fn federated_peer_accepted_only_with_its_bundle() {
    let tls = SpiffeTls::new(common::provider());
    let bundles = SwapBundles::new(bundle_set(&[&WORLD.a]));
    let srv = server(
        &tls,
        bundles.clone(),
        IdMatcher::member_of("b.example".parse().unwrap()),
    );
    let cli = client(&tls, WORLD.b_client.clone(), both_bundles());
    assert!(handshake(&cli, &srv).is_err());
    bundles.set(bundle_set(&[&WORLD.a, &WORLD.b]));
    handshake(&cli, &srv).unwrap();
    // Defederation applies to the next handshake.
    bundles.set(bundle_set(&[&WORLD.a]));
    assert!(handshake(&cli, &srv).is_err());
}

/// Regression 14 (spiffe-rustls 0.1.1): bundle rotation applies to the next handshake of the
/// same configuration, in both directions (a new authority accepted, a removed one refused).
#[test]
fn bundle_rotation_applies_without_new_config() {
    for (name, provider) in providers() {
        let tls = SpiffeTls::new(provider);
        let next = Authority::new("a.example");
        let next_client = next.svid("/api");
        let bundles = SwapBundles::new(bundle_set(&[&WORLD.a]));
        let srv = server(&tls, bundles.clone(), IdMatcher::any());
        let old_cli = client(&tls, WORLD.a_api.clone(), both_bundles());
        let new_cli = client(&tls, next_client, both_bundles());
        handshake(&old_cli, &srv).expect(name);
        assert!(handshake(&new_cli, &srv).is_err(), "{name}");
        // Overlap: both authorities in the bundle.
        let overlap = trust_bundle::X509Bundle::from_certificates(
            "a.example".parse().unwrap(),
            [WORLD.a.root.clone(), next.root.clone()],
        )
        .unwrap();
        bundles.set(BundleSet::from_bundles([trust_bundle::SpiffeBundle::from(overlap)]).unwrap());
        handshake(&old_cli, &srv).expect(name);
        handshake(&new_cli, &srv).expect(name);
        // Old authority retired.
        bundles.set(bundle_set(&[&next]));
        assert!(handshake(&old_cli, &srv).is_err(), "{name}");
        handshake(&new_cli, &srv).expect(name);
    }
}

/// SVID rotation: the next handshake presents the new SVID, the configuration is unchanged,
/// and the rustls key is built once per SVID (same Arc until rotation).
#[test]
fn svid_rotation_applies_to_next_handshake() {
    let provider = common::provider();
    let tls = SpiffeTls::new(provider);
    let source = SwapSvid::new(WORLD.a_web.clone());
    let srv = Arc::new(
        tls.mtls_server(source.clone(), both_bundles(), IdMatcher::any())
            .unwrap(),
    );
    let cli = Arc::new(
        tls.mtls_client(
            Arc::new(WORLD.a_api.clone()),
            both_bundles(),
            IdMatcher::any(),
        )
        .unwrap(),
    );
    let (c, _) = handshake(&cli, &srv).unwrap();
    assert_eq!(
        c.peer().unwrap().spiffe_id().clone(),
        id("spiffe://a.example/web")
    );
    let rotated = WORLD.a.svid("/web");
    source.set(rotated.clone());
    let (c, _) = handshake(&cli, &srv).unwrap();
    assert_eq!(c.peer_certificates().unwrap()[0], rotated.chain()[0]);

    let resolver = SvidResolver::new(source.clone());
    let first = resolver.certified_key().unwrap();
    assert!(Arc::ptr_eq(&first, &resolver.certified_key().unwrap()));
    source.set(WORLD.a.svid("/web"));
    let second = resolver.certified_key().unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    assert!(Arc::ptr_eq(&second, &resolver.certified_key().unwrap()));
}

/// A source without an SVID makes the resolver offer nothing, and the handshake fails.
#[test]
fn no_svid_means_no_certificate() {
    struct Empty;
    impl X509SvidSource for Empty {
        fn x509_svid(&self) -> Option<Arc<svid::X509Svid>> {
            None
        }
    }
    let tls = SpiffeTls::new(common::provider());
    let resolver = SvidResolver::new(Arc::new(Empty));
    assert!(matches!(resolver.certified_key(), Err(Error::NoSvid)));
    let srv = Arc::new(
        tls.mtls_server(Arc::new(Empty), both_bundles(), IdMatcher::any())
            .unwrap(),
    );
    assert!(handshake(&client(&tls, WORLD.a_api.clone(), both_bundles()), &srv).is_err());
}

/// Regression 16a (spiffe/spire#6715, rust-spiffe#370): the configurations never resume; a
/// second connection with the same configurations runs a full, verified handshake.
#[test]
fn second_connection_is_a_full_handshake() {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    for versions in [TLS12, TLS13] {
        CALLS.store(0, Ordering::SeqCst);
        let tls = SpiffeTls::new(common::provider()).with_protocol_versions(versions);
        let counting = authorize::from_fn(|_| {
            CALLS.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        let srv = Arc::new(
            tls.mtls_server(Arc::new(WORLD.a_web.clone()), both_bundles(), counting)
                .unwrap(),
        );
        let cli = client(&tls, WORLD.a_api.clone(), both_bundles());
        for round in 1..=3 {
            let (c, s) = handshake(&cli, &srv).unwrap();
            assert_eq!(c.handshake_kind(), Some(HandshakeKind::Full));
            assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
            assert_eq!(CALLS.load(Ordering::SeqCst), round);
        }
    }
}

/// With the verification-result cache on, repeat peers still go through the authorizer on
/// every handshake, and a bundle change still refuses a now-untrusted chain.
#[test]
fn result_cache_keeps_authorization_and_bundle_changes() {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let tls = SpiffeTls::new(common::provider()).with_result_cache(64);
    let bundles = SwapBundles::new(bundle_set(&[&WORLD.a]));
    let flip = authorize::from_fn(|peer| {
        let n = CALLS.fetch_add(1, Ordering::SeqCst);
        if n < 2 {
            Ok(())
        } else {
            Err(Denied::new(format!("{} revoked", peer.spiffe_id())))
        }
    });
    let srv = Arc::new(
        tls.mtls_server(Arc::new(WORLD.a_web.clone()), bundles.clone(), flip)
            .unwrap(),
    );
    let cli = client(&tls, WORLD.a_api.clone(), both_bundles());
    handshake(&cli, &srv).unwrap();
    handshake(&cli, &srv).unwrap();
    let failure = handshake(&cli, &srv).map(|_| ()).unwrap_err();
    assert!(matches!(failure.cause(), Error::Unauthorized { .. }));
    assert_eq!(CALLS.load(Ordering::SeqCst), 3);

    let tls = SpiffeTls::new(common::provider()).with_result_cache(64);
    let srv = Arc::new(
        tls.mtls_server(
            Arc::new(WORLD.a_web.clone()),
            bundles.clone(),
            IdMatcher::any(),
        )
        .unwrap(),
    );
    handshake(&cli, &srv).unwrap();
    bundles.set(bundle_set(&[&WORLD.b]));
    assert!(handshake(&cli, &srv).is_err());
}

#[test]
fn tls_client_and_tls_server_modes() {
    for (name, provider) in providers() {
        let tls = SpiffeTls::new(provider);
        // TLS server with SVID, client unauthenticated; the client verifies the server SVID.
        let srv = Arc::new(tls.tls_server(Arc::new(WORLD.a_web.clone())).unwrap());
        let cli = Arc::new(
            tls.tls_client(
                both_bundles(),
                IdMatcher::exact(id("spiffe://a.example/web")),
            )
            .unwrap(),
        );
        let (c, s) = handshake(&cli, &srv).expect(name);
        assert!(matches!(s.peer(), Err(Error::NoPeerIdentity)));
        assert_eq!(
            c.peer().unwrap().spiffe_id().clone(),
            id("spiffe://a.example/web")
        );
        // A TLS client against an mTLS server is refused (client certificate required).
        let mtls = server(&tls, both_bundles(), IdMatcher::any());
        assert!(handshake(&cli, &mtls).is_err(), "{name}");
        // A TLS client whose authorizer refuses the server.
        let picky = Arc::new(
            tls.tls_client(
                both_bundles(),
                IdMatcher::exact(id("spiffe://a.example/db")),
            )
            .unwrap(),
        );
        assert!(handshake(&picky, &srv).is_err(), "{name}");
    }
}

/// The two WebPKI hybrids: a client with an SVID against a server with a DNS certificate, and
/// a server with a DNS certificate that requires client SVIDs.
#[test]
fn web_hybrid_modes() {
    let web_key = rcgen::KeyPair::generate().unwrap();
    let mut web_ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    web_ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    web_ca
        .distinguished_name
        .push(rcgen::DnType::CommonName, "web root");
    let web_root = web_ca.self_signed(&web_key).unwrap();
    let web_issuer = rcgen::Issuer::new(web_ca, web_key);
    let site_key = rcgen::KeyPair::generate().unwrap();
    let site = rcgen::CertificateParams::new(vec!["workload.invalid".to_string()])
        .unwrap()
        .signed_by(&site_key, &web_issuer)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(web_root.der().clone()).unwrap();
    let roots = Arc::new(roots);

    for (name, provider) in providers() {
        let tls = SpiffeTls::new(provider.clone());
        let site_key = provider
            .provider()
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(site_key.serialize_der().into()))
            .unwrap();
        let certified = Arc::new(CertifiedKey::new(vec![site.der().clone()], site_key));
        let web_server = Arc::new(
            tls.mtls_web_server(
                Arc::new(Fixed(Arc::clone(&certified))),
                both_bundles(),
                IdMatcher::exact(id("spiffe://a.example/api")),
            )
            .unwrap(),
        );
        let web_client = Arc::new(
            tls.mtls_web_client(Arc::new(WORLD.a_api.clone()), Arc::clone(&roots))
                .unwrap(),
        );
        let (_, s) = handshake(&web_client, &web_server).expect(name);
        assert_eq!(s.peer().unwrap().spiffe_id(), &id("spiffe://a.example/api"));
        // The web client checks the DNS name: an SVID server is not acceptable to it.
        let svid_server = server(&tls, both_bundles(), IdMatcher::any());
        assert!(handshake(&web_client, &svid_server).is_err(), "{name}");
        // The web server refuses a client the authorizer refuses.
        let other = Arc::new(
            tls.mtls_web_client(Arc::new(WORLD.b_client.clone()), Arc::clone(&roots))
                .unwrap(),
        );
        assert!(handshake(&other, &web_server).is_err(), "{name}");
    }
}

/// The typed reason of a refusal is handed out once, only for the rustls error the verifier
/// returned, and a later check on the same thread forgets an unclaimed one.
#[test]
fn refusal_reason_is_taken_once_and_only_for_its_error() {
    use rustls::client::danger::ServerCertVerifier;
    let verifier = SpiffeServerVerifier::new(both_bundles(), AnyPeer, &common::provider());
    let name = rustls_pki_types::ServerName::try_from("workload.invalid").unwrap();
    let now = rustls_pki_types::UnixTime::now();
    let (expired, _) = WORLD.a.leaf_with("spiffe://a.example/old", |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let refuse = || {
        verifier
            .verify_server_cert(&expired[0], &expired[1..], &name, &[], now)
            .unwrap_err()
    };
    let err = refuse();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(rustls::CertificateError::ExpiredContext { .. })
        ),
        "{err:?}"
    );
    let other = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
    assert!(Error::take_refusal(&other).is_none());
    assert!(matches!(
        Error::take_refusal(&err).as_deref(),
        Some(Error::Verify(svid::Error::Verify(
            VerifyError::Expired { .. }
        )))
    ));
    assert!(Error::take_refusal(&err).is_none(), "taken twice");

    // An unclaimed refusal is forgotten by the next check, even a successful one.
    let err = refuse();
    let good = WORLD.a_web.chain();
    verifier
        .verify_server_cert(&good[0], &good[1..], &name, &[], now)
        .unwrap();
    assert!(Error::take_refusal(&err).is_none());
}

#[test]
fn verifier_errors_are_typed_inside_rustls_errors() {
    let rustls_error: rustls::Error = Error::NoSvid.into();
    assert!(matches!(
        rustls_error,
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(_))
    ));
    assert!(matches!(
        Error::from_rustls(&rustls_error),
        Some(Error::NoSvid)
    ));
    assert!(Error::from_rustls(&rustls::Error::DecryptError).is_none());
}

/// Regression 10 (rust-spiffe#348): an oversized URI SAN next to a valid SPIFFE ID is not
/// skipped; the leaf is refused (X509-SVID 2; X-1).
#[test]
fn rejects_oversized_uri_san_next_to_a_valid_one() {
    let long = format!("spiffe://a.example/{}", "x".repeat(3000));
    let (chain, key) = WORLD.a.leaf_with("spiffe://a.example/api", |p| {
        p.subject_alt_names
            .push(SanType::URI(long.as_str().try_into().unwrap()));
    });
    for error in server_refuses(chain, key) {
        assert!(
            error.contains("MultipleUriSans") || error.contains("UriTooLong"),
            "{error}"
        );
    }
}

/// Regression 22 (RUSTSEC-2023-0052/0053): a peer sending many intermediates is refused
/// before any path building (svid::MAX_CHAIN_LEN).
#[test]
fn rejects_overlong_chains_up_front() {
    let intermediate = WORLD.a.intermediate("spiffe://a.example");
    let (mut chain, key) = intermediate.leaf_with("spiffe://a.example/api", |_| {});
    let extra = chain[1].clone();
    chain.extend(std::iter::repeat_n(extra, 12));
    for error in server_refuses(chain, key) {
        assert!(error.contains("ChainTooLong"), "{error}");
    }
}

/// `mtls_server_allowing_anonymous`: a client without a certificate completes the handshake
/// with no identity; one with a certificate is still verified (an unknown CA is refused) and
/// authorized.
#[test]
fn anonymous_clients_pass_only_where_allowed_and_never_with_a_bad_certificate() {
    for (name, provider) in providers() {
        let tls = SpiffeTls::new(provider.clone());
        let allowing = Arc::new(
            tls.mtls_server_allowing_anonymous(
                Arc::new(WORLD.a_web.clone()),
                both_bundles(),
                IdMatcher::pattern("spiffe://a.example/*").unwrap(),
            )
            .unwrap(),
        );
        let anonymous = Arc::new(
            tls.tls_client(
                both_bundles(),
                IdMatcher::exact(id("spiffe://a.example/web")),
            )
            .unwrap(),
        );
        let (_, s) = handshake(&anonymous, &allowing).expect(name);
        assert!(
            s.peer().is_err(),
            "{name}: an anonymous client has no identity"
        );

        let (_, s) = handshake(
            &client(&tls, WORLD.a_api.clone(), both_bundles()),
            &allowing,
        )
        .expect(name);
        assert_eq!(s.peer().unwrap().spiffe_id(), &id("spiffe://a.example/api"));

        let stranger = ca::TestCa::new("a.example").x509_svid("/api");
        let refused = handshake(&client(&tls, Arc::new(stranger), both_bundles()), &allowing);
        assert!(
            refused.is_err(),
            "{name}: a certificate from an unknown CA passed"
        );

        // The plain mTLS server still refuses anonymous clients.
        let strict = server(
            &tls,
            both_bundles(),
            IdMatcher::pattern("spiffe://a.example/*").unwrap(),
        );
        assert!(handshake(&anonymous, &strict).is_err(), "{name}");
    }
}
