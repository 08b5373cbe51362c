//! [`EntryId`]: the store-assigned id of a registration entry; below `error`, which names it.

use core::fmt;
use core::str::FromStr;

/// Bytes of randomness in an [`EntryId`] (hex-encoded: 32 characters). 128 bits: IDs that
/// nobody can guess or enumerate, unlike a sequence number.
const ID_BYTES: usize = 16;

/// A store-assigned entry ID: 32 lower-case hex digits drawn from the OS's random source.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(String);

impl EntryId {
    /// `count` new random IDs, from one read of the OS's random source.
    pub(crate) fn random(count: usize) -> Result<Vec<Self>, getrandom::Error> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut bytes = vec![0_u8; count.saturating_mul(ID_BYTES)];
        getrandom::fill(&mut bytes)?;
        Ok(bytes
            .chunks_exact(ID_BYTES)
            .map(|id| {
                let mut text = String::with_capacity(ID_BYTES * 2);
                for byte in id {
                    for nibble in [byte >> 4, byte & 0x0f] {
                        text.push(char::from(
                            HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
                        ));
                    }
                }
                Self(text)
            })
            .collect())
    }

    /// The placeholder of a record that was never stored.
    pub(crate) fn unassigned() -> Self {
        Self(String::new())
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the store assigned this ID (false for a record built with
    /// [`EntryRecord::new`](crate::EntryRecord::new)).
    pub fn is_assigned(&self) -> bool {
        !self.0.is_empty()
    }
}

impl FromStr for EntryId {
    type Err = InvalidEntryId;

    /// Parses an ID as printed by [`fmt::Display`] (32 lower-case hex digits).
    fn from_str(text: &str) -> Result<Self, InvalidEntryId> {
        let ok = text.len() == ID_BYTES * 2
            && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            return Err(InvalidEntryId(text.chars().take(80).collect()));
        }
        Ok(Self(text.to_owned()))
    }
}

/// Text that is not an [`EntryId`] (converts into [`Error::Invalid`](crate::Error::Invalid)).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an entry id (32 lower-case hex digits)")]
pub struct InvalidEntryId(String);

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({:?})", self.0)
    }
}
