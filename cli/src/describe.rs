//! What the commands print about certificates, bundles and times: the facts as JSON values,
//! and the human lines made from them.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use trust_bundle::{BundleSet, SpiffeBundle};
use x509_parser::prelude::{FromDer as _, GeneralName, ParsedExtension, X509Certificate};

use crate::error::Error;

/// Seconds since the Unix epoch, now.
pub(crate) fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// `--at`: an RFC 3339 time, or now.
pub(crate) fn parse_at(at: Option<&str>) -> Result<i64, Error> {
    match at {
        None => Ok(now()),
        Some(text) => OffsetDateTime::parse(text, &Rfc3339)
            .map(OffsetDateTime::unix_timestamp)
            .map_err(|source| {
                Error::input(format!("--at {text:?} is not an RFC 3339 time"), source)
            }),
    }
}

/// RFC 3339 in UTC, or the raw number when out of range.
pub(crate) fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{unix}"))
}

/// `in 59m 59s` / `expired 2h ago`.
pub(crate) fn time_left(not_after: i64, now: i64) -> String {
    let left = not_after.saturating_sub(now);
    if left >= 0 {
        format!("in {}", span(left.unsigned_abs()))
    } else {
        format!("expired {} ago", span(left.unsigned_abs()))
    }
}

fn span(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    match (d, h) {
        (0, 0) => format!("{m}m {s}s"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// The facts of one certificate that matter for SPIFFE, as JSON.
pub(crate) fn certificate(der: &[u8], now: i64) -> Result<Value, Error> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|source| Error::input("not an X.509 certificate", source.to_string()))?;
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let mut uris = Vec::new();
    let mut dns = Vec::new();
    let mut is_ca = None;
    let mut path_len = None;
    let mut key_usage = Vec::new();
    let mut ext_key_usage = Vec::new();
    let mut unknown_critical = Vec::new();
    for extension in cert.extensions() {
        match extension.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::URI(uri) => uris.push((*uri).to_owned()),
                        GeneralName::DNSName(name) => dns.push((*name).to_owned()),
                        _ => {}
                    }
                }
            }
            ParsedExtension::BasicConstraints(bc) => {
                is_ca = Some(bc.ca);
                path_len = bc.path_len_constraint;
            }
            ParsedExtension::KeyUsage(ku) => {
                let flags = [
                    (ku.digital_signature(), "digitalSignature"),
                    (ku.non_repudiation(), "nonRepudiation"),
                    (ku.key_encipherment(), "keyEncipherment"),
                    (ku.data_encipherment(), "dataEncipherment"),
                    (ku.key_agreement(), "keyAgreement"),
                    (ku.key_cert_sign(), "keyCertSign"),
                    (ku.crl_sign(), "cRLSign"),
                ];
                key_usage.extend(flags.iter().filter(|(on, _)| *on).map(|(_, name)| *name));
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                let flags = [
                    (eku.any, "any"),
                    (eku.server_auth, "serverAuth"),
                    (eku.client_auth, "clientAuth"),
                    (eku.code_signing, "codeSigning"),
                    (eku.email_protection, "emailProtection"),
                    (eku.time_stamping, "timeStamping"),
                    (eku.ocsp_signing, "OCSPSigning"),
                ];
                ext_key_usage.extend(
                    flags
                        .iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, name)| (*name).to_owned()),
                );
                ext_key_usage.extend(eku.other.iter().map(|oid| oid.to_id_string()));
            }
            ParsedExtension::UnsupportedExtension { .. } | ParsedExtension::ParseError { .. }
                if extension.critical =>
            {
                unknown_critical.push(extension.oid.to_id_string());
            }
            _ => {}
        }
    }
    Ok(json!({
        "spiffe_id": uris.iter().find(|u| u.starts_with("spiffe://")),
        "uri_sans": uris,
        "dns_sans": dns,
        "subject": cert.subject().to_string(),
        "issuer": cert.issuer().to_string(),
        "self_issued": cert.subject().as_raw() == cert.issuer().as_raw(),
        "serial": cert.raw_serial_as_string(),
        "not_before": rfc3339(not_before),
        "not_after": rfc3339(not_after),
        "not_after_unix": not_after,
        "time_left": time_left(not_after, now),
        "is_ca": is_ca,
        "path_len": path_len,
        "key_usage": key_usage,
        "extended_key_usage": ext_key_usage,
        "unknown_critical_extensions": unknown_critical,
        "public_key": public_key_type(&cert),
    }))
}

/// `ECDSA P-256`, `RSA 2048`, `Ed25519`, or the algorithm's OID.
fn public_key_type(cert: &X509Certificate<'_>) -> String {
    let spki = cert.public_key();
    let algorithm = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|oid| oid.to_id_string());
    match (algorithm.as_str(), curve.as_deref()) {
        ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7")) => "ECDSA P-256".to_owned(),
        ("1.2.840.10045.2.1", Some("1.3.132.0.34")) => "ECDSA P-384".to_owned(),
        ("1.2.840.10045.2.1", Some("1.3.132.0.35")) => "ECDSA P-521".to_owned(),
        ("1.2.840.113549.1.1.1", _) => match spki.parsed() {
            Ok(key) => format!("RSA {}", key.key_size()),
            Err(_) => "RSA".to_owned(),
        },
        ("1.3.101.112", _) => "Ed25519".to_owned(),
        (other, curve) => match curve {
            Some(curve) => format!("{other} ({curve})"),
            None => other.to_owned(),
        },
    }
}

/// Human lines for a certificate's facts (from [`certificate`]), indented by `indent`.
pub(crate) fn certificate_lines(facts: &Value, indent: &str) -> Vec<String> {
    let text = |key: &str| match facts.get(key).and_then(Value::as_str) {
        Some("") => "(empty)".to_owned(),
        Some(value) => value.to_owned(),
        None => "-".to_owned(),
    };
    let list = |key: &str| {
        facts
            .get(key)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|joined| !joined.is_empty())
            .unwrap_or_else(|| "-".to_owned())
    };
    let ca = match facts.get("is_ca").and_then(Value::as_bool) {
        Some(true) => match facts.get("path_len").and_then(Value::as_u64) {
            Some(len) => format!("CA (pathLen {len})"),
            None => "CA".to_owned(),
        },
        Some(false) => "not a CA".to_owned(),
        None => "no basic constraints".to_owned(),
    };
    let mut lines = vec![
        format!("{indent}SPIFFE ID:   {}", text("spiffe_id")),
        format!("{indent}Serial:      {}", text("serial")),
        format!(
            "{indent}Valid:       {} to {} ({})",
            text("not_before"),
            text("not_after"),
            text("time_left")
        ),
        format!("{indent}Subject:     {}", text("subject")),
        format!("{indent}Issuer:      {}", text("issuer")),
        format!("{indent}Key:         {}", text("public_key")),
        format!(
            "{indent}Constraints: {ca}; key usage: {}; extended: {}",
            list("key_usage"),
            list("extended_key_usage")
        ),
    ];
    let others: Vec<&str> = facts
        .get("uri_sans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if others.len() > 1 {
        lines.push(format!(
            "{indent}URI SANs:    {} (an X.509-SVID has exactly one)",
            others.join(", ")
        ));
    }
    if list("dns_sans") != "-" {
        lines.push(format!("{indent}DNS SANs:    {}", list("dns_sans")));
    }
    if list("unknown_critical_extensions") != "-" {
        lines.push(format!(
            "{indent}Unknown critical extensions: {} (verifiers refuse these)",
            list("unknown_critical_extensions")
        ));
    }
    lines
}

/// A bundle's facts: trust domain, authorities, JWT keys, sequence, refresh hint, and what the
/// parser ignored and why.
pub(crate) fn bundle(bundle: &SpiffeBundle, now: i64) -> Value {
    let authorities: Vec<Value> = bundle
        .x509_bundle()
        .authorities()
        .iter()
        .map(|der| {
            certificate(der, now).unwrap_or_else(|e| json!({ "error": crate::error::chain(&e) }))
        })
        .collect();
    let jwt_keys: Vec<Value> = bundle
        .jwt_bundle()
        .keys()
        .map(|(kid, key)| {
            let kind = match (key.as_ec(), key.as_rsa()) {
                (Some(ec), _) => format!("EC {:?}", ec.curve()),
                (None, Some(rsa)) => format!("RSA {}", rsa.modulus_bits()),
                (None, None) => key.kty().to_owned(),
            };
            json!({ "kid": kid, "key": kind })
        })
        .collect();
    let ignored: Vec<Value> = bundle
        .ignored()
        .iter()
        .map(|ignored| {
            json!({
                "index": ignored.index(),
                "kid": ignored.kid(),
                "reason": ignored.reason().to_string(),
            })
        })
        .collect();
    json!({
        "trust_domain": bundle.trust_domain().as_str(),
        "sequence": bundle.sequence(),
        "refresh_hint_seconds": bundle.refresh_hint().map(|hint| hint.as_secs()),
        "x509_authorities": authorities,
        "jwt_keys": jwt_keys,
        "ignored": ignored,
    })
}

/// Human lines for a bundle's facts (from [`bundle`]).
pub(crate) fn bundle_lines(facts: &Value) -> Vec<String> {
    let count = |key: &str| facts.get(key).and_then(Value::as_array).map_or(0, Vec::len);
    let mut head = format!(
        "Trust domain {}: {} X.509 authorities, {} JWT keys",
        facts
            .get("trust_domain")
            .and_then(Value::as_str)
            .unwrap_or("-"),
        count("x509_authorities"),
        count("jwt_keys"),
    );
    if let Some(sequence) = facts.get("sequence").and_then(Value::as_u64) {
        head.push_str(&format!(", sequence {sequence}"));
    }
    if let Some(hint) = facts.get("refresh_hint_seconds").and_then(Value::as_u64) {
        head.push_str(&format!(", refresh hint {hint}s"));
    }
    let mut lines = vec![head];
    for (index, authority) in facts
        .get("x509_authorities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let text = |key: &str| {
            authority
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_owned()
        };
        lines.push(format!(
            "  authority #{index}: {} serial {} notAfter {} ({})",
            text("subject"),
            text("serial"),
            text("not_after"),
            text("time_left"),
        ));
    }
    for key in facts
        .get("jwt_keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        lines.push(format!(
            "  JWT key {} ({})",
            key.get("kid").and_then(Value::as_str).unwrap_or("-"),
            key.get("key").and_then(Value::as_str).unwrap_or("-")
        ));
    }
    for ignored in facts
        .get("ignored")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        lines.push(format!(
            "  ignored keys[{}] (kid {}): {}",
            ignored
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or_default(),
            ignored.get("kid").and_then(Value::as_str).unwrap_or("none"),
            ignored.get("reason").and_then(Value::as_str).unwrap_or("-"),
        ));
    }
    lines
}

/// Every bundle of a set, by trust domain.
pub(crate) fn bundle_set(bundles: &BundleSet, now: i64) -> Vec<Value> {
    bundles.iter().map(|(_, b)| bundle(b, now)).collect()
}

/// Prints lines, or pretty JSON.
pub(crate) fn print(json_mode: bool, value: &Value, lines: &[String]) {
    if json_mode {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        for line in lines {
            println!("{line}");
        }
    }
}
