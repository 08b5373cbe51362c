//! `[ca.pkcs11]` of the configuration file: the CA's keys on a PKCS#11 token (an HSM, or
//! SoftHSM2), through [`ca::Pkcs11KeyManager`] (feature `pkcs11`).
//!
//! The section is the one the `server` binary reads too: its parsing, the PIN and the opening
//! of the token live in [`ca::pkcs11_section`]; this module gives it the agent's default PIN
//! variable and maps its errors to [`ConfigError`] under `ca.pkcs11.`.
//!
//! The PIN is never written in the config file: it is read from an environment variable
//! (`pin_env`, default `SPIFFE_AGENT_PKCS11_PIN`) or from a file only its owner may read
//! (`pin_file`).

use std::path::Path;

pub use ca::pkcs11_section::{PinSource, Pkcs11KeysConfig, TokenChoice};
use ca::pkcs11_section::{RawSection, SectionError};

use crate::error::{ConfigError, Error};

/// The environment variable the PIN is read from when the section names none.
pub const DEFAULT_PIN_ENV: &str = "SPIFFE_AGENT_PKCS11_PIN";

/// The section as written, checked, with relative paths resolved against `base`.
pub(crate) fn resolve(raw: RawSection, base: &Path) -> Result<Pkcs11KeysConfig, Error> {
    raw.resolve(base, DEFAULT_PIN_ENV).map_err(to_error)
}

/// A section error as the agent reports it: the token's refusal as a CA error (as before the
/// section was shared), anything else as [`ConfigError::Invalid`] naming `ca.pkcs11.<key>`.
fn to_error(error: SectionError) -> Error {
    match error {
        SectionError::Open(source) => Error::Ca(source),
        other => ConfigError::Invalid {
            field: other
                .field()
                .map_or_else(|| "ca.pkcs11".to_owned(), |key| format!("ca.pkcs11.{key}")),
            message: other.to_string(),
        }
        .into(),
    }
}

/// The key manager for `config`, on `crypto`.
#[cfg(feature = "pkcs11")]
pub(crate) fn key_manager(
    config: &Pkcs11KeysConfig,
    crypto: svid::Crypto,
) -> Result<std::sync::Arc<dyn ca::KeyManager>, Error> {
    let manager = config.open(crypto).map_err(to_error)?;
    Ok(std::sync::Arc::new(manager))
}

/// Without the feature, a config that asks for a token is refused.
#[cfg(not(feature = "pkcs11"))]
pub(crate) fn key_manager(
    _config: &Pkcs11KeysConfig,
    _crypto: svid::Crypto,
) -> Result<std::sync::Arc<dyn ca::KeyManager>, Error> {
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

    fn parse(section: &str) -> Result<AgentConfig, Error> {
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

    /// A PIN file others may read is refused, reported under `ca.pkcs11.pin_file`; the first
    /// line is the PIN.
    #[cfg(unix)]
    #[test]
    fn pin_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pin");
        std::fs::write(&file, "5678\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = AgentConfig::parse(
            "trust_domain = \"example.org\"\n[ca.pkcs11]\nmodule = \"m\"\nslot = 0\npin_file = \"pin\"",
            dir.path(),
        )
        .unwrap()
        .ca_pkcs11
        .unwrap();
        assert_eq!(config.pin, PinSource::File(file.clone()));
        assert_eq!(config.read_pin().unwrap().as_str(), "5678");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = to_error(config.read_pin().unwrap_err()).to_string();
        assert!(
            err.contains("ca.pkcs11.pin_file") && err.contains("0600"),
            "{err}"
        );
    }
}
