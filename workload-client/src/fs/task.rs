//! The watch task and the state it publishes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use svid::{Crypto, X509Svid};
use tokio::sync::watch;
use trust_bundle::BundleSet;

use super::FsStatus;
use super::changes::DirWatch;
use super::load::{Layout, Loaded};
use crate::error::FsError;

/// The first delay before reading again after a failed load; it doubles up to the poll
/// interval. Short: an inconsistent pair usually resolves with the writer's next write.
pub(super) const RETRY_MIN: Duration = Duration::from_millis(50);

/// One published state: immutable, swapped in whole.
pub(super) struct FsState {
    pub(super) svid: Option<Arc<X509Svid>>,
    pub(super) bundles: BundleSet,
    pub(super) generation: u64,
}

/// What the watch task and the handles share.
pub(super) struct Shared {
    pub(super) layout: Layout,
    pub(super) crypto: Crypto,
    pub(super) state: ArcSwapOption<FsState>,
    pub(super) status: Mutex<FsStatus>,
    pub(super) updates: watch::Sender<u64>,
    /// One load at a time, so an older read never replaces a newer one.
    pub(super) load_lock: tokio::sync::Mutex<()>,
}

impl Shared {
    pub(super) fn status(&self) -> FsStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update_status(&self, change: impl FnOnce(&mut FsStatus)) {
        change(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Reads the files on the blocking pool and publishes what changed.
    pub(super) async fn reload(self: &Arc<Self>) -> Result<bool, Arc<FsError>> {
        let _one_at_a_time = self.load_lock.lock().await;
        let shared = Arc::clone(self);
        let loaded = tokio::task::spawn_blocking(move || shared.layout.load(&shared.crypto))
            .await
            .unwrap_or_else(|join| {
                Err(FsError::Io {
                    path: self.layout.dir.clone(),
                    source: std::io::Error::other(join),
                })
            });
        match loaded {
            Ok(loaded) => {
                let changed = self.publish(loaded);
                self.update_status(|status| {
                    status.last_check = Some(SystemTime::now());
                    status.last_error = None;
                });
                Ok(changed)
            }
            Err(error) => {
                let error = Arc::new(error);
                tracing::warn!(
                    dir = %self.layout.dir.display(),
                    %error,
                    cause = ?std::error::Error::source(&*error),
                    "file source keeps its last good state"
                );
                self.update_status(|status| status.last_error = Some(Arc::clone(&error)));
                Err(error)
            }
        }
    }

    /// Publishes `loaded` unless it equals the current state. An unchanged SVID keeps its
    /// `Arc` and unchanged bundles keep their set (and generation), so caches built on
    /// either stay valid.
    fn publish(&self, loaded: Loaded) -> bool {
        let current = self.state.load_full();
        let svid = match (current.as_ref().and_then(|c| c.svid.as_ref()), loaded.svid) {
            (Some(old), Some(new)) if crate::x509_source::same_svid(old, &new) => {
                Some(Arc::clone(old))
            }
            (_, new) => new.map(Arc::new),
        };
        let bundles = match &current {
            Some(current) if current.bundles == loaded.bundles => current.bundles.clone(),
            _ => loaded.bundles,
        };
        if let Some(current) = &current {
            let same_svid = match (&current.svid, &svid) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if same_svid && current.bundles.generation() == bundles.generation() {
                return false;
            }
        }
        let generation = current.as_ref().map_or(1, |c| c.generation + 1);
        self.state.store(Some(Arc::new(FsState {
            svid,
            bundles,
            generation,
        })));
        self.update_status(|status| {
            status.generation = generation;
            status.last_update = Some(SystemTime::now());
        });
        tracing::info!(dir = %self.layout.dir.display(), generation, "file source updated");
        self.updates.send_replace(generation);
        true
    }
}

/// The watch: reload on each notification, on each poll tick, and (after a failed load) on
/// a short doubling backoff until the files are consistent again.
pub(super) async fn run(
    shared: Arc<Shared>,
    mut watch: Option<DirWatch>,
    poll: Duration,
    mut failing: bool,
) {
    let mut backoff = RETRY_MIN;
    loop {
        let wait = if failing { backoff } else { poll };
        tokio::select! {
            changed = next_change(&mut watch) => {
                if let Err(source) = changed {
                    let error = FsError::Watch { path: shared.layout.dir.clone(), source };
                    tracing::warn!(%error, "file source polls only");
                    watch = None;
                    shared.update_status(|status| status.watching = false);
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
        if shared.reload().await.is_ok() {
            failing = false;
            backoff = RETRY_MIN;
        } else {
            if failing {
                backoff = (backoff * 2).min(poll);
            }
            failing = true;
        }
    }
}

async fn next_change(watch: &mut Option<DirWatch>) -> Result<(), std::io::Error> {
    match watch {
        Some(watch) => watch.changed().await,
        None => std::future::pending().await,
    }
}
