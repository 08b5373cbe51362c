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

/// An `entries` row as the database returned it, before any parsing: what both backends
/// read, and [`decode`] turns into an [`EntryRecord`].
pub(crate) struct RawEntry {
    pub(crate) id: String,
    pub(crate) spiffe_id: String,
    pub(crate) parent_id: Option<String>,
    pub(crate) selectors: String,
    pub(crate) x509_ttl: Option<i64>,
    pub(crate) jwt_ttl: Option<i64>,
    pub(crate) dns_names: String,
    pub(crate) hint: Option<String>,
    pub(crate) federates_with: String,
    pub(crate) revision: i64,
    pub(crate) created_at: i64,
}

/// Parses a raw row; a value that does not parse back names the entry and the column.
pub(crate) fn decode(raw: RawEntry) -> Result<EntryRecord, Error> {
    let raw_id = raw.id;
    let bad = |column: &'static str, reason: String| Origin::entry(&raw_id).bad(column, reason);
    let id: EntryId = raw_id
        .parse()
        .map_err(|e: crate::entry_id::InvalidEntryId| bad("id", e.to_string()))?;
    let spiffe_id = parse_id(&raw.spiffe_id).map_err(|reason| bad("spiffe_id", reason))?;
    let parent_id = match raw.parent_id {
        Some(parent) => Some(parse_id(&parent).map_err(|reason| bad("parent_id", reason))?),
        None => None,
    };
    let list = |column: &'static str, text: &str| -> Result<Vec<String>, Error> {
        serde_json::from_str(text).map_err(|_| bad(column, "not a JSON array of strings".into()))
    };
    let selectors = list("selectors", &raw.selectors)?;
    let sorted = selectors.windows(2).all(|pair| pair.first() < pair.get(1));
    if selectors.is_empty() || !sorted {
        return Err(bad("selectors", "not a sorted, non-empty set".into()));
    }
    let federates_with = list("federates_with", &raw.federates_with)?
        .iter()
        .map(|domain| domain.parse::<TrustDomain>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| bad("federates_with", reason))?;
    let seconds = |column: &'static str, value: Option<i64>| match value {
        None => Ok(None),
        Some(n) if n > 0 => Ok(u64::try_from(n).ok().map(Duration::from_secs)),
        Some(_) => Err(bad(column, "not a positive number of seconds".into())),
    };
    let count = |column: &'static str, value: i64| {
        u64::try_from(value).map_err(|_| bad(column, "not a count >= 0".into()))
    };
    Ok(EntryRecord {
        id,
        spiffe_id,
        parent_id,
        selectors,
        x509_ttl: seconds("x509_ttl", raw.x509_ttl)?,
        jwt_ttl: seconds("jwt_ttl", raw.jwt_ttl)?,
        dns_names: list("dns_names", &raw.dns_names)?,
        hint: raw.hint,
        federates_with,
        revision: count("revision", raw.revision)?,
        created_at: count("created_at", raw.created_at)?,
    })
}

/// Reads a SQLite row selected with [`COLUMNS`] (its values strictly typed).
pub(crate) fn from_row(row: &Row<'_>) -> Result<EntryRecord, Error> {
    let id = text(row, 0, Origin::entry("<unknown>"), "id")?;
    let at = Origin::entry(&id);
    let raw = RawEntry {
        spiffe_id: text(row, 1, at, "spiffe_id")?,
        parent_id: opt_text(row, 2, at, "parent_id")?,
        selectors: text(row, 3, at, "selectors")?,
        x509_ttl: opt_integer(row, 4, at, "x509_ttl")?,
        jwt_ttl: opt_integer(row, 5, at, "jwt_ttl")?,
        dns_names: text(row, 6, at, "dns_names")?,
        hint: opt_text(row, 7, at, "hint")?,
        federates_with: text(row, 8, at, "federates_with")?,
        revision: integer(row, 9, at, "revision")?,
        created_at: integer(row, 10, at, "created_at")?,
        id,
    };
    decode(raw)
}

pub(crate) fn parse_id(text: &str) -> Result<SpiffeId, String> {
    text.parse().map_err(|e: spiffe_id::Error| e.to_string())
}

/// Which stored record a value belongs to, for [`Error::BadStoredValue`].
#[derive(Clone, Copy)]
pub(crate) struct Origin<'a> {
    /// `entry`, `node`, `join token`.
    pub(crate) record: &'static str,
    /// How the record is named in messages (never a token hash).
    pub(crate) id: &'a str,
}

impl<'a> Origin<'a> {
    pub(crate) fn entry(id: &'a str) -> Self {
        Self {
            record: "entry",
            id,
        }
    }

    /// The error for `column` of this record.
    pub(crate) fn bad(self, column: &'static str, reason: impl Into<String>) -> Error {
        Error::BadStoredValue {
            record: self.record,
            id: self.id.to_owned(),
            column,
            reason: reason.into(),
        }
    }
}

fn value<'r>(
    row: &'r Row<'_>,
    index: usize,
    at: Origin<'_>,
    column: &'static str,
) -> Result<ValueRef<'r>, Error> {
    row.get_ref(index)
        .map_err(|e| at.bad(column, e.to_string()))
}

fn wrong(at: Origin<'_>, column: &'static str, want: &str) -> Error {
    at.bad(column, format!("not {want}"))
}

pub(crate) fn opt_text(
    row: &Row<'_>,
    index: usize,
    at: Origin<'_>,
    column: &'static str,
) -> Result<Option<String>, Error> {
    match value(row, index, at, column)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| wrong(at, column, "UTF-8 text")),
        _ => Err(wrong(at, column, "text")),
    }
}

pub(crate) fn text(
    row: &Row<'_>,
    index: usize,
    at: Origin<'_>,
    column: &'static str,
) -> Result<String, Error> {
    opt_text(row, index, at, column)?.ok_or_else(|| wrong(at, column, "text"))
}

fn opt_integer(
    row: &Row<'_>,
    index: usize,
    at: Origin<'_>,
    column: &'static str,
) -> Result<Option<i64>, Error> {
    match value(row, index, at, column)? {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(n) => Ok(Some(n)),
        _ => Err(wrong(at, column, "an integer")),
    }
}

pub(crate) fn integer(
    row: &Row<'_>,
    index: usize,
    at: Origin<'_>,
    column: &'static str,
) -> Result<i64, Error> {
    opt_integer(row, index, at, column)?.ok_or_else(|| wrong(at, column, "an integer"))
}
