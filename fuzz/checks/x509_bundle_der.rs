//! Target `x509_bundle_der`: `X509Bundle::from_der` and `X509Bundle::from_pem` on arbitrary
//! bytes.

use ::trust_bundle::{SpiffeBundle, X509Bundle};

/// - Neither parser panics; refusals have a message.
/// - `from_der` accepted: `to_der()` parses back to the same authorities, and is the input
///   itself when no certificate was repeated (repeats are dropped, so it is never longer than
///   the input); every authority appears in the input.
/// - `from_pem` accepted: at least one authority, and `to_der()` parses back with `from_der`
///   to the same authorities.
/// - Either way, `from_certificates` on the authorities gives an equal bundle, and the
///   authorities survive the bundle document (their JWK `x509-svid` entries parse back).
pub(crate) fn check(data: &[u8]) {
    let td = super::example_org();
    match X509Bundle::from_der(td.clone(), data) {
        Ok(bundle) => {
            let der = bundle.to_der();
            assert!(der.len() <= data.len());
            for authority in bundle.authorities() {
                assert!(
                    data.windows(authority.len().max(1))
                        .any(|window| window == authority.as_ref()),
                    "an authority is not part of the input"
                );
            }
            let distinct = {
                let mut all: Vec<&[u8]> = bundle.authorities().iter().map(|a| a.as_ref()).collect();
                all.sort_unstable();
                all.dedup();
                all.len()
            };
            assert_eq!(distinct, bundle.len(), "an authority is kept twice");
            if der.len() == data.len() {
                assert_eq!(der, data);
            }
            check_accepted(&bundle);
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }
    match X509Bundle::from_pem(td, data) {
        Ok(bundle) => {
            assert!(!bundle.is_empty(), "from_pem accepted no certificate");
            check_accepted(&bundle);
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }
}

fn check_accepted(bundle: &X509Bundle) {
    let td = bundle.trust_domain().clone();
    let der = bundle.to_der();
    let again = X509Bundle::from_der(td.clone(), &der);
    assert!(
        again
            .as_ref()
            .is_ok_and(|again| again.authorities() == bundle.authorities()),
        "to_der() does not parse back to the same authorities: {again:?}"
    );
    if let Ok(again) = again {
        assert_eq!(&again, bundle);
        assert_eq!(again.to_der(), der);
    }

    let rebuilt = X509Bundle::from_certificates(td, bundle.authorities().iter().cloned());
    assert!(rebuilt.is_ok_and(|rebuilt| &rebuilt == bundle));

    super::bundle_document::check_round_trip(&SpiffeBundle::from(bundle.clone()));
}
