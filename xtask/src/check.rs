//! `gen-vectors --check`: compare the checked-in corpus with a fresh generation, field by field,
//! leaving out what depends on key material.

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use serde_json::Value;

use crate::Result;
use trust_bundle::der::{Reader, Tlv, oid};

/// What `--check` compares; printed by `--help` and written into the corpus README.
pub(crate) const COMPARED: &str = "\
Key pairs are generated afresh on every run (RSA excepted: it is the checked-in
svid/tests/data/rsa2048.pk8.pem), and ECDSA and RSA-PSS signatures are randomized, so those
bytes differ between runs. --check regenerates the corpus into a temporary directory and
requires, against the checked-in directory:
  - the same set of files (no orphan, none missing);
  - manifest.json and README.md: identical bytes;
  - certificates (*.chain.pem, *.bundle.*.pem, and x5c members of JWT bundles): every DER
    element identical (version, serial number, signature algorithm, issuer, validity,
    subject, public key algorithm, and each extension with its criticality and value, the
    subject and authority key identifiers included, since they are derived from the vector
    name), except the subjectPublicKey bits, compared by length, and the signature value, not
    compared;
  - private keys (*.key.pem): PKCS#8 version and algorithm identifier identical; key octets
    compared by length;
  - JWT-SVIDs (*.token.json): header and payload segments identical (all five parts of the JWE
    vector; every member of the JSON-serialization vector but `signature`); the signature
    compared by decoded length;
  - JWT bundles (*.bundle.*.json): every member identical except the EC and OKP coordinates
    `x` and `y`, compared by decoded length (RSA `n` and `e` come from the fixed key and are
    compared as they are).
";

/// Differences between the checked-in corpus `old` and a fresh generation `new`, one line each.
pub(crate) fn compare(old: &Path, new: &Path) -> Result<Vec<String>> {
    let old_files = list_files(old)?;
    let new_files = list_files(new)?;
    let mut differences = Vec::new();
    for path in old_files.difference(&new_files) {
        differences.push(format!("{path}: not written by the generator (orphan)"));
    }
    for path in new_files.difference(&old_files) {
        differences.push(format!("{path}: missing (the generator writes it)"));
    }
    for path in old_files.intersection(&new_files) {
        let checked_in = describe(path, &std::fs::read(old.join(path))?)
            .map_err(|e| format!("{path} (checked in): {e}"))?;
        let generated = describe(path, &std::fs::read(new.join(path))?)
            .map_err(|e| format!("{path} (generated): {e}"))?;
        if let Some(difference) = first_difference(&checked_in, &generated) {
            differences.push(format!("{path}: {difference}"));
        }
    }
    Ok(differences)
}

/// Every file under `root`, as `/`-separated relative paths.
fn list_files(root: &Path) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(root)?;
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.insert(parts.join("/"));
        }
    }
    Ok(out)
}

fn first_difference(old: &str, new: &str) -> Option<String> {
    if old == new {
        return None;
    }
    let mut old_lines = old.lines();
    let mut new_lines = new.lines();
    let mut line = 0usize;
    loop {
        line += 1;
        match (old_lines.next(), new_lines.next()) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => {
                return Some(format!(
                    "line {line} of its description: checked in `{}`, generated `{}`",
                    a.unwrap_or("<end>"),
                    b.unwrap_or("<end>")
                ));
            }
        }
    }
}

/// The deterministic content of a corpus file, as text (see [`COMPARED`]).
fn describe(path: &str, bytes: &[u8]) -> Result<String> {
    if path == "manifest.json" || path.ends_with(".md") {
        return Ok(String::from_utf8(bytes.to_vec())?);
    }
    if path.ends_with(".key.pem") {
        let key = PrivatePkcs8KeyDer::from_pem_slice(bytes)?;
        return Ok(describe_pkcs8(key.secret_pkcs8_der())?.join("\n"));
    }
    if path.ends_with(".pem") {
        let mut lines = Vec::new();
        for (index, cert) in CertificateDer::pem_slice_iter(bytes).enumerate() {
            lines.push(format!("certificate {index}"));
            lines.extend(describe_certificate(&cert?)?);
        }
        return Ok(lines.join("\n"));
    }
    if path.ends_with(".token.json") {
        let mut document: Value = serde_json::from_slice(bytes)?;
        if let Some(token) = document.get_mut("token") {
            let text = token.as_str().ok_or("token is not a string")?;
            *token = describe_token(text)?;
        }
        return Ok(serde_json::to_string_pretty(&document)?);
    }
    if path.ends_with(".json") {
        let mut document: Value = serde_json::from_slice(bytes)?;
        mask_jwk_members(&mut document)?;
        return Ok(serde_json::to_string_pretty(&document)?);
    }
    Err(format!("no comparison rule for {path}").into())
}

/// A certificate, one line per element; key-dependent elements are reduced (see [`COMPARED`]).
fn describe_certificate(der: &[u8]) -> Result<Vec<String>> {
    let certificate = single(der)?;
    let [tbs, algorithm, _signature] = children(certificate.value())?[..] else {
        return Err("a certificate is a SEQUENCE of three elements".into());
    };
    let mut lines = Vec::new();
    for (index, element) in children(tbs.value())?.into_iter().enumerate() {
        if let Some(spki) = as_spki(element)? {
            lines.push(spki);
        } else if element.tag() == 0xa3 {
            let sequence = single(element.value())?;
            for extension in children(sequence.value())? {
                lines.push(describe_extension(extension)?);
            }
        } else {
            lines.push(format!(
                "tbs[{index}] tag {:02x} {}",
                element.tag(),
                hex(element.value())
            ));
        }
    }
    lines.push(format!("signatureAlgorithm {}", hex(algorithm.value())));
    lines.push("signatureValue (key-dependent, not compared)".to_owned());
    Ok(lines)
}

/// The SubjectPublicKeyInfo (a SEQUENCE of an AlgorithmIdentifier and a BIT STRING), with the
/// key bits reduced to their length; `None` for any other element.
fn as_spki(element: Tlv<'_>) -> Result<Option<String>> {
    if element.tag() != 0x30 {
        return Ok(None);
    }
    let [algorithm, key] = children(element.value())?[..] else {
        return Ok(None);
    };
    if algorithm.tag() != 0x30 || key.tag() != 0x03 {
        return Ok(None);
    }
    Ok(Some(format!(
        "subjectPublicKeyInfo algorithm {} key ({} bytes, key-dependent)",
        hex(algorithm.value()),
        key.value().len()
    )))
}

fn describe_extension(extension: Tlv<'_>) -> Result<String> {
    let parts = children(extension.value())?;
    let (oid, critical, value) = match parts[..] {
        [oid, value] => (oid, false, value),
        [oid, critical, value] => (oid, critical.value() != [0], value),
        _ => return Err("an extension is a SEQUENCE of two or three elements".into()),
    };
    Ok(format!(
        "extension {} critical={critical} {}",
        oid::dotted(oid.value()),
        hex(value.value())
    ))
}

/// `input` as exactly one DER element, whatever its tag.
fn single(input: &[u8]) -> Result<Tlv<'_>> {
    let mut reader = Reader::new(input);
    let element = reader.read_any()?;
    reader.finish()?;
    Ok(element)
}

/// The elements inside a constructed value.
fn children(value: &[u8]) -> Result<Vec<Tlv<'_>>> {
    let mut reader = Reader::new(value);
    let mut out = Vec::new();
    while !reader.is_empty() {
        out.push(reader.read_any()?);
    }
    Ok(out)
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A PKCS#8 `PrivateKeyInfo`: version and algorithm as they are, key octets by length.
fn describe_pkcs8(der: &[u8]) -> Result<Vec<String>> {
    let info = single(der)?;
    let mut lines = Vec::new();
    for (index, element) in children(info.value())?.into_iter().enumerate() {
        lines.push(match index {
            0 | 1 => format!(
                "element {index} tag {:02x} {}",
                element.tag(),
                hex(element.value())
            ),
            _ => format!(
                "element {index} tag {:02x} ({} bytes, key-dependent)",
                element.tag(),
                element.value().len()
            ),
        });
    }
    Ok(lines)
}

/// A token with its signature reduced to its decoded length.
fn describe_token(token: &str) -> Result<Value> {
    if token.trim_start().starts_with('{') {
        let mut serialization: Value = serde_json::from_str(token)?;
        if let Some(signature) = serialization.get_mut("signature") {
            let text = signature.as_str().ok_or("signature is not a string")?;
            *signature = Value::from(format!(
                "<signature: {} bytes>",
                URL_SAFE_NO_PAD.decode(text)?.len()
            ));
        }
        return Ok(serialization);
    }
    let parts: Vec<&str> = token.split('.').collect();
    let described: Vec<Value> = match parts[..] {
        [header, payload, signature] => vec![
            Value::from(header),
            Value::from(payload),
            Value::from(format!(
                "<signature: {} bytes>",
                URL_SAFE_NO_PAD.decode(signature)?.len()
            )),
        ],
        _ => parts.into_iter().map(Value::from).collect(),
    };
    Ok(Value::from(described))
}

/// Replaces JWK `x`/`y` by their decoded length and `x5c` certificates by their description.
fn mask_jwk_members(value: &mut Value) -> Result<()> {
    match value {
        Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                match (name.as_str(), &*member) {
                    ("x" | "y", Value::String(text)) => {
                        let len = URL_SAFE_NO_PAD.decode(text)?.len();
                        *member = Value::from(format!("<{len} bytes, key-dependent>"));
                    }
                    ("x5c", Value::Array(certificates)) => {
                        let mut described = Vec::new();
                        for certificate in certificates {
                            let text = certificate.as_str().ok_or("x5c entry is not a string")?;
                            described
                                .push(Value::from(describe_certificate(&STANDARD.decode(text)?)?));
                        }
                        *member = Value::from(described);
                    }
                    _ => mask_jwk_members(member)?,
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                mask_jwk_members(item)?;
            }
        }
        _ => {}
    }
    Ok(())
}
