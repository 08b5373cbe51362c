//! The admin API: registration entries, the bundle and the CA's authorities of a running
//! agent, over gRPC on a Unix socket of its own (never the Workload API socket).
//!
//! Enabled with [`AgentBuilder::admin_socket`](crate::AgentBuilder::admin_socket). The socket
//! is created with mode 0600 and, as a second check, only callers whose uid (from the kernel)
//! is allowed get answers: by default root and the agent's own uid
//! ([`AgentBuilder::admin_allowed_uids`](crate::AgentBuilder::admin_allowed_uids)).
//!
//! - Entries: create, list, get, update (with the revision read, so concurrent edits are
//!   refused rather than lost), delete. Requests are checked: selectors of types an attestor
//!   gives, SPIFFE and parent IDs in the trust domain, lifetimes within
//!   [`MIN_X509_TTL`]..=[`MAX_X509_TTL`] and [`MIN_JWT_TTL`]..=[`MAX_JWT_TTL`]. Entries from
//!   the config file are listed but changed only there.
//! - The bundle as served, the authorities with their status, forced rotation, taint, revoke.
//! - Federation: the relationships with their last refresh, sequence and error; resetting a
//!   held sequence.
//! - Health: ready or why not.
//!
//! The `agent` binary's subcommands (`agent entry create ...`) are clients of this API; so is
//! [`AdminClient`]. The protocol is in `agent/proto/admin.proto`.

pub(crate) mod catalog;
mod client;
mod convert;
mod federation;
pub mod proto;
pub(crate) mod records;
pub(crate) mod service;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use client::AdminClient;
pub use convert::{MAX_JWT_TTL, MAX_X509_TTL, MIN_JWT_TTL, MIN_X509_TTL};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;

use crate::agent_core::AgentCore;
use crate::error::Error;
use crate::listen;

/// The admin socket's mode: the agent's user only (root in production).
pub const ADMIN_SOCKET_MODE: u32 = 0o600;

/// Where and for whom the admin API is served (builder settings).
#[derive(Clone, Debug, Default)]
pub(crate) struct AdminOptions {
    pub(crate) socket: Option<PathBuf>,
    pub(crate) allowed_uids: Option<Vec<u32>>,
}

/// The admin server of a running agent.
#[derive(Debug)]
pub(crate) struct AdminServer {
    pub(crate) socket: PathBuf,
    pub(crate) inode: u64,
    pub(crate) task: JoinHandle<Result<(), tonic::transport::Error>>,
}

/// Binds the admin socket and serves `catalog` of `agent` until `stopped` turns true.
pub(crate) async fn serve(
    agent: Arc<AgentCore>,
    catalog: Arc<catalog::Catalog>,
    socket: PathBuf,
    allowed_uids: Vec<u32>,
    mut stopped: watch::Receiver<bool>,
) -> Result<AdminServer, Error> {
    let (listener, inode) = listen::bind_unix(&socket, ADMIN_SOCKET_MODE).await?;
    let service = proto::agent_admin_server::AgentAdminServer::new(service::AdminService::new(
        agent,
        catalog,
        allowed_uids,
    ));
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }),
    );
    tracing::info!(socket = %socket.display(), "serving the admin API");
    Ok(AdminServer {
        socket,
        inode,
        task,
    })
}

/// The uids allowed by default: root and the agent's own.
pub(crate) fn default_allowed_uids() -> Vec<u32> {
    let own = nix::unistd::geteuid().as_raw();
    if own == 0 { vec![0] } else { vec![0, own] }
}

/// Whether `path` could be an admin socket path (absolute, not the Workload API socket).
pub(crate) fn check_socket_path(admin: &Path, workload: &Path) -> Result<(), Error> {
    if admin == workload {
        return Err(Error::Io(std::io::Error::other(
            "the admin socket must not be the Workload API socket",
        )));
    }
    Ok(())
}
