//! The PostgreSQL schema: versioned migrations recorded in `spiffekit_schema`, run under an
//! advisory lock so that replicas starting together migrate once.

use postgres::Client;

use crate::error::Error;

/// Migration `n` (0-based) takes a database from schema `n` to `n + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    // 1: registration entries and CA journals, as in the SQLite schema. Lists are JSON arrays
    // of strings kept as text (the SQLite store reads the same shapes); `selectors` is sorted,
    // so the unique index sees one spelling per selector set.
    "CREATE TABLE entries (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        spiffe_id TEXT NOT NULL,
        parent_id TEXT,
        selectors TEXT NOT NULL,
        x509_ttl BIGINT,
        jwt_ttl BIGINT,
        dns_names TEXT NOT NULL,
        hint TEXT,
        federates_with TEXT NOT NULL,
        revision BIGINT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX entries_identity
        ON entries (spiffe_id, coalesce(parent_id, ''), selectors);
    CREATE TABLE ca_keys (
        journal TEXT NOT NULL,
        name TEXT NOT NULL,
        pkcs8 BYTEA NOT NULL,
        PRIMARY KEY (journal, name)
    );
    CREATE TABLE ca_state (
        journal TEXT PRIMARY KEY,
        document BYTEA NOT NULL
    );",
    // 2: fleet-server state, as in the SQLite schema: pending join tokens (only the SHA-256
    // of each token, as lowercase hex; consumed by one `DELETE ... RETURNING`) and attested
    // nodes (`seq` keeps first-attestation order through upserts).
    "CREATE TABLE join_tokens (
        seq BIGSERIAL PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        agent_id TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE nodes (
        seq BIGSERIAL PRIMARY KEY,
        spiffe_id TEXT NOT NULL UNIQUE,
        attestation TEXT NOT NULL,
        selectors TEXT NOT NULL,
        svid_serial TEXT NOT NULL,
        svid_expires_at BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );",
    // 3: the bundle each replica of a fleet server publishes, as in the SQLite schema.
    "CREATE TABLE published_bundles (
        replica TEXT PRIMARY KEY,
        document TEXT NOT NULL,
        updated_at BIGINT NOT NULL
    );",
    // 4: the last good bundle of each federated trust domain, as in the SQLite schema.
    "CREATE TABLE federated_bundles (
        trust_domain TEXT PRIMARY KEY,
        document TEXT NOT NULL,
        updated_at BIGINT NOT NULL
    );",
];

/// The newest schema version this build knows.
pub(crate) const SCHEMA_VERSION: i32 = 4;

// One migration per version, checked at compile time.
#[expect(
    clippy::as_conversions,
    reason = "a small positive i32 to usize widens on every supported target"
)]
const _: () = assert!(MIGRATIONS.len() == SCHEMA_VERSION as usize);

/// The advisory lock key the migration holds (any constant; "spfk").
const MIGRATION_LOCK: i64 = 0x7370_666b;

/// Brings the database to [`SCHEMA_VERSION`], or refuses one written by a newer version
/// without changing it.
pub(crate) fn migrate(client: &mut Client, target: &str) -> Result<(), Error> {
    let db = |source| Error::Postgres {
        target: target.to_owned(),
        source,
    };
    let mut tx = client.transaction().map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(db)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS spiffekit_schema (version INTEGER NOT NULL)")
        .map_err(db)?;
    let found: i32 = tx
        .query_opt("SELECT max(version) FROM spiffekit_schema", &[])
        .map_err(db)?
        .and_then(|row| row.get::<_, Option<i32>>(0))
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            path: target.into(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
            supported: u32::try_from(SCHEMA_VERSION).unwrap_or(0),
        });
    }
    let first = usize::try_from(found).unwrap_or(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(first) {
        tx.batch_execute(migration).map_err(db)?;
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO spiffekit_schema (version) VALUES ($1)",
            &[&version],
        )
        .map_err(db)?;
    }
    tx.commit().map_err(db)
}
