//! The PostgreSQL connection of a store, owned by a thread of its own.
//!
//! The `postgres` client runs a small tokio runtime inside: calling it from an async task, or
//! dropping it there, panics. A dedicated thread owns the client, runs one job at a time and
//! reconnects when the server closed the connection, so a [`PostgresStore`] can be used from
//! a blocking thread and dropped anywhere.
//!
//! [`PostgresStore`]: crate::PostgresStore

use std::sync::mpsc;
use std::thread;

use postgres::{Client, Config};

use super::options::Tls;
use crate::error::Error;

/// A job for the connection thread.
type Job = Box<dyn FnOnce(&mut Client) + Send>;

/// The handle to the connection thread; the thread ends when the last handle is dropped.
pub(crate) struct Connection {
    jobs: mpsc::Sender<Job>,
    /// Where the store is, without credentials (for messages).
    target: String,
}

impl Connection {
    /// Connects (on the connection thread) and returns once the first connection is up.
    pub(crate) fn open(config: Config, tls: Tls) -> Result<Self, Error> {
        let target = describe(&config);
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready, first) = mpsc::sync_channel::<Result<(), Error>>(1);
        let thread_target = target.clone();
        thread::Builder::new()
            .name("spiffekit-postgres".into())
            .spawn(move || {
                let mut client = match tls.connect(&config) {
                    Ok(client) => {
                        let _ = ready.send(Ok(()));
                        client
                    }
                    Err(source) => {
                        let _ = ready.send(Err(Error::Postgres {
                            target: thread_target,
                            source,
                        }));
                        return;
                    }
                };
                for job in queue {
                    if client.is_closed() {
                        // The server went away: one attempt per job; the job's own error
                        // says what happened when this fails too.
                        if let Ok(fresh) = tls.connect(&config) {
                            client = fresh;
                        }
                    }
                    job(&mut client);
                }
            })
            .map_err(|source| Error::Io {
                path: target.clone().into(),
                source,
            })?;
        first.recv().map_err(|_| Error::Poisoned)??;
        Ok(Self { jobs, target })
    }

    /// Where the store is (host and database, never the password).
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// Runs `work` on the connection thread and waits for its result.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Client) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let (reply, result) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |client| {
                let _ = reply.send(work(client));
            }))
            .map_err(|_| Error::Poisoned)?;
        result.recv().map_err(|_| Error::Poisoned)?
    }
}

/// `postgres://user@host:port/dbname` (Unix socket directories as the host), without the
/// password or any other parameter.
fn describe(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or_default(),
        config.get_dbname().unwrap_or_default()
    )
}
