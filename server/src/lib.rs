//! A SPIFFE fleet server: one trust domain across many machines.
//!
//! The server holds the trust domain's CA (`ca`, with any key manager and upstream) and the
//! registration entries (`store`: SQLite embedded, PostgreSQL shared). Node agents on each
//! machine attest to it, receive an **agent SVID** (`spiffe://<td>/agent/...`), and through the
//! node API (`node-api`, gRPC over mTLS with that SVID):
//!
//! - sync the entries parented to their node (and, transitively, to those entries),
//! - send CSRs for their workloads' X509-SVIDs (workload keys never leave the node),
//! - ask for JWT-SVIDs.
//!
//! The server signs only SPIFFE IDs that an entry authorises for the calling node: a
//! compromised node cannot obtain any other identity; each refusal is logged on the
//! `spiffekit_server::audit` target.
//!
//! Node attestation ([`NodeAttestor`]): [`JoinTokenAttestor`] (single-use tokens with a TTL,
//! only their hash stored, consumed atomically) and [`X509popAttestor`] (proof of possession
//! of a key certified by an organisation's CA; the agent ID comes from the certificate by a
//! template). Evicting a node ([`Server::evict`]) refuses its agent from its next call.
//!
//! Limits: SVID requests per node ([`RateLimit`]), batch size, message size (4 MiB), CSR size
//! (8 KiB), agent clock skew at attestation (5 min by default).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let store: Arc<dyn store::Store> = Arc::new(store::SqliteStore::open("/var/lib/spiffe/server.db")?);
//! let ca = ca::CertificateAuthority::builder("example.org".parse()?)
//!     .key_store(store.ca_journal("server")?)
//!     .build(std::time::SystemTime::now())?;
//! let server = server::Server::builder(ca, Arc::clone(&store))
//!     .serve("0.0.0.0:8081".parse()?)
//!     .await?;
//! let token = server.create_join_token(Duration::from_secs(600), None).await?;
//! println!("join token for {}: {}", token.agent_id, token.token.as_str());
//! # Ok(())
//! # }
//! ```

//! # Replicas
//!
//! Several servers may share one store (PostgreSQL, feature `postgres`; across a network with
//! TLS, [`PostgresConfig::ca_path`], which never falls back to clear text). Each needs its own CA
//! journal and [`ServerBuilder::replica_name`]; sign them under one upstream root
//! (`ca::DiskUpstream`) so that the bundle's X.509 authority is that root (each replica's
//! intermediate key may live on its own PKCS#11 token: `[ca.pkcs11]`). Each replica
//! publishes its CA's bundle in the store and serves the union of all replicas' bundles, so an
//! SVID or JWT-SVID signed by any of them verifies everywhere. Entries, nodes and join tokens
//! are shared: a token is accepted by one replica only; an entry or an eviction made through
//! one replica reaches the others at their next refresh ([`ServerBuilder::entry_refresh_interval`]
//! for entries; node checks read the store on every call). Agents list every replica and fail
//! over.
//!
//! # Federation
//!
//! [`ServerBuilder::federation`] (the binary's `[federation]`, the agent's section, read by
//! `federation::config`): the bundle endpoint serves the bundle this server sends its agents
//! (every replica's authorities, following rotations and retirements; each replica can serve
//! it, behind one name or several), with an X509-SVID of the server's CA for `https_spiffe`;
//! `federates_with` runs a `federation::manager::FederationManager`
//! ([`Server::federation_manager`]). With each entry sync, a node receives the bundles of the
//! trust domains its entries federate with (node API `SyncEntriesResponse.federated_bundles`,
//! with their sequence), and an upstream agent adds, replaces and removes them in its
//! workloads' streams. [`ServerBuilder::federated_bundles`] takes them from a manager of your
//! own instead.
//!
//! # The `server` binary
//!
//! `server --config server.toml` serves (see [`ServerConfig`] and `server/server.example.toml`):
//! the node API, the [admin API](admin) on a 0600 Unix socket, and with `health_address`
//! `/live`, `/ready` and `/metrics` ([`metrics`]). The other subcommands administer a running
//! server through its admin socket: `token create`, `node list|evict`,
//! `entry create|list|show|update|delete` (`--federates-with` on create), `bundle show [--pem]`, `ca list|rotate|taint|revoke`,
//! `healthcheck`; `--json` for scripts. SIGINT and SIGTERM stop it cleanly. With the feature
//! `pkcs11`, `[ca.pkcs11]` keeps the CA's keys on a PKCS#11 token (an HSM; the PIN from
//! `SPIFFE_SERVER_PKCS11_PIN` or a 0600 file), and the store's journal names them, so a
//! restarted server signs with the same keys ([`ServerConfig::ca_key_manager`]).
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `ring` | yes | minting and TLS with ring |
//! | `aws-lc-rs` | no | minting and TLS with aws-lc-rs |
//! | `postgres` | no | `[store] postgres = ...` in the binary (`store::PostgresStore`) |
//! | `pkcs11` | no | `[ca.pkcs11]` in the binary: the CA's keys on a PKCS#11 token (`ca::Pkcs11KeyManager`; the module is loaded at run time) |

#![forbid(unsafe_code)]

pub mod admin;
pub mod attest;
mod bundle;
mod config;
mod entries;
mod error;
mod federated;
mod health;
mod identity;
pub mod metrics;
mod node_cache;
mod node_service;
mod ops;
mod postgres_config;
mod rate_limit;
mod server;
mod settings;

pub use attest::{
    AttestedNode, JoinTokenAttestor, NewJoinToken, NodeAttestor, Step, X509popAttestor,
    X509popConfig,
};
pub use config::{
    ConfigError, DEFAULT_PIN_ENV, ServerConfig, StoreConfig, UpstreamDiskConfig, X509popFileConfig,
    parse_duration,
};
pub use entries::MAX_ENTRIES_PER_NODE;
pub use error::{AttestError, Error};
pub use postgres_config::PostgresConfig;
#[cfg(feature = "postgres")]
pub use postgres_config::PostgresSettingsError;
pub use rate_limit::RateLimit;
pub use server::{DEFAULT_REPLICA, Server, ServerBuilder};
