//! [`UpdateStream`]: an open Workload API stream that validates each message it yields.

use core::fmt;
use std::time::Duration;

use crate::error::{Error, ResponseError, Rpc};

type Convert<M, T> = Box<dyn Fn(&M) -> Result<T, ResponseError> + Send + Sync>;

/// An open Workload API stream yielding one validated update per server message.
///
/// A message that fails validation yields `Some(Err(Error::InvalidResponse))` and the stream
/// stays usable: the next message may be fine (Workload API 4.5 says to discard the bad
/// message). A status error yields `Some(Err(..))` and then `None`; a clean end yields `None`.
pub struct UpdateStream<T> {
    rpc: Rpc,
    inner: Box<dyn NextMessage<T> + Send>,
    done: bool,
}

type NextFuture<'a, T> = core::pin::Pin<
    Box<dyn Future<Output = Result<Option<Result<T, ResponseError>>, tonic::Status>> + Send + 'a>,
>;

trait NextMessage<T> {
    fn next(&mut self) -> NextFuture<'_, T>;
}

struct Typed<M, T> {
    streaming: tonic::Streaming<M>,
    convert: Convert<M, T>,
}

impl<M: Send + 'static, T: Send + 'static> NextMessage<T> for Typed<M, T> {
    fn next(&mut self) -> NextFuture<'_, T> {
        Box::pin(async move {
            let message = self.streaming.message().await?;
            Ok(message.map(|message| (self.convert)(&message)))
        })
    }
}

struct Mapped<T, U> {
    inner: Box<dyn NextMessage<T> + Send>,
    f: Box<dyn Fn(T) -> U + Send + Sync>,
}

impl<T: Send + 'static, U: Send + 'static> NextMessage<U> for Mapped<T, U> {
    fn next(&mut self) -> NextFuture<'_, U> {
        Box::pin(async move {
            let next = self.inner.next().await?;
            Ok(next.map(|result| result.map(&self.f)))
        })
    }
}

impl<T: Send + 'static> UpdateStream<T> {
    pub(crate) fn new<M: Send + 'static>(
        rpc: Rpc,
        streaming: tonic::Streaming<M>,
        convert: impl Fn(&M) -> Result<T, ResponseError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            rpc,
            inner: Box::new(Typed {
                streaming,
                convert: Box::new(convert),
            }),
            done: false,
        }
    }

    /// The next update; `None` once the stream has ended.
    pub async fn next(&mut self) -> Option<Result<T, Error>> {
        if self.done {
            return None;
        }
        match self.inner.next().await {
            Ok(Some(Ok(update))) => Some(Ok(update)),
            Ok(Some(Err(source))) => Some(Err(Error::invalid(self.rpc, source))),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(status) => {
                self.done = true;
                Some(Err(Error::from_status(self.rpc, &status, Duration::ZERO)))
            }
        }
    }

    /// Maps every update through `f`.
    pub(crate) fn map<U: Send + 'static>(
        self,
        f: impl Fn(T) -> U + Send + Sync + 'static,
    ) -> UpdateStream<U> {
        UpdateStream {
            rpc: self.rpc,
            inner: Box::new(Mapped {
                inner: self.inner,
                f: Box::new(f),
            }),
            done: self.done,
        }
    }

    /// The RPC this stream belongs to.
    pub fn rpc(&self) -> Rpc {
        self.rpc
    }
}

impl<T> fmt::Debug for UpdateStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateStream")
            .field("rpc", &self.rpc)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
