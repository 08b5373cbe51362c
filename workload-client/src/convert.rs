//! Proto messages to validated types. Every rule of Workload API 4.4/4.5 and 5-6 that a client
//! can check is checked here; a message that breaks one is refused as a whole (digest 5.10).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::UnixTime;
use serde_json::{Map, Number, Value};
use spiffe_id::{SpiffeId, TrustDomain};
use svid::{CryptoBackend, Usage, X509Svid};
use trust_bundle::{BundleSet, JwtBundle, SpiffeBundle, X509Bundle};

use crate::error::ResponseError;
use crate::proto;
use crate::types::{Limits, ValidatedJwtSvid, WorkloadJwtSvid, X509Context};

/// How far in the future a `notBefore` may be and still be accepted: the agent's clock may run
/// slightly ahead of ours, and a freshly minted SVID must not be refused for that. Five minutes
/// is the JWT leeway bound of the `svid` crate ([`svid::MAX_LEEWAY`]).
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Hints longer than this are not supported (Workload API 5.2.1 says implementations SHOULD
/// NOT support hints over 1024 bytes); such an SVID is kept without its hint.
const MAX_HINT_LEN: usize = 1024;

pub(crate) fn x509_context(
    response: &proto::X509svidResponse,
    limits: &Limits,
    backend: &CryptoBackend,
    now: SystemTime,
) -> Result<X509Context, ResponseError> {
    if response.svids.is_empty() {
        return Err(ResponseError::NoSvids);
    }
    check_count(response.svids.len(), limits.max_svids)?;
    check_bundle_count(response.federated_bundles.len() + 1, limits)?;

    let mut own_bundles: BTreeMap<TrustDomain, &[u8]> = BTreeMap::new();
    let mut svids = Vec::with_capacity(response.svids.len());
    let mut seen_hints = HashSet::new();
    for (index, entry) in response.svids.iter().enumerate() {
        let parsed = x509_svid(entry, index, limits, backend)?;
        let trust_domain = parsed.spiffe_id().trust_domain();
        match own_bundles.get(&trust_domain) {
            Some(existing) if *existing != entry.bundle.as_slice() => {
                return Err(ResponseError::ConflictingBundles { trust_domain });
            }
            Some(_) => {}
            None => {
                own_bundles.insert(trust_domain, &entry.bundle);
            }
        }
        // Duplicate hints: keep the first SVID with the hint (Workload API 5.2.1; W-API-5).
        if let Some(hint) = parsed.hint() {
            if !seen_hints.insert(hint.to_owned()) {
                tracing::warn!(
                    hint,
                    index,
                    "workload api sent a duplicate svid hint; keeping the first"
                );
                continue;
            }
        }
        svids.push((index, parsed));
    }

    let mut bundles = Vec::with_capacity(own_bundles.len() + response.federated_bundles.len());
    for (trust_domain, der) in &own_bundles {
        bundles.push(x509_bundle(
            trust_domain.clone(),
            der,
            trust_domain.as_str(),
            limits,
        )?);
    }
    for (trust_domain, der) in bundle_map(&response.federated_bundles, limits)? {
        // Federated bundles are for foreign trust domains only (Workload API 5.2.1); the
        // SVID's own bundle is authoritative for its trust domain.
        if own_bundles.contains_key(&trust_domain) {
            continue;
        }
        let key = trust_domain.as_str().to_owned();
        bundles.push(x509_bundle(trust_domain, der, &key, limits)?);
    }
    let bundles = set_of(bundles.into_iter().map(SpiffeBundle::from).collect())?;

    // Each SVID must verify against its own trust domain's bundle, now; this also gives its
    // expiry, past which the source must not serve it.
    let mut out_svids = Vec::with_capacity(svids.len());
    let mut expiries = Vec::with_capacity(svids.len());
    for (index, parsed) in svids {
        let expiry = verify_own(&parsed, &bundles, backend, now).map_err(|source| {
            ResponseError::X509SvidNotValid {
                index,
                spiffe_id: parsed.spiffe_id().to_string(),
                source,
            }
        })?;
        out_svids.push(Arc::new(parsed));
        expiries.push(expiry);
    }
    Ok(X509Context {
        svids: out_svids,
        expiries,
        bundles,
    })
}

fn x509_svid(
    entry: &proto::X509svid,
    index: usize,
    limits: &Limits,
    backend: &CryptoBackend,
) -> Result<X509Svid, ResponseError> {
    for (field, empty) in [
        ("spiffe_id", entry.spiffe_id.is_empty()),
        ("x509_svid", entry.x509_svid.is_empty()),
        ("x509_svid_key", entry.x509_svid_key.is_empty()),
        ("bundle", entry.bundle.is_empty()),
    ] {
        if empty {
            return Err(ResponseError::EmptyField { field, index });
        }
    }
    let spiffe_id = spiffe_id(&entry.spiffe_id, index)?;
    if entry.bundle.len() > limits.max_bundle_bytes {
        return Err(ResponseError::BundleTooLarge {
            key: entry.spiffe_id.clone(),
            len: entry.bundle.len(),
            max: limits.max_bundle_bytes,
        });
    }
    let parsed =
        X509Svid::from_der(&entry.x509_svid, &entry.x509_svid_key, backend).map_err(|source| {
            ResponseError::X509Svid {
                index,
                spiffe_id: entry.spiffe_id.clone(),
                source,
            }
        })?;
    if parsed.spiffe_id() != &spiffe_id {
        return Err(ResponseError::SpiffeIdMismatch {
            index,
            field: entry.spiffe_id.clone(),
            certificate: parsed.spiffe_id().to_string(),
        });
    }
    Ok(
        if entry.hint.is_empty() || entry.hint.len() > MAX_HINT_LEN {
            parsed
        } else {
            parsed.with_hint(entry.hint.clone())
        },
    )
}

/// Verifies an SVID against its own trust domain's bundle and returns its expiry. A `notBefore`
/// up to [`CLOCK_SKEW`] in the future is tolerated.
fn verify_own(
    svid: &X509Svid,
    bundles: &BundleSet,
    backend: &CryptoBackend,
    now: SystemTime,
) -> Result<SystemTime, svid::Error> {
    let unix_now = unix_time(now);
    let verified = match svid::verify(svid.chain(), bundles, backend, Usage::Any, unix_now) {
        Err(svid::Error::Verify(
            svid::VerifyError::NotYetValid | svid::VerifyError::AuthorityNotYetValid,
        )) => svid::verify(
            svid.chain(),
            bundles,
            backend,
            Usage::Any,
            unix_time(now + CLOCK_SKEW),
        )?,
        other => other?,
    };
    Ok(UNIX_EPOCH + verified.expires_at().as_secs_duration())
}

trait AsSecsDuration {
    fn as_secs_duration(&self) -> Duration;
}

impl AsSecsDuration for UnixTime {
    fn as_secs_duration(&self) -> Duration {
        Duration::from_secs(self.as_secs())
    }
}

fn unix_time(time: SystemTime) -> UnixTime {
    UnixTime::since_unix_epoch(time.duration_since(UNIX_EPOCH).unwrap_or_default())
}

fn spiffe_id(value: &str, index: usize) -> Result<SpiffeId, ResponseError> {
    SpiffeId::parse(value).map_err(|source| ResponseError::BadSpiffeId {
        value: value.to_owned(),
        index,
        source,
    })
}

fn check_count(count: usize, max: usize) -> Result<(), ResponseError> {
    if count > max {
        return Err(ResponseError::TooManySvids { count, max });
    }
    Ok(())
}

fn check_bundle_count(count: usize, limits: &Limits) -> Result<(), ResponseError> {
    if count > limits.max_bundles {
        return Err(ResponseError::TooManyBundles {
            count,
            max: limits.max_bundles,
        });
    }
    Ok(())
}

/// Parses bundle map keys, accepting `spiffe://td` (what SPIRE sends) and a bare `td` (as
/// go-spiffe and py-spiffe do; digest 5.5), and checks sizes. Sorted by trust domain, so the
/// result does not depend on the map's iteration order.
fn bundle_map<'a>(
    map: &'a HashMap<String, Vec<u8>>,
    limits: &Limits,
) -> Result<BTreeMap<TrustDomain, &'a [u8]>, ResponseError> {
    check_bundle_count(map.len(), limits)?;
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let trust_domain =
            TrustDomain::from_id_or_name(key).map_err(|source| ResponseError::BadBundleKey {
                key: key.clone(),
                source,
            })?;
        if value.len() > limits.max_bundle_bytes {
            return Err(ResponseError::BundleTooLarge {
                key: key.clone(),
                len: value.len(),
                max: limits.max_bundle_bytes,
            });
        }
        if out.insert(trust_domain.clone(), value.as_slice()).is_some() {
            return Err(ResponseError::DuplicateTrustDomain { trust_domain });
        }
    }
    Ok(out)
}

fn x509_bundle(
    trust_domain: TrustDomain,
    der: &[u8],
    key: &str,
    limits: &Limits,
) -> Result<X509Bundle, ResponseError> {
    if der.len() > limits.max_bundle_bytes {
        return Err(ResponseError::BundleTooLarge {
            key: key.to_owned(),
            len: der.len(),
            max: limits.max_bundle_bytes,
        });
    }
    X509Bundle::from_der(trust_domain.clone(), der).map_err(|source| ResponseError::Bundle {
        trust_domain,
        source,
    })
}

/// `X509BundlesResponse` to a bundle set of X.509 authorities.
pub(crate) fn x509_bundles(
    response: &proto::X509BundlesResponse,
    limits: &Limits,
) -> Result<BundleSet, ResponseError> {
    if response.bundles.is_empty() {
        return Err(ResponseError::NoBundles);
    }
    let mut bundles = Vec::with_capacity(response.bundles.len());
    for (trust_domain, der) in bundle_map(&response.bundles, limits)? {
        let key = trust_domain.as_str().to_owned();
        bundles.push(SpiffeBundle::from(x509_bundle(
            trust_domain,
            der,
            &key,
            limits,
        )?));
    }
    set_of(bundles)
}

/// `JWTBundlesResponse` to a bundle set of JWT authorities. Keys whose `use` is present and not
/// `jwt-svid` are dropped (Workload API 6.2.2; W-API-7).
pub(crate) fn jwt_bundles(
    response: &proto::JwtBundlesResponse,
    limits: &Limits,
) -> Result<BundleSet, ResponseError> {
    if response.bundles.is_empty() {
        return Err(ResponseError::NoBundles);
    }
    let mut bundles = Vec::with_capacity(response.bundles.len());
    for (trust_domain, json) in bundle_map(&response.bundles, limits)? {
        let (bundle, ignored) =
            JwtBundle::parse_workload_api(trust_domain.clone(), json).map_err(|source| {
                ResponseError::Bundle {
                    trust_domain: trust_domain.clone(),
                    source,
                }
            })?;
        if !ignored.is_empty() {
            tracing::debug!(%trust_domain, ignored = ignored.len(), "ignored jwt bundle entries");
        }
        bundles.push(SpiffeBundle::from(bundle));
    }
    set_of(bundles)
}

fn set_of(bundles: Vec<SpiffeBundle>) -> Result<BundleSet, ResponseError> {
    BundleSet::from_bundles(bundles).map_err(ResponseError::BundleSet)
}

/// `JWTSVIDResponse` to JWT-SVIDs. Each token is parsed (structure and claims, not the
/// signature: the agent minted it), must match its `spiffe_id`, carry every requested audience
/// and not be expired. Duplicate hints: first wins.
pub(crate) fn jwt_svids(
    response: &proto::JwtsvidResponse,
    audience: &[String],
    requested: Option<&SpiffeId>,
    limits: &Limits,
    now: SystemTime,
) -> Result<Vec<WorkloadJwtSvid>, ResponseError> {
    if response.svids.is_empty() {
        return Err(ResponseError::NoSvids);
    }
    check_count(response.svids.len(), limits.max_svids)?;
    let mut out = Vec::with_capacity(response.svids.len());
    let mut seen_hints = HashSet::new();
    for (index, entry) in response.svids.iter().enumerate() {
        for (field, empty) in [
            ("spiffe_id", entry.spiffe_id.is_empty()),
            ("svid", entry.svid.is_empty()),
        ] {
            if empty {
                return Err(ResponseError::EmptyField { field, index });
            }
        }
        let id = spiffe_id(&entry.spiffe_id, index)?;
        let parsed = svid::JwtSvid::parse_insecure(&entry.svid).map_err(|source| {
            ResponseError::JwtSvid {
                index,
                spiffe_id: entry.spiffe_id.clone(),
                source,
            }
        })?;
        if parsed.spiffe_id() != &id {
            return Err(ResponseError::SpiffeIdMismatch {
                index,
                field: entry.spiffe_id.clone(),
                certificate: parsed.spiffe_id().to_string(),
            });
        }
        if let Some(requested) = requested {
            if requested != &id {
                return Err(ResponseError::UnrequestedIdentity {
                    requested: requested.to_string(),
                    returned: id.to_string(),
                });
            }
        }
        if let Some(missing) = audience
            .iter()
            .find(|wanted| !parsed.audience().contains(wanted))
        {
            return Err(ResponseError::JwtAudienceMissing {
                index,
                audience: missing.clone(),
            });
        }
        let expires_at = seconds_to_time(parsed.expiry());
        if expires_at <= now {
            return Err(ResponseError::JwtSvidExpired {
                index,
                spiffe_id: entry.spiffe_id.clone(),
            });
        }
        let issued_at = parsed
            .claims()
            .get("iat")
            .and_then(Value::as_f64)
            .map(seconds_to_time)
            .filter(|iat| *iat < expires_at)
            .unwrap_or(now);
        if !entry.hint.is_empty() && !seen_hints.insert(entry.hint.clone()) {
            continue;
        }
        out.push(WorkloadJwtSvid {
            token: entry.svid.clone(),
            parsed,
            hint: (!entry.hint.is_empty()).then(|| entry.hint.clone()),
            issued_at,
            expires_at,
        });
    }
    Ok(out)
}

fn seconds_to_time(seconds: f64) -> SystemTime {
    if seconds.is_finite() && seconds > 0.0 {
        UNIX_EPOCH + Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX / 4)
    } else {
        UNIX_EPOCH
    }
}

/// `ValidateJWTSVIDResponse`, cross-checked against a local, unverified parse of the same
/// token: the agent's answer must name the token's own `sub` and the token must carry the
/// audience (a confused or hostile agent must not turn one token into another identity).
pub(crate) fn validated(
    response: &proto::ValidateJwtsvidResponse,
    token: &str,
    audience: &str,
) -> Result<ValidatedJwtSvid, ResponseError> {
    if response.spiffe_id.is_empty() {
        return Err(ResponseError::EmptyField {
            field: "spiffe_id",
            index: 0,
        });
    }
    let id = spiffe_id(&response.spiffe_id, 0)?;
    let parsed = svid::JwtSvid::parse_insecure(token).map_err(|source| ResponseError::JwtSvid {
        index: 0,
        spiffe_id: response.spiffe_id.clone(),
        source,
    })?;
    if parsed.spiffe_id() != &id {
        return Err(ResponseError::SpiffeIdMismatch {
            index: 0,
            field: response.spiffe_id.clone(),
            certificate: parsed.spiffe_id().to_string(),
        });
    }
    if !parsed.audience().iter().any(|a| a == audience) {
        return Err(ResponseError::BadValidation(
            "the agent accepted a token that does not carry the audience",
        ));
    }
    let claims = match &response.claims {
        Some(claims) => struct_to_map(claims),
        None => Map::new(),
    };
    Ok(ValidatedJwtSvid {
        spiffe_id: id,
        claims,
    })
}

fn struct_to_map(value: &prost_types::Struct) -> Map<String, Value> {
    value
        .fields
        .iter()
        .map(|(key, value)| (key.clone(), to_json(value, 0)))
        .collect()
}

/// The deepest nesting converted; deeper values become `null`. Claims are flat in practice.
const MAX_DEPTH: usize = 32;

fn to_json(value: &prost_types::Value, depth: usize) -> Value {
    use prost_types::value::Kind;
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::StructValue(s)) => Value::Object(
            s.fields
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v, depth + 1)))
                .collect(),
        ),
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.iter().map(|v| to_json(v, depth + 1)).collect())
        }
    }
}
