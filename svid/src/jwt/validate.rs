//! JWT-SVID validation (JWT-SVID 4; digest 3.4).

use core::time::Duration;
use std::sync::Arc;

use rustls_pki_types::{SignatureVerificationAlgorithm, UnixTime};
use serde_json::{Map, Value};
use spiffe_id::{SpiffeId, TrustDomain};
use trust_bundle::{JwtBundle, JwtBundleSource, JwtKey};

use crate::Crypto;
use crate::cache::{self, ResultCache, Validity};
use crate::error::JwtError;
use crate::jwt::{JwtAlgorithm, JwtKeyType, UnverifiedJwtSvid, ecdsa};

pub use crate::jwt_limits::MAX_LEEWAY;

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
    token: Arc<UnverifiedJwtSvid>,
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
/// Built like [`X509Verifier`](crate::X509Verifier): from a bundle source and a [`Crypto`]; the
/// source is asked for the token's trust domain's bundle on every call, so a live source (the
/// Workload API's, say) takes effect at once.
///
/// ```
/// use svid::{BundleSet, Crypto, JwtValidator};
///
/// let validator = JwtValidator::new(BundleSet::new(), &Crypto::default())
///     .with_leeway(std::time::Duration::from_secs(10))?;
/// # Ok::<(), svid::JwtError>(())
/// ```
#[derive(Clone)]
pub struct JwtValidator<S> {
    source: S,
    crypto: Crypto,
    leeway: Duration,
    require_kid: bool,
    results: Option<Arc<ResultCache<CacheKey, CachedJwt>>>,
}

/// Every validator setting that can change a verdict. Clones share one result cache, and a clone
/// may be reconfigured (`allow_missing_kid`, `with_leeway`), so an entry is only reused by a
/// validator whose settings are equal.
#[derive(Clone, Copy, Debug)]
struct Settings {
    /// The crypto's algorithm list, compared by address (see `Crypto::same_algorithms`).
    algorithms: &'static [&'static dyn SignatureVerificationAlgorithm],
    leeway: Duration,
    require_kid: bool,
}

impl PartialEq for Settings {
    fn eq(&self, other: &Self) -> bool {
        core::ptr::eq(self.algorithms, other.algorithms)
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

impl<S> core::fmt::Debug for JwtValidator<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JwtValidator")
            .field("crypto", &self.crypto)
            .field("leeway", &self.leeway)
            .field("require_kid", &self.require_kid)
            .finish_non_exhaustive()
    }
}

impl<S: JwtBundleSource> JwtValidator<S> {
    /// A validator over `source` using `crypto`'s signature algorithms, with a 30 s leeway,
    /// requiring `kid`.
    pub fn new(source: S, crypto: &Crypto) -> Self {
        Self {
            source,
            crypto: crypto.clone(),
            leeway: Duration::from_secs(30),
            require_kid: true,
            results: None,
        }
    }

    /// Remembers up to `capacity` validation results, so a repeated token costs a hash, a
    /// comparison and one bundle lookup instead of a signature check. A result is reused only
    /// for the identical token and audience, by a validator with the same settings (leeway,
    /// `kid` policy, crypto provider's algorithms), while the bundle source still hands out the very JWT bundle that
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

    /// The bundle source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Validates `token` at `now` for `audience` against the source's JWT bundle of the
    /// token's `sub` trust domain.
    ///
    /// # Errors
    /// The [`JwtError`] naming the first rule the token breaks.
    pub fn validate(
        &self,
        token: &str,
        audience: &Audience,
        now: UnixTime,
    ) -> Result<VerifiedJwtSvid, JwtError> {
        let Some(cache) = &self.results else {
            return self
                .validate_uncached(token, audience, now)
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
            let current = self.source.jwt_bundle(&hit.trust_domain);
            if current.is_some_and(|bundle| bundle.generation() == generation) {
                return Ok(hit.verified);
            }
        }
        let (verified, bundle) = self.validate_uncached(token, audience, now)?;
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
            algorithms: self.crypto.algorithms(),
            leeway: self.leeway,
            require_kid: self.require_kid,
        }
    }

    /// Validates without the cache; also returns the bundle that verified the token.
    fn validate_uncached(
        &self,
        token: &str,
        audience: &Audience,
        now: UnixTime,
    ) -> Result<(VerifiedJwtSvid, Arc<JwtBundle>), JwtError> {
        let parsed = UnverifiedJwtSvid::parse_structure(token)?;
        if parsed.kid.is_none() && self.require_kid {
            return Err(JwtError::MissingKid);
        }
        self.check_time(&parsed, now)?;
        if !audience.accepts(&parsed.audience) {
            return Err(JwtError::AudienceMismatch);
        }
        let trust_domain = parsed.spiffe_id.trust_domain();
        let bundle = self
            .source
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

    fn check_time(&self, token: &UnverifiedJwtSvid, now: UnixTime) -> Result<(), JwtError> {
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

    /// The provider's algorithm for `alg`, found by its algorithm identifiers.
    fn verification_algorithm(
        &self,
        algorithm: JwtAlgorithm,
    ) -> Result<&'static dyn SignatureVerificationAlgorithm, JwtError> {
        let (public_key, signature) = algorithm.identifiers();
        self.crypto
            .algorithms()
            .iter()
            .copied()
            .find(|alg| {
                alg.public_key_alg_id() == public_key && alg.signature_alg_id() == signature
            })
            .ok_or(JwtError::AlgorithmNotInProvider(algorithm))
    }
}

/// Checks the signature with the `kid` key, or, without `kid`, with any fitting key of the
/// bundle. The key must fit the algorithm (digest 3.4 step 5).
fn verify_with_bundle(
    token: &UnverifiedJwtSvid,
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
            let signature = ecdsa::jws_to_der(token)?;
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
            let signature = ecdsa::jws_to_der(token)?;
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
    fn empty_expected_audience_is_a_construction_error() {
        assert_eq!(
            Audience::new(Vec::<String>::new()),
            Err(JwtError::EmptyExpectedAudience)
        );
        assert_eq!(Audience::new([""]), Err(JwtError::EmptyExpectedAudience));
        assert!(Audience::new(["a"]).is_ok());
    }
}
