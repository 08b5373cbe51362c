//! The one watch supervisor every source runs: keep a stream open, apply valid updates as
//! immutable snapshots, reconnect with backoff, stop serving what expired.
//!
//! Rules (Workload API 4.2-4.5, Appendix A; Workload Endpoint 6; digest 5.8-5.14):
//! - a stream that ends cleanly after delivering an update is reopened at once; one that ends
//!   without delivering anything, or fails, is reopened after an exponential backoff with
//!   jitter, capped, and reset only after a valid update was applied;
//! - InvalidArgument and Unimplemented stop the watch for good (W-API-10);
//! - PermissionDenied withdraws everything received so far by default (the spec's "stop using
//!   the SVIDs"), configurable through [`PermissionDeniedPolicy`];
//! - an invalid message is discarded and the last good state kept; an update equal to the
//!   current state is not published again (no spurious notifications);
//! - the last good state is served while the agent is away, but never past its expiry: a timer
//!   prunes expired SVIDs and clears the state when nothing valid is left.

use core::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::Client;
use crate::error::Error;
use crate::update_stream::UpdateStream;

/// What a source does when the agent answers PermissionDenied (no identity for this process).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PermissionDeniedPolicy {
    /// Stop serving everything received so far, as the specification says (Workload API
    /// 5.2.1: the workload must stop using the SVIDs it had; digest 5.7, 5.14). The default.
    #[default]
    Withdraw,
    /// Keep serving the last good state until it expires. For deployments that prefer
    /// availability when an agent briefly loses its registration entries.
    KeepUntilExpiry,
}

/// How a source watches the Workload API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceOptions {
    /// The first retry delay. Default 1 s (go-spiffe's first step).
    pub backoff_initial: Duration,
    /// The longest retry delay. Default 30 s (go-spiffe's cap).
    pub backoff_max: Duration,
    /// What PermissionDenied does to the current state. Default
    /// [`PermissionDeniedPolicy::Withdraw`].
    pub on_permission_denied: PermissionDeniedPolicy,
    /// How long `new` waits for the first usable update. Default 30 s.
    pub startup_timeout: Duration,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            on_permission_denied: PermissionDeniedPolicy::Withdraw,
            startup_timeout: Duration::from_secs(30),
        }
    }
}

/// Whether a source is serving a current state, and what went wrong last.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Health {
    /// The source has a state that has not expired.
    pub current: bool,
    /// The watch stopped for good (closed, or an error retrying cannot fix).
    pub stopped: bool,
    /// When the last valid update was applied (tokio clock).
    pub last_update: Option<Instant>,
    /// The last error since the last valid update, if any.
    pub last_error: Option<Arc<Error>>,
    /// How many times the stream was (re)opened.
    pub connects: u64,
}

impl Health {
    /// Current and still watching.
    pub fn is_healthy(&self) -> bool {
        self.current && !self.stopped
    }
}

/// A kind of update a source watches.
pub(crate) trait Watched: Send + Sync + Sized + 'static {
    type Config: Send + Sync + 'static;

    fn open(
        client: &Client,
        config: &Arc<Self::Config>,
    ) -> impl Future<Output = Result<UpdateStream<Self>, Error>> + Send;

    /// Same contents: publishing `self` after `other` would change nothing.
    fn same(&self, other: &Self) -> bool;

    /// When the first thing this state serves expires.
    fn expiry(&self) -> Option<SystemTime>;

    /// This state without what expired at `now`; `None` when nothing usable is left.
    fn prune(&self, now: SystemTime, config: &Self::Config) -> Option<Self>;

    /// Whether this state is what the application waits for at startup.
    fn is_ready(&self) -> bool;
}

/// One published state: immutable, swapped in whole.
pub(crate) struct Published<T> {
    pub(crate) value: T,
    pub(crate) generation: u64,
    /// The wall clock and the tokio clock when published: expiry is judged on the tokio clock
    /// (`wall + elapsed`), so paused-time tests can move past it.
    wall: SystemTime,
    at: Instant,
}

impl<T> Published<T> {
    fn now(&self) -> SystemTime {
        self.wall + self.at.elapsed()
    }

    fn deadline(&self, expiry: SystemTime) -> Instant {
        self.at + expiry.duration_since(self.wall).unwrap_or_default()
    }
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_generation() -> u64 {
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

#[derive(Default)]
struct HealthState {
    stopped: Option<Option<Arc<Error>>>,
    last_update: Option<Instant>,
    last_error: Option<Arc<Error>>,
    connects: u64,
}

/// What one source serves and reports, shared by its handle and its supervisor task: the
/// latest published value, the channel that announces a new one, and the watch's health.
pub(crate) struct SourceState<T> {
    current: ArcSwapOption<Published<T>>,
    notify: watch::Sender<u64>,
    health: Mutex<HealthState>,
}

impl<T: Watched> SourceState<T> {
    fn publish(&self, value: Option<T>) {
        let published = value.map(|value| {
            Arc::new(Published {
                value,
                generation: next_generation(),
                wall: SystemTime::now(),
                at: Instant::now(),
            })
        });
        let generation = published.as_ref().map_or(0, |p| p.generation);
        self.current.store(published);
        self.notify.send_replace(generation);
    }

    fn apply(&self, update: T) {
        {
            let mut health = self.lock();
            health.last_update = Some(Instant::now());
            health.last_error = None;
        }
        let unchanged = self
            .current
            .load()
            .as_ref()
            .is_some_and(|current| current.value.same(&update));
        if !unchanged {
            self.publish(Some(update));
        }
    }

    fn record(&self, error: Error) {
        tracing::debug!(%error, "workload api watch error");
        self.lock().last_error = Some(Arc::new(error));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HealthState> {
        match self.health.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The tokio instant at which the current state next needs pruning.
    fn next_deadline(&self) -> Option<Instant> {
        let current = self.current.load_full()?;
        let expiry = current.value.expiry()?;
        Some(current.deadline(expiry))
    }

    fn prune(&self, config: &T::Config) {
        let Some(current) = self.current.load_full() else {
            return;
        };
        let now = current.now();
        if current.value.expiry().is_some_and(|expiry| expiry <= now) {
            tracing::warn!("workload api state expired while the agent was unreachable");
            self.publish(current.value.prune(now, config));
        }
    }

    pub(crate) fn health(&self) -> Health {
        let current = self.current.load_full().is_some_and(|current| {
            current.value.is_ready()
                && current
                    .value
                    .expiry()
                    .is_none_or(|expiry| expiry > current.now())
        });
        let health = self.lock();
        Health {
            current,
            stopped: health.stopped.is_some(),
            last_update: health.last_update,
            last_error: health.last_error.clone(),
            connects: health.connects,
        }
    }
}

/// The running watch of one source: its [`SourceState`] plus the supervisor task. Dropping it
/// stops the task.
pub(crate) struct Watcher<T: Watched> {
    state: Arc<SourceState<T>>,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    endpoint: String,
}

impl<T: Watched> Watcher<T> {
    /// Starts watching. Must be called inside a tokio runtime.
    pub(crate) fn spawn(client: Client, config: Arc<T::Config>, options: SourceOptions) -> Self {
        let (notify, _) = watch::channel(0);
        let state = Arc::new(SourceState {
            current: ArcSwapOption::empty(),
            notify,
            health: Mutex::new(HealthState::default()),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let endpoint = client.endpoint().to_string();
        let task = tokio::spawn(supervise(
            client,
            Arc::clone(&state),
            config,
            options,
            shutdown_rx,
        ));
        Self {
            state,
            shutdown,
            task: Mutex::new(Some(task)),
            endpoint,
        }
    }

    /// Waits until the state is ready, the watch stops, or `timeout` passes.
    pub(crate) async fn wait_ready(&self, timeout: Duration) -> Result<(), Error> {
        let mut changes = self.state.notify.subscribe();
        let wait = async {
            loop {
                if self
                    .state
                    .current
                    .load()
                    .as_ref()
                    .is_some_and(|current| current.value.is_ready())
                {
                    return Ok(());
                }
                if let Some(cause) = self.state.lock().stopped.clone() {
                    return Err(Error::SourceStopped { cause });
                }
                if changes.changed().await.is_err() {
                    return Err(Error::SourceStopped { cause: None });
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) => Err(Error::StartupTimeout {
                endpoint: self.endpoint.clone(),
                waited: timeout,
                last_error: self.state.lock().last_error.clone(),
            }),
        }
    }

    pub(crate) fn current(&self) -> arc_swap::Guard<Option<Arc<Published<T>>>> {
        self.state.current.load()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.state.notify.subscribe()
    }

    pub(crate) fn health(&self) -> Health {
        self.state.health()
    }

    /// Stops the supervisor and waits for it to finish. Idempotent.
    pub(crate) async fn close(&self) {
        self.shutdown.send_replace(true);
        let task = match self.task.lock() {
            Ok(mut task) => task.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(task) = task {
            let _ = task.await;
        }
        let mut health = self.state.lock();
        if health.stopped.is_none() {
            health.stopped = Some(None);
        }
    }
}

impl<T: Watched> Drop for Watcher<T> {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        let task = match self.task.get_mut() {
            Ok(task) => task.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(task) = task {
            task.abort();
        }
    }
}

impl<T: Watched> fmt::Debug for Watcher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("endpoint", &self.endpoint)
            .field("health", &self.health())
            .finish()
    }
}

/// Exponential backoff with "equal jitter" (half fixed, half random), capped: never zero, so
/// a failing agent is never hammered, and spread so a fleet does not reconnect in lockstep.
struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    fn new(options: &SourceOptions) -> Self {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Self {
            initial: options.backoff_initial,
            max: options.backoff_max.max(options.backoff_initial),
            attempt: 0,
            rng: seed | 1,
        }
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }

    fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        let ceiling = self.initial.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64: jitter only, not security relevant.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let half = ceiling / 2;
        let fraction =
            f64::from(u32::try_from(self.rng >> 32).unwrap_or(u32::MAX)) / f64::from(u32::MAX);
        half + half.mul_f64(fraction)
    }
}

enum Outcome {
    Shutdown,
    Ended {
        delivered: bool,
        rpc: crate::error::Rpc,
    },
    Failed {
        error: Error,
        delivered: bool,
    },
}

async fn supervise<T: Watched>(
    client: Client,
    state: Arc<SourceState<T>>,
    config: Arc<T::Config>,
    options: SourceOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(&options);
    loop {
        let outcome = run_stream(&client, &state, &config, &mut shutdown).await;
        let (error, delivered) = match outcome {
            Outcome::Shutdown => return,
            Outcome::Ended { delivered, rpc } => (Error::StreamEnded { rpc }, delivered),
            Outcome::Failed { error, delivered } => (error, delivered),
        };
        if delivered {
            backoff.reset();
        }
        let ended_cleanly = matches!(error, Error::StreamEnded { .. });
        if !error.is_retryable() {
            tracing::error!(%error, "workload api watch stopped: retrying cannot help");
            let error = Arc::new(error);
            state.lock().stopped = Some(Some(Arc::clone(&error)));
            state.lock().last_error = Some(error);
            // Wake waiters so they see the stop.
            state.notify.send_modify(|_| {});
            return;
        }
        if error.is_permission_denied()
            && options.on_permission_denied == PermissionDeniedPolicy::Withdraw
        {
            tracing::warn!(%error, "workload api withdrew this workload's identities");
            state.publish(None);
        }
        state.record(error);
        if ended_cleanly && delivered {
            // Workload API 4.2: reconnect immediately after a stream that worked.
            continue;
        }
        let delay = backoff.next_delay();
        if wait(&state, &config, &mut shutdown, delay).await {
            return;
        }
    }
}

/// Sleeps `delay`, pruning expired state meanwhile. `true` on shutdown.
async fn wait<T: Watched>(
    state: &SourceState<T>,
    config: &T::Config,
    shutdown: &mut watch::Receiver<bool>,
    delay: Duration,
) -> bool {
    let until = Instant::now() + delay;
    loop {
        let deadline = state.next_deadline();
        tokio::select! {
            () = tokio::time::sleep_until(until) => return false,
            () = sleep_until_opt(deadline) => state.prune(config),
            _ = shutdown.changed() => return true,
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn run_stream<T: Watched>(
    client: &Client,
    state: &SourceState<T>,
    config: &Arc<T::Config>,
    shutdown: &mut watch::Receiver<bool>,
) -> Outcome {
    if *shutdown.borrow() {
        return Outcome::Shutdown;
    }
    state.lock().connects += 1;
    let opened = tokio::select! {
        opened = T::open(client, config) => opened,
        _ = shutdown.changed() => return Outcome::Shutdown,
    };
    let mut stream = match opened {
        Ok(stream) => stream,
        Err(error) => {
            return Outcome::Failed {
                error,
                delivered: false,
            };
        }
    };
    let mut delivered = false;
    loop {
        let deadline = state.next_deadline();
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(update)) => {
                    delivered = true;
                    state.apply(update);
                }
                // A bad message is discarded; the stream and the last good state stay.
                Some(Err(error @ Error::InvalidResponse { .. })) => {
                    tracing::warn!(%error, "discarding invalid workload api message");
                    state.record(error);
                }
                Some(Err(error)) => return Outcome::Failed { error, delivered },
                None => return Outcome::Ended { delivered, rpc: stream.rpc() },
            },
            () = sleep_until_opt(deadline) => state.prune(config),
            _ = shutdown.changed() => return Outcome::Shutdown,
        }
    }
}
