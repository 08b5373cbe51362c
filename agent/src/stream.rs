//! One server stream: the latest view of the caller's group, projected to one message type.

use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::sync::Arc;

use tokio::sync::watch;
use tokio_stream::Stream;
use tokio_stream::wrappers::WatchStream;
use tonic::Status;

use workload_api::proto::{JwtBundlesResponse, X509BundlesResponse, X509svidResponse};

use crate::state::{Snapshot, View};

/// A message a group shares, and the copy of it a stream hands to tonic.
pub(crate) trait Outgoing: Send + Sync + 'static {
    /// The generated message type.
    type Wire;
    /// A copy to send (tonic takes messages by value).
    fn to_wire(&self) -> Self::Wire;
}

/// Private keys: the shared message and each copy wipe their keys when dropped
/// (`X509svid`'s `Drop`). The encoded bytes in tonic's buffers are out of reach.
impl Outgoing for X509svidResponse {
    type Wire = Self;
    fn to_wire(&self) -> Self {
        self.clone()
    }
}

impl Outgoing for X509BundlesResponse {
    type Wire = Self;
    fn to_wire(&self) -> Self {
        self.clone()
    }
}

impl Outgoing for JwtBundlesResponse {
    type Wire = Self;
    fn to_wire(&self) -> Self {
        self.clone()
    }
}

/// Yields the caller's message whenever it differs from the last one sent: first at once
/// (Workload API §4.3: the request is itself an event), then on every change. A view that was
/// replaced before this stream was polled is never sent: only the latest counts. Ends with
/// `PermissionDenied` when the caller loses its last entry, and cleanly at shutdown. A view
/// without the message (X509-SVIDs still being minted) sends nothing; the next view will.
pub(crate) struct Updates<M> {
    views: WatchStream<View>,
    project: fn(&Snapshot) -> Option<&Arc<M>>,
    last: Option<Arc<M>>,
    done: bool,
}

impl<M> Updates<M> {
    pub(crate) fn new(
        views: watch::Receiver<View>,
        project: fn(&Snapshot) -> Option<&Arc<M>>,
    ) -> Self {
        Self {
            views: WatchStream::new(views),
            project,
            last: None,
            done: false,
        }
    }
}

impl<M: Outgoing> Stream for Updates<M> {
    type Item = Result<M::Wire, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let Some(view) = ready!(Pin::new(&mut this.views).poll_next(cx)) else {
                this.done = true;
                continue;
            };
            match view {
                View::Closed => this.done = true,
                View::Denied => {
                    this.done = true;
                    return Poll::Ready(Some(Err(no_identity())));
                }
                View::Entitled(snapshot) => {
                    let Some(message) = (this.project)(&snapshot) else {
                        continue;
                    };
                    if this.last.as_ref().is_some_and(|m| Arc::ptr_eq(m, message)) {
                        continue;
                    }
                    this.last = Some(Arc::clone(message));
                    return Poll::Ready(Some(Ok(message.to_wire())));
                }
            }
        }
    }
}

/// The status for a caller that matches no entry (Workload API §5.2.1; SPIRE's wording).
pub(crate) fn no_identity() -> Status {
    Status::permission_denied("no identity issued")
}
