//! `[federation]` of the configuration file: this trust domain's bundle endpoint and the
//! relationships with other trust domains (SPIFFE Federation; digest 7).
//!
//! The section is the one the `server` binary reads too: its parsing, its files and the
//! starting of what it names live in [`federation::config`]; this module maps its errors to
//! [`ConfigError`] under the key to fix.
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

use std::path::Path;

pub use federation::config::{
    BundleEndpointConfig, EndpointProfileConfig, FederationConfig, RelationshipConfig,
    RelationshipProfileConfig,
};
use federation::config::{RawFederation, SectionError};
use spiffe_id::TrustDomain;

use crate::error::ConfigError;

/// The section as written, checked, with relative paths resolved against `base`; `own` is the
/// agent's trust domain.
pub(crate) fn resolve(
    raw: RawFederation,
    base: &Path,
    own: &TrustDomain,
) -> Result<FederationConfig, ConfigError> {
    raw.resolve(base, own).map_err(to_config_error)
}

/// A section error as the agent reports it: a duration as [`ConfigError::Duration`], anything
/// else as [`ConfigError::Invalid`] naming the key.
pub(crate) fn to_config_error(error: SectionError) -> ConfigError {
    match error {
        SectionError::Duration { field, value } => ConfigError::Duration { field, value },
        other => ConfigError::Invalid {
            field: other.field().to_owned(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use std::time::Duration;

    use federation::manager::{RefreshPolicy, SequencePolicy};

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
            (relationship(&format!("{spiffe}max_refresh = \"2s\"")), "max_refresh"),
            (
                relationship(&format!("{spiffe}min_refresh = \"1m\"\nmax_refresh = \"30s\"")),
                "max_refresh",
            ),
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
}
