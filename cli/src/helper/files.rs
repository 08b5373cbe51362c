//! What the helper writes, and how: each file through a temporary file in the same directory
//! (written, mode set, fsynced) renamed over the old one, so a reader sees the old file or the
//! new one, never half of one. Modes are set on every write, not only on creation.
//!
//! Order. All temporary files of an update are complete before the first rename; then the
//! bundle goes first (a peer's new authority is trusted before our new certificate is shown),
//! then the certificate and the key back to back, certificate first: a reader that opens the
//! certificate and then the key sees a mismatched pair only if both of its opens fall between
//! these two renames (microseconds); renaming the key first would mismatch every reader that
//! opened the certificate before the first rename and the key after it. For no window at all,
//! `credential_bundle_file_name` holds key and chain in one file. After the renames the files
//! are read back and the key checked against the certificate before anyone is signalled.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use svid::{Crypto, X509Svid};
use trust_bundle::{BundleSet, JwtBundle, SpiffeBundle};
use workload_client::{JwtSvid, X509Snapshot};
use zeroize::Zeroizing;

use crate::helper::config::Config;
use crate::pem::certificates_pem;

/// One file of an update.
pub(crate) struct Output {
    name: String,
    contents: Zeroizing<Vec<u8>>,
    mode: u32,
}

/// The X.509 files of `snapshot`, in rename order.
pub(crate) fn x509_outputs(
    config: &Config,
    snapshot: &X509Snapshot,
) -> Result<Vec<Output>, String> {
    let svid = snapshot
        .svid()
        .ok_or("the agent sent no X.509-SVID matching the configuration")?;
    let context = snapshot.context();
    let own = &svid.spiffe_id().trust_domain();
    let chain: Vec<&[u8]> = svid.chain().iter().map(AsRef::as_ref).collect();
    let key = svid.private_key().to_pem();
    let mut outputs = Vec::new();
    if let Some(names) = &config.x509 {
        let own_bundle = context
            .bundles()
            .get(own.as_str())
            .ok_or_else(|| format!("the agent sent no bundle for {own}"))?;
        let (svid_certs, intermediates) = if config.add_intermediates_to_bundle {
            (
                chain.get(..1).unwrap_or_default(),
                chain.get(1..).unwrap_or_default(),
            )
        } else {
            (chain.as_slice(), &[][..])
        };
        let mut bundle: Vec<&[u8]> = intermediates.to_vec();
        bundle.extend(
            own_bundle
                .x509_bundle()
                .authorities()
                .iter()
                .map(AsRef::as_ref),
        );
        if config.include_federated_domains {
            for (td, other) in context.bundles().iter() {
                if td != own {
                    bundle.extend(other.x509_bundle().authorities().iter().map(AsRef::as_ref));
                }
            }
        }
        outputs.push(public(
            &names.bundle,
            certificates_pem(bundle),
            config.cert_file_mode,
        ));
        outputs.push(public(
            &names.svid,
            certificates_pem(svid_certs.iter().copied()),
            config.cert_file_mode,
        ));
        outputs.push(Output {
            name: names.key.clone(),
            contents: Zeroizing::new(key.as_bytes().to_vec()),
            mode: config.key_file_mode,
        });
    }
    if let Some(name) = &config.bundle_map_file_name {
        outputs.insert(
            0,
            public(
                name,
                x509_bundle_map(context.bundles())?,
                config.cert_file_mode,
            ),
        );
    }
    if let Some(name) = &config.credential_bundle_file_name {
        let mut contents = Zeroizing::new(key.as_bytes().to_vec());
        contents.extend_from_slice(certificates_pem(chain.iter().copied()).as_bytes());
        outputs.push(Output {
            name: name.clone(),
            contents,
            mode: config.key_file_mode,
        });
    }
    Ok(outputs)
}

fn public(name: &str, contents: impl Into<Vec<u8>>, mode: u32) -> Output {
    Output {
        name: name.to_owned(),
        contents: Zeroizing::new(contents.into()),
        mode,
    }
}

/// A SPIFFE bundle map (gRPC A87) with the X.509 authorities only: grpc-java refuses maps
/// that carry JWT keys. Every trust domain gets its own entry, never merged.
fn x509_bundle_map(bundles: &BundleSet) -> Result<String, String> {
    let x509_only = bundles.iter().map(|(td, bundle)| {
        let mut only =
            SpiffeBundle::from_parts(bundle.x509_bundle().clone(), JwtBundle::new(td.clone()))?;
        if let Some(sequence) = bundle.sequence() {
            only = only.with_sequence(sequence);
        }
        Ok(only)
    });
    let x509_only: Vec<SpiffeBundle> = x509_only
        .collect::<Result<_, trust_bundle::Error>>()
        .map_err(|e| e.to_string())?;
    BundleSet::from_bundles(x509_only)
        .map(|set| set.to_bundle_map_json())
        .map_err(|e| e.to_string())
}

/// The JWT-SVID file: the token as is, no newline (as spiffe-helper writes it).
pub(crate) fn jwt_svid_output(config: &Config, name: &str, svid: &JwtSvid) -> Output {
    Output {
        name: name.to_owned(),
        contents: Zeroizing::new(svid.token().as_bytes().to_vec()),
        mode: config.jwt_svid_file_mode,
    }
}

/// The JWT bundle file in spiffe-helper's format: `{"<td>": "<base64 of the JWK Set>"}`.
pub(crate) fn jwt_bundles_output(config: &Config, name: &str, bundles: &BundleSet) -> Output {
    let map: serde_json::Map<String, serde_json::Value> = bundles
        .iter()
        .map(|(td, bundle)| {
            let jwks = bundle.jwt_bundle().to_workload_api_json();
            (
                td.as_str().to_owned(),
                base64::engine::general_purpose::STANDARD
                    .encode(jwks)
                    .into(),
            )
        })
        .collect();
    public(
        name,
        serde_json::Value::Object(map).to_string(),
        config.jwt_bundle_file_mode,
    )
}

/// Writes `outputs` into `dir`: every temporary file complete first, then the renames in
/// order, then the directory synced. Returns the paths.
pub(crate) fn write(dir: &Path, outputs: &[Output]) -> Result<Vec<PathBuf>, String> {
    let mut staged = Vec::with_capacity(outputs.len());
    for output in outputs {
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", output.name))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))?;
        let file = temp.as_file_mut();
        file.set_permissions(fs::Permissions::from_mode(output.mode))
            .and_then(|()| file.write_all(&output.contents))
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", temp.path().display()))?;
        staged.push((temp, dir.join(&output.name)));
    }
    let mut written = Vec::with_capacity(staged.len());
    for (temp, path) in staged {
        temp.persist(&path)
            .map_err(|e| format!("cannot rename into {}: {}", path.display(), e.error))?;
        written.push(path);
    }
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
    Ok(written)
}

/// Reads the written certificate and key back and checks that the key matches the leaf and
/// that the leaf is the one just written (another writer could have raced us).
pub(crate) fn check_written(
    config: &Config,
    expected: &rustls_pki_types::CertificateDer<'_>,
    crypto: &Crypto,
) -> Result<(), String> {
    let dir = &config.cert_dir;
    let mut pairs = Vec::new();
    if let Some(names) = &config.x509 {
        pairs.push((dir.join(&names.svid), dir.join(&names.key)));
    }
    if let Some(name) = &config.credential_bundle_file_name {
        pairs.push((dir.join(name), dir.join(name)));
    }
    for (cert, key) in pairs {
        let svid = X509Svid::load(&cert, &key, crypto).map_err(|e| {
            format!(
                "{} and {} read back do not make an SVID: {e}",
                cert.display(),
                key.display()
            )
        })?;
        if svid.chain().first().map(AsRef::as_ref) != Some(expected.as_ref()) {
            return Err(format!("{} changed under the helper", cert.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    fn config(dir: &Path) -> Config {
        let text = format!(
            "cert_dir = \"{}\"\nagent_address = \"/x\"\nsvid_file_name = \"svid.pem\"\n\
             svid_key_file_name = \"key.pem\"\nsvid_bundle_file_name = \"bundle.pem\"\n",
            dir.display()
        );
        let path = dir.join("helper.conf");
        fs::write(&path, text).unwrap();
        Config::load(&path, None).unwrap()
    }

    /// The read-back check refuses a key that does not match the certificate, and a
    /// certificate other than the one just written; it accepts the matching pair.
    #[test]
    fn read_back_check_refuses_a_mismatched_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let ca = ca::TestCa::new("example.org");
        let (one, two) = (ca.x509_svid("/one"), ca.x509_svid("/two"));
        let outputs = |cert: &X509Svid, key: &X509Svid| {
            vec![
                public("svid.pem", cert.chain_pem(), 0o644),
                Output {
                    name: "key.pem".to_owned(),
                    contents: Zeroizing::new(key.private_key().to_pem().as_bytes().to_vec()),
                    mode: 0o600,
                },
            ]
        };
        let crypto = Crypto::default();
        write(dir.path(), &outputs(&one, &one)).unwrap();
        check_written(&config, &one.chain()[0], &crypto).unwrap();
        assert!(check_written(&config, &two.chain()[0], &crypto).is_err());
        write(dir.path(), &outputs(&one, &two)).unwrap();
        let error = check_written(&config, &one.chain()[0], &crypto).unwrap_err();
        assert!(error.contains("do not make an SVID"), "{error}");
    }
}
