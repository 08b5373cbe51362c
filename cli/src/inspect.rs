//! `inspect FILE...`: what a file holds, detected from its contents. Never verifies anything
//! and never prints key material.

use std::io::Read as _;
use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};
use svid::{Crypto, PrivateKey, UnverifiedJwtSvid};
use trust_bundle::{BundleSet, SpiffeBundle};
use x509_parser::pem::Pem;
use zeroize::Zeroizing;

use crate::cli::InspectArgs;
use crate::describe::{self, bundle_lines, certificate, certificate_lines};
use crate::error::Error;

/// Files larger than this are refused unread: bundles and chains are kilobytes (a bundle map
/// is at most trust-bundle's `MAX_BUNDLE_MAP_BYTES`, well below).
const MAX_INPUT: u64 = 16 << 20;

/// Reads a file, or standard input for `-`, up to [`MAX_INPUT`] bytes.
pub(crate) fn read_input(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut bytes = Zeroizing::new(Vec::new());
    let result = if path == Path::new("-") {
        std::io::stdin().take(MAX_INPUT + 1).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut bytes))
    };
    result.map_err(|source| Error::input(format!("cannot read {}", path.display()), source))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_INPUT {
        return Err(Error::Usage(format!(
            "{} is larger than {MAX_INPUT} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// `inspect`.
pub(crate) fn run(args: &InspectArgs) -> Result<(), Error> {
    let now = describe::parse_at(args.at.as_deref())?;
    let mut values = Vec::new();
    let mut lines = Vec::new();
    let mut failed = 0;
    for path in &args.files {
        let described = read_input(path)
            .and_then(|bytes| describe_file(path, &bytes, args.trust_domain.as_deref(), now));
        match described {
            Ok((mut value, file_lines)) => {
                if let Some(object) = value.as_object_mut() {
                    object.insert("file".to_owned(), json!(path.display().to_string()));
                }
                values.push(value);
                lines.push(format!("== {}", path.display()));
                lines.extend(file_lines);
            }
            Err(error) => {
                eprintln!(
                    "spiffekit: {}: {}",
                    path.display(),
                    crate::error::chain(&error)
                );
                values.push(json!({
                    "file": path.display().to_string(),
                    "error": crate::error::chain(&error),
                }));
                failed += 1;
            }
        }
    }
    describe::print(args.json, &Value::Array(values), &lines);
    if failed == 0 {
        Ok(())
    } else {
        // Each failure was printed with its file above.
        Err(Error::Usage(format!(
            "{failed} of {} inputs could not be described",
            args.files.len()
        )))
    }
}

type Described = (Value, Vec<String>);

/// Detects and describes one input.
fn describe_file(
    path: &Path,
    bytes: &[u8],
    trust_domain: Option<&str>,
    now: i64,
) -> Result<Described, Error> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim);
    match text {
        Some(text) if text.starts_with('{') => json_document(path, text, trust_domain, now),
        Some(text) if text.contains("-----BEGIN ") => pem(text, now),
        Some(text) if looks_like_jwt(text) => Ok(jwt(text)),
        _ if bytes.first() == Some(&0x30) => der(bytes, now),
        _ => Err(Error::Usage(
            "not a PEM or DER certificate or key, a bundle document, a bundle map or a JWT"
                .to_owned(),
        )),
    }
}

fn looks_like_jwt(text: &str) -> bool {
    text.split('.').count() == 3
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// The trust domain a bundle document is labelled with: `--trust-domain`, else the file name
/// (`<td>.bundle.json`, `*.bundle.<td>.json`), else `unknown`.
fn bundle_trust_domain(path: &Path, flag: Option<&str>) -> (String, &'static str) {
    if let Some(td) = flag {
        return (td.to_owned(), "--trust-domain");
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    let guess = stem
        .split_once(".bundle.")
        .map(|(_, td)| td)
        .or_else(|| stem.strip_suffix(".bundle"));
    match guess {
        Some(td) if svid::TrustDomain::parse(td).is_ok() => (td.to_owned(), "file name"),
        _ => ("unknown".to_owned(), "none (pass --trust-domain)"),
    }
}

fn json_document(
    path: &Path,
    text: &str,
    flag: Option<&str>,
    now: i64,
) -> Result<Described, Error> {
    let value: Value =
        serde_json::from_str(text).map_err(|source| Error::input("not valid JSON", source))?;
    if value.get("keys").is_some() {
        let (td, source) = bundle_trust_domain(path, flag);
        let trust_domain = svid::TrustDomain::parse(&td)
            .map_err(|e| Error::input(format!("trust domain {td:?}"), e))?;
        let bundle = SpiffeBundle::parse(trust_domain, text)
            .map_err(|e| Error::input("not a valid SPIFFE bundle document", e))?;
        let mut facts = describe::bundle(&bundle, now);
        let mut lines = vec![format!(
            "SPIFFE bundle document (trust domain from {source})"
        )];
        lines.extend(bundle_lines(&facts));
        if let Some(object) = facts.as_object_mut() {
            object.insert("kind".to_owned(), json!("bundle"));
            object.insert("trust_domain_from".to_owned(), json!(source));
        }
        return Ok((facts, lines));
    }
    let set = BundleSet::parse_bundle_map(text).map_err(|e| {
        Error::input(
            "JSON that is neither a SPIFFE bundle document nor a bundle map",
            e,
        )
    })?;
    let bundles = describe::bundle_set(&set, now);
    let mut lines = vec![format!("Bundle map: {} trust domains", bundles.len())];
    lines.extend(bundles.iter().flat_map(bundle_lines));
    Ok((json!({ "kind": "bundle_map", "bundles": bundles }), lines))
}

fn pem(text: &str, now: i64) -> Result<Described, Error> {
    let mut certificates = Vec::new();
    let mut keys = Vec::new();
    let mut others = Vec::new();
    for block in Pem::iter_from_buffer(text.as_bytes()) {
        let block = block.map_err(|e| Error::input("malformed PEM", e.to_string()))?;
        let contents = Zeroizing::new(block.contents);
        match block.label.as_str() {
            "CERTIFICATE" => certificates.push(contents.to_vec()),
            "PRIVATE KEY" => keys.push(pkcs8_key_type(&contents)),
            "EC PRIVATE KEY" => {
                keys.push("EC (SEC1 `EC PRIVATE KEY`; SVID files use PKCS#8)".to_owned())
            }
            "RSA PRIVATE KEY" => keys.push("RSA (PKCS#1; SVID files use PKCS#8)".to_owned()),
            "ENCRYPTED PRIVATE KEY" => keys.push("encrypted PKCS#8 (not read)".to_owned()),
            other => others.push(other.to_owned()),
        }
    }
    chain_and_keys(&certificates, &keys, &others, now)
}

fn der(bytes: &[u8], now: i64) -> Result<Described, Error> {
    if let Ok(chain) = svid::certificates_from_der(bytes) {
        let chain: Vec<Vec<u8>> = chain.iter().map(|c| c.to_vec()).collect();
        return chain_and_keys(&chain, &[], &[], now);
    }
    let key = pkcs8_key_type(bytes);
    chain_and_keys(&[], &[key], &[], now)
}

/// A PKCS#8 key's type, read by `svid` (what an X.509-SVID may use), never its material.
fn pkcs8_key_type(der: &[u8]) -> String {
    match PrivateKey::from_pkcs8_der(der, &Crypto::default()) {
        Ok(key) => format!("{:?} (PKCS#8)", key.algorithm()),
        Err(error) => format!("PKCS#8, not usable for an X.509-SVID here: {error}"),
    }
}

fn chain_and_keys(
    certificates: &[Vec<u8>],
    keys: &[String],
    others: &[String],
    now: i64,
) -> Result<Described, Error> {
    let facts: Vec<Value> = certificates
        .iter()
        .map(|der| certificate(der, now))
        .collect::<Result<_, _>>()?;
    let mut lines = Vec::new();
    if !facts.is_empty() {
        lines.push(format!(
            "Certificate chain: {} certificate(s), leaf first",
            facts.len()
        ));
    }
    for (index, cert) in facts.iter().enumerate() {
        lines.push(format!("#{index}"));
        lines.extend(certificate_lines(cert, "  "));
        let issued_by_next = facts
            .get(index + 1)
            .map(|next| next.get("subject") == cert.get("issuer"));
        if issued_by_next == Some(false) {
            lines.push(format!(
                "  (issuer is not the subject of #{}: the chain is out of order or incomplete)",
                index + 1
            ));
        }
    }
    for key in keys {
        lines.push(format!("Private key: {key} (material not shown)"));
    }
    for other in others {
        lines.push(format!("PEM block {other:?} (not described)"));
    }
    if facts.is_empty() && keys.is_empty() {
        return Err(Error::Usage(
            "no certificate or private key in the input".to_owned(),
        ));
    }
    let kind = match (facts.is_empty(), keys.is_empty()) {
        (false, true) => "certificates",
        (true, false) => "private_key",
        _ => "certificates_and_key",
    };
    Ok((
        json!({ "kind": kind, "certificates": facts, "private_keys": keys, "other_pem_blocks": others }),
        lines,
    ))
}

/// A JWT, decoded only: header and claims as sent, and whether `svid` accepts its structure.
fn jwt(token: &str) -> Described {
    let decode = |part: Option<&str>| -> Value {
        part.and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
    };
    let mut parts = token.split('.');
    let header = decode(parts.next());
    let claims = decode(parts.next());
    let structure = match UnverifiedJwtSvid::parse_insecure(token) {
        Ok(parsed) => json!({ "ok": true, "spiffe_id": parsed.spiffe_id().as_str() }),
        Err(error) => json!({ "ok": false, "error": error.to_string() }),
    };
    let mut lines = vec![
        "JWT: NOT VERIFIED. The signature, issuer keys and audience were NOT checked; use \
         `spiffekit validate` before trusting anything below."
            .to_owned(),
        format!("  Header: {header}"),
        format!("  Claims: {claims}"),
    ];
    if let Some(exp) = claims.get("exp").and_then(Value::as_i64) {
        lines.push(format!(
            "  Expires: {} ({})",
            describe::rfc3339(exp),
            describe::time_left(exp, describe::now())
        ));
    }
    match structure.get("error").and_then(Value::as_str) {
        Some(error) => lines.push(format!("  JWT-SVID structure: refused: {error}")),
        None => lines.push("  JWT-SVID structure: ok (signature not checked)".to_owned()),
    }
    (
        json!({
            "kind": "jwt",
            "verified": false,
            "header": header,
            "claims": claims,
            "jwt_svid_structure": structure,
        }),
        lines,
    )
}
