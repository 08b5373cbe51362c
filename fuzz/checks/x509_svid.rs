//! Target `x509_svid`: `X509Svid::from_der` and `svid::verify` on arbitrary bytes.
//!
//! Input layout: a big-endian `u16` length `n`, then `n` bytes of chain (concatenated DER,
//! leaf first; cut short when the input is), then the PKCS#8 DER key. `data/gen.py` writes the
//! seeds in this form.

use std::sync::OnceLock;
use std::time::Duration;

use ::rustls_pki_types::{CertificateDer, UnixTime};
use ::svid::{Crypto, Usage, X509Svid};
use ::trust_bundle::{BundleSet, SpiffeBundle, X509Bundle};

/// The only authority the verifier trusts: a CA of `example.org` (see `data/gen.py`).
const CA_DER: &[u8] = include_bytes!("data/x509-ca.der");

/// The instant chains are verified at: 2030-01-01T00:00:00Z, inside the seeds' validity.
const NOW: u64 = 1_893_456_000;

/// - `X509Svid::from_der` and `X509Svid::from_pem` never panic; refusals have a message. An accepted SVID:
///   `chain_der()` is the input chain, the leaf is its first certificate, the SPIFFE ID has a
///   non-root path, the PEM form (`chain_pem`, the key's `to_pem`) parses back to the same
///   chain and ID.
/// - `svid::verify` of the chain (split as DER; a malformed tail is passed as one more
///   "certificate") against a set holding only the bundle of `example.org` never panics,
///   whatever the usage. A success: the ID is in `example.org` and not the root, the path
///   starts with the leaf and ends with the trusted CA, and the result has not expired at
///   verification time.
pub(crate) fn check(data: &[u8]) {
    let (chain, key) = split_input(data);
    let backend = Crypto::default();
    match X509Svid::from_der(chain, key, &backend) {
        Ok(svid) => {
            assert_eq!(
                svid.chain_der(),
                chain,
                "chain_der() is not the input chain"
            );
            assert!(!svid.spiffe_id().is_root(), "SVID with a root ID");
            assert_eq!(svid.chain().first(), Some(svid.leaf()));
            let pem = X509Svid::from_pem(
                svid.chain_pem().as_bytes(),
                svid.private_key().to_pem().as_bytes(),
                &backend,
            );
            assert!(
                pem.as_ref().is_ok_and(
                    |pem| pem.chain() == svid.chain() && pem.spiffe_id() == svid.spiffe_id()
                ),
                "PEM form does not parse back: {pem:?}"
            );
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }

    // The PEM path on the raw input, read as one file holding certificates and key: never
    // panics, and anything accepted is a workload SVID.
    if let Ok(svid) = X509Svid::from_pem(data, data, &backend) {
        assert!(!svid.spiffe_id().is_root(), "PEM SVID with a root ID");
    }

    let certificates = split_certificates(chain);
    let bundles = trusted_bundles();
    let now = UnixTime::since_unix_epoch(Duration::from_secs(NOW));
    for usage in [Usage::Any, Usage::ClientAuth, Usage::ServerAuth] {
        match ::svid::verify(&certificates, bundles, &backend, usage, now) {
            Ok(verified) => {
                let id = verified.spiffe_id();
                assert_eq!(
                    id.trust_domain_name(),
                    "example.org",
                    "verified {id} elsewhere"
                );
                assert!(!id.is_root());
                let path = verified.path();
                assert_eq!(
                    path.first(),
                    certificates.first(),
                    "path does not start at the leaf"
                );
                assert_eq!(path.last().map(AsRef::as_ref), Some(CA_DER));
                assert!(
                    verified.expires_at().as_secs() >= NOW,
                    "expired chain verified"
                );
            }
            Err(err) => assert!(!err.to_string().is_empty()),
        }
    }
}

/// `(chain, key)` from the length-prefixed input.
fn split_input(data: &[u8]) -> (&[u8], &[u8]) {
    let (len, rest) = match data {
        [high, low, rest @ ..] => (usize::from(u16::from_be_bytes([*high, *low])), rest),
        _ => (0, data),
    };
    rest.split_at(len.min(rest.len()))
}

/// Splits concatenated DER at each element's declared length (tag byte, short or long form
/// length of up to four octets). Whatever does not frame becomes the last element, so every
/// byte is passed on to the verifier.
fn split_certificates(mut chain: &[u8]) -> Vec<CertificateDer<'static>> {
    let mut out = Vec::new();
    while !chain.is_empty() {
        let (head, rest) = match element_len(chain) {
            Some(len) if len <= chain.len() => chain.split_at(len),
            _ => (chain, &[][..]),
        };
        out.push(CertificateDer::from(head.to_vec()));
        chain = rest;
    }
    out
}

/// The total length (header and content) a DER element declares.
fn element_len(der: &[u8]) -> Option<usize> {
    let (&first, rest) = der.get(1..)?.split_first()?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
        return None;
    }
    let len = rest
        .get(..count)?
        .iter()
        .fold(0usize, |acc, byte| (acc << 8) | usize::from(*byte));
    len.checked_add(2 + count)
}

/// The set every chain is verified against: `example.org` with [`CA_DER`] as its only
/// authority. Built once.
#[allow(
    clippy::expect_used,
    reason = "fixed, checked-in input: a failure here is a broken fuzz target"
)]
fn trusted_bundles() -> &'static BundleSet {
    static BUNDLES: OnceLock<BundleSet> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        let ca = X509Bundle::from_der(super::example_org(), CA_DER)
            .expect("data/x509-ca.der is a certificate");
        BundleSet::from_bundles([SpiffeBundle::from(ca)]).expect("one bundle")
    })
}
