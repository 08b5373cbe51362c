//! Validating Workload API responses: proto messages in, validated types out.
//!
//! These are the checks [`Client`](crate::Client) and the sources run on every message. They
//! are public so that a program with its own transport (a proxy, a test harness, another gRPC
//! stack) can validate a message exactly as this crate does:
//!
//! | message | function | result |
//! |---|---|---|
//! | `X509SVIDResponse` | [`x509_context`] | [`X509Context`] |
//! | `X509BundlesResponse` | [`x509_bundles`] | [`BundleSet`] of X.509 authorities |
//! | `JWTSVIDResponse` | [`jwt_svids`] | [`JwtSvid`]s |
//! | `JWTBundlesResponse` | [`jwt_bundles`] | [`BundleSet`] of JWT keys |
//! | `ValidateJWTSVIDResponse` | [`validated_jwt_svid`] | [`AgentVerifiedJwtSvid`] |
//!
//! A message that breaks a rule is refused as a whole with a [`ResponseError`], never
//! partly applied and never a panic (Workload API 4.5; SPIFFE digest 5.10). Section numbers
//! refer to `SPIFFE_Workload_API.md` ("Workload API"); rule IDs (W-API-5, X-8, ...) and
//! "digest" sections to the project's SPIFFE digest. Each function takes the current time
//! as an argument, so a fixed time gives reproducible results.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::UnixTime;
use serde_json::{Map, Value};
use spiffe_id::{SpiffeId, TrustDomain};
use svid::{Crypto, Usage, X509Svid};
use trust_bundle::{BundleSet, JwtBundle, SpiffeBundle, X509Bundle};

use crate::error::ResponseError;
use crate::proto;
use crate::types::{AgentVerifiedJwtSvid, JwtSvid, Limits, X509Context};

/// How far in the future a `notBefore` may be and still be accepted: the agent's clock may run
/// slightly ahead of ours, and a freshly minted SVID must not be refused for that. Five minutes
/// is the JWT leeway bound of the `svid` crate ([`svid::MAX_LEEWAY`]).
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Hints longer than this are not supported (Workload API 5.2.1 says implementations SHOULD
/// NOT support hints over 1024 bytes); such an SVID is kept without its hint.
const MAX_HINT_LEN: usize = 1024;

/// Validates an `X509SVIDResponse` (a `FetchX509SVID` stream message) into an [`X509Context`].
///
/// Checks, in order; the first failure refuses the whole message:
/// - at least one SVID (Workload API 4.5; digest 5.10), at most [`Limits::max_svids`], and at
///   most [`Limits::max_bundles`] trust domains in total;
/// - each SVID: `spiffe_id`, `x509_svid`, `x509_svid_key` and `bundle` are not empty (4.5); the
///   `spiffe_id` parses and equals the leaf's URI SAN; the chain (DER, leaf first) and the
///   PKCS#8 key parse, the leaf follows the X.509-SVID profile (digest X-1..X-7) and the key
///   matches it ([`svid::X509Svid::from_der`]); `bundle` is at most
///   [`Limits::max_bundle_bytes`] and parses as concatenated DER certificates (digest 5.4);
/// - SVIDs of one trust domain carry the same `bundle`;
/// - `federated_bundles` keys are `spiffe://<td>` or a bare `<td>` (digest 5.5) with no trust
///   domain twice; values are bounded and parse like `bundle`. A federated entry for an SVID's
///   own trust domain is ignored: the SVID's `bundle` is authoritative (Workload API 5.2.1;
///   digest 5.13);
/// - each SVID verifies at `now` against the bundle of **its own** trust domain only (digest
///   8.1, X-8, X-9), with a `notBefore` up to five minutes in the future tolerated for clock
///   skew. The earliest `notAfter` on the verified path is its [expiry](X509Context::expiries).
///
/// A hint longer than 1024 bytes is dropped (Workload API 5.2.1 says not to support them), and
/// an SVID whose hint an earlier SVID already carries is skipped: the first wins (Workload API
/// 5.2.1; digest W-API-5). CRLs are not read.
///
/// ```
/// use std::time::SystemTime;
///
/// use ca::test_util::TestCa;
/// use svid::Crypto;
/// use workload_client::{Limits, ResponseError, proto, response};
///
/// let ca = TestCa::new("example.org");
/// let svid = ca.x509_svid("/web");
/// let mut message = proto::X509svidResponse {
///     svids: vec![proto::X509svid {
///         spiffe_id: "spiffe://example.org/web".to_owned(),
///         x509_svid: svid.chain_der(),
///         x509_svid_key: svid.private_key().secret_pkcs8_der().to_vec(),
///         bundle: ca.x509_bundle().to_der(),
///         hint: "internal".to_owned(),
///     }],
///     ..Default::default()
/// };
/// let (limits, crypto, now) = (Limits::default(), Crypto::default(), SystemTime::now());
///
/// let context = response::x509_context(&message, &limits, &crypto, now)?;
/// assert_eq!(context.svids()[0].spiffe_id().as_str(), "spiffe://example.org/web");
/// assert_eq!(context.svids()[0].hint(), Some("internal"));
/// assert!(context.bundles().contains("example.org"));
///
/// // A `spiffe_id` that is not the certificate's refuses the whole message.
/// message.svids[0].spiffe_id = "spiffe://example.org/db".to_owned();
/// assert!(matches!(
///     response::x509_context(&message, &limits, &crypto, now),
///     Err(ResponseError::SpiffeIdMismatch { index: 0, .. })
/// ));
/// # Ok::<(), ResponseError>(())
/// ```
///
/// # Errors
/// The [`ResponseError`] of the first rule broken, with the entry's index where there is one.
pub fn x509_context(
    response: &proto::X509svidResponse,
    limits: &Limits,
    crypto: &Crypto,
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
        let parsed = x509_svid(entry, index, limits, crypto)?;
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
        let expiry = verify_own(&parsed, &bundles, crypto, now).map_err(|source| {
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
    crypto: &Crypto,
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
        X509Svid::from_der(&entry.x509_svid, &entry.x509_svid_key, crypto).map_err(|source| {
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
    crypto: &Crypto,
    now: SystemTime,
) -> Result<SystemTime, svid::Error> {
    let unix_now = unix_time(now);
    let verified = match svid::verify(svid.chain(), bundles, crypto, Usage::Any, unix_now) {
        Err(svid::Error::Verify(
            svid::VerifyError::NotYetValid { .. } | svid::VerifyError::AuthorityNotYetValid { .. },
        )) => svid::verify(
            svid.chain(),
            bundles,
            crypto,
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

/// Validates an `X509BundlesResponse` (a `FetchX509Bundles` stream message) into a set of
/// X.509 bundles, one per trust domain.
///
/// Checks: the `bundles` map is not empty (Workload API 4.5; digest 5.10) and has at most
/// [`Limits::max_bundles`] entries; every key is `spiffe://<td>` or a bare `<td>` (digest 5.5)
/// and no trust domain appears twice (e.g. as `spiffe://a` and `a`); every value is at most
/// [`Limits::max_bundle_bytes`] and parses as concatenated DER certificates (digest 5.4). The
/// set is for X.509-SVIDs only (Workload API 5.2.2; digest W-API-11). CRLs are not read.
///
/// ```
/// use ca::test_util::TestCa;
/// use workload_client::{Limits, ResponseError, proto, response};
///
/// let ca = TestCa::new("example.org");
/// let mut message = proto::X509BundlesResponse::default();
/// message.bundles.insert("spiffe://example.org".to_owned(), ca.x509_bundle().to_der());
///
/// let bundles = response::x509_bundles(&message, &Limits::default())?;
/// assert_eq!(bundles.get("example.org").map(|b| b.x509_bundle().len()), Some(1));
///
/// // The same trust domain under its bare name as well: refused.
/// message.bundles.insert("example.org".to_owned(), ca.x509_bundle().to_der());
/// assert!(matches!(
///     response::x509_bundles(&message, &Limits::default()),
///     Err(ResponseError::DuplicateTrustDomain { .. })
/// ));
/// # Ok::<(), ResponseError>(())
/// ```
///
/// # Errors
/// [`ResponseError::NoBundles`], [`ResponseError::TooManyBundles`],
/// [`ResponseError::BadBundleKey`], [`ResponseError::DuplicateTrustDomain`],
/// [`ResponseError::BundleTooLarge`], [`ResponseError::Bundle`].
pub fn x509_bundles(
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

/// Validates a `JWTBundlesResponse` (a `FetchJWTBundles` stream message) into a set of JWT
/// bundles, one per trust domain.
///
/// Checks: the map and its keys as [`x509_bundles`] (not empty, bounded, `spiffe://<td>` or
/// `<td>`, no trust domain twice; digest 5.5, B-8); every value is a JWKS document parsed by
/// [`JwtBundle::parse_workload_api`]: `use` is not required, as SPIRE omits it here (digest
/// 5.4, 8.4 item 11), and keys whose `use` is present and not `jwt-svid` are dropped (Workload
/// API 6.2.2; digest W-API-7). The set is for JWT-SVIDs only (digest W-API-11).
///
/// ```
/// use ca::test_util::TestCa;
/// use workload_client::{Limits, ResponseError, proto, response};
///
/// let ca = TestCa::new("example.org");
/// let mut message = proto::JwtBundlesResponse::default();
/// let jwks = ca.jwt_bundle().to_workload_api_json().into_bytes();
/// message.bundles.insert("spiffe://example.org".to_owned(), jwks);
///
/// let bundles = response::jwt_bundles(&message, &Limits::default())?;
/// assert!(bundles.get("example.org").is_some_and(|b| !b.jwt_bundle().is_empty()));
///
/// // A key that is not a trust domain: refused.
/// message.bundles.insert("spiffe://Example.org".to_owned(), b"{}".to_vec());
/// assert!(matches!(
///     response::jwt_bundles(&message, &Limits::default()),
///     Err(ResponseError::BadBundleKey { .. })
/// ));
/// # Ok::<(), ResponseError>(())
/// ```
///
/// # Errors
/// As [`x509_bundles`], with [`ResponseError::Bundle`] for a value that is not a JWKS.
pub fn jwt_bundles(
    response: &proto::JwtBundlesResponse,
    limits: &Limits,
) -> Result<BundleSet, ResponseError> {
    if response.bundles.is_empty() {
        return Err(ResponseError::NoBundles);
    }
    let mut bundles = Vec::with_capacity(response.bundles.len());
    for (trust_domain, json) in bundle_map(&response.bundles, limits)? {
        let bundle =
            JwtBundle::parse_workload_api(trust_domain.clone(), json).map_err(|source| {
                ResponseError::Bundle {
                    trust_domain: trust_domain.clone(),
                    source,
                }
            })?;
        if !bundle.ignored().is_empty() {
            let ignored = bundle.ignored().len();
            tracing::debug!(%trust_domain, ignored, "ignored jwt bundle entries");
        }
        bundles.push(SpiffeBundle::from(bundle));
    }
    set_of(bundles)
}

fn set_of(bundles: Vec<SpiffeBundle>) -> Result<BundleSet, ResponseError> {
    BundleSet::from_bundles(bundles).map_err(ResponseError::BundleSet)
}

/// Validates a `JWTSVIDResponse` (the answer to a `FetchJWTSVID` call for `audience` and, when
/// given, the `requested` SPIFFE ID) into JWT-SVIDs, in the server's order.
///
/// Checks: at least one SVID (Workload API 4.5; digest 5.10), at most [`Limits::max_svids`];
/// each entry's `spiffe_id` and `svid` are not empty (4.5); the token parses as a JWT-SVID
/// (structure and claims per digest J-1..J-8 through [`svid::UnverifiedJwtSvid::parse_insecure`]; not
/// the signature: the agent minted it, and the client has no reason to distrust its own
/// agent's signature more than its answer), its `sub` equals `spiffe_id`, it is the
/// `requested` identity when one was asked for (Workload API 6.2.1; digest 5.12), it carries
/// every value of `audience` (digest J-5) and it has not expired at `now` (J-7). An entry whose
/// hint an earlier one already carries is skipped: the first wins (Workload API 5.2.1; digest
/// W-API-5).
///
/// ```
/// use std::time::SystemTime;
///
/// use ca::test_util::TestCa;
/// use workload_client::{Limits, ResponseError, proto, response};
///
/// let ca = TestCa::new("example.org");
/// let message = proto::JwtsvidResponse {
///     svids: vec![proto::Jwtsvid {
///         spiffe_id: "spiffe://example.org/web".to_owned(),
///         svid: ca.jwt_svid("/web", &["api"]),
///         hint: String::new(),
///     }],
/// };
/// let (limits, now) = (Limits::default(), SystemTime::now());
///
/// let svids = response::jwt_svids(&message, &["api"], None, &limits, now)?;
/// assert_eq!(svids[0].spiffe_id().as_str(), "spiffe://example.org/web");
/// assert!(svids[0].expires_at() > now);
///
/// // A token minted for another audience than the one asked for: refused.
/// assert!(matches!(
///     response::jwt_svids(&message, &["db"], None, &limits, now),
///     Err(ResponseError::JwtAudienceMissing { index: 0, .. })
/// ));
/// # Ok::<(), ResponseError>(())
/// ```
///
/// # Errors
/// [`ResponseError::NoSvids`], [`ResponseError::TooManySvids`],
/// [`ResponseError::EmptyField`], [`ResponseError::BadSpiffeId`], [`ResponseError::JwtSvid`],
/// [`ResponseError::SpiffeIdMismatch`], [`ResponseError::UnrequestedIdentity`],
/// [`ResponseError::JwtAudienceMissing`], [`ResponseError::JwtSvidExpired`].
pub fn jwt_svids<A: AsRef<str>>(
    response: &proto::JwtsvidResponse,
    audience: &[A],
    requested: Option<&SpiffeId>,
    limits: &Limits,
    now: SystemTime,
) -> Result<Vec<JwtSvid>, ResponseError> {
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
        let parsed = svid::UnverifiedJwtSvid::parse_insecure(&entry.svid).map_err(|source| {
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
            .map(AsRef::as_ref)
            .find(|wanted| !parsed.audience().iter().any(|aud| aud == wanted))
        {
            return Err(ResponseError::JwtAudienceMissing {
                index,
                audience: missing.to_owned(),
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
        out.push(JwtSvid {
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

/// Validates a `ValidateJWTSVIDResponse`: the agent's answer to `ValidateJWTSVID` for `token`
/// and `audience` (the request's two fields).
///
/// The agent did the validation (Workload API 6.3; digest 5.12, W-API-8); this cross-checks
/// its answer against a local, unverified parse of the same token, so that a confused or
/// hostile agent cannot turn one token into another identity: `spiffe_id` is not empty
/// (Workload API 4.5), parses, and equals the token's `sub`; the token carries `audience`
/// (digest J-5). `claims` is optional (digest 8.4 item 13) and converted to JSON as sent
/// (numbers are floats; nesting deeper than 32 levels becomes `null`).
///
/// ```
/// use ca::test_util::TestCa;
/// use workload_client::{ResponseError, proto, response};
///
/// let ca = TestCa::new("example.org");
/// let token = ca.jwt_svid("/web", &["api"]);
/// let mut answer = proto::ValidateJwtsvidResponse {
///     spiffe_id: "spiffe://example.org/web".to_owned(),
///     claims: None,
/// };
///
/// let validated = response::validated_jwt_svid(&answer, &token, "api")?;
/// assert_eq!(validated.spiffe_id().as_str(), "spiffe://example.org/web");
///
/// // The agent names an identity the token does not carry: refused.
/// answer.spiffe_id = "spiffe://example.org/admin".to_owned();
/// assert!(matches!(
///     response::validated_jwt_svid(&answer, &token, "api"),
///     Err(ResponseError::SpiffeIdMismatch { .. })
/// ));
/// # Ok::<(), ResponseError>(())
/// ```
///
/// # Errors
/// [`ResponseError::EmptyField`], [`ResponseError::BadSpiffeId`], [`ResponseError::JwtSvid`]
/// (the token does not parse), [`ResponseError::SpiffeIdMismatch`],
/// [`ResponseError::BadValidation`] (the token lacks the audience).
pub fn validated_jwt_svid(
    response: &proto::ValidateJwtsvidResponse,
    token: &str,
    audience: &str,
) -> Result<AgentVerifiedJwtSvid, ResponseError> {
    if response.spiffe_id.is_empty() {
        return Err(ResponseError::EmptyField {
            field: "spiffe_id",
            index: 0,
        });
    }
    let id = spiffe_id(&response.spiffe_id, 0)?;
    let parsed = svid::UnverifiedJwtSvid::parse_insecure(token).map_err(|source| {
        ResponseError::JwtSvid {
            index: 0,
            spiffe_id: response.spiffe_id.clone(),
            source,
        }
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
        Some(claims) => workload_api::claims_from_struct(claims),
        None => Map::new(),
    };
    Ok(AgentVerifiedJwtSvid {
        spiffe_id: id,
        claims,
    })
}
