//! The `server` binary's configuration file (TOML).
//!
//! ```toml
//! trust_domain = "example.org"
//! listen_address = "127.0.0.1:8081"          # the node API (TLS)
//! health_address = "127.0.0.1:9091"          # optional: /live /ready /metrics (HTTP)
//! admin_socket_path = "/tmp/spiffe-server/admin.sock"
//! # admin_allowed_uids = [0, 1000]           # default: root and the server's uid
//! agent_svid_ttl = "1h"                      # durations: <n>s, <n>m, <n>h or <n>d
//! x509_svid_ttl = "1h"
//! jwt_svid_ttl = "5m"
//! max_clock_skew = "5m"
//! entry_refresh_interval = "5s"
//! # max_node_staleness = "5s"                # trust a node's attested state this long
//! #                                          # without the store (default: read every call)
//! rate_limit_per_second = 200                # SVID requests per node
//! rate_limit_burst = 2000
//!
//! [store]
//! path = "server.db"                         # SQLite, relative to this file
//! # postgres = "host=/run/postgresql dbname=spiffe user=spiffe"   (feature postgres)
//! # postgres_ca_path = "db-ca.pem"            # TLS to the database, server checked; required
//! #                                          # off a Unix socket (never falls back to clear)
//! # postgres_password_env = "SPIFFE_DB_PASSWORD"   # the password, kept out of this file
//! journal = "server"                         # the CA journal's name in the store
//!
//! [x509pop]                                  # optional: attest nodes by their certificates
//! roots_path = "machine-ca.pem"
//! template = "/agent/x509pop/{subject_cn}"   # default "/agent/x509pop/{fingerprint}"
//!
//! [ca.upstream_disk]                         # optional: sign under an existing CA
//! cert_path = "intermediate.pem"
//! key_path = "intermediate.key"
//! bundle_path = "root.pem"
//!
//! [ca.pkcs11]                                # optional (feature pkcs11): CA keys on a token
//! module = "/usr/lib/softhsm/libsofthsm2.so"
//! token_label = "spiffe"                     # or: slot = 0
//! pin_env = "SPIFFE_SERVER_PKCS11_PIN"       # the default; or pin_file = "pin" (mode 0600)
//! label_prefix = "spiffekit"                 # the start of the keys' CKA_LABEL
//!
//! [federation.bundle_endpoint]               # optional: serve this trust domain's bundle
//! address = "0.0.0.0:8443"
//! profile = "https_spiffe"                   # an SVID of this server's CA; or "https_web"
//! spiffe_id = "spiffe://example.org/federation/bundle-endpoint"
//!
//! [[federation.federates_with]]              # optional: one per foreign trust domain
//! trust_domain = "partner.example"
//! url = "https://bundle.partner.example:8443/"
//! profile = "https_spiffe"
//! endpoint_spiffe_id = "spiffe://partner.example/federation/bundle-endpoint"
//! bundle_path = "partner-bootstrap.json"
//! ```
//!
//! With `[ca.pkcs11]` the CA's keys (the X.509 authority and the JWT signing key, and each
//! rotation's) are generated on the token and never leave it; the store's journal keeps only
//! their references, so a restarted server uses the same keys. With `[ca.upstream_disk]` too,
//! the key on the token is the intermediate's, signed by the upstream CA: each replica keeps its
//! own intermediate on its token under the shared root. The section is the agent's
//! (`ca::pkcs11_section`); the PIN is never in the file.
//!
//! `[federation]` is the agent's section too (`federation::config`, every key described
//! there): the bundle endpoint serves the bundle this server sends its agents (every replica's
//! authorities, following rotations), and the bundles of `federates_with` reach the agents
//! whose entries federate with those trust domains.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ca::pkcs11_section::{Pkcs11KeysConfig, RawSection, SectionError};
use serde::Deserialize;
use spiffe_id::TrustDomain;

use crate::postgres_config::PostgresConfig;
use crate::rate_limit::RateLimit;

/// What is wrong with a configuration file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this format.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said (line and column included).
        message: String,
    },
    /// A value is out of its range or format.
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// `[federation]` is unusable (the key to fix is named).
    #[error("{path}: {}: {source}", source.field())]
    Federation {
        /// The file.
        path: PathBuf,
        /// What is wrong (boxed: it is large and rare).
        #[source]
        source: Box<federation::config::SectionError>,
    },
    /// `[ca.pkcs11]` is unusable: a key of the section, the PIN, or the token's refusal.
    #[error("{path}: {}: {source}", pkcs11_field(source))]
    Pkcs11 {
        /// The file.
        path: PathBuf,
        /// What is wrong (its [`field`](SectionError::field) names the key).
        #[source]
        source: SectionError,
    },
}

/// `ca.pkcs11.<key>`, or `ca.pkcs11` when the token refused.
fn pkcs11_field(error: &SectionError) -> String {
    error
        .field()
        .map_or_else(|| "ca.pkcs11".to_owned(), |key| format!("ca.pkcs11.{key}"))
}

/// The environment variable the `[ca.pkcs11]` PIN is read from when the section names none.
pub const DEFAULT_PIN_ENV: &str = "SPIFFE_SERVER_PKCS11_PIN";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    trust_domain: String,
    listen_address: String,
    health_address: Option<String>,
    admin_socket_path: Option<PathBuf>,
    admin_allowed_uids: Option<Vec<u32>>,
    agent_svid_ttl: Option<String>,
    x509_svid_ttl: Option<String>,
    jwt_svid_ttl: Option<String>,
    max_clock_skew: Option<String>,
    entry_refresh_interval: Option<String>,
    max_node_staleness: Option<String>,
    rate_limit_per_second: Option<f64>,
    rate_limit_burst: Option<f64>,
    #[serde(default)]
    store: RawStore,
    x509pop: Option<RawX509pop>,
    #[serde(default)]
    ca: RawCa,
    #[serde(default)]
    federation: federation::config::RawFederation,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<PathBuf>,
    postgres: Option<String>,
    postgres_ca_path: Option<PathBuf>,
    postgres_password_env: Option<String>,
    journal: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawX509pop {
    roots_path: PathBuf,
    template: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCa {
    upstream_disk: Option<RawDisk>,
    pkcs11: Option<RawSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisk {
    cert_path: PathBuf,
    key_path: PathBuf,
    bundle_path: Option<PathBuf>,
}

/// Where the server keeps its state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreConfig {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database (feature `postgres`).
    Postgres(PostgresConfig),
}

/// x509pop settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct X509popFileConfig {
    /// PEM file of the CA certificates node certificates chain to.
    pub roots_path: PathBuf,
    /// The agent ID template, if not the default.
    pub template: Option<String>,
}

/// An upstream CA on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpstreamDiskConfig {
    /// The CA certificate (PEM).
    pub cert_path: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub key_path: PathBuf,
    /// The roots above it, when it is not a root itself.
    pub bundle_path: Option<PathBuf>,
}

/// A parsed configuration file; relative paths are resolved against the file's folder.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The trust domain.
    pub trust_domain: TrustDomain,
    /// The node API's address.
    pub listen_address: SocketAddr,
    /// Where `/live`, `/ready` and `/metrics` are served, if anywhere.
    pub health_address: Option<SocketAddr>,
    /// The admin socket, if any.
    pub admin_socket_path: Option<PathBuf>,
    /// Who may use the admin socket (default: root and the server's uid).
    pub admin_allowed_uids: Option<Vec<u32>>,
    /// Agent SVID lifetime.
    pub agent_svid_ttl: Duration,
    /// Default workload X509-SVID lifetime.
    pub x509_svid_ttl: Duration,
    /// Default JWT-SVID lifetime.
    pub jwt_svid_ttl: Duration,
    /// Allowed clock difference at attestation.
    pub max_clock_skew: Duration,
    /// How often entries are reloaded from the store.
    pub entry_refresh_interval: Duration,
    /// How long a node seen attested is trusted without reading the store (zero: never).
    pub max_node_staleness: Duration,
    /// SVID requests per node.
    pub rate_limit: RateLimit,
    /// The store.
    pub store: StoreConfig,
    /// The CA journal's name in the store.
    pub journal: String,
    /// x509pop, when enabled.
    pub x509pop: Option<X509popFileConfig>,
    /// The upstream CA on disk, when configured.
    pub upstream_disk: Option<UpstreamDiskConfig>,
    /// `[ca.pkcs11]`: the CA's keys on a PKCS#11 token (feature `pkcs11`; see
    /// [`ca_key_manager`](Self::ca_key_manager)); in the store's journal without it.
    pub ca_pkcs11: Option<Pkcs11KeysConfig>,
    /// `[federation]`: this trust domain's bundle endpoint and the relationships with other
    /// trust domains (see [`ServerBuilder::federation`](crate::ServerBuilder::federation)).
    pub federation: federation::config::FederationConfig,
    /// The file this was read from, named by errors found after parsing.
    path: PathBuf,
}

/// `<number><unit>` with unit `s`, `m`, `h` or `d`, greater than zero.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    let seconds = number.checked_mul(scale).filter(|s| *s > 0)?;
    Some(Duration::from_secs(seconds))
}

impl ServerConfig {
    /// Reads and checks the file at `path`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::parse(&text, path, base)
    }

    /// Parses `text` (from `path`), resolving relative paths against `base`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Self, ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let invalid = |field: &'static str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            message,
        };
        let duration = |field: &'static str, value: Option<String>, default: u64| match value {
            None => Ok(Duration::from_secs(default)),
            Some(text) => parse_duration(&text).ok_or_else(|| {
                invalid(
                    field,
                    format!("{text:?} is not a duration like 30s, 5m, 1h or 1d"),
                )
            }),
        };
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let trust_domain = TrustDomain::parse(&raw.trust_domain)
            .map_err(|e| invalid("trust_domain", format!("{:?}: {e}", raw.trust_domain)))?;
        let listen_address = raw
            .listen_address
            .parse()
            .map_err(|e| invalid("listen_address", format!("{:?}: {e}", raw.listen_address)))?;
        let store = match (raw.store.path, raw.store.postgres) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "store",
                    "set either path or postgres, not both".into(),
                ));
            }
            (_, Some(params)) => StoreConfig::Postgres(PostgresConfig {
                params,
                ca_path: raw.store.postgres_ca_path.map(resolve),
                password_env: raw.store.postgres_password_env,
            }),
            (path, None) => {
                if raw.store.postgres_ca_path.is_some() || raw.store.postgres_password_env.is_some()
                {
                    return Err(invalid(
                        "store",
                        "postgres_ca_path and postgres_password_env need postgres".into(),
                    ));
                }
                StoreConfig::Sqlite(path.map_or_else(|| base.join("server.db"), resolve))
            }
        };
        let per_second = raw.rate_limit_per_second.unwrap_or(200.0);
        let burst = raw.rate_limit_burst.unwrap_or(2000.0);
        if !(per_second > 0.0 && burst >= 1.0) {
            return Err(invalid(
                "rate_limit_per_second",
                "the rate must be above 0 and the burst at least 1".into(),
            ));
        }
        let ca_pkcs11 = raw
            .ca
            .pkcs11
            .map(|section| section.resolve(base, DEFAULT_PIN_ENV))
            .transpose()
            .map_err(|source| ConfigError::Pkcs11 {
                path: path.to_owned(),
                source,
            })?;
        let federation = raw
            .federation
            .resolve(base, &trust_domain)
            .map_err(|source| ConfigError::Federation {
                path: path.to_owned(),
                source: Box::new(source),
            })?;
        let health_address = raw
            .health_address
            .map(|text| {
                text.parse()
                    .map_err(|e| invalid("health_address", format!("{text:?}: {e}")))
            })
            .transpose()?;
        Ok(Self {
            trust_domain,
            listen_address,
            health_address,
            admin_socket_path: raw.admin_socket_path.map(resolve),
            admin_allowed_uids: raw.admin_allowed_uids,
            agent_svid_ttl: duration("agent_svid_ttl", raw.agent_svid_ttl, 3600)?,
            x509_svid_ttl: duration("x509_svid_ttl", raw.x509_svid_ttl, 3600)?,
            jwt_svid_ttl: duration("jwt_svid_ttl", raw.jwt_svid_ttl, 300)?,
            max_clock_skew: duration("max_clock_skew", raw.max_clock_skew, 300)?,
            entry_refresh_interval: duration(
                "entry_refresh_interval",
                raw.entry_refresh_interval,
                5,
            )?,
            max_node_staleness: duration("max_node_staleness", raw.max_node_staleness, 0)?,
            rate_limit: RateLimit::new(per_second, burst),
            store,
            journal: raw.store.journal.unwrap_or_else(|| "server".to_owned()),
            x509pop: raw.x509pop.map(|x| X509popFileConfig {
                roots_path: resolve(x.roots_path),
                template: x.template,
            }),
            upstream_disk: raw.ca.upstream_disk.map(|d| UpstreamDiskConfig {
                cert_path: resolve(d.cert_path),
                key_path: resolve(d.key_path),
                bundle_path: d.bundle_path.map(resolve),
            }),
            ca_pkcs11,
            federation,
            path: path.to_owned(),
        })
    }

    /// The key manager of `[ca.pkcs11]`, opened now (PIN read, token found, user logged in),
    /// for [`CertificateAuthorityBuilder::key_manager`](ca::CertificateAuthorityBuilder::key_manager);
    /// `None` without the section. `crypto` hashes what the token signs. Blocking (it loads
    /// the module and talks to the token).
    ///
    /// # Errors
    /// [`ConfigError::Pkcs11`] when the PIN cannot be read or the token refuses;
    /// [`ConfigError::Invalid`] when the server was built without the `pkcs11` feature.
    pub fn ca_key_manager(
        &self,
        crypto: &svid::Crypto,
    ) -> Result<Option<Arc<dyn ca::KeyManager>>, ConfigError> {
        let Some(pkcs11) = &self.ca_pkcs11 else {
            return Ok(None);
        };
        #[cfg(feature = "pkcs11")]
        {
            let manager = pkcs11
                .open(crypto.clone())
                .map_err(|source| ConfigError::Pkcs11 {
                    path: self.path.clone(),
                    source,
                })?;
            Ok(Some(Arc::new(manager)))
        }
        #[cfg(not(feature = "pkcs11"))]
        {
            let _ = (pkcs11, crypto);
            Err(ConfigError::Invalid {
                path: self.path.clone(),
                field: "ca.pkcs11",
                message: "this server was built without the `pkcs11` feature \
                          (cargo install --features pkcs11)"
                    .to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use ca::pkcs11_section::{PinSource, TokenChoice};

    use super::*;

    #[test]
    fn parses_the_example_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("server.example.toml");
        let config = ServerConfig::load(&path).unwrap();
        assert_eq!(config.trust_domain.as_str(), "example.org");
        assert_eq!(config.jwt_svid_ttl, Duration::from_secs(300));
    }

    /// `[federation]` is the agent's section (digest 7.2: profiles are explicit); the own
    /// trust domain as a relationship is refused naming the key.
    #[test]
    fn reads_the_federation_section() {
        let text = "trust_domain = \"example.org\"\nlisten_address = \"127.0.0.1:8081\"\n\
                    [federation.bundle_endpoint]\naddress = \"127.0.0.1:8443\"\n\
                    profile = \"https_spiffe\"\nspiffe_id = \"spiffe://example.org/bundle\"\n\
                    [[federation.federates_with]]\ntrust_domain = \"TD\"\n\
                    url = \"https://partner.example/\"\nprofile = \"https_web\"\n\
                    roots_path = \"roots.pem\"\n";
        let parse = |td: &str| {
            ServerConfig::parse(
                &text.replace("TD", td),
                Path::new("/etc/s/server.toml"),
                Path::new("/etc/s"),
            )
        };
        let config = parse("partner.example").unwrap();
        assert!(config.federation.bundle_endpoint.is_some());
        let [partner] = config.federation.federates_with.as_slice() else {
            panic!("one relationship");
        };
        assert_eq!(partner.trust_domain.as_str(), "partner.example");
        let err = parse("example.org").unwrap_err();
        assert!(
            matches!(&err, ConfigError::Federation { source, .. }
                if source.field() == "federation.federates_with[0].trust_domain"),
            "{err}"
        );
    }

    #[test]
    fn a_minimal_file_gets_the_defaults() {
        let config = ServerConfig::parse(
            "trust_domain = \"example.org\"\nlisten_address = \"127.0.0.1:8081\"\n",
            Path::new("/etc/s/server.toml"),
            Path::new("/etc/s"),
        )
        .unwrap();
        assert_eq!(config.store, StoreConfig::Sqlite("/etc/s/server.db".into()));
        assert_eq!(config.agent_svid_ttl, Duration::from_secs(3600));
    }

    /// TLS roots resolve against the file's folder; the password stays a variable's name.
    #[test]
    fn postgres_settings_are_read() {
        let config = ServerConfig::parse(
            "trust_domain = \"example.org\"\nlisten_address = \"127.0.0.1:8081\"\n\
             [store]\npostgres = \"host=db.internal dbname=spiffe\"\n\
             postgres_ca_path = \"db-ca.pem\"\npostgres_password_env = \"DB_PASSWORD\"\n",
            Path::new("/etc/s/server.toml"),
            Path::new("/etc/s"),
        )
        .unwrap();
        assert_eq!(
            config.store,
            StoreConfig::Postgres(PostgresConfig {
                params: "host=db.internal dbname=spiffe".into(),
                ca_path: Some("/etc/s/db-ca.pem".into()),
                password_env: Some("DB_PASSWORD".into()),
            })
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = [
            (
                "trust_domain = \"Bad Domain\"\nlisten_address = \"127.0.0.1:1\"",
                "trust_domain",
            ),
            (
                "trust_domain = \"a.org\"\nlisten_address = \"nope\"",
                "listen_address",
            ),
            (
                "trust_domain = \"a.org\"\nlisten_address = \"127.0.0.1:1\"\njwt_svid_ttl = \"5 minutes\"",
                "jwt_svid_ttl",
            ),
            (
                "trust_domain = \"a.org\"\nlisten_address = \"127.0.0.1:1\"\nbogus = 1",
                "bogus",
            ),
            (
                "trust_domain = \"a.org\"\nlisten_address = \"127.0.0.1:1\"\n\
                 [store]\npath = \"s.db\"\npostgres_ca_path = \"ca.pem\"",
                "need postgres",
            ),
        ];
        for (text, key) in bad {
            let error = ServerConfig::parse(text, Path::new("s.toml"), Path::new(".")).unwrap_err();
            assert!(error.to_string().contains(key), "{error}");
        }
    }

    fn with_pkcs11(section: &str) -> Result<ServerConfig, ConfigError> {
        ServerConfig::parse(
            &format!(
                "trust_domain = \"example.org\"\nlisten_address = \"127.0.0.1:8081\"\n\
                 [ca.pkcs11]\n{section}"
            ),
            Path::new("/etc/s/server.toml"),
            Path::new("/etc/s"),
        )
    }

    /// The server's default PIN variable is its own; relative paths are resolved.
    #[test]
    fn reads_the_pkcs11_section_with_its_defaults() {
        let config =
            with_pkcs11("module = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken_label = \"t\"")
                .unwrap()
                .ca_pkcs11
                .unwrap();
        assert_eq!(config.module, Path::new("/usr/lib/softhsm/libsofthsm2.so"));
        assert_eq!(config.token, TokenChoice::Label("t".into()));
        assert_eq!(
            config.pin,
            PinSource::Env("SPIFFE_SERVER_PKCS11_PIN".into())
        );
        assert_eq!(config.label_prefix, None);
        let config = with_pkcs11(
            "module = \"lib.so\"\nslot = 3\npin_file = \"pin\"\nlabel_prefix = \"replica-1\"",
        )
        .unwrap()
        .ca_pkcs11
        .unwrap();
        assert_eq!(config.module, Path::new("/etc/s/lib.so"));
        assert_eq!(config.token, TokenChoice::Slot(3));
        assert_eq!(config.pin, PinSource::File("/etc/s/pin".into()));
        assert_eq!(config.label_prefix.as_deref(), Some("replica-1"));
        let config = with_pkcs11("module = \"m\"\nslot = 0\npin_env = \"HSM_PIN\"")
            .unwrap()
            .ca_pkcs11
            .unwrap();
        assert_eq!(config.pin, PinSource::Env("HSM_PIN".into()));
        let none = ServerConfig::parse(
            "trust_domain = \"example.org\"\nlisten_address = \"127.0.0.1:8081\"\n",
            Path::new("s.toml"),
            Path::new("."),
        )
        .unwrap();
        assert_eq!(none.ca_pkcs11, None);
        assert!(
            none.ca_key_manager(&svid::Crypto::default())
                .unwrap()
                .is_none()
        );
    }

    /// Ambiguous, missing or unknown keys are refused, naming `ca.pkcs11.<key>` and the file
    /// (negative tests).
    #[test]
    fn refuses_ambiguous_pkcs11_sections() {
        for (section, field) in [
            ("module = \"m\"", "ca.pkcs11.token_label"),
            (
                "module = \"m\"\ntoken_label = \"t\"\nslot = 1",
                "ca.pkcs11.token_label",
            ),
            (
                "module = \"m\"\ntoken_label = \"t\"\npin_env = \"P\"\npin_file = \"f\"",
                "ca.pkcs11.pin_file",
            ),
            ("module = \"\"\ntoken_label = \"t\"", "ca.pkcs11.module"),
        ] {
            let err = with_pkcs11(section).unwrap_err();
            assert!(
                matches!(err, ConfigError::Pkcs11 { .. }),
                "{section}: {err}"
            );
            let text = err.to_string();
            assert!(
                text.starts_with("/etc/s/server.toml: ") && text.contains(field),
                "{section}: {text}"
            );
        }
        for (section, key) in [
            ("module = \"m\"\ntoken_label = \"t\"\npin = \"1234\"", "pin"),
            ("token_label = \"t\"", "module"),
            ("module = \"m\"\nslot = -1", "slot"),
        ] {
            let err = with_pkcs11(section).unwrap_err();
            assert!(matches!(err, ConfigError::Parse { .. }), "{section}: {err}");
            assert!(err.to_string().contains(key), "{section}: {err}");
        }
    }

    /// The agent allows both sections, and so does the server: the key on the token is the
    /// intermediate's, signed by the upstream CA.
    #[test]
    fn pkcs11_combines_with_upstream_disk() {
        let config = with_pkcs11(
            "module = \"m\"\ntoken_label = \"t\"\n[ca.upstream_disk]\n\
             cert_path = \"up.pem\"\nkey_path = \"up.key\"",
        )
        .unwrap();
        assert!(config.ca_pkcs11.is_some());
        assert_eq!(
            config.upstream_disk.unwrap().cert_path,
            Path::new("/etc/s/up.pem")
        );
    }

    /// An unset PIN variable is named, under `ca.pkcs11.pin_env`, before the token is touched.
    #[cfg(feature = "pkcs11")]
    #[test]
    fn an_unset_pin_variable_is_named() {
        let config = with_pkcs11(
            "module = \"/nonexistent/pkcs11.so\"\ntoken_label = \"t\"\n\
             pin_env = \"SPIFFEKIT_SERVER_TEST_PIN_NEVER_SET\"",
        )
        .unwrap();
        let err = config
            .ca_key_manager(&svid::Crypto::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ca.pkcs11.pin_env")
                && err.contains("SPIFFEKIT_SERVER_TEST_PIN_NEVER_SET"),
            "{err}"
        );
    }

    /// A module that cannot be loaded is the token's refusal, under `ca.pkcs11`.
    #[cfg(all(feature = "pkcs11", unix))]
    #[test]
    fn a_missing_module_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pin"), "1234\n").unwrap();
        std::fs::set_permissions(
            dir.path().join("pin"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let config = ServerConfig::parse(
            "trust_domain = \"example.org\"\nlisten_address = \"127.0.0.1:8081\"\n\
             [ca.pkcs11]\nmodule = \"missing.so\"\nslot = 0\npin_file = \"pin\"",
            &dir.path().join("server.toml"),
            dir.path(),
        )
        .unwrap();
        let err = config.ca_key_manager(&svid::Crypto::default()).unwrap_err();
        assert!(
            matches!(
                &err,
                ConfigError::Pkcs11 {
                    source: SectionError::Open(_),
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("missing.so"), "{err}");
    }

    /// A server built without the `pkcs11` feature refuses the section, saying how to get it.
    #[cfg(not(feature = "pkcs11"))]
    #[test]
    fn refuses_the_section_without_the_feature() {
        let config = with_pkcs11("module = \"m\"\ntoken_label = \"t\"").unwrap();
        let err = config
            .ca_key_manager(&svid::Crypto::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ca.pkcs11") && err.contains("--features pkcs11"),
            "{err}"
        );
    }
}
