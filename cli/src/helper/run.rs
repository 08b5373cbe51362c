//! The helper's loop: write on every X.509 update, refresh JWT-SVIDs at half their lifetime,
//! signal after each X.509 write, and stop on SIGTERM/SIGINT (forwarded to `cmd`) or when
//! `cmd` exits.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use svid::Crypto;
use tokio::process::Child;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;
use workload_client::{Client, SourceOptions, SvidPicker, X509Snapshot, X509Source};

use crate::error::Error;
use crate::helper::config::Config;
use crate::helper::signal::{Signal, signal_pid_file};
use crate::helper::{files, first_source, health, log};

/// The longest wait between JWT refreshes, and between JWT retries after errors.
const JWT_MAX_WAIT: Duration = Duration::from_secs(60);
/// How long `cmd` gets to stop after the forwarded SIGTERM before it is killed.
const CHILD_GRACE: Duration = Duration::from_secs(10);

/// Everything the loop needs.
pub(crate) struct Helper {
    pub(crate) config: Config,
    pub(crate) client: Client,
    pub(crate) crypto: Crypto,
    pub(crate) status: Arc<health::Status>,
}

fn io_error(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        what: what.to_owned(),
        source,
    }
}

impl Helper {
    pub(crate) async fn run(self, picker: SvidPicker, options: SourceOptions) -> Result<(), Error> {
        let mut terminate =
            signal(SignalKind::terminate()).map_err(io_error("cannot install signal handlers"))?;
        let mut interrupt =
            signal(SignalKind::interrupt()).map_err(io_error("cannot install signal handlers"))?;
        let daemon = self.config.daemon_mode;
        let source = tokio::select! {
            source = first_source(&self.client, &picker, options, daemon) => source?,
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
        };
        if !daemon {
            return self.once(&source).await;
        }
        let mut updated = source.updated();
        let mut child: Option<Child> = None;
        let mut written_generation = None;
        let mut jwt_due = Instant::now();
        let mut jwt_ok =
            self.config.jwt_svids.is_empty() && self.config.jwt_bundle_file_name.is_none();
        let mut jwt_backoff = Duration::from_secs(1);
        let mut x509_ok = false;
        loop {
            if let Some(snapshot) = source.snapshot() {
                if written_generation != Some(snapshot.generation()) {
                    written_generation = Some(snapshot.generation());
                    match self.write_x509(&snapshot) {
                        Ok(()) => {
                            x509_ok = true;
                            self.after_rotation(&mut child).await?;
                        }
                        Err(error) => {
                            log(format!(
                                "X.509 write failed, the previous files stay: {error}"
                            ));
                            x509_ok = false;
                            self.status.failed();
                        }
                    }
                }
            }
            if self.has_jwt() && Instant::now() >= jwt_due {
                match self.write_jwt().await {
                    Ok(next) => {
                        jwt_ok = true;
                        jwt_backoff = Duration::from_secs(1);
                        jwt_due = Instant::now() + next;
                    }
                    Err(error) => {
                        log(format!(
                            "JWT write failed, the previous files stay: {error}"
                        ));
                        jwt_ok = false;
                        self.status.failed();
                        jwt_due = Instant::now() + jwt_backoff;
                        jwt_backoff = (jwt_backoff * 2).min(JWT_MAX_WAIT);
                    }
                }
            }
            if x509_ok && jwt_ok {
                self.status.written();
            }
            let jwt_timer = async {
                if self.has_jwt() {
                    tokio::time::sleep_until(jwt_due).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                changed = updated.changed() => {
                    if changed.is_err() {
                        return Err(Error::Usage("the X.509 source stopped".to_owned()));
                    }
                }
                () = jwt_timer => {}
                status = wait_child(&mut child) => return child_exited(status),
                _ = terminate.recv() => return stop(child).await,
                _ = interrupt.recv() => return stop(child).await,
            }
        }
    }

    fn has_jwt(&self) -> bool {
        !self.config.jwt_svids.is_empty() || self.config.jwt_bundle_file_name.is_some()
    }

    /// `daemon_mode = false`: write everything once and return.
    async fn once(&self, source: &X509Source) -> Result<(), Error> {
        let snapshot = source
            .snapshot()
            .ok_or_else(|| Error::Usage("the X.509 source has no state".to_owned()))?;
        self.write_x509(&snapshot).map_err(Error::Usage)?;
        if self.has_jwt() {
            self.write_jwt().await.map_err(Error::Usage)?;
        }
        source.close().await;
        Ok(())
    }

    /// Writes the X.509 files and checks them back.
    fn write_x509(&self, snapshot: &X509Snapshot) -> Result<(), String> {
        let outputs = files::x509_outputs(&self.config, snapshot)?;
        if outputs.is_empty() {
            return Ok(());
        }
        let written = files::write(&self.config.cert_dir, &outputs)?;
        if let Some(leaf) = snapshot.svid().and_then(|s| s.chain().first()) {
            files::check_written(&self.config, leaf, &self.crypto)?;
        }
        let serial = snapshot
            .svid()
            .and_then(|s| s.chain().first())
            .and_then(|der| crate::describe::certificate(der, 0).ok())
            .and_then(|v| v.get("serial").and_then(|s| s.as_str()).map(str::to_owned))
            .unwrap_or_default();
        log(format!(
            "wrote {} file(s), leaf serial {serial}",
            written.len()
        ));
        Ok(())
    }

    /// Fetches and writes the JWT-SVIDs and the JWT bundles; returns when to refresh.
    async fn write_jwt(&self) -> Result<Duration, String> {
        let mut next = JWT_MAX_WAIT;
        let mut outputs = Vec::new();
        for entry in &self.config.jwt_svids {
            let svids = self
                .client
                .fetch_jwt_svids(&entry.audiences, None)
                .await
                .map_err(|e| format!("FetchJWTSVID {:?}: {e}", entry.audiences))?;
            let svid = match &self.config.hint {
                Some(hint) => svids.iter().find(|s| s.hint() == Some(hint.as_str())),
                None => svids.first(),
            }
            .ok_or_else(|| format!("no JWT-SVID for {:?}", entry.audiences))?;
            // Refresh at half the remaining lifetime (spiffe-helper's rule).
            let left = svid
                .expires_at()
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            next = next.min(left / 2 + Duration::from_secs(1));
            outputs.push(files::jwt_svid_output(&self.config, &entry.file_name, svid));
        }
        if let Some(name) = &self.config.jwt_bundle_file_name {
            let bundles = self
                .client
                .fetch_jwt_bundles()
                .await
                .map_err(|e| format!("FetchJWTBundles: {e}"))?;
            outputs.push(files::jwt_bundles_output(&self.config, name, &bundles));
        }
        files::write(&self.config.cert_dir, &outputs)?;
        Ok(next)
    }

    /// After an X.509 write: start `cmd` the first time, else send it `renew_signal`; send
    /// `renew_signal` to the pid in `pid_file_name`.
    async fn after_rotation(&self, child: &mut Option<Child>) -> Result<(), Error> {
        if let Some((program, args)) = &self.config.cmd {
            match child.as_ref().and_then(Child::id) {
                None => {
                    let started = tokio::process::Command::new(program)
                        .args(args)
                        .spawn()
                        .map_err(|source| Error::Io {
                            what: format!("cannot start cmd {program:?}"),
                            source,
                        })?;
                    log(format!(
                        "started {program} (pid {})",
                        started.id().unwrap_or(0)
                    ));
                    *child = Some(started);
                }
                Some(pid) => {
                    if let Some(signal) = self.config.renew_signal {
                        match signal.send(pid) {
                            Ok(()) => log(format!("sent {signal} to {program} (pid {pid})")),
                            Err(error) => {
                                log(format!("cannot send {signal} to pid {pid}: {error}"))
                            }
                        }
                    }
                }
            }
        }
        if let (Some(pid_file), Some(signal)) =
            (&self.config.pid_file_name, self.config.renew_signal)
        {
            match signal_pid_file(pid_file, signal).await {
                Ok(pid) => log(format!(
                    "sent {signal} to pid {pid} ({})",
                    pid_file.display()
                )),
                Err(error) => log(error),
            }
        }
        Ok(())
    }
}

/// Waits for `cmd` to exit; never returns when there is none.
async fn wait_child(child: &mut Option<Child>) -> std::io::Result<std::process::ExitStatus> {
    match child {
        Some(child) => child.wait().await,
        None => std::future::pending().await,
    }
}

/// `cmd` exited: the helper ends with its status (a supervisor restarts the pair).
fn child_exited(status: std::io::Result<std::process::ExitStatus>) -> Result<(), Error> {
    use std::os::unix::process::ExitStatusExt as _;
    let status = status.map_err(io_error("cannot wait for cmd"))?;
    log(format!("cmd exited ({status}); stopping"));
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    match u8::try_from(code) {
        Ok(0) => Ok(()),
        Ok(code) => Err(Error::ChildExited { code }),
        Err(_) => Err(Error::ChildExited { code: 1 }),
    }
}

/// SIGTERM/SIGINT: forward SIGTERM to `cmd`, give it [`CHILD_GRACE`], then kill it.
async fn stop(child: Option<Child>) -> Result<(), Error> {
    let Some(mut child) = child else {
        return Ok(());
    };
    if let Some(pid) = child.id() {
        let _ = Signal::term().send(pid);
        if tokio::time::timeout(CHILD_GRACE, child.wait())
            .await
            .is_err()
        {
            log("cmd did not stop within 10 s after SIGTERM; killing it");
            let _ = child.kill().await;
        }
    }
    Ok(())
}
