//! Target `csr`: `CertificateAuthority::mint_x509_svid_for_csr` on arbitrary bytes. A CSR comes
//! from whoever asks for an SVID, so it is untrusted input for the CA.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use ::ca::{CertificateAuthority, X509SvidRequest};
use ::rustls_pki_types::UnixTime;
use ::svid::{Crypto, Usage};
use ::trust_bundle::BundleSet;

/// The instant of every mint and check: 2030-01-01T00:00:00Z.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_456_000)
}

/// One CA for the whole run (building one generates keys), and its bundle set.
#[allow(clippy::expect_used, reason = "fixed, valid inputs")]
fn authority() -> &'static (CertificateAuthority, BundleSet) {
    static CA: OnceLock<(CertificateAuthority, BundleSet)> = OnceLock::new();
    CA.get_or_init(|| {
        let ca = CertificateAuthority::builder(super::example_org())
            .build(now())
            .expect("a CA for example.org");
        let bundles = BundleSet::from_bundles([(*ca.bundle()).clone()]).expect("one bundle");
        (ca, bundles)
    })
}

/// - Minting never panics; a refusal has a message.
/// - An SVID minted from a CSR carries the SPIFFE ID the caller asked for, never a name from
///   the CSR, and verifies against the CA's bundle for both client and server use.
#[allow(clippy::expect_used, reason = "a fixed, valid ID")]
pub(crate) fn check(data: &[u8]) {
    let (ca, bundles) = authority();
    let wanted = "spiffe://example.org/fuzz".parse().expect("a valid ID");
    match ca.mint_x509_svid_for_csr(data, &X509SvidRequest::new(wanted), now()) {
        Ok(chain) => {
            let at = UnixTime::since_unix_epoch(Duration::from_secs(1_893_456_000));
            for usage in [Usage::ClientAuth, Usage::ServerAuth] {
                let verified = ::svid::verify(&chain, bundles, &Crypto::default(), usage, at);
                assert!(
                    verified
                        .as_ref()
                        .is_ok_and(|v| v.spiffe_id().as_str() == "spiffe://example.org/fuzz"),
                    "a minted SVID does not verify as the requested ID: {verified:?}"
                );
            }
        }
        Err(err) => assert!(!err.to_string().is_empty(), "empty message for {err:?}"),
    }
}
