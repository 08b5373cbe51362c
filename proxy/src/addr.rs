//! [`Address`]: where the proxy listens or connects, a TCP `HOST:PORT` or a Unix socket path.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use crate::error::Error;

/// A TCP `HOST:PORT` (`127.0.0.1:8443`, `[::1]:80`, `backend.internal:8080`) or a Unix socket,
/// written `unix:/run/app.sock` (or `unix:///run/app.sock`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Address {
    /// A TCP host and port (the host may be a name, resolved on each use).
    Tcp(String),
    /// A Unix stream socket.
    Unix(PathBuf),
}

impl FromStr for Address {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |reason| Error::Address {
            address: text.to_owned(),
            reason,
        };
        if let Some(path) = text.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if !path.starts_with('/') {
                return Err(bad("a Unix socket path must be absolute (unix:/path)"));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| bad("expected HOST:PORT or unix:/path"))?;
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
            return Err(bad("an IPv6 host is written in brackets: [::1]:8443"));
        }
        port.parse::<u16>()
            .map_err(|_| bad("the port is not a number from 0 to 65535"))?;
        Ok(Self::Tcp(text.to_owned()))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(address) => f.write_str(address),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_and_unix_forms() {
        assert_eq!(
            "127.0.0.1:8443".parse::<Address>().ok(),
            Some(Address::Tcp("127.0.0.1:8443".into()))
        );
        assert_eq!(
            "[::1]:80".parse::<Address>().ok(),
            Some(Address::Tcp("[::1]:80".into()))
        );
        assert_eq!(
            "unix:///run/a.sock".parse::<Address>().ok(),
            Some(Address::Unix("/run/a.sock".into()))
        );
        assert_eq!(
            "unix:/run/a.sock".parse::<Address>().ok(),
            Some(Address::Unix("/run/a.sock".into()))
        );
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "8443",
            ":8443",
            "host:port",
            "::1:80",
            "unix:relative.sock",
            "h:70000",
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }
}
