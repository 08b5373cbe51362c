//! Bundle endpoint URLs (digest 7.3: scheme `https`, no userinfo; path, port and query free).

use std::fmt;
use std::str::FromStr;

use http::Uri;
use http::uri::{Parts, PathAndQuery, Scheme};

use crate::error::UrlError;

/// A valid bundle endpoint URL: `https`, with a host, without userinfo (digest 7.3, 7.4).
///
/// ```
/// use federation::client::EndpointUrl;
/// use federation::UrlError;
///
/// let url: EndpointUrl = "https://b.example:8443/bundle".parse()?;
/// assert_eq!(url.host(), "b.example");
/// assert_eq!("http://b.example/".parse::<EndpointUrl>(), Err(UrlError::NotHttps));
/// assert_eq!("https://u:p@b.example/".parse::<EndpointUrl>(), Err(UrlError::UserInfo));
/// # Ok::<(), UrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointUrl {
    uri: Uri,
}

impl EndpointUrl {
    /// The host (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        let host = self.uri.host().unwrap_or_default();
        host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The URL as an `http::Uri`.
    pub fn as_uri(&self) -> &Uri {
        &self.uri
    }

    /// The target of a redirect from this URL: `location` resolved against it (an absolute
    /// URL, a scheme-relative `//host/path`, an absolute path, or a path relative to this
    /// URL's directory), then checked as any endpoint URL (digest 7.3: the target must be a
    /// valid endpoint URL too).
    pub(crate) fn redirect(&self, location: &str) -> Result<Self, UrlError> {
        if location.contains("://") {
            return location.parse();
        }
        if let Some(rest) = location.strip_prefix("//") {
            return format!("https://{rest}").parse();
        }
        let path = if location.starts_with('/') {
            location.to_owned()
        } else {
            let base = self.uri.path();
            let directory = base
                .rfind('/')
                .map_or("/", |at| base.get(..=at).unwrap_or("/"));
            format!("{directory}{location}")
        };
        let mut parts = Parts::default();
        parts.scheme = Some(Scheme::HTTPS);
        parts.authority = self.uri.authority().cloned();
        parts.path_and_query = Some(PathAndQuery::from_str(&path).map_err(|_| UrlError::Invalid)?);
        Self::try_from(Uri::from_parts(parts).map_err(|_| UrlError::Invalid)?)
    }
}

impl TryFrom<Uri> for EndpointUrl {
    type Error = UrlError;

    fn try_from(uri: Uri) -> Result<Self, UrlError> {
        if uri.scheme() != Some(&Scheme::HTTPS) {
            return Err(UrlError::NotHttps);
        }
        let authority = uri.authority().ok_or(UrlError::NoHost)?;
        if authority.as_str().contains('@') {
            return Err(UrlError::UserInfo);
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(UrlError::NoHost);
        }
        Ok(Self { uri })
    }
}

impl FromStr for EndpointUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, UrlError> {
        let uri = Uri::from_str(s).map_err(|_| UrlError::Invalid)?;
        Self::try_from(uri)
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.uri.fmt(f)
    }
}

impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EndpointUrl({})", self.uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digest 7.3: the scheme must be https.
    #[test]
    fn rejects_http_and_other_schemes() {
        for url in ["http://a.example/", "ftp://a.example/", "a.example/bundle"] {
            assert!(url.parse::<EndpointUrl>().is_err(), "{url}");
        }
        assert_eq!(
            "http://a.example/".parse::<EndpointUrl>(),
            Err(UrlError::NotHttps)
        );
    }

    /// Digest 7.3: no userinfo.
    #[test]
    fn rejects_userinfo() {
        for url in [
            "https://user@a.example/",
            "https://user:secret@a.example:443/b",
        ] {
            assert_eq!(url.parse::<EndpointUrl>(), Err(UrlError::UserInfo), "{url}");
        }
    }

    /// Digest 7.3: port, path and query are unconstrained.
    #[test]
    fn accepts_port_path_and_query() {
        let url: EndpointUrl = "https://[::1]:8443/a/b?c=d".parse().unwrap();
        assert_eq!(url.host(), "::1");
    }

    /// Digest 7.3: a redirect target must be a valid endpoint URL too.
    #[test]
    fn resolves_and_checks_redirect_targets() {
        let base: EndpointUrl = "https://a.example:8443/x/bundle".parse().unwrap();
        assert_eq!(
            base.redirect("/other").unwrap().to_string(),
            "https://a.example:8443/other"
        );
        assert_eq!(
            base.redirect("next").unwrap().to_string(),
            "https://a.example:8443/x/next"
        );
        assert_eq!(
            base.redirect("//b.example/y").unwrap().to_string(),
            "https://b.example/y"
        );
        assert_eq!(base.redirect("http://b.example/"), Err(UrlError::NotHttps));
        assert_eq!(
            base.redirect("https://u@b.example/"),
            Err(UrlError::UserInfo)
        );
    }
}
