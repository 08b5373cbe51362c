//! The helper's configuration file: spiffe-helper's keys, read from HCL (spiffe-helper's own
//! files, as they are) or TOML (by the `.toml` extension), then checked once at start-up so a
//! mistake is reported before anything is written.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::helper::signal::Signal;

/// spiffe-helper's default socket when neither `agent_address` nor `SPIFFE_ENDPOINT_SOCKET` is
/// set.
const DEFAULT_AGENT_ADDRESS: &str = "/tmp/spire-agent/public/api.sock";

/// The file as written: every key optional, unknown keys refused (serde names the key).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    agent_address: Option<String>,
    cert_dir: Option<PathBuf>,
    svid_file_name: Option<String>,
    svid_key_file_name: Option<String>,
    svid_bundle_file_name: Option<String>,
    credential_bundle_file_name: Option<String>,
    bundle_map_file_name: Option<String>,
    #[serde(default)]
    jwt_svids: Vec<RawJwtSvid>,
    jwt_bundle_file_name: Option<String>,
    cert_file_mode: Option<RawMode>,
    key_file_mode: Option<RawMode>,
    jwt_svid_file_mode: Option<RawMode>,
    jwt_bundle_file_mode: Option<RawMode>,
    #[serde(default)]
    include_federated_domains: bool,
    #[serde(default)]
    add_intermediates_to_bundle: bool,
    hint: Option<String>,
    cmd: Option<String>,
    cmd_args: Option<String>,
    pid_file_name: Option<PathBuf>,
    renew_signal: Option<String>,
    daemon_mode: Option<bool>,
    health_checks: Option<RawHealth>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwtSvid {
    jwt_audience: String,
    jwt_svid_file_name: String,
    #[serde(default)]
    jwt_extra_audiences: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    #[serde(default)]
    listener_enabled: bool,
    bind_address: Option<String>,
    bind_port: Option<RawNumber>,
    liveness_path: Option<String>,
    readiness_path: Option<String>,
}

/// A mode: a number, or a string of octal digits (`"0644"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawMode {
    Number(u64),
    Text(String),
}

/// spiffe-helper's examples write `bind_port = "8081"`; a number works too.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawNumber {
    Number(u16),
    Text(String),
}

/// The checked configuration.
#[derive(Debug)]
pub(crate) struct Config {
    /// The Workload API endpoint (`unix:///path` form).
    pub(crate) agent_address: String,
    /// Where every file goes.
    pub(crate) cert_dir: PathBuf,
    /// The X.509 files, when configured.
    pub(crate) x509: Option<X509Files>,
    /// Key first, then the chain, in one file (SPIFFE Filesystem Delivery layout).
    pub(crate) credential_bundle_file_name: Option<String>,
    /// An X.509-only SPIFFE bundle map (gRPC A87).
    pub(crate) bundle_map_file_name: Option<String>,
    pub(crate) jwt_svids: Vec<JwtSvidFile>,
    pub(crate) jwt_bundle_file_name: Option<String>,
    pub(crate) cert_file_mode: u32,
    pub(crate) key_file_mode: u32,
    pub(crate) jwt_svid_file_mode: u32,
    pub(crate) jwt_bundle_file_mode: u32,
    pub(crate) include_federated_domains: bool,
    pub(crate) add_intermediates_to_bundle: bool,
    /// Pick the X.509-SVID with this hint instead of the default one.
    pub(crate) hint: Option<String>,
    /// The program to start after the first write, and its arguments.
    pub(crate) cmd: Option<(String, Vec<String>)>,
    pub(crate) pid_file_name: Option<PathBuf>,
    pub(crate) renew_signal: Option<Signal>,
    pub(crate) daemon_mode: bool,
    pub(crate) health: Option<Health>,
}

/// `svid_file_name`, `svid_key_file_name`, `svid_bundle_file_name`.
#[derive(Debug)]
pub(crate) struct X509Files {
    pub(crate) svid: String,
    pub(crate) key: String,
    pub(crate) bundle: String,
}

/// One `jwt_svids` entry.
#[derive(Debug)]
pub(crate) struct JwtSvidFile {
    /// The audience, then the extra audiences.
    pub(crate) audiences: Vec<String>,
    pub(crate) file_name: String,
}

/// `health_checks` with the listener enabled.
#[derive(Debug)]
pub(crate) struct Health {
    pub(crate) bind: String,
    pub(crate) liveness_path: String,
    pub(crate) readiness_path: String,
}

fn bad(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Usage(format!("{}: {message}", path.display()))
}

impl Config {
    /// Reads and checks `path`; `daemon_mode` from the command line wins over the file's.
    pub(crate) fn load(path: &Path, daemon_mode: Option<bool>) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::input(format!("cannot read {}", path.display()), source))?;
        let toml = path.extension().is_some_and(|e| e == "toml");
        let raw: Raw = if toml {
            toml::from_str(&text).map_err(|e| bad(path, e.message()))?
        } else {
            hcl::from_str(&text).map_err(|e| bad(path, e))?
        };
        Self::check(raw, path, toml, daemon_mode)
    }

    fn check(raw: Raw, path: &Path, toml: bool, daemon: Option<bool>) -> Result<Self, Error> {
        let agent_address = raw
            .agent_address
            .or_else(|| std::env::var("SPIFFE_ENDPOINT_SOCKET").ok())
            .unwrap_or_else(|| DEFAULT_AGENT_ADDRESS.to_owned());
        // spiffe-helper takes a path; a Workload Endpoint address works too.
        let agent_address = if agent_address.starts_with('/') {
            format!("unix://{agent_address}")
        } else {
            agent_address
        };
        let x509 = match (
            raw.svid_file_name,
            raw.svid_key_file_name,
            raw.svid_bundle_file_name,
        ) {
            (Some(svid), Some(key), Some(bundle)) => Some(X509Files { svid, key, bundle }),
            (None, None, None) => None,
            _ => {
                return Err(bad(
                    path,
                    "svid_file_name, svid_key_file_name and svid_bundle_file_name go together: set all three or none",
                ));
            }
        };
        let jwt_svids: Vec<JwtSvidFile> = raw
            .jwt_svids
            .into_iter()
            .map(|j| {
                let mut audiences = vec![j.jwt_audience];
                audiences.extend(j.jwt_extra_audiences);
                JwtSvidFile {
                    audiences,
                    file_name: j.jwt_svid_file_name,
                }
            })
            .collect();
        if x509.is_none()
            && raw.credential_bundle_file_name.is_none()
            && raw.bundle_map_file_name.is_none()
            && jwt_svids.is_empty()
            && raw.jwt_bundle_file_name.is_none()
        {
            return Err(bad(
                path,
                "nothing to write: set svid_file_name (with svid_key_file_name and svid_bundle_file_name), credential_bundle_file_name, bundle_map_file_name, jwt_svids or jwt_bundle_file_name",
            ));
        }
        let mut names: Vec<&str> = Vec::new();
        if let Some(x) = &x509 {
            names.extend([x.svid.as_str(), x.key.as_str(), x.bundle.as_str()]);
        }
        names.extend(raw.credential_bundle_file_name.as_deref());
        names.extend(raw.bundle_map_file_name.as_deref());
        names.extend(raw.jwt_bundle_file_name.as_deref());
        names.extend(jwt_svids.iter().map(|j| j.file_name.as_str()));
        for name in &names {
            if name.is_empty() || name.contains('/') || *name == "." || *name == ".." {
                return Err(bad(path, format!("{name:?} is not a file name")));
            }
        }
        let mut sorted = names.clone();
        sorted.sort_unstable();
        if let Some(pair) = sorted.windows(2).find(|w| w.first() == w.get(1)) {
            let name = pair.first().copied().unwrap_or_default();
            return Err(bad(path, format!("two outputs are named {name:?}")));
        }
        for audience in jwt_svids.iter().flat_map(|j| &j.audiences) {
            if audience.is_empty() {
                return Err(bad(path, "jwt_audience must not be empty"));
            }
        }
        let mode = |value: Option<RawMode>, key: &str, default: u32| {
            value.map_or(Ok(default), |m| {
                parse_mode(m, toml)
                    .map(|m| if m == 0 { default } else { m })
                    .map_err(|e| bad(path, format!("{key}: {e}")))
            })
        };
        let renew_signal = raw
            .renew_signal
            .filter(|s| !s.is_empty())
            .map(|name| {
                Signal::parse(&name)
                    .ok_or_else(|| bad(path, format!("renew_signal: unknown signal {name:?} (use a name such as SIGHUP or SIGUSR1)")))
            })
            .transpose()?;
        let pid_file_name = raw.pid_file_name.filter(|p| !p.as_os_str().is_empty());
        if pid_file_name.is_some() && renew_signal.is_none() {
            return Err(bad(path, "pid_file_name needs renew_signal"));
        }
        let cmd = match raw.cmd.filter(|c| !c.is_empty()) {
            Some(program) => {
                let args = split_args(raw.cmd_args.as_deref().unwrap_or_default())
                    .map_err(|e| bad(path, format!("cmd_args: {e}")))?;
                Some((program, args))
            }
            None => None,
        };
        let health = match raw.health_checks {
            Some(h) if h.listener_enabled => {
                let port = match h.bind_port {
                    None => 8081,
                    Some(RawNumber::Number(n)) => n,
                    Some(RawNumber::Text(t)) => t.parse().map_err(|_| {
                        bad(
                            path,
                            format!("health_checks.bind_port: {t:?} is not a port"),
                        )
                    })?,
                };
                let address = h.bind_address.unwrap_or_else(|| "0.0.0.0".to_owned());
                Some(Health {
                    bind: if address.contains(':') {
                        format!("[{address}]:{port}")
                    } else {
                        format!("{address}:{port}")
                    },
                    liveness_path: h.liveness_path.unwrap_or_else(|| "/live".to_owned()),
                    readiness_path: h.readiness_path.unwrap_or_else(|| "/ready".to_owned()),
                })
            }
            _ => None,
        };
        Ok(Self {
            agent_address,
            cert_dir: raw.cert_dir.unwrap_or_else(|| PathBuf::from(".")),
            x509,
            credential_bundle_file_name: raw.credential_bundle_file_name,
            bundle_map_file_name: raw.bundle_map_file_name,
            jwt_svids,
            jwt_bundle_file_name: raw.jwt_bundle_file_name,
            cert_file_mode: mode(raw.cert_file_mode, "cert_file_mode", 0o644)?,
            key_file_mode: mode(raw.key_file_mode, "key_file_mode", 0o600)?,
            jwt_svid_file_mode: mode(raw.jwt_svid_file_mode, "jwt_svid_file_mode", 0o600)?,
            jwt_bundle_file_mode: mode(raw.jwt_bundle_file_mode, "jwt_bundle_file_mode", 0o600)?,
            include_federated_domains: raw.include_federated_domains,
            add_intermediates_to_bundle: raw.add_intermediates_to_bundle,
            hint: raw.hint.filter(|h| !h.is_empty()),
            cmd,
            pid_file_name,
            renew_signal,
            daemon_mode: daemon.or(raw.daemon_mode).unwrap_or(true),
            health,
        })
    }
}

/// A file mode. spiffe-helper's HCL 1 reads `0644` as octal; HCL 2 (and so this reader) reads
/// the digits as the decimal 644, so in HCL a number's digits are taken as octal. In TOML a
/// number is its value (`0o644`). A string is octal digits either way. 0 means the default
/// (as in spiffe-helper).
fn parse_mode(raw: RawMode, toml: bool) -> Result<u32, String> {
    let value = match raw {
        RawMode::Number(n) if toml => Ok(n),
        RawMode::Number(n) => u64::from_str_radix(&n.to_string(), 8).map_err(|e| e.to_string()),
        RawMode::Text(t) => {
            let digits = t.strip_prefix("0o").unwrap_or(&t);
            u64::from_str_radix(digits, 8).map_err(|e| format!("{t:?}: {e}"))
        }
    }?;
    let mode = u32::try_from(value)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{value:#o} is not a file mode (at most 0777)"))?;
    // A mode without owner-write (0444) is fine: files are replaced by rename, never rewritten
    // in place, so unlike spiffe-helper (#422) the next rotation still works.
    Ok(mode)
}

/// `cmd_args` split as spiffe-helper splits them (Go's `encoding/csv` with a space
/// separator): `"` groups, `""` inside quotes is one quote, no shell.
fn split_args(text: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut chars = text.trim().chars().peekable();
    let mut quoted = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if current.is_empty() => {
                quoted = true;
                any = true;
            }
            ('"', false) => return Err(format!("stray quote in {text:?}")),
            (' ', false) => {
                args.push(std::mem::take(&mut current));
                any = false;
            }
            (c, _) => {
                current.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err(format!("unterminated quote in {text:?}"));
    }
    if any || !current.is_empty() {
        args.push(current);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    /// cmd_args splits like spiffe-helper's (Go csv, space separated).
    #[test]
    fn splits_cmd_args_like_spiffe_helper() {
        assert_eq!(split_args("-a b").unwrap(), ["-a", "b"]);
        assert_eq!(
            split_args(r#"-c "x y" "a""b""#).unwrap(),
            ["-c", "x y", "a\"b"]
        );
        assert_eq!(split_args("").unwrap(), Vec::<String>::new());
        assert!(split_args(r#"a"b"#).is_err());
    }

    /// HCL mode digits are octal (spiffe-helper's `0644`); TOML numbers are values.
    #[test]
    fn modes_read_as_spiffe_helper_means_them() {
        let raw: Raw = hcl::from_str("cert_file_mode = 0644\nkey_file_mode = \"0400\"").unwrap();
        assert_eq!(
            parse_mode(raw.cert_file_mode.unwrap(), false).unwrap(),
            0o644
        );
        assert_eq!(
            parse_mode(raw.key_file_mode.unwrap(), false).unwrap(),
            0o400
        );
        let raw: Raw = toml::from_str("cert_file_mode = 0o640").unwrap();
        assert_eq!(
            parse_mode(raw.cert_file_mode.unwrap(), true).unwrap(),
            0o640
        );
        assert!(parse_mode(RawMode::Number(999), false).is_err());
    }

    /// spiffe-helper's README example (HCL 1, as its users have it) loads as it is.
    #[test]
    fn reads_spiffe_helpers_readme_example() {
        let text = r#"
agent_address = "/tmp/spire-agent/public/api.sock"
cmd = "ghostunnel"
cmd_args = "server --listen localhost:8002 --target localhost:8001 --keystore certs/svid_key.pem --cacert certs/svid_bundle.pem --allow-uri-san spiffe://example.org/Database"
cert_dir = "certs"
renew_signal = "SIGUSR1"
svid_file_name = "svid.pem"
svid_key_file_name = "svid_key.pem"
svid_bundle_file_name = "svid_bundle.pem"
jwt_svids = [{jwt_audience="your-audience",jwt_extra_audiences=["your-extra-audience-1", "your-extra-audience-2"], jwt_svid_file_name="jwt_svid.token"}]
jwt_bundle_file_name = "bundle.json"
cert_file_mode = 0444
key_file_mode = 0444
jwt_bundle_file_mode = 0444
jwt_svid_file_mode = 0444
health_checks {
    listener_enabled = true
    bind_port = "8081"
    liveness_path = "/live"
    readiness_path = "/ready"
}
"#;
        let raw: Raw = hcl::from_str(text).unwrap();
        let config = Config::check(raw, Path::new("helper.conf"), false, None).unwrap();
        assert_eq!(
            config.agent_address,
            "unix:///tmp/spire-agent/public/api.sock"
        );
        assert_eq!(config.key_file_mode, 0o444);
        assert_eq!(config.jwt_svids[0].audiences.len(), 3);
        assert_eq!(config.cmd.as_ref().unwrap().1.len(), 11);
        assert_eq!(config.renew_signal.unwrap().to_string(), "SIGUSR1");
        assert_eq!(config.health.unwrap().bind, "0.0.0.0:8081");
        assert!(config.daemon_mode);
    }
}
