//! `verify` (an X.509-SVID chain) and `validate` (a JWT-SVID), against bundle files, with
//! `svid`'s verifiers: the verdict is the library's.

use std::path::Path;
use std::time::Duration;

use rustls_pki_types::pem::PemObject as _;
use serde_json::json;
use svid::{
    Audience, BundleSet, CertificateDer, Crypto, JwtValidator, SpiffeBundle, TrustDomain, UnixTime,
    UnverifiedJwtSvid, Usage, X509Bundle, X509Verifier,
};

use crate::cli::{UsageArg, ValidateArgs, VerifyArgs};
use crate::describe;
use crate::error::Error;
use crate::inspect::read_input;

/// `--bundle [TD=]FILE`: the trust domain when given, and the path.
fn split_bundle_arg(arg: &str) -> Result<(Option<TrustDomain>, &Path), Error> {
    if let Some((td, path)) = arg.split_once('=') {
        let trust_domain = TrustDomain::parse(td).map_err(|e| {
            Error::input(format!("--bundle {arg:?}: {td:?} is not a trust domain"), e)
        })?;
        return Ok((Some(trust_domain), Path::new(path)));
    }
    Ok((None, Path::new(arg)))
}

/// Reads every `--bundle`; one without `TD=` belongs to `default` (the leaf's or the token's
/// trust domain).
fn load_bundles(args: &[String], default: Option<&TrustDomain>) -> Result<BundleSet, Error> {
    let mut bundles = Vec::with_capacity(args.len());
    for arg in args {
        let (td, path) = split_bundle_arg(arg)?;
        let Some(td) = td.or_else(|| default.cloned()) else {
            return Err(Error::Usage(format!(
                "--bundle {arg:?}: cannot tell its trust domain (the input names none); write TD={arg}"
            )));
        };
        let bytes = read_input(path)?;
        let what = || format!("bundle {}", path.display());
        let text = std::str::from_utf8(&bytes).ok().map(str::trim_start);
        let bundle = match text {
            Some(text) if text.starts_with('{') => {
                SpiffeBundle::parse(td, text).map_err(|e| Error::input(what(), e))?
            }
            Some(text) if text.contains("-----BEGIN ") => X509Bundle::from_pem(td, text.as_bytes())
                .map(SpiffeBundle::from)
                .map_err(|e| Error::input(what(), e))?,
            _ => X509Bundle::from_der(td, &bytes)
                .map(SpiffeBundle::from)
                .map_err(|e| Error::input(what(), e))?,
        };
        bundles.push(bundle);
    }
    BundleSet::from_bundles(bundles).map_err(|e| Error::input("--bundle", e))
}

fn unix_time(seconds: i64) -> Result<UnixTime, Error> {
    let seconds =
        u64::try_from(seconds).map_err(|_| Error::Usage("--at is before 1970".to_owned()))?;
    Ok(UnixTime::since_unix_epoch(Duration::from_secs(seconds)))
}

/// The chain as presented, leaf first: PEM `CERTIFICATE` blocks or concatenated DER.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = read_input(path)?;
    let what = || format!("chain {}", path.display());
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| Error::input(what(), e))?;
        if chain.is_empty() {
            return Err(Error::input(what(), svid::Error::NoCertificateInPem));
        }
        Ok(chain)
    } else {
        svid::certificates_from_der(&bytes[..]).map_err(|e| Error::input(what(), e))
    }
}

/// The trust domain of a leaf's SPIFFE ID, read without verifying (to pick the bundle).
fn leaf_trust_domain(leaf: Option<&CertificateDer<'_>>) -> Option<TrustDomain> {
    let facts = describe::certificate(leaf?, 0).ok()?;
    let id = svid::SpiffeId::parse(facts.get("spiffe_id")?.as_str()?).ok()?;
    Some(id.trust_domain())
}

/// `verify`.
pub(crate) fn verify(args: &VerifyArgs) -> Result<(), Error> {
    let at = describe::parse_at(args.at.as_deref())?;
    let chain = read_chain(&args.chain)?;
    let bundles = load_bundles(&args.bundles, leaf_trust_domain(chain.first()).as_ref())?;
    let usage = match args.usage {
        UsageArg::Any => Usage::Any,
        UsageArg::Client => Usage::ClientAuth,
        UsageArg::Server => Usage::ServerAuth,
    };
    let verifier = X509Verifier::new(bundles, &Crypto::default()).with_usage(usage);
    let result = verifier.verify(&chain, unix_time(at)?);
    match result {
        Ok(verified) => {
            let id = verified.spiffe_id().as_str();
            describe::print(
                args.json,
                &json!({ "verdict": "ok", "spiffe_id": id, "at": describe::rfc3339(at) }),
                &[format!(
                    "OK: {id} (chain of {} verified against the bundle of {} at {})",
                    chain.len(),
                    verified.spiffe_id().trust_domain(),
                    describe::rfc3339(at)
                )],
            );
            Ok(())
        }
        Err(error) => refused(args.json, "the chain", at, error),
    }
}

/// Prints the refusal (the rule is in the error's message) and returns the exit-1 error.
fn refused(json_mode: bool, what: &str, at: i64, error: svid::Error) -> Result<(), Error> {
    describe::print(
        json_mode,
        &json!({
            "verdict": "refused",
            "error": crate::error::chain(&error),
            "error_debug": format!("{error:?}"),
            "at": describe::rfc3339(at),
        }),
        &[format!("REFUSED: {}", crate::error::chain(&error))],
    );
    Err(Error::Refused {
        what: format!("{what} was refused"),
        source: error,
    })
}

/// `validate`.
pub(crate) fn validate(args: &ValidateArgs) -> Result<(), Error> {
    let at = describe::parse_at(args.at.as_deref())?;
    let token = if args.token == "-" {
        let bytes = read_input(Path::new("-"))?;
        String::from_utf8(bytes.to_vec())
            .map_err(|e| Error::input("the token on standard input", e))?
            .trim()
            .to_owned()
    } else {
        args.token.clone()
    };
    let audience =
        Audience::new(args.audiences.iter().cloned()).map_err(|e| Error::input("--audience", e))?;
    // The subject's trust domain picks a bundle given without TD=; a token too broken to say
    // is refused by the validator below with the rule it breaks.
    let subject_td = UnverifiedJwtSvid::parse_insecure(&token)
        .ok()
        .map(|t| t.spiffe_id().trust_domain());
    let bundles = match (&subject_td, args.bundles.iter().all(|b| !b.contains('='))) {
        (None, true) => BundleSet::new(),
        _ => load_bundles(&args.bundles, subject_td.as_ref())?,
    };
    let validator = JwtValidator::new(bundles, &Crypto::default());
    match validator.validate(&token, &audience, unix_time(at)?) {
        Ok(verified) => {
            let id = verified.spiffe_id().as_str();
            describe::print(
                args.json,
                &json!({
                    "verdict": "ok",
                    "spiffe_id": id,
                    "audience": verified.audience(),
                    "claims": verified.claims(),
                    "at": describe::rfc3339(at),
                }),
                &[
                    format!("OK: {id} (JWT-SVID valid at {})", describe::rfc3339(at)),
                    format!(
                        "  Claims: {}",
                        serde_json::Value::Object(verified.claims().clone())
                    ),
                ],
            );
            Ok(())
        }
        Err(error) => refused(args.json, "the token", at, svid::Error::Jwt(error)),
    }
}
