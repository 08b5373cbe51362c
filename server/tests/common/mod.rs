//! A server on loopback with a SQLite store in a temporary directory, a node PKI for x509pop,
//! and clients.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    unreachable_pub,
    reason = "test helper; each test file uses part of it"
)]

pub mod processes;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use node_api::x509pop::NodeCredential;
use node_api::{Attestation, NodeClient, NodeClientConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use server::{RateLimit, Server, X509popAttestor, X509popConfig};

pub const TRUST_DOMAIN: &str = "example.org";

/// An organisation's machine PKI: a root that signs node certificates.
pub struct NodePki {
    pub root_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl NodePki {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let root = params.self_signed(&key).unwrap();
        Self {
            root_der: root.der().to_vec(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A node certificate with subject CN `cn` and its key, as PEM.
    pub fn node_pem(&self, cn: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    pub fn node(&self, cn: &str) -> NodeCredential {
        let (cert, key) = self.node_pem(cn);
        NodeCredential::from_pem(cert.as_bytes(), key.as_bytes(), &svid::Crypto::default()).unwrap()
    }
}

pub struct Fleet {
    pub server: Server,
    pub store: Arc<dyn store::Store>,
    pub pki: NodePki,
    _dir: tempfile::TempDir,
}

#[derive(Default)]
pub struct Options {
    pub rate_limit: RateLimit,
    pub max_node_staleness: Duration,
    /// Foreign bundles the server sends to nodes whose entries federate with them.
    pub federated: Option<tokio::sync::watch::Receiver<trust_bundle::BundleSet>>,
}

impl Fleet {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn store::Store> =
            Arc::new(store::SqliteStore::open(dir.path().join("server.db")).unwrap());
        let ca = ca::CertificateAuthority::builder(TRUST_DOMAIN.parse().unwrap())
            .key_store(store.ca_journal("server").unwrap())
            .build(SystemTime::now())
            .unwrap();
        let pki = NodePki::new("machine root");
        let x509pop = X509popAttestor::new(
            TRUST_DOMAIN.parse().unwrap(),
            X509popConfig::new(vec![pki.root_der.clone().into()]),
            svid::Crypto::default(),
        )
        .unwrap();
        let mut builder = Server::builder(ca, Arc::clone(&store));
        if let Some(federated) = options.federated {
            builder = builder.federated_bundles(federated);
        }
        let server = builder
            .attestor(Arc::new(x509pop))
            .rate_limit(options.rate_limit)
            .max_node_staleness(options.max_node_staleness)
            .entry_refresh_interval(Duration::from_millis(100))
            .serve("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Self {
            server,
            store,
            pki,
            _dir: dir,
        }
    }

    pub fn client(&self) -> NodeClient {
        let bundle = self.server.ca().bundle().x509_bundle().as_ref().clone();
        let config = NodeClientConfig::new(
            vec![self.server.local_addr().to_string()],
            bundle,
            svid::Crypto::default(),
        );
        NodeClient::new(config).unwrap()
    }

    /// A client attested with a fresh join token.
    pub async fn joined(&self) -> NodeClient {
        let token = self
            .server
            .create_join_token(Duration::from_secs(600), None)
            .await
            .unwrap();
        let client = self.client();
        client
            .attest(Attestation::join_token(token.token.as_str()))
            .await
            .unwrap();
        client
    }
}

/// An entry for `id` parented to `parent`.
pub fn entry(id: &str, parent: &spiffe_id::SpiffeId) -> store::EntryRecord {
    store::EntryRecord::new(format!("spiffe://{TRUST_DOMAIN}{id}").parse().unwrap())
        .with_parent_id(Some(parent.clone()))
        .with_selector("unix:uid:1000")
}
