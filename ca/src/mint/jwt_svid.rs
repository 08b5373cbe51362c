//! JWT-SVIDs, signed with the active JWT key (the encoding is in `crate::jwt`).

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use crate::audit::{AuditAction, AuditEvent, AuthorityKind};
use crate::authority::CertificateAuthority;
use crate::error::Error;
use crate::jwt;
use crate::policy::CredentialKind;
use crate::request::JwtSvidRequest;
use crate::self_check;
use crate::time::unix_seconds;

impl CertificateAuthority {
    /// Mints a JWT-SVID: header `alg`, `kid`, `typ: JWT` only (J-12); claims `sub`, `aud` (an
    /// array of the request's non-empty audiences), `iat`, `exp` (capped at the signing key's
    /// expiry) and the request's extra claims.
    ///
    /// # Errors
    /// [`Error::EmptyAudience`], [`Error::ReservedClaim`], the admission errors of
    /// [`mint_x509_svid`](Self::mint_x509_svid), [`Error::AuthorityNotValid`] when the key has
    /// expired, signing, self-check or audit failures.
    pub fn mint_jwt_svid(
        &self,
        request: &JwtSvidRequest,
        now: SystemTime,
    ) -> Result<String, Error> {
        self.admit(
            request.spiffe_id(),
            request.requester_label(),
            CredentialKind::JwtSvid,
        )?;
        let audience = request.audience_values();
        if audience.is_empty() {
            return Err(Error::EmptyAudience);
        }
        let hot = self.hot()?;
        let key = &hot.jwt;
        let now_s = unix_seconds(now);
        let ttl = request.ttl_or(self.inner.config.jwt_svid_ttl);
        let exp = now_s.saturating_add(ttl.as_secs()).min(key.not_after);
        if now_s < key.not_before || exp <= now_s {
            return Err(Error::AuthorityNotValid);
        }
        let claims = jwt::claims(request.spiffe_id(), audience, now_s, exp, request)?;
        let token = jwt::sign(key, &claims)?;
        self_check::verify_jwt(self.inner.config.self_check, &hot, &token, audience, now)?;
        key.issued_until.fetch_max(exp, Ordering::AcqRel);
        self.audit_with(|| AuditEvent {
            action: AuditAction::JwtSvidIssued,
            trust_domain: self.inner.trust_domain.to_string(),
            authority_kind: AuthorityKind::Jwt,
            authority_id: key.kid.clone(),
            spiffe_id: Some(request.spiffe_id().to_string()),
            serial: None,
            not_before: Some(now_s),
            not_after: Some(exp),
            requester: request.requester_label().map(str::to_owned),
            at: now_s,
        })?;
        Ok(token)
    }
}
