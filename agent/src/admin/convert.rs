//! Admin API messages to and from the agent's types, with the checks a request must pass:
//! selectors of types an attestor gives, IDs in the agent's trust domain, lifetimes in bounds.
//! Each refusal names the field and what to fix.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ca::{AuthorityInfo, AuthorityKind, AuthorityStatus};
use spiffe_id::{SpiffeId, TrustDomain};

use crate::admin::catalog::{Cataloged, Source};
use crate::admin::proto;
use crate::config::unknown_selector;
use crate::entry::RegistrationEntry;
use crate::selector::Selector;

/// The shortest X509-SVID lifetime an entry may ask for.
pub const MIN_X509_TTL: Duration = Duration::from_secs(60);
/// The longest X509-SVID lifetime an entry may ask for (the CA caps it at its own expiry too).
pub const MAX_X509_TTL: Duration = Duration::from_secs(14 * 24 * 3600);
/// The shortest JWT-SVID lifetime an entry may ask for.
pub const MIN_JWT_TTL: Duration = Duration::from_secs(30);
/// The longest JWT-SVID lifetime an entry may ask for: bearer tokens stay short.
pub const MAX_JWT_TTL: Duration = Duration::from_secs(24 * 3600);

/// A field of a request that cannot be used.
#[derive(Debug)]
pub(crate) struct Invalid {
    pub(crate) field: &'static str,
    pub(crate) message: String,
}

impl Invalid {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// The entry a request describes, and its parent, checked for the agent of `trust_domain`.
pub(crate) fn entry_from_proto(
    message: &proto::Entry,
    trust_domain: &TrustDomain,
) -> Result<(RegistrationEntry, Option<SpiffeId>), Invalid> {
    let in_domain = |field: &'static str, text: &str| -> Result<SpiffeId, Invalid> {
        let id =
            SpiffeId::parse(text).map_err(|e| Invalid::new(field, format!("{text:?}: {e}")))?;
        if !id.is_member_of(trust_domain) {
            return Err(Invalid::new(
                field,
                format!("{id} is not in this agent's trust domain {trust_domain}"),
            ));
        }
        Ok(id)
    };
    let spiffe_id = in_domain("spiffe_id", &message.spiffe_id)?;
    if spiffe_id.is_root() {
        return Err(Invalid::new(
            "spiffe_id",
            format!("{spiffe_id} has no path: workloads need one (X509-SVID 3.1)"),
        ));
    }
    let parent_id = match message.parent_id.as_str() {
        "" => None,
        text => Some(in_domain("parent_id", text)?),
    };
    if message.selectors.is_empty() {
        return Err(Invalid::new(
            "selectors",
            "at least one selector is required, e.g. unix:uid:1000",
        ));
    }
    let mut entry = RegistrationEntry::new(spiffe_id);
    for text in &message.selectors {
        let selector = Selector::parse(text)
            .map_err(|e| Invalid::new("selectors", format!("{text:?}: {e}")))?;
        if let Some(problem) = unknown_selector(&selector) {
            return Err(Invalid::new("selectors", format!("{text:?}: {problem}")));
        }
        entry = entry.with_selector(selector);
    }
    if let Some(ttl) = ttl(
        "x509_ttl_seconds",
        message.x509_ttl_seconds,
        MIN_X509_TTL,
        MAX_X509_TTL,
    )? {
        entry = entry.with_x509_ttl(ttl);
    }
    if let Some(ttl) = ttl(
        "jwt_ttl_seconds",
        message.jwt_ttl_seconds,
        MIN_JWT_TTL,
        MAX_JWT_TTL,
    )? {
        entry = entry.with_jwt_ttl(ttl);
    }
    for name in &message.dns_names {
        entry = entry.with_dns_name(name.clone());
    }
    if !message.hint.is_empty() {
        entry = entry.with_hint(message.hint.clone());
    }
    for text in &message.federates_with {
        let td = TrustDomain::from_id_or_name(text)
            .map_err(|e| Invalid::new("federates_with", format!("{text:?}: {e}")))?;
        entry = entry.with_federates_with(td);
    }
    entry
        .check(trust_domain)
        .map_err(|e| Invalid::new("entry", e.to_string()))?;
    Ok((entry, parent_id))
}

fn ttl(
    field: &'static str,
    seconds: u64,
    min: Duration,
    max: Duration,
) -> Result<Option<Duration>, Invalid> {
    if seconds == 0 {
        return Ok(None);
    }
    let ttl = Duration::from_secs(seconds);
    if ttl < min || ttl > max {
        return Err(Invalid::new(
            field,
            format!(
                "{seconds} s is outside {}..={} s (0 takes the agent's default)",
                min.as_secs(),
                max.as_secs()
            ),
        ));
    }
    Ok(Some(ttl))
}

/// The wire form of a cataloged entry.
pub(crate) fn entry_to_proto(cataloged: &Cataloged) -> proto::Entry {
    let entry = &cataloged.entry;
    proto::Entry {
        id: cataloged.id.clone(),
        spiffe_id: entry.spiffe_id().to_string(),
        parent_id: cataloged
            .parent_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        selectors: entry.selectors().map(|s| s.as_str().to_owned()).collect(),
        x509_ttl_seconds: entry.x509_ttl().map_or(0, |d| d.as_secs()),
        jwt_ttl_seconds: entry.jwt_ttl().map_or(0, |d| d.as_secs()),
        dns_names: entry.dns_names().to_vec(),
        hint: entry.hint().unwrap_or_default().to_owned(),
        federates_with: entry.federates_with().map(ToString::to_string).collect(),
        revision: cataloged.revision,
        source: match cataloged.source {
            Source::Config => proto::EntrySource::Config,
            Source::Api => proto::EntrySource::Api,
        }
        .into(),
        created_at: cataloged.created_at,
    }
}

/// The wire form of the CA's authorities.
pub(crate) fn authority_to_proto(info: &AuthorityInfo) -> proto::Authority {
    proto::Authority {
        kind: match info.kind {
            AuthorityKind::X509 => proto::AuthorityKind::X509,
            AuthorityKind::Jwt => proto::AuthorityKind::Jwt,
            _ => proto::AuthorityKind::Unspecified,
        }
        .into(),
        id: info.id.clone(),
        status: status_name(info.status).to_owned(),
        not_before: unix(info.not_before),
        not_after: unix(info.not_after),
    }
}

/// The lowercase name of a status, as the API and the command print it.
pub(crate) fn status_name(status: AuthorityStatus) -> &'static str {
    match status {
        AuthorityStatus::Prepared => "prepared",
        AuthorityStatus::Active => "active",
        AuthorityStatus::Retired => "retired",
        AuthorityStatus::Tainted => "tainted",
        _ => "unknown",
    }
}

/// Seconds since the epoch (0 for a time before it).
pub(crate) fn unix(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}
