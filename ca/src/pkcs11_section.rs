//! The `[ca.pkcs11]` section of a binary's configuration file: the CA's keys on a PKCS#11
//! token (an HSM, or SoftHSM2), shared by the `agent` and `server` binaries so that both read
//! the same keys the same way.
//!
//! [`RawSection`] is the section as written (serde; unknown keys are refused, so a PIN
//! written into the file is an error); [`RawSection::resolve`] checks it into a
//! [`Pkcs11KeysConfig`]; with the feature `pkcs11`, [`Pkcs11KeysConfig::open`] reads the PIN
//! and opens the [`Pkcs11KeyManager`](crate::Pkcs11KeyManager). Parsing needs no feature, so a
//! binary built without it still reads its configuration and refuses the section in its own
//! words.
//!
//! The PIN is never written in the config file: it is read from an environment variable
//! (`pin_env`; each binary names its default) or from a file only its owner may read
//! (`pin_file`).
//!
//! ```toml
//! [ca.pkcs11]
//! module = "/usr/lib/softhsm/libsofthsm2.so"
//! token_label = "spiffe"                # or: slot = 0
//! pin_env = "SPIFFE_AGENT_PKCS11_PIN"   # or: pin_file = "pin" (mode 0600)
//! label_prefix = "spiffekit"            # the start of the keys' CKA_LABEL
//! ```
//!
//! ```
//! use std::path::Path;
//! use ca::pkcs11_section::{PinSource, RawSection, TokenChoice};
//!
//! // Any serde format; the binaries use TOML.
//! let raw: RawSection = serde_json::from_str(r#"{"module": "softhsm.so", "slot": 0}"#)?;
//! let config = raw.resolve(Path::new("/etc/spiffe"), "MY_PIN")?;
//! assert_eq!(config.module, Path::new("/etc/spiffe/softhsm.so"));
//! assert_eq!(config.token, TokenChoice::Slot(0));
//! assert_eq!(config.pin, PinSource::Env("MY_PIN".into()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

/// `[ca.pkcs11]`, checked: where the CA's keys are generated and kept.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pkcs11KeysConfig {
    /// `module`: the PKCS#11 library, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// `token_label` (or `slot`): which token.
    pub token: TokenChoice,
    /// Where the user PIN comes from.
    pub pin: PinSource,
    /// `label_prefix`: the start of the labels of the keys the CA creates.
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
    /// `pin_env = "NAME"` (default: the name the binary gives [`RawSection::resolve`]).
    Env(String),
    /// `pin_file = "path"`: the first line of a file of mode 0600 or stricter.
    File(PathBuf),
}

/// What is wrong with a `[ca.pkcs11]` section, its PIN or its token. [`field`](Self::field)
/// names the key to fix; the binaries put their section path (`ca.pkcs11.`) before it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SectionError {
    /// `module` is empty.
    #[error("must name the PKCS#11 library")]
    EmptyModule,
    /// The key manager could not be opened: module, token or PIN refused (the CA error says
    /// which).
    #[error(transparent)]
    Open(crate::Error),
    /// Both `pin_env` and `pin_file` are set.
    #[error("set at most one of pin_env and pin_file")]
    PinEnvAndFile,
    /// The PIN's environment variable is not set (or not Unicode).
    #[error("the environment variable {name} holding the token PIN is not set")]
    PinEnvUnset {
        /// The variable.
        name: String,
    },
    /// The PIN file may be read by group or others.
    #[error(
        "{path} has mode {mode:o}; a PIN file must not be readable by group or others (use 0600)"
    )]
    PinFileMode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The PIN file cannot be read.
    #[error("{path}: {source}")]
    PinFileRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Neither or both of `token_label` and `slot` are set.
    #[error("set exactly one of token_label and slot")]
    TokenLabelOrSlot,
}

impl SectionError {
    /// The key of the section to fix (`module`, `pin_env`, `pin_file`, `token_label`);
    /// `None` when the token itself refused ([`Open`](Self::Open)).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::EmptyModule => Some("module"),
            Self::Open(_) => None,
            Self::PinEnvUnset { .. } => Some("pin_env"),
            Self::PinEnvAndFile | Self::PinFileMode { .. } | Self::PinFileRead { .. } => {
                Some("pin_file")
            }
            Self::TokenLabelOrSlot => Some("token_label"),
        }
    }
}

/// The section as written; [`resolve`](Self::resolve) checks it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSection {
    module: PathBuf,
    token_label: Option<String>,
    slot: Option<u64>,
    pin_env: Option<String>,
    pin_file: Option<PathBuf>,
    label_prefix: Option<String>,
}

impl RawSection {
    /// Checked, with relative paths (`module`, `pin_file`) resolved against `base` (the
    /// config file's folder); the PIN comes from `default_pin_env` when the section names no
    /// source.
    ///
    /// # Errors
    /// [`SectionError::TokenLabelOrSlot`], [`SectionError::PinEnvAndFile`] or
    /// [`SectionError::EmptyModule`].
    pub fn resolve(
        self,
        base: &Path,
        default_pin_env: &str,
    ) -> Result<Pkcs11KeysConfig, SectionError> {
        let token = match (self.token_label, self.slot) {
            (Some(label), None) => TokenChoice::Label(label),
            (None, Some(slot)) => TokenChoice::Slot(slot),
            _ => return Err(SectionError::TokenLabelOrSlot),
        };
        let pin = match (self.pin_env, self.pin_file) {
            (Some(_), Some(_)) => return Err(SectionError::PinEnvAndFile),
            (None, Some(path)) => PinSource::File(base.join(path)),
            (env, None) => PinSource::Env(env.unwrap_or_else(|| default_pin_env.to_owned())),
        };
        if self.module.as_os_str().is_empty() {
            return Err(SectionError::EmptyModule);
        }
        Ok(Pkcs11KeysConfig {
            module: base.join(self.module),
            token,
            pin,
            label_prefix: self.label_prefix,
        })
    }
}

impl Pkcs11KeysConfig {
    /// The PIN, read now.
    ///
    /// # Errors
    /// [`SectionError::PinEnvUnset`]; [`SectionError::PinFileMode`] for a file group or
    /// others may read; [`SectionError::PinFileRead`].
    pub fn read_pin(&self) -> Result<Zeroizing<String>, SectionError> {
        match &self.pin {
            PinSource::Env(name) => std::env::var(name)
                .map(Zeroizing::new)
                .map_err(|_| SectionError::PinEnvUnset { name: name.clone() }),
            PinSource::File(path) => {
                let read_error = |source| SectionError::PinFileRead {
                    path: path.clone(),
                    source,
                };
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(path)
                        .map_err(read_error)?
                        .permissions()
                        .mode();
                    if mode & 0o077 != 0 {
                        return Err(SectionError::PinFileMode {
                            path: path.clone(),
                            mode: mode & 0o777,
                        });
                    }
                }
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(read_error)?);
                Ok(Zeroizing::new(
                    text.lines().next().unwrap_or_default().to_owned(),
                ))
            }
        }
    }

    /// Reads the PIN and opens the key manager on the token (module loaded, token found,
    /// user logged in); `crypto` hashes what the token signs and draws key ids.
    ///
    /// # Errors
    /// [`read_pin`](Self::read_pin)'s errors; [`SectionError::Open`] when the module, the
    /// token or the PIN is refused.
    #[cfg(feature = "pkcs11")]
    pub fn open(&self, crypto: svid::Crypto) -> Result<crate::Pkcs11KeyManager, SectionError> {
        let pin = self.read_pin()?;
        let token = match &self.token {
            TokenChoice::Label(label) => crate::Pkcs11Token::Label(label.clone()),
            TokenChoice::Slot(slot) => crate::Pkcs11Token::Slot(*slot),
        };
        let mut settings = crate::Pkcs11Config::new(&self.module, token, pin.as_str());
        if let Some(prefix) = &self.label_prefix {
            settings = settings.label_prefix(prefix);
        }
        crate::Pkcs11KeyManager::open(settings, crypto).map_err(SectionError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(json: &str) -> Result<Pkcs11KeysConfig, SectionError> {
        serde_json::from_str::<RawSection>(json)
            .unwrap()
            .resolve(Path::new("/etc/spiffe"), "DEFAULT_PIN")
    }

    #[test]
    fn resolves_paths_and_the_default_pin_variable() {
        let config = resolve(r#"{"module": "lib.so", "token_label": "t"}"#).unwrap();
        assert_eq!(config.module, Path::new("/etc/spiffe/lib.so"));
        assert_eq!(config.token, TokenChoice::Label("t".into()));
        assert_eq!(config.pin, PinSource::Env("DEFAULT_PIN".into()));
        assert_eq!(config.label_prefix, None);
        let config = resolve(
            r#"{"module": "/abs/lib.so", "slot": 2, "pin_file": "pin", "label_prefix": "p"}"#,
        )
        .unwrap();
        assert_eq!(config.module, Path::new("/abs/lib.so"));
        assert_eq!(config.pin, PinSource::File("/etc/spiffe/pin".into()));
        assert_eq!(config.label_prefix.as_deref(), Some("p"));
        let config = resolve(r#"{"module": "m", "slot": 0, "pin_env": "MINE"}"#).unwrap();
        assert_eq!(config.pin, PinSource::Env("MINE".into()));
    }

    /// Ambiguous or missing choices are refused, each naming the key to fix.
    #[test]
    fn refuses_ambiguous_sections_naming_the_key() {
        for (json, field) in [
            (r#"{"module": "m"}"#, "token_label"),
            (
                r#"{"module": "m", "token_label": "t", "slot": 1}"#,
                "token_label",
            ),
            (
                r#"{"module": "m", "slot": 1, "pin_env": "P", "pin_file": "f"}"#,
                "pin_file",
            ),
            (r#"{"module": "", "slot": 1}"#, "module"),
        ] {
            let err = resolve(json).unwrap_err();
            assert_eq!(err.field(), Some(field), "{json}: {err}");
        }
        let pin = serde_json::from_str::<RawSection>(r#"{"module": "m", "slot": 1, "pin": "1"}"#);
        assert!(pin.is_err(), "a PIN in the file is refused");
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
        let err = config.read_pin().unwrap_err();
        assert!(
            matches!(err, SectionError::PinFileMode { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("0600"), "{err}");
        std::fs::remove_file(&file).unwrap();
        let err = config.read_pin().unwrap_err();
        assert!(matches!(err, SectionError::PinFileRead { .. }), "{err}");
        assert_eq!(err.field(), Some("pin_file"));
    }

    #[test]
    fn an_unset_pin_variable_names_it() {
        let config = resolve(
            r#"{"module": "m", "slot": 0, "pin_env": "SPIFFEKIT_TEST_PIN_NEVER_SET_1b4e"}"#,
        )
        .unwrap();
        let err = config.read_pin().unwrap_err();
        assert_eq!(err.field(), Some("pin_env"));
        assert!(
            err.to_string()
                .contains("SPIFFEKIT_TEST_PIN_NEVER_SET_1b4e"),
            "{err}"
        );
    }
}
