//! Caller attestation: turning what the kernel says about a connection into selectors.

use core::fmt;
use core::fmt::Write as _;
use core::future::Future;
use core::pin::Pin;
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::caller::Caller;
use crate::error::Error;
use crate::selector::Selector;

/// The keys of the `unix:<key>:<value>` selectors [`UnixAttestor`] gives.
pub(crate) const UNIX_SELECTOR_KEYS: &[&str] = &[
    "uid",
    "gid",
    "user",
    "group",
    "path",
    "sha256",
    "supplementary_gid",
    "supplementary_group",
];
/// The keys of the `tcp:<key>:<value>` selectors [`TcpAttestor`] gives.
pub(crate) const TCP_SELECTOR_KEYS: &[&str] = &["ip"];

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

/// The built-in attestor for Unix-socket callers. From the peer credentials:
///
/// - `unix:uid:<uid>` and `unix:gid:<gid>`;
/// - `unix:user:<name>` and `unix:group:<name>`, the names of that uid and gid in the account
///   files (`/etc/passwd` and `/etc/group` unless [`with_account_files`] names others; only
///   these files are read, not LDAP or other NSS sources).
///
/// From `/proc/<pid>`, when it is readable (the agent runs as root or as the caller's user)
/// and belongs to the caller's uid:
///
/// - `unix:path:<binary>` and `unix:sha256:<hex digest of the binary>` from `/proc/<pid>/exe`;
/// - `unix:supplementary_gid:<gid>` and `unix:supplementary_group:<name>` for each
///   supplementary group in `/proc/<pid>/status`.
///
/// The selector names are SPIRE's unix workload attestor's, so its registration entries carry
/// over.
///
/// [`with_account_files`]: UnixAttestor::with_account_files
///
/// Digests are cached by the binary's device, inode, size, modification and change times, so a
/// binary is hashed once per version, not once per call. The cache holds at most
/// [`UnixAttestor::CACHE_CAPACITY`] binaries and is emptied when full.
///
/// # Peer credentials and their limits
///
/// On a Unix socket the kernel records the connecting process's uid, gid and pid at
/// `connect()` time (`SO_PEERCRED`). uid and gid are therefore exact for the life of the
/// connection. The pid names the process that connected, and the agent keeps it honest: at
/// accept it takes a pidfd of that process (`SO_PEERPIDFD`, Linux 6.5+), or on older kernels
/// its start time (`/proc/<pid>/stat` field 22), and before and after the attestors run on
/// each call it checks that the process is still alive and still the same one. A call on a
/// connection whose process has exited, or whose pid now names another process, gets
/// `PermissionDenied`, so a reused pid never lends its selectors to someone else's
/// connection. (This binding is the server's: a [`Caller`] built by hand with
/// [`Caller::unix`] carries none.)
///
/// What the kernel does not tell apart is `exec`: it keeps the pid, the pidfd and the start
/// time. The `/proc/<pid>` selectors (`unix:path`, `unix:sha256`, `unix:supplementary_*`)
/// are read when each call is made and describe the program the connected process runs
/// *then*. Any process can connect, hand the connection to a helper (or keep the descriptor
/// across `exec`) and exec another binary: the helper's calls are then attested as that
/// binary. Programs of one uid can also inspect each other (`ptrace`, `/proc/<pid>/mem`)
/// unless the system forbids it. So `unix:path` and `unix:sha256` separate the programs of
/// *different* users; between programs of the *same* uid they prevent mistakes, not attacks
/// (SPIRE's unix attestor reads the same `/proc/<pid>/exe` after the same liveness check,
/// and has the same limit). Registration entries that
/// must not be obtainable by other programs of one user should give those workloads their
/// own uid (the strong selector).
///
/// The `/proc` selectors are emitted only when `/proc/<pid>` belongs to the uid the kernel
/// reported for the socket (a second guard against reading another user's process).
#[derive(Clone, Debug)]
pub struct UnixAttestor {
    hash_binaries: bool,
    /// `None`: no name or supplementary group selectors.
    accounts: Option<Arc<AccountFiles>>,
    digests: Arc<Mutex<HashMap<FileVersion, String>>>,
}

/// Where user and group names come from.
#[derive(Debug)]
struct AccountFiles {
    passwd: PathBuf,
    group: PathBuf,
}

/// Account files larger than this are not read (a name lookup must stay cheap).
const MAX_ACCOUNT_FILE: u64 = 16 * 1024 * 1024;

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

    /// An attestor that gives every selector listed above.
    pub fn new() -> Self {
        Self {
            hash_binaries: true,
            accounts: Some(Arc::new(AccountFiles {
                passwd: PathBuf::from("/etc/passwd"),
                group: PathBuf::from("/etc/group"),
            })),
            digests: Arc::default(),
        }
    }

    /// Skips `unix:path` and `unix:sha256` (no reads of `/proc/<pid>/exe`).
    #[must_use]
    pub fn without_binary_selectors(mut self) -> Self {
        self.hash_binaries = false;
        self
    }

    /// Skips `unix:user`, `unix:group` and `unix:supplementary_*` (no account files, no
    /// `/proc/<pid>/status`).
    #[must_use]
    pub fn without_account_selectors(mut self) -> Self {
        self.accounts = None;
        self
    }

    /// Reads user names from `passwd` and group names from `group` (both in the
    /// `/etc/passwd` / `/etc/group` format) instead of `/etc`: for an agent in a container
    /// whose workloads' accounts are the host's, e.g. `/host/etc/passwd`.
    #[must_use]
    pub fn with_account_files(
        mut self,
        passwd: impl Into<PathBuf>,
        group: impl Into<PathBuf>,
    ) -> Self {
        self.accounts = Some(Arc::new(AccountFiles {
            passwd: passwd.into(),
            group: group.into(),
        }));
        self
    }

    /// The selectors for a Unix caller, blocking (reads files, may hash a binary).
    fn attest_blocking(&self, uid: u32, gid: u32, pid: Option<i32>) -> Vec<Selector> {
        let mut selectors = vec![Selector::unix_uid(uid), Selector::unix_gid(gid)];
        let caller_proc = pid.and_then(|pid| caller_proc(uid, pid));
        if let Some(accounts) = &self.accounts {
            let group = read_account_file(&accounts.group);
            if let Some(name) =
                read_account_file(&accounts.passwd).and_then(|t| name_of_id(&t, uid))
            {
                selectors.push(Selector::trusted("unix", &format!("user:{name}")));
            }
            if let Some(name) = group.as_deref().and_then(|t| name_of_id(t, gid)) {
                selectors.push(Selector::trusted("unix", &format!("group:{name}")));
            }
            if let Some(proc_dir) = &caller_proc {
                push_supplementary(proc_dir, group.as_deref(), &mut selectors);
            }
        }
        if let (true, Some(proc_dir)) = (self.hash_binaries, &caller_proc) {
            match self.binary(proc_dir) {
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

    /// The path and SHA-256 of the binary the caller's process (`proc_dir`, from
    /// [`caller_proc`]) runs, or `None` when the path is not UTF-8.
    fn binary(&self, proc_dir: &Path) -> std::io::Result<Option<(String, String)>> {
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
            let (Some(uid), Some(gid)) = (caller.uid(), caller.gid()) else {
                return Ok(Vec::new());
            };
            if self.accounts.is_none() && (!self.hash_binaries || caller.pid().is_none()) {
                return Ok(vec![Selector::unix_uid(uid), Selector::unix_gid(gid)]);
            }
            let this = self.clone();
            let pid = caller.pid();
            tokio::task::spawn_blocking(move || this.attest_blocking(uid, gid, pid))
                .await
                .map_err(|_| Error::AttestationFailed)
        })
    }
}

/// `/proc/<pid>` when it belongs to `uid`, the uid the kernel reported for the socket; `None`
/// when it does not (the pid was reused by another user: see "Peer credentials and their
/// limits") or cannot be read. Every selector read through the pid goes through this check.
fn caller_proc(uid: u32, pid: i32) -> Option<PathBuf> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    match std::fs::metadata(&proc_dir) {
        Ok(metadata) if metadata.uid() == uid => Some(proc_dir),
        Ok(_) => None,
        Err(error) => {
            tracing::debug!(pid, %error, "caller's /proc not readable; no /proc selectors");
            None
        }
    }
}

/// `unix:supplementary_gid` / `unix:supplementary_group` for the groups in the caller's
/// `status`, named from `group` (the group file's text) where it knows them.
fn push_supplementary(proc_dir: &Path, group: Option<&str>, selectors: &mut Vec<Selector>) {
    let status = match read_capped(&proc_dir.join("status")) {
        Ok(status) => status,
        Err(error) => {
            tracing::debug!(%error, "caller's status not readable; no group selectors");
            return;
        }
    };
    for gid in supplementary_gids(&status) {
        selectors.push(Selector::trusted(
            "unix",
            &format!("supplementary_gid:{gid}"),
        ));
        if let Some(name) = group.and_then(|text| name_of_id(text, gid)) {
            selectors.push(Selector::trusted(
                "unix",
                &format!("supplementary_group:{name}"),
            ));
        }
    }
}

/// Reads a file of at most [`MAX_ACCOUNT_FILE`] bytes as text.
fn read_capped(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_ACCOUNT_FILE)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// The text of a passwd or group file; `None` (logged) when it cannot be read.
fn read_account_file(path: &Path) -> Option<String> {
    read_capped(path)
        .map_err(|error| {
            tracing::debug!(path = %path.display(), %error, "account file not readable");
        })
        .ok()
}

/// The name of `id` in the text of a passwd or group file.
fn name_of_id(text: &str, id: u32) -> Option<String> {
    account_lines(text).find_map(|fields| name_of(fields, id))
}

/// The `:`-separated fields of each entry of a passwd or group file (comments and blank
/// lines skipped).
fn account_lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split(':').collect())
}

/// The name (field 1) of an entry whose id (field 3, as in both passwd and group) is `id`.
/// Entries whose name is empty or not a plain name (NIS `+`/`-` lines) are skipped.
fn name_of(fields: Vec<&str>, id: u32) -> Option<String> {
    let (name, entry_id) = (fields.first()?, fields.get(2)?);
    let plain = !name.is_empty()
        && !name.starts_with(['+', '-'])
        && name.chars().all(|c| !c.is_control() && !c.is_whitespace());
    (plain && entry_id.parse::<u32>().ok() == Some(id)).then(|| (*name).to_owned())
}

/// The supplementary group ids on the `Groups:` line of a `/proc/<pid>/status`.
fn supplementary_gids(status: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Groups:"))
        .map(|groups| {
            groups
                .split_whitespace()
                .filter_map(|gid| gid.parse().ok())
                .collect()
        })
        .unwrap_or_default()
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
                .remote_addr()
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
    async fn no_proc_selectors_when_proc_belongs_to_another_uid() {
        let uid = std::fs::metadata("/proc/self").unwrap().uid();
        let pid = i32::try_from(std::process::id()).unwrap();
        let other = uid.wrapping_add(1);
        let (dir, attestor) =
            with_accounts(&format!("svc:x:{other}:0::/:/bin/sh\n"), "root:x:0:\n");
        let selectors = attestor
            .attest(&Caller::unix(other, 0, Some(pid)))
            .await
            .unwrap();
        // Names come from the credentials (exact); nothing is read through the pid.
        assert_eq!(
            selectors,
            vec![
                Selector::unix_uid(other),
                Selector::unix_gid(0),
                Selector::parse("unix:user:svc").unwrap(),
                Selector::parse("unix:group:root").unwrap(),
            ]
        );
        drop(dir);
    }

    /// An attestor whose account files hold `passwd` and `group`.
    fn with_accounts(passwd: &str, group: &str) -> (tempfile::TempDir, UnixAttestor) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("passwd"), passwd).unwrap();
        std::fs::write(dir.path().join("group"), group).unwrap();
        let attestor = UnixAttestor::new()
            .without_binary_selectors()
            .with_account_files(dir.path().join("passwd"), dir.path().join("group"));
        (dir, attestor)
    }

    fn values(selectors: &[Selector], prefix: &str) -> Vec<String> {
        selectors
            .iter()
            .filter_map(|s| s.as_str().strip_prefix(prefix).map(str::to_owned))
            .collect()
    }

    #[tokio::test]
    async fn user_and_group_names_come_from_the_account_files() {
        let (_dir, attestor) = with_accounts(
            "# comment\n\n+::0:0:::\nshort:x\nbad:x:notanumber:1::/:\n\
             alice:x:4242:4243:Alice:/home/alice:/bin/sh\nalias:x:4242:4243::/:\n",
            "staff:x:4243:alice\nwheel:x:10:\n",
        );
        let selectors = attestor
            .attest(&Caller::unix(4242, 4243, None))
            .await
            .unwrap();
        // The first entry for an id wins; comments, NIS lines and malformed lines are skipped.
        assert_eq!(values(&selectors, "unix:user:"), ["alice"]);
        assert_eq!(values(&selectors, "unix:group:"), ["staff"]);

        // Ids the files do not name get no name selectors (and `+::0:0` does not name 0).
        let selectors = attestor.attest(&Caller::unix(0, 99, None)).await.unwrap();
        assert!(values(&selectors, "unix:user:").is_empty(), "{selectors:?}");
        assert!(
            values(&selectors, "unix:group:").is_empty(),
            "{selectors:?}"
        );
    }

    #[tokio::test]
    async fn unreadable_account_files_give_no_names_and_no_error() {
        let attestor = UnixAttestor::new()
            .without_binary_selectors()
            .with_account_files("/nonexistent/passwd", "/nonexistent/group");
        let selectors = attestor.attest(&Caller::unix(0, 0, None)).await.unwrap();
        assert_eq!(
            selectors,
            vec![Selector::unix_uid(0), Selector::unix_gid(0)]
        );
    }

    #[tokio::test]
    async fn without_account_selectors_reads_no_names() {
        let selectors = UnixAttestor::new()
            .without_binary_selectors()
            .without_account_selectors()
            .with_account_files("/etc/passwd", "/etc/group")
            .without_account_selectors()
            .attest(&Caller::unix(0, 0, None))
            .await
            .unwrap();
        assert_eq!(
            selectors,
            vec![Selector::unix_uid(0), Selector::unix_gid(0)]
        );
    }

    #[test]
    fn supplementary_gids_are_read_from_the_groups_line() {
        let status =
            "Name:\tapp\nUid:\t1000\t1000\t1000\t1000\nGroups:\t4 24 27 x 1000 \nNgid:\t0\n";
        assert_eq!(supplementary_gids(status), [4, 24, 27, 1000]);
        assert!(supplementary_gids("Groups:\t\n").is_empty());
        assert!(supplementary_gids("Name:\tapp\n").is_empty());
    }

    /// A child process given supplementary groups 4242 and 4243 by `setpriv` (needs root):
    /// its pid yields both ids, and the name of the one the group file knows.
    #[tokio::test]
    async fn supplementary_groups_of_a_process() {
        let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
        let setpriv = Path::new("/usr/bin/setpriv");
        if !root || !setpriv.exists() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI runs as root with util-linux's setpriv"
            );
            eprintln!("skipped: needs root and /usr/bin/setpriv to give a child process groups");
            return;
        }
        let mut child = std::process::Command::new(setpriv)
            .args([
                "--groups=4242,4243",
                "--reuid=0",
                "--regid=0",
                "sleep",
                "30",
            ])
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        // setpriv sets the groups, then execs sleep: wait until the status shows them.
        let status = format!("/proc/{pid}/status");
        for _ in 0..500 {
            let text = std::fs::read_to_string(&status).unwrap_or_default();
            if supplementary_gids(&text) == [4242, 4243] && text.contains("Name:\tsleep") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let (_dir, attestor) = with_accounts("root:x:0:0::/:\n", "root:x:0:\nops:x:4243:\n");
        let selectors = attestor.attest(&Caller::unix(0, 0, Some(pid))).await;
        let other = attestor.attest(&Caller::unix(1, 0, Some(pid))).await;
        child.kill().unwrap();
        child.wait().unwrap();

        let selectors = selectors.unwrap();
        assert_eq!(
            values(&selectors, "unix:supplementary_gid:"),
            ["4242", "4243"]
        );
        assert_eq!(values(&selectors, "unix:supplementary_group:"), ["ops"]);
        assert_eq!(values(&selectors, "unix:user:"), ["root"]);
        // The same pid claimed for another uid: /proc/<pid> is not that uid's.
        assert!(values(&other.unwrap(), "unix:supplementary_gid:").is_empty());
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
