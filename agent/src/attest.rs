//! Caller attestation: turning what the kernel says about a connection into selectors.

use core::fmt;
use core::fmt::Write as _;
use core::future::Future;
use core::pin::Pin;
use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::error::Error;
use crate::selector::Selector;

/// What the server knows about the other end of a connection. Attestors turn it into
/// selectors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    uid: Option<u32>,
    gid: Option<u32>,
    pid: Option<i32>,
    remote_addr: Option<SocketAddr>,
}

impl Caller {
    /// A caller on a Unix socket, from its peer credentials.
    pub fn unix(uid: u32, gid: u32, pid: Option<i32>) -> Self {
        Self {
            uid: Some(uid),
            gid: Some(gid),
            pid,
            remote_addr: None,
        }
    }

    /// A caller on a TCP connection from `remote_addr`.
    pub fn tcp(remote_addr: SocketAddr) -> Self {
        Self {
            remote_addr: Some(remote_addr),
            ..Self::default()
        }
    }

    /// The caller's user id (Unix sockets only).
    pub fn uid(&self) -> Option<u32> {
        self.uid
    }

    /// The caller's group id (Unix sockets only).
    pub fn gid(&self) -> Option<u32> {
        self.gid
    }

    /// The pid recorded when the caller connected (Unix sockets only; see the
    /// [`UnixAttestor`] docs for why it is weaker than uid and gid).
    pub fn pid(&self) -> Option<i32> {
        self.pid
    }

    /// The caller's address (TCP only).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }
}

/// The future an [`Attestor`] returns.
pub type AttestFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Selector>, Error>> + Send + 'a>>;

/// Produces selectors for a caller. The agent runs every configured attestor and unions their
/// selectors; an attestor that knows nothing about a caller returns an empty list. An error
/// fails the call with `Unavailable` (the caller may retry).
///
/// Implement it to add container or orchestrator facts without touching the server:
///
/// ```
/// use agent::{AttestFuture, Attestor, Caller, Selector};
///
/// /// Gives every caller running as root the selector `team:platform`.
/// #[derive(Debug)]
/// struct TeamAttestor;
///
/// impl Attestor for TeamAttestor {
///     fn attest<'a>(&'a self, caller: &'a Caller) -> AttestFuture<'a> {
///         Box::pin(async move {
///             Ok(match caller.uid() {
///                 Some(0) => vec![Selector::new("team", "platform")?],
///                 _ => Vec::new(),
///             })
///         })
///     }
/// }
/// ```
///
/// Attestors run on the async runtime: blocking work (file reads, hashing) belongs in
/// `tokio::task::spawn_blocking`, as [`UnixAttestor`] does.
pub trait Attestor: Send + Sync + fmt::Debug + 'static {
    /// The selectors for `caller`.
    fn attest<'a>(&'a self, caller: &'a Caller) -> AttestFuture<'a>;
}

/// The built-in attestor for Unix-socket callers: `unix:uid:<uid>` and `unix:gid:<gid>` from
/// the peer credentials, plus `unix:path:<binary>` and `unix:sha256:<hex digest of the
/// binary>` from `/proc/<pid>/exe` when that is readable (the agent runs as root or as the
/// caller's user) and `/proc/<pid>` belongs to the caller's uid.
///
/// Digests are cached by the binary's device, inode, size, modification and change times, so a
/// binary is hashed once per version, not once per call. The cache holds at most
/// [`UnixAttestor::CACHE_CAPACITY`] binaries and is emptied when full.
///
/// # Peer credentials and their limits
///
/// On a Unix socket the kernel records the connecting process's uid, gid and pid at
/// `connect()` time (`SO_PEERCRED`). uid and gid are therefore exact for the life of the
/// connection. The pid is only a pointer to *a* process: by the time the agent reads
/// `/proc/<pid>/exe`
///
/// - the caller may have `exec`'d another binary (file descriptors survive `exec` unless
///   close-on-exec is set), so the path and digest describe the new program; and
/// - the caller may have exited and its pid been reused by an unrelated process.
///
/// [`UnixAttestor`] narrows the second case by emitting path and digest selectors only when
/// `/proc/<pid>` belongs to the same uid the kernel reported for the socket, so a reused pid
/// can at most lend the binary of another process *of the same user*. Registration entries
/// that must not be obtainable by other programs of one user should therefore not rely on
/// `unix:path`/`unix:sha256` alone: give such workloads their own uid (the strong selector).
#[derive(Clone, Debug)]
pub struct UnixAttestor {
    hash_binaries: bool,
    digests: Arc<Mutex<HashMap<FileVersion, String>>>,
}

/// Identifies one version of one file, so a cached digest is never used for changed contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FileVersion {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl UnixAttestor {
    /// Binaries whose digests are remembered.
    pub const CACHE_CAPACITY: usize = 1024;

    /// An attestor that also reads the caller's binary path and digest.
    pub fn new() -> Self {
        Self {
            hash_binaries: true,
            digests: Arc::default(),
        }
    }

    /// Skips `unix:path` and `unix:sha256` (no `/proc` access at all).
    #[must_use]
    pub fn without_binary_selectors(mut self) -> Self {
        self.hash_binaries = false;
        self
    }

    /// The selectors for a Unix caller, blocking (reads `/proc`, may hash a file).
    fn attest_blocking(&self, uid: u32, gid: u32, pid: Option<i32>) -> Vec<Selector> {
        let mut selectors = vec![Selector::unix_uid(uid), Selector::unix_gid(gid)];
        if let (true, Some(pid)) = (self.hash_binaries, pid) {
            match self.binary(uid, pid) {
                Ok(Some((path, digest))) => {
                    selectors.push(Selector::trusted("unix", &format!("path:{path}")));
                    selectors.push(Selector::trusted("unix", &format!("sha256:{digest}")));
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(pid, %error, "caller binary not readable; no path selectors");
                }
            }
        }
        selectors
    }

    /// The path and SHA-256 of the binary `pid` runs, or `None` when `/proc/<pid>` is not the
    /// caller's (pid reused by another user) or the path is not UTF-8.
    fn binary(&self, uid: u32, pid: i32) -> std::io::Result<Option<(String, String)>> {
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        if std::fs::metadata(&proc_dir)?.uid() != uid {
            return Ok(None);
        }
        let exe = proc_dir.join("exe");
        let path = std::fs::read_link(&exe)?;
        let Some(path) = path.to_str().map(str::to_owned) else {
            return Ok(None);
        };
        let mut file = std::fs::File::open(&exe)?;
        let metadata = file.metadata()?;
        let version = FileVersion {
            dev: metadata.dev(),
            ino: metadata.ino(),
            size: metadata.size(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        };
        if let Some(digest) = self.cached(&version) {
            return Ok(Some((path, digest)));
        }
        let digest = sha256_hex(&mut file)?;
        if let Ok(mut digests) = self.digests.lock() {
            if digests.len() >= Self::CACHE_CAPACITY {
                digests.clear();
            }
            digests.insert(version, digest.clone());
        }
        Ok(Some((path, digest)))
    }

    fn cached(&self, version: &FileVersion) -> Option<String> {
        self.digests.lock().ok()?.get(version).cloned()
    }
}

impl Default for UnixAttestor {
    fn default() -> Self {
        Self::new()
    }
}

impl Attestor for UnixAttestor {
    fn attest<'a>(&'a self, caller: &'a Caller) -> AttestFuture<'a> {
        Box::pin(async move {
            let (Some(uid), Some(gid)) = (caller.uid, caller.gid) else {
                return Ok(Vec::new());
            };
            if !self.hash_binaries || caller.pid.is_none() {
                return Ok(vec![Selector::unix_uid(uid), Selector::unix_gid(gid)]);
            }
            let this = self.clone();
            let pid = caller.pid;
            tokio::task::spawn_blocking(move || this.attest_blocking(uid, gid, pid))
                .await
                .map_err(|_| Error::AttestationFailed)
        })
    }
}

/// Attests TCP callers by source address: `tcp:ip:<address>` (e.g. `tcp:ip:127.0.0.1`). The
/// Workload Endpoint spec allows TCP only where the network itself authenticates the workload
/// (loopback, link-local, SDN policy: SPIFFE Workload Endpoint §3), which is what this relies
/// on. Unix-socket callers get nothing from it.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct TcpAttestor;

impl TcpAttestor {
    /// The attestor.
    pub fn new() -> Self {
        Self
    }
}

impl Attestor for TcpAttestor {
    fn attest<'a>(&'a self, caller: &'a Caller) -> AttestFuture<'a> {
        Box::pin(async move {
            Ok(caller
                .remote_addr
                .map(|addr| vec![Selector::trusted("tcp", &format!("ip:{}", addr.ip()))])
                .unwrap_or_default())
        })
    }
}

/// Lower-case hex SHA-256 of everything `reader` yields.
fn sha256_hex(reader: &mut impl Read) -> std::io::Result<String> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        let read = reader.read(&mut buffer)?;
        let Some(chunk) = buffer.get(..read) else {
            break;
        };
        if chunk.is_empty() {
            break;
        }
        context.update(chunk);
    }
    let digest = context.finish();
    let mut hex = String::with_capacity(64);
    for byte in digest.as_ref() {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_like_sha256sum() {
        let digest = sha256_hex(&mut &b"abc"[..]).unwrap();
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[tokio::test]
    async fn attests_this_process_with_path_and_digest() {
        let uid = std::fs::metadata("/proc/self").unwrap().uid();
        let pid = i32::try_from(std::process::id()).unwrap();
        let attestor = UnixAttestor::new();
        let caller = Caller::unix(uid, 0, Some(pid));
        let selectors = attestor.attest(&caller).await.unwrap();
        let exe = std::env::current_exe().unwrap();
        assert!(selectors.contains(&Selector::unix_uid(uid)));
        assert!(selectors.contains(&Selector::unix_gid(0)));
        let path = Selector::new("unix", &format!("path:{}", exe.display())).unwrap();
        assert!(selectors.contains(&path), "{selectors:?}");
        let digest = sha256_hex(&mut std::fs::File::open(&exe).unwrap()).unwrap();
        let digest = Selector::new("unix", &format!("sha256:{digest}")).unwrap();
        assert!(selectors.contains(&digest));
        // Second call is served from the cache and gives the same answer.
        assert_eq!(attestor.attest(&caller).await.unwrap(), selectors);
        assert_eq!(attestor.digests.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn no_binary_selectors_when_proc_belongs_to_another_uid() {
        let uid = std::fs::metadata("/proc/self").unwrap().uid();
        let pid = i32::try_from(std::process::id()).unwrap();
        let other = uid.wrapping_add(1);
        let selectors = UnixAttestor::new()
            .attest(&Caller::unix(other, 0, Some(pid)))
            .await
            .unwrap();
        assert_eq!(
            selectors,
            vec![Selector::unix_uid(other), Selector::unix_gid(0)]
        );
    }

    #[tokio::test]
    async fn tcp_callers_get_their_ip_only() {
        let caller = Caller::tcp("127.0.0.1:4000".parse().unwrap());
        assert_eq!(
            TcpAttestor.attest(&caller).await.unwrap(),
            vec![Selector::parse("tcp:ip:127.0.0.1").unwrap()]
        );
        assert!(
            UnixAttestor::new()
                .attest(&caller)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            TcpAttestor
                .attest(&Caller::unix(1, 1, None))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
