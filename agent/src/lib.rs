//! An embeddable SPIFFE Workload API server: the "node agent" of the SPIFFE design.
//!
//! The agent runs next to workloads on a Unix socket. It decides who a caller is from the
//! kernel's view of the socket (peer uid, gid, pid and the binary behind the pid), matches the
//! resulting [`Selector`]s against [`RegistrationEntry`]s, mints the entitled identities
//! through a [`ca::CertificateAuthority`], rotates them at about half their lifetime and
//! pushes the full state to every open stream whenever anything changes.
//!
//! Use it to give a control plane a Workload API, or to start a real Workload API inside a
//! test. Standalone, its entries and federated bundles are whatever the embedder, the config
//! file or the [admin API](admin) set, and it mints through its own CA. In **upstream mode**
//! ([`Agent::upstream_builder`], `[upstream]` in the binary's config) it is a fleet's node
//! agent: it attests its node to a `server` (join token or x509pop, through `node-api`),
//! serves the entries the server authorises for that node, and gets each SVID by sending a CSR
//! (workload keys never leave the node); when no server answers it keeps serving what it holds
//! until it expires and recovers by itself (see [`UpstreamConfig`]).
//!
//! - [`admin`]: the admin API on a socket of its own (entries, bundle, CA authorities,
//!   health), [`admin::AdminClient`], and the binary's `agent entry ...` subcommands.
//! - [`AgentBuilder::store`]: entries created through the admin API persist in a
//!   `store::Store` (SQLite by default in the binary, with the CA's journal beside them).
//! - [`metrics`] through the `metrics` facade, [`health`] for `/live`, `/ready`, `/metrics`.
//!
//! The protocol (generated messages and server trait, the security header check, the claims
//! conversion) comes from `workload-api` ([`workload_api::proto`]), which clients share; the
//! agent does not depend on `workload-client`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use agent::{Agent, RegistrationEntry, Selector};
//! use workload_api::proto::spiffe_workload_api_client::SpiffeWorkloadApiClient;
//! use workload_api::{SECURITY_HEADER, SECURITY_HEADER_VALUE};
//!
//! let ca = ca::TestCa::new("example.org").ca().clone();
//! let dir = tempfile::tempdir()?;
//! let agent = Agent::builder(ca)
//!     .entry(
//!         RegistrationEntry::new("spiffe://example.org/web".parse()?)
//!             // Connections from this process's user get the identity.
//!             .with_selector(Selector::current_uid()?),
//!     )
//!     .serve_unix(dir.path().join("agent.sock"))
//!     .await?;
//!
//! // Any Workload API client works; here the raw generated one.
//! let path = agent.socket_path().to_owned();
//! let channel = tonic::transport::Endpoint::from_static("http://localhost")
//!     .connect_with_connector(tower::service_fn(move |_| {
//!         let path = path.clone();
//!         async move {
//!             let stream = tokio::net::UnixStream::connect(path).await?;
//!             Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
//!         }
//!     }))
//!     .await?;
//! let mut client = SpiffeWorkloadApiClient::new(channel);
//! let mut request = tonic::Request::new(workload_api::proto::X509svidRequest {});
//! request.metadata_mut().insert(SECURITY_HEADER, SECURITY_HEADER_VALUE.parse()?);
//! let mut stream = client.fetch_x509svid(request).await?.into_inner();
//! let first = stream.message().await?.ok_or("no message")?;
//! assert_eq!(first.svids[0].spiffe_id, "spiffe://example.org/web");
//!
//! agent.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # What is served
//!
//! | RPC | Behaviour |
//! |---|---|
//! | `FetchX509SVID` | stream; first message at once (right after start-up, as soon as the caller's SVIDs are minted: start-up entries are minted in the background, those a caller waits for first), then a full state on every SVID rotation, entry change, bundle or federated bundle change |
//! | `FetchX509Bundles`, `FetchJWTBundles` | streams of the own and federated bundles the caller's entries allow (`federates_with`) |
//! | `FetchJWTSVID` | one token per entitled identity (all of them when `spiffe_id` is empty); `audience` required |
//! | `ValidateJWTSVID` | full JWT-SVID validation against the caller's JWT bundles; returns the ID and the claims |
//! | WIT-SVID RPCs | `Unimplemented` (the profile is Incubating and not offered) |
//!
//! Status codes follow the Workload API: `InvalidArgument` without the `workload.spiffe.io:
//! true` header or with a mandatory field empty, `PermissionDenied` for a caller that matches
//! no entry (also on an open stream when its last entry is removed) or whose process has
//! exited since it connected, `ResourceExhausted` past a limit (see "Limits"), `Unavailable`
//! while shutting down or when an attestor fails.
//!
//! # Attestation
//!
//! The built-in [`UnixAttestor`] gives `unix:uid:<uid>`, `unix:gid:<gid>`,
//! `unix:user:<name>` and `unix:group:<name>` (from `/etc/passwd` and `/etc/group`), and where
//! `/proc/<pid>` is readable `unix:path:<binary>`, `unix:sha256:<hex>` and
//! `unix:supplementary_gid:<gid>` / `unix:supplementary_group:<name>`: SPIRE's selector names.
//! Each connection is bound to the process that opened it (a pidfd, or its start time on
//! kernels before 6.5), and a call from a connection whose process has exited or been
//! replaced gets `PermissionDenied`. The pid cannot tell what a process `exec`s after
//! connecting: `unix:path` / `unix:sha256` separate programs of different users, not programs
//! of one uid from each other; [`UnixAttestor`]'s documentation says what each selector can
//! and cannot prove. [`TcpAttestor`] gives
//! `tcp:ip:<address>` to TCP callers. Add your own (container, pod) by implementing
//! [`Attestor`]; every attestor's selectors are combined.
//!
//! A caller gets every entry whose selectors are all among its own, in registration order; the
//! first is its default identity. Entries and federated bundles can be changed at any time
//! through [`AgentHandle`].
//!
//! # Transport
//!
//! The socket file is created with mode [`DEFAULT_SOCKET_MODE`] (`0666`: every local user may
//! connect and attestation decides what each gets, as with SPIRE's agent; narrow it with
//! [`AgentBuilder::socket_mode`]) without ever being reachable with other permissions; a
//! stale socket left by a killed agent is replaced, a live one is refused, and shutdown
//! removes it. On the Unix socket the agent also serves clients that send the socket path as
//! HTTP/2 `:authority` (grpc C-core since 1.57, hence py-spiffe; grpc-java), which tonic's h2
//! would otherwise reset with `PROTOCOL_ERROR`: the value is replaced by `localhost` (or its
//! first bytes, for a shorter value, so that the HPACK tables of both ends stay in step)
//! before h2 reads it, since a Unix socket has no host to name.
//!
//! SVID private keys are sent to entitled callers as the protocol requires. The agent's own
//! copy of each key is wiped when dropped, and so is every response message that carries
//! one (`X509svid` wipes its key on drop): the one a group of streams shares and the copy a
//! stream hands to tonic for each send. tonic's encode buffer is beyond reach; it is freed,
//! not wiped, once the message is written.
//!
//! # Limits
//!
//! | what | default | builder / config key |
//! |---|---|---|
//! | open streaming RPCs per connection | [`DEFAULT_MAX_STREAMS_PER_CONNECTION`] (100) | [`AgentBuilder::max_streams_per_connection`], `limits.max_streams_per_connection` |
//! | open connections per uid (Unix socket) | [`DEFAULT_MAX_CONNECTIONS_PER_UID`] (128) | [`AgentBuilder::max_connections_per_uid`], `limits.max_connections_per_uid` |
//! | open connections in total | [`DEFAULT_MAX_CONNECTIONS`] (1024) | [`AgentBuilder::max_connections`], `limits.max_connections` |
//!
//! A stream past its connection's cap gets `ResourceExhausted` at once (HTTP/2
//! `SETTINGS_MAX_CONCURRENT_STREAMS` is 32 higher, so unary calls still pass, and a client
//! that ignores it gets `REFUSED_STREAM`). A connection past a connection cap is accepted,
//! every call on it gets `ResourceExhausted` naming the cap, and it is closed after 2 s; at
//! most 32 of those are held at once, further ones are closed at once without an answer.
//! Callers within the caps are not affected.
//!
//! # Streams and rotation
//!
//! Callers with the same selectors share one watch channel holding their latest full state;
//! each stream sends the latest state when its reader has room. A reader that stops reading
//! holds one state, not a queue, and never delays rotation for anyone else. SVIDs are
//! replaced at half their lifetime minus up to a tenth of it at random; when the CA's X.509
//! authority changes ([`ca::CertificateAuthority::rotate`]) every SVID is re-issued at once
//! (split over the available cores) and pushed with the new bundle. Each group remembers the
//! entries it matches and each entry its groups, so a re-issued SVID recomputes only its own
//! groups and a rotation costs time linear in entries plus streams; a caller's entries are
//! found through an index of entry selectors, not by scanning every entry.
//!
//! [`AgentBuilder::serve_unix`] serves at once and mints the start-up entries' first SVIDs in
//! the background; a FetchX509SVID stream whose entries are not minted yet has them minted
//! next and sends its first message when they are (never an incomplete list), and JWT-SVID
//! calls do not wait. [`AgentHandle::minted`] waits for all of them.
//!
//! # The `agent` binary
//!
//! `cargo run -p spiffekit-agent --bin agent -- --config agent/agent.example.toml [--socket PATH]`
//! starts an in-process CA for the configured trust domain and serves the configured entries.
//! The CA is a self-signed root, or, with `[ca.upstream_disk]`, an intermediate signed by an
//! existing CA whose certificate and key are files (an organisation's own PKI; see
//! [`DiskUpstreamConfig`]), so that the bundle holds that organisation's root. It logs what it serves (`RUST_LOG`-style filtering is not supported; `-v` for debug) and
//! stops cleanly on SIGINT or SIGTERM, removing its socket. The configuration format is
//! described in [`AgentConfig`] and `agent/agent.example.toml`.
//!
//! With `[federation]` ([`FederationConfig`]) it serves its trust domain's bundle endpoint
//! (`https_spiffe` with an X509-SVID of its CA, or `https_web`) and keeps the bundles of the
//! trust domains it federates with live: a `federation` crate manager polls each peer and
//! [`AgentHandle::follow_federated_bundles`] hands every change to the Workload API streams of
//! the callers whose entries federate with that trust domain.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `ring` | yes | minting and JWT validation with ring |
//! | `aws-lc-rs` | no | minting and validation with aws-lc-rs (RSA JWT keys, ES512) |
//! | `pkcs11` | no | `[ca.pkcs11]`: the CA's keys on a PKCS#11 token |
//!
//! # Specifications
//!
//! SPIFFE Workload API and Workload Endpoint, at
//! <https://github.com/spiffe/spiffe/tree/main/standards>.

// Source layout, for maintainers: each module imports only modules listed before it here
// (`tests/module_dag.rs` fails on an import cycle).
//
// - entries: `entry_id` (below `error` and `entry`, which both name it), `error`, `selector`,
//   `entry`;
// - connections: `limits` (caps, counted at accept), `connection` (process binding, stream
//   budget), `caller` (`Caller`, what attestors read), `attest` (the attestors), `admit` (the
//   tower layer that answers calls over a cap), `h2_authority` (the HTTP/2 `:authority`
//   rewrite), `listen` (bind and accept);
// - what is served: `refresh` (when an SVID is replaced), `state` (registry, views, groups of
//   streams), `upstream` (the fleet server
//   connection: attestation, entry conversion, minting by CSR), `issuer` (own CA or server),
//   `issue` (minting, JWT-SVID cache), `stream` (one stream), `agent_core` (`AgentCore`, what
//   the RPCs, the rotation task and `AgentHandle` share), `service` (the gRPC service),
//   `rotation` (the rotation task), `upstream_sync` (the upstream sync task);
// - the public face: `ca_upstream` (the config's `[ca.upstream_disk]`), `config` (the binary's
//   TOML), `server` (`AgentBuilder`, `AgentHandle`).
pub mod admin;
mod admit;
mod agent_core;
mod attest;
mod ca_pkcs11;
mod ca_upstream;
mod caller;
mod config;
mod connection;
mod duration;
mod entry;
mod entry_id;
mod error;
pub mod federation;
mod federation_config;
mod h2_authority;
pub mod health;
mod issue;
mod issuer;
mod limits;
mod listen;
pub mod metrics;
mod refresh;
mod rotation;
mod selector;
mod server;
mod service;
mod state;
mod stream;
mod upstream;
mod upstream_sync;

pub use attest::{AttestFuture, Attestor, TcpAttestor, UnixAttestor};
pub use ca_pkcs11::{DEFAULT_PIN_ENV, PinSource, Pkcs11KeysConfig, TokenChoice};
pub use ca_upstream::DiskUpstreamConfig;
pub use caller::Caller;
pub use config::{
    AgentConfig, ConfigKeyType, DEFAULT_JOIN_TOKEN_ENV, NodeAttestationConfig, UpstreamFileConfig,
    parse_duration,
};
pub use entry::{MAX_HINT_LEN, MAX_SELECTORS_PER_ENTRY, RegistrationEntry};
pub use entry_id::EntryId;
pub use error::{ConfigError, EntryError, Error, SelectorError};
pub use federation_config::{
    BundleEndpointConfig, EndpointProfileConfig, FederationConfig, RelationshipConfig,
    RelationshipProfileConfig,
};
pub use limits::{
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_UID, DEFAULT_MAX_STREAMS_PER_CONNECTION,
};
pub use selector::{MAX_SELECTOR_LEN, Selector};
pub use server::{Agent, AgentBuilder, AgentHandle, DEFAULT_SOCKET_MODE};
pub use upstream::{DEFAULT_SYNC_INTERVAL, UpstreamConfig};
// The node API client an upstream-mode agent is configured with.
pub use node_api;
// The header's home is `workload_api`; re-exported so `agent::SECURITY_HEADER` keeps working.
pub use workload_api::SECURITY_HEADER;
