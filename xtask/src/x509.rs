//! X.509-SVID vectors: valid chains and one vector per defect of digest 2.6 and X-1..X-10.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, KeyUsagePurpose};
use rustls_pki_types::CertificateDer;

use crate::Result;
use crate::manifest::{Entry, Expected, Kind};
use crate::mint::{
    Ca, FUTURE, KeyType, Leaf, Minter, PAST, certificates_pem, dns, flip_signature, pem_block,
    set_validity, uri,
};

/// The trust domain of most vectors.
const TD: &str = "example.org";
/// A second trust domain, for the cross-domain vectors.
const OTHER_TD: &str = "other.example";
/// The SPIFFE ID of most leaves.
const ID: &str = "spiffe://example.org/workload";

/// The TLS role every chain is verified for: a server checking its client's SVID.
const USAGE: &str = "client_auth";

/// One X.509 vector before it is written.
#[derive(Debug)]
pub(crate) struct X509Vector {
    name: &'static str,
    rule: &'static str,
    chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key, PKCS#8 DER.
    key_pkcs8: Vec<u8>,
    bundles: Vec<(&'static str, Vec<CertificateDer<'static>>)>,
    expected: Expected,
}

impl X509Vector {
    /// Writes `x509/<name>.chain.pem`, `x509/<name>.key.pem` and one
    /// `x509/<name>.bundle.<td>.pem` per bundle, and returns the manifest entry.
    pub(crate) fn write(&self, dir: &Path) -> Result<Entry> {
        let folder = dir.join("x509");
        std::fs::create_dir_all(&folder)?;
        let mut entry = Entry::new(self.name, Kind::X509, self.rule, self.expected.clone());
        entry.usage = Some(USAGE);

        let chain = format!("x509/{}.chain.pem", self.name);
        std::fs::write(dir.join(&chain), certificates_pem(&self.chain))?;
        entry.files.insert("chain", chain);

        let key = format!("x509/{}.key.pem", self.name);
        std::fs::write(dir.join(&key), pem_block("PRIVATE KEY", &self.key_pkcs8))?;
        entry.files.insert("key", key);

        for (trust_domain, authorities) in &self.bundles {
            let bundle = format!("x509/{}.bundle.{trust_domain}.pem", self.name);
            std::fs::write(dir.join(&bundle), certificates_pem(authorities))?;
            entry.bundles.insert(trust_domain, bundle);
        }
        Ok(entry)
    }
}

/// Builds vectors of one shape with little repetition.
struct Build;

impl Build {
    /// `root -> leaf` in [`TD`], the leaf edited; bundle: the root.
    fn leaf_under_root(
        &self,
        name: &'static str,
        rule: &'static str,
        spiffe_id: &str,
        key_type: KeyType,
        edit: impl FnOnce(&mut CertificateParams),
        expected: Expected,
    ) -> Result<X509Vector> {
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::P256, |_| {})?;
        let leaf = m.leaf(&root, spiffe_id, key_type, edit)?;
        Ok(vector(name, rule, &leaf, &[], &[&root], expected))
    }

    /// `root -> intermediate -> leaf` in [`TD`], the intermediate edited; chain: leaf and
    /// intermediate; bundle: the root.
    fn edited_intermediate(
        &self,
        name: &'static str,
        rule: &'static str,
        edit: impl FnOnce(&mut CertificateParams),
        expected: &'static str,
    ) -> Result<X509Vector> {
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::P256, |_| {})?;
        let intermediate = m.intermediate(&root, "intermediate", edit)?;
        let leaf = m.leaf(&intermediate, ID, KeyType::P256, |_| {})?;
        Ok(vector(
            name,
            rule,
            &leaf,
            &[intermediate.cert],
            &[&root],
            Expected::Err(expected),
        ))
    }

    /// `root -> leaf` in [`TD`], the root edited; bundle: the root.
    fn edited_root(
        &self,
        name: &'static str,
        rule: &'static str,
        edit: impl FnOnce(&mut CertificateParams),
        expected: &'static str,
    ) -> Result<X509Vector> {
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::P256, edit)?;
        let leaf = m.leaf(&root, ID, KeyType::P256, |_| {})?;
        Ok(vector(
            name,
            rule,
            &leaf,
            &[],
            &[&root],
            Expected::Err(expected),
        ))
    }
}

/// A vector whose bundles hold each root under its own trust domain.
fn vector(
    name: &'static str,
    rule: &'static str,
    leaf: &Leaf,
    intermediates: &[CertificateDer<'static>],
    roots: &[&Ca],
    expected: Expected,
) -> X509Vector {
    let mut chain = vec![leaf.cert.clone()];
    chain.extend(intermediates.iter().cloned());
    let mut bundles: Vec<(&'static str, Vec<CertificateDer<'static>>)> = Vec::new();
    for root in roots {
        match bundles.iter_mut().find(|(td, _)| *td == root.trust_domain) {
            Some((_, authorities)) => authorities.push(root.cert.clone()),
            None => bundles.push((root.trust_domain, vec![root.cert.clone()])),
        }
    }
    X509Vector {
        name,
        rule,
        chain,
        key_pkcs8: leaf.key.serialize_der(),
        bundles,
        expected,
    }
}

fn ok() -> Expected {
    Expected::Ok(ID.to_owned())
}

/// Every X.509 vector, valid ones first.
#[allow(
    clippy::too_many_lines,
    reason = "one flat list of vectors reads better than a dozen helpers"
)]
pub(crate) fn vectors() -> Result<Vec<X509Vector>> {
    let b = Build;
    let mut out = Vec::new();

    // ---- valid --------------------------------------------------------------------------
    out.push(b.leaf_under_root(
        "valid-leaf-under-root",
        "digest 2.6 (positive: leaf signed by a bundle authority)",
        ID,
        KeyType::P256,
        |_| {},
        ok(),
    )?);
    {
        let name = "valid-one-intermediate";
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::P256, |_| {})?;
        let intermediate = m.intermediate(&root, "intermediate", |_| {})?;
        let leaf = m.leaf(&intermediate, ID, KeyType::P256, |_| {})?;
        out.push(vector(
            name,
            "digest 2.6 step 6 (positive: chain[1..] are untrusted intermediates)",
            &leaf,
            &[intermediate.cert],
            &[&root],
            ok(),
        ));
    }
    {
        let name = "valid-two-intermediates";
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::P256, |_| {})?;
        let first = m.intermediate(&root, "intermediate-1", |_| {})?;
        let second = m.intermediate(&first, "intermediate-2", |_| {})?;
        let leaf = m.leaf(&second, ID, KeyType::P256, |_| {})?;
        out.push(vector(
            name,
            "digest 2.6 step 6 (positive: two intermediates)",
            &leaf,
            &[second.cert, first.cert],
            &[&root],
            ok(),
        ));
    }
    {
        let name = "valid-chain-with-root";
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::P256, |_| {})?;
        let intermediate = m.intermediate(&root, "intermediate", |_| {})?;
        let leaf = m.leaf(&intermediate, ID, KeyType::P256, |_| {})?;
        out.push(vector(
            name,
            "digest 2.6 step 6 (positive: the peer also sends the bundle authority)",
            &leaf,
            &[intermediate.cert, root.cert.clone()],
            &[&root],
            ok(),
        ));
    }
    for (name, key_type) in [
        ("valid-leaf-p384", KeyType::P384),
        ("valid-leaf-rsa2048", KeyType::Rsa2048),
        ("valid-leaf-ed25519", KeyType::Ed25519),
    ] {
        out.push(b.leaf_under_root(
            name,
            "digest 2.6 (positive: leaf key type)",
            ID,
            key_type,
            |_| {},
            ok(),
        )?);
    }
    {
        let name = "valid-rsa-root";
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::Rsa2048, |_| {})?;
        let leaf = m.leaf(&root, ID, KeyType::P256, |_| {})?;
        out.push(vector(
            name,
            "digest 2.6 (positive: RSA-2048 authority)",
            &leaf,
            &[],
            &[&root],
            ok(),
        ));
    }
    {
        let name = "valid-root-path-len-zero";
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::P256, |p| {
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        })?;
        let leaf = m.leaf(&root, ID, KeyType::P256, |_| {})?;
        out.push(vector(
            name,
            "digest 2.3, RFC 5280 4.2.1.9 (positive: pathLen 0 allows a leaf directly below)",
            &leaf,
            &[],
            &[&root],
            ok(),
        ));
    }
    out.push(b.leaf_under_root(
        "valid-leaf-no-eku",
        "digest 2.2, 2.6 [rec] (positive: extKeyUsage is only a SHOULD)",
        ID,
        KeyType::P256,
        |p| p.extended_key_usages.clear(),
        ok(),
    )?);
    let dns_name = dns("workload.example.org")?;
    out.push(b.leaf_under_root(
        "valid-leaf-dns-and-uri-sans",
        "digest 2.1 (positive: other SAN types MAY appear next to the one URI SAN)",
        ID,
        KeyType::P256,
        |p| p.subject_alt_names.insert(0, dns_name),
        ok(),
    )?);
    out.push(b.leaf_under_root(
        "valid-leaf-no-basic-constraints",
        "digest 2.6 step 4 (positive: cA is false or the extension is absent)",
        ID,
        KeyType::P256,
        |p| p.is_ca = IsCa::NoCa,
        ok(),
    )?);

    // ---- the SPIFFE ID ----------------------------------------------
    let other_uri = uri("spiffe://example.org/other")?;
    out.push(b.leaf_under_root(
        "leaf-two-uri-sans",
        "digest 8.5 X-1; 2.1",
        ID,
        KeyType::P256,
        |p| p.subject_alt_names.push(other_uri),
        Expected::Err("Profile(MultipleUriSans)"),
    )?);
    out.push(b.leaf_under_root(
        "leaf-no-uri-san",
        "digest 8.5 X-2; 2.1",
        ID,
        KeyType::P256,
        |p| {
            p.subject_alt_names.clear();
            p.distinguished_name.push(DnType::CommonName, "workload");
        },
        Expected::Err("Profile(NoUriSan)"),
    )?);
    let dns_only = dns("workload.example.org")?;
    out.push(b.leaf_under_root(
        "leaf-dns-san-only",
        "digest 8.5 X-2; 2.1",
        ID,
        KeyType::P256,
        |p| p.subject_alt_names = vec![dns_only],
        Expected::Err("Profile(NoUriSan)"),
    )?);
    for (name, rule, id) in [
        (
            "leaf-https-uri",
            "digest 8.5 X-3; 2.6 step 2, 1.1",
            "https://example.org/workload",
        ),
        (
            "leaf-uppercase-scheme",
            "digest 8.5 X-3; 1.5, 8.4 item 1 (lowercase `spiffe` only, never normalized)",
            "SPIFFE://example.org/workload",
        ),
        (
            "leaf-dot-segment-path",
            "digest 2.6 step 2; 1.3, 8.5 ID-10 (the URI SAN is not a valid SPIFFE ID)",
            "spiffe://example.org/a/../workload",
        ),
    ] {
        out.push(b.leaf_under_root(
            name,
            rule,
            id,
            KeyType::P256,
            |_| {},
            Expected::Err("Profile(BadSpiffeId)"),
        )?);
    }
    out.push(b.leaf_under_root(
        "leaf-root-path",
        "digest 8.5 X-4; 2.6 step 3",
        "spiffe://example.org",
        KeyType::P256,
        |_| {},
        Expected::Err("Profile(LeafRootPath)"),
    )?);

    // ---- and key usage: the leaf is not a CA --------------------------------
    out.push(b.leaf_under_root(
        "leaf-ca-true",
        "digest 8.5 X-5; 2.6 step 4",
        ID,
        KeyType::P256,
        |p| {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        },
        Expected::Err("Profile(LeafIsCa)"),
    )?);
    out.push(b.leaf_under_root(
        "leaf-key-cert-sign",
        "digest 8.5 X-6; 2.6 step 4",
        ID,
        KeyType::P256,
        |p| {
            p.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
            ];
        },
        Expected::Err("Profile(LeafKeyCertSign)"),
    )?);
    out.push(b.leaf_under_root(
        "leaf-crl-sign",
        "digest 8.5 X-7; 2.6 step 4",
        ID,
        KeyType::P256,
        |p| p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign],
        Expected::Err("Profile(LeafCrlSign)"),
    )?);
    out.push(b.leaf_under_root(
        "leaf-no-digital-signature",
        "digest 2.2, 2.6 [rec] (X509-SVID 4.3: a leaf MUST set digitalSignature)",
        ID,
        KeyType::P256,
        |p| {
            p.key_usages = vec![
                KeyUsagePurpose::KeyEncipherment,
                KeyUsagePurpose::KeyAgreement,
            ];
        },
        Expected::Err("Profile(LeafMissingDigitalSignature)"),
    )?);
    out.push(b.leaf_under_root(
        "leaf-no-key-usage",
        "digest 2.2, 2.6 [rec] (X509-SVID 4.3: keyUsage MUST be present)",
        ID,
        KeyType::P256,
        |p| p.key_usages.clear(),
        Expected::Err("Profile(LeafMissingKeyUsage)"),
    )?);

    // ---- bundle selection ------------------------------------------------------
    {
        let name = "leaf-other-trust-domain-signed-by-a";
        let m = Minter::new(name);
        let root_a = m.root(TD, KeyType::P256, |_| {})?;
        let root_b = Minter::new("leaf-other-trust-domain-signed-by-a/b").root(
            OTHER_TD,
            KeyType::P256,
            |_| {},
        )?;
        let leaf = m.leaf(
            &root_a,
            "spiffe://other.example/workload",
            KeyType::P256,
            |_| {},
        )?;
        out.push(vector(
            name,
            "digest 8.5 X-8; 2.6 step 5 (only the leaf's own trust domain's bundle anchors it)",
            &leaf,
            &[],
            &[&root_a, &root_b],
            Expected::Err("Verify(UnknownIssuer)"),
        ));
    }
    {
        let name = "no-bundle-for-trust-domain";
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::P256, |_| {})?;
        let other = Minter::new("no-bundle-for-trust-domain/other").root(
            OTHER_TD,
            KeyType::P256,
            |_| {},
        )?;
        let leaf = m.leaf(&root, ID, KeyType::P256, |_| {})?;
        out.push(vector(
            name,
            "digest 8.5 X-9; 2.6 step 5",
            &leaf,
            &[],
            &[&other],
            Expected::Err("Verify(NoBundle)"),
        ));
    }
    out.push(b.edited_root(
        "bundle-authority-not-ca",
        "digest 8.5 X-9; 2.6 step 5 (a bundle with no usable X.509 authority), 2.3",
        |p| p.is_ca = IsCa::ExplicitNoCa,
        "Verify(NoAuthorities)",
    )?);

    // ---- RFC 5280 path validation --------------------------------------------------
    out.push(b.leaf_under_root(
        "leaf-expired",
        "digest 8.5 X-10; 2.6 step 6",
        ID,
        KeyType::P256,
        |p| set_validity(p, PAST),
        Expected::Err("Verify(Expired)"),
    )?);
    out.push(b.leaf_under_root(
        "leaf-not-yet-valid",
        "digest 8.5 X-10; 2.6 step 6",
        ID,
        KeyType::P256,
        |p| set_validity(p, FUTURE),
        Expected::Err("Verify(NotYetValid)"),
    )?);
    out.push(b.edited_intermediate(
        "intermediate-expired",
        "digest 8.5 X-10; 2.6 step 6",
        |p| set_validity(p, PAST),
        "Verify(Expired)",
    )?);
    out.push(b.edited_intermediate(
        "intermediate-not-yet-valid",
        "digest 8.5 X-10; 2.6 step 6",
        |p| set_validity(p, FUTURE),
        "Verify(NotYetValid)",
    )?);
    out.push(b.edited_intermediate(
        "intermediate-ca-false",
        "digest 8.5 X-10; 2.3, 2.6 step 6",
        |p| p.is_ca = IsCa::ExplicitNoCa,
        "Verify(IntermediateNotCa(CaNotCa))",
    )?);
    out.push(b.edited_intermediate(
        "intermediate-no-key-cert-sign",
        "digest 8.5 X-10; 2.3, 2.6 step 6",
        |p| p.key_usages = vec![KeyUsagePurpose::CrlSign],
        "Verify(IntermediateNotCa(CaMissingKeyCertSign))",
    )?);
    out.push(b.edited_intermediate(
        "intermediate-no-key-usage",
        "digest 8.5 X-10; 2.3 (keyUsage MUST be present on a signing certificate)",
        |p| p.key_usages.clear(),
        "Verify(IntermediateNotCa(CaMissingKeyCertSign))",
    )?);
    let path_uri = uri("spiffe://example.org/intermediate")?;
    out.push(b.edited_intermediate(
        "intermediate-id-with-path",
        "digest 2.3 (X509-SVID 3.2: a signing certificate's SPIFFE ID MUST NOT have a path)",
        |p| p.subject_alt_names = vec![path_uri],
        "Verify(IntermediateNotCa(CaIdHasPath))",
    )?);
    {
        let name = "path-len-exceeded";
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::P256, |p| {
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        })?;
        let intermediate = m.intermediate(&root, "intermediate", |_| {})?;
        let leaf = m.leaf(&intermediate, ID, KeyType::P256, |_| {})?;
        out.push(vector(
            name,
            "digest 8.5 X-10; 2.6 step 6 (the bundle authority's pathLen 0 forbids an intermediate)",
            &leaf,
            &[intermediate.cert],
            &[&root],
            Expected::Err("Verify(PathLenExceeded)"),
        ));
    }
    {
        let name = "intermediate-path-len-exceeded";
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::P256, |_| {})?;
        let first = m.intermediate(&root, "intermediate-1", |p| {
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        })?;
        let second = m.intermediate(&first, "intermediate-2", |_| {})?;
        let leaf = m.leaf(&second, ID, KeyType::P256, |_| {})?;
        out.push(vector(
            name,
            "digest 8.5 X-10; 2.6 step 6 (an intermediate's pathLen 0 forbids another below it)",
            &leaf,
            &[second.cert, first.cert],
            &[&root],
            Expected::Err("Verify(PathLenExceeded)"),
        ));
    }
    {
        let name = "bad-signature";
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::P256, |_| {})?;
        let mut leaf = m.leaf(&root, ID, KeyType::P256, |_| {})?;
        leaf.cert = flip_signature(&leaf.cert);
        out.push(vector(
            name,
            "digest 8.5 X-10; 2.6 step 6 (leaf signature)",
            &leaf,
            &[],
            &[&root],
            Expected::Err("Verify(BadSignature)"),
        ));
    }
    {
        let name = "intermediate-bad-signature";
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::P256, |_| {})?;
        let intermediate = m.intermediate(&root, "intermediate", |_| {})?;
        let leaf = m.leaf(&intermediate, ID, KeyType::P256, |_| {})?;
        out.push(vector(
            name,
            "digest 8.5 X-10; 2.6 step 6 (intermediate signature)",
            &leaf,
            &[flip_signature(&intermediate.cert)],
            &[&root],
            Expected::Err("Verify(BadSignature)"),
        ));
    }
    {
        let name = "leaf-signed-by-unknown-ca";
        let m = Minter::new(name);
        let root = m.root(TD, KeyType::P256, |_| {})?;
        // A different subject too: with the bundle root's name, path building would pick the
        // bundle root as issuer and report its signature as bad instead.
        let stranger =
            Minter::new("leaf-signed-by-unknown-ca/stranger").root(TD, KeyType::P256, |p| {
                p.distinguished_name = rcgen::DistinguishedName::new();
                p.distinguished_name
                    .push(DnType::CommonName, "example.org stranger CA");
            })?;
        let leaf = m.leaf(&stranger, ID, KeyType::P256, |_| {})?;
        out.push(vector(
            name,
            "digest 8.5 X-10; 2.6 step 6 (no path to an authority of the trust domain)",
            &leaf,
            &[],
            &[&root],
            Expected::Err("Verify(UnknownIssuer)"),
        ));
    }
    out.push(b.edited_root(
        "authority-expired",
        "digest 8.5 X-10; 2.6 [rec] (trust anchor validity is checked, as go-spiffe does)",
        |p| set_validity(p, PAST),
        "Verify(AuthorityExpired)",
    )?);
    out.push(b.edited_root(
        "authority-not-yet-valid",
        "digest 8.5 X-10; 2.6 [rec] (trust anchor validity is checked, as go-spiffe does)",
        |p| set_validity(p, FUTURE),
        "Verify(AuthorityNotYetValid)",
    )?);
    out.push(b.leaf_under_root(
        "leaf-unknown-critical-extension",
        "digest 8.5 X-10; 2.6 step 6 (reject unknown critical extensions)",
        ID,
        KeyType::P256,
        |p| {
            // 1.3.6.1.4.1.55555.1, an unassigned private OID; the value is a DER NULL.
            let mut ext =
                CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 55555, 1], vec![0x05, 0x00]);
            ext.set_criticality(true);
            p.custom_extensions.push(ext);
        },
        Expected::Err("Verify(Path(UnsupportedCriticalExtension))"),
    )?);
    out.push(b.leaf_under_root(
        "leaf-server-auth-only-as-client",
        "digest 2.6 [rec] EKU (X509-SVID 4.4: a present EKU must allow the role verified for)",
        ID,
        KeyType::P256,
        |p| p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth],
        Expected::Err("Verify(WrongUsage)"),
    )?);
    Ok(out)
}
