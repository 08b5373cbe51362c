//! [`JoinTokenRecord`] and [`NodeRecord`] to and from rows of the `join_tokens` and `nodes`
//! tables, for both backends. A value that does not parse back is an
//! [`Error::BadStoredValue`] naming the record and the column, never a panic; a join token
//! is named by its position in the table, never by its hash.

use rusqlite::Row;

use crate::error::Error;
use crate::node::{self, JoinTokenRecord, NodeRecord};
use crate::row::{Origin, integer, parse_id, text};

/// The `join_tokens` columns [`decode_token`] reads, in its order.
pub(crate) const TOKEN_COLUMNS: &str = "seq, hash, agent_id, expires_at, created_at";

/// The `nodes` columns [`decode_node`] reads, in its order.
pub(crate) const NODE_COLUMNS: &str = "spiffe_id, attestation, selectors, svid_serial, \
                                       svid_expires_at, created_at, updated_at";

/// A `join_tokens` row as the database returned it.
pub(crate) struct RawJoinToken {
    pub(crate) seq: i64,
    pub(crate) hash: String,
    pub(crate) agent_id: String,
    pub(crate) expires_at: i64,
    pub(crate) created_at: i64,
}

/// A `nodes` row as the database returned it.
pub(crate) struct RawNode {
    pub(crate) spiffe_id: String,
    pub(crate) attestation: String,
    pub(crate) selectors: String,
    pub(crate) svid_serial: String,
    pub(crate) svid_expires_at: i64,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

/// `u64` unix seconds as stored; records are checked before they get here, so only a `now`
/// beyond the range saturates (no stored time is that late).
pub(crate) fn stored_time(at: u64) -> i64 {
    i64::try_from(at).unwrap_or(i64::MAX)
}

/// How a join token is named in errors: its position in the table.
pub(crate) fn token_name(seq: i64) -> String {
    format!("#{seq}")
}

/// Unix seconds as stored (never negative).
fn seconds(at: Origin<'_>, column: &'static str, value: i64) -> Result<u64, Error> {
    u64::try_from(value).map_err(|_| at.bad(column, "not a time >= 0"))
}

/// Parses a raw `join_tokens` row.
pub(crate) fn decode_token(raw: RawJoinToken) -> Result<JoinTokenRecord, Error> {
    let name = token_name(raw.seq);
    let at = Origin {
        record: "join token",
        id: &name,
    };
    if !node::is_token_hash(&raw.hash) {
        return Err(at.bad("hash", "not 64 lowercase hex digits"));
    }
    Ok(JoinTokenRecord {
        agent_id: parse_id(&raw.agent_id).map_err(|reason| at.bad("agent_id", reason))?,
        expires_at: seconds(at, "expires_at", raw.expires_at)?,
        created_at: seconds(at, "created_at", raw.created_at)?,
        token_hash: raw.hash,
    })
}

/// Parses a raw `nodes` row.
pub(crate) fn decode_node(raw: RawNode) -> Result<NodeRecord, Error> {
    let at = Origin {
        record: "node",
        id: &raw.spiffe_id,
    };
    let spiffe_id = parse_id(&raw.spiffe_id).map_err(|reason| at.bad("spiffe_id", reason))?;
    if !node::is_attestation(&raw.attestation) {
        return Err(at.bad("attestation", "not an attestation type"));
    }
    let selectors: Vec<String> = serde_json::from_str(&raw.selectors)
        .map_err(|_| at.bad("selectors", "not a JSON array of strings"))?;
    let sorted = selectors.windows(2).all(|pair| pair.first() < pair.get(1));
    if !sorted || !selectors.iter().all(|s| node::is_selector(s)) {
        return Err(at.bad("selectors", "not a sorted set of `type:value`"));
    }
    if !raw.svid_serial.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(at.bad("svid_serial", "not hex"));
    }
    Ok(NodeRecord {
        svid_expires_at: seconds(at, "svid_expires_at", raw.svid_expires_at)?,
        created_at: seconds(at, "created_at", raw.created_at)?,
        updated_at: seconds(at, "updated_at", raw.updated_at)?,
        spiffe_id,
        attestation: raw.attestation,
        selectors,
        svid_serial: raw.svid_serial,
    })
}

/// The `selectors` column of `node`: a JSON array of strings.
pub(crate) fn selectors_json(node: &NodeRecord) -> Result<String, Error> {
    serde_json::to_string(&node.selectors).map_err(|e| Error::invalid("node", e.to_string()))
}

/// Reads a SQLite row selected with [`TOKEN_COLUMNS`].
pub(crate) fn token_from_row(row: &Row<'_>) -> Result<JoinTokenRecord, Error> {
    let unknown = Origin {
        record: "join token",
        id: "<unknown>",
    };
    let seq = integer(row, 0, unknown, "seq")?;
    let name = token_name(seq);
    let at = Origin {
        record: "join token",
        id: &name,
    };
    decode_token(RawJoinToken {
        seq,
        hash: text(row, 1, at, "hash")?,
        agent_id: text(row, 2, at, "agent_id")?,
        expires_at: integer(row, 3, at, "expires_at")?,
        created_at: integer(row, 4, at, "created_at")?,
    })
}

/// Reads a SQLite row selected with [`NODE_COLUMNS`].
pub(crate) fn node_from_row(row: &Row<'_>) -> Result<NodeRecord, Error> {
    let unknown = Origin {
        record: "node",
        id: "<unknown>",
    };
    let spiffe_id = text(row, 0, unknown, "spiffe_id")?;
    let at = Origin {
        record: "node",
        id: &spiffe_id,
    };
    let raw = RawNode {
        attestation: text(row, 1, at, "attestation")?,
        selectors: text(row, 2, at, "selectors")?,
        svid_serial: text(row, 3, at, "svid_serial")?,
        svid_expires_at: integer(row, 4, at, "svid_expires_at")?,
        created_at: integer(row, 5, at, "created_at")?,
        updated_at: integer(row, 6, at, "updated_at")?,
        spiffe_id,
    };
    decode_node(raw)
}
