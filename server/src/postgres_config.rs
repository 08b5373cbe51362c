//! `[store] postgres = ...` of the configuration file, with the database server's CA (TLS)
//! and the password kept in the environment rather than in the file.

use std::path::PathBuf;

/// How a replica reaches its PostgreSQL database.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// `postgres`: the libpq-style connection string (`host=... port=... user=... dbname=...`).
    pub params: String,
    /// `postgres_ca_path`: PEM roots the database server's certificate must chain to; set, the
    /// connection is TLS-only (never falls back to clear text) and the host name is checked.
    pub ca_path: Option<PathBuf>,
    /// `postgres_password_env`: the environment variable holding the password.
    pub password_env: Option<String>,
}

impl core::fmt::Debug for PostgresConfig {
    /// The connection string may carry a `password=`: only whether one is set is shown.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("params", &redact_password(&self.params))
            .field("ca_path", &self.ca_path)
            .field("password_env", &self.password_env)
            .finish()
    }
}

/// `params` with the value of any `password=` replaced (key/value form only; a URL's
/// password is hidden whole).
fn redact_password(params: &str) -> String {
    if params.contains("://") {
        return "<url, not shown>".to_owned();
    }
    params
        .split_whitespace()
        .map(|pair| {
            if pair.starts_with("password=") {
                "password=<redacted>"
            } else {
                pair
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why the database settings cannot be used.
#[cfg(feature = "postgres")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresSettingsError {
    /// `postgres_ca_path` cannot be read or holds no certificate.
    #[error("store.postgres_ca_path: {path}: {message}")]
    Roots {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `postgres_password_env` names a variable that is not set.
    #[error(
        "store.postgres_password_env: the environment variable {0} holding the database password is not set"
    )]
    PasswordNotSet(String),
}

#[cfg(feature = "postgres")]
impl PostgresConfig {
    /// The store's connection options: TLS with the configured roots on `crypto`'s provider,
    /// and the password read from the environment now.
    ///
    /// # Errors
    /// [`PostgresSettingsError`] naming the key to fix.
    pub fn options(
        &self,
        crypto: &svid::Crypto,
    ) -> Result<store::PostgresOptions, PostgresSettingsError> {
        let mut options = store::PostgresOptions::new(&self.params);
        if let Some(path) = &self.ca_path {
            options = options.tls(client_config(path, crypto)?);
        }
        if let Some(name) = &self.password_env {
            let password = zeroize::Zeroizing::new(
                std::env::var(name)
                    .map_err(|_| PostgresSettingsError::PasswordNotSet(name.clone()))?,
            );
            options = options.password(&password);
        }
        Ok(options)
    }
}

/// A rustls client that trusts exactly the certificates in `path`.
#[cfg(feature = "postgres")]
fn client_config(
    path: &std::path::Path,
    crypto: &svid::Crypto,
) -> Result<rustls::ClientConfig, PostgresSettingsError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let roots_error = |message: String| PostgresSettingsError::Roots {
        path: path.to_owned(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| roots_error(e.to_string()))? {
        let cert = cert.map_err(|e| roots_error(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| roots_error(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(roots_error("no CERTIFICATE block".to_owned()));
    }
    rustls::ClientConfig::builder_with_provider(crypto.provider().clone())
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| roots_error(format!("the crypto provider cannot do TLS: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A password in the connection string never reaches logs through `Debug`.
    #[test]
    fn debug_hides_passwords() {
        let config = PostgresConfig {
            params: "host=db user=spiffe password=hunter2 dbname=spiffe".into(),
            ca_path: None,
            password_env: None,
        };
        let text = format!("{config:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("user=spiffe"), "{text}");
        let url = PostgresConfig {
            params: "postgresql://spiffe:hunter2@db/spiffe".into(),
            ..config
        };
        assert!(!format!("{url:?}").contains("hunter2"));
    }

    /// A roots file that is missing or holds no certificate, and an unset password
    /// variable, name the key to fix (negative tests).
    #[cfg(feature = "postgres")]
    #[test]
    fn unusable_settings_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let crypto = svid::Crypto::default();
        for path in [dir.path().join("missing.pem"), empty] {
            let config = PostgresConfig {
                params: "host=db".into(),
                ca_path: Some(path),
                password_env: None,
            };
            let err = config.options(&crypto).unwrap_err().to_string();
            assert!(err.contains("store.postgres_ca_path"), "{err}");
        }
        let config = PostgresConfig {
            params: "host=db".into(),
            ca_path: None,
            password_env: Some("SPIFFEKIT_TEST_SURELY_UNSET_PASSWORD".into()),
        };
        let err = config.options(&crypto).unwrap_err().to_string();
        assert!(
            err.contains("SPIFFEKIT_TEST_SURELY_UNSET_PASSWORD"),
            "{err}"
        );
    }
}
