//! Intermediate CAs: in-process parents, upstream authorities through CSRs, path length and
//! lifetime capped by the parent (digest 2.3, 2.7).

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ca::{
    CertificateAuthority, Error, IntermediateRequest, IssuedCa, UpstreamAuthority, X509SvidRequest,
};
use common::{after, builder, id, parse, root, root_of, t0, verify};

fn web() -> X509SvidRequest {
    X509SvidRequest::new(id("spiffe://example.org/web"))
}

#[test]
fn in_process_intermediate_chain_verifies_against_the_root() {
    let root = root();
    let node = builder().parent(&root).build(t0()).unwrap();
    assert!(node.is_intermediate());
    let svid = node.mint_x509_svid(&web(), t0()).unwrap();
    assert_eq!(svid.chain().len(), 2, "leaf + intermediate, not the root");
    // The node CA publishes the root, not itself.
    assert_eq!(
        node.bundle().x509_bundle().authorities(),
        root.bundle().x509_bundle().authorities()
    );
    assert!(verify(&root, svid.chain(), t0()).is_ok());
    assert!(verify(&node, svid.chain(), t0()).is_ok());

    let inter = parse(&svid.chain()[1]);
    assert!(inter.basic_constraints().unwrap().unwrap().value.ca);
    assert_ne!(inter.subject(), inter.issuer());
    let san = inter.subject_alternative_name().unwrap().unwrap();
    assert!(matches!(
        san.value.general_names[..],
        [x509_parser::extensions::GeneralName::URI(
            "spiffe://example.org"
        )]
    ));

    // Two levels below the root.
    let leaf_ca = builder().parent(&node).build(t0()).unwrap();
    let svid = leaf_ca.mint_x509_svid(&web(), t0()).unwrap();
    assert_eq!(svid.chain().len(), 3);
    assert!(verify(&root, svid.chain(), t0()).is_ok());
}

/// The child's certificate never outlives the parent's (digest 2.7 "capped to the parent").
#[test]
fn intermediate_lifetime_is_capped_by_the_parent() {
    let root = builder()
        .ca_ttl(Duration::from_secs(2 * 3600))
        .build(t0())
        .unwrap();
    let node = builder()
        .parent(&root)
        .ca_ttl(Duration::from_secs(48 * 3600))
        .build(after(3600))
        .unwrap();
    let root_na = parse(&root.x509_authority_certificate().unwrap())
        .validity()
        .not_after
        .timestamp();
    let node_na = parse(&node.x509_authority_certificate().unwrap())
        .validity()
        .not_after
        .timestamp();
    assert_eq!(node_na, root_na);
    // And the node's leaves are capped by the node's certificate.
    let svid = node
        .mint_x509_svid(&web().ttl(Duration::from_secs(10 * 3600)), after(3600))
        .unwrap();
    assert_eq!(parse(svid.leaf()).validity().not_after.timestamp(), root_na);
}

/// pathLen: a parent with pathLen 1 signs a child with pathLen 0, which cannot sign another
/// CA (negative test: `PathLenExhausted`).
#[test]
fn path_length_is_capped_by_the_parent() {
    let root = builder().path_len(Some(1)).build(t0()).unwrap();
    let child = builder().parent(&root).build(t0()).unwrap();
    let cert = child.x509_authority_certificate().unwrap();
    let parsed = parse(&cert);
    let bc = parsed.basic_constraints().unwrap().unwrap().value;
    assert_eq!(bc.path_len_constraint, Some(0));
    let err = builder().parent(&child).build(t0()).unwrap_err();
    assert!(matches!(err, Error::PathLenExhausted), "{err:?}");

    // A requested path length above the parent's is lowered.
    let root = builder().path_len(Some(3)).build(t0()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap();
    let issued = root
        .mint_intermediate_for_csr(csr.der(), &IntermediateRequest::new().path_len(9), t0())
        .unwrap();
    let parsed = parse(&issued.chain[0]);
    let bc = parsed.basic_constraints().unwrap().unwrap().value;
    assert_eq!(bc.path_len_constraint, Some(2));
}

/// An upstream that answers with a certificate for some other key.
struct WrongKeyUpstream(CertificateAuthority);

impl UpstreamAuthority for WrongKeyUpstream {
    fn sign_intermediate(
        &self,
        _csr: &[u8],
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedCa, Error> {
        let csr = common::some_csr();
        self.0
            .mint_intermediate_for_csr(&csr, &IntermediateRequest::new().ttl(ttl), now)
    }
}

/// An upstream that returns roots that do not verify the chain.
struct WrongRootsUpstream(CertificateAuthority, CertificateAuthority);

impl UpstreamAuthority for WrongRootsUpstream {
    fn sign_intermediate(
        &self,
        csr: &[u8],
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedCa, Error> {
        let issued = self.0.sign_intermediate(csr, ttl, now)?;
        Ok(IssuedCa::new(
            issued.chain,
            vec![self.1.x509_authority_certificate()?],
        ))
    }
}

/// The CA checks what an upstream returns before using it (negative tests).
#[test]
fn upstream_certificates_are_checked() {
    let root = root();
    let err = builder()
        .upstream(Arc::new(WrongKeyUpstream(root.clone())))
        .build(t0())
        .unwrap_err();
    assert!(matches!(err, Error::UpstreamCertificate { .. }), "{err:?}");

    let stranger = root_of("example.org");
    let err = builder()
        .upstream(Arc::new(WrongRootsUpstream(root.clone(), stranger)))
        .build(t0())
        .unwrap_err();
    assert!(matches!(err, Error::UpstreamCertificate { .. }), "{err:?}");

    // A well-behaved upstream through the trait works.
    let ok = builder()
        .upstream(Arc::new(root.clone()))
        .build(t0())
        .unwrap();
    let svid = ok.mint_x509_svid(&web(), t0()).unwrap();
    assert!(verify(&root, svid.chain(), t0()).is_ok());
}

/// The names a downstream CA's CSR asks for are ignored: its certificate carries the parent's
/// trust domain ID.
#[test]
fn intermediate_csr_names_are_ignored() {
    let root = root();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::URI("spiffe://evil.org".try_into().unwrap()));
    let csr = params.serialize_request(&key).unwrap();
    let issued = root
        .mint_intermediate_for_csr(csr.der(), &IntermediateRequest::new(), t0())
        .unwrap();
    let cert = parse(&issued.chain[0]);
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert!(matches!(
        san.value.general_names[..],
        [x509_parser::extensions::GeneralName::URI(
            "spiffe://example.org"
        )]
    ));
    assert_eq!(issued.roots, root.bundle().x509_bundle().authorities());
}
