//! Copies bytes both ways until both sides have finished, respecting half-close: when one side
//! ends its stream (FIN, or TLS `close_notify` then FIN), the other side's write half is shut
//! down and the opposite direction keeps flowing until it ends too.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::options::Mode;

/// The copy buffer of each direction: two full TLS records (2 x 16 KiB, RFC 8446 5.1), written
/// in one vectored write. Against 16 KiB it cut our CPU time per 1 MiB response by about 40%
/// (benches/benches/proxy.rs, pinned); 64 KiB gained nothing more for twice the memory.
const BUFFER: usize = 32 * 1024;

/// How a forwarded connection ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// Both directions finished.
    Done,
    /// Nothing moved for the idle timeout.
    Idle,
    /// A read or write failed (a reset, a TLS error).
    Failed(io::Error),
}

/// Forwards between `client` (the accepted side) and `target` (the side we opened), closing both
/// when nothing moved in either direction for `idle` (when set).
pub(crate) async fn forward<A, B>(mode: Mode, client: A, target: B, idle: Option<Duration>) -> Ended
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let mut client = Counted {
        inner: client,
        counter: crate::metrics::bytes(mode, "in"),
        start,
        last: Arc::clone(&last),
    };
    let mut target = Counted {
        inner: target,
        counter: crate::metrics::bytes(mode, "out"),
        start,
        last: Arc::clone(&last),
    };
    let copy = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut target, BUFFER, BUFFER);
    let Some(idle) = idle else {
        return copy.await.map_or_else(Ended::Failed, |_| Ended::Done);
    };
    tokio::pin!(copy);
    loop {
        let since = Duration::from_millis(last.load(Ordering::Relaxed));
        let quiet = start.elapsed().saturating_sub(since);
        let Some(left) = idle.checked_sub(quiet).filter(|left| !left.is_zero()) else {
            return Ended::Idle;
        };
        tokio::select! {
            result = &mut copy => return result.map_or_else(Ended::Failed, |_| Ended::Done),
            () = tokio::time::sleep(left) => {}
        }
    }
}

/// Counts bytes read from a side (`in`: read from the accepted side, `out`: from the opened
/// one) and stamps the last activity.
struct Counted<S> {
    inner: S,
    counter: metrics::Counter,
    start: Instant,
    last: Arc<AtomicU64>,
}

impl<S> Counted<S> {
    fn touch(&self) {
        let millis = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(millis, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        if read > 0 {
            this.counter
                .increment(u64::try_from(read).unwrap_or(u64::MAX));
            this.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
