//! What the Workload API delivers, after validation: [`X509Context`], [`JwtSvid`],
//! [`AgentVerifiedJwtSvid`], and the limits that bound them.

use core::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};
use spiffe_id::SpiffeId;
use svid::X509Svid;
use trust_bundle::BundleSet;

/// Bounds on what one Workload API response may hold, checked before the expensive parsing.
///
/// The defaults are far above what SPIRE sends (a handful of SVIDs, bundles of a few KiB) yet
/// bound the work and memory a misbehaving or hostile agent can cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most SVIDs in one response. Default 256: a workload matching hundreds of entries is
    /// already a misconfiguration.
    pub max_svids: usize,
    /// The most trust domains in one bundle map. Default
    /// [`trust_bundle::MAX_TRUST_DOMAINS_PER_MAP`] (1024).
    pub max_bundles: usize,
    /// The largest single bundle, in bytes. Default [`trust_bundle::MAX_BUNDLE_BYTES`] (4 MiB).
    pub max_bundle_bytes: usize,
    /// The largest gRPC message, in bytes. Default 32 MiB (tonic's default is 4 MiB, which
    /// agents with many entries exceed).
    pub max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_svids: 256,
            max_bundles: trust_bundle::MAX_TRUST_DOMAINS_PER_MAP,
            max_bundle_bytes: trust_bundle::MAX_BUNDLE_BYTES,
            max_message_bytes: 32 * 1024 * 1024,
        }
    }
}

/// One validated `FetchX509SVID` message: the workload's X.509-SVIDs, in the server's order
/// (the first is the default identity, Workload API 8), and the X.509 bundles of its own and
/// federated trust domains.
///
/// Every SVID was parsed, checked against the X.509-SVID profile and its key, and verified
/// against the bundle of its own trust domain, which also gives its expiry. SVIDs with a hint
/// that an earlier SVID already used were dropped (first wins, Workload API 5.2.1).
///
/// Built by [`Client`](crate::Client) and [`X509Source`](crate::X509Source), or from a message
/// obtained elsewhere with [`response::x509_context`](crate::response::x509_context).
#[derive(Clone)]
pub struct X509Context {
    pub(crate) svids: Vec<Arc<X509Svid>>,
    /// `notAfter` of the verified path of each SVID, parallel to `svids`.
    pub(crate) expiries: Vec<SystemTime>,
    pub(crate) bundles: BundleSet,
}

impl X509Context {
    /// The SVIDs, default first.
    pub fn svids(&self) -> &[Arc<X509Svid>] {
        &self.svids
    }

    /// The default SVID: the first one.
    pub fn default_svid(&self) -> Option<&Arc<X509Svid>> {
        self.svids.first()
    }

    /// When each SVID stops being valid (the earliest `notAfter` on its verified path), in the
    /// order of [`svids`](Self::svids).
    pub fn expiries(&self) -> &[SystemTime] {
        &self.expiries
    }

    /// When the first SVID of this context expires.
    pub fn earliest_expiry(&self) -> Option<SystemTime> {
        self.expiries.iter().min().copied()
    }

    /// The X.509 bundles: each SVID's own trust domain plus the federated ones.
    pub fn bundles(&self) -> &BundleSet {
        &self.bundles
    }

    /// The context without the SVIDs that have expired at `now`.
    pub(crate) fn without_expired(&self, now: SystemTime) -> Self {
        let (svids, expiries) = self
            .svids
            .iter()
            .zip(&self.expiries)
            .filter(|(_, expiry)| **expiry > now)
            .map(|(svid, expiry)| (Arc::clone(svid), *expiry))
            .unzip();
        Self {
            svids,
            expiries,
            bundles: self.bundles.clone(),
        }
    }
}

impl fmt::Debug for X509Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509Context")
            .field(
                "svids",
                &self
                    .svids
                    .iter()
                    .map(|svid| svid.spiffe_id().as_str())
                    .collect::<Vec<_>>(),
            )
            .field("expiries", &self.expiries)
            .field("bundles", &self.bundles)
            .finish()
    }
}

/// A JWT-SVID as minted by the Workload API: the token, its parsed (not signature-checked)
/// claims and its lifetime. The token is a bearer credential, so `Debug` does not show it.
///
/// Built by [`Client`](crate::Client) and [`JwtSource`](crate::JwtSource), or from a message
/// obtained elsewhere with [`response::jwt_svids`](crate::response::jwt_svids).
#[derive(Clone)]
pub struct JwtSvid {
    pub(crate) token: String,
    pub(crate) parsed: svid::UnverifiedJwtSvid,
    pub(crate) hint: Option<String>,
    pub(crate) issued_at: SystemTime,
    pub(crate) expires_at: SystemTime,
}

impl JwtSvid {
    /// The token, JWS compact serialization, to send as a bearer credential.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The SPIFFE ID (`sub`).
    pub fn spiffe_id(&self) -> &SpiffeId {
        self.parsed.spiffe_id()
    }

    /// The audiences (`aud`).
    pub fn audience(&self) -> &[String] {
        self.parsed.audience()
    }

    /// The operator's hint, if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// `iat`, or when the client received the token if it has none.
    pub fn issued_at(&self) -> SystemTime {
        self.issued_at
    }

    /// `exp`.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// The token's lifetime, `exp - iat`.
    pub fn lifetime(&self) -> Duration {
        self.expires_at
            .duration_since(self.issued_at)
            .unwrap_or_default()
    }

    /// The parsed token (claims, header). Not signature-checked: the agent minted it.
    pub fn parsed(&self) -> &svid::UnverifiedJwtSvid {
        &self.parsed
    }
}

impl fmt::Debug for JwtSvid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSvid")
            .field("spiffe_id", &self.spiffe_id().as_str())
            .field("audience", &self.audience())
            .field("hint", &self.hint)
            .field("expires_at", &self.expires_at)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The result of `ValidateJWTSVID`: the agent says the token is valid for the audience.
///
/// Built by [`Client::validate_jwt_svid`](crate::Client::validate_jwt_svid), or from a message
/// obtained elsewhere with [`response::validated_jwt_svid`](crate::response::validated_jwt_svid).
#[derive(Clone, Debug)]
pub struct AgentVerifiedJwtSvid {
    pub(crate) spiffe_id: SpiffeId,
    pub(crate) claims: Map<String, Value>,
}

impl AgentVerifiedJwtSvid {
    /// The token's SPIFFE ID, as returned by the agent and matching the token's `sub`.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The claims as returned by the agent (numbers arrive as floats; `aud` may be a string
    /// or a list).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}
