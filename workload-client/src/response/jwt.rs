//! `JWTSVIDResponse` and `ValidateJWTSVIDResponse`.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use spiffe_id::SpiffeId;

use crate::error::ResponseError;
use crate::proto;
use crate::types::{AgentVerifiedJwtSvid, JwtSvid, Limits};

use super::common::{check_count, spiffe_id};

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
