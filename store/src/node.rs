//! [`JoinTokenRecord`] and [`NodeRecord`]: what a fleet server keeps about node attestation.

use core::fmt;

use spiffe_id::SpiffeId;

use crate::error::Error;

/// Hex digits in a SHA-256 digest.
const HASH_HEX_LEN: usize = 64;

/// How many hex digits of a token hash `Debug` shows: enough to tell tokens apart in a log,
/// far too few to look the token up.
const HASH_SHOWN: usize = 8;

/// A join token waiting to be used: only the SHA-256 of the token is stored, so a copy of the
/// database does not let anyone attest a node.
///
/// A server creates one with [`Store::create_join_token`](crate::Store::create_join_token)
/// and consumes it, once, with [`Store::consume_join_token`](crate::Store::consume_join_token)
/// when an agent presents the token. `Debug` shows only the first 8 hex digits of the hash.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JoinTokenRecord {
    pub(crate) token_hash: String,
    pub(crate) agent_id: SpiffeId,
    pub(crate) expires_at: u64,
    pub(crate) created_at: u64,
}

impl JoinTokenRecord {
    /// A token whose SHA-256 is `token_hash` (lowercase hex, checked when it is created in a
    /// store), which attests an agent as `agent_id` until `expires_at` (unix seconds).
    pub fn new(token_hash: impl Into<String>, agent_id: SpiffeId, expires_at: u64) -> Self {
        Self {
            token_hash: token_hash.into(),
            agent_id,
            expires_at,
            created_at: 0,
        }
    }

    /// The lowercase hex SHA-256 of the token.
    pub fn token_hash(&self) -> &str {
        &self.token_hash
    }

    /// The SPIFFE ID the agent that presents the token is attested as.
    pub fn agent_id(&self) -> &SpiffeId {
        &self.agent_id
    }

    /// When the token stops being accepted (unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// When the store created it (unix seconds, system clock); 0 before creation.
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// Refuses a hash that is not 64 lowercase hex digits, and times the databases cannot
    /// hold. The message does not repeat the hash.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if !is_token_hash(&self.token_hash) {
            return Err(Error::invalid(
                "join token hash",
                format!(
                    "{} characters, not the {HASH_HEX_LEN} lowercase hex digits of a SHA-256",
                    self.token_hash.chars().count()
                ),
            ));
        }
        check_time("join token expires_at", self.expires_at)
    }
}

impl fmt::Debug for JoinTokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.token_hash.get(..HASH_SHOWN).unwrap_or("");
        f.debug_struct("JoinTokenRecord")
            .field("token_hash", &format_args!("{shown}…"))
            .field("agent_id", &self.agent_id)
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// What [`Store::consume_join_token`](crate::Store::consume_join_token) answers once the
/// delete returned `taken`: an expired token is gone too, but refused.
pub(crate) fn consumed(taken: Option<JoinTokenRecord>, now: u64) -> Result<JoinTokenRecord, Error> {
    match taken {
        None => Err(Error::JoinTokenNotFound),
        Some(token) if token.expires_at <= now => Err(Error::JoinTokenExpired {
            expired_at: token.expires_at,
        }),
        Some(token) => Ok(token),
    }
}

/// Whether `text` is 64 lowercase hex digits.
pub(crate) fn is_token_hash(text: &str) -> bool {
    text.len() == HASH_HEX_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An attested node: the agent SPIFFE ID it was given, how it attested, and the agent SVID it
/// was last issued.
///
/// Written with [`Store::upsert_node`](crate::Store::upsert_node) at each attestation or
/// renewal; an evicted node is deleted with [`Store::delete_node`](crate::Store::delete_node),
/// and its agent is refused on its next call. Selectors are kept sorted and without
/// duplicates.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct NodeRecord {
    pub(crate) spiffe_id: SpiffeId,
    pub(crate) attestation: String,
    pub(crate) selectors: Vec<String>,
    pub(crate) svid_serial: String,
    pub(crate) svid_expires_at: u64,
    pub(crate) created_at: u64,
    pub(crate) updated_at: u64,
}

impl NodeRecord {
    /// A node attested as `spiffe_id` by the attestation type `attestation` (`join_token`,
    /// `x509pop`), with no selectors and no SVID yet.
    pub fn new(spiffe_id: SpiffeId, attestation: impl Into<String>) -> Self {
        Self {
            spiffe_id,
            attestation: attestation.into(),
            selectors: Vec::new(),
            svid_serial: String::new(),
            svid_expires_at: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// Replaces the node's selectors (`type:value`, checked when written; sorted and
    /// deduplicated).
    #[must_use]
    pub fn with_selectors<S: Into<String>>(
        mut self,
        selectors: impl IntoIterator<Item = S>,
    ) -> Self {
        self.selectors = selectors.into_iter().map(Into::into).collect();
        self.selectors.sort();
        self.selectors.dedup();
        self
    }

    /// Sets the hex serial number of the agent SVID last issued to the node.
    #[must_use]
    pub fn with_svid_serial(mut self, serial: impl Into<String>) -> Self {
        self.svid_serial = serial.into();
        self
    }

    /// Sets when that SVID expires (unix seconds).
    #[must_use]
    pub fn with_svid_expires_at(mut self, at: u64) -> Self {
        self.svid_expires_at = at;
        self
    }

    /// The agent's SPIFFE ID, the node's key in the store.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The attestation type the node last attested with.
    pub fn attestation(&self) -> &str {
        &self.attestation
    }

    /// The node's selectors, sorted.
    pub fn selectors(&self) -> &[String] {
        &self.selectors
    }

    /// The hex serial number of the agent SVID last issued (empty before the first).
    pub fn svid_serial(&self) -> &str {
        &self.svid_serial
    }

    /// When the agent SVID last issued expires (unix seconds; 0 before the first).
    pub fn svid_expires_at(&self) -> u64 {
        self.svid_expires_at
    }

    /// When the node first attested (unix seconds, system clock; kept by later upserts).
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// When the record was last written (unix seconds, system clock).
    pub fn updated_at(&self) -> u64 {
        self.updated_at
    }

    /// Refuses what the store could not read back as written: an attestation type that is
    /// not a short ASCII word, a selector not `type:value`, a serial that is not hex, a time
    /// the databases cannot hold.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if !is_attestation(&self.attestation) {
            return Err(Error::invalid(
                "node attestation",
                format!(
                    "{:?} is not ASCII letters, digits, '_' and '-'",
                    self.attestation
                ),
            ));
        }
        for selector in &self.selectors {
            if !is_selector(selector) {
                return Err(Error::invalid(
                    "node selector",
                    format!("{selector:?} is not `type:value`"),
                ));
            }
        }
        if !self.svid_serial.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid(
                "node svid_serial",
                format!("{:?} is not hex", self.svid_serial),
            ));
        }
        check_time("node svid_expires_at", self.svid_expires_at)
    }
}

/// Whether `text` is an attestation type: non-empty ASCII letters, digits, `_`, `-`.
pub(crate) fn is_attestation(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `text` is `type:value` with both parts non-empty.
pub(crate) fn is_selector(text: &str) -> bool {
    text.split_once(':')
        .is_some_and(|(kind, value)| !kind.is_empty() && !value.is_empty())
}

/// Unix seconds as both databases store them (a signed 64-bit integer).
fn check_time(what: &'static str, at: u64) -> Result<(), Error> {
    match i64::try_from(at) {
        Ok(_) => Ok(()),
        Err(_) => Err(Error::invalid(what, format!("{at} is out of range"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn id() -> SpiffeId {
        "spiffe://example.org/agent/a".parse().unwrap()
    }

    #[test]
    fn debug_shows_only_the_start_of_the_hash() {
        let token = JoinTokenRecord::new(HASH, id(), 10);
        let text = format!("{token:?}");
        assert!(text.contains("01234567…"), "{text}");
        assert!(!text.contains("89abcdef"), "{text}");
        // A hash shorter than the prefix prints nothing of it.
        let text = format!("{:?}", JoinTokenRecord::new("abc", id(), 10));
        assert!(!text.contains("abc"), "{text}");
    }

    #[test]
    fn token_hashes_are_64_lowercase_hex_digits() {
        assert!(JoinTokenRecord::new(HASH, id(), 10).check().is_ok());
        for bad in [
            "",
            &HASH[1..],
            &HASH.to_uppercase(),
            &format!("{HASH}0"),
            &HASH.replace('a', "g"),
        ] {
            let err = JoinTokenRecord::new(bad, id(), 10).check().unwrap_err();
            assert!(matches!(err, Error::Invalid { .. }), "{bad}");
            assert!(bad.is_empty() || !err.to_string().contains(bad), "{err}");
        }
        let err = JoinTokenRecord::new(HASH, id(), u64::MAX)
            .check()
            .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
    }

    #[test]
    fn node_selectors_are_sorted_and_fields_checked() {
        let node = NodeRecord::new(id(), "join_token").with_selectors(["b:1", "a:1", "b:1"]);
        assert_eq!(node.selectors(), ["a:1", "b:1"]);
        assert!(node.check().is_ok());
        let bad = [
            NodeRecord::new(id(), ""),
            NodeRecord::new(id(), "join token"),
            NodeRecord::new(id(), "x509pop").with_selectors(["nocolon"]),
            NodeRecord::new(id(), "x509pop").with_svid_serial("xyz"),
            NodeRecord::new(id(), "x509pop").with_svid_expires_at(u64::MAX),
        ];
        for node in bad {
            assert!(
                matches!(node.check(), Err(Error::Invalid { .. })),
                "{node:?}"
            );
        }
    }
}
