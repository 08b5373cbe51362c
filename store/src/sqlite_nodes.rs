//! Join tokens and attested nodes in SQLite: the statements behind the node half of
//! [`SqliteStore`](crate::SqliteStore)'s [`Store`](crate::Store) implementation. Writers get
//! a transaction the store opened with the write lock taken (`BEGIN IMMEDIATE`), so a token is
//! consumed by one connection only, even with several processes on one file.

use rusqlite::{Connection, ErrorCode, params};
use spiffe_id::SpiffeId;

use crate::error::Error;
use crate::node::{JoinTokenRecord, NodeRecord};
use crate::node_row::{
    NODE_COLUMNS, TOKEN_COLUMNS, node_from_row, selectors_json, stored_time, token_from_row,
};

/// Inserts a checked token; its hash already pending is [`Error::DuplicateJoinToken`].
pub(crate) fn create_join_token(
    tx: &Connection,
    token: &JoinTokenRecord,
    created_at: i64,
) -> Result<JoinTokenRecord, Error> {
    token.check()?;
    let inserted = tx.execute(
        "INSERT INTO join_tokens (hash, agent_id, expires_at, created_at) \
         VALUES (?1, ?2, ?3, ?4)",
        params![
            token.token_hash,
            token.agent_id.to_string(),
            stored_time(token.expires_at),
            created_at,
        ],
    );
    match inserted {
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
            return Err(Error::DuplicateJoinToken);
        }
        other => other?,
    };
    let mut stored = token.clone();
    stored.created_at = u64::try_from(created_at).unwrap_or(0);
    Ok(stored)
}

/// Deletes the token with this hash and returns it, in one statement.
pub(crate) fn take_join_token(
    tx: &Connection,
    token_hash: &str,
) -> Result<Option<JoinTokenRecord>, Error> {
    let mut statement = tx.prepare_cached(&format!(
        "DELETE FROM join_tokens WHERE hash = ?1 RETURNING {TOKEN_COLUMNS}"
    ))?;
    let mut rows = statement.query([token_hash])?;
    let taken = match rows.next()? {
        Some(row) => Some(token_from_row(row)?),
        None => None,
    };
    Ok(taken)
}

/// Every pending token, in creation order.
pub(crate) fn join_tokens(conn: &Connection) -> Result<Vec<JoinTokenRecord>, Error> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM join_tokens ORDER BY seq"
    ))?;
    let mut rows = statement.query([])?;
    let mut tokens = Vec::new();
    while let Some(row) = rows.next()? {
        tokens.push(token_from_row(row)?);
    }
    Ok(tokens)
}

/// Deletes the tokens expired at `now`, and says how many there were.
pub(crate) fn purge_expired_join_tokens(tx: &Connection, now: u64) -> Result<usize, Error> {
    Ok(tx.execute(
        "DELETE FROM join_tokens WHERE expires_at <= ?1",
        [stored_time(now)],
    )?)
}

/// Inserts the node, or replaces the one with its SPIFFE ID keeping `created_at` (and so its
/// place in the listing order); returns the stored row.
pub(crate) fn upsert_node(
    tx: &Connection,
    node: &NodeRecord,
    now: i64,
) -> Result<NodeRecord, Error> {
    node.check()?;
    let mut statement = tx.prepare_cached(&format!(
        "INSERT INTO nodes (spiffe_id, attestation, selectors, svid_serial, svid_expires_at, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
         ON CONFLICT (spiffe_id) DO UPDATE SET attestation = excluded.attestation, \
         selectors = excluded.selectors, svid_serial = excluded.svid_serial, \
         svid_expires_at = excluded.svid_expires_at, updated_at = excluded.updated_at \
         RETURNING {NODE_COLUMNS}"
    ))?;
    let mut rows = statement.query(params![
        node.spiffe_id.to_string(),
        node.attestation,
        selectors_json(node)?,
        node.svid_serial,
        stored_time(node.svid_expires_at),
        now,
    ])?;
    match rows.next()? {
        Some(row) => node_from_row(row),
        None => Err(Error::Sqlite(rusqlite::Error::QueryReturnedNoRows)),
    }
}

/// The node `spiffe_id`, or `None`.
pub(crate) fn node(conn: &Connection, spiffe_id: &SpiffeId) -> Result<Option<NodeRecord>, Error> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {NODE_COLUMNS} FROM nodes WHERE spiffe_id = ?1"
    ))?;
    let mut rows = statement.query([spiffe_id.as_str()])?;
    match rows.next()? {
        Some(row) => node_from_row(row).map(Some),
        None => Ok(None),
    }
}

/// Every node, in first-attestation order.
pub(crate) fn nodes(conn: &Connection) -> Result<Vec<NodeRecord>, Error> {
    let mut statement =
        conn.prepare_cached(&format!("SELECT {NODE_COLUMNS} FROM nodes ORDER BY seq"))?;
    let mut rows = statement.query([])?;
    let mut nodes = Vec::new();
    while let Some(row) = rows.next()? {
        nodes.push(node_from_row(row)?);
    }
    Ok(nodes)
}

/// Deletes the node `spiffe_id` and returns what it was.
pub(crate) fn delete_node(tx: &Connection, spiffe_id: &SpiffeId) -> Result<NodeRecord, Error> {
    let mut statement = tx.prepare_cached(&format!(
        "DELETE FROM nodes WHERE spiffe_id = ?1 RETURNING {NODE_COLUMNS}"
    ))?;
    let mut rows = statement.query([spiffe_id.as_str()])?;
    match rows.next()? {
        Some(row) => node_from_row(row),
        None => Err(Error::NodeNotFound {
            spiffe_id: spiffe_id.clone(),
        }),
    }
}
