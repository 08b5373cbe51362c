//! The id of a registered entry: below both `entry` and `error`, which name it.

use core::fmt;

/// Identifies an entry in one running agent; returned by
/// [`AgentHandle::add_entry`](crate::AgentHandle::add_entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(pub(crate) u64);

impl EntryId {
    /// The number behind the id (registration order, starting at 1).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry-{}", self.0)
    }
}
