//! The `[federation]` section of a binary's configuration file (feature `config`): this
//! trust domain's bundle endpoint and the relationships with other trust domains (SPIFFE
//! Federation; digest 7), shared by the `agent` and `server` binaries so both read it, and
//! start what it names, the same way.
//!
//! [`RawFederation`] is the section as written (serde; unknown keys are refused);
//! [`RawFederation::resolve`] checks it into a [`FederationConfig`]; [`start`] runs the
//! [`FederationManager`](crate::manager::FederationManager) and the bundle endpoint it names.
//!
//! ```toml
//! [federation.bundle_endpoint]           # serve this trust domain's bundle
//! address = "0.0.0.0:8443"
//! path = "/"                             # default "/"
//! profile = "https_spiffe"               # with spiffe_id; or "https_web" with cert/key paths
//! spiffe_id = "spiffe://example.org/federation/bundle-endpoint"
//! # cert_path = "web.pem"                # https_web: a WebPKI chain and key, reloaded on change
//! # key_path = "web.key"
//!
//! [[federation.federates_with]]          # one per foreign trust domain
//! trust_domain = "partner.example"
//! url = "https://bundle.partner.example:8443/"
//! profile = "https_spiffe"               # never inferred from the URL (digest 7.2)
//! endpoint_spiffe_id = "spiffe://partner.example/federation/bundle-endpoint"
//! bundle_path = "partner-bootstrap.json" # the endpoint ID's trust domain's bundle (JSON or PEM)
//! # roots_path = "webpki-roots.pem"      # https_web: the roots the server chains to
//! # min_refresh = "30s"                  # bounds on the peer's spiffe_refresh_hint
//! # max_refresh = "1h"
//! # lower_sequence = "refuse"            # or "accept": a peer rebuilt on a new database
//! ```
//!
//! ```
//! use std::path::Path;
//! use federation::config::{RawFederation, RelationshipProfileConfig};
//!
//! // Any serde format; the binaries use TOML.
//! let raw: RawFederation = serde_json::from_str(r#"{"federates_with": [{
//!     "trust_domain": "partner.example", "url": "https://partner.example/bundle",
//!     "profile": "https_web", "roots_path": "roots.pem"}]}"#)?;
//! let config = raw.resolve(Path::new("/etc/spiffe"), &"example.org".parse()?)?;
//! let [partner] = config.federates_with.as_slice() else { unreachable!() };
//! assert!(matches!(&partner.profile, RelationshipProfileConfig::HttpsWeb { roots_path }
//!     if roots_path == Path::new("/etc/spiffe/roots.pem")));
//!
//! // The own trust domain is refused, naming the key to fix.
//! let raw: RawFederation = serde_json::from_str(r#"{"federates_with": [{
//!     "trust_domain": "example.org", "url": "https://example.org/",
//!     "profile": "https_web", "roots_path": "roots.pem"}]}"#)?;
//! let error = raw.resolve(Path::new("/"), &"example.org".parse()?).unwrap_err();
//! assert_eq!(error.field(), "federation.federates_with[0].trust_domain");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod files;
mod run;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use spiffe_id::{SpiffeId, TrustDomain};

use crate::client::EndpointUrl;
use crate::manager::{RefreshPolicy, SequencePolicy};

pub use error::{SectionError, StartError};
pub use run::{EndpointSources, Running, start};

/// `[federation]`, checked.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct FederationConfig {
    /// `[federation.bundle_endpoint]`: serve this trust domain's bundle.
    pub bundle_endpoint: Option<BundleEndpointConfig>,
    /// `[[federation.federates_with]]`: the foreign trust domains whose bundles are fetched.
    pub federates_with: Vec<RelationshipConfig>,
}

/// Where and how this trust domain's bundle is served.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BundleEndpointConfig {
    /// `address`: where to listen.
    pub address: SocketAddr,
    /// `path`: the path answered (default `/`).
    pub path: String,
    /// `profile` and its settings.
    pub profile: EndpointProfileConfig,
}

/// How the bundle endpoint authenticates itself.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum EndpointProfileConfig {
    /// `https_web`: a WebPKI chain and key from files, reloaded when they change.
    HttpsWeb {
        /// `cert_path`.
        cert_path: PathBuf,
        /// `key_path`.
        key_path: PathBuf,
    },
    /// `https_spiffe`: an X509-SVID for `spiffe_id` minted by the binary's own CA.
    HttpsSpiffe {
        /// `spiffe_id`.
        spiffe_id: SpiffeId,
    },
}

/// One federation relationship.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RelationshipConfig {
    /// `trust_domain`: whose bundle.
    pub trust_domain: TrustDomain,
    /// `url`: the bundle endpoint.
    pub url: EndpointUrl,
    /// `profile` and its settings.
    pub profile: RelationshipProfileConfig,
    /// `min_refresh` / `max_refresh`.
    pub refresh: RefreshPolicy,
    /// `lower_sequence`.
    pub sequence: SequencePolicy,
}

/// How a peer's endpoint is authenticated.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RelationshipProfileConfig {
    /// `https_web`: the server chains to the roots in `roots_path`, for the URL's host.
    HttpsWeb {
        /// `roots_path`.
        roots_path: PathBuf,
    },
    /// `https_spiffe`: the server presents an X509-SVID for `endpoint_spiffe_id`, valid
    /// against the bundle in `bundle_path` (first; later the latest fetched, when the endpoint
    /// serves its own trust domain).
    HttpsSpiffe {
        /// `endpoint_spiffe_id`.
        endpoint_id: SpiffeId,
        /// `bundle_path`: a SPIFFE bundle document (JSON) or PEM certificates.
        bundle_path: PathBuf,
    },
}

/// `[federation]` as written; [`resolve`](Self::resolve) checks it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFederation {
    bundle_endpoint: Option<RawBundleEndpoint>,
    #[serde(default)]
    federates_with: Vec<RawRelationship>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBundleEndpoint {
    address: String,
    path: Option<String>,
    profile: String,
    spiffe_id: Option<String>,
    cert_path: Option<PathBuf>,
    key_path: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelationship {
    trust_domain: String,
    url: String,
    profile: String,
    endpoint_spiffe_id: Option<String>,
    bundle_path: Option<PathBuf>,
    roots_path: Option<PathBuf>,
    min_refresh: Option<String>,
    max_refresh: Option<String>,
    lower_sequence: Option<String>,
}

impl RawFederation {
    /// Checked, with relative paths resolved against `base` (the config file's folder); `own`
    /// is the binary's trust domain (never a relationship; the endpoint's SPIFFE ID is in it).
    ///
    /// # Errors
    /// A [`SectionError`] naming the key to fix.
    pub fn resolve(self, base: &Path, own: &TrustDomain) -> Result<FederationConfig, SectionError> {
        let bundle_endpoint = self
            .bundle_endpoint
            .map(|raw| raw.resolve(base, own))
            .transpose()?;
        let mut federates_with: Vec<RelationshipConfig> = Vec::new();
        for (index, raw) in self.federates_with.into_iter().enumerate() {
            let relationship = raw.resolve(index, base, own)?;
            if federates_with
                .iter()
                .any(|other| other.trust_domain == relationship.trust_domain)
            {
                return Err(SectionError::Duplicate {
                    field: format!("federation.federates_with[{index}].trust_domain"),
                    trust_domain: relationship.trust_domain,
                });
            }
            federates_with.push(relationship);
        }
        Ok(FederationConfig {
            bundle_endpoint,
            federates_with,
        })
    }
}

impl RawBundleEndpoint {
    fn resolve(self, base: &Path, own: &TrustDomain) -> Result<BundleEndpointConfig, SectionError> {
        let field = |key: &str| format!("federation.bundle_endpoint.{key}");
        let address = self
            .address
            .parse()
            .map_err(|source| SectionError::Address {
                field: field("address"),
                value: self.address.clone(),
                source,
            })?;
        let path = self.path.unwrap_or_else(|| "/".to_owned());
        if !path.starts_with('/') {
            return Err(SectionError::Path {
                field: field("path"),
            });
        }
        let profile = match (
            self.profile.as_str(),
            self.spiffe_id,
            self.cert_path,
            self.key_path,
        ) {
            ("https_spiffe", Some(id), None, None) => {
                let spiffe_id: SpiffeId = id.parse().map_err(|source| SectionError::SpiffeId {
                    field: field("spiffe_id"),
                    value: id.clone(),
                    source,
                })?;
                if spiffe_id.trust_domain() != *own {
                    return Err(SectionError::EndpointIdTrustDomain {
                        field: field("spiffe_id"),
                        id: spiffe_id,
                        own: own.clone(),
                    });
                }
                EndpointProfileConfig::HttpsSpiffe { spiffe_id }
            }
            ("https_web", None, Some(cert), Some(key)) => EndpointProfileConfig::HttpsWeb {
                cert_path: base.join(cert),
                key_path: base.join(key),
            },
            ("https_spiffe", ..) => {
                return Err(SectionError::ProfileSettings {
                    field: field("profile"),
                    profile: "https_spiffe",
                    takes: "spiffe_id (and no cert_path / key_path)",
                });
            }
            ("https_web", ..) => {
                return Err(SectionError::ProfileSettings {
                    field: field("profile"),
                    profile: "https_web",
                    takes: "cert_path and key_path (and no spiffe_id)",
                });
            }
            (other, ..) => {
                return Err(SectionError::Profile {
                    field: field("profile"),
                    value: other.to_owned(),
                });
            }
        };
        Ok(BundleEndpointConfig {
            address,
            path,
            profile,
        })
    }
}

impl RawRelationship {
    fn resolve(
        self,
        index: usize,
        base: &Path,
        own: &TrustDomain,
    ) -> Result<RelationshipConfig, SectionError> {
        let field = |key: &str| format!("federation.federates_with[{index}].{key}");
        let trust_domain: TrustDomain =
            self.trust_domain
                .parse()
                .map_err(|source| SectionError::TrustDomain {
                    field: field("trust_domain"),
                    value: self.trust_domain.clone(),
                    source,
                })?;
        if trust_domain == *own {
            return Err(SectionError::OwnTrustDomain {
                field: field("trust_domain"),
                trust_domain,
            });
        }
        let url: EndpointUrl = self.url.parse().map_err(|source| SectionError::Url {
            field: field("url"),
            value: self.url.clone(),
            source,
        })?;
        let profile = match (
            self.profile.as_str(),
            self.endpoint_spiffe_id,
            self.bundle_path,
            self.roots_path,
        ) {
            ("https_spiffe", Some(id), Some(bundle), None) => {
                let endpoint_id: SpiffeId =
                    id.parse().map_err(|source| SectionError::SpiffeId {
                        field: field("endpoint_spiffe_id"),
                        value: id.clone(),
                        source,
                    })?;
                RelationshipProfileConfig::HttpsSpiffe {
                    endpoint_id,
                    bundle_path: base.join(bundle),
                }
            }
            ("https_web", None, None, Some(roots)) => RelationshipProfileConfig::HttpsWeb {
                roots_path: base.join(roots),
            },
            ("https_spiffe", ..) => {
                return Err(SectionError::ProfileSettings {
                    field: field("profile"),
                    profile: "https_spiffe",
                    takes: "endpoint_spiffe_id and bundle_path (and no roots_path)",
                });
            }
            ("https_web", ..) => {
                return Err(SectionError::ProfileSettings {
                    field: field("profile"),
                    profile: "https_web",
                    takes: "roots_path (and no endpoint_spiffe_id / bundle_path)",
                });
            }
            (other, ..) => {
                return Err(SectionError::Profile {
                    field: field("profile"),
                    value: other.to_owned(),
                });
            }
        };
        let duration = |key: &str, value: Option<String>, default| match value {
            None => Ok(default),
            Some(text) => parse_duration(&text).ok_or_else(|| SectionError::Duration {
                field: field(key),
                value: text,
            }),
        };
        let defaults = RefreshPolicy::default();
        let min = duration("min_refresh", self.min_refresh, defaults.min_interval)?;
        let max = duration("max_refresh", self.max_refresh, defaults.max_interval)?;
        // Refused rather than swapped: a bound the operator wrote is never silently moved.
        if max < min {
            return Err(SectionError::RefreshBounds {
                field: field("max_refresh"),
                min,
                max,
            });
        }
        let refresh = RefreshPolicy::new(min, max);
        let sequence = match self.lower_sequence.as_deref() {
            None | Some("refuse") => SequencePolicy::RefuseLower,
            Some("accept") => SequencePolicy::AcceptLower,
            Some(other) => {
                return Err(SectionError::LowerSequence {
                    field: field("lower_sequence"),
                    value: other.to_owned(),
                });
            }
        };
        Ok(RelationshipConfig {
            trust_domain,
            url,
            profile,
            refresh,
            sequence,
        })
    }
}

/// `<number><unit>` with unit `s`, `m`, `h` or `d`, above zero (`90s`, `10m`, `1h`, `7d`), as
/// the binaries write durations elsewhere in their files.
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    let seconds = number.checked_mul(scale)?;
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_number_and_unit_above_zero() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        for bad in ["", "0s", "10", "s", "1w", "-1s", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
