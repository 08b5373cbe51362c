//! PEM text of certificates, shared by `fetch --write` and the helper.

use base64::Engine as _;

/// PEM `CERTIFICATE` blocks.
pub(crate) fn certificates_pem<'a>(ders: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut out = String::new();
    for der in ders {
        let encoded = base64::engine::general_purpose::STANDARD.encode(der);
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in encoded.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}
