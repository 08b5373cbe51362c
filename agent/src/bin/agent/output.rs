//! How the subcommands print: a human layout by default, one JSON document with `--json`.

use agent::admin::proto;
use serde_json::{Value, json};

/// An entry as JSON.
pub(crate) fn entry_json(entry: &proto::Entry) -> Value {
    json!({
        "id": entry.id,
        "spiffe_id": entry.spiffe_id,
        "parent_id": (!entry.parent_id.is_empty()).then_some(&entry.parent_id),
        "selectors": entry.selectors,
        "x509_ttl_seconds": (entry.x509_ttl_seconds != 0).then_some(entry.x509_ttl_seconds),
        "jwt_ttl_seconds": (entry.jwt_ttl_seconds != 0).then_some(entry.jwt_ttl_seconds),
        "dns_names": entry.dns_names,
        "hint": (!entry.hint.is_empty()).then_some(&entry.hint),
        "federates_with": entry.federates_with,
        "revision": entry.revision,
        "source": source_name(entry.source()),
        "created_at": (entry.created_at != 0).then_some(entry.created_at),
    })
}

/// An entry for people: one `key: value` line per set field.
pub(crate) fn entry_text(entry: &proto::Entry) -> String {
    let mut out = format!(
        "id:         {}\nspiffe_id:  {}\n",
        entry.id, entry.spiffe_id
    );
    if !entry.parent_id.is_empty() {
        out.push_str(&format!("parent_id:  {}\n", entry.parent_id));
    }
    for selector in &entry.selectors {
        out.push_str(&format!("selector:   {selector}\n"));
    }
    if entry.x509_ttl_seconds != 0 {
        out.push_str(&format!("x509_ttl:   {}s\n", entry.x509_ttl_seconds));
    }
    if entry.jwt_ttl_seconds != 0 {
        out.push_str(&format!("jwt_ttl:    {}s\n", entry.jwt_ttl_seconds));
    }
    for name in &entry.dns_names {
        out.push_str(&format!("dns_name:   {name}\n"));
    }
    if !entry.hint.is_empty() {
        out.push_str(&format!("hint:       {}\n", entry.hint));
    }
    for td in &entry.federates_with {
        out.push_str(&format!("federates:  {td}\n"));
    }
    out.push_str(&format!(
        "revision:   {}\nsource:     {}\n",
        entry.revision,
        source_name(entry.source())
    ));
    out
}

fn source_name(source: proto::EntrySource) -> &'static str {
    match source {
        proto::EntrySource::Config => "config",
        proto::EntrySource::Api => "api",
        proto::EntrySource::Unspecified => "unknown",
    }
}

/// Entries as a table: id, SPIFFE ID, selectors, source.
pub(crate) fn entries_text(entries: &[proto::Entry]) -> String {
    if entries.is_empty() {
        return "no entries\n".to_owned();
    }
    let width = entries.iter().map(|e| e.id.len()).max().unwrap_or(2).max(2);
    let mut out = format!(
        "{:width$}  {:7}  {}  {}\n",
        "ID", "SOURCE", "SPIFFE ID", "SELECTORS"
    );
    for entry in entries {
        out.push_str(&format!(
            "{:width$}  {:7}  {}  {}\n",
            entry.id,
            source_name(entry.source()),
            entry.spiffe_id,
            entry.selectors.join(",")
        ));
    }
    out
}

fn kind_name(kind: proto::AuthorityKind) -> &'static str {
    match kind {
        proto::AuthorityKind::X509 => "x509",
        proto::AuthorityKind::Jwt => "jwt",
        proto::AuthorityKind::Unspecified => "unknown",
    }
}

/// Authorities as JSON.
pub(crate) fn authorities_json(authorities: &proto::Authorities) -> Value {
    json!({
        "bundle_sequence": authorities.bundle_sequence,
        "authorities": authorities.authorities.iter().map(|a| json!({
            "kind": kind_name(a.kind()),
            "id": a.id,
            "status": a.status,
            "not_before": a.not_before,
            "not_after": a.not_after,
        })).collect::<Vec<_>>(),
    })
}

/// Authorities as a table.
pub(crate) fn authorities_text(authorities: &proto::Authorities) -> String {
    let mut out = format!(
        "bundle sequence {}\n{:4}  {:8}  {:20}  {:20}  {}\n",
        authorities.bundle_sequence, "KIND", "STATUS", "NOT BEFORE", "NOT AFTER", "ID"
    );
    for a in &authorities.authorities {
        out.push_str(&format!(
            "{:4}  {:8}  {:20}  {:20}  {}\n",
            kind_name(a.kind()),
            a.status,
            rfc3339(a.not_before),
            rfc3339(a.not_after),
            a.id
        ));
    }
    out
}

/// Federation relationships as JSON (times as seconds since the epoch, absent when never).
pub(crate) fn relationships_json(relationships: &proto::FederationRelationships) -> Value {
    let list: Vec<Value> = relationships
        .relationships
        .iter()
        .map(|r| {
            json!({
                "trust_domain": r.trust_domain,
                "endpoint": r.endpoint,
                "has_bundle": r.has_bundle,
                "sequence": r.sequence,
                "last_attempt": r.last_attempt,
                "last_success": r.last_success,
                "last_error": (!r.last_error.is_empty()).then_some(&r.last_error),
                "refused_sequence": r.refused_sequence,
                "consecutive_failures": r.consecutive_failures,
                "next_attempt": r.next_attempt,
            })
        })
        .collect();
    json!({ "relationships": list })
}

/// Federation relationships, a block each.
pub(crate) fn relationships_text(relationships: &proto::FederationRelationships) -> String {
    if relationships.relationships.is_empty() {
        return "no federation relationships\n".to_owned();
    }
    let when = |t: Option<i64>| t.map_or_else(|| "never".to_owned(), rfc3339);
    let mut out = String::new();
    for r in &relationships.relationships {
        let held = match (r.has_bundle, r.sequence) {
            (false, _) => "no bundle".to_owned(),
            (true, Some(sequence)) => format!("sequence {sequence}"),
            (true, None) => "no sequence".to_owned(),
        };
        out.push_str(&format!("{}  ({held})\n", r.trust_domain));
        out.push_str(&format!("  endpoint      {}\n", r.endpoint));
        out.push_str(&format!("  last success  {}\n", when(r.last_success)));
        out.push_str(&format!("  last attempt  {}\n", when(r.last_attempt)));
        out.push_str(&format!("  next attempt  {}\n", when(r.next_attempt)));
        if !r.last_error.is_empty() {
            out.push_str(&format!(
                "  last error    {} ({} in a row)\n",
                r.last_error, r.consecutive_failures
            ));
        }
        if let Some(refused) = r.refused_sequence {
            out.push_str(&format!(
                "  refused       sequence {refused}, lower than the one held \
                 (`agent federation reset-sequence {}` accepts it once)\n",
                r.trust_domain
            ));
        }
    }
    out
}

/// RFC 3339 UTC, or the raw number for a time before the epoch.
fn rfc3339(seconds: i64) -> String {
    u64::try_from(seconds).map_or_else(|_| seconds.to_string(), trust_bundle::der::time::rfc3339)
}
