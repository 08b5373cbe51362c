//! `[federation]` of the configuration file: this trust domain's bundle endpoint and the
//! relationships with other trust domains (SPIFFE Federation; digest 7).
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

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
#[cfg(test)]
use std::time::Duration;

use federation::client::{Client, Endpoint, EndpointUrl, Profile};
use federation::manager::{EndpointFetcher, RefreshPolicy, SequencePolicy};
use serde::Deserialize;
use spiffe_id::{SpiffeId, TrustDomain};
use trust_bundle::{SpiffeBundle, X509Bundle};

use crate::duration::parse_duration;
use crate::error::ConfigError;

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
    /// `https_spiffe`: an X509-SVID for `spiffe_id` minted by this agent's CA.
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

impl RelationshipConfig {
    /// The fetcher for this relationship, its files read now.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the file that cannot be used.
    pub fn fetcher(&self, crypto: &svid::Crypto) -> Result<EndpointFetcher, ConfigError> {
        let client = Client::new(crypto.clone());
        match &self.profile {
            RelationshipProfileConfig::HttpsWeb { roots_path } => {
                let roots = read_roots(roots_path)?;
                let endpoint = Endpoint::new(
                    self.url.clone(),
                    Profile::HttpsWeb {
                        roots: Arc::new(roots),
                    },
                    self.trust_domain.clone(),
                );
                Ok(EndpointFetcher::new(client, endpoint))
            }
            RelationshipProfileConfig::HttpsSpiffe {
                endpoint_id,
                bundle_path,
            } => {
                let bundle = read_bundle(bundle_path, endpoint_id.trust_domain())?;
                if endpoint_id.trust_domain() == self.trust_domain {
                    Ok(EndpointFetcher::self_serving_spiffe(
                        client,
                        self.url.clone(),
                        endpoint_id.clone(),
                        bundle,
                    ))
                } else {
                    let endpoint = Endpoint::new(
                        self.url.clone(),
                        Profile::HttpsSpiffe {
                            endpoint_id: endpoint_id.clone(),
                            bundle: Arc::new(bundle),
                        },
                        self.trust_domain.clone(),
                    );
                    Ok(EndpointFetcher::new(client, endpoint))
                }
            }
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// PEM roots for `https_web`.
fn read_roots(path: &Path) -> Result<rustls::RootCertStore, ConfigError> {
    let field = "federation.federates_with.roots_path";
    let pem =
        std::fs::read(path).map_err(|e| invalid(field, format!("{}: {e}", path.display())))?;
    let certs = svid::certificates_from_pem(&pem)
        .map_err(|e| invalid(field, format!("{}: {e}", path.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| invalid(field, format!("{}: {e}", path.display())))?;
    }
    Ok(roots)
}

/// The X.509 authorities of `trust_domain` from a SPIFFE bundle document or PEM (digest 7.4:
/// the bundle format MUST be accepted, PEM MAY).
fn read_bundle(path: &Path, trust_domain: TrustDomain) -> Result<X509Bundle, ConfigError> {
    let field = "federation.federates_with.bundle_path";
    let bytes =
        std::fs::read(path).map_err(|e| invalid(field, format!("{}: {e}", path.display())))?;
    let bundle = if bytes.trim_ascii_start().starts_with(b"{") {
        SpiffeBundle::parse(trust_domain, &bytes)
            .map(|bundle| X509Bundle::clone(bundle.x509_bundle()))
            .map_err(|e| invalid(field, format!("{}: {e}", path.display())))?
    } else {
        X509Bundle::from_pem(trust_domain, &bytes)
            .map_err(|e| invalid(field, format!("{}: {e}", path.display())))?
    };
    if bundle.is_empty() {
        return Err(invalid(
            field,
            format!("{}: no X.509 authority", path.display()),
        ));
    }
    Ok(bundle)
}

/// `[federation]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFederation {
    bundle_endpoint: Option<RawBundleEndpoint>,
    #[serde(default)]
    federates_with: Vec<RawRelationship>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBundleEndpoint {
    address: String,
    path: Option<String>,
    profile: String,
    spiffe_id: Option<String>,
    cert_path: Option<PathBuf>,
    key_path: Option<PathBuf>,
}

#[derive(Deserialize)]
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
    /// Checked, relative paths against `base`; `own` is the agent's trust domain.
    pub(crate) fn resolve(
        self,
        base: &Path,
        own: &TrustDomain,
    ) -> Result<FederationConfig, ConfigError> {
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
                return Err(invalid(
                    &format!("federation.federates_with[{index}].trust_domain"),
                    format!(
                        "{} has two relationships: keep one",
                        relationship.trust_domain
                    ),
                ));
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
    fn resolve(self, base: &Path, own: &TrustDomain) -> Result<BundleEndpointConfig, ConfigError> {
        let field = |key: &str| format!("federation.bundle_endpoint.{key}");
        let address = self
            .address
            .parse()
            .map_err(|e| invalid(&field("address"), format!("{:?}: {e}", self.address)))?;
        let path = self.path.unwrap_or_else(|| "/".to_owned());
        if !path.starts_with('/') {
            return Err(invalid(&field("path"), "must start with /"));
        }
        let profile = match (
            self.profile.as_str(),
            self.spiffe_id,
            self.cert_path,
            self.key_path,
        ) {
            ("https_spiffe", Some(id), None, None) => {
                let spiffe_id: SpiffeId = id
                    .parse()
                    .map_err(|e| invalid(&field("spiffe_id"), format!("{id:?}: {e}")))?;
                if spiffe_id.trust_domain() != *own {
                    return Err(invalid(
                        &field("spiffe_id"),
                        format!("{spiffe_id} is not in this agent's trust domain {own}"),
                    ));
                }
                EndpointProfileConfig::HttpsSpiffe { spiffe_id }
            }
            ("https_web", None, Some(cert), Some(key)) => EndpointProfileConfig::HttpsWeb {
                cert_path: base.join(cert),
                key_path: base.join(key),
            },
            ("https_spiffe", ..) => {
                return Err(invalid(
                    &field("profile"),
                    "https_spiffe takes spiffe_id (and no cert_path / key_path)",
                ));
            }
            ("https_web", ..) => {
                return Err(invalid(
                    &field("profile"),
                    "https_web takes cert_path and key_path (and no spiffe_id)",
                ));
            }
            (other, ..) => {
                return Err(invalid(
                    &field("profile"),
                    format!("{other:?}: expected \"https_web\" or \"https_spiffe\""),
                ));
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
    ) -> Result<RelationshipConfig, ConfigError> {
        let field = |key: &str| format!("federation.federates_with[{index}].{key}");
        let trust_domain: TrustDomain = self.trust_domain.parse().map_err(|e| {
            invalid(
                &field("trust_domain"),
                format!("{:?}: {e}", self.trust_domain),
            )
        })?;
        if trust_domain == *own {
            return Err(invalid(
                &field("trust_domain"),
                format!("{trust_domain} is this agent's own trust domain"),
            ));
        }
        let url: EndpointUrl = self
            .url
            .parse()
            .map_err(|e| invalid(&field("url"), format!("{:?}: {e}", self.url)))?;
        let profile = match (
            self.profile.as_str(),
            self.endpoint_spiffe_id,
            self.bundle_path,
            self.roots_path,
        ) {
            ("https_spiffe", Some(id), Some(bundle), None) => {
                let endpoint_id: SpiffeId = id
                    .parse()
                    .map_err(|e| invalid(&field("endpoint_spiffe_id"), format!("{id:?}: {e}")))?;
                RelationshipProfileConfig::HttpsSpiffe {
                    endpoint_id,
                    bundle_path: base.join(bundle),
                }
            }
            ("https_web", None, None, Some(roots)) => RelationshipProfileConfig::HttpsWeb {
                roots_path: base.join(roots),
            },
            ("https_spiffe", ..) => {
                return Err(invalid(
                    &field("profile"),
                    "https_spiffe takes endpoint_spiffe_id and bundle_path (and no roots_path)",
                ));
            }
            ("https_web", ..) => {
                return Err(invalid(
                    &field("profile"),
                    "https_web takes roots_path (and no endpoint_spiffe_id / bundle_path)",
                ));
            }
            (other, ..) => {
                return Err(invalid(
                    &field("profile"),
                    format!("{other:?}: expected \"https_web\" or \"https_spiffe\""),
                ));
            }
        };
        let duration = |key: &str, value: Option<String>, default| match value {
            None => Ok(default),
            Some(text) => parse_duration(&text).ok_or_else(|| ConfigError::Duration {
                field: field(key),
                value: text,
            }),
        };
        let defaults = RefreshPolicy::default();
        let refresh = RefreshPolicy::new(
            duration("min_refresh", self.min_refresh, defaults.min_interval)?,
            duration("max_refresh", self.max_refresh, defaults.max_interval)?,
        );
        let sequence = match self.lower_sequence.as_deref() {
            None | Some("refuse") => SequencePolicy::RefuseLower,
            Some("accept") => SequencePolicy::AcceptLower,
            Some(other) => {
                return Err(invalid(
                    &field("lower_sequence"),
                    format!("{other:?}: expected \"refuse\" or \"accept\""),
                ));
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::AgentConfig;

    fn parse(section: &str) -> Result<AgentConfig, crate::Error> {
        AgentConfig::parse(
            &format!("trust_domain = \"example.org\"\n{section}"),
            Path::new("/etc/spiffe"),
        )
    }

    #[test]
    fn reads_an_endpoint_and_relationships() {
        let config = parse(
            "[federation.bundle_endpoint]\naddress = \"127.0.0.1:8443\"\nprofile = \"https_spiffe\"\n\
             spiffe_id = \"spiffe://example.org/bundle\"\n\
             [[federation.federates_with]]\ntrust_domain = \"partner.example\"\n\
             url = \"https://partner.example/b\"\nprofile = \"https_spiffe\"\n\
             endpoint_spiffe_id = \"spiffe://partner.example/bundle\"\nbundle_path = \"p.json\"\n\
             min_refresh = \"10s\"\nmax_refresh = \"10m\"\nlower_sequence = \"accept\"\n\
             [[federation.federates_with]]\ntrust_domain = \"web.example\"\n\
             url = \"https://web.example/\"\nprofile = \"https_web\"\nroots_path = \"roots.pem\"\n",
        )
        .unwrap()
        .federation;
        let endpoint = config.bundle_endpoint.unwrap();
        assert_eq!(endpoint.path, "/");
        assert!(matches!(
            endpoint.profile,
            EndpointProfileConfig::HttpsSpiffe { .. }
        ));
        let [partner, web] = config.federates_with.as_slice() else {
            panic!("two relationships");
        };
        assert!(matches!(
            &partner.profile,
            RelationshipProfileConfig::HttpsSpiffe { bundle_path, .. }
                if bundle_path == Path::new("/etc/spiffe/p.json")
        ));
        assert_eq!(
            partner.refresh,
            RefreshPolicy::new(Duration::from_secs(10), Duration::from_secs(600))
        );
        assert_eq!(partner.sequence, SequencePolicy::AcceptLower);
        assert_eq!(web.sequence, SequencePolicy::RefuseLower);
        assert!(matches!(
            &web.profile,
            RelationshipProfileConfig::HttpsWeb { roots_path } if roots_path == Path::new("/etc/spiffe/roots.pem")
        ));
    }

    /// Digest 7.2: the profile is never inferred and each takes exactly its own parameters;
    /// the own trust domain, duplicates and an `http` URL are refused (negative tests).
    #[test]
    fn refuses_ambiguous_or_unsafe_settings_naming_the_key() {
        let relationship = |body: &str| {
            format!("[[federation.federates_with]]\ntrust_domain = \"partner.example\"\n{body}")
        };
        let spiffe = "url = \"https://p.example/\"\nprofile = \"https_spiffe\"\n\
                      endpoint_spiffe_id = \"spiffe://partner.example/b\"\nbundle_path = \"p.json\"\n";
        for (section, key) in [
            (relationship("url = \"https://p.example/\"\nprofile = \"https\"\nroots_path = \"r\""), "profile"),
            (relationship("url = \"https://p.example/\"\nprofile = \"https_web\"\nbundle_path = \"p\""), "profile"),
            (relationship("url = \"https://p.example/\"\nprofile = \"https_spiffe\"\nroots_path = \"r\""), "profile"),
            (relationship("url = \"http://p.example/\"\nprofile = \"https_web\"\nroots_path = \"r\""), "url"),
            (relationship(&format!("{spiffe}lower_sequence = \"maybe\"")), "lower_sequence"),
            (relationship(&format!("{spiffe}min_refresh = \"soon\"")), "min_refresh"),
            (format!("{}{}", relationship(spiffe), relationship(spiffe)), "trust_domain"),
            (
                "[[federation.federates_with]]\ntrust_domain = \"example.org\"\n".to_owned() + spiffe,
                "trust_domain",
            ),
            (
                "[federation.bundle_endpoint]\naddress = \"127.0.0.1:1\"\nprofile = \"https_spiffe\"\n\
                 spiffe_id = \"spiffe://other.example/b\""
                    .to_owned(),
                "spiffe_id",
            ),
            (
                "[federation.bundle_endpoint]\naddress = \"127.0.0.1:1\"\nprofile = \"https_web\"\n\
                 spiffe_id = \"spiffe://example.org/b\""
                    .to_owned(),
                "profile",
            ),
        ] {
            let err = parse(&section).unwrap_err().to_string();
            assert!(err.contains("federation"), "{section}: {err}");
            assert!(err.contains(key), "{section}: {err}");
        }
    }

    /// A bootstrap bundle is read as a SPIFFE bundle document or as PEM (digest 7.4); a file
    /// without an X.509 authority is refused.
    #[test]
    fn bootstrap_bundles_are_read_as_json_or_pem() {
        let dir = tempfile::tempdir().unwrap();
        let partner = ca::TestCa::new("partner.example");
        let json = dir.path().join("p.json");
        std::fs::write(&json, partner.bundle().to_json()).unwrap();
        let td: TrustDomain = "partner.example".parse().unwrap();
        assert_eq!(
            read_bundle(&json, td.clone()).unwrap(),
            *partner.x509_bundle()
        );
        let pem = dir.path().join("p.pem");
        std::fs::write(
            &pem,
            test_support::pem::pem(partner.x509_bundle().authorities()),
        )
        .unwrap();
        assert_eq!(
            read_bundle(&pem, td.clone()).unwrap(),
            *partner.x509_bundle()
        );
        let empty = dir.path().join("e.json");
        std::fs::write(&empty, "{\"keys\": []}").unwrap();
        let err = read_bundle(&empty, td).unwrap_err().to_string();
        assert!(err.contains("no X.509 authority"), "{err}");
    }
}
