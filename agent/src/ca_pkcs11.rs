//! `[ca.pkcs11]` of the configuration file: the CA's keys on a PKCS#11 token (an HSM, or
//! SoftHSM2), through [`ca::Pkcs11KeyManager`] (feature `pkcs11`).
//!
//! The PIN is never written in the config file: it is read from an environment variable
//! (`pin_env`, default `SPIFFE_AGENT_PKCS11_PIN`) or from a file only its owner may read
//! (`pin_file`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::ConfigError;

/// The environment variable the PIN is read from when the section names none.
pub const DEFAULT_PIN_ENV: &str = "SPIFFE_AGENT_PKCS11_PIN";

/// `[ca.pkcs11]`: where the CA's keys are generated and kept (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pkcs11KeysConfig {
    /// `module`: the PKCS#11 library, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// `token_label` (or `slot`): which token.
    pub token: TokenChoice,
    /// Where the user PIN comes from.
    pub pin: PinSource,
    /// `label_prefix`: the start of the labels of the keys the agent creates.
    pub label_prefix: Option<String>,
}

/// Which token of the module.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenChoice {
    /// `token_label = "..."`.
    Label(String),
    /// `slot = <id>`.
    Slot(u64),
}

/// Where the user PIN is read from at start.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinSource {
    /// `pin_env = "NAME"` (default [`DEFAULT_PIN_ENV`]).
    Env(String),
    /// `pin_file = "path"`: the first line of a file of mode 0600 or stricter.
    File(PathBuf),
}

impl Pkcs11KeysConfig {
    /// The PIN, read now.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming `ca.pkcs11.pin_env` / `pin_file` and what to fix.
    pub fn read_pin(&self) -> Result<Zeroizing<String>, ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            field: format!("ca.pkcs11.{field}"),
            message,
        };
        match &self.pin {
            PinSource::Env(name) => std::env::var(name).map(Zeroizing::new).map_err(|_| {
                invalid(
                    "pin_env",
                    format!("the environment variable {name} holding the token PIN is not set"),
                )
            }),
            PinSource::File(path) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(path)
                        .map_err(|e| invalid("pin_file", format!("{}: {e}", path.display())))?
                        .permissions()
                        .mode();
                    if mode & 0o077 != 0 {
                        return Err(invalid(
                            "pin_file",
                            format!(
                                "{} has mode {:o}; a PIN file must not be readable by group or others (use 0600)",
                                path.display(),
                                mode & 0o777
                            ),
                        ));
                    }
                }
                let text = Zeroizing::new(
                    std::fs::read_to_string(path)
                        .map_err(|e| invalid("pin_file", format!("{}: {e}", path.display())))?,
                );
                Ok(Zeroizing::new(
                    text.lines().next().unwrap_or_default().to_owned(),
                ))
            }
        }
    }
}

/// The section as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPkcs11 {
    module: PathBuf,
    token_label: Option<String>,
    slot: Option<u64>,
    pin_env: Option<String>,
    pin_file: Option<PathBuf>,
    label_prefix: Option<String>,
}

impl RawPkcs11 {
    /// Checked, with relative paths resolved against `base`.
    pub(crate) fn resolve(self, base: &Path) -> Result<Pkcs11KeysConfig, ConfigError> {
        let invalid = |field: &str, message: &str| ConfigError::Invalid {
            field: format!("ca.pkcs11.{field}"),
            message: message.to_owned(),
        };
        let token = match (self.token_label, self.slot) {
            (Some(label), None) => TokenChoice::Label(label),
            (None, Some(slot)) => TokenChoice::Slot(slot),
            _ => {
                return Err(invalid(
                    "token_label",
                    "set exactly one of token_label and slot",
                ));
            }
        };
        let pin = match (self.pin_env, self.pin_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "pin_file",
                    "set at most one of pin_env and pin_file",
                ));
            }
            (None, Some(path)) => PinSource::File(base.join(path)),
            (env, None) => PinSource::Env(env.unwrap_or_else(|| DEFAULT_PIN_ENV.to_owned())),
        };
        if self.module.as_os_str().is_empty() {
            return Err(invalid("module", "must name the PKCS#11 library"));
        }
        Ok(Pkcs11KeysConfig {
            module: base.join(self.module),
            token,
            pin,
            label_prefix: self.label_prefix,
        })
    }
}

/// The key manager for `config`, on `crypto`.
#[cfg(feature = "pkcs11")]
pub(crate) fn key_manager(
    config: &Pkcs11KeysConfig,
    crypto: svid::Crypto,
) -> Result<std::sync::Arc<dyn ca::KeyManager>, crate::Error> {
    let pin = config.read_pin()?;
    let token = match &config.token {
        TokenChoice::Label(label) => ca::Pkcs11Token::Label(label.clone()),
        TokenChoice::Slot(slot) => ca::Pkcs11Token::Slot(*slot),
    };
    let mut settings = ca::Pkcs11Config::new(&config.module, token, pin.as_str());
    if let Some(prefix) = &config.label_prefix {
        settings = settings.label_prefix(prefix);
    }
    let manager = ca::Pkcs11KeyManager::open(settings, crypto).map_err(crate::Error::Ca)?;
    Ok(std::sync::Arc::new(manager))
}

/// Without the feature, a config that asks for a token is refused.
#[cfg(not(feature = "pkcs11"))]
pub(crate) fn key_manager(
    _config: &Pkcs11KeysConfig,
    _crypto: svid::Crypto,
) -> Result<std::sync::Arc<dyn ca::KeyManager>, crate::Error> {
    Err(ConfigError::Invalid {
        field: "ca.pkcs11".to_owned(),
        message:
            "this agent was built without the `pkcs11` feature (cargo install --features pkcs11)"
                .to_owned(),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::AgentConfig;

    fn parse(section: &str) -> Result<AgentConfig, crate::Error> {
        AgentConfig::parse(
            &format!("trust_domain = \"example.org\"\n[ca.pkcs11]\n{section}"),
            Path::new("/etc/spiffe"),
        )
    }

    #[test]
    fn reads_the_section_with_its_defaults() {
        let config = parse("module = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken_label = \"t\"")
            .unwrap()
            .ca_pkcs11
            .unwrap();
        assert_eq!(config.token, TokenChoice::Label("t".into()));
        assert_eq!(config.pin, PinSource::Env(DEFAULT_PIN_ENV.into()));
        let config = parse("module = \"lib.so\"\nslot = 3\npin_file = \"pin\"")
            .unwrap()
            .ca_pkcs11
            .unwrap();
        assert_eq!(config.module, Path::new("/etc/spiffe/lib.so"));
        assert_eq!(config.token, TokenChoice::Slot(3));
        assert_eq!(config.pin, PinSource::File("/etc/spiffe/pin".into()));
    }

    /// Ambiguous or missing choices name the field (negative tests).
    #[test]
    fn refuses_ambiguous_sections() {
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
            let err = parse(section).unwrap_err().to_string();
            assert!(err.contains(field), "{section}: {err}");
        }
        let err = parse("module = \"m\"\ntoken_label = \"t\"\npin = \"1234\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pin"), "a PIN in the file is refused: {err}");
    }

    /// A PIN file others may read is refused; the first line is the PIN.
    #[cfg(unix)]
    #[test]
    fn pin_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pin");
        std::fs::write(&file, "5678\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = Pkcs11KeysConfig {
            module: "m".into(),
            token: TokenChoice::Slot(0),
            pin: PinSource::File(file.clone()),
            label_prefix: None,
        };
        assert_eq!(config.read_pin().unwrap().as_str(), "5678");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = config.read_pin().unwrap_err().to_string();
        assert!(err.contains("0600"), "{err}");
    }
}
