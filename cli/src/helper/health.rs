//! `health_checks`: `/live` and `/ready` over plain HTTP/1.1, for Kubernetes probes.
//!
//! Ready once the first complete write (every configured file) succeeded; live unless the
//! last write failed (the files of the last good state stay in place meanwhile). Both answer
//! 200 or 503 with a small JSON body.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::helper::config::Health;

/// What the probes report.
#[derive(Debug, Default)]
pub(crate) struct Status {
    ready: AtomicBool,
    failed: AtomicBool,
}

impl Status {
    /// A complete write succeeded.
    pub(crate) fn written(&self) {
        self.ready.store(true, Ordering::SeqCst);
        self.failed.store(false, Ordering::SeqCst);
    }

    /// A write failed.
    pub(crate) fn failed(&self) {
        self.failed.store(true, Ordering::SeqCst);
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn live(&self) -> bool {
        !self.failed.load(Ordering::SeqCst)
    }
}

/// Reads the request head (up to the blank line, at most 8 KiB, 5 s): closing with unread
/// bytes would reset the connection before the client reads the answer.
async fn read_head(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let read = async {
        let mut buffer = [0_u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let n = stream.read(&mut buffer).await.ok()?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(buffer.get(..n)?);
        }
        Some(())
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read)
        .await
        .ok()??;
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// Binds the listener now (so a taken port is a start-up error) and serves in the background.
pub(crate) async fn serve(health: &Health, status: Arc<Status>) -> std::io::Result<()> {
    let listener = TcpListener::bind(&health.bind).await?;
    let live = health.liveness_path.clone();
    let ready = health.readiness_path.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let (status, live, ready) = (Arc::clone(&status), live.clone(), ready.clone());
            tokio::spawn(async move {
                let Some(request) = read_head(&mut stream).await else {
                    return;
                };
                let path = request.split_whitespace().nth(1).unwrap_or_default();
                let (code, ok) = if path == live {
                    (200, status.live())
                } else if path == ready {
                    (200, status.ready())
                } else {
                    (404, false)
                };
                let (code, reason) = match (code, ok) {
                    (404, _) => (404, "Not Found"),
                    (_, true) => (200, "OK"),
                    (_, false) => (503, "Service Unavailable"),
                };
                let body = format!(
                    "{{\"status\":\"{reason}\",\"ready\":{},\"live\":{}}}\n",
                    status.ready(),
                    status.live()
                );
                let response = format!(
                    "HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(())
}
