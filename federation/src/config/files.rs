//! The files a relationship names, read when it starts: the `https_web` roots and the
//! `https_spiffe` bootstrap bundle.

use std::path::Path;
use std::sync::Arc;

use spiffe_id::TrustDomain;
use trust_bundle::{SpiffeBundle, X509Bundle};

use super::{RelationshipConfig, RelationshipProfileConfig, SectionError};
use crate::client::{Client, Endpoint, Profile};
use crate::manager::{EndpointFetcher, Relationship};

impl RelationshipConfig {
    /// The fetcher for this relationship, its files read now.
    ///
    /// # Errors
    /// A [`SectionError`] naming the file that cannot be used.
    pub fn fetcher(&self, crypto: &svid::Crypto) -> Result<EndpointFetcher, SectionError> {
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

    /// The manager's [`Relationship`] for this configuration, its files read now.
    ///
    /// # Errors
    /// As [`fetcher`](Self::fetcher).
    pub fn relationship(&self, crypto: &svid::Crypto) -> Result<Relationship, SectionError> {
        let fetcher = Arc::new(self.fetcher(crypto)?);
        Ok(Relationship::new(self.trust_domain.clone(), fetcher)
            .refresh(self.refresh)
            .sequence_policy(self.sequence))
    }
}

/// PEM roots for `https_web`.
fn read_roots(path: &Path) -> Result<rustls::RootCertStore, SectionError> {
    let field = || "federation.federates_with.roots_path".to_owned();
    let pem = std::fs::read(path).map_err(|source| SectionError::File {
        field: field(),
        path: path.to_owned(),
        source,
    })?;
    let certs = svid::certificates_from_pem(&pem).map_err(|source| SectionError::Pem {
        field: field(),
        path: path.to_owned(),
        source,
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|source| SectionError::Root {
            field: field(),
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(roots)
}

/// The X.509 authorities of `trust_domain` from a SPIFFE bundle document or PEM (digest 7.4:
/// the bundle format MUST be accepted, PEM MAY).
pub(super) fn read_bundle(
    path: &Path,
    trust_domain: TrustDomain,
) -> Result<X509Bundle, SectionError> {
    let field = || "federation.federates_with.bundle_path".to_owned();
    let bytes = std::fs::read(path).map_err(|source| SectionError::File {
        field: field(),
        path: path.to_owned(),
        source,
    })?;
    let parsed = if bytes.trim_ascii_start().starts_with(b"{") {
        SpiffeBundle::parse(trust_domain, &bytes)
            .map(|bundle| X509Bundle::clone(bundle.x509_bundle()))
    } else {
        X509Bundle::from_pem(trust_domain, &bytes)
    };
    let bundle = parsed.map_err(|source| SectionError::Bundle {
        field: field(),
        path: path.to_owned(),
        source,
    })?;
    if bundle.is_empty() {
        return Err(SectionError::NoAuthority {
            field: field(),
            path: path.to_owned(),
        });
    }
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let err = read_bundle(&empty, td).unwrap_err();
        assert!(matches!(err, SectionError::NoAuthority { .. }), "{err}");
    }
}
