//! The `spiffekit-proxy` configuration file (TOML): [`ProxyConfig`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderName;
use serde::Deserialize;
use spiffe_id::IdMatcher;
use workload_client::fs::{
    DEFAULT_CREDENTIAL_BUNDLE, DEFAULT_TRUST_BUNDLE_SUFFIX, FsSourceBuilder,
};

use crate::addr::Address;
use crate::error::Error;
use crate::options::{
    Backend, ClientOptions, DEFAULT_MAX_CONNECTIONS, DEFAULT_SOCKET_MODE, HeaderFormat,
    HttpOptions, Mode, ServerOptions, Timeouts,
};

/// A parsed and checked configuration: the options of one proxy plus where its identity and
/// admin endpoint are. See the crate README for every key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ProxyConfig {
    /// `mode = "server"`.
    Server {
        /// The proxy's options.
        options: ServerOptions,
        /// Where the identity comes from and the admin address.
        common: Common,
    },
    /// `mode = "client"`.
    Client {
        /// The proxy's options.
        options: ClientOptions,
        /// Where the identity comes from and the admin address.
        common: Common,
    },
}

/// The keys both modes share.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Common {
    /// The Workload API endpoint (`unix:///path` or `tcp://ip:port`); `None`: from
    /// `SPIFFE_ENDPOINT_SOCKET` (unless [`files`](Self::files) is set).
    pub workload_api: Option<String>,
    /// Identity from files (`[identity] files_dir`) instead of the Workload API.
    pub files: Option<IdentityFiles>,
    /// `/live`, `/ready` and `/metrics` are served here when set.
    pub admin_address: Option<std::net::SocketAddr>,
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    mode: FileMode,
    listen: Address,
    backend: Option<Address>,
    #[serde(default)]
    backend_protocol: FileProtocol,
    #[serde(default)]
    proxy_protocol: bool,
    #[serde(default)]
    allowed_ids: Vec<String>,
    remote: Option<Address>,
    #[serde(default)]
    server_ids: Vec<String>,
    #[serde(default)]
    http: FileHttp,
    #[serde(default)]
    timeouts: FileTimeouts,
    max_connections: Option<usize>,
    socket_mode: Option<u32>,
    workload_api_socket: Option<String>,
    admin_address: Option<std::net::SocketAddr>,
    identity: Option<FileIdentity>,
}

/// `[identity]`: the names of [`FsSourceBuilder`]'s options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIdentity {
    files_dir: Option<PathBuf>,
    credential_bundle: Option<PathBuf>,
    certificate: Option<PathBuf>,
    key: Option<PathBuf>,
    trust_bundle_suffix: Option<String>,
    bundle_map: Option<PathBuf>,
    svid_bundle: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum FileMode {
    Server,
    Client,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum FileProtocol {
    #[default]
    Tcp,
    Http,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHttp {
    peer_header: Option<String>,
    peer_header_format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTimeouts {
    handshake: Option<String>,
    connect: Option<String>,
    idle: Option<String>,
    http_header_read: Option<String>,
    drain: Option<String>,
}

impl ProxyConfig {
    /// Reads and checks the file at `path`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file and what is wrong.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| match e {
            Error::Config(message) => Error::Config(format!("{}: {message}", path.display())),
            other => other,
        })
    }

    /// Parses and checks TOML text.
    ///
    /// # Errors
    /// [`Error::Config`] saying what is wrong.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let file: File = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        let timeouts = file.timeouts.resolve()?;
        let files = file.identity.map(FileIdentity::resolve).transpose()?;
        if files.is_some() && file.workload_api_socket.is_some() {
            return Err(config(
                "`workload_api_socket` and `[identity] files_dir` both name the identity: keep one",
            ));
        }
        let common = Common {
            workload_api: file.workload_api_socket,
            files,
            admin_address: file.admin_address,
        };
        let max_connections = file.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if max_connections == 0 {
            return Err(config("max_connections must be at least 1"));
        }
        let socket_mode = file.socket_mode.unwrap_or(DEFAULT_SOCKET_MODE);
        if socket_mode > 0o777 {
            return Err(config("socket_mode is a permission mode such as 0o600"));
        }
        match file.mode {
            FileMode::Server => {
                let backend = file
                    .backend
                    .ok_or_else(|| config("mode = \"server\" needs `backend`"))?;
                if file.remote.is_some() || !file.server_ids.is_empty() {
                    return Err(config(
                        "`remote` and `server_ids` are for mode = \"client\"",
                    ));
                }
                let allowed = matcher("allowed_ids", &file.allowed_ids)?;
                let protocol = match file.backend_protocol {
                    FileProtocol::Tcp => {
                        if file.http.peer_header.is_some() || file.http.peer_header_format.is_some()
                        {
                            return Err(config("[http] applies to backend_protocol = \"http\""));
                        }
                        Backend::Tcp {
                            proxy_protocol: file.proxy_protocol,
                        }
                    }
                    FileProtocol::Http => {
                        if file.proxy_protocol {
                            return Err(config(
                                "proxy_protocol applies to backend_protocol = \"tcp\"",
                            ));
                        }
                        Backend::Http(file.http.resolve()?)
                    }
                };
                let mut options = ServerOptions::new(file.listen, backend, allowed);
                options.protocol = protocol;
                options.timeouts = timeouts;
                options.max_connections = max_connections;
                options.socket_mode = socket_mode;
                Ok(Self::Server { options, common })
            }
            FileMode::Client => {
                let remote = file
                    .remote
                    .ok_or_else(|| config("mode = \"client\" needs `remote`"))?;
                if !matches!(remote, Address::Tcp(_)) {
                    return Err(config("`remote` is HOST:PORT"));
                }
                if file.backend.is_some() || !file.allowed_ids.is_empty() || file.proxy_protocol {
                    return Err(config(
                        "`backend`, `allowed_ids` and `proxy_protocol` are for mode = \"server\"",
                    ));
                }
                let server_ids = matcher("server_ids", &file.server_ids)?;
                let mut options = ClientOptions::new(file.listen, remote, server_ids);
                options.timeouts = timeouts;
                options.max_connections = max_connections;
                options.socket_mode = socket_mode;
                Ok(Self::Client { options, common })
            }
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        match self {
            Self::Server { .. } => Mode::Server,
            Self::Client { .. } => Mode::Client,
        }
    }

    /// The shared keys.
    pub fn common(&self) -> &Common {
        match self {
            Self::Server { common, .. } | Self::Client { common, .. } => common,
        }
    }
}

fn config(message: &str) -> Error {
    Error::Config(message.to_owned())
}

/// Any of `patterns` (each an `IdPattern`: an exact ID, `*` for one segment, a final `**`).
fn matcher(key: &str, patterns: &[String]) -> Result<IdMatcher, Error> {
    if patterns.is_empty() {
        return Err(Error::Config(format!(
            "`{key}` is empty: list the SPIFFE IDs or patterns to accept"
        )));
    }
    let matchers = patterns
        .iter()
        .map(|pattern| {
            IdMatcher::pattern(pattern)
                .map_err(|e| Error::Config(format!("{key}: {pattern:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(IdMatcher::any_of(matchers))
}

impl FileIdentity {
    fn resolve(self) -> Result<IdentityFiles, Error> {
        let dir = self
            .files_dir
            .ok_or_else(|| config("[identity] needs `files_dir`"))?;
        let svid = match (self.credential_bundle, self.certificate, self.key) {
            (None, None, None) => SvidFiles::CredentialBundle(DEFAULT_CREDENTIAL_BUNDLE.into()),
            (Some(bundle), None, None) => SvidFiles::CredentialBundle(bundle),
            (None, Some(certificate), Some(key)) => {
                SvidFiles::CertificateAndKey { certificate, key }
            }
            (None, _, _) => {
                return Err(config("[identity] `certificate` and `key` go together"));
            }
            (Some(_), _, _) => {
                return Err(config(
                    "[identity] `credential_bundle` or `certificate` and `key`, not both",
                ));
            }
        };
        let bundles = match (self.trust_bundle_suffix, self.bundle_map, self.svid_bundle) {
            (None, None, None) => BundleFiles::PerTrustDomain(DEFAULT_TRUST_BUNDLE_SUFFIX.into()),
            (Some(suffix), None, None) => BundleFiles::PerTrustDomain(suffix),
            (None, Some(map), None) => BundleFiles::BundleMap(map),
            (None, None, Some(file)) => BundleFiles::SvidBundle(file),
            _ => {
                return Err(config(
                    "[identity] one of `trust_bundle_suffix`, `bundle_map`, `svid_bundle`",
                ));
            }
        };
        Ok(IdentityFiles { dir, svid, bundles })
    }
}

/// `[identity] files_dir = ...`: the SVID and bundles as files, read by
/// [`workload_client::fs::FsSource`] (Filesystem Delivery layout by default; `..data`
/// generations followed; changes apply to new connections).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdentityFiles {
    /// The folder (`files_dir`); relative names below are read in it.
    pub dir: PathBuf,
    /// Where the SVID is.
    pub svid: SvidFiles,
    /// Where the trust bundles are.
    pub bundles: BundleFiles,
}

/// The SVID's files.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SvidFiles {
    /// `credential_bundle`: the PKCS#8 key, then the chain (default
    /// [`DEFAULT_CREDENTIAL_BUNDLE`]).
    CredentialBundle(PathBuf),
    /// `certificate` (chain, leaf first) and `key` (PKCS#8), as spiffe-helper writes them.
    CertificateAndKey {
        /// The chain file.
        certificate: PathBuf,
        /// The key file.
        key: PathBuf,
    },
}

/// The trust bundles' files.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleFiles {
    /// One `<trust-domain><suffix>` file per trust domain (`trust_bundle_suffix`, default
    /// [`DEFAULT_TRUST_BUNDLE_SUFFIX`]).
    PerTrustDomain(String),
    /// A SPIFFE bundle map (`bundle_map`, gRPC A87).
    BundleMap(PathBuf),
    /// The SVID's own trust domain from one PEM file (`svid_bundle`, spiffe-helper).
    SvidBundle(PathBuf),
}

impl IdentityFiles {
    /// The [`FsSource`](workload_client::fs::FsSource) builder these names describe.
    pub fn builder(&self) -> FsSourceBuilder {
        let builder = FsSourceBuilder::new(&self.dir);
        let builder = match &self.svid {
            SvidFiles::CredentialBundle(name) => builder.credential_bundle(name),
            SvidFiles::CertificateAndKey { certificate, key } => {
                builder.certificate_and_key(certificate, key)
            }
        };
        match &self.bundles {
            BundleFiles::PerTrustDomain(suffix) => builder.trust_bundle_files(suffix.as_str()),
            BundleFiles::BundleMap(name) => builder.bundle_map(name),
            BundleFiles::SvidBundle(name) => builder.svid_bundle(name),
        }
    }
}

impl FileHttp {
    fn resolve(self) -> Result<HttpOptions, Error> {
        let mut options = HttpOptions::default();
        if let Some(name) = self.peer_header {
            options.peer_header = if name.is_empty() {
                None
            } else {
                Some(HeaderName::try_from(name.as_str()).map_err(|_| {
                    Error::Config(format!("http.peer_header: {name:?} is not a header name"))
                })?)
            };
        }
        options.format = match self.peer_header_format.as_deref() {
            None | Some("xfcc") => HeaderFormat::Xfcc,
            Some("spiffe-id") => HeaderFormat::SpiffeId,
            Some(other) => {
                return Err(Error::Config(format!(
                    "http.peer_header_format: {other:?} is not \"xfcc\" or \"spiffe-id\""
                )));
            }
        };
        Ok(options)
    }
}

impl FileTimeouts {
    fn resolve(self) -> Result<Timeouts, Error> {
        let mut timeouts = Timeouts::default();
        let set = |key: &str, value: Option<String>, slot: &mut Duration| -> Result<(), Error> {
            if let Some(value) = value {
                *slot = duration(key, &value)?;
            }
            Ok(())
        };
        set(
            "timeouts.handshake",
            self.handshake,
            &mut timeouts.handshake,
        )?;
        set("timeouts.connect", self.connect, &mut timeouts.connect)?;
        set(
            "timeouts.http_header_read",
            self.http_header_read,
            &mut timeouts.http_header_read,
        )?;
        set("timeouts.drain", self.drain, &mut timeouts.drain)?;
        if let Some(idle) = self.idle {
            timeouts.idle = Some(duration("timeouts.idle", &idle)?).filter(|d| !d.is_zero());
        }
        Ok(timeouts)
    }
}

/// `500ms`, `10s`, `5m`, `1h`.
fn duration(key: &str, text: &str) -> Result<Duration, Error> {
    let bad = || {
        Error::Config(format!(
            "{key}: {text:?} is not a duration such as 500ms, 10s, 5m, 1h"
        ))
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let seconds = |factor: u64| number.checked_mul(factor).map(Duration::from_secs);
    match unit {
        "ms" => Some(Duration::from_millis(number)),
        "s" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3600),
        _ => None,
    }
    .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_server_config_with_http_backend() {
        let config = ProxyConfig::parse(
            r#"
            mode = "server"
            listen = "0.0.0.0:8443"
            backend = "unix:/run/app.sock"
            backend_protocol = "http"
            allowed_ids = ["spiffe://example.org/ns/*/web", "spiffe://example.org/admin"]
            admin_address = "127.0.0.1:9090"
            [http]
            peer_header = "x-spiffe-id"
            peer_header_format = "spiffe-id"
            [timeouts]
            idle = "5m"
            drain = "500ms"
            "#,
        )
        .unwrap();
        let ProxyConfig::Server { options, common } = config else {
            panic!("not server mode")
        };
        assert_eq!(options.backend, Address::Unix("/run/app.sock".into()));
        assert!(
            options
                .allowed
                .matches(&"spiffe://example.org/ns/prod/web".parse().unwrap())
        );
        assert!(
            !options
                .allowed
                .matches(&"spiffe://example.org/ns/prod/db".parse().unwrap())
        );
        assert_eq!(options.timeouts.idle, Some(Duration::from_secs(300)));
        assert_eq!(options.timeouts.drain, Duration::from_millis(500));
        let Backend::Http(http) = options.protocol else {
            panic!("not http")
        };
        assert_eq!(http.peer_header.unwrap().as_str(), "x-spiffe-id");
        assert_eq!(http.format, HeaderFormat::SpiffeId);
        assert_eq!(common.admin_address, "127.0.0.1:9090".parse().ok());
    }

    const SERVER: &str = "mode = \"server\"\nlisten = \"127.0.0.1:1\"\nbackend = \"127.0.0.1:2\"\nallowed_ids = [\"spiffe://a/b\"]\n";

    #[test]
    fn reads_identity_files_with_defaults_and_named_files() {
        let config = ProxyConfig::parse(&format!(
            "{SERVER}[identity]\nfiles_dir = \"/var/run/spiffe/certs\"\n"
        ))
        .unwrap();
        let files = config.common().files.clone().unwrap();
        assert_eq!(files.dir, Path::new("/var/run/spiffe/certs"));
        assert_eq!(
            files.svid,
            SvidFiles::CredentialBundle(DEFAULT_CREDENTIAL_BUNDLE.into())
        );
        assert_eq!(
            files.bundles,
            BundleFiles::PerTrustDomain(DEFAULT_TRUST_BUNDLE_SUFFIX.into())
        );
        assert_eq!(config.common().workload_api, None);

        let config = ProxyConfig::parse(&format!(
            "{SERVER}[identity]\nfiles_dir = \"/certs\"\ncertificate = \"svid.pem\"\n\
             key = \"svid_key.pem\"\nbundle_map = \"map.json\"\n"
        ))
        .unwrap();
        let files = config.common().files.clone().unwrap();
        assert_eq!(
            files.svid,
            SvidFiles::CertificateAndKey {
                certificate: "svid.pem".into(),
                key: "svid_key.pem".into()
            }
        );
        assert_eq!(files.bundles, BundleFiles::BundleMap("map.json".into()));
    }

    /// The identity comes from one place: the Workload API or files, never both.
    #[test]
    fn workload_api_socket_and_identity_files_exclude_each_other() {
        let error = ProxyConfig::parse(&format!(
            "{SERVER}workload_api_socket = \"unix:///run/agent.sock\"\n\
             [identity]\nfiles_dir = \"/certs\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("workload_api_socket"), "{error}");
        assert!(error.contains("files_dir"), "{error}");
        for (identity, why) in [
            ("credential_bundle = \"c.pem\"\n", "no files_dir"),
            (
                "files_dir = \"/c\"\ncertificate = \"svid.pem\"\n",
                "certificate without key",
            ),
            (
                "files_dir = \"/c\"\ncredential_bundle = \"c.pem\"\nkey = \"k.pem\"\n",
                "credential bundle and key",
            ),
            (
                "files_dir = \"/c\"\nbundle_map = \"m.json\"\nsvid_bundle = \"b.pem\"\n",
                "two bundle layouts",
            ),
            ("files_dir = \"/c\"\ncert = \"c.pem\"\n", "typo"),
        ] {
            assert!(
                ProxyConfig::parse(&format!("{SERVER}[identity]\n{identity}")).is_err(),
                "{why}"
            );
        }
    }

    #[test]
    fn rejects_mixed_or_missing_keys() {
        for (text, why) in [
            (
                "mode = \"server\"\nlisten = \"127.0.0.1:1\"\nallowed_ids = [\"spiffe://a/b\"]",
                "no backend",
            ),
            (
                "mode = \"server\"\nlisten = \"127.0.0.1:1\"\nbackend = \"127.0.0.1:2\"",
                "no allowed_ids",
            ),
            (
                "mode = \"client\"\nlisten = \"127.0.0.1:1\"\nremote = \"127.0.0.1:2\"\nserver_ids = [\"spiffe://a/b\"]\nallowed_ids = [\"spiffe://a/c\"]",
                "server key in client mode",
            ),
            (
                "mode = \"server\"\nlisten = \"127.0.0.1:1\"\nbackend = \"127.0.0.1:2\"\nallowed_ids = [\"spiffe://a/web-*\"]",
                "partial wildcard",
            ),
            (
                "mode = \"server\"\nlisten = \"127.0.0.1:1\"\nbackend = \"127.0.0.1:2\"\nallowed_ids = [\"spiffe://a/b\"]\nproxy_protocl = true",
                "typo",
            ),
            (
                "mode = \"server\"\nlisten = \"127.0.0.1:1\"\nbackend = \"127.0.0.1:2\"\nallowed_ids = [\"spiffe://a/b\"]\n[timeouts]\nidle = \"5 minutes\"",
                "bad duration",
            ),
        ] {
            assert!(ProxyConfig::parse(text).is_err(), "{why}");
        }
    }
}

#[cfg(test)]
mod readme {
    use super::*;

    /// Every configuration the README shows (its `toml` blocks with a `mode`) is valid.
    #[test]
    fn readme_configurations_parse() {
        let readme = include_str!("../README.md");
        let mut found = 0;
        for block in readme.split("```toml\n").skip(1) {
            let text = block.split("```").next().unwrap_or_default();
            if text.contains("mode = ") {
                ProxyConfig::parse(text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
                found += 1;
            }
        }
        assert_eq!(found, 3);
    }
}
