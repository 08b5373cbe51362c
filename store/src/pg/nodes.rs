//! Join tokens and attested nodes in PostgreSQL: the statements behind the node half of
//! [`PostgresStore`](crate::PostgresStore)'s [`Store`](crate::Store) implementation. A token
//! is consumed by one `DELETE ... RETURNING`: of several replicas presenting it at once, the
//! row lock lets one delete it and the others find nothing.

use postgres::error::SqlState;
use postgres::{Row, Transaction};
use spiffe_id::SpiffeId;

use crate::error::Error;
use crate::node::{JoinTokenRecord, NodeRecord};
use crate::node_row::{
    NODE_COLUMNS, RawJoinToken, RawNode, TOKEN_COLUMNS, decode_node, decode_token, selectors_json,
    stored_time, token_name,
};
use crate::pg::db_error;
use crate::row::Origin;

/// Inserts a checked token; its hash already pending is [`Error::DuplicateJoinToken`].
pub(super) fn create_join_token(
    tx: &mut Transaction<'_>,
    target: &str,
    token: &JoinTokenRecord,
    created_at: i64,
) -> Result<JoinTokenRecord, Error> {
    token.check()?;
    let inserted = tx.execute(
        "INSERT INTO join_tokens (hash, agent_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4)",
        &[
            &token.token_hash,
            &token.agent_id.as_str(),
            &stored_time(token.expires_at),
            &created_at,
        ],
    );
    match inserted {
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            return Err(Error::DuplicateJoinToken);
        }
        other => other.map_err(db_error(target))?,
    };
    let mut stored = token.clone();
    stored.created_at = u64::try_from(created_at).unwrap_or(0);
    Ok(stored)
}

/// Deletes the token with this hash and returns it: one statement, atomic across replicas.
pub(super) fn take_join_token(
    tx: &mut Transaction<'_>,
    target: &str,
    token_hash: &str,
) -> Result<Option<JoinTokenRecord>, Error> {
    tx.query_opt(
        &format!("DELETE FROM join_tokens WHERE hash = $1 RETURNING {TOKEN_COLUMNS}"),
        &[&token_hash],
    )
    .map_err(db_error(target))?
    .as_ref()
    .map(token_from_row)
    .transpose()
}

/// Every pending token, in creation order.
pub(super) fn join_tokens(
    tx: &mut Transaction<'_>,
    target: &str,
) -> Result<Vec<JoinTokenRecord>, Error> {
    tx.query(
        &format!("SELECT {TOKEN_COLUMNS} FROM join_tokens ORDER BY seq"),
        &[],
    )
    .map_err(db_error(target))?
    .iter()
    .map(token_from_row)
    .collect()
}

/// Deletes the tokens expired at `now`, and says how many there were.
pub(super) fn purge_expired_join_tokens(
    tx: &mut Transaction<'_>,
    target: &str,
    now: u64,
) -> Result<usize, Error> {
    let purged = tx
        .execute(
            "DELETE FROM join_tokens WHERE expires_at <= $1",
            &[&stored_time(now)],
        )
        .map_err(db_error(target))?;
    Ok(usize::try_from(purged).unwrap_or(usize::MAX))
}

/// Inserts the node, or replaces the one with its SPIFFE ID keeping `created_at` (and its
/// place in the listing order); returns the stored row.
pub(super) fn upsert_node(
    tx: &mut Transaction<'_>,
    target: &str,
    node: &NodeRecord,
    now: i64,
) -> Result<NodeRecord, Error> {
    node.check()?;
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO nodes (spiffe_id, attestation, selectors, svid_serial, \
                 svid_expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                 ON CONFLICT (spiffe_id) DO UPDATE SET attestation = excluded.attestation, \
                 selectors = excluded.selectors, svid_serial = excluded.svid_serial, \
                 svid_expires_at = excluded.svid_expires_at, updated_at = excluded.updated_at \
                 RETURNING {NODE_COLUMNS}"
            ),
            &[
                &node.spiffe_id.as_str(),
                &node.attestation,
                &selectors_json(node)?,
                &node.svid_serial,
                &stored_time(node.svid_expires_at),
                &now,
            ],
        )
        .map_err(db_error(target))?;
    node_from_row(&row)
}

/// The node `spiffe_id`, or `None`.
pub(super) fn node(
    tx: &mut Transaction<'_>,
    target: &str,
    spiffe_id: &SpiffeId,
) -> Result<Option<NodeRecord>, Error> {
    tx.query_opt(
        &format!("SELECT {NODE_COLUMNS} FROM nodes WHERE spiffe_id = $1"),
        &[&spiffe_id.as_str()],
    )
    .map_err(db_error(target))?
    .as_ref()
    .map(node_from_row)
    .transpose()
}

/// Every node, in first-attestation order.
pub(super) fn nodes(tx: &mut Transaction<'_>, target: &str) -> Result<Vec<NodeRecord>, Error> {
    tx.query(
        &format!("SELECT {NODE_COLUMNS} FROM nodes ORDER BY seq"),
        &[],
    )
    .map_err(db_error(target))?
    .iter()
    .map(node_from_row)
    .collect()
}

/// Deletes the node `spiffe_id` and returns what it was.
pub(super) fn delete_node(
    tx: &mut Transaction<'_>,
    target: &str,
    spiffe_id: &SpiffeId,
) -> Result<NodeRecord, Error> {
    let deleted = tx
        .query_opt(
            &format!("DELETE FROM nodes WHERE spiffe_id = $1 RETURNING {NODE_COLUMNS}"),
            &[&spiffe_id.as_str()],
        )
        .map_err(db_error(target))?;
    match deleted {
        Some(row) => node_from_row(&row),
        None => Err(Error::NodeNotFound {
            spiffe_id: spiffe_id.clone(),
        }),
    }
}

/// Reads a row selected with [`TOKEN_COLUMNS`].
fn token_from_row(row: &Row) -> Result<JoinTokenRecord, Error> {
    let seq: Option<i64> = row.try_get(0).ok();
    let name = seq.map_or_else(|| "<unknown>".to_owned(), token_name);
    let at = Origin {
        record: "join token",
        id: &name,
    };
    let get = |column: &'static str| move |e: postgres::Error| at.bad(column, e.to_string());
    decode_token(RawJoinToken {
        seq: row.try_get(0).map_err(get("seq"))?,
        hash: row.try_get(1).map_err(get("hash"))?,
        agent_id: row.try_get(2).map_err(get("agent_id"))?,
        expires_at: row.try_get(3).map_err(get("expires_at"))?,
        created_at: row.try_get(4).map_err(get("created_at"))?,
    })
}

/// Reads a row selected with [`NODE_COLUMNS`].
fn node_from_row(row: &Row) -> Result<NodeRecord, Error> {
    let spiffe_id: String = row.try_get(0).unwrap_or_else(|_| "<unknown>".to_owned());
    let at = Origin {
        record: "node",
        id: &spiffe_id,
    };
    let get = |column: &'static str| move |e: postgres::Error| at.bad(column, e.to_string());
    let raw = RawNode {
        attestation: row.try_get(1).map_err(get("attestation"))?,
        selectors: row.try_get(2).map_err(get("selectors"))?,
        svid_serial: row.try_get(3).map_err(get("svid_serial"))?,
        svid_expires_at: row.try_get(4).map_err(get("svid_expires_at"))?,
        created_at: row.try_get(5).map_err(get("created_at"))?,
        updated_at: row.try_get(6).map_err(get("updated_at"))?,
        spiffe_id,
    };
    decode_node(raw)
}
