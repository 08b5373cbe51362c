//! `X509BundlesResponse` and `JWTBundlesResponse`, and the bundle maps inside messages.

use std::collections::{BTreeMap, HashMap};

use spiffe_id::TrustDomain;
use trust_bundle::{BundleSet, JwtBundle, SpiffeBundle, X509Bundle};

use crate::error::ResponseError;
use crate::proto;
use crate::types::Limits;

use super::common::check_bundle_count;

/// Parses bundle map keys, accepting `spiffe://td` (what SPIRE sends) and a bare `td` (as
/// go-spiffe and py-spiffe do; digest 5.5), and checks sizes. Sorted by trust domain, so the
/// result does not depend on the map's iteration order.
pub(super) fn bundle_map<'a>(
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

pub(super) fn x509_bundle(
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

pub(super) fn set_of(bundles: Vec<SpiffeBundle>) -> Result<BundleSet, ResponseError> {
    BundleSet::from_bundles(bundles).map_err(ResponseError::BundleSet)
}
