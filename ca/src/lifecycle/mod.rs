//! Key lifecycle (prepared -> active -> retired), bundle publication and persistence. Where each
//! key is in its life ([`AuthorityStatus`](crate::AuthorityStatus)) and the CA's state live in
//! `crate::state`, below the CA type that holds them.
//!
//! - `schedule`: SPIRE's schedule, one step over the keys of one kind;
//! - `rotation`: the CA's lifecycle operations (rotate, force, taint, revoke);
//! - `publish`: the bundle, the hot path and the snapshot rebuilt from the state;
//! - `persist`: the state saved to and resumed from a key store.

pub(crate) mod persist;
mod publish;
mod rotation;
mod schedule;
