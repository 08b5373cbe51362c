//! The `agent` binary's configuration file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ca::{CertificateAuthority, KeyType};
use serde::Deserialize;
use spiffe_id::{SpiffeId, TrustDomain};
use svid::JwtAlgorithm;
use trust_bundle::SpiffeBundle;

use crate::attest::{TCP_SELECTOR_KEYS, UNIX_SELECTOR_KEYS};
use crate::ca_pkcs11::Pkcs11KeysConfig;
use crate::ca_upstream::{DiskUpstreamConfig, RawUpstreamDisk};
use crate::duration::duration_field;
pub use crate::duration::parse_duration;
use crate::entry::RegistrationEntry;
use crate::error::{ConfigError, Error};
use crate::federation_config::FederationConfig;
use crate::limits::{
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_UID, DEFAULT_MAX_STREAMS_PER_CONNECTION,
};
use crate::selector::Selector;

/// The longest configuration file read: a config is hand-written text, and anything this size
/// is a mistake (a binary, a log file).
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// The key type of a CA or JWT signing key, as written in the configuration file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigKeyType {
    /// ECDSA P-256 (`ec-p256`, the default).
    #[default]
    EcP256,
    /// ECDSA P-384 (`ec-p384`).
    EcP384,
    /// RSA 2048 (`rsa-2048`; key generation needs the `aws-lc-rs` feature).
    Rsa2048,
}

impl ConfigKeyType {
    fn parse(field: &str, value: &str) -> Result<Self, ConfigError> {
        match value {
            "ec-p256" => Ok(Self::EcP256),
            "ec-p384" => Ok(Self::EcP384),
            "rsa-2048" => Ok(Self::Rsa2048),
            _ => Err(ConfigError::Invalid {
                field: field.to_owned(),
                message: format!("{value:?} is not one of ec-p256, ec-p384, rsa-2048"),
            }),
        }
    }
}

/// A parsed and checked configuration file (TOML) for the `agent` binary, usable by
/// embedders too. The format:
///
/// ```toml
/// trust_domain = "example.org"
/// socket_path = "/tmp/spiffe-agent/agent.sock"
/// # socket_mode = "0666"            # octal; the default lets every user connect (attestation
/// #                                 # decides); "0600" refuses other users at connect()
/// # tcp_address = "127.0.0.1:8081"  # optional; callers attested by source IP (tcp:ip:...)
/// # health_address = "127.0.0.1:9090" # optional; HTTP /live, /ready, /metrics (Prometheus)
/// # admin_socket_path = "/tmp/spiffe-agent/admin.sock"  # optional; the admin API (mode 0600)
/// # admin_allowed_uids = [0]        # who may call it; default root and the agent's own uid
///
/// [store]                           # the CA's keys and journal, entries made by the admin API
/// path = "agent.db"                 # SQLite, relative to this file; this is the default
/// # in_memory = true                # nothing persisted: a new trust root at every start
///
/// [ca]
/// ttl = "24h"                       # lifetime of each X.509 CA key (the self-signed root, or
///                                   # the intermediate an upstream signs, capped by it)
/// key_type = "ec-p256"              # X.509 CA key: ec-p256 | ec-p384
/// jwt_key_type = "ec-p256"          # JWT signing key: ec-p256 | ec-p384 | rsa-2048 (aws-lc-rs)
/// # jwt_key_ttl = "24h"             # lifetime of each JWT signing key; default: ca.ttl
///
/// # [ca.upstream_disk]              # optional: an existing CA signs this CA's certificates
/// # cert_path = "org-ca.pem"        # its certificate (then any intermediates), PEM
/// # key_path = "org-ca.key"         # its private key, PEM, mode 0600; paths relative to
/// #                                 # this file
/// # bundle_path = "org-root.pem"    # its root(s); required unless the certificate is
/// #                                 # self-signed
///
/// # [ca.pkcs11]                     # optional (feature `pkcs11`): CA keys on a token
/// # module = "/usr/lib/softhsm/libsofthsm2.so"
/// # token_label = "spiffe"          # or: slot = 0
/// # pin_env = "SPIFFE_AGENT_PKCS11_PIN"  # the default; or pin_file = "pin" (mode 0600)
/// # label_prefix = "spiffekit"
///
/// # [upstream]                      # optional: identities from a fleet server instead of
/// #                                 # an own CA (then no [ca], [store] or [[entry]])
/// # servers = ["server-1:8081", "server-2:8081"]   # tried in order, failing over
/// # bootstrap_bundle_path = "bootstrap.pem"       # the server's root(s), PEM
/// # join_token_env = "SPIFFE_AGENT_JOIN_TOKEN"     # the default; or join_token_file
/// # x509pop_cert_path = "node.pem"  # or attest by the node's certificate and key
/// # x509pop_key_path = "node.key"
/// # sync_interval = "5s"
/// # state_dir = "/var/lib/agent"    # the agent SVID kept across restarts (0600 file); a
/// #                                 # join token works once, so a restart resumes from it;
/// #                                 # default: <config file name>.state/ beside this file
///
/// [limits]                          # past a cap a caller gets ResourceExhausted
/// max_streams_per_connection = 100  # open streaming RPCs on one connection
/// max_connections_per_uid = 128     # open connections of one uid (Unix socket)
/// max_connections = 1024            # open connections in total (Unix and TCP)
///
/// [svid]
/// x509_ttl = "1h"                   # default X509-SVID lifetime (rotated at about half)
/// jwt_ttl = "5m"                    # default JWT-SVID lifetime
///
/// [[entry]]
/// spiffe_id = "spiffe://example.org/web"
/// selectors = ["unix:uid:1000"]     # all must match; only unix:... and tcp:ip:... (the
///                                   # built-in attestors'), anything else is refused
/// # x509_ttl = "10m"  jwt_ttl = "2m"  hint = "internal"
/// # dns_names = ["web.example.org"]  federates_with = ["partner.org"]
///
/// [[federated_bundle]]
/// trust_domain = "partner.org"
/// path = "partner.json"             # SPIFFE bundle document; relative to this file
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AgentConfig {
    /// The trust domain the in-process CA serves.
    pub trust_domain: TrustDomain,
    /// Where the Workload API socket goes (the command line may override it).
    pub socket_path: Option<PathBuf>,
    /// The socket file's mode.
    pub socket_mode: Option<u32>,
    /// An optional TCP listener.
    pub tcp_address: Option<SocketAddr>,
    /// Where the binary serves `/live`, `/ready` and `/metrics` (see [`crate::health`]).
    pub health_address: Option<SocketAddr>,
    /// Where the [admin API](crate::admin) is served (the `agent entry ...` commands read it
    /// from here too).
    pub admin_socket_path: Option<PathBuf>,
    /// Who may call the admin API; `None` for the default (root and the agent's own uid).
    pub admin_allowed_uids: Option<Vec<u32>>,
    /// The SQLite store (`[store] path`, default `agent.db` next to the config file); `None`
    /// with `[store] in_memory = true`.
    pub store_path: Option<PathBuf>,
    /// Lifetime of each X.509 CA key: the self-signed root's, or the intermediate's that
    /// [`ca_upstream_disk`](Self::ca_upstream_disk) signs (capped by the upstream).
    pub ca_ttl: Duration,
    /// The X.509 CA key type.
    pub ca_key_type: ConfigKeyType,
    /// The JWT signing key type.
    pub jwt_key_type: ConfigKeyType,
    /// Lifetime of each JWT signing key (`ca.jwt_key_ttl`; default: [`ca_ttl`](Self::ca_ttl),
    /// so the JWT key rotates with the CA, as in SPIRE).
    pub jwt_key_ttl: Duration,
    /// Default X509-SVID lifetime.
    pub x509_svid_ttl: Duration,
    /// Default JWT-SVID lifetime.
    pub jwt_svid_ttl: Duration,
    /// `limits.max_streams_per_connection` (see
    /// [`AgentBuilder::max_streams_per_connection`](crate::AgentBuilder::max_streams_per_connection)).
    pub max_streams_per_connection: u32,
    /// `limits.max_connections_per_uid` (see
    /// [`AgentBuilder::max_connections_per_uid`](crate::AgentBuilder::max_connections_per_uid)).
    pub max_connections_per_uid: usize,
    /// `limits.max_connections` (see
    /// [`AgentBuilder::max_connections`](crate::AgentBuilder::max_connections)).
    pub max_connections: usize,
    /// The registration entries, in file order.
    pub entries: Vec<RegistrationEntry>,
    /// Federated bundles read from their files.
    pub federated_bundles: Vec<SpiffeBundle>,
    /// `[ca.upstream_disk]`: the files of an existing CA that signs this CA's certificates;
    /// `None` for a self-signed root.
    pub ca_upstream_disk: Option<DiskUpstreamConfig>,
    /// `[ca.pkcs11]`: the CA's keys on a PKCS#11 token (feature `pkcs11`); in memory (and in
    /// the store) without it.
    pub ca_pkcs11: Option<Pkcs11KeysConfig>,
    /// `[upstream]`: take identities from a fleet server (upstream mode).
    pub upstream: Option<UpstreamFileConfig>,
    /// `[federation]`: the bundle endpoint and the relationships with other trust domains.
    pub federation: FederationConfig,
}

/// How a node proves itself to the server (`[upstream]`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeAttestationConfig {
    /// A join token read at start from this environment variable.
    JoinTokenEnv(String),
    /// A join token read at start from this file (mode 0600).
    JoinTokenFile(PathBuf),
    /// x509pop with these PEM files.
    X509pop {
        /// The node's certificate (then intermediates).
        cert_path: PathBuf,
        /// Its private key.
        key_path: PathBuf,
    },
}

/// `[upstream]`: the servers, how to authenticate them, how the node attests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpstreamFileConfig {
    /// `host:port` of each server.
    pub servers: Vec<String>,
    /// The PEM roots that authenticate the servers before the first sync.
    pub bootstrap_bundle_path: PathBuf,
    /// How the node attests.
    pub attestation: NodeAttestationConfig,
    /// How often entries are synced.
    pub sync_interval: Duration,
    /// Where the agent SVID is kept across restarts; `None`: the binary uses
    /// `<config file name>.state/` next to the config file (one per config, so that agents
    /// whose configs share a folder never share an identity).
    pub state_dir: Option<PathBuf>,
}

/// The environment variable a join token is read from by default.
pub const DEFAULT_JOIN_TOKEN_ENV: &str = "SPIFFE_AGENT_JOIN_TOKEN";

/// The defaults when the file leaves a value out: a one-day root, one-hour X509-SVIDs and
/// five-minute JWT-SVIDs (SPIRE's defaults are the same order: 1 h X509-SVIDs, 5 min JWTs).
const DEFAULT_CA_TTL: Duration = Duration::from_secs(24 * 3600);
/// See [`DEFAULT_CA_TTL`].
pub(crate) const DEFAULT_X509_SVID_TTL: Duration = Duration::from_secs(3600);
/// See [`DEFAULT_CA_TTL`].
pub(crate) const DEFAULT_JWT_SVID_TTL: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    trust_domain: String,
    socket_path: Option<PathBuf>,
    socket_mode: Option<String>,
    tcp_address: Option<String>,
    health_address: Option<String>,
    admin_socket_path: Option<PathBuf>,
    admin_allowed_uids: Option<Vec<u32>>,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    ca: RawCa,
    #[serde(default)]
    svid: RawSvid,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    entry: Vec<RawEntry>,
    #[serde(default)]
    federated_bundle: Vec<RawFederatedBundle>,
    upstream: Option<RawUpstream>,
    #[serde(default)]
    federation: federation::config::RawFederation,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    servers: Vec<String>,
    bootstrap_bundle_path: PathBuf,
    join_token_env: Option<String>,
    join_token_file: Option<PathBuf>,
    x509pop_cert_path: Option<PathBuf>,
    x509pop_key_path: Option<PathBuf>,
    sync_interval: Option<String>,
    state_dir: Option<PathBuf>,
}

impl RawUpstream {
    fn resolve(self, base: &Path) -> Result<UpstreamFileConfig, Error> {
        if self.servers.is_empty() {
            return Err(invalid(
                "upstream.servers",
                "give at least one host:port".to_owned(),
            ));
        }
        let attestation = match (
            self.join_token_env,
            self.join_token_file,
            self.x509pop_cert_path,
            self.x509pop_key_path,
        ) {
            (env, None, None, None) => NodeAttestationConfig::JoinTokenEnv(
                env.unwrap_or_else(|| DEFAULT_JOIN_TOKEN_ENV.to_owned()),
            ),
            (None, Some(file), None, None) => NodeAttestationConfig::JoinTokenFile(base.join(file)),
            (None, None, Some(cert), Some(key)) => NodeAttestationConfig::X509pop {
                cert_path: base.join(cert),
                key_path: base.join(key),
            },
            _ => {
                return Err(invalid(
                    "upstream",
                    "choose one attestation: join_token_env, join_token_file, or both \
                     x509pop_cert_path and x509pop_key_path"
                        .to_owned(),
                ));
            }
        };
        Ok(UpstreamFileConfig {
            servers: self.servers,
            bootstrap_bundle_path: base.join(self.bootstrap_bundle_path),
            attestation,
            state_dir: self.state_dir.map(|dir| base.join(dir)),
            sync_interval: optional_duration(
                "upstream.sync_interval",
                self.sync_interval.as_deref(),
            )?
            .unwrap_or(crate::upstream::DEFAULT_SYNC_INTERVAL),
        })
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCa {
    ttl: Option<String>,
    key_type: Option<String>,
    jwt_key_type: Option<String>,
    jwt_key_ttl: Option<String>,
    upstream_disk: Option<RawUpstreamDisk>,
    pkcs11: Option<ca::pkcs11_section::RawSection>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<PathBuf>,
    #[serde(default)]
    in_memory: bool,
}

/// The store's file when the config names none.
const DEFAULT_STORE_FILE: &str = "agent.db";

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_streams_per_connection: Option<u32>,
    max_connections_per_uid: Option<usize>,
    max_connections: Option<usize>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSvid {
    x509_ttl: Option<String>,
    jwt_ttl: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    spiffe_id: String,
    selectors: Vec<String>,
    x509_ttl: Option<String>,
    jwt_ttl: Option<String>,
    #[serde(default)]
    dns_names: Vec<String>,
    hint: Option<String>,
    #[serde(default)]
    federates_with: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFederatedBundle {
    trust_domain: String,
    path: PathBuf,
}

impl AgentConfig {
    /// Reads and checks a configuration file. Relative federated bundle and upstream CA
    /// paths are resolved against the file's directory.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file and the setting that is wrong.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let read_error = |source| ConfigError::Read {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read_error)?.len();
        if len > MAX_CONFIG_BYTES {
            return Err(ConfigError::Invalid {
                field: path.display().to_string(),
                message: format!("file is {len} bytes, more than the {MAX_CONFIG_BYTES} read"),
            }
            .into());
        }
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::parse(&text, base).map_err(|error| match error {
            Error::Config(ConfigError::Syntax { source, .. }) => ConfigError::Syntax {
                path: path.to_owned(),
                source,
            }
            .into(),
            other => other,
        })
    }

    /// Parses configuration text; relative bundle and upstream CA paths are resolved against
    /// `base`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting that is wrong.
    pub fn parse(text: &str, base: &Path) -> Result<Self, Error> {
        let raw: RawConfig = toml::from_str(text).map_err(|source| ConfigError::Syntax {
            path: PathBuf::from("<config>"),
            source,
        })?;
        let trust_domain = TrustDomain::parse(&raw.trust_domain)
            .map_err(|e| invalid("trust_domain", e.to_string()))?;
        let socket_mode = raw
            .socket_mode
            .as_deref()
            .map(|mode| {
                u32::from_str_radix(mode.trim_start_matches("0o"), 8)
                    .ok()
                    .filter(|mode| *mode <= 0o777)
                    .ok_or_else(|| invalid("socket_mode", format!("{mode:?} is not an octal mode")))
            })
            .transpose()?;
        let address = |field: &str, value: Option<&str>| {
            value
                .map(|addr| {
                    addr.parse::<SocketAddr>()
                        .map_err(|_| invalid(field, format!("{addr:?} is not an IP:port")))
                })
                .transpose()
        };
        let tcp_address = address("tcp_address", raw.tcp_address.as_deref())?;
        let health_address = address("health_address", raw.health_address.as_deref())?;

        let mut entries = Vec::with_capacity(raw.entry.len());
        for (index, entry) in raw.entry.into_iter().enumerate() {
            entries.push(entry.into_entry(index)?);
        }
        let mut federated_bundles = Vec::with_capacity(raw.federated_bundle.len());
        for (index, bundle) in raw.federated_bundle.into_iter().enumerate() {
            federated_bundles.push(bundle.load(index, base)?);
        }
        let federation = crate::federation_config::resolve(raw.federation, base, &trust_domain)?;
        if let Some(both) = federation.federates_with.iter().find(|relationship| {
            federated_bundles
                .iter()
                .any(|bundle| *bundle.trust_domain() == relationship.trust_domain)
        }) {
            return Err(ConfigError::Invalid {
                field: "federation.federates_with".to_owned(),
                message: format!(
                    "{} also has a [[federated_bundle]] file: keep one source of its bundle",
                    both.trust_domain
                ),
            }
            .into());
        }
        if federation.bundle_endpoint.is_some() && raw.upstream.is_some() {
            return Err(ConfigError::Invalid {
                field: "federation.bundle_endpoint".to_owned(),
                message: "the bundle endpoint serves this agent's own CA bundle; in upstream \
                          mode the trust domain's bundle is the fleet server's"
                    .to_owned(),
            }
            .into());
        }

        let ca_upstream_disk = raw
            .ca
            .upstream_disk
            .map(|disk| disk.resolve(base))
            .transpose()?;
        let ca_pkcs11 = raw
            .ca
            .pkcs11
            .map(|p| crate::ca_pkcs11::resolve(p, base))
            .transpose()?;
        let upstream = raw.upstream.map(|u| u.resolve(base)).transpose()?;
        if upstream.is_some() && !entries.is_empty() {
            return Err(invalid(
                "entry",
                "an agent with [upstream] serves the server's entries: create them on the server"
                    .to_owned(),
            ));
        }
        let ca_ttl = optional_duration("ca.ttl", raw.ca.ttl.as_deref())?.unwrap_or(DEFAULT_CA_TTL);
        Ok(Self {
            trust_domain,
            socket_path: raw.socket_path,
            socket_mode,
            tcp_address,
            health_address,
            admin_socket_path: raw.admin_socket_path,
            admin_allowed_uids: raw.admin_allowed_uids,
            store_path: match (raw.store.in_memory, raw.store.path) {
                (true, Some(_)) => {
                    return Err(invalid(
                        "store",
                        "set either path or in_memory = true, not both".to_owned(),
                    ));
                }
                (true, None) => None,
                (false, path) => Some(base.join(path.unwrap_or_else(|| DEFAULT_STORE_FILE.into()))),
            },
            ca_ttl,
            jwt_key_ttl: optional_duration("ca.jwt_key_ttl", raw.ca.jwt_key_ttl.as_deref())?
                .unwrap_or(ca_ttl),
            ca_key_type: raw
                .ca
                .key_type
                .as_deref()
                .map(|v| ConfigKeyType::parse("ca.key_type", v))
                .transpose()?
                .unwrap_or_default(),
            jwt_key_type: raw
                .ca
                .jwt_key_type
                .as_deref()
                .map(|v| ConfigKeyType::parse("ca.jwt_key_type", v))
                .transpose()?
                .unwrap_or_default(),
            x509_svid_ttl: optional_duration("svid.x509_ttl", raw.svid.x509_ttl.as_deref())?
                .unwrap_or(DEFAULT_X509_SVID_TTL),
            jwt_svid_ttl: optional_duration("svid.jwt_ttl", raw.svid.jwt_ttl.as_deref())?
                .unwrap_or(DEFAULT_JWT_SVID_TTL),
            max_streams_per_connection: positive(
                "limits.max_streams_per_connection",
                raw.limits.max_streams_per_connection,
            )?
            .unwrap_or(DEFAULT_MAX_STREAMS_PER_CONNECTION),
            max_connections_per_uid: positive(
                "limits.max_connections_per_uid",
                raw.limits.max_connections_per_uid,
            )?
            .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_UID),
            max_connections: positive("limits.max_connections", raw.limits.max_connections)?
                .unwrap_or(DEFAULT_MAX_CONNECTIONS),
            entries,
            federated_bundles,
            ca_upstream_disk,
            ca_pkcs11,
            upstream,
            federation,
        })
    }
}

impl AgentConfig {
    /// A CA for the configured trust domain with the configured lifetimes (CA key, JWT
    /// signing key), key types and default SVID lifetimes: a self-signed root, or an
    /// intermediate under `[ca.upstream_disk]`, whose files are read and checked here.
    ///
    /// # Errors
    /// [`ConfigError::UpstreamDisk`] when the upstream CA files are unusable; [`Error::Ca`]
    /// when the CA cannot be built (e.g. RSA key generation without the `aws-lc-rs` feature).
    pub fn build_ca(&self, now: SystemTime) -> Result<CertificateAuthority, Error> {
        self.build_ca_with_journal(None, now)
    }

    /// As [`build_ca`](Self::build_ca), on `journal`: a CA built again on the same journal
    /// (e.g. `store::Store::ca_journal`) keeps its trust root, JWT keys and
    /// `spiffe_sequence`, and resumes its rotation schedule.
    ///
    /// # Errors
    /// As [`build_ca`](Self::build_ca), and the journal's errors.
    pub fn build_ca_with_journal(
        &self,
        journal: Option<Arc<dyn ca::KeyStore>>,
        now: SystemTime,
    ) -> Result<CertificateAuthority, Error> {
        let x509_key_type = match self.ca_key_type {
            ConfigKeyType::EcP256 => KeyType::EcdsaP256,
            ConfigKeyType::EcP384 => KeyType::EcdsaP384,
            ConfigKeyType::Rsa2048 => KeyType::Rsa2048,
        };
        let jwt_algorithm = match self.jwt_key_type {
            ConfigKeyType::EcP256 => JwtAlgorithm::Es256,
            ConfigKeyType::EcP384 => JwtAlgorithm::Es384,
            ConfigKeyType::Rsa2048 => JwtAlgorithm::Rs256,
        };
        let mut builder = CertificateAuthority::builder(self.trust_domain.clone())
            .ca_ttl(self.ca_ttl)
            .x509_key_type(x509_key_type)
            .jwt_algorithm(jwt_algorithm)
            .jwt_key_ttl(self.jwt_key_ttl)
            .x509_svid_ttl(self.x509_svid_ttl)
            .jwt_svid_ttl(self.jwt_svid_ttl);
        if let Some(disk) = &self.ca_upstream_disk {
            builder = builder.upstream(Arc::new(disk.load(&self.trust_domain, now)?));
        }
        if let Some(journal) = journal {
            builder = builder.key_store(journal);
        }
        if let Some(pkcs11) = &self.ca_pkcs11 {
            builder = builder.key_manager(crate::ca_pkcs11::key_manager(
                pkcs11,
                svid::Crypto::default(),
            )?);
        }
        builder.build(now).map_err(Error::Ca)
    }
}

impl RawEntry {
    fn into_entry(self, index: usize) -> Result<RegistrationEntry, Error> {
        let field = |name: &str| format!("entry[{index}].{name}");
        let spiffe_id = SpiffeId::parse(&self.spiffe_id)
            .map_err(|e| invalid(&field("spiffe_id"), e.to_string()))?;
        let mut entry = RegistrationEntry::new(spiffe_id);
        for text in &self.selectors {
            let selector = Selector::parse(text)
                .map_err(|e| invalid(&field("selectors"), format!("{text:?}: {e}")))?;
            if let Some(problem) = unknown_selector(&selector) {
                return Err(invalid(
                    &field("selectors"),
                    format!(
                        "{text:?} of entry {}: {problem}; no entry with it could ever match",
                        entry.spiffe_id()
                    ),
                ));
            }
            entry = entry.with_selector(selector);
        }
        if let Some(ttl) = optional_duration(&field("x509_ttl"), self.x509_ttl.as_deref())? {
            entry = entry.with_x509_ttl(ttl);
        }
        if let Some(ttl) = optional_duration(&field("jwt_ttl"), self.jwt_ttl.as_deref())? {
            entry = entry.with_jwt_ttl(ttl);
        }
        for name in self.dns_names {
            entry = entry.with_dns_name(name);
        }
        if let Some(hint) = self.hint {
            entry = entry.with_hint(hint);
        }
        for trust_domain in &self.federates_with {
            let trust_domain = TrustDomain::from_id_or_name(trust_domain)
                .map_err(|e| invalid(&field("federates_with"), format!("{trust_domain:?}: {e}")))?;
            entry = entry.with_federates_with(trust_domain);
        }
        Ok(entry)
    }
}

impl RawFederatedBundle {
    fn load(self, index: usize, base: &Path) -> Result<SpiffeBundle, Error> {
        let trust_domain = TrustDomain::from_id_or_name(&self.trust_domain).map_err(|e| {
            invalid(
                &format!("federated_bundle[{index}].trust_domain"),
                e.to_string(),
            )
        })?;
        let path = base.join(&self.path);
        let json = std::fs::read(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let bundle = SpiffeBundle::parse(trust_domain, &json)
            .map_err(|source| ConfigError::FederatedBundle { path, source })?;
        Ok(bundle)
    }
}

/// Why no built-in attestor ([`UnixAttestor`](crate::UnixAttestor),
/// [`TcpAttestor`](crate::TcpAttestor), the only ones the `agent` binary runs) ever gives
/// `selector`, or `None` when one does.
pub(crate) fn unknown_selector(selector: &Selector) -> Option<String> {
    let forms = |kind: &str, keys: &[&str]| {
        keys.iter()
            .map(|key| format!("{kind}:{key}:<value>"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let known = |kind: &str, keys: &[&str]| {
        let key = selector.value().split_once(':').map(|(key, _)| key);
        key.is_some_and(|key| keys.contains(&key))
            .then_some(())
            .ok_or_else(|| format!("the {kind:?} attestor gives only {}", forms(kind, keys)))
    };
    let problem = match selector.kind() {
        "unix" => known("unix", UNIX_SELECTOR_KEYS).err()?,
        "tcp" => known("tcp", TCP_SELECTOR_KEYS).err()?,
        kind => {
            let hint = if UNIX_SELECTOR_KEYS.contains(&kind) {
                format!(" (did you mean \"unix:{selector}\"?)")
            } else {
                String::new()
            };
            format!(
                "no attestor gives selectors of type {kind:?}{hint}; the known types are \
                 \"unix\" ({}) and \"tcp\" ({})",
                forms("unix", UNIX_SELECTOR_KEYS),
                forms("tcp", TCP_SELECTOR_KEYS),
            )
        }
    };
    Some(problem)
}

/// A count that must be at least 1.
fn positive<T: Copy + PartialEq + From<u8>>(
    field: &str,
    value: Option<T>,
) -> Result<Option<T>, Error> {
    match value {
        Some(v) if v == T::from(0) => Err(invalid(field, "must be at least 1".to_owned())),
        other => Ok(other),
    }
}

fn invalid(field: &str, message: String) -> Error {
    ConfigError::Invalid {
        field: field.to_owned(),
        message,
    }
    .into()
}

fn optional_duration(field: &str, value: Option<&str>) -> Result<Option<Duration>, Error> {
    value.map(|value| duration_field(field, value)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_upstream_section_and_refuses_mixed_setups() {
        let base = Path::new("/etc/spiffe");
        let text = "trust_domain = \"example.org\"\n[upstream]\n\
                    servers = [\"a:8081\", \"b:8081\"]\nbootstrap_bundle_path = \"root.pem\"\n";
        let config = AgentConfig::parse(text, base).unwrap();
        let upstream = config.upstream.unwrap();
        assert_eq!(upstream.servers, ["a:8081", "b:8081"]);
        assert_eq!(upstream.bootstrap_bundle_path, base.join("root.pem"));
        assert_eq!(
            upstream.attestation,
            NodeAttestationConfig::JoinTokenEnv(DEFAULT_JOIN_TOKEN_ENV.to_owned())
        );
        let x509pop =
            format!("{text}x509pop_cert_path = \"n.pem\"\nx509pop_key_path = \"n.key\"\n");
        assert!(matches!(
            AgentConfig::parse(&x509pop, base)
                .unwrap()
                .upstream
                .unwrap()
                .attestation,
            NodeAttestationConfig::X509pop { .. }
        ));
        for bad in [
            format!("{text}join_token_file = \"t\"\nx509pop_cert_path = \"n.pem\"\n"),
            format!("{text}x509pop_cert_path = \"n.pem\"\n"),
            text.replace("[\"a:8081\", \"b:8081\"]", "[]"),
            format!(
                "{text}[[entry]]\nspiffe_id = \"spiffe://example.org/a\"\nselectors = [\"unix:uid:1\"]\n"
            ),
        ] {
            assert!(AgentConfig::parse(&bad, base).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_the_example_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.example.toml");
        let config = AgentConfig::load(&path).unwrap();
        assert_eq!(config.trust_domain.as_str(), "example.org");
        assert!(!config.entries.is_empty());
    }

    /// The store is on by default, next to the config; `in_memory` turns it off; both at
    /// once is refused.
    #[test]
    fn store_defaults_to_a_file_next_to_the_config() {
        let parse = |text: &str| AgentConfig::parse(text, Path::new("/etc/spiffe"));
        let config = parse("trust_domain = \"a.org\"").unwrap();
        assert_eq!(config.store_path, Some("/etc/spiffe/agent.db".into()));
        let config = parse("trust_domain = \"a.org\"\n[store]\npath = \"/var/lib/a.db\"").unwrap();
        assert_eq!(config.store_path, Some("/var/lib/a.db".into()));
        let config = parse("trust_domain = \"a.org\"\n[store]\nin_memory = true").unwrap();
        assert_eq!(config.store_path, None);
        let err = parse("trust_domain = \"a.org\"\n[store]\nin_memory = true\npath = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("store"), "{err}");
    }

    #[test]
    fn parses_entries_and_defaults() {
        let config = AgentConfig::parse(
            r#"
            trust_domain = "example.org"
            socket_mode = "0660"
            tcp_address = "127.0.0.1:0"
            [svid]
            x509_ttl = "10m"
            [[entry]]
            spiffe_id = "spiffe://example.org/web"
            selectors = ["unix:uid:1000", "unix:gid:0"]
            jwt_ttl = "90s"
            hint = "internal"
            federates_with = ["spiffe://partner.org"]
            "#,
            Path::new("."),
        )
        .unwrap();
        assert_eq!(config.socket_mode, Some(0o660));
        assert_eq!(config.x509_svid_ttl, Duration::from_secs(600));
        assert_eq!(config.jwt_svid_ttl, DEFAULT_JWT_SVID_TTL);
        let entry = config.entries.first().unwrap();
        assert_eq!(entry.selectors().count(), 2);
        assert_eq!(entry.jwt_ttl(), Some(Duration::from_secs(90)));
        assert_eq!(entry.hint(), Some("internal"));
        assert_eq!(
            entry.federates_with().next().unwrap().as_str(),
            "partner.org"
        );
    }

    #[test]
    fn reads_federated_bundles_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let partner = ca::TestCa::new("partner.org");
        std::fs::write(dir.path().join("partner.json"), partner.bundle().to_json()).unwrap();
        let config_path = dir.path().join("agent.toml");
        std::fs::write(
            &config_path,
            "trust_domain = \"example.org\"\n[[federated_bundle]]\ntrust_domain = \"partner.org\"\npath = \"partner.json\"\n",
        )
        .unwrap();
        let config = AgentConfig::load(&config_path).unwrap();
        assert_eq!(config.federated_bundles.len(), 1);
        assert_eq!(config.federated_bundles[0], *partner.bundle());

        std::fs::write(dir.path().join("partner.json"), b"{}").unwrap();
        assert!(matches!(
            AgentConfig::load(&config_path),
            Err(Error::Config(ConfigError::FederatedBundle { .. }))
        ));
    }

    /// The JWT signing key lives as long as `ca.jwt_key_ttl` says, and by default as long as
    /// the CA key (`ca.ttl`), not a fixed day.
    #[test]
    fn jwt_key_lifetime_follows_the_ca_or_its_own_setting() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let jwt_key_lifetime = |text: &str| {
            let config = AgentConfig::parse(text, Path::new(".")).unwrap();
            let ca = config.build_ca(now).unwrap();
            let snapshot = ca.snapshot();
            let jwt = snapshot.active(ca::AuthorityKind::Jwt).unwrap();
            (
                config.jwt_key_ttl,
                jwt.not_after.duration_since(now).unwrap(),
            )
        };
        let two_hours = Duration::from_secs(2 * 3600);
        assert_eq!(
            jwt_key_lifetime("trust_domain = \"a.org\"\n[ca]\nttl = \"2h\""),
            (two_hours, two_hours)
        );
        let half_hour = Duration::from_secs(1800);
        assert_eq!(
            jwt_key_lifetime("trust_domain = \"a.org\"\n[ca]\nttl = \"2h\"\njwt_key_ttl = \"30m\""),
            (half_hour, half_hour)
        );
        assert_eq!(
            jwt_key_lifetime("trust_domain = \"a.org\"").1,
            DEFAULT_CA_TTL
        );
    }

    #[test]
    fn reads_limits_and_their_defaults() {
        let config = AgentConfig::parse(
            "trust_domain = \"a.org\"\n[limits]\nmax_streams_per_connection = 8\n\
             max_connections_per_uid = 3\nmax_connections = 20",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(
            (
                config.max_streams_per_connection,
                config.max_connections_per_uid,
                config.max_connections
            ),
            (8, 3, 20)
        );
        let defaults = AgentConfig::parse("trust_domain = \"a.org\"", Path::new(".")).unwrap();
        assert_eq!(
            (
                defaults.max_streams_per_connection,
                defaults.max_connections_per_uid,
                defaults.max_connections
            ),
            (
                DEFAULT_MAX_STREAMS_PER_CONNECTION,
                DEFAULT_MAX_CONNECTIONS_PER_UID,
                DEFAULT_MAX_CONNECTIONS
            )
        );
    }

    /// A selector no attestor gives would make its entry unreachable: refused at load time,
    /// naming the entry and the types that exist.
    #[test]
    fn refuses_selectors_no_attestor_gives() {
        let entry = |selector: &str| {
            format!(
                "trust_domain = \"a.org\"\n[[entry]]\nspiffe_id = \"spiffe://a.org/web\"\n\
                 selectors = [\"unix:gid:0\", \"{selector}\"]"
            )
        };
        let error = AgentConfig::parse(&entry("uid:0"), Path::new(".")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "entry[0].selectors: \"uid:0\" of entry spiffe://a.org/web: no attestor gives \
             selectors of type \"uid\" (did you mean \"unix:uid:0\"?); the known types are \
             \"unix\" (unix:uid:<value>, unix:gid:<value>, unix:user:<value>, \
             unix:group:<value>, unix:path:<value>, unix:sha256:<value>, \
             unix:supplementary_gid:<value>, unix:supplementary_group:<value>) and \"tcp\" \
             (tcp:ip:<value>); no entry with it could ever match"
        );
        let error = AgentConfig::parse(&entry("k8s:ns:default"), Path::new(".")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no attestor gives selectors of type \"k8s\"; the known types"),
            "{error}"
        );
        let error = AgentConfig::parse(&entry("unix:pid:1"), Path::new(".")).unwrap_err();
        assert!(
            error.to_string().contains(
                "\"unix:pid:1\" of entry spiffe://a.org/web: the \"unix\" attestor gives only \
                 unix:uid:<value>, "
            ),
            "{error}"
        );
        let error = AgentConfig::parse(&entry("tcp:port:1"), Path::new(".")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("the \"tcp\" attestor gives only tcp:ip:<value>"),
            "{error}"
        );
        for good in ["unix:supplementary_group:ops", "tcp:ip:127.0.0.1"] {
            AgentConfig::parse(&entry(good), Path::new(".")).unwrap();
        }
    }

    #[test]
    fn rejects_bad_settings_with_their_name() {
        for (text, field) in [
            ("trust_domain = \"Example.org\"", "trust_domain"),
            (
                "trust_domain = \"a.org\"\n[svid]\nx509_ttl = \"10\"",
                "svid.x509_ttl",
            ),
            (
                "trust_domain = \"a.org\"\n[svid]\nx509_ttl = \"0s\"",
                "svid.x509_ttl",
            ),
            (
                "trust_domain = \"a.org\"\n[[entry]]\nspiffe_id = \"spiffe://a.org/x\"\nselectors = [\"nocolon\"]",
                "entry[0].selectors",
            ),
            (
                "trust_domain = \"a.org\"\nsocket_mode = \"999\"",
                "socket_mode",
            ),
            (
                "trust_domain = \"a.org\"\ntcp_address = \"localhost:1\"",
                "tcp_address",
            ),
            (
                "trust_domain = \"a.org\"\n[ca]\nkey_type = \"dsa\"",
                "ca.key_type",
            ),
            (
                "trust_domain = \"a.org\"\n[ca]\njwt_key_ttl = \"1y\"",
                "ca.jwt_key_ttl",
            ),
            (
                "trust_domain = \"a.org\"\n[limits]\nmax_connections = 0",
                "limits.max_connections",
            ),
            (
                "trust_domain = \"a.org\"\n[limits]\nmax_streams_per_connection = 0",
                "limits.max_streams_per_connection",
            ),
        ] {
            let error = AgentConfig::parse(text, Path::new(".")).unwrap_err();
            assert!(error.to_string().contains(field), "{text}: {error}");
        }
        assert!(matches!(
            AgentConfig::parse("trust_domain = \"a.org\"\nunknown = 1", Path::new(".")),
            Err(Error::Config(ConfigError::Syntax { .. }))
        ));
    }
}
