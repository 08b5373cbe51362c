//! [`PostgresOptions`]: how a [`PostgresStore`](crate::PostgresStore) reaches its database,
//! beyond the connection string: TLS and a password kept out of that string.

use postgres::Config;
use postgres::config::SslMode;
use zeroize::Zeroizing;

use crate::error::Error;

/// How to connect to PostgreSQL: a connection string, plus TLS and a password given apart.
///
/// With [`tls`](Self::tls) the connection is encrypted and the server's certificate checked
/// by rustls against the roots of the given `ClientConfig`, for the host name of the
/// connection string: `sslmode` becomes `require`, so a server (or a machine in the middle)
/// that answers "no TLS" is refused instead of talked to in clear. TLS applies to TCP hosts;
/// PostgreSQL has no TLS on Unix sockets, so a socket host with TLS set fails to connect.
///
/// ```
/// # #[cfg(feature = "postgres")] {
/// use store::PostgresOptions;
///
/// let options = PostgresOptions::new("host=db.example.org port=5432 user=spiffe dbname=spiffe")
///     .password("from a secret store");
/// assert!(format!("{options:?}").contains("<redacted>"));
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresOptions {
    params: String,
    tls: Option<rustls::ClientConfig>,
    password: Option<Zeroizing<String>>,
}

impl core::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("tls", &self.tls.is_some())
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl PostgresOptions {
    /// A libpq-style connection string (`host=... user=... dbname=...`, or a
    /// `postgresql://` URL); no TLS and no separate password yet.
    pub fn new(params: &str) -> Self {
        Self {
            params: params.to_owned(),
            tls: None,
            password: None,
        }
    }

    /// Encrypts the connection with rustls and `config` (its roots authenticate the server;
    /// a client certificate in it authenticates the store to the server).
    #[must_use]
    pub fn tls(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// The password, kept out of the connection string (and so out of config files and
    /// process listings); it overrides a `password=` of the string.
    #[must_use]
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(Zeroizing::new(password.to_owned()));
        self
    }

    /// The parsed connection settings and the TLS connector they are used with.
    pub(crate) fn resolve(self) -> Result<(Config, Tls), Error> {
        let mut config: Config = self
            .params
            .parse()
            .map_err(|e: postgres::Error| Error::invalid("connection string", e.to_string()))?;
        if let Some(password) = &self.password {
            config.password(password.as_bytes());
        }
        let tls = match self.tls {
            None => Tls::None,
            Some(client) => {
                if config.get_ssl_mode() == SslMode::Disable {
                    return Err(Error::invalid(
                        "connection string",
                        "sslmode=disable contradicts the TLS settings: remove one of them",
                    ));
                }
                config.ssl_mode(SslMode::Require);
                Tls::Rustls(tokio_postgres_rustls::MakeRustlsConnect::new(client))
            }
        };
        Ok((config, tls))
    }
}

/// The TLS connector of a connection (kept to reconnect the same way).
#[derive(Clone)]
pub(crate) enum Tls {
    /// In clear: Unix sockets, or a trusted network.
    None,
    /// rustls, server certificate verified.
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Tls {
    /// Connects with `config` over this transport.
    pub(crate) fn connect(&self, config: &Config) -> Result<postgres::Client, postgres::Error> {
        match self {
            Self::None => config.connect(postgres::NoTls),
            Self::Rustls(connector) => config.connect(connector.clone()),
        }
    }
}
