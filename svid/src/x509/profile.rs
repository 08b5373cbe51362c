//! The X.509-SVID profile rules, one function per certificate role. The same functions run when
//! an SVID is parsed and when a peer chain is verified, so the two can never disagree.

use rustls_pki_types::CertificateDer;
use spiffe_id::SpiffeId;

use crate::MAX_CHAIN_LEN;
use crate::error::{Error, ProfileError};
use crate::x509::fields::{CertFields, KeyUsage};

/// A chain split into its checked leaf and the rest.
pub(crate) struct LeafOf<'c, 'd> {
    pub(crate) leaf: &'c CertificateDer<'d>,
    pub(crate) intermediates: &'c [CertificateDer<'d>],
    pub(crate) fields: CertFields<'c>,
    pub(crate) spiffe_id: SpiffeId,
}

/// Caps the chain length, then reads the leaf and checks it against the leaf profile: the first
/// step of both parsing an SVID and verifying a peer, so the two cannot drift apart.
pub(crate) fn leaf_of<'c, 'd>(chain: &'c [CertificateDer<'d>]) -> Result<LeafOf<'c, 'd>, Error> {
    let (leaf, intermediates) = chain.split_first().ok_or(Error::EmptyChain)?;
    if chain.len() > MAX_CHAIN_LEN {
        return Err(Error::ChainTooLong {
            len: chain.len(),
            max: MAX_CHAIN_LEN,
        });
    }
    let fields =
        CertFields::parse(leaf).map_err(|source| Error::Certificate { index: 0, source })?;
    let spiffe_id = check_leaf(&fields)?;
    Ok(LeafOf {
        leaf,
        intermediates,
        fields,
        spiffe_id,
    })
}

/// Checks a leaf against X509-SVID 2, 3.1, 4.1, 4.3 and 5.2, and returns its SPIFFE ID.
/// `cA=true` is checked first: a CA certificate sent as a leaf (a misconfigured chain) usually
/// has a root-path ID or no URI SAN too, and "leaf is a CA" is what to fix.
pub(crate) fn check_leaf(fields: &CertFields<'_>) -> Result<SpiffeId, ProfileError> {
    if fields.basic_constraints.is_some_and(|bc| bc.ca) {
        return Err(ProfileError::LeafIsCa);
    }
    let id = single_spiffe_id(fields)?.ok_or(ProfileError::NoUriSan)?;
    if id.is_root() {
        return Err(ProfileError::LeafRootPath);
    }
    let usage = fields.key_usage.ok_or(ProfileError::LeafMissingKeyUsage)?;
    if usage.contains(KeyUsage::KEY_CERT_SIGN) {
        return Err(ProfileError::LeafKeyCertSign);
    }
    if usage.contains(KeyUsage::CRL_SIGN) {
        return Err(ProfileError::LeafCrlSign);
    }
    if !usage.contains(KeyUsage::DIGITAL_SIGNATURE) {
        return Err(ProfileError::LeafMissingDigitalSignature);
    }
    Ok(id)
}

/// Checks a signing certificate (intermediate or bundle authority) against X509-SVID 3.2, 4.1
/// and 4.3. A SPIFFE ID is optional on a CA; when present it must have no path.
pub(crate) fn check_ca(fields: &CertFields<'_>) -> Result<Option<SpiffeId>, ProfileError> {
    if !fields.basic_constraints.is_some_and(|bc| bc.ca) {
        return Err(ProfileError::CaNotCa);
    }
    if !fields
        .key_usage
        .is_some_and(|usage| usage.contains(KeyUsage::KEY_CERT_SIGN))
    {
        return Err(ProfileError::CaMissingKeyCertSign);
    }
    let id = single_spiffe_id(fields).ok().flatten();
    if id.as_ref().is_some_and(|id| !id.is_root()) {
        return Err(ProfileError::CaIdHasPath);
    }
    Ok(id)
}

/// The SPIFFE ID of the only URI SAN, `None` without URI SANs.
fn single_spiffe_id(fields: &CertFields<'_>) -> Result<Option<SpiffeId>, ProfileError> {
    let uri = match (fields.uri_san_count, fields.first_uri_san) {
        (0, _) | (_, None) => return Ok(None),
        (1, Some(uri)) => uri,
        (count, Some(_)) => return Err(ProfileError::MultipleUriSans { count }),
    };
    if uri.len() > crate::MAX_URI_LEN {
        return Err(ProfileError::UriTooLong { len: uri.len() });
    }
    SpiffeId::parse_bytes(uri)
        .map(Some)
        .map_err(ProfileError::BadSpiffeId)
}
