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
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
}

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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_example_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("server.example.toml");
        let config = ServerConfig::load(&path).unwrap();
        assert_eq!(config.trust_domain.as_str(), "example.org");
        assert_eq!(config.jwt_svid_ttl, Duration::from_secs(300));
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
}
