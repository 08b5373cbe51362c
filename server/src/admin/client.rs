//! [`AdminClient`]: the admin API over the server's admin socket (what the `server` binary's
//! subcommands use).

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

use super::proto::server_admin_client::ServerAdminClient;

/// A client of a server's admin socket.
#[derive(Clone, Debug)]
pub struct AdminClient {
    inner: ServerAdminClient<Channel>,
}

impl AdminClient {
    /// Connects to the admin socket at `path`.
    ///
    /// # Errors
    /// When nothing accepts on `path`.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Self, tonic::transport::Error> {
        let path: PathBuf = path.as_ref().to_owned();
        let channel = Endpoint::from_static("http://localhost")
            .connect_with_connector(tower::service_fn(move |_| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }))
            .await?;
        Ok(Self {
            inner: ServerAdminClient::new(channel),
        })
    }

    /// The generated client, for every call.
    pub fn raw(&mut self) -> &mut ServerAdminClient<Channel> {
        &mut self.inner
    }
}
