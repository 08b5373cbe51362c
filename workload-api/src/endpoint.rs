//! [`Endpoint`]: where the Workload API listens, parsed strictly by the SPIFFE Workload
//! Endpoint rules (Workload Endpoint 4; digest 6.3, E-1..E-8).

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::error::{EndpointError, Error};

/// The environment variable a client reads when no address is configured (Workload Endpoint 4;
/// digest E-8).
pub const ENDPOINT_SOCKET_ENV: &str = "SPIFFE_ENDPOINT_SOCKET";

/// The address of a Workload API endpoint: a Unix domain socket or a TCP address.
///
/// Parsed from the URI forms the specification allows and nothing else:
///
/// - `unix:///abs/path` or `unix:/abs/path`: an absolute socket path; no authority, userinfo,
///   query or fragment (E-2, E-3, E-4).
/// - `tcp://<ip>:<port>`: an IP address (never a DNS name) and a non-zero port; no path (not even
///   `/`), userinfo, query or fragment (E-5, E-6, E-7).
///
/// The scheme is matched case-insensitively (RFC 3986 3.1); anything other than `unix` or
/// `tcp` is refused (E-1). Percent-escapes in a Unix path are decoded.
///
/// ```
/// use workload_api::Endpoint;
///
/// let unix: Endpoint = "unix:///run/spire/agent.sock".parse()?;
/// assert_eq!(unix.unix_path().map(|p| p.to_str()), Some(Some("/run/spire/agent.sock")));
/// assert_eq!(unix.to_string(), "unix:///run/spire/agent.sock");
///
/// let tcp: Endpoint = "tcp://127.0.0.1:8081".parse()?;
/// assert!(tcp.tcp_addr().is_some());
///
/// assert!("tcp://localhost:8081".parse::<Endpoint>().is_err()); // a DNS name (E-5)
/// assert!("unix://tmp/agent.sock".parse::<Endpoint>().is_err()); // an authority (E-2)
/// # Ok::<(), workload_api::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// A Unix domain socket at this absolute path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

impl Endpoint {
    /// Parses an address, returning [`Error::InvalidEndpoint`] with the rule it breaks.
    ///
    /// # Errors
    /// [`Error::InvalidEndpoint`].
    pub fn parse(address: &str) -> Result<Self, Error> {
        parse(address).map_err(|reason| Error::InvalidEndpoint {
            address: address.to_owned(),
            reason,
        })
    }

    /// Reads and parses [`ENDPOINT_SOCKET_ENV`] (`SPIFFE_ENDPOINT_SOCKET`).
    ///
    /// # Errors
    /// [`Error::EndpointNotConfigured`] when the variable is unset (or not Unicode), and
    /// [`Error::InvalidEndpoint`] when its value is not a valid address.
    pub fn from_env() -> Result<Self, Error> {
        match std::env::var(ENDPOINT_SOCKET_ENV) {
            Ok(value) => Self::parse(&value),
            Err(_) => Err(Error::EndpointNotConfigured),
        }
    }

    /// The explicitly configured address if there is one, else `SPIFFE_ENDPOINT_SOCKET`: an
    /// explicit address always takes precedence (Workload Endpoint 4; digest E-8).
    ///
    /// # Errors
    /// As [`parse`](Self::parse) and [`from_env`](Self::from_env).
    pub fn explicit_or_env(explicit: Option<&str>) -> Result<Self, Error> {
        match explicit {
            Some(address) => Self::parse(address),
            None => Self::from_env(),
        }
    }

    /// A Unix socket endpoint for an absolute path.
    ///
    /// # Errors
    /// [`Error::InvalidEndpoint`] if `path` is not absolute or is `/`.
    pub fn unix(path: impl Into<PathBuf>) -> Result<Self, Error> {
        let path = path.into();
        let reason = if !path.is_absolute() {
            Some(EndpointError::UnixRelativePath)
        } else if path == Path::new("/") {
            Some(EndpointError::UnixRootPath)
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidEndpoint {
                address: path.display().to_string(),
                reason,
            }),
            None => Ok(Self::Unix(path)),
        }
    }

    /// A TCP endpoint.
    ///
    /// # Errors
    /// [`Error::InvalidEndpoint`] if the port is 0.
    pub fn tcp(addr: SocketAddr) -> Result<Self, Error> {
        if addr.port() == 0 {
            return Err(Error::InvalidEndpoint {
                address: addr.to_string(),
                reason: EndpointError::TcpPortZero,
            });
        }
        Ok(Self::Tcp(addr))
    }

    /// The socket path, for a Unix endpoint.
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            Self::Unix(path) => Some(path),
            Self::Tcp(_) => None,
        }
    }

    /// The address, for a TCP endpoint.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Unix(_) => None,
            Self::Tcp(addr) => Some(*addr),
        }
    }
}

/// The canonical form: `unix:///path` or `tcp://ip:port`.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
            Self::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(address: &str) -> Result<Self, Error> {
        Self::parse(address)
    }
}

fn parse(address: &str) -> Result<Endpoint, EndpointError> {
    if address.is_empty() {
        return Err(EndpointError::Empty);
    }
    if address
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || !b.is_ascii())
    {
        return Err(EndpointError::NotAUri);
    }
    let (scheme, rest) = split_scheme(address).ok_or(EndpointError::NoScheme)?;
    let is_unix = scheme.eq_ignore_ascii_case("unix");
    if !is_unix && !scheme.eq_ignore_ascii_case("tcp") {
        return Err(EndpointError::UnsupportedScheme {
            scheme: scheme.to_owned(),
        });
    }
    if rest.contains('#') {
        return Err(EndpointError::Fragment);
    }
    if rest.contains('?') {
        return Err(EndpointError::Query);
    }
    // `//authority` then the path (RFC 3986 3.2); without `//` there is no authority.
    let (authority, path) = match rest.strip_prefix("//") {
        Some(after) => {
            let end = after.find('/').unwrap_or(after.len());
            let (authority, path) = after.split_at(end);
            (Some(authority), path)
        }
        None => (None, rest),
    };
    if is_unix {
        parse_unix(authority, path)
    } else {
        parse_tcp(authority, path)
    }
}

/// Splits `scheme:rest` where the scheme is `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn split_scheme(address: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = address.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

fn parse_unix(authority: Option<&str>, path: &str) -> Result<Endpoint, EndpointError> {
    match authority {
        Some(authority) if authority.contains('@') => return Err(EndpointError::UnixUserInfo),
        Some(authority) if !authority.is_empty() => return Err(EndpointError::UnixAuthority),
        _ => {}
    }
    if path.is_empty() {
        return Err(EndpointError::UnixNoPath);
    }
    if !path.starts_with('/') {
        return Err(EndpointError::UnixRelativePath);
    }
    let decoded = percent_decode(path).ok_or(EndpointError::NotAUri)?;
    if decoded == "/" {
        return Err(EndpointError::UnixRootPath);
    }
    Ok(Endpoint::Unix(PathBuf::from(decoded)))
}

fn parse_tcp(authority: Option<&str>, path: &str) -> Result<Endpoint, EndpointError> {
    let authority = authority.ok_or(EndpointError::TcpOpaque)?;
    if authority.contains('@') {
        return Err(EndpointError::TcpUserInfo);
    }
    if authority.is_empty() {
        return Err(EndpointError::TcpNoHost);
    }
    if !path.is_empty() {
        return Err(EndpointError::TcpPath);
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or(EndpointError::TcpHostNotIp)?;
        let ip = host
            .parse::<Ipv6Addr>()
            .map_err(|_| EndpointError::TcpHostNotIp)?;
        let port = match after.strip_prefix(':') {
            Some(port) => port,
            None if after.is_empty() => return Err(EndpointError::TcpNoPort),
            None => return Err(EndpointError::TcpHostNotIp),
        };
        (IpAddr::V6(ip), port)
    } else {
        let Some((host, port)) = authority.rsplit_once(':') else {
            return match authority.parse::<IpAddr>() {
                Ok(_) => Err(EndpointError::TcpNoPort),
                Err(_) => Err(EndpointError::TcpHostNotIp),
            };
        };
        // An IPv6 address must be bracketed; `host` here may only be IPv4.
        let ip = host
            .parse::<std::net::Ipv4Addr>()
            .map_err(|_| EndpointError::TcpHostNotIp)?;
        (IpAddr::V4(ip), port)
    };
    if port.is_empty() {
        return Err(EndpointError::TcpNoPort);
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EndpointError::TcpBadPort);
    }
    let port: u16 = port.parse().map_err(|_| EndpointError::TcpBadPort)?;
    if port == 0 {
        return Err(EndpointError::TcpPortZero);
    }
    Ok(Endpoint::Tcp(SocketAddr::new(host, port)))
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = core::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
