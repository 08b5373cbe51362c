//! Where a connection's peer identity comes from: the verifier of that very connection, through
//! its per-connection configuration and `PeerSlot`, never a record shared between connections.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic here is a failed test"
)]

mod common;

use std::sync::{Arc, LazyLock};

use common::{Authority, Connected, bundle_set, handshake, handshake_with};
use rustls::{ClientConnection, HandshakeKind, ServerConnection};
use rustls_pki_types::ServerName;
use spiffe_id::IdMatcher;
use tls_integration::{Error, SpiffeClientConfig, SpiffeServerConfig, SpiffeTls};

struct World {
    a: Authority,
    a_web: Arc<svid::X509Svid>,
    a_api: Arc<svid::X509Svid>,
    a_db: Arc<svid::X509Svid>,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let a = Authority::new("a.example");
    World {
        a_web: a.svid("/web"),
        a_api: a.svid("/api"),
        a_db: a.svid("/db"),
        a,
    }
});

fn tls() -> SpiffeTls {
    SpiffeTls::new(common::provider())
}

fn server(tls: &SpiffeTls) -> SpiffeServerConfig {
    tls.mtls_server(
        Arc::new(WORLD.a_web.clone()),
        Arc::new(bundle_set(&[&WORLD.a])),
        IdMatcher::any(),
    )
    .unwrap()
}

fn client(tls: &SpiffeTls, svid: &Arc<svid::X509Svid>) -> SpiffeClientConfig {
    tls.mtls_client(
        Arc::new(svid.clone()),
        Arc::new(bundle_set(&[&WORLD.a])),
        IdMatcher::any(),
    )
    .unwrap()
}

/// Connections made from one `for_connection()` pair each, reused for every connection.
fn connections_sharing_one_slot(
    client: &SpiffeClientConfig,
    server: &SpiffeServerConfig,
) -> impl FnMut() -> (Connected<ClientConnection>, Connected<ServerConnection>) + use<> {
    let (client, client_slot) = client.for_connection();
    let (server, server_slot) = server.for_connection();
    move || {
        (
            Connected {
                connection: ClientConnection::new(
                    Arc::clone(&client),
                    ServerName::try_from("workload.invalid").unwrap(),
                )
                .unwrap(),
                slot: client_slot.clone(),
            },
            Connected {
                connection: ServerConnection::new(Arc::clone(&server)).unwrap(),
                slot: server_slot.clone(),
            },
        )
    }
}

/// Two connections to one server configuration, handshaking interleaved: each reports the
/// client its own verifier accepted (X509-SVID 5: the SPIFFE ID is the verified leaf's).
#[test]
fn each_connection_reports_the_peer_its_own_verifier_accepted() {
    let tls = tls();
    let server = server(&tls);
    let api = client(&tls, &WORLD.a_api);
    let db = client(&tls, &WORLD.a_db);
    let (api_c, api_s) = handshake(&api, &server).unwrap();
    let (db_c, db_s) = handshake(&db, &server).unwrap();
    assert_eq!(api_s.peer().unwrap().spiffe_id(), WORLD.a_api.spiffe_id());
    assert_eq!(db_s.peer().unwrap().spiffe_id(), WORLD.a_db.spiffe_id());
    assert_eq!(api_c.peer().unwrap().spiffe_id(), WORLD.a_web.spiffe_id());
    assert_eq!(db_c.peer().unwrap().spiffe_id(), WORLD.a_web.spiffe_id());
    assert_eq!(
        api_s.peer().unwrap().verified().path()[0],
        WORLD.a_api.chain()[0]
    );
}

/// A leaf that our verifier accepted on one connection has no identity on another connection
/// whose verifier is not ours (here rustls' WebPKI verifier over the same root, which accepts
/// the chain but knows nothing of SPIFFE): identity is not looked up by certificate bytes.
#[test]
fn a_leaf_accepted_on_another_connection_has_no_identity_here() {
    let tls = tls();
    let api = client(&tls, &WORLD.a_api);
    let (_, s) = handshake(&api, &server(&tls)).unwrap();
    assert!(s.peer().is_ok());

    let provider = Arc::clone(common::provider().provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(WORLD.a.root.clone()).unwrap();
    let webpki = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .unwrap();
    let webpki_server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(webpki)
        .with_single_cert(
            WORLD.a_web.chain().to_vec(),
            WORLD.a_web.private_key().to_private_key_der().clone_key(),
        )
        .unwrap();
    let (_, s) = handshake(&api, &SpiffeServerConfig::from(webpki_server)).unwrap();
    assert_eq!(s.peer_certificates().unwrap()[0], WORLD.a_api.chain()[0]);
    assert!(matches!(s.peer(), Err(Error::NoPeerIdentity)));

    // The shared configuration carries the shared verifier: it verifies, but reports to no
    // connection.
    let (_, s) = handshake(&api, server(&tls).config()).unwrap();
    assert!(matches!(s.peer(), Err(Error::NoPeerIdentity)));
}

/// A per-connection configuration used for a second connection: its slot then belongs to
/// neither, and neither reports an identity.
#[test]
fn a_per_connection_config_used_twice_reports_no_identity() {
    let tls = tls();
    let (client, server) = (client(&tls, &WORLD.a_api), server(&tls));
    let mut connections = connections_sharing_one_slot(&client, &server);
    let (c, s) = connections();
    let (first_c, first_s) = handshake_with(c, s).unwrap();
    assert!(first_s.peer().is_ok());
    let (c, s) = connections();
    let (second_c, second_s) = handshake_with(c, s).unwrap();
    for result in [
        first_s.peer(),
        second_s.peer(),
        first_c.peer(),
        second_c.peer(),
    ] {
        assert!(matches!(result, Err(Error::NoPeerIdentity)), "{result:?}");
    }
}

/// A resumed session runs no verifier, so it has no verifier result to report: with
/// resumption turned back on (the configurations of `SpiffeTls` never resume, see
/// `second_connection_is_a_full_handshake`), a resumed connection reports no identity, even
/// when it reuses the configuration (and slot) of the full handshake it resumes.
///
/// A client with per-connection configurations never resumes at all: rustls resumes a
/// session only with the very verifier that verified it (`compatible_config` in rustls
/// `msgs/persist.rs`), and each connection has its own. So the resumptions here come from a
/// client that reuses one configuration.
#[test]
fn a_resumed_connection_reports_no_identity() {
    static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    static TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    for versions in [TLS12, TLS13] {
        let tls = tls().with_protocol_versions(versions);
        let mut server = server(&tls);
        let config = server.config_mut();
        config.session_storage = rustls::server::ServerSessionMemoryCache::new(16);
        config.send_tls13_tickets = 1;
        let mut client = client(&tls, &WORLD.a_api);
        client.config_mut().resumption = rustls::client::Resumption::in_memory_sessions(16);

        // Per-connection client configurations: full handshakes, both sides identified.
        for _ in 0..2 {
            let (c, s) = handshake(&client, &server).unwrap();
            assert_eq!(c.handshake_kind(), Some(HandshakeKind::Full));
            assert!(c.peer().is_ok() && s.peer().is_ok());
        }

        // A client reusing its shared configuration resumes; the server's new per-connection
        // configuration then has no verifier result.
        handshake(client.config(), &server).unwrap();
        let (c, s) = handshake(client.config(), &server).unwrap();
        assert_eq!(s.handshake_kind(), Some(HandshakeKind::Resumed));
        assert!(matches!(s.peer(), Err(Error::NoPeerIdentity)));
        assert!(matches!(c.peer(), Err(Error::NoPeerIdentity)));

        // One per-connection configuration (and slot) for both connections on both sides: the
        // full handshake's result is in the slots, and the resumption (same peers, same
        // leaves) still reports none.
        let mut connections = connections_sharing_one_slot(&client, &server);
        let (c, s) = connections();
        let (c, s) = handshake_with(c, s).unwrap();
        assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
        assert!(c.peer().is_ok() && s.peer().is_ok());
        let (c, s) = connections();
        let (c, s) = handshake_with(c, s).unwrap();
        assert_eq!(s.handshake_kind(), Some(HandshakeKind::Resumed));
        assert_eq!(c.handshake_kind(), Some(HandshakeKind::Resumed));
        assert!(matches!(c.peer(), Err(Error::NoPeerIdentity)));
        assert!(matches!(s.peer(), Err(Error::NoPeerIdentity)));
    }
}

/// Nothing is reported before the handshake has finished.
#[test]
fn no_identity_before_the_handshake_finishes() {
    let (config, slot) = server(&tls()).for_connection();
    let connection = ServerConnection::new(config).unwrap();
    assert!(matches!(
        tls_integration::PeerIdentity::from_connection(&connection, &slot),
        Err(Error::NoPeerIdentity)
    ));
}

/// A per-connection configuration is the shared one with its own verifier: every setting
/// (public or private, compared through `Debug`, where the per-connection verifier prints as
/// the shared one) is the same, including settings changed on the shared configuration.
#[test]
fn per_connection_configs_equal_the_shared_one() {
    let tls = tls().with_alpn_protocols(["h2"]);
    let mut server = server(&tls);
    let config = server.config_mut();
    config.max_fragment_size = Some(4096);
    config.ignore_client_order = true;
    config.send_tls13_tickets = 1;
    config.max_early_data_size = 7;
    config.send_half_rtt_data = true;
    config.max_tls13_tickets = 3;
    config.enable_secret_extraction = true;
    config.require_ems = !config.require_ems;
    config.cert_compressors.clear();
    config.cert_decompressors.clear();
    config.key_log = Arc::new(rustls::KeyLogFile::new());
    let (per_connection, _) = server.for_connection();
    assert_eq!(
        format!("{per_connection:?}"),
        format!("{:?}", server.config())
    );

    let mut client = client(&tls, &WORLD.a_api);
    client.config_mut().max_fragment_size = Some(4096);
    let (per_connection, _) = client.for_connection();
    assert_eq!(
        format!("{per_connection:?}"),
        format!("{:?}", client.config())
    );
}

/// A rustls configuration built by hand gets the same per-connection identity through the
/// verifier's `for_connection`: the shared verifier keeps its result cache, each connection's
/// wrapper reports to its own slot.
#[test]
fn a_hand_built_config_gets_identity_through_the_verifiers_for_connection() {
    let crypto = common::provider();
    let provider = Arc::clone(crypto.provider());
    let tls = SpiffeTls::new(crypto).with_result_cache(16);
    let verifier = Arc::new(tls.client_verifier(
        Arc::new(bundle_set(&[&WORLD.a])),
        IdMatcher::exact(WORLD.a_api.spiffe_id().clone()),
    ));
    for _ in 0..2 {
        let (connection_verifier, slot) = verifier.for_connection();
        let config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(connection_verifier)
            .with_single_cert(
                WORLD.a_web.chain().to_vec(),
                WORLD.a_web.private_key().to_private_key_der().clone_key(),
            )
            .unwrap();
        let client_side = client(&tls, &WORLD.a_api);
        let (c, s) = handshake_with(
            Connected {
                connection: ClientConnection::new(
                    client_side.for_connection().0,
                    ServerName::try_from("workload.invalid").unwrap(),
                )
                .unwrap(),
                slot: tls_integration::PeerSlot::empty(),
            },
            Connected {
                connection: ServerConnection::new(Arc::new(config)).unwrap(),
                slot,
            },
        )
        .unwrap();
        assert_eq!(s.peer().unwrap().spiffe_id(), WORLD.a_api.spiffe_id());
        assert_eq!(c.handshake_kind(), Some(HandshakeKind::Full));
    }
}
