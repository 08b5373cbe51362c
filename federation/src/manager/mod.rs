//! [`FederationManager`]: one task per federation relationship that keeps the peer's bundle
//! fresh, and one [`BundleSet`] of every peer's last good bundle for verifiers to use.
//!
//! Each relationship polls its endpoint as [`RefreshPolicy`] says, judges each fetched bundle
//! with [`SequencePolicy`], and keeps the last good bundle through failures (endpoint down,
//! bad document, refused sequence): a failure never removes trust that was established. The
//! set is rebuilt only when a bundle changes, so its generation moves exactly then and caches
//! keyed on it drop stale results at once. Removing a relationship removes its bundle from
//! the set (Federation 6, "terminate"; digest 7.6).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use spiffe_id::TrustDomain;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use trust_bundle::{BundleSet, SpiffeBundle};

mod fetcher;
#[cfg(feature = "store")]
mod persist;
mod schedule;
mod sequence;

pub use fetcher::{EndpointFetcher, LatestBundle};
#[cfg(feature = "store")]
pub use persist::StoreLastGood;
pub use schedule::{DEFAULT_REFRESH_HINT, RefreshPolicy};
pub use sequence::{SequencePolicy, Verdict, judge};

use schedule::random_unit;

/// Why a fetch failed, as the fetcher says it (shown in status and logs).
pub type FetchError = Box<dyn std::error::Error + Send + Sync>;

/// A fetch in progress.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<SpiffeBundle, FetchError>> + Send + 'a>>;

/// Fetches one peer's bundle document.
pub trait BundleFetcher: Send + Sync + 'static {
    /// One fetch, bounded in time and size by the fetcher.
    fn fetch(&self) -> FetchFuture<'_>;

    /// The endpoint, for status and logs (URL and profile; never a secret).
    fn endpoint(&self) -> String;

    /// Called with each bundle the manager takes (fetched, or loaded as the last good one),
    /// so that a self-serving `https_spiffe` endpoint is authenticated with it from then on
    /// (digest 7.4). Nothing by default.
    fn taken(&self, bundle: &SpiffeBundle) {
        let _ = bundle;
    }
}

/// Where each relationship's last good bundle survives a restart (the agent's or server's
/// store). Called from a blocking thread.
pub trait LastGoodStore: Send + Sync + 'static {
    /// The bundle saved for `trust_domain`, if any.
    fn load(&self, trust_domain: &TrustDomain) -> Option<SpiffeBundle>;
    /// Saves `bundle` as the last good one of its trust domain; a failure is logged by the
    /// implementation, the bundle is used anyway.
    fn save(&self, bundle: &SpiffeBundle);
}

/// One federation relationship: whose bundle, fetched how, refreshed how.
pub struct Relationship {
    trust_domain: TrustDomain,
    fetcher: Arc<dyn BundleFetcher>,
    refresh: RefreshPolicy,
    sequence: SequencePolicy,
}

impl core::fmt::Debug for Relationship {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Relationship")
            .field("trust_domain", &self.trust_domain)
            .field("endpoint", &self.fetcher.endpoint())
            .field("refresh", &self.refresh)
            .field("sequence", &self.sequence)
            .finish()
    }
}

impl Relationship {
    /// `trust_domain`'s bundle through `fetcher`, with the default refresh bounds and lower
    /// sequences refused.
    pub fn new(trust_domain: TrustDomain, fetcher: Arc<dyn BundleFetcher>) -> Self {
        Self {
            trust_domain,
            fetcher,
            refresh: RefreshPolicy::default(),
            sequence: SequencePolicy::default(),
        }
    }

    /// How often to poll.
    #[must_use]
    pub fn refresh(mut self, policy: RefreshPolicy) -> Self {
        self.refresh = policy;
        self
    }

    /// What to do with a lower `spiffe_sequence`.
    #[must_use]
    pub fn sequence_policy(mut self, policy: SequencePolicy) -> Self {
        self.sequence = policy;
        self
    }
}

/// What an operator sees of a relationship.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelationshipStatus {
    /// The peer trust domain.
    pub trust_domain: TrustDomain,
    /// Its endpoint (URL and profile).
    pub endpoint: String,
    /// The held bundle's `spiffe_sequence`, if a bundle is held and has one.
    pub sequence: Option<u64>,
    /// Whether a bundle is held (fetched, or loaded from the last-good store).
    pub has_bundle: bool,
    /// When the last fetch was attempted.
    pub last_attempt: Option<SystemTime>,
    /// When a fetch last succeeded (the bundle was taken or unchanged).
    pub last_success: Option<SystemTime>,
    /// Why the last attempt did not update the bundle, if it did not (cleared on success).
    pub last_error: Option<String>,
    /// The sequence of the last bundle refused for being lower than the held one.
    pub refused_sequence: Option<u64>,
    /// Failed attempts in a row.
    pub consecutive_failures: u32,
    /// When the next fetch is due.
    pub next_attempt: Option<SystemTime>,
}

/// Keeps every relationship's bundle fresh; see the module docs.
///
/// ```
/// use std::sync::Arc;
/// use federation::manager::{BundleFetcher, FederationManager, FetchFuture, Relationship};
/// use trust_bundle::SpiffeBundle;
///
/// /// A fetcher that always answers with one document (real ones: `EndpointFetcher`).
/// struct Fixed(SpiffeBundle);
///
/// impl BundleFetcher for Fixed {
///     fn fetch(&self) -> FetchFuture<'_> {
///         Box::pin(async move { Ok(self.0.clone()) })
///     }
///     fn endpoint(&self) -> String {
///         "https://partner.example/bundle (https_web)".to_owned()
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let partner = "partner.example".parse()?;
/// let document = SpiffeBundle::parse(
///     "partner.example".parse()?,
///     r#"{"keys": [], "spiffe_sequence": 7, "spiffe_refresh_hint": 300}"#,
/// )?;
/// let manager = FederationManager::new();
/// let mut bundles = manager.subscribe(); // what verifiers watch
/// manager.add(Relationship::new(partner, Arc::new(Fixed(document))));
/// while !bundles.borrow_and_update().contains("partner.example") {
///     bundles.changed().await?;
/// }
/// let status = &manager.statuses()[0];
/// assert_eq!(status.sequence, Some(7));
/// assert!(status.last_error.is_none());
/// # Ok(())
/// # }
/// ```
pub struct FederationManager {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for FederationManager {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FederationManager")
            .field("relationships", &self.statuses().len())
            .finish_non_exhaustive()
    }
}

struct Shared {
    bundles: watch::Sender<BundleSet>,
    store: Option<Arc<dyn LastGoodStore>>,
    relationships: Mutex<BTreeMap<TrustDomain, Slot>>,
}

/// A relationship's state and its task.
struct Slot {
    status: RelationshipStatus,
    held: Option<Arc<SpiffeBundle>>,
    /// An operator allowed the next lower sequence.
    reset: bool,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Default for FederationManager {
    fn default() -> Self {
        Self::new()
    }
}

impl FederationManager {
    /// A manager without relationships; bundles live in memory only.
    pub fn new() -> Self {
        Self::build(None)
    }

    /// A manager that loads each relationship's last good bundle from `store` when it is
    /// added and saves every bundle it takes.
    pub fn with_store(store: Arc<dyn LastGoodStore>) -> Self {
        Self::build(Some(store))
    }

    fn build(store: Option<Arc<dyn LastGoodStore>>) -> Self {
        let (bundles, _) = watch::channel(BundleSet::new());
        Self {
            shared: Arc::new(Shared {
                bundles,
                store,
                relationships: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Starts `relationship` (on the current tokio runtime), replacing any relationship with
    /// the same trust domain. Its last good bundle, when the store has one, is served at once.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn add(&self, relationship: Relationship) {
        let Relationship {
            trust_domain,
            fetcher,
            refresh,
            sequence,
        } = relationship;
        let saved = self
            .shared
            .store
            .as_ref()
            .and_then(|store| store.load(&trust_domain))
            .filter(|bundle| bundle.trust_domain() == &trust_domain)
            .map(Arc::new);
        if let Some(saved) = &saved {
            fetcher.taken(saved);
        }
        let wake = Arc::new(Notify::new());
        let status = RelationshipStatus {
            trust_domain: trust_domain.clone(),
            endpoint: fetcher.endpoint(),
            sequence: saved.as_ref().and_then(|b| b.sequence()),
            has_bundle: saved.is_some(),
            last_attempt: None,
            last_success: None,
            last_error: None,
            refused_sequence: None,
            consecutive_failures: 0,
            next_attempt: Some(SystemTime::now()),
        };
        let task = tokio::spawn(run(
            Arc::downgrade(&self.shared),
            trust_domain.clone(),
            fetcher,
            refresh,
            sequence,
            Arc::clone(&wake),
        ));
        let slot = Slot {
            status,
            held: saved,
            reset: false,
            wake,
            task,
        };
        let previous = self.shared.lock().insert(trust_domain, slot);
        if let Some(previous) = previous {
            previous.task.abort();
        }
        self.shared.publish();
    }

    /// Stops the relationship with `trust_domain` and removes its bundle from the set, so
    /// verifiers stop accepting that trust domain (digest 7.6). `false` if there was none.
    pub fn remove(&self, trust_domain: &TrustDomain) -> bool {
        let removed = self.shared.lock().remove(trust_domain);
        match removed {
            Some(slot) => {
                slot.task.abort();
                self.shared.publish();
                true
            }
            None => false,
        }
    }

    /// The current set of peer bundles, updated on every change.
    pub fn subscribe(&self) -> watch::Receiver<BundleSet> {
        self.shared.bundles.subscribe()
    }

    /// The current set of peer bundles.
    pub fn bundles(&self) -> BundleSet {
        self.shared.bundles.borrow().clone()
    }

    /// Every relationship's status, by trust domain.
    pub fn statuses(&self) -> Vec<RelationshipStatus> {
        self.shared
            .lock()
            .values()
            .map(|slot| slot.status.clone())
            .collect()
    }

    /// Lets the next fetched bundle of `trust_domain` replace the held one even with a lower
    /// `spiffe_sequence` (a peer rebuilt on a new database), and fetches now. `false` if
    /// there is no such relationship.
    pub fn reset_sequence(&self, trust_domain: &TrustDomain) -> bool {
        let mut relationships = self.shared.lock();
        let Some(slot) = relationships.get_mut(trust_domain) else {
            return false;
        };
        slot.reset = true;
        slot.wake.notify_one();
        true
    }

    /// Fetches `trust_domain`'s bundle now instead of at its next refresh. `false` if there is
    /// no such relationship.
    pub fn refresh_now(&self, trust_domain: &TrustDomain) -> bool {
        let relationships = self.shared.lock();
        let Some(slot) = relationships.get(trust_domain) else {
            return false;
        };
        slot.wake.notify_one();
        true
    }
}

impl FederationManager {
    /// Stops every relationship's task; the bundles held stay in the set (a shutdown, not a
    /// de-federation: see [`remove`](Self::remove) for that). Dropping the manager does the
    /// same.
    pub fn stop(&self) {
        for slot in self.shared.lock().values() {
            slot.task.abort();
        }
    }
}

impl Drop for FederationManager {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<TrustDomain, Slot>> {
        self.relationships
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Rebuilds the set from the held bundles and sends it (a new generation).
    fn publish(&self) {
        let held: Vec<Arc<SpiffeBundle>> = self
            .lock()
            .values()
            .filter_map(|slot| slot.held.clone())
            .collect();
        // Keys are distinct trust domains, so building cannot fail; keep the old set if it did.
        if let Ok(set) = BundleSet::from_bundles(held) {
            self.bundles.send_replace(set);
        }
    }
}

/// What one attempt did, for the schedule.
enum Outcome {
    /// Fetched (taken, unchanged or refused): poll again at the interval.
    Fetched,
    /// Failed: back off.
    Failed,
}

/// A relationship's loop: fetch, judge, publish, wait; ends when the manager is dropped or
/// the relationship removed (the task is aborted).
async fn run(
    shared: std::sync::Weak<Shared>,
    trust_domain: TrustDomain,
    fetcher: Arc<dyn BundleFetcher>,
    refresh: RefreshPolicy,
    sequence: SequencePolicy,
    wake: Arc<Notify>,
) {
    let mut failures = 0_u32;
    loop {
        let fetched = fetcher.fetch().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let outcome = attempt(&shared, &trust_domain, &*fetcher, fetched, sequence).await;
        let hint = {
            let relationships = shared.lock();
            relationships
                .get(&trust_domain)
                .and_then(|slot| slot.held.as_ref().and_then(|b| b.refresh_hint()))
        };
        let wait = match outcome {
            Outcome::Fetched => {
                failures = 0;
                refresh.after_success(hint, random_unit())
            }
            Outcome::Failed => {
                failures = failures.saturating_add(1);
                refresh.after_failure(hint, failures, random_unit())
            }
        };
        if let Some(slot) = shared.lock().get_mut(&trust_domain) {
            slot.status.consecutive_failures = failures;
            slot.status.next_attempt = SystemTime::now().checked_add(wait);
        }
        drop(shared);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
        }
    }
}

/// Records one fetch: takes, keeps or refuses the bundle, updates status, metrics and logs.
async fn attempt(
    shared: &Arc<Shared>,
    trust_domain: &TrustDomain,
    fetcher: &dyn BundleFetcher,
    fetched: Result<SpiffeBundle, FetchError>,
    policy: SequencePolicy,
) -> Outcome {
    let now = SystemTime::now();
    let endpoint = fetcher.endpoint();
    let bundle = match fetched {
        Ok(bundle) if bundle.trust_domain() == trust_domain => bundle,
        Ok(bundle) => {
            let reason = format!(
                "the endpoint served a bundle for {}, not {trust_domain}",
                bundle.trust_domain()
            );
            return failed(shared, trust_domain, &endpoint, now, reason);
        }
        Err(error) => return failed(shared, trust_domain, &endpoint, now, error.to_string()),
    };
    let (verdict, taken) = {
        let mut relationships = shared.lock();
        let Some(slot) = relationships.get_mut(trust_domain) else {
            return Outcome::Fetched;
        };
        let verdict = judge(slot.held.as_deref(), &bundle, policy, slot.reset);
        slot.status.last_attempt = Some(now);
        let taken = match verdict {
            Verdict::Update | Verdict::AcceptedLowerSequence { .. } => {
                let bundle = Arc::new(bundle);
                slot.held = Some(Arc::clone(&bundle));
                slot.reset = false;
                slot.status.sequence = bundle.sequence();
                slot.status.has_bundle = true;
                slot.status.last_success = Some(now);
                slot.status.last_error = None;
                slot.status.refused_sequence = None;
                Some(bundle)
            }
            Verdict::Unchanged => {
                slot.status.last_success = Some(now);
                slot.status.last_error = None;
                None
            }
            Verdict::RefusedLowerSequence { held, fetched } => {
                slot.status.refused_sequence = Some(fetched);
                slot.status.last_error = Some(format!(
                    "refused a bundle with spiffe_sequence {fetched}, lower than the held {held} \
                     (a rollback, or a peer rebuilt: reset the sequence to accept it)"
                ));
                None
            }
        };
        (verdict, taken)
    };
    log_fetch(trust_domain, &endpoint, verdict);
    if let Some(bundle) = taken {
        fetcher.taken(&bundle);
        shared.publish();
        if let Some(store) = shared.store.clone() {
            let saved = Arc::clone(&bundle);
            // The store may block (SQLite, PostgreSQL); a failure is the store's to log.
            let _ = tokio::task::spawn_blocking(move || store.save(&saved)).await;
        }
    }
    Outcome::Fetched
}

/// Records a failed attempt; the held bundle stays.
fn failed(
    shared: &Shared,
    trust_domain: &TrustDomain,
    endpoint: &str,
    now: SystemTime,
    reason: String,
) -> Outcome {
    tracing::warn!(
        target: "spiffekit_federation",
        trust_domain = %trust_domain,
        endpoint,
        reason = %reason,
        "bundle fetch failed; the last good bundle stays in use"
    );
    metrics::counter!(
        "spiffe_federation_fetches_total",
        "trust_domain" => trust_domain.to_string(),
        "result" => "error"
    )
    .increment(1);
    if let Some(slot) = shared.lock().get_mut(trust_domain) {
        slot.status.last_attempt = Some(now);
        slot.status.last_error = Some(reason);
    }
    Outcome::Failed
}

/// Every fetch is logged, for forensics (digest 7.7), and counted.
fn log_fetch(trust_domain: &TrustDomain, endpoint: &str, verdict: Verdict) {
    let result = match verdict {
        Verdict::Update => "updated",
        Verdict::AcceptedLowerSequence { .. } => "accepted_lower_sequence",
        Verdict::Unchanged => "unchanged",
        Verdict::RefusedLowerSequence { .. } => "refused_lower_sequence",
    };
    match verdict {
        Verdict::RefusedLowerSequence { held, fetched } => tracing::warn!(
            target: "spiffekit_federation",
            trust_domain = %trust_domain, endpoint, held, fetched,
            "refused a bundle with a lower spiffe_sequence; keeping the held one"
        ),
        Verdict::AcceptedLowerSequence { held, fetched } => tracing::warn!(
            target: "spiffekit_federation",
            trust_domain = %trust_domain, endpoint, held, fetched,
            "accepted a bundle with a lower spiffe_sequence"
        ),
        _ => tracing::info!(
            target: "spiffekit_federation",
            trust_domain = %trust_domain, endpoint, result,
            "bundle fetched"
        ),
    }
    metrics::counter!(
        "spiffe_federation_fetches_total",
        "trust_domain" => trust_domain.to_string(),
        "result" => result
    )
    .increment(1);
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::Duration;

    use super::*;

    fn td(name: &str) -> TrustDomain {
        name.parse().unwrap()
    }

    /// A bundle of `trust_domain` with `sequence` and a 60 s hint; `key` tells contents apart.
    fn bundle(trust_domain: &str, sequence: u64, key: &str) -> SpiffeBundle {
        SpiffeBundle::parse(
            td(trust_domain),
            format!(
                r#"{{"keys":[{{"kty":"EC","use":"jwt-svid","kid":"{key}","crv":"P-256",
                "x":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",
                "y":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"}}],
                "spiffe_refresh_hint":60,"spiffe_sequence":{sequence}}}"#
            ),
        )
        .unwrap()
    }

    /// Answers each fetch with the next scripted result, waiting for one when none is left.
    #[derive(Default)]
    struct Scripted {
        queue: Mutex<VecDeque<Result<SpiffeBundle, String>>>,
        pushed: Notify,
    }

    impl Scripted {
        fn push(&self, result: Result<SpiffeBundle, &str>) {
            self.queue
                .lock()
                .unwrap()
                .push_back(result.map_err(str::to_owned));
            self.pushed.notify_one();
        }
    }

    impl BundleFetcher for Scripted {
        fn fetch(&self) -> FetchFuture<'_> {
            Box::pin(async move {
                loop {
                    let next = self.queue.lock().unwrap().pop_front();
                    if let Some(result) = next {
                        return result.map_err(FetchError::from);
                    }
                    self.pushed.notified().await;
                }
            })
        }

        fn endpoint(&self) -> String {
            "https://peer.example/bundle (https_web)".to_owned()
        }
    }

    #[derive(Default)]
    struct MemoryStore(Mutex<BTreeMap<TrustDomain, SpiffeBundle>>);

    impl LastGoodStore for MemoryStore {
        fn load(&self, trust_domain: &TrustDomain) -> Option<SpiffeBundle> {
            self.0.lock().unwrap().get(trust_domain).cloned()
        }
        fn save(&self, bundle: &SpiffeBundle) {
            self.0
                .lock()
                .unwrap()
                .insert(bundle.trust_domain().clone(), bundle.clone());
        }
    }

    fn status(manager: &FederationManager) -> RelationshipStatus {
        manager.statuses().pop().unwrap()
    }

    /// Waits (in paused time) until `done` holds.
    async fn until(manager: &FederationManager, done: impl Fn(&RelationshipStatus) -> bool) {
        // Paused time: up to ~3 hours of the manager's schedule, in 100 ms steps.
        for _ in 0..100_000 {
            if done(&status(manager)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached: {:?}", status(manager));
    }

    /// Digest 7.6: a fetched bundle reaches the set; each change is a new generation, an
    /// unchanged fetch is not; a failure keeps the last good bundle and says why.
    #[tokio::test(start_paused = true)]
    async fn bundles_update_and_survive_failures() {
        let peer = Arc::new(Scripted::default());
        let manager = FederationManager::new();
        let mut updates = manager.subscribe();
        manager.add(Relationship::new(td("peer.example"), peer.clone()));
        peer.push(Ok(bundle("peer.example", 1, "k1")));
        updates.changed().await.unwrap();
        while manager.bundles().get("peer.example").is_none() {
            updates.changed().await.unwrap();
        }
        let first = manager.bundles();
        assert_eq!(first.get("peer.example").unwrap().sequence(), Some(1));

        peer.push(Ok(bundle("peer.example", 1, "k1")));
        peer.push(Err("connection refused"));
        until(&manager, |s| s.last_error.is_some()).await;
        assert_eq!(
            manager.bundles().generation(),
            first.generation(),
            "unchanged"
        );
        let s = status(&manager);
        assert_eq!(s.consecutive_failures, 1);
        assert!(s.has_bundle && s.sequence == Some(1));
        assert!(s.last_error.unwrap().contains("connection refused"));

        peer.push(Ok(bundle("peer.example", 2, "k2")));
        until(&manager, |s| s.sequence == Some(2)).await;
        let second = manager.bundles();
        assert_ne!(second.generation(), first.generation());
        assert!(
            second
                .get("peer.example")
                .unwrap()
                .jwt_bundle()
                .key("k2")
                .is_some()
        );
        assert_eq!(status(&manager).last_error, None);
    }

    /// Digest 7.5 [rec]: a lower sequence is refused by default and reported; an operator's
    /// reset lets the next one in.
    #[tokio::test(start_paused = true)]
    async fn a_lower_sequence_is_refused_until_reset() {
        let peer = Arc::new(Scripted::default());
        let manager = FederationManager::new();
        manager.add(Relationship::new(td("peer.example"), peer.clone()));
        peer.push(Ok(bundle("peer.example", 5, "k5")));
        until(&manager, |s| s.sequence == Some(5)).await;
        peer.push(Ok(bundle("peer.example", 1, "rebuilt")));
        until(&manager, |s| s.refused_sequence == Some(1)).await;
        let s = status(&manager);
        assert_eq!(s.sequence, Some(5));
        assert!(s.last_error.unwrap().contains("lower"));

        assert!(manager.reset_sequence(&td("peer.example")));
        peer.push(Ok(bundle("peer.example", 1, "rebuilt")));
        until(&manager, |s| s.sequence == Some(1)).await;
        assert!(
            manager
                .bundles()
                .get("peer.example")
                .unwrap()
                .jwt_bundle()
                .key("rebuilt")
                .is_some()
        );
        // The reset is spent: a lower one again is refused.
        peer.push(Ok(bundle("peer.example", 0, "older")));
        until(&manager, |s| s.refused_sequence == Some(0)).await;
    }

    /// Digest 7.2, 7.7: a document for another trust domain never enters the set.
    #[tokio::test(start_paused = true)]
    async fn a_bundle_for_another_trust_domain_is_refused() {
        let peer = Arc::new(Scripted::default());
        let manager = FederationManager::new();
        manager.add(Relationship::new(td("peer.example"), peer.clone()));
        peer.push(Ok(bundle("evil.example", 9, "k")));
        until(&manager, |s| s.last_error.is_some()).await;
        assert!(
            status(&manager)
                .last_error
                .unwrap()
                .contains("evil.example")
        );
        assert!(manager.bundles().is_empty());
    }

    /// Digest 7.6: removing a relationship removes its bundle; the last good bundle is saved
    /// and served again by a new manager before its first fetch succeeds.
    #[tokio::test(start_paused = true)]
    async fn the_last_good_bundle_survives_a_restart_and_removal_ends_trust() {
        let store = Arc::new(MemoryStore::default());
        let peer = Arc::new(Scripted::default());
        let manager = FederationManager::with_store(store.clone());
        manager.add(Relationship::new(td("peer.example"), peer.clone()));
        peer.push(Ok(bundle("peer.example", 3, "k3")));
        until(&manager, |s| s.sequence == Some(3)).await;
        for _ in 0..100 {
            if store.load(&td("peer.example")).is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(store.load(&td("peer.example")).unwrap().sequence(), Some(3));
        drop(manager);

        let restarted = FederationManager::with_store(store);
        let down = Arc::new(Scripted::default());
        restarted.add(Relationship::new(td("peer.example"), down.clone()));
        down.push(Err("endpoint down"));
        until(&restarted, |s| s.last_error.is_some()).await;
        assert_eq!(
            restarted.bundles().get("peer.example").unwrap().sequence(),
            Some(3)
        );

        assert!(restarted.remove(&td("peer.example")));
        assert!(restarted.bundles().is_empty());
        assert!(restarted.statuses().is_empty());
        assert!(!restarted.remove(&td("peer.example")));
    }
}
