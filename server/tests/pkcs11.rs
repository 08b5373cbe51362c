//! The `server` binary with its CA keys on a PKCS#11 token (SoftHSM2, `[ca.pkcs11]`): the keys
//! are generated on the token (counted there), a node attested through the node API gets an
//! agent SVID that chains to the published bundle, and a restarted server signs with the same
//! CA (same bundle, same authorities, no new key on the token). Next to `[ca.upstream_disk]`,
//! the token holds the replica's intermediate and the bundle is the upstream root. A wrong or
//! missing PIN stops the server at start, naming the reason, before the store is created.
//!
//! SoftHSM reads `SOFTHSM2_CONF` when its module is initialised: the servers get it in their
//! environment, and the key count runs in a child process of this test binary
//! (`test_support::softhsm`). Without SoftHSM2 the tests skip with a printed reason, except
//! under `CI=true`, where they fail (`interop/softhsm/setup.sh` installs it).

#![cfg(feature = "pkcs11")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use common::processes::{Process, admin, pem, server_binary, spawn_server, write};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use node_api::{Attestation, NodeClient, NodeClientConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls_pki_types::UnixTime;
use serde_json::Value;
use svid::X509Verifier;
use test_support::softhsm::{ChildEnv, SoftHsm};
use trust_bundle::{BundleSet, X509Bundle};

const TOKEN: &str = "spiffe";
const SO_PIN: &str = "1234";
const PIN: &str = "5678";
/// The server's default PIN variable (`server::DEFAULT_PIN_ENV`).
const PIN_ENV: &str = "SPIFFE_SERVER_PKCS11_PIN";

/// `server --config <config>` on the SoftHSM of `hsm`, with `pin` in the default variable
/// (`None`: the variable unset).
fn server_command(hsm: &SoftHsm, config: &Path, pin: Option<&str>) -> Command {
    let mut command = hsm.command(server_binary());
    command.arg("--config").arg(config);
    match pin {
        Some(pin) => command.env(PIN_ENV, pin),
        None => command.env_remove(PIN_ENV),
    };
    command
}

fn start(hsm: &SoftHsm, config: &Path) -> (Process, String) {
    let (process, address, _) = spawn_server(server_command(hsm, config, Some(PIN)));
    (process, address)
}

/// The bundle `server bundle show --pem` prints.
fn bundle_pem(config: &Path) -> Vec<u8> {
    let output = Command::new(server_binary())
        .args(["bundle", "show", "--pem", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A node attested with a fresh join token (through the node API, trusting `bundle` for the
/// server's certificate) gets an agent SVID; it must verify against `bundle`. Returns the
/// length of its chain.
async fn attested_svid_verifies(config: &Path, address: &str, bundle: &[u8]) -> usize {
    let token = admin(config, &["token", "create", "--ttl", "5m"]);
    let bundle = X509Bundle::from_pem("example.org".parse().unwrap(), bundle).unwrap();
    let client = NodeClient::new(NodeClientConfig::new(
        vec![address.to_owned()],
        bundle.clone(),
        svid::Crypto::default(),
    ))
    .unwrap();
    let attested = client
        .attest(Attestation::join_token(token["token"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(
        attested.svid.spiffe_id().to_string(),
        token["agent_id"].as_str().unwrap()
    );
    let verifier = X509Verifier::new(
        BundleSet::from_bundles([bundle]).unwrap(),
        &svid::Crypto::default(),
    );
    let verified = verifier
        .verify(attested.svid.chain(), UnixTime::now())
        .unwrap();
    assert_eq!(verified.spiffe_id(), attested.svid.spiffe_id());
    attested.svid.chain().len()
}

/// In a child of this test binary (see [`token_keys`]): counts the private and public keys on
/// the token and writes them to `<phase>.count`.
fn count_keys_in_child(env: &ChildEnv) {
    let pkcs11 = Pkcs11::new(&env.module).unwrap();
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = pkcs11
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|slot| pkcs11.get_token_info(*slot).unwrap().label().trim_end() == TOKEN)
        .unwrap();
    let session = pkcs11.open_ro_session(slot).unwrap();
    session
        .login(UserType::User, Some(&AuthPin::from(PIN.to_owned())))
        .unwrap();
    let count = |class| {
        session
            .find_objects(&[Attribute::Class(class)])
            .unwrap()
            .len()
    };
    let text = format!(
        "{} {}",
        count(ObjectClass::PRIVATE_KEY),
        count(ObjectClass::PUBLIC_KEY)
    );
    std::fs::write(env.work.join(format!("{}.count", env.phase)), text).unwrap();
}

/// (private keys, public keys) on the token, counted through PKCS#11 in a child process of
/// this test binary running `test` as `phase`.
fn token_keys(hsm: &SoftHsm, test: &str, phase: &str) -> (usize, usize) {
    let status = hsm.run_child(test, phase);
    assert!(status.success(), "{test}, phase {phase}: {status}");
    // A child whose test filter matched nothing would also succeed, without the file.
    let text = std::fs::read_to_string(hsm.work().join(format!("{phase}.count")))
        .expect("the child counted the keys");
    let (private, public) = text.split_once(' ').unwrap();
    (private.parse().unwrap(), public.parse().unwrap())
}

fn authorities(config: &Path) -> Value {
    admin(config, &["ca", "list"])
}

/// The config of a server with its CA keys on the test token, and `extra` sections.
fn write_config(hsm: &SoftHsm, dir: &Path, extra: &str) -> std::path::PathBuf {
    let config = dir.join("server.toml");
    write(
        &config,
        &format!(
            "trust_domain = \"example.org\"\nlisten_address = \"127.0.0.1:0\"\n\
             admin_socket_path = \"admin.sock\"\n\
             [ca.pkcs11]\nmodule = \"{module}\"\ntoken_label = \"{TOKEN}\"\n{extra}",
            module = hsm.module().display(),
        ),
    );
    config
}

const RESTART_TEST: &str = "server_keeps_its_ca_keys_on_the_token_across_restarts";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_keeps_its_ca_keys_on_the_token_across_restarts() {
    if let Some(env) = ChildEnv::current() {
        count_keys_in_child(&env);
        return;
    }
    let Some(hsm) = SoftHsm::start_or_skip(RESTART_TEST) else {
        return;
    };
    hsm.init_token(TOKEN, SO_PIN, PIN);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&hsm, dir.path(), "");

    let (server, address) = start(&hsm, &config);
    let bundle = bundle_pem(&config);
    let before = authorities(&config);
    assert_eq!(
        attested_svid_verifies(&config, &address, &bundle).await,
        1,
        "agent SVIDs are signed by the root on the token"
    );
    server.terminate();
    // The X.509 authority and the JWT signing key, each a key pair on the token.
    assert_eq!(token_keys(&hsm, RESTART_TEST, "first"), (2, 2));

    let (server, address) = start(&hsm, &config);
    assert_eq!(bundle_pem(&config), bundle, "the same trust root");
    assert_eq!(authorities(&config), before, "the same authorities");
    assert_eq!(attested_svid_verifies(&config, &address, &bundle).await, 1);
    server.terminate();
    assert_eq!(
        token_keys(&hsm, RESTART_TEST, "restarted"),
        (2, 2),
        "the restart made no new key"
    );

    // A wrong PIN, or none, stops a server at start with the reason, before its store is
    // created.
    let fresh = dir.path().join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    let fresh_config = write_config(&hsm, &fresh, "");
    for (pin, expected) in [
        (Some("0000"), "wrong PIN"),
        (
            None,
            "ca.pkcs11.pin_env: the environment variable SPIFFE_SERVER_PKCS11_PIN",
        ),
    ] {
        let output = server_command(&hsm, &fresh_config, pin).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(
            stderr.contains(expected) && stderr.contains("ca.pkcs11"),
            "{stderr}"
        );
        assert!(!fresh.join("server.db").exists(), "{pin:?}: store created");
    }
}

const UPSTREAM_TEST: &str = "a_replica_keeps_its_intermediate_key_on_the_token_under_a_disk_root";

/// `[ca.pkcs11]` with `[ca.upstream_disk]` (allowed, as in the agent): the key on the token
/// is the intermediate's, the upstream root on disk signs it, and the bundle is that root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_keeps_its_intermediate_key_on_the_token_under_a_disk_root() {
    if let Some(env) = ChildEnv::current() {
        count_keys_in_child(&env);
        return;
    }
    let Some(hsm) = SoftHsm::start_or_skip(UPSTREAM_TEST) else {
        return;
    };
    hsm.init_token(TOKEN, SO_PIN, PIN);
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate().unwrap();
    let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    root.distinguished_name
        .push(DnType::CommonName, "example.org root");
    let root = root.self_signed(&key).unwrap();
    let root_pem = pem(root.der());
    write(&dir.path().join("root.pem"), &root_pem);
    write(&dir.path().join("root.key"), &key.serialize_pem());
    std::fs::set_permissions(
        dir.path().join("root.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let config = write_config(
        &hsm,
        dir.path(),
        "[ca.upstream_disk]\ncert_path = \"root.pem\"\nkey_path = \"root.key\"\n",
    );

    let (server, address) = start(&hsm, &config);
    let bundle = bundle_pem(&config);
    let published = X509Bundle::from_pem("example.org".parse().unwrap(), &bundle).unwrap();
    assert_eq!(
        published.authorities(),
        [root.der().clone()],
        "the bundle is the upstream root"
    );
    assert_eq!(
        attested_svid_verifies(&config, &address, root_pem.as_bytes()).await,
        2,
        "leaf and the intermediate on the token, under the disk root"
    );
    server.terminate();
    // The intermediate's key and the JWT signing key; the root's key stays on disk.
    assert_eq!(token_keys(&hsm, UPSTREAM_TEST, "first"), (2, 2));
}
