//! Upstream mode: the agent's identities come from a fleet server instead of its own CA.
//!
//! The agent attests its node to a server (`node-api`), keeps its agent SVID renewed, syncs the
//! entries parented to its node every few seconds, and mints each workload's X509-SVID by
//! sending a CSR: workload keys are generated here and never leave the node. When no server
//! answers, the SVIDs and bundle already held keep being served until they expire, and the
//! agent recovers by itself when a server is back.

mod mint;
pub(crate) mod saved;
pub(crate) mod sync;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use node_api::{Attestation, NodeClient};
use trust_bundle::SpiffeBundle;

pub(crate) use mint::{mint_jwt, mint_x509};

/// How often entries are synced by default.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(5);

/// How the agent reaches and proves itself to its servers.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UpstreamConfig {
    /// The node API client (server addresses, bootstrap bundle).
    pub client: NodeClient,
    /// How this node attests (a join token can be used once: after that, only renewal keeps
    /// the agent SVID alive; x509pop can attest again).
    pub attestation: Attestation,
    /// How often entries and the bundle are synced.
    pub sync_interval: Duration,
    /// Where the agent SVID is kept across restarts (a file of mode 0600 in it); `None`:
    /// nowhere, and a restarted agent must attest again (impossible with a used join token).
    pub state_dir: Option<std::path::PathBuf>,
}

impl UpstreamConfig {
    /// Attests with `attestation` through `client`; syncs every [`DEFAULT_SYNC_INTERVAL`].
    pub fn new(client: NodeClient, attestation: Attestation) -> Self {
        Self {
            client,
            attestation,
            sync_interval: DEFAULT_SYNC_INTERVAL,
            state_dir: None,
        }
    }

    /// Keeps the agent SVID in `dir` across restarts (see
    /// [`state_dir`](Self::state_dir)).
    #[must_use]
    pub fn with_state_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Syncs every `interval`.
    #[must_use]
    pub fn with_sync_interval(mut self, interval: Duration) -> Self {
        self.sync_interval = interval;
        self
    }
}

/// What the agent knows about its server connection.
#[derive(Clone, Debug, Default)]
pub(crate) struct UpstreamStatus {
    /// When the last sync succeeded.
    pub(crate) last_sync: Option<SystemTime>,
    /// Why the last call failed, if it did.
    pub(crate) last_error: Option<String>,
}

/// The upstream connection of a running agent.
pub(crate) struct Upstream {
    pub(crate) config: UpstreamConfig,
    bundle: RwLock<Arc<SpiffeBundle>>,
    pub(crate) status: Mutex<UpstreamStatus>,
    /// When the agent SVID is due for renewal (half its remaining life at issuance).
    renew_at: Mutex<Option<SystemTime>>,
}

impl Upstream {
    pub(crate) fn new(config: UpstreamConfig, bundle: SpiffeBundle) -> Self {
        let upstream = Self {
            config,
            bundle: RwLock::new(Arc::new(bundle)),
            status: Mutex::new(UpstreamStatus::default()),
            renew_at: Mutex::new(None),
        };
        upstream.schedule_renewal();
        upstream
    }

    /// When the agent SVID should be renewed.
    pub(crate) fn renew_at(&self) -> Option<SystemTime> {
        *self
            .renew_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Plans the next renewal at half the current agent SVID's remaining life.
    pub(crate) fn schedule_renewal(&self) {
        let now = SystemTime::now();
        let at = self.client().agent_svid_expires_at().map(|expires| {
            let left = expires.duration_since(now).unwrap_or(Duration::ZERO);
            now + left / 2
        });
        *self
            .renew_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }

    pub(crate) fn client(&self) -> &NodeClient {
        &self.config.client
    }

    pub(crate) fn bundle(&self) -> Arc<SpiffeBundle> {
        Arc::clone(
            &self
                .bundle
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Replaces the bundle; whether it changed.
    pub(crate) fn set_bundle(&self, bundle: SpiffeBundle) -> bool {
        let mut current = self
            .bundle
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if **current == bundle {
            return false;
        }
        *current = Arc::new(bundle);
        true
    }

    pub(crate) fn status(&self) -> UpstreamStatus {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn record(&self, result: Result<(), String>) {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(()) => {
                status.last_sync = Some(SystemTime::now());
                status.last_error = None;
            }
            Err(error) => status.last_error = Some(error),
        }
    }

    /// Writes the current agent SVID and bundle to the state directory, if there is one
    /// (blocking; a failure is logged: the agent keeps running on what it holds).
    pub(crate) fn save(&self) {
        let Some(dir) = &self.config.state_dir else {
            return;
        };
        let client = self.client();
        let (Some(svid), Some(expires_at)) = (client.agent_svid(), client.agent_svid_expires_at())
        else {
            return;
        };
        if let Err(error) = saved::save(dir, &svid, expires_at, &self.bundle()) {
            tracing::warn!(dir = %dir.display(), %error, "saving the agent SVID failed");
        }
    }

    /// Ready when synced once and the agent SVID is still valid.
    pub(crate) fn check(&self, now: SystemTime) -> Result<(), &'static str> {
        if self.status().last_sync.is_none() {
            return Err("no entry sync with a server has succeeded yet");
        }
        let expired = self
            .client()
            .agent_svid_expires_at()
            .is_none_or(|at| at <= now);
        if expired {
            return Err("the agent SVID expired: the agent must attest again");
        }
        Ok(())
    }
}
