//! PROXY protocol v2 headers toward TCP backends, with the client's SPIFFE ID in a TLV.
//!
//! The header follows HAProxy's `doc/proxy-protocol.txt` (section 2.2): the 12-byte signature,
//! version 2 with the `PROXY` command, the address family and `STREAM` protocol of the accepted
//! connection (`TCP4`, `TCP6`, or `UNSPEC` with no addresses when the client came through a
//! Unix socket), the addresses, then TLVs. No TLV type is registered for a SPIFFE ID, so the
//! ID goes in [`SPIFFE_ID_TLV`] (0xE0), the first type of the range the specification reserves
//! for applications (0xE0 to 0xEF; AWS uses 0xEA and Azure 0xEE), as the URI text in UTF-8.
//! Encoding is the `ppp` crate's.

use std::io;
use std::net::SocketAddr;

use ppp::v2::{Builder, Command, Protocol, Unix, Version};
use spiffe_id::SpiffeId;

/// The TLV type that carries the client's SPIFFE ID (`spiffe://...`, UTF-8, no terminator).
pub const SPIFFE_ID_TLV: u8 = 0xE0;

/// The PROXY v2 header for a client at `source` that connected to `destination` and
/// authenticated as `spiffe_id`. Without both addresses (a Unix listener, whose clients are
/// unnamed) the family is `AF_UNIX` with empty paths; an IPv4 address next to an IPv6 one is
/// written IPv4-mapped.
///
/// # Errors
/// When the TLV does not fit in a header (an ID over 65,000 bytes; IDs are at most 2048).
pub fn header(
    source: Option<SocketAddr>,
    destination: Option<SocketAddr>,
    spiffe_id: &SpiffeId,
) -> io::Result<Vec<u8>> {
    let version_command = Version::Two | Command::Proxy;
    let builder = match (source, destination) {
        (Some(source), Some(destination)) => {
            let (source, destination) = if source.is_ipv4() == destination.is_ipv4() {
                (source, destination)
            } else {
                (mapped(source), mapped(destination))
            };
            Builder::with_addresses(version_command, Protocol::Stream, (source, destination))
        }
        _ => Builder::with_addresses(
            version_command,
            Protocol::Stream,
            Unix::new([0; 108], [0; 108]),
        ),
    };
    builder
        .write_tlv(SPIFFE_ID_TLV, spiffe_id.as_str().as_bytes())?
        .build()
}

/// `addr` as IPv6 (IPv4-mapped when it is IPv4).
fn mapped(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(v4) => SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
        SocketAddr::V6(_) => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout of HAProxy's `proxy-protocol.txt` 2.2, byte by byte, for TCP over IPv4.
    #[test]
    fn ipv4_header_has_the_spec_layout() {
        let id: SpiffeId = "spiffe://example.org/web"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let source: SocketAddr = "10.0.0.1:5000".parse().unwrap_or_else(|_| unreachable!());
        let destination: SocketAddr = "10.0.0.2:443".parse().unwrap_or_else(|_| unreachable!());
        let header = header(Some(source), Some(destination), &id).unwrap_or_default();
        let tlv_len = 3 + id.as_str().len();
        let mut expected = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        expected.push(0x21); // version 2, PROXY
        expected.push(0x11); // AF_INET, STREAM
        expected.extend_from_slice(&u16::try_from(12 + tlv_len).unwrap_or(0).to_be_bytes());
        expected.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        expected.extend_from_slice(&5000u16.to_be_bytes());
        expected.extend_from_slice(&443u16.to_be_bytes());
        expected.push(SPIFFE_ID_TLV);
        expected.extend_from_slice(&u16::try_from(id.as_str().len()).unwrap_or(0).to_be_bytes());
        expected.extend_from_slice(id.as_str().as_bytes());
        assert_eq!(header, expected);
    }

    #[test]
    fn unix_clients_get_af_unix_and_the_tlv() {
        let id: SpiffeId = "spiffe://example.org/web"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let bytes = header(None, None, &id).unwrap_or_default();
        let parsed = ppp::v2::Header::try_from(bytes.as_slice());
        let Ok(parsed) = parsed else {
            unreachable!("ppp cannot parse its own header: {parsed:?}")
        };
        assert_eq!(parsed.address_family(), ppp::v2::AddressFamily::Unix);
        let tlvs: Vec<_> = parsed.tlvs().filter_map(Result::ok).collect();
        assert_eq!(tlvs.len(), 1);
        assert_eq!(tlvs.first().map(|t| t.kind), Some(SPIFFE_ID_TLV));
        assert_eq!(
            tlvs.first().map(|t| t.value.to_vec()),
            Some(id.as_str().as_bytes().to_vec())
        );
    }
}
