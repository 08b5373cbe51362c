//! Change notifications for the watched folders: inotify on Linux, nothing elsewhere (the
//! source then polls).

use std::path::PathBuf;

use crate::error::FsError;

/// An inotify watch on each folder. Watching the folder rather than the files is what sees a
/// kubelet-style `..data` swap: the visible names stay the same symlinks, only the folder
/// changes (FILES-AND-PROXY 3.2; kubernetes#40123).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) struct DirWatch {
    events: inotify::EventStream<Vec<u8>>,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl DirWatch {
    /// Watches `dirs` (not recursively). Needs a tokio runtime (the stream registers with its
    /// reactor).
    pub(crate) fn new(dirs: &[PathBuf]) -> Result<Self, FsError> {
        use inotify::{Inotify, WatchMask};

        let first = dirs.first().cloned().unwrap_or_default();
        let inotify = Inotify::init().map_err(|source| FsError::Watch {
            path: first.clone(),
            source,
        })?;
        let mask = WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MODIFY
            | WatchMask::CLOSE_WRITE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::ATTRIB
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF;
        for dir in dirs {
            inotify
                .watches()
                .add(dir, mask)
                .map_err(|source| FsError::Watch {
                    path: dir.clone(),
                    source,
                })?;
        }
        // Room for many events per read; one event is 16 bytes plus its name.
        let events = inotify
            .into_event_stream(vec![0; 16 * 1024])
            .map_err(|source| FsError::Watch {
                path: first,
                source,
            })?;
        Ok(Self { events })
    }

    /// Waits for a change, then takes every event already queued, so one burst (a generation
    /// swap is several events) costs one reload.
    pub(crate) async fn changed(&mut self) -> Result<(), std::io::Error> {
        use std::time::Duration;
        use tokio_stream::StreamExt as _;

        match self.events.next().await {
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error),
            None => return Err(std::io::ErrorKind::UnexpectedEof.into()),
        }
        // `timeout` polls the stream once before looking at its (zero) deadline.
        while let Ok(Some(event)) = tokio::time::timeout(Duration::ZERO, self.events.next()).await {
            event?;
        }
        Ok(())
    }
}

/// No file notifications on this system: the source polls.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) struct DirWatch(());

#[cfg(not(any(target_os = "linux", target_os = "android")))]
impl DirWatch {
    pub(crate) fn new(dirs: &[PathBuf]) -> Result<Self, FsError> {
        Err(FsError::Watch {
            path: dirs.first().cloned().unwrap_or_default(),
            source: std::io::ErrorKind::Unsupported.into(),
        })
    }

    pub(crate) async fn changed(&mut self) -> Result<(), std::io::Error> {
        std::future::pending().await
    }
}
