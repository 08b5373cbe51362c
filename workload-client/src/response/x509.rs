//! `X509SVIDResponse`: the workload's X.509-SVIDs and the bundles they verify against.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use spiffe_id::TrustDomain;
use svid::{Crypto, Usage, X509Svid};
use trust_bundle::{BundleSet, SpiffeBundle};

use crate::error::ResponseError;
use crate::proto;
use crate::types::{Limits, X509Context};

use super::bundles::{bundle_map, set_of, x509_bundle};
use super::common::{
    AsSecsDuration, CLOCK_SKEW, MAX_HINT_LEN, check_bundle_count, check_count, spiffe_id, unix_time,
};

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
