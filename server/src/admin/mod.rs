//! The admin API: entries, join tokens, nodes and the bundle of a running server, over gRPC on
//! a Unix socket of its own (mode 0600; only allowed uids get answers: by default root and
//! the server's own). The `server` binary's subcommands are clients of it ([`AdminClient`]);
//! the protocol is in `server/proto/admin.proto`.

pub(crate) mod checks;
mod client;
mod convert;
mod federation;
pub mod proto;
mod service;
mod socket;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use client::AdminClient;
pub use socket::ADMIN_SOCKET_MODE;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;

use crate::node_service::Shared;

/// The admin API of a running server.
#[derive(Debug)]
pub(crate) struct AdminServer {
    socket: PathBuf,
    inode: u64,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl AdminServer {
    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// Waits for the server to stop, then removes the socket.
    pub(crate) async fn finish(self) {
        let _ = self.task.await;
        socket::remove(&self.socket, self.inode);
    }
}

/// The uids allowed by default: root and the server's own.
pub(crate) fn default_allowed_uids() -> Vec<u32> {
    let own = nix::unistd::geteuid().as_raw();
    if own == 0 { vec![0] } else { vec![0, own] }
}

/// Binds `path` and serves the admin API until `stopped` turns true.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    path: PathBuf,
    allowed_uids: Vec<u32>,
    mut stopped: watch::Receiver<bool>,
) -> std::io::Result<AdminServer> {
    let (listener, inode) = socket::bind(&path).await?;
    let service = proto::server_admin_server::ServerAdminServer::new(service::AdminService::new(
        shared,
        allowed_uids,
    ));
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }),
    );
    tracing::info!(socket = %path.display(), "serving the admin API");
    Ok(AdminServer {
        socket: path,
        inode,
        task,
    })
}
