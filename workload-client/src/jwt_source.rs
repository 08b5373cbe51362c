//! [`JwtSource`]: cached JWT-SVIDs and current JWT bundles.

use core::fmt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use spiffe_id::{SpiffeId, TrustDomain};
use tokio::sync::watch;
use tokio::time::Instant;
use trust_bundle::{JwtBundle, JwtBundleSource};

use crate::bundle_source::JwtBundles;
use crate::client::Client;
use crate::error::Error;
use crate::types::JwtSvid;
use crate::watch::{Health, SourceOptions, Watcher};

/// The most cached JWT-SVIDs; when full, the entry closest to its refresh time is evicted.
/// Each entry is a token of about 1 KiB; distinct (identity, audience set) pairs of one
/// workload number in the tens.
pub const DEFAULT_JWT_CACHE_CAPACITY: usize = 1024;

/// What a cached token is filed under: the requested SPIFFE ID (or none for the default) and
/// the sorted, de-duplicated audience set. A structured key, so `{"ab","cd"}` and
/// `{"a","bcd"}` never collide (the bug of spiffe/spire#4309).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CacheKey {
    spiffe_id: Option<SpiffeId>,
    audience: Vec<String>,
}

struct CacheEntry {
    svid: Arc<JwtSvid>,
    /// Half-life: from here on, the next request fetches a fresh token.
    refresh_at: Instant,
    /// Past this the token is never served.
    expires_at: Instant,
}

/// What the fetch for one key ends with, as handed to the callers that waited for it.
type Outcome = Result<Arc<JwtSvid>, Arc<Error>>;

/// The cache and the fetches under way, under one lock so that a caller sees either a cached
/// token or the fetch that will produce it, never neither (which would start a second fetch).
#[derive(Default)]
struct State {
    cache: HashMap<CacheKey, CacheEntry>,
    /// One entry per key whose `FetchJWTSVID` call is under way; callers that miss the cache
    /// subscribe and wait for its outcome (`None` until then).
    in_flight: HashMap<CacheKey, watch::Receiver<Option<Outcome>>>,
}

/// JWT-SVIDs minted by the agent, cached per (SPIFFE ID, audience set) and refreshed at
/// half-life, plus the JWT bundles of a `FetchJWTBundles` stream.
///
/// Hot paths call [`fetch_jwt_svid`](Self::fetch_jwt_svid) per request: it returns the cached
/// token (a hash lookup) until half its lifetime has passed, then fetches a new one. If that
/// fetch fails, the cached token keeps being served until it expires. Implements
/// [`JwtBundleSource`] for local validation with [`svid::JwtValidator`].
///
/// Fetches are single-flight: however many tasks ask for the same key while nothing valid is
/// cached, one `FetchJWTSVID` call goes to the agent and the others wait for its result. While
/// a refresh is under way, callers get the still-valid cached token without waiting.
///
/// ```no_run
/// # async fn example() -> Result<(), workload_client::Error> {
/// use workload_client::{Client, Endpoint, JwtSource, SourceOptions};
///
/// let client = Client::builder(Endpoint::from_env()?).connect_lazy()?;
/// let source = JwtSource::new(client, SourceOptions::default()).await?;
/// let svid = source.fetch_jwt_svid(&["https://api.example.org"], None).await?;
/// let header = format!("Bearer {}", svid.token());
/// # let _ = header;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwtSource {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    bundles: Watcher<JwtBundles>,
    state: Mutex<State>,
    capacity: usize,
}

/// The fetch one caller leads for a key. Dropping it without [`finish`](Self::finish) (the
/// caller's future was cancelled) withdraws it, and the callers waiting on it start over.
struct Leader<'a> {
    source: &'a JwtSource,
    key: CacheKey,
    outcome: watch::Sender<Option<Outcome>>,
    finished: bool,
}

impl Leader<'_> {
    /// Caches a fresh token, withdraws the fetch and hands `result` to every waiting caller.
    /// The leader gets the fetch's own error when nobody waited, and otherwise the same
    /// [`Error::SharedFetch`] as the callers that waited.
    fn finish(
        mut self,
        fresh: Option<Arc<JwtSvid>>,
        result: Result<Arc<JwtSvid>, Error>,
    ) -> Result<Arc<JwtSvid>, Error> {
        {
            let mut state = self.source.lock();
            if let Some(svid) = fresh {
                self.source.insert(&mut state, self.key.clone(), svid);
            }
            state.in_flight.remove(&self.key);
        }
        self.finished = true;
        // The map's receiver is gone: what is left are the waiting callers.
        let waiting = self.outcome.receiver_count();
        match result {
            Ok(svid) => {
                self.outcome.send_replace(Some(Ok(Arc::clone(&svid))));
                Ok(svid)
            }
            Err(error) if waiting == 0 => Err(error),
            Err(error) => {
                let cause = Arc::new(error);
                self.outcome.send_replace(Some(Err(Arc::clone(&cause))));
                Err(Error::SharedFetch { cause })
            }
        }
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.source.lock().in_flight.remove(&self.key);
        }
    }
}

impl JwtSource {
    /// Starts the JWT bundle stream and waits for its first update.
    ///
    /// # Errors
    /// As [`X509Source::new`](crate::X509Source::new).
    pub async fn new(client: Client, options: SourceOptions) -> Result<Self, Error> {
        Self::with_capacity(client, options, DEFAULT_JWT_CACHE_CAPACITY).await
    }

    /// As [`new`](Self::new), with a cache of at most `capacity` tokens.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub async fn with_capacity(
        client: Client,
        options: SourceOptions,
        capacity: usize,
    ) -> Result<Self, Error> {
        let bundles = Watcher::spawn(client.clone(), Arc::new(()), options);
        bundles.wait_ready(options.startup_timeout).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                bundles,
                state: Mutex::new(State::default()),
                capacity: capacity.max(1),
            }),
        })
    }

    /// A JWT-SVID for `audience`, for `spiffe_id` or the default identity: from the cache when
    /// one was fetched less than half its lifetime ago, else freshly minted.
    ///
    /// Concurrent calls for the same key share one fetch (see the type's docs); the next call
    /// after a failed fetch tries again.
    ///
    /// # Errors
    /// As [`Client::fetch_jwt_svid`], only when nothing valid is cached. When other callers
    /// waited for the same failed fetch, each of them, and the caller that made it, gets
    /// [`Error::SharedFetch`] holding that one error.
    pub async fn fetch_jwt_svid<A: AsRef<str>>(
        &self,
        audience: &[A],
        spiffe_id: Option<&SpiffeId>,
    ) -> Result<Arc<JwtSvid>, Error> {
        let key = key(audience, spiffe_id);
        loop {
            let now = Instant::now();
            let (stale, role) = {
                let mut state = self.lock();
                let stale = match state.cache.get(&key) {
                    Some(entry) if now < entry.refresh_at => return Ok(Arc::clone(&entry.svid)),
                    Some(entry) if now < entry.expires_at => Some(Arc::clone(&entry.svid)),
                    _ => None,
                };
                match (state.in_flight.get(&key), stale) {
                    // A refresh is under way and the cached token is still valid: serve it.
                    (Some(_), Some(stale)) => return Ok(stale),
                    (Some(waiting), None) => (None, Err(waiting.clone())),
                    (None, stale) => {
                        let (outcome, waiting) = watch::channel(None);
                        state.in_flight.insert(key.clone(), waiting);
                        let leader = Leader {
                            source: self,
                            key: key.clone(),
                            outcome,
                            finished: false,
                        };
                        (stale, Ok(leader))
                    }
                }
            };
            let leader = match role {
                Ok(leader) => leader,
                Err(mut waiting) => {
                    let outcome = waiting
                        .wait_for(Option::is_some)
                        .await
                        .ok()
                        .and_then(|outcome| (*outcome).clone());
                    match outcome {
                        Some(Ok(svid)) => return Ok(svid),
                        Some(Err(cause)) => return Err(Error::SharedFetch { cause }),
                        // The leading caller was cancelled before the fetch ended: start over.
                        None => continue,
                    }
                }
            };
            return match self
                .inner
                .client
                .fetch_jwt_svid(&key.audience, spiffe_id)
                .await
            {
                Ok(svid) => {
                    let svid = Arc::new(svid);
                    leader.finish(Some(Arc::clone(&svid)), Ok(svid))
                }
                Err(error) => match stale {
                    Some(svid) => {
                        tracing::warn!(%error, "jwt-svid refresh failed; serving the cached token until it expires");
                        leader.finish(None, Ok(svid))
                    }
                    None => leader.finish(None, Err(error)),
                },
            };
        }
    }

    fn insert(&self, state: &mut State, key: CacheKey, svid: Arc<JwtSvid>) {
        let now = Instant::now();
        let wall = SystemTime::now();
        let remaining = svid.expires_at().duration_since(wall).unwrap_or_default();
        let elapsed = wall.duration_since(svid.issued_at()).unwrap_or_default();
        let half = svid.lifetime() / 2;
        let until_refresh = half.saturating_sub(elapsed).min(remaining);
        let entry = CacheEntry {
            svid,
            refresh_at: now + until_refresh,
            expires_at: now + remaining,
        };
        let cache = &mut state.cache;
        if cache.len() >= self.inner.capacity && !cache.contains_key(&key) {
            cache.retain(|_, entry| entry.expires_at > now);
            if cache.len() >= self.inner.capacity {
                let oldest = cache
                    .iter()
                    .min_by_key(|(_, entry)| entry.refresh_at)
                    .map(|(key, _)| key.clone());
                if let Some(oldest) = oldest {
                    cache.remove(&oldest);
                }
            }
        }
        cache.insert(key, entry);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.inner.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// How many tokens are cached.
    pub fn cached(&self) -> usize {
        self.lock().cache.len()
    }

    /// Asks the agent to validate a token (`ValidateJWTSVID`); see
    /// [`Client::validate_jwt_svid`]. Prefer local validation with [`svid::JwtValidator`] over
    /// this source (it implements [`JwtBundleSource`]) on hot paths.
    ///
    /// # Errors
    /// As [`Client::validate_jwt_svid`].
    pub async fn validate_jwt_svid(
        &self,
        audience: &str,
        token: &str,
    ) -> Result<crate::AgentVerifiedJwtSvid, Error> {
        self.inner.client.validate_jwt_svid(audience, token).await
    }

    /// Notified on every JWT bundle change.
    pub fn updated(&self) -> watch::Receiver<u64> {
        self.inner.bundles.subscribe()
    }

    /// Health of the JWT bundle stream.
    pub fn health(&self) -> Health {
        self.inner.bundles.health()
    }

    /// Stops the bundle stream and waits for it.
    pub async fn close(&self) {
        self.inner.bundles.close().await;
    }
}

fn key<A: AsRef<str>>(audience: &[A], spiffe_id: Option<&SpiffeId>) -> CacheKey {
    let mut audience: Vec<String> = audience.iter().map(|a| a.as_ref().to_owned()).collect();
    audience.sort_unstable();
    audience.dedup();
    CacheKey {
        spiffe_id: spiffe_id.cloned(),
        audience,
    }
}

impl JwtBundleSource for JwtSource {
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        self.inner
            .bundles
            .current()
            .as_ref()
            .and_then(|p| p.value.0.jwt_bundle(trust_domain))
    }

    fn generation(&self) -> u64 {
        self.inner
            .bundles
            .current()
            .as_ref()
            .map_or(0, |p| JwtBundleSource::generation(&p.value.0))
    }
}

impl fmt::Debug for JwtSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSource")
            .field("client", &self.inner.client)
            .field("bundles", &self.inner.bundles)
            .field("cached", &self.cached())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_is_order_insensitive_and_collision_free() {
        assert_eq!(key(&["b", "a", "a"], None), key(&["a", "b"], None));
        assert_ne!(key(&["ab", "cd"], None), key(&["a", "bcd"], None));
        let id: SpiffeId = "spiffe://example.org/web".parse().unwrap();
        assert_ne!(key(&["a"], Some(&id)), key(&["a"], None));
    }
}
