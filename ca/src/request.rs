//! What a caller asks for: [`X509SvidRequest`], [`JwtSvidRequest`], [`IntermediateRequest`].

use std::time::Duration;

use serde_json::{Map, Value};
use spiffe_id::SpiffeId;
use svid::KeyType;

use crate::x509::DistinguishedName;

/// An X.509-SVID request: the SPIFFE ID (the caller decides it; CSR contents never do) and
/// optional lifetime, DNS SANs, subject, key type and requester label.
///
/// ```
/// use std::time::Duration;
/// use ca::{KeyType, X509SvidRequest};
///
/// let request = X509SvidRequest::new("spiffe://example.org/web".parse()?)
///     .ttl(Duration::from_secs(900))
///     .dns_names(["web.example.org"])
///     .key_type(KeyType::EcdsaP384)
///     .requester("spiffe://example.org/spire/agent/node-1");
/// assert_eq!(request.spiffe_id().path(), "/web");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X509SvidRequest {
    spiffe_id: SpiffeId,
    ttl: Option<Duration>,
    dns_names: Vec<String>,
    subject: Option<DistinguishedName>,
    key_type: Option<KeyType>,
    requester: Option<String>,
}

impl X509SvidRequest {
    /// A request for `spiffe_id` with the CA's defaults.
    pub fn new(spiffe_id: SpiffeId) -> Self {
        Self {
            spiffe_id,
            ttl: None,
            dns_names: Vec::new(),
            subject: None,
            key_type: None,
            requester: None,
        }
    }

    /// The lifetime; capped at the CA certificate's own expiry. Default: the CA's
    /// `x509_svid_ttl`.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// DNS names to add as DNS SANs (they carry no SPIFFE meaning).
    #[must_use]
    pub fn dns_names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dns_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// A subject name. Without one the subject is empty and the SAN extension critical
    /// (X509-SVID 3.1 via RFC 5280 4.1.2.6).
    #[must_use]
    pub fn subject(mut self, subject: DistinguishedName) -> Self {
        self.subject = Some(subject);
        self
    }

    /// The key type the CA generates ([`mint_x509_svid`](crate::CertificateAuthority::mint_x509_svid)
    /// only); default P-256.
    #[must_use]
    pub fn key_type(mut self, key_type: KeyType) -> Self {
        self.key_type = Some(key_type);
        self
    }

    /// Who is asking (e.g. the attested node's SPIFFE ID), for the policy and the audit log.
    #[must_use]
    pub fn requester(mut self, requester: impl Into<String>) -> Self {
        self.requester = Some(requester.into());
        self
    }

    /// The requested SPIFFE ID.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The requester label, if set.
    pub fn requester_label(&self) -> Option<&str> {
        self.requester.as_deref()
    }

    pub(crate) fn ttl_or(&self, default: Duration) -> Duration {
        self.ttl.unwrap_or(default)
    }

    pub(crate) fn dns_name_list(&self) -> &[String] {
        &self.dns_names
    }

    pub(crate) fn subject_name(&self) -> Option<&DistinguishedName> {
        self.subject.as_ref()
    }

    pub(crate) fn key_type_or_default(&self) -> KeyType {
        self.key_type.unwrap_or_default()
    }
}

/// A JWT-SVID request: subject, audiences, optional lifetime, extra claims and requester.
///
/// Empty audience strings are dropped (as SPIRE does); a request left with none is refused.
/// Extra claims can never replace the registered claims (`iss`, `sub`, `aud`, `exp`, `nbf`,
/// `iat`, `jti`): minting refuses them with [`Error::ReservedClaim`](crate::Error::ReservedClaim).
///
/// ```
/// use ca::JwtSvidRequest;
///
/// let request = JwtSvidRequest::new("spiffe://example.org/web".parse()?, ["reports"])
///     .claim("tenant", serde_json::json!("blue"));
/// assert_eq!(request.audience_values(), ["reports"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct JwtSvidRequest {
    spiffe_id: SpiffeId,
    audience: Vec<String>,
    ttl: Option<Duration>,
    claims: Map<String, Value>,
    requester: Option<String>,
}

impl JwtSvidRequest {
    /// A request for `spiffe_id` valid for `audience`.
    pub fn new<I, S>(spiffe_id: SpiffeId, audience: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            spiffe_id,
            audience: audience
                .into_iter()
                .map(Into::into)
                .filter(|a: &String| !a.is_empty())
                .collect(),
            ttl: None,
            claims: Map::new(),
            requester: None,
        }
    }

    /// The lifetime; capped at the signing key's expiry. Default: the CA's `jwt_svid_ttl`.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Adds a private claim.
    #[must_use]
    pub fn claim(mut self, name: impl Into<String>, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    /// Who is asking, for the policy and the audit log.
    #[must_use]
    pub fn requester(mut self, requester: impl Into<String>) -> Self {
        self.requester = Some(requester.into());
        self
    }

    /// The subject.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The non-empty audiences.
    pub fn audience_values(&self) -> &[String] {
        &self.audience
    }

    /// The requester label, if set.
    pub fn requester_label(&self) -> Option<&str> {
        self.requester.as_deref()
    }

    pub(crate) fn ttl_or(&self, default: Duration) -> Duration {
        self.ttl.unwrap_or(default)
    }

    pub(crate) fn extra_claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

/// A request for a downstream CA certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntermediateRequest {
    ttl: Option<Duration>,
    path_len: Option<u8>,
    requester: Option<String>,
}

impl IntermediateRequest {
    /// The CA's defaults: its CA TTL, path length parent minus one.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lifetime; capped at the parent's expiry.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// A path length for the new CA; capped at the parent's minus one.
    #[must_use]
    pub fn path_len(mut self, path_len: u8) -> Self {
        self.path_len = Some(path_len);
        self
    }

    /// Who is asking.
    #[must_use]
    pub fn requester(mut self, requester: impl Into<String>) -> Self {
        self.requester = Some(requester.into());
        self
    }

    /// The requester label, if set.
    pub fn requester_label(&self) -> Option<&str> {
        self.requester.as_deref()
    }

    pub(crate) fn ttl_or(&self, default: Duration) -> Duration {
        self.ttl.unwrap_or(default)
    }

    pub(crate) fn path_len_limit(&self) -> Option<u8> {
        self.path_len
    }
}
