//! [`EntryRecord`] to and from a row of the `entries` table. A value that does not parse
//! back is an [`Error::BadStoredValue`] naming the entry and the column, never a panic.

use std::time::Duration;

use rusqlite::Row;
use rusqlite::types::ValueRef;
use spiffe_id::{SpiffeId, TrustDomain};

use crate::entry::EntryRecord;
use crate::entry_id::EntryId;
use crate::error::Error;

/// The columns [`from_row`] reads, in its order.
pub(crate) const COLUMNS: &str = "id, spiffe_id, parent_id, selectors, x509_ttl, jwt_ttl, \
                                  dns_names, hint, federates_with, revision, created_at";

/// The values of one entry, ready to bind to the `entries` columns after `id`:
/// `spiffe_id, parent_id, selectors, x509_ttl, jwt_ttl, dns_names, hint, federates_with`.
pub(crate) struct Columns {
    pub(crate) spiffe_id: String,
    pub(crate) parent_id: Option<String>,
    pub(crate) selectors: String,
    pub(crate) x509_ttl: Option<i64>,
    pub(crate) jwt_ttl: Option<i64>,
    pub(crate) dns_names: String,
    pub(crate) hint: Option<String>,
    pub(crate) federates_with: String,
}

impl Columns {
    /// The column values of `entry` (already checked by `EntryRecord::check`).
    pub(crate) fn of(entry: &EntryRecord) -> Result<Self, Error> {
        let domains: Vec<&str> = entry
            .federates_with
            .iter()
            .map(TrustDomain::as_str)
            .collect();
        Ok(Self {
            spiffe_id: entry.spiffe_id.to_string(),
            parent_id: entry.parent_id.as_ref().map(ToString::to_string),
            selectors: json(&entry.selectors)?,
            x509_ttl: ttl_secs(entry.x509_ttl),
            jwt_ttl: ttl_secs(entry.jwt_ttl),
            dns_names: json(&entry.dns_names)?,
            hint: entry.hint.clone(),
            federates_with: json(&domains)?,
        })
    }
}

/// A JSON array of strings.
fn json<S: AsRef<str>>(items: &[S]) -> Result<String, Error> {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    serde_json::to_string(&items).map_err(|e| Error::invalid("entry", e.to_string()))
}

fn ttl_secs(ttl: Option<Duration>) -> Option<i64> {
    ttl.and_then(|ttl| i64::try_from(ttl.as_secs()).ok())
}

/// Reads a row selected with [`COLUMNS`].
pub(crate) fn from_row(row: &Row<'_>) -> Result<EntryRecord, Error> {
    let raw_id = text(row, 0, "<unknown>", "id")?;
    let bad = |column: &'static str, reason: String| Error::BadStoredValue {
        id: raw_id.clone(),
        column,
        reason,
    };
    let id: EntryId = raw_id
        .parse()
        .map_err(|e: crate::entry_id::InvalidEntryId| bad("id", e.to_string()))?;
    let spiffe_id = parse_id(&text(row, 1, &raw_id, "spiffe_id")?)
        .map_err(|reason| bad("spiffe_id", reason))?;
    let parent_id = match opt_text(row, 2, &raw_id, "parent_id")? {
        Some(parent) => Some(parse_id(&parent).map_err(|reason| bad("parent_id", reason))?),
        None => None,
    };
    let selectors = list(row, 3, &raw_id, "selectors")?;
    let sorted = selectors.windows(2).all(|pair| pair.first() < pair.get(1));
    if selectors.is_empty() || !sorted {
        return Err(bad("selectors", "not a sorted, non-empty set".into()));
    }
    let federates_with = list(row, 8, &raw_id, "federates_with")?
        .iter()
        .map(|domain| domain.parse::<TrustDomain>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| bad("federates_with", reason))?;
    Ok(EntryRecord {
        id,
        spiffe_id,
        parent_id,
        selectors,
        x509_ttl: opt_secs(row, 4, &raw_id, "x509_ttl")?,
        jwt_ttl: opt_secs(row, 5, &raw_id, "jwt_ttl")?,
        dns_names: list(row, 6, &raw_id, "dns_names")?,
        hint: opt_text(row, 7, &raw_id, "hint")?,
        federates_with,
        revision: unsigned(row, 9, &raw_id, "revision")?,
        created_at: unsigned(row, 10, &raw_id, "created_at")?,
    })
}

fn parse_id(text: &str) -> Result<SpiffeId, String> {
    text.parse().map_err(|e: spiffe_id::Error| e.to_string())
}

fn value<'r>(
    row: &'r Row<'_>,
    index: usize,
    id: &str,
    column: &'static str,
) -> Result<ValueRef<'r>, Error> {
    row.get_ref(index).map_err(|e| Error::BadStoredValue {
        id: id.to_owned(),
        column,
        reason: e.to_string(),
    })
}

fn wrong(id: &str, column: &'static str, want: &str) -> Error {
    Error::BadStoredValue {
        id: id.to_owned(),
        column,
        reason: format!("not {want}"),
    }
}

fn opt_text(
    row: &Row<'_>,
    index: usize,
    id: &str,
    column: &'static str,
) -> Result<Option<String>, Error> {
    match value(row, index, id, column)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| wrong(id, column, "UTF-8 text")),
        _ => Err(wrong(id, column, "text")),
    }
}

fn text(row: &Row<'_>, index: usize, id: &str, column: &'static str) -> Result<String, Error> {
    opt_text(row, index, id, column)?.ok_or_else(|| wrong(id, column, "text"))
}

fn list(row: &Row<'_>, index: usize, id: &str, column: &'static str) -> Result<Vec<String>, Error> {
    serde_json::from_str(&text(row, index, id, column)?)
        .map_err(|_| wrong(id, column, "a JSON array of strings"))
}

fn unsigned(row: &Row<'_>, index: usize, id: &str, column: &'static str) -> Result<u64, Error> {
    match value(row, index, id, column)? {
        ValueRef::Integer(n) => u64::try_from(n).map_err(|_| wrong(id, column, "a count >= 0")),
        _ => Err(wrong(id, column, "an integer")),
    }
}

fn opt_secs(
    row: &Row<'_>,
    index: usize,
    id: &str,
    column: &'static str,
) -> Result<Option<Duration>, Error> {
    match value(row, index, id, column)? {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(n) if n > 0 => Ok(u64::try_from(n).ok().map(Duration::from_secs)),
        _ => Err(wrong(id, column, "a positive number of seconds")),
    }
}
