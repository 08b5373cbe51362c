//! X.509-SVIDs.

pub(crate) mod fields;
pub(crate) mod profile;
pub(crate) mod svid;
pub(crate) mod verify;
