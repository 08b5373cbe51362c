//! Who may connect: the authorizers of `tls-integration`, side by side.
//!
//! Five workloads from two trust domains (plus a forged and an expired one) present their
//! X.509-SVIDs to a server-side verifier; each authorizer decides. The chain is always verified
//! first, against the bundle of the peer's own trust domain: a forged or expired SVID is refused
//! whatever the authorizer says, and an authorizer never sees an unverified chain.
//!
//! Run: `cargo run -p examples --example authorize-patterns`

use std::error::Error;
use std::sync::Arc;

use ca::TestCa;
use rustls::pki_types::UnixTime;
use spiffe_id::{IdMatcher, TrustDomain};
use svid::X509Svid;
use tls_integration::danger::AnyPeer;
use tls_integration::{Authorizer, Denied, SpiffeTls, authorize};

fn main() -> Result<(), Box<dyn Error>> {
    run()
}

/// Builds the table, prints it and checks every verdict.
pub fn run() -> Result<(), Box<dyn Error>> {
    let prod = TestCa::new("prod.example");
    let partner = TestCa::new("partner.example");
    let impostor = TestCa::new("prod.example"); // same name, a key nobody trusts
    // Both trust domains are known (federation); the impostor's bundle is not.
    let bundles = Arc::new(TestCa::bundle_set_of(&[&prod, &partner]));

    let peers: Vec<(&str, X509Svid)> = vec![
        ("payments api", prod.x509_svid("/ns/payments/sa/api")),
        ("payments ledger", prod.x509_svid("/ns/payments/sa/ledger")),
        ("web frontend", prod.x509_svid("/ns/web/sa/frontend")),
        (
            "partner billing",
            partner.x509_svid("/ns/billing/sa/invoices"),
        ),
        (
            "forged payments api",
            impostor.x509_svid("/ns/payments/sa/api"),
        ),
        (
            "expired payments api",
            prod.expired_x509_svid("/ns/payments/sa/api"),
        ),
    ];

    let api = prod.id("/ns/payments/sa/api");
    let ledger = prod.id("/ns/payments/sa/ledger");
    let partner_td: TrustDomain = "partner.example".parse()?;
    let authorizers: Vec<(&str, Box<dyn Authorizer>, [bool; 6])> = vec![
        (
            "exact(payments api)",
            Box::new(IdMatcher::exact(api.clone())),
            [true, false, false, false, false, false],
        ),
        (
            "one_of(api, ledger)",
            Box::new(IdMatcher::one_of([api, ledger])),
            [true, true, false, false, false, false],
        ),
        (
            "member_of(prod.example)",
            Box::new(IdMatcher::member_of(prod.trust_domain().clone())),
            [true, true, true, false, false, false],
        ),
        (
            // `*` matches one path segment, `**` any number (at least one).
            "pattern(.../ns/payments/**)",
            Box::new(IdMatcher::pattern("spiffe://prod.example/ns/payments/**")?),
            [true, true, false, false, false, false],
        ),
        (
            "payments or partner",
            Box::new(
                IdMatcher::pattern("spiffe://prod.example/ns/payments/**")?
                    .or(IdMatcher::member_of(partner_td)),
            ),
            [true, true, false, true, false, false],
        ),
        (
            "closure: not frontend",
            Box::new(authorize::from_fn(|peer| {
                if peer.spiffe_id().path().ends_with("/sa/frontend") {
                    Err(Denied::new("frontends call the gateway, not us"))
                } else {
                    Ok(())
                }
            })),
            [true, true, false, true, false, false],
        ),
        (
            "danger::AnyPeer",
            Box::new(AnyPeer),
            [true, true, true, true, false, false],
        ),
    ];

    let tls = SpiffeTls::new(svid::Crypto::default());
    let now = UnixTime::now();
    println!("{:<28} {}", "authorizer \\ peer", peer_header(&peers));
    for (name, authorizer, expected) in authorizers {
        let verifier = tls.client_verifier(bundles.clone(), authorizer);
        let mut row = Vec::new();
        for ((_, svid), want) in peers.iter().zip(expected) {
            let chain = svid.chain();
            let (leaf, intermediates) = chain.split_first().ok_or("empty chain")?;
            let verdict = verifier.verify(leaf, intermediates, now);
            assert_eq!(verdict.is_ok(), want, "{name}: {verdict:?}");
            row.push(match verdict {
                Ok(_) => "accept".to_owned(),
                Err(tls_integration::Error::Unauthorized { .. }) => "deny".to_owned(),
                Err(_) => "bad svid".to_owned(),
            });
        }
        println!(
            "{name:<28} {}",
            row.iter().map(|v| format!("{v:<10}")).collect::<String>()
        );
    }

    // What the logs say when a handshake is refused.
    let verifier = tls.client_verifier(bundles, IdMatcher::exact(prod.id("/ns/payments/sa/api")));
    for (label, svid) in peers.iter().skip(2) {
        let chain = svid.chain();
        let (leaf, intermediates) = chain.split_first().ok_or("empty chain")?;
        if let Err(error) = verifier.verify(leaf, intermediates, now) {
            println!("{label}: {error}");
        }
    }
    Ok(())
}

fn peer_header(peers: &[(&str, X509Svid)]) -> String {
    peers
        .iter()
        .enumerate()
        .map(|(i, _)| format!("{:<10}", format!("peer {}", i + 1)))
        .collect::<String>()
        + "\n"
        + &peers
            .iter()
            .enumerate()
            .map(|(i, (name, svid))| format!("  peer {}: {name} ({})\n", i + 1, svid.spiffe_id()))
            .collect::<String>()
}
