//! Minting through the CA: X509-SVIDs per entry (rotated by the agent), JWT-SVIDs per request
//! with a small cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ca::{AuthorityKind, CertificateAuthority, JwtSvidRequest, X509SvidRequest};
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::entry::RegistrationEntry;
use crate::entry_id::EntryId;
use crate::error::Error;
use crate::issuer::Issuer;
use crate::refresh::refresh_time;
use crate::state::IssuedSvid;

/// The lifetime an SVID minted now with `ttl` actually gets: the CA caps it at the expiry of
/// the authority that signs it.
fn effective_lifetime(ca: &CertificateAuthority, kind: AuthorityKind, ttl: Duration) -> Duration {
    let now = SystemTime::now();
    let snapshot = ca.snapshot();
    let remaining = snapshot
        .active(kind)
        .and_then(|authority| authority.not_after.duration_since(now).ok());
    remaining.map_or(ttl, |remaining| remaining.min(ttl))
}

/// Mints an X509-SVID for each entry (blocking: key generation and signing).
pub(crate) fn mint_x509_blocking(
    ca: &CertificateAuthority,
    entries: &[Arc<RegistrationEntry>],
    default_ttl: Duration,
) -> Vec<Result<IssuedSvid, Error>> {
    entries
        .iter()
        .map(|entry| {
            let ttl = entry.x509_ttl().unwrap_or(default_ttl);
            let lifetime = effective_lifetime(ca, AuthorityKind::X509, ttl);
            let request = X509SvidRequest::new(entry.spiffe_id().clone())
                .ttl(ttl)
                .dns_names(entry.dns_names().iter().cloned());
            let svid = ca
                .mint_x509_svid(&request, SystemTime::now())
                .map_err(|source| {
                    crate::metrics::mint_failed();
                    Error::Mint {
                        spiffe_id: entry.spiffe_id().clone(),
                        source,
                    }
                })?;
            crate::metrics::x509_svid_issued();
            Ok(IssuedSvid {
                chain: svid.chain_der(),
                key: Zeroizing::new(svid.private_key().secret_pkcs8_der().to_vec()),
                refresh_at: refresh_time(Instant::now(), lifetime),
            })
        })
        .collect()
}

/// The fewest SVIDs worth a blocking task of their own (a mint is about a hundred
/// microseconds; a task hand-off a few).
const MIN_MINTS_PER_TASK: usize = 8;

/// Mints X509-SVIDs through the agent's issuer, results in the order of `entries`.
pub(crate) async fn mint_x509(
    issuer: &Issuer,
    entries: Vec<Arc<RegistrationEntry>>,
    default_ttl: Duration,
) -> Vec<Result<IssuedSvid, Error>> {
    match issuer {
        Issuer::Ca(ca) => mint_x509_with_ca(ca, entries, default_ttl).await,
        // The server applies each entry's TTL (or its default).
        Issuer::Upstream(upstream) => crate::upstream::mint_x509(upstream, entries).await,
    }
}

/// Mints X509-SVIDs on blocking threads, split over the available cores (a CA rotation
/// re-issues every SVID at once), results in the order of `entries`.
async fn mint_x509_with_ca(
    ca: &CertificateAuthority,
    entries: Vec<Arc<RegistrationEntry>>,
    default_ttl: Duration,
) -> Vec<Result<IssuedSvid, Error>> {
    let cores = std::thread::available_parallelism().map_or(1, core::num::NonZero::get);
    let per_task = entries.len().div_ceil(cores).max(MIN_MINTS_PER_TASK);
    let tasks: Vec<_> = entries
        .chunks(per_task)
        .map(|chunk| {
            let ca = ca.clone();
            let chunk = chunk.to_vec();
            let count = chunk.len();
            let task =
                tokio::task::spawn_blocking(move || mint_x509_blocking(&ca, &chunk, default_ttl));
            (count, task)
        })
        .collect();
    let mut minted = Vec::with_capacity(entries.len());
    for (count, task) in tasks {
        match task.await {
            Ok(results) => minted.extend(results),
            Err(_) => minted.extend((0..count).map(|_| Err(Error::ShutDown))),
        }
    }
    minted
}

/// JWT-SVIDs already minted, reused until half their lifetime: a workload that asks for a
/// token per request would otherwise cost a signature each time.
#[derive(Default)]
pub(crate) struct JwtCache {
    inner: Mutex<JwtCacheInner>,
}

#[derive(Default)]
struct JwtCacheInner {
    /// Bumped by [`JwtCache::clear`]; a token minted before a clear is not stored after it.
    generation: u64,
    tokens: HashMap<JwtKey, (String, Instant)>,
}

#[derive(PartialEq, Eq, Hash)]
struct JwtKey {
    entry: EntryId,
    audience: Vec<String>,
}

/// Tokens kept at most; the cache is emptied when it would grow past this.
const JWT_CACHE_CAPACITY: usize = 4096;

impl JwtCache {
    /// Forgets every token (the signing keys changed).
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.tokens.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JwtCacheInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One token per entry for `audience`, from the cache or minted (on a blocking thread).
    pub(crate) async fn tokens(
        &self,
        issuer: &Issuer,
        entries: &[(EntryId, Arc<RegistrationEntry>)],
        audience: &[String],
        default_ttl: Duration,
    ) -> Result<Vec<String>, Error> {
        let now = Instant::now();
        let (generation, found) = {
            let inner = self.lock();
            let found: Vec<Option<String>> = entries
                .iter()
                .map(|(id, _)| {
                    let key = JwtKey {
                        entry: *id,
                        audience: audience.to_vec(),
                    };
                    inner
                        .tokens
                        .get(&key)
                        .filter(|(_, refresh)| *refresh > now)
                        .map(|(token, _)| token.clone())
                })
                .collect();
            (inner.generation, found)
        };
        let missing: Vec<(EntryId, Arc<RegistrationEntry>)> = entries
            .iter()
            .zip(&found)
            .filter(|(_, token)| token.is_none())
            .map(|(entry, _)| entry.clone())
            .collect();
        if missing.is_empty() {
            return Ok(found.into_iter().flatten().collect());
        }
        let minted = match issuer {
            Issuer::Ca(ca) => mint_jwts_with_ca(ca, missing, audience, default_ttl).await?,
            Issuer::Upstream(upstream) => {
                let mut minted = Vec::with_capacity(missing.len());
                for (id, entry) in missing {
                    let (token, refresh) =
                        crate::upstream::mint_jwt(upstream, &entry, audience).await?;
                    minted.push((id, token, refresh));
                }
                minted
            }
        };
        Ok(self.store(generation, now, audience, minted, found))
    }

    /// Stores freshly minted tokens (unless cleared meanwhile) and fills the gaps of `found`.
    fn store(
        &self,
        generation: u64,
        now: Instant,
        audience: &[String],
        minted: Vec<(EntryId, String, Instant)>,
        mut found: Vec<Option<String>>,
    ) -> Vec<String> {
        let mut inner = self.lock();
        let store = inner.generation == generation;
        if store && inner.tokens.len() + minted.len() > JWT_CACHE_CAPACITY {
            inner.tokens.retain(|_, (_, refresh)| *refresh > now);
            if inner.tokens.len() + minted.len() > JWT_CACHE_CAPACITY {
                inner.tokens.clear();
            }
        }
        let mut minted = minted.into_iter();
        for slot in &mut found {
            if slot.is_some() {
                continue;
            }
            if let Some((id, token, refresh)) = minted.next() {
                if store {
                    let key = JwtKey {
                        entry: id,
                        audience: audience.to_vec(),
                    };
                    inner.tokens.insert(key, (token.clone(), refresh));
                }
                *slot = Some(token);
            }
        }
        found.into_iter().flatten().collect()
    }
}

/// Mints JWT-SVIDs with the agent's own CA, on a blocking thread.
async fn mint_jwts_with_ca(
    ca: &CertificateAuthority,
    missing: Vec<(EntryId, Arc<RegistrationEntry>)>,
    audience: &[String],
    default_ttl: Duration,
) -> Result<Vec<(EntryId, String, Instant)>, Error> {
    let ca = ca.clone();
    let audience_owned = audience.to_vec();
    let minted = tokio::task::spawn_blocking(move || {
        missing
            .into_iter()
            .map(|(id, entry)| {
                let ttl = entry.jwt_ttl().unwrap_or(default_ttl);
                let lifetime = effective_lifetime(&ca, AuthorityKind::Jwt, ttl);
                let request =
                    JwtSvidRequest::new(entry.spiffe_id().clone(), audience_owned.clone()).ttl(ttl);
                let token = ca
                    .mint_jwt_svid(&request, SystemTime::now())
                    .map_err(|source| {
                        crate::metrics::mint_failed();
                        Error::Mint {
                            spiffe_id: entry.spiffe_id().clone(),
                            source,
                        }
                    })?;
                crate::metrics::jwt_svid_issued();
                Ok((id, token, refresh_time(Instant::now(), lifetime)))
            })
            .collect::<Result<Vec<_>, Error>>()
    })
    .await
    .map_err(|_| Error::ShutDown)??;
    Ok(minted)
}
