//! The security header: the client sets it on every call, the server refuses calls without it
//! (Workload Endpoint 3, 6; digest W-API-1, W-API-2).
//!
//! It is not authentication but SSRF hardening (digest 5.6): a client tricked into sending a
//! plain request to the endpoint does not add a custom gRPC metadata entry.

use tonic::metadata::MetadataMap;

use crate::error::Error;

/// The metadata key every Workload API request must carry, with the value
/// [`SECURITY_HEADER_VALUE`] (Workload Endpoint 3, 6; digest W-API-1, W-API-2).
pub const SECURITY_HEADER: &str = "workload.spiffe.io";

/// The one accepted value of [`SECURITY_HEADER`]; compared case-sensitively.
pub const SECURITY_HEADER_VALUE: &str = "true";

/// Requires exactly one [`SECURITY_HEADER`] value, equal to `true` (case-sensitive), as SPIRE
/// does (Workload Endpoint 6; digest W-API-1). A server answers a refused request with
/// `InvalidArgument`.
///
/// ```
/// use tonic::metadata::MetadataMap;
/// use workload_api::{Error, SECURITY_HEADER, check_security_header};
///
/// let mut metadata = MetadataMap::new();
/// assert_eq!(check_security_header(&metadata), Err(Error::MissingSecurityHeader));
/// metadata.insert(SECURITY_HEADER, "true".parse()?);
/// assert_eq!(check_security_header(&metadata), Ok(()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::MissingSecurityHeader`] when the header is absent, repeated, or not `true`.
pub fn check_security_header(metadata: &MetadataMap) -> Result<(), Error> {
    let mut values = metadata.get_all(SECURITY_HEADER).iter();
    match (values.next(), values.next()) {
        (Some(value), None) if value.as_bytes() == SECURITY_HEADER_VALUE.as_bytes() => Ok(()),
        _ => Err(Error::MissingSecurityHeader),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digest 5.6, W-API-1 (Workload Endpoint 6): only exactly one `true` passes; a missing,
    /// differently cased or repeated header is refused.
    #[test]
    fn header_must_be_exactly_one_true() {
        let mut metadata = MetadataMap::new();
        assert!(check_security_header(&metadata).is_err());
        metadata.insert(SECURITY_HEADER, "TRUE".parse().unwrap());
        assert!(check_security_header(&metadata).is_err());
        metadata.insert(SECURITY_HEADER, "true".parse().unwrap());
        assert!(check_security_header(&metadata).is_ok());
        metadata.append(SECURITY_HEADER, "true".parse().unwrap());
        assert!(check_security_header(&metadata).is_err());
    }
}
