//! `FsSource` on real folders: each layout, rotation by `..data` swap (inotify and polling),
//! broken and inconsistent files, and TLS handshakes during continuous swaps.
#![cfg(all(feature = "fs", unix))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use ca::TestCa;
use spiffe_id::{IdMatcher, TrustDomain};
use svid::{X509Svid, X509SvidSource};
use trust_bundle::{BundleSet, X509BundleSource};
use workload_client::fs::FsSource;
use workload_client::{Error, FsError};

/// A generous bound for a change to be noticed; the tests never assert on durations.
const NOTICE: Duration = Duration::from_secs(20);

fn td(name: &str) -> TrustDomain {
    name.parse().unwrap()
}

/// Key first, then the chain: the draft's `credential-bundle.pem`.
fn credential(svid: &X509Svid) -> Vec<u8> {
    let mut out = svid.private_key().to_pem().as_bytes().to_vec();
    out.extend_from_slice(svid.chain_pem().as_bytes());
    out
}

fn key_pem(svid: &X509Svid) -> Vec<u8> {
    svid.private_key().to_pem().as_bytes().to_vec()
}

fn roots(ca: &TestCa) -> Vec<u8> {
    test_support::pem::pem(ca.x509_bundle().authorities()).into_bytes()
}

/// A kubelet-style atomic writer (kubernetes `atomic_writer.go`; FILES-AND-PROXY 3.2): the
/// files go into a fresh hidden generation directory, `..data_tmp` is pointed at it and
/// renamed over `..data`, each visible name is a symlink `name -> ..data/name`, and the old
/// generation is deleted.
struct AtomicWriter {
    dir: std::path::PathBuf,
    count: usize,
}

impl AtomicWriter {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            count: 0,
        }
    }

    fn write(&mut self, files: &[(&str, &[u8])]) {
        self.count += 1;
        let name = format!("..gen_{:06}", self.count);
        let generation = self.dir.join(&name);
        std::fs::create_dir(&generation).unwrap();
        for (file, contents) in files {
            std::fs::write(generation.join(file), contents).unwrap();
        }
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&name, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        for (file, _) in files {
            let visible = self.dir.join(file);
            if std::fs::symlink_metadata(&visible).is_err() {
                std::os::unix::fs::symlink(Path::new("..data").join(file), &visible).unwrap();
            }
        }
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}

async fn changed(source: &FsSource, from: u64) {
    let mut updates = source.updated();
    tokio::time::timeout(NOTICE, updates.wait_for(|g| *g > from))
        .await
        .expect("the change is noticed")
        .unwrap();
}

fn leaf(source: &FsSource) -> Vec<u8> {
    source.x509_svid().unwrap().leaf().to_vec()
}

/// SPIFFE Filesystem Delivery (FILES-AND-PROXY 3.1): `credential-bundle.pem` and one
/// `<td>.spiffe-trust-bundle.pem` per trust domain, each trust domain reachable only through
/// its own file (SPIFFE bundle 3; digest 8.1); writer state and other files are ignored. The
/// file set is also what `spiffekit fetch x509 --write` writes, in `..data` generations.
#[tokio::test]
async fn loads_a_filesystem_delivery_folder() {
    let (ca, partner) = (TestCa::new("example.org"), TestCa::new("partner.example"));
    let svid = ca.x509_svid("/web");
    let dir = tempfile::tempdir().unwrap();
    AtomicWriter::new(dir.path()).write(&[
        ("credential-bundle.pem", &credential(&svid)),
        ("svid.pem", svid.chain_pem().as_bytes()),
        ("svid_key.pem", &key_pem(&svid)),
        ("example.org.spiffe-trust-bundle.pem", &roots(&ca)),
        ("partner.example.spiffe-trust-bundle.pem", &roots(&partner)),
        ("example.org.bundle.json", ca.bundle().to_json().as_bytes()),
        ("README", b"not a bundle"),
    ]);

    let source = FsSource::builder(dir.path()).build().await.unwrap();
    assert_eq!(source.x509_svid().unwrap().chain(), svid.chain());
    assert_eq!(
        source
            .x509_bundle(&td("example.org"))
            .unwrap()
            .authorities(),
        ca.x509_bundle().authorities()
    );
    assert_eq!(
        source
            .x509_bundle(&td("partner.example"))
            .unwrap()
            .authorities(),
        partner.x509_bundle().authorities()
    );
    assert!(source.x509_bundle(&td("other.example")).is_none());
    assert_eq!(source.bundle_set().len(), 2);
    let status = source.status();
    assert!(status.is_healthy(), "{status:?}");
    assert_eq!(status.generation, 1);
}

/// spiffe-helper's files (FILES-AND-PROXY 1): chain, key and the SVID's own trust domain's
/// bundle in three plain files, written in place.
#[tokio::test]
async fn loads_spiffe_helper_output() {
    let ca = TestCa::new("example.org");
    let svid = ca.x509_svid("/db");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("svid.pem"), svid.chain_pem()).unwrap();
    std::fs::write(dir.path().join("svid_key.pem"), key_pem(&svid)).unwrap();
    std::fs::write(dir.path().join("svid_bundle.pem"), roots(&ca)).unwrap();

    let source = FsSource::builder(dir.path())
        .certificate_and_key("svid.pem", "svid_key.pem")
        .svid_bundle("svid_bundle.pem")
        .build()
        .await
        .unwrap();
    assert_eq!(
        source.x509_svid().unwrap().spiffe_id().as_str(),
        "spiffe://example.org/db"
    );
    assert!(source.x509_bundle(&td("example.org")).is_some());
    assert_eq!(source.bundle_set().len(), 1);
}

/// gRPC A87 (FILES-AND-PROXY 3.3): certificate and key files plus a SPIFFE bundle map whose
/// bundles also carry JWT keys; the X.509 authorities of every trust domain are used, the JWT
/// keys are not served (an X.509 source never hands out JWT authorities: Workload API 5.2.1,
/// digest W-API-11). The map may sit outside the folder (absolute path).
#[tokio::test]
async fn loads_a_grpc_a87_bundle_map() {
    let (ca, partner) = (TestCa::new("example.org"), TestCa::new("partner.example"));
    let svid = ca.x509_svid("/api");
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), svid.chain_pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), key_pem(&svid)).unwrap();
    let map = TestCa::bundle_set_of(&[&ca, &partner]);
    assert!(map.iter().all(|(_, b)| !b.jwt_bundle().is_empty()));
    let map_path = elsewhere.path().join("spiffe_bundle_map.json");
    std::fs::write(&map_path, map.to_bundle_map_json()).unwrap();

    let source = FsSource::builder(dir.path())
        .certificate_and_key("cert.pem", "key.pem")
        .bundle_map(&map_path)
        .build()
        .await
        .unwrap();
    assert_eq!(source.x509_svid().unwrap().chain(), svid.chain());
    let set = source.bundle_set();
    assert_eq!(set.len(), 2);
    for (name, ca) in [("example.org", &ca), ("partner.example", &partner)] {
        let bundle = set.get(name).unwrap();
        assert_eq!(
            bundle.x509_bundle().authorities(),
            ca.x509_bundle().authorities()
        );
        assert!(bundle.jwt_bundle().is_empty(), "jwt keys are not used");
    }
}

/// A rotation is a `..data` swap: the visible names never change, so only a folder watch (or
/// the poll) sees it (FILES-AND-PROXY 3.2). Checked with inotify and with polling alone.
async fn rotation_is_picked_up(watch: bool) {
    let ca = TestCa::new("example.org");
    let (one, two) = (ca.x509_svid("/web"), ca.x509_svid("/web"));
    let dir = tempfile::tempdir().unwrap();
    let mut writer = AtomicWriter::new(dir.path());
    let bundle = roots(&ca);
    writer.write(&[
        ("credential-bundle.pem", &credential(&one)),
        ("example.org.spiffe-trust-bundle.pem", &bundle),
    ]);
    let source = FsSource::builder(dir.path())
        .watch(watch)
        .poll_interval(Duration::from_millis(if watch { 3_600_000 } else { 50 }))
        .build()
        .await
        .unwrap();
    assert_eq!(source.status().watching, watch);
    assert_eq!(leaf(&source), one.leaf().to_vec());
    let bundle_generation = X509BundleSource::generation(&source);

    writer.write(&[
        ("credential-bundle.pem", &credential(&two)),
        ("example.org.spiffe-trust-bundle.pem", &bundle),
    ]);
    changed(&source, 1).await;
    assert_eq!(leaf(&source), two.leaf().to_vec());
    assert_eq!(source.status().generation, 2);
    // Same bundle contents: same bundle generation, so verifier caches stay valid.
    assert_eq!(X509BundleSource::generation(&source), bundle_generation);
}

#[tokio::test]
async fn rotation_by_data_swap_is_picked_up_by_inotify() {
    rotation_is_picked_up(true).await;
}

#[tokio::test]
async fn rotation_by_data_swap_is_picked_up_by_polling_alone() {
    rotation_is_picked_up(false).await;
}

/// Unchanged files change nothing: no new generation, the same SVID `Arc` (consumers cache
/// on it: svid `X509SvidSource`), the same bundle generation.
#[tokio::test]
async fn unchanged_files_keep_the_generation() {
    let ca = TestCa::new("example.org");
    let dir = tempfile::tempdir().unwrap();
    let mut writer = AtomicWriter::new(dir.path());
    let files = [
        ("credential-bundle.pem", credential(&ca.x509_svid("/web"))),
        ("example.org.spiffe-trust-bundle.pem", roots(&ca)),
    ];
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (*n, c.as_slice())).collect();
    writer.write(&files);
    let source = FsSource::builder(dir.path()).build().await.unwrap();
    let (svid, generation) = (
        source.x509_svid().unwrap(),
        X509BundleSource::generation(&source),
    );
    writer.write(&files); // a new generation directory, same contents
    assert!(!source.reload().await.unwrap());
    assert!(Arc::ptr_eq(&svid, &source.x509_svid().unwrap()));
    assert_eq!(X509BundleSource::generation(&source), generation);
    assert_eq!(source.status().generation, 1);
}

/// A half-written or broken file keeps the last good state, with the typed reason in the
/// status, until the file is whole again.
#[tokio::test]
async fn half_written_file_keeps_the_last_good_state() {
    let ca = TestCa::new("example.org");
    let (one, two) = (ca.x509_svid("/web"), ca.x509_svid("/web"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credential-bundle.pem");
    std::fs::write(&path, credential(&one)).unwrap();
    std::fs::write(
        dir.path().join("example.org.spiffe-trust-bundle.pem"),
        roots(&ca),
    )
    .unwrap();
    let source = FsSource::builder(dir.path())
        .watch(false)
        .poll_interval(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();

    let whole = credential(&two);
    std::fs::write(&path, &whole[..whole.len() - 200]).unwrap(); // cut inside the leaf
    let refused = source.reload().await.unwrap_err();
    assert!(
        matches!(&refused, Error::Files(e) if matches!(**e, FsError::Svid { .. })),
        "{refused:?}"
    );
    assert_eq!(leaf(&source), one.leaf().to_vec());
    let status = source.status();
    assert!(matches!(
        status.last_error.as_deref(),
        Some(FsError::Svid { .. })
    ));
    assert!(!status.is_healthy());
    assert_eq!(status.generation, 1);

    std::fs::write(dir.path().join("example.org.spiffe-trust-bundle.pem"), b"").unwrap();
    std::fs::write(&path, &whole).unwrap();
    let refused = source.reload().await.unwrap_err();
    assert!(matches!(&refused, Error::Files(e) if matches!(**e, FsError::Bundle { .. })));
    assert_eq!(leaf(&source), one.leaf().to_vec());

    std::fs::write(
        dir.path().join("example.org.spiffe-trust-bundle.pem"),
        roots(&ca),
    )
    .unwrap();
    assert!(source.reload().await.unwrap());
    assert_eq!(leaf(&source), two.leaf().to_vec());
    assert!(source.status().is_healthy());
}

/// A new certificate next to the old key (a writer that rewrites the files one by one) is
/// never published: the key must belong to the leaf, since it is what proves possession of
/// the SVID (SPIFFE-ID 3.2; digest 1.9). The last good pair stays until the key follows.
#[tokio::test]
async fn key_and_certificate_mismatch_is_never_published() {
    let ca = TestCa::new("example.org");
    let (one, two) = (ca.x509_svid("/web"), ca.x509_svid("/web"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), one.chain_pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), key_pem(&one)).unwrap();
    std::fs::write(dir.path().join("ca.crt"), roots(&ca)).unwrap();
    let source = FsSource::builder(dir.path())
        .certificate_and_key("tls.crt", "tls.key")
        .svid_bundle("ca.crt")
        .build()
        .await
        .unwrap();

    std::fs::write(dir.path().join("tls.crt"), two.chain_pem()).unwrap();
    // Read whether or not inotify got there first: the state must be the old pair.
    let refused = source.reload().await.unwrap_err();
    assert!(
        matches!(&refused, Error::Files(e) if matches!(**e, FsError::KeyMismatch { .. })),
        "{refused:?}"
    );
    assert_eq!(leaf(&source), one.leaf().to_vec());
    assert!(matches!(
        source.status().last_error.as_deref(),
        Some(FsError::KeyMismatch { .. })
    ));

    std::fs::write(dir.path().join("tls.key"), key_pem(&two)).unwrap();
    changed(&source, 1).await;
    assert_eq!(leaf(&source), two.leaf().to_vec());
    assert!(source.status().is_healthy());
}

/// A removed trust bundle file removes that trust domain (de-federation, FILES-AND-PROXY 3.1).
#[tokio::test]
async fn removed_trust_bundle_file_removes_the_trust_domain() {
    let (ca, partner) = (TestCa::new("example.org"), TestCa::new("partner.example"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("credential-bundle.pem"),
        credential(&ca.x509_svid("/web")),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("example.org.spiffe-trust-bundle.pem"),
        roots(&ca),
    )
    .unwrap();
    let partner_file = dir.path().join("partner.example.spiffe-trust-bundle.pem");
    std::fs::write(&partner_file, roots(&partner)).unwrap();
    let source = FsSource::builder(dir.path()).build().await.unwrap();
    assert!(source.x509_bundle(&td("partner.example")).is_some());

    std::fs::remove_file(&partner_file).unwrap();
    changed(&source, 1).await;
    assert!(source.x509_bundle(&td("partner.example")).is_none());
    assert!(source.x509_bundle(&td("example.org")).is_some());
}

/// Without consistent files at startup, `build` says why once its timeout is over.
#[tokio::test]
async fn startup_without_files_reports_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let error = FsSource::builder(dir.path())
        .startup_timeout(Duration::from_millis(100))
        .build()
        .await
        .unwrap_err();
    let Error::Files(error) = error else {
        panic!("{error:?}")
    };
    let FsError::StartupTimeout { last_error, .. } = &*error else {
        panic!("{error:?}")
    };
    assert!(matches!(last_error.as_deref(), Some(FsError::Io { .. })));
}

/// Drives one in-memory TLS handshake to its end (no sockets: 10,000 of them stay cheap on
/// two cores).
fn handshake(
    client: &mut rustls::ClientConnection,
    server: &mut rustls::ServerConnection,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut buffer = Vec::new();
    for _ in 0..16 {
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
        buffer.clear();
        while client.wants_write() {
            client.write_tls(&mut buffer)?;
        }
        let mut input = buffer.as_slice();
        while !input.is_empty() {
            server.read_tls(&mut input)?;
            server.process_new_packets()?;
        }
        buffer.clear();
        while server.wants_write() {
            server.write_tls(&mut buffer)?;
        }
        let mut input = buffer.as_slice();
        while !input.is_empty() {
            client.read_tls(&mut input)?;
            client.process_new_packets()?;
        }
    }
    Err("handshake did not finish".into())
}

/// The test: a rustls mTLS server on an `FsSource` (tls-integration's builder)
/// while another thread swaps `..data` generations continuously, each with its own key and
/// certificate in two files (`tls.crt`, `tls.key`). 10,000 in-memory handshakes: every one
/// succeeds (so the server's signature was made with the key of the leaf it sent: SPIFFE-ID
/// 3.2, digest 1.9) and the leaf is one of the generations written. Rotations are seen during
/// the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_handshake_sees_a_mismatched_key_and_certificate_during_generation_swaps() {
    const HANDSHAKES: usize = 10_000;
    let ca = TestCa::new("example.org");
    let generations: Vec<X509Svid> = (0..6).map(|_| ca.x509_svid("/server")).collect();
    let leaves: HashSet<Vec<u8>> = generations.iter().map(|s| s.leaf().to_vec()).collect();
    let dir = tempfile::tempdir().unwrap();
    let bundle = roots(&ca);
    let files = |svid: &X509Svid| {
        vec![
            ("tls.crt", svid.chain_pem().into_bytes()),
            ("tls.key", key_pem(svid)),
            ("ca.crt", bundle.clone()),
        ]
    };
    let mut writer = AtomicWriter::new(dir.path());
    let first = files(&generations[0]);
    writer.write(
        &first
            .iter()
            .map(|(n, c)| (*n, c.as_slice()))
            .collect::<Vec<_>>(),
    );

    let source = Arc::new(
        FsSource::builder(dir.path())
            .certificate_and_key("tls.crt", "tls.key")
            .svid_bundle("ca.crt")
            .build()
            .await
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicUsize::new(0));
    let swapper = {
        let (stop, swaps) = (Arc::clone(&stop), Arc::clone(&swaps));
        let contents: Vec<_> = generations.iter().map(files).collect();
        std::thread::spawn(move || {
            let mut next = 1;
            while !stop.load(Ordering::Relaxed) {
                let files = &contents[next % contents.len()];
                writer.write(
                    &files
                        .iter()
                        .map(|(n, c)| (*n, c.as_slice()))
                        .collect::<Vec<_>>(),
                );
                swaps.fetch_add(1, Ordering::Relaxed);
                next += 1;
            }
        })
    };

    let tls = tls_integration::SpiffeTls::new(svid::Crypto::default());
    let only = |path: &str| IdMatcher::exact(ca.id(path));
    let server = tls
        .mtls_server(source.clone(), source.clone(), only("/client"))
        .unwrap();
    let bundles: Arc<BundleSet> = Arc::new(ca.bundle_set());
    let client = tls
        .mtls_client(
            Arc::new(Arc::new(ca.x509_svid("/client"))),
            bundles,
            only("/server"),
        )
        .unwrap();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut seen = HashSet::new();
        for index in 0..HANDSHAKES {
            let (server_config, _) = server.for_connection();
            let (client_config, _) = client.for_connection();
            let mut s = rustls::ServerConnection::new(server_config).unwrap();
            let name = rustls::pki_types::ServerName::try_from("server.example").unwrap();
            let mut c = rustls::ClientConnection::new(client_config, name).unwrap();
            if let Err(error) = handshake(&mut c, &mut s) {
                return Err(format!("handshake {index} failed: {error}"));
            }
            let presented = c.peer_certificates().unwrap()[0].to_vec();
            if !leaves.contains(&presented) {
                return Err(format!("handshake {index} saw a leaf never written"));
            }
            seen.insert(presented);
        }
        Ok(seen.len())
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    let distinct = outcome.unwrap();
    assert!(distinct > 1, "rotations were served during the run");
    assert!(swaps.load(Ordering::Relaxed) > 1);
    assert!(source.status().generation > 1);
}
