//! JWT-SVID validation (JWT-SVID 4; digest 3.4).

use core::time::Duration;
use std::borrow::Cow;
use std::sync::Arc;

use rustls_pki_types::{SignatureVerificationAlgorithm, UnixTime};
use serde_json::{Map, Value};
use spiffe_id::{SpiffeId, TrustDomain};
use trust_bundle::{JwtBundle, JwtBundleSource, JwtKey};

use crate::CryptoBackend;
use crate::cache::{self, ResultCache, Validity};
use crate::error::JwtError;
use crate::jwt::{JwtAlgorithm, JwtKeyType, JwtSvid};

/// The longest clock-skew allowance [`JwtValidator::with_leeway`] accepts. Leeway stretches a
/// bearer token's life; five minutes is already generous for synchronised clocks.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// The most keys a token without `kid` is tried against (with
/// [`JwtValidator::allow_missing_kid`]). Only keys whose type and curve fit `alg` count; a
/// bundle with more fitting keys than this refuses kid-less tokens with
/// [`JwtError::TooManyCandidateKeys`] before any signature check, so a forged token costs at
/// most this many verifications. SPIRE keeps a JWT key per signing authority while its tokens
/// can still be valid (the active key, the prepared next one, and the previous one during a
/// rotation: about three per upstream authority); eight covers that with room to spare, while
/// the 256 keys a bundle may hold ([`trust_bundle::MAX_KEYS_PER_BUNDLE`]) would cost 256.
pub const MAX_KEYS_WITHOUT_KID: usize = 8;

/// The audiences a validator identifies as. Never empty: an empty expectation would skip the
/// audience check, which is the bug this type makes unrepresentable (digest 3.4 step 8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audience {
    values: Vec<String>,
}

impl Audience {
    /// One or more accepted audiences; a token passes when its `aud` contains any of them.
    ///
    /// # Errors
    /// [`JwtError::EmptyExpectedAudience`] when `values` is empty or holds an empty string.
    pub fn new<I, S>(values: I) -> Result<Self, JwtError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        if values.is_empty() || values.iter().any(String::is_empty) {
            return Err(JwtError::EmptyExpectedAudience);
        }
        Ok(Self { values })
    }

    /// The accepted audiences.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    fn accepts(&self, token_audience: &[String]) -> bool {
        token_audience.iter().any(|aud| self.values.contains(aud))
    }
}

/// A JWT-SVID whose signature, trust domain, audience and lifetime were checked. Only the
/// validator builds it.
///
/// Cloning is one reference count.
#[derive(Clone, Debug)]
pub struct VerifiedJwtSvid {
    token: Arc<JwtSvid>,
}

impl VerifiedJwtSvid {
    /// The `sub` claim: the workload this token speaks for.
    pub fn spiffe_id(&self) -> &SpiffeId {
        self.token.spiffe_id()
    }

    /// The `aud` claim.
    pub fn audience(&self) -> &[String] {
        self.token.audience()
    }

    /// When the token expires (`exp`, rounded down to whole seconds).
    pub fn expires_at(&self) -> UnixTime {
        seconds_to_time(self.token.expiry())
    }

    /// The key ID that verified the token, when the header named one.
    pub fn kid(&self) -> Option<&str> {
        self.token.kid()
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.token.algorithm()
    }

    /// Every claim, registered and private.
    pub fn claims(&self) -> &Map<String, Value> {
        self.token.claims()
    }
}

/// Validates JWT-SVIDs: the rules J-1..J-11 of the digest, with a small explicit leeway and
/// `kid` required by default (as SPIRE and go-spiffe do).
///
/// ```
/// use svid::{CryptoBackend, JwtValidator};
///
/// let validator = JwtValidator::new(CryptoBackend::default())
///     .with_leeway(std::time::Duration::from_secs(10))?;
/// # Ok::<(), svid::JwtError>(())
/// ```
#[derive(Clone, Debug)]
pub struct JwtValidator {
    backend: CryptoBackend,
    leeway: Duration,
    require_kid: bool,
    results: Option<Arc<ResultCache<CacheKey, CachedJwt>>>,
}

/// Every validator setting that can change a verdict. Clones share one result cache, and a clone
/// may be reconfigured (`allow_missing_kid`, `with_leeway`), so an entry is only reused by a
/// validator whose settings are equal.
#[derive(Clone, Copy, Debug)]
struct Settings {
    backend: CryptoBackend,
    leeway: Duration,
    require_kid: bool,
}

impl PartialEq for Settings {
    fn eq(&self, other: &Self) -> bool {
        self.backend.same_algorithms(&other.backend)
            && self.leeway == other.leeway
            && self.require_kid == other.require_kid
    }
}

impl Eq for Settings {}

impl core::hash::Hash for Settings {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.leeway.hash(state);
        self.require_kid.hash(state);
    }
}

/// What a cached JWT result was computed for: the exact token, the audience and the settings.
/// The bundle is not part of the key: it is looked up again on every hit (see [`CachedJwt`]).
#[derive(PartialEq, Eq)]
struct CacheKey {
    token: Box<str>,
    audience: Audience,
    settings: Settings,
}

/// A cached verdict, with the trust domain the source was asked for (the token's `sub`'s); the
/// entry's generation is that of the bundle the source answered with. On a hit the source is asked for that trust domain's bundle again, and the
/// result is reused only if it is the very bundle (same process-unique generation) that
/// verified the token. So nothing about the source itself (its address, its own generation) is
/// trusted: a wrapper that serves a different bundle, or none, gets a fresh check.
#[derive(Clone)]
struct CachedJwt {
    verified: VerifiedJwtSvid,
    trust_domain: TrustDomain,
}

impl JwtValidator {
    /// A validator with a 30 s leeway that requires `kid`.
    pub fn new(backend: CryptoBackend) -> Self {
        Self {
            backend,
            leeway: Duration::from_secs(30),
            require_kid: true,
            results: None,
        }
    }

    /// Remembers up to `capacity` validation results, so a repeated token costs a hash, a
    /// comparison and one bundle lookup instead of a signature check. A result is reused only
    /// for the identical token and audience, by a validator with the same settings (leeway,
    /// `kid` policy, backend), while the bundle source still hands out the very JWT bundle that
    /// verified the token (same generation), and while the token is inside its lifetime (with
    /// this validator's leeway). Clones of the validator share the cache.
    #[must_use]
    pub fn with_result_cache(mut self, capacity: usize) -> Self {
        self.results = Some(Arc::new(ResultCache::new(capacity)));
        self
    }

    /// Sets the clock-skew allowance for `exp` and `nbf`.
    ///
    /// # Errors
    /// [`JwtError::LeewayTooLarge`] above [`MAX_LEEWAY`].
    pub fn with_leeway(mut self, leeway: Duration) -> Result<Self, JwtError> {
        if leeway > MAX_LEEWAY {
            return Err(JwtError::LeewayTooLarge);
        }
        self.leeway = leeway;
        Ok(self)
    }

    /// Accepts tokens without `kid`, as the spec allows (JWT-SVID 2.2): such a token is tried
    /// against the keys of the `sub` trust domain whose type and curve fit its `alg` (ES256:
    /// EC P-256 keys only, ES384: P-384, ES512: P-521, RS*/PS*: RSA), and of no other trust
    /// domain. Tokens that carry a `kid` are still matched by it.
    ///
    /// Cost: a kid-less token, forged or not, costs one signature verification per fitting
    /// key, at most [`MAX_KEYS_WITHOUT_KID`]; a bundle with more fitting keys refuses kid-less
    /// tokens with [`JwtError::TooManyCandidateKeys`] without checking any signature.
    #[must_use]
    pub fn allow_missing_kid(mut self) -> Self {
        self.require_kid = false;
        self
    }

    /// Validates `token` at `now` for `audience` against the JWT bundle of the token's `sub`
    /// trust domain.
    ///
    /// # Errors
    /// The [`JwtError`] naming the first rule the token breaks.
    pub fn validate(
        &self,
        token: &str,
        bundles: &dyn JwtBundleSource,
        audience: &Audience,
        now: UnixTime,
    ) -> Result<VerifiedJwtSvid, JwtError> {
        let Some(cache) = &self.results else {
            return self
                .validate_uncached(token, bundles, audience, now)
                .map(|(verified, _)| verified);
        };
        let settings = self.settings();
        let parts = core::iter::once(token.as_bytes())
            .chain(audience.values().iter().map(String::as_bytes));
        let fingerprint = cache::fingerprint(parts, settings);
        let same = |key: &CacheKey| {
            key.settings == settings && &*key.token == token && key.audience == *audience
        };
        if let Some((generation, hit)) = cache.get(fingerprint, same, now) {
            let current = bundles.jwt_bundle(&hit.trust_domain);
            if current.is_some_and(|bundle| bundle.generation() == generation) {
                return Ok(hit.verified);
            }
        }
        let (verified, bundle) = self.validate_uncached(token, bundles, audience, now)?;
        let leeway = self.leeway.as_secs();
        // Whole seconds, rounded inwards: `nbf` up, `exp` down, the leeway down, so the window
        // never holds a second a fresh check at that time would refuse.
        let validity = Validity {
            generation: bundle.generation(),
            from: verified
                .token
                .not_before
                .map_or(0, |nbf| seconds_ceil(nbf).saturating_sub(leeway)),
            until: verified.expires_at().as_secs().saturating_add(leeway),
        };
        let key = CacheKey {
            token: token.into(),
            audience: audience.clone(),
            settings,
        };
        let value = CachedJwt {
            verified: verified.clone(),
            // The trust domain the source was asked for (the token's), whatever the bundle says.
            trust_domain: verified.spiffe_id().trust_domain(),
        };
        cache.insert(fingerprint, key, validity, value, now);
        Ok(verified)
    }

    fn settings(&self) -> Settings {
        Settings {
            backend: self.backend,
            leeway: self.leeway,
            require_kid: self.require_kid,
        }
    }

    /// Validates without the cache; also returns the bundle that verified the token.
    fn validate_uncached(
        &self,
        token: &str,
        bundles: &dyn JwtBundleSource,
        audience: &Audience,
        now: UnixTime,
    ) -> Result<(VerifiedJwtSvid, Arc<JwtBundle>), JwtError> {
        let parsed = JwtSvid::parse_structure(token)?;
        if parsed.kid.is_none() && self.require_kid {
            return Err(JwtError::MissingKid);
        }
        self.check_time(&parsed, now)?;
        if !audience.accepts(&parsed.audience) {
            return Err(JwtError::AudienceMismatch);
        }
        let trust_domain = parsed.spiffe_id.trust_domain();
        let bundle = bundles
            .jwt_bundle(&trust_domain)
            .ok_or(JwtError::NoBundle { trust_domain })?;
        let algorithm = self.verification_algorithm(parsed.algorithm)?;
        let signed = token.get(..parsed.signed_len).ok_or(JwtError::NotCompact)?;
        verify_with_bundle(&parsed, &bundle, algorithm, signed.as_bytes())?;
        let verified = VerifiedJwtSvid {
            token: Arc::new(parsed),
        };
        Ok((verified, bundle))
    }

    fn check_time(&self, token: &JwtSvid, now: UnixTime) -> Result<(), JwtError> {
        let now = seconds_f64(now);
        let leeway = self.leeway.as_secs_f64();
        if now > token.expiry + leeway {
            return Err(JwtError::Expired);
        }
        if token.not_before.is_some_and(|nbf| now + leeway < nbf) {
            return Err(JwtError::NotYetValid);
        }
        Ok(())
    }

    /// The backend algorithm for `alg`, found by its algorithm identifiers.
    fn verification_algorithm(
        &self,
        algorithm: JwtAlgorithm,
    ) -> Result<&'static dyn SignatureVerificationAlgorithm, JwtError> {
        let (public_key, signature) = algorithm.identifiers();
        self.backend
            .algorithms()
            .iter()
            .copied()
            .find(|alg| {
                alg.public_key_alg_id() == public_key && alg.signature_alg_id() == signature
            })
            .ok_or(JwtError::AlgorithmNotInBackend(algorithm))
    }
}

/// Checks the signature with the `kid` key, or, without `kid`, with any fitting key of the
/// bundle. The key must fit the algorithm (digest 3.4 step 5).
fn verify_with_bundle(
    token: &JwtSvid,
    bundle: &Arc<JwtBundle>,
    algorithm: &dyn SignatureVerificationAlgorithm,
    signed: &[u8],
) -> Result<(), JwtError> {
    match token.kid() {
        Some(kid) => {
            let Some(key) = bundle.key(kid) else {
                return Err(match bundle.ignored_key(kid) {
                    Some(entry) => JwtError::IgnoredKid {
                        kid: kid.to_owned(),
                        entry: Box::new(entry.clone()),
                    },
                    None => JwtError::UnknownKid(kid.to_owned()),
                });
            };
            // The key must fit before the signature is looked at, so a wrong key says so
            // rather than "signature is not r||s of the curve size".
            let key_type = JwtKeyType::of(key);
            if !token.algorithm.fits(key) {
                return Err(match key_type {
                    Some(key_type) => JwtError::KeyDoesNotFitAlgorithm {
                        kid: kid.to_owned(),
                        key: key_type,
                        algorithm: token.algorithm,
                    },
                    None => JwtError::NoKeyFitsAlgorithm {
                        algorithm: token.algorithm,
                    },
                });
            }
            let signature = signature_for_backend(token)?;
            verify_one(key, algorithm, signed, &signature)
        }
        None => {
            // Only keys of the algorithm's type and curve are candidates, and at most
            // `MAX_KEYS_WITHOUT_KID` of them: the cost of a forged kid-less token is bounded
            // whatever else the bundle holds.
            let fitting = || {
                bundle
                    .keys()
                    .map(|(_, key)| key)
                    .filter(|key| token.algorithm.fits(key))
            };
            let count = fitting().count();
            if count == 0 {
                return Err(JwtError::NoKeyFitsAlgorithm {
                    algorithm: token.algorithm,
                });
            }
            if count > MAX_KEYS_WITHOUT_KID {
                return Err(JwtError::TooManyCandidateKeys {
                    count,
                    max: MAX_KEYS_WITHOUT_KID,
                });
            }
            let signature = signature_for_backend(token)?;
            if fitting().any(|key| verify_one(key, algorithm, signed, &signature).is_ok()) {
                Ok(())
            } else {
                Err(JwtError::BadSignature)
            }
        }
    }
}

fn verify_one(
    key: &JwtKey,
    algorithm: &dyn SignatureVerificationAlgorithm,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), JwtError> {
    let public_key: &[u8] = match key {
        JwtKey::Ec(ec) => ec.sec1_uncompressed(),
        JwtKey::Rsa(rsa) => rsa.pkcs1_der(),
        // `JwtKey` is non-exhaustive; `fits` already refused any other type.
        _ => return Err(JwtError::BadSignature),
    };
    algorithm
        .verify_signature(public_key, signed, signature)
        .map_err(|_| JwtError::BadSignature)
}

/// JWS ECDSA signatures are fixed-width `r || s` (RFC 7518 3.4); the verification algorithms
/// take the DER `ECDSA-Sig-Value` TLS uses, so re-encode. RSA signatures pass through.
fn signature_for_backend(token: &JwtSvid) -> Result<Cow<'_, [u8]>, JwtError> {
    let Some(scalar_len) = token.algorithm.ecdsa_scalar_len() else {
        return Ok(Cow::Borrowed(&token.signature));
    };
    token.check_signature_len()?;
    let (r, s) = token
        .signature
        .split_at_checked(scalar_len)
        .ok_or(JwtError::BadSignatureEncoding)?;
    let (r, s) = (Magnitude::of(r), Magnitude::of(s));
    let body_len = r.der_len() + s.der_len();
    let mut out = Vec::with_capacity(body_len + 4);
    out.push(0x30);
    crate::der::push_len(&mut out, body_len);
    r.push_der(&mut out);
    s.push_der(&mut out);
    Ok(Cow::Owned(out))
}

/// An unsigned big-endian scalar without its leading zeros, and whether DER needs one zero back
/// (top bit set, or the value is zero).
struct Magnitude<'a> {
    bytes: &'a [u8],
    pad: bool,
}

impl<'a> Magnitude<'a> {
    fn of(bytes: &'a [u8]) -> Self {
        let start = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or_else(|| bytes.len().saturating_sub(1));
        let bytes = bytes.get(start..).unwrap_or_default();
        let pad = bytes.first().is_none_or(|&b| b & 0x80 != 0);
        Self { bytes, pad }
    }

    fn content_len(&self) -> usize {
        self.bytes.len() + usize::from(self.pad)
    }

    /// The whole INTEGER: tag, length (at most 0x81 nn here) and content.
    fn der_len(&self) -> usize {
        let len = self.content_len();
        len + if len < 0x80 { 2 } else { 3 }
    }

    fn push_der(&self, out: &mut Vec<u8>) {
        out.push(0x02);
        crate::der::push_len(out, self.content_len());
        if self.pad {
            out.push(0);
        }
        out.extend_from_slice(self.bytes);
    }
}

/// A DER INTEGER for an unsigned big-endian scalar: leading zeros stripped, one zero added back
/// when the top bit is set.
#[cfg(test)]
fn der_integer(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Magnitude::of(bytes).push_der(&mut out);
    out
}

#[allow(
    clippy::as_conversions,
    reason = "u64 seconds to f64: exact below 2^53, far past 9999"
)]
fn seconds_f64(time: UnixTime) -> f64 {
    time.as_secs() as f64
}

/// Whole seconds, rounded up (`nbf` 100.5 is first met at 101).
fn seconds_ceil(seconds: f64) -> u64 {
    // `nbf` was checked finite and non-negative; `as` saturates.
    #[allow(
        clippy::as_conversions,
        reason = "float to integer seconds, saturating, after rounding up"
    )]
    let whole = seconds.ceil() as u64;
    whole
}

fn seconds_to_time(seconds: f64) -> UnixTime {
    // `exp` was checked finite and non-negative; `as` saturates, which is the wanted floor.
    #[allow(
        clippy::as_conversions,
        reason = "float to integer seconds, saturating floor"
    )]
    let whole = seconds as u64;
    UnixTime::since_unix_epoch(Duration::from_secs(whole))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_integers_are_minimal() {
        assert_eq!(der_integer(&[0, 0, 1]), [0x02, 0x01, 0x01]);
        assert_eq!(der_integer(&[0x80, 0]), [0x02, 0x03, 0x00, 0x80, 0x00]);
        assert_eq!(der_integer(&[0, 0]), [0x02, 0x01, 0x00]);
        assert_eq!(der_integer(&[0x7f]), [0x02, 0x01, 0x7f]);
    }

    #[test]
    fn empty_expected_audience_is_a_construction_error() {
        assert_eq!(
            Audience::new(Vec::<String>::new()),
            Err(JwtError::EmptyExpectedAudience)
        );
        assert_eq!(Audience::new([""]), Err(JwtError::EmptyExpectedAudience));
        assert!(Audience::new(["a"]).is_ok());
    }
}
