//! Minting through the server: keys and CSRs made here, SVIDs signed there.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use node_api::proto::X509SvidRequest;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::Upstream;
use crate::entry::RegistrationEntry;
use crate::error::Error;
use crate::refresh::refresh_time;
use crate::state::IssuedSvid;

/// Requests sent in one call (the server's batch limit is 1,000).
const BATCH: usize = 500;

/// The lifetime left from now until `expires_at` (seconds since the epoch).
fn lifetime_until(expires_at: i64) -> Duration {
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(expires_at).unwrap_or(0));
    at.duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

fn upstream_failure(entry: &RegistrationEntry, reason: impl Into<String>) -> Error {
    crate::metrics::mint_failed();
    Error::Upstream {
        spiffe_id: entry.spiffe_id().clone(),
        reason: reason.into(),
    }
}

/// X509-SVIDs for `entries` from the server, results in the order of `entries`.
pub(crate) async fn mint_x509(
    upstream: &Arc<Upstream>,
    entries: Vec<Arc<RegistrationEntry>>,
) -> Vec<Result<IssuedSvid, Error>> {
    let mut results = Vec::with_capacity(entries.len());
    for chunk in entries.chunks(BATCH) {
        let count = chunk.len();
        let keys = tokio::task::spawn_blocking(move || {
            (0..count)
                .map(|_| node_api::keys::new_key_and_csr())
                .collect::<Vec<_>>()
        })
        .await;
        let Ok(keys) = keys else {
            results.extend((0..count).map(|_| Err(Error::ShutDown)));
            continue;
        };
        let mut requests = Vec::with_capacity(count);
        let mut pending = Vec::with_capacity(count);
        for (entry, key) in chunk.iter().zip(keys) {
            match (entry.upstream_id(), key) {
                (Some(id), Ok(key)) => {
                    requests.push(X509SvidRequest {
                        entry_id: id.to_owned(),
                        csr: key.csr.clone(),
                    });
                    pending.push(Ok(key));
                }
                (None, _) => pending.push(Err(upstream_failure(
                    entry,
                    "the entry did not come from the server",
                ))),
                (_, Err(error)) => pending.push(Err(upstream_failure(entry, error.to_string()))),
            }
        }
        let answered = if requests.is_empty() {
            Ok(Vec::new())
        } else {
            upstream.client().mint_x509(requests).await
        };
        let mut answers = match answered {
            Ok(answers) => answers.into_iter(),
            Err(error) => {
                let reason = error.to_string();
                results.extend(
                    chunk
                        .iter()
                        .map(|entry| Err(upstream_failure(entry, reason.clone()))),
                );
                continue;
            }
        };
        for (entry, key) in chunk.iter().zip(pending) {
            let key = match key {
                Ok(key) => key,
                Err(error) => {
                    results.push(Err(error));
                    continue;
                }
            };
            let Some(answer) = answers.next() else {
                results.push(Err(upstream_failure(entry, "no answer")));
                continue;
            };
            if !answer.error.is_empty() || answer.chain.is_empty() {
                results.push(Err(upstream_failure(entry, answer.error)));
                continue;
            }
            crate::metrics::x509_svid_issued();
            let lifetime = lifetime_until(answer.expires_at);
            results.push(Ok(IssuedSvid {
                chain: answer.chain.concat(),
                key: Zeroizing::new(key.pkcs8.to_vec()),
                refresh_at: refresh_time(Instant::now(), lifetime),
            }));
        }
    }
    results
}

/// A JWT-SVID for `entry` from the server, with when to stop reusing it.
pub(crate) async fn mint_jwt(
    upstream: &Arc<Upstream>,
    entry: &RegistrationEntry,
    audience: &[String],
) -> Result<(String, Instant), Error> {
    let id = entry
        .upstream_id()
        .ok_or_else(|| upstream_failure(entry, "the entry did not come from the server"))?;
    let answer = upstream
        .client()
        .mint_jwt(id, audience)
        .await
        .map_err(|error| upstream_failure(entry, error.to_string()))?;
    crate::metrics::jwt_svid_issued();
    let lifetime = lifetime_until(answer.expires_at);
    Ok((answer.token, refresh_time(Instant::now(), lifetime)))
}
