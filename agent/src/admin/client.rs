//! [`AdminClient`]: the admin API over the agent's admin socket, for the `agent` subcommands
//! and for tools.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::admin::proto::agent_admin_client::AgentAdminClient;

/// How long connecting to the admin socket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to an agent's admin socket: the generated client (see
/// [`proto`](crate::admin::proto) for the calls) over a Unix socket.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use agent::admin::{AdminClient, proto};
///
/// let mut admin = AdminClient::connect("/run/spiffe-agent/admin.sock").await?;
/// let entries = admin
///     .grpc()
///     .list_entries(proto::ListEntriesRequest::default())
///     .await?
///     .into_inner();
/// for entry in entries.entries {
///     println!("{} {}", entry.id, entry.spiffe_id);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AdminClient {
    grpc: AgentAdminClient<Channel>,
}

impl AdminClient {
    /// Connects to the admin socket at `path`.
    ///
    /// # Errors
    /// The transport error, whose source says why (no such file, permission denied, ...).
    pub async fn connect(path: impl AsRef<Path>) -> Result<Self, tonic::transport::Error> {
        let path: PathBuf = path.as_ref().to_owned();
        // For a Unix socket the URI only fills the `:authority` header.
        let channel = Endpoint::from_static("http://localhost")
            .connect_timeout(CONNECT_TIMEOUT)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }))
            .await?;
        Ok(Self {
            grpc: AgentAdminClient::new(channel),
        })
    }

    /// The generated client, for every call of the `AgentAdmin` service.
    pub fn grpc(&mut self) -> &mut AgentAdminClient<Channel> {
        &mut self.grpc
    }
}
