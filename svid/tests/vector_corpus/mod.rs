//! The vector corpus of `tests/data/vectors/`, made by `cargo xtask gen-vectors`: loading the
//! manifest and its files, running `svid` on a vector, and naming `svid` errors the way the
//! manifest does (`Sub(Variant)`, e.g. `Verify(IntermediateNotCa(CaNotCa))`).

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset of these helpers"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic here is a failed test"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer, UnixTime};
use serde::Deserialize;
use spiffe_id::TrustDomain;
use svid::{
    Audience, Crypto, Error, JwtError, JwtValidator, ProfileError, Usage, VerifyError, X509Verifier,
};
use trust_bundle::{BundleSet, SpiffeBundle, X509Bundle};

/// The corpus folder.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors")
}

/// `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub generator: String,
    pub count: usize,
    pub vectors: Vec<Vector>,
}

/// Which validator a vector is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    X509,
    Jwt,
}

/// One manifest entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vector {
    pub name: String,
    pub kind: Kind,
    pub rule: String,
    pub files: BTreeMap<String, String>,
    pub bundles: BTreeMap<String, String>,
    pub validation_time: String,
    pub validation_time_unix: u64,
    #[serde(default)]
    pub usage: Option<String>,
    #[serde(default)]
    pub audience: Option<Vec<String>>,
    pub expected: String,
    #[serde(default)]
    pub expected_spiffe_id: Option<String>,
}

/// What validating a vector gave, in the manifest's vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted with this SPIFFE ID.
    Ok(String),
    /// Refused with this error, named as in the manifest.
    Err(String),
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok(_))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ok(id) => write!(f, "ok {id}"),
            Self::Err(name) => f.write_str(name),
        }
    }
}

/// Reads and parses the manifest.
pub fn load() -> Manifest {
    serde_json::from_slice(&read("manifest.json")).unwrap()
}

/// A corpus file by its manifest path.
pub fn read(relative: &str) -> Vec<u8> {
    let path = dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl Vector {
    /// The file of a role (`chain`, `key`, `token`).
    pub fn file(&self, role: &str) -> Vec<u8> {
        let path = self
            .files
            .get(role)
            .unwrap_or_else(|| panic!("{}: no `{role}` file", self.name));
        read(path)
    }

    /// The validation time.
    pub fn now(&self) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(self.validation_time_unix))
    }

    /// The expected outcome.
    pub fn expected_outcome(&self) -> Outcome {
        if self.expected == "ok" {
            Outcome::Ok(
                self.expected_spiffe_id
                    .clone()
                    .unwrap_or_else(|| panic!("{}: ok without expected_spiffe_id", self.name)),
            )
        } else {
            Outcome::Err(self.expected.clone())
        }
    }

    /// The presented chain, leaf first.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(&self.file("chain"))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The leaf's PKCS#8 key, DER.
    pub fn key_pkcs8(&self) -> Vec<u8> {
        PrivatePkcs8KeyDer::from_pem_slice(&self.file("key"))
            .unwrap()
            .secret_pkcs8_der()
            .to_vec()
    }

    /// The token as presented.
    pub fn token(&self) -> String {
        let document: serde_json::Value = serde_json::from_slice(&self.file("token")).unwrap();
        document["token"].as_str().unwrap().to_owned()
    }

    /// The TLS role of an X.509 vector.
    pub fn usage(&self) -> Usage {
        match self.usage.as_deref() {
            Some("any") => Usage::Any,
            Some("client_auth") => Usage::ClientAuth,
            Some("server_auth") => Usage::ServerAuth,
            other => panic!("{}: usage {other:?}", self.name),
        }
    }

    /// The audience of a JWT vector.
    pub fn audience(&self) -> Audience {
        Audience::new(self.audience.clone().unwrap_or_default()).unwrap()
    }

    /// The X.509 bundles: one PEM file of authorities per trust domain.
    pub fn x509_bundles(&self) -> BundleSet {
        let bundles = self.bundles.iter().map(|(td, path)| {
            let bundle = X509Bundle::from_pem(TrustDomain::parse(td).unwrap(), &read(path))
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            SpiffeBundle::from(bundle)
        });
        BundleSet::from_bundles(bundles).unwrap()
    }

    /// The JWT bundles: one SPIFFE bundle document per trust domain.
    pub fn jwt_bundles(&self) -> BundleSet {
        let bundles = self.bundles.iter().map(|(td, path)| {
            SpiffeBundle::parse(TrustDomain::parse(td).unwrap(), read(path))
                .unwrap_or_else(|e| panic!("{path}: {e}"))
        });
        BundleSet::from_bundles(bundles).unwrap()
    }
}

/// Runs `svid` on a vector as the manifest says: the X.509 verifier with the vector's usage, or
/// the JWT validator (default settings: 30 s leeway, `kid` required) with its audience, at the
/// vector's validation time, on the default crypto backend.
pub fn run_svid(vector: &Vector) -> Outcome {
    match vector.kind {
        Kind::X509 => {
            let verifier = X509Verifier::new(vector.x509_bundles(), &Crypto::default())
                .with_usage(vector.usage());
            match verifier.verify(&vector.chain(), vector.now()) {
                Ok(verified) => Outcome::Ok(verified.spiffe_id().as_str().to_owned()),
                Err(error) => Outcome::Err(error_name(&error)),
            }
        }
        Kind::Jwt => {
            let validator = JwtValidator::new(vector.jwt_bundles(), &Crypto::default());
            match validator.validate(&vector.token(), &vector.audience(), vector.now()) {
                Ok(verified) => Outcome::Ok(verified.spiffe_id().as_str().to_owned()),
                Err(error) => Outcome::Err(jwt_error_name(&error)),
            }
        }
    }
}

/// The manifest name of an [`Error`]: the variant path, with the nested variant for the
/// sub-enums, and a claim name where the variant carries one.
pub fn error_name(error: &Error) -> String {
    match error {
        Error::Profile(profile) => format!("Profile({})", profile_name(profile)),
        Error::Verify(verify) => format!("Verify({})", verify_name(verify)),
        Error::Jwt(jwt) => jwt_error_name(jwt),
        Error::Certificate { source, .. } => format!("Certificate({source:?})"),
        Error::EmptyChain => "EmptyChain".to_owned(),
        Error::ChainTooLong { .. } => "ChainTooLong".to_owned(),
        Error::NoCertificateInPem => "NoCertificateInPem".to_owned(),
        Error::Key(key) => format!("Key({key:?})"),
        Error::KeyMismatch => "KeyMismatch".to_owned(),
        Error::Io(_) => "Io".to_owned(),
        other => format!("unmapped({other:?})"),
    }
}

/// The manifest name of a [`JwtError`], `Jwt(...)`.
pub fn jwt_error_name(error: &JwtError) -> String {
    let name = match error {
        JwtError::TokenTooLong { .. } => "TokenTooLong".to_owned(),
        JwtError::NotCompact => "NotCompact".to_owned(),
        JwtError::BadBase64 => "BadBase64".to_owned(),
        JwtError::BadHeader(_) => "BadHeader".to_owned(),
        JwtError::UnsupportedAlgorithm(_) => "UnsupportedAlgorithm".to_owned(),
        JwtError::BadType(_) => "BadType".to_owned(),
        JwtError::BadClaims(_) => "BadClaims".to_owned(),
        JwtError::MissingClaim(claim) => format!("MissingClaim({claim})"),
        JwtError::BadClaimType(claim) => format!("BadClaimType({claim})"),
        JwtError::BadSubject(_) => "BadSubject".to_owned(),
        JwtError::RootSubject => "RootSubject".to_owned(),
        JwtError::EmptyAudienceClaim => "EmptyAudienceClaim".to_owned(),
        JwtError::TooManyAudiences { .. } => "TooManyAudiences".to_owned(),
        JwtError::BadSignatureEncoding => "BadSignatureEncoding".to_owned(),
        JwtError::MissingKid => "MissingKid".to_owned(),
        JwtError::Expired => "Expired".to_owned(),
        JwtError::NotYetValid => "NotYetValid".to_owned(),
        JwtError::AudienceMismatch => "AudienceMismatch".to_owned(),
        JwtError::NoBundle { .. } => "NoBundle".to_owned(),
        // The manifest names the class: a kid the bundle skipped is still a kid with no key,
        // and a kid-less token with no fitting key is a key that does not fit.
        JwtError::UnknownKid(_) | JwtError::IgnoredKid { .. } => "UnknownKid".to_owned(),
        JwtError::KeyDoesNotFitAlgorithm { .. } | JwtError::NoKeyFitsAlgorithm { .. } => {
            "KeyDoesNotFitAlgorithm".to_owned()
        }
        JwtError::AlgorithmNotInProvider(_) => "AlgorithmNotInProvider".to_owned(),
        JwtError::BadSignature => "BadSignature".to_owned(),
        JwtError::EmptyExpectedAudience => "EmptyExpectedAudience".to_owned(),
        JwtError::LeewayTooLarge => "LeewayTooLarge".to_owned(),
        other => format!("unmapped({other:?})"),
    };
    format!("Jwt({name})")
}

fn profile_name(error: &ProfileError) -> String {
    match error {
        ProfileError::NoUriSan => "NoUriSan",
        ProfileError::MultipleUriSans { .. } => "MultipleUriSans",
        ProfileError::UriTooLong { .. } => "UriTooLong",
        ProfileError::BadSpiffeId(_) => "BadSpiffeId",
        ProfileError::LeafRootPath => "LeafRootPath",
        ProfileError::LeafIsCa => "LeafIsCa",
        ProfileError::LeafMissingKeyUsage => "LeafMissingKeyUsage",
        ProfileError::LeafMissingDigitalSignature => "LeafMissingDigitalSignature",
        ProfileError::LeafKeyCertSign => "LeafKeyCertSign",
        ProfileError::LeafCrlSign => "LeafCrlSign",
        ProfileError::CaNotCa => "CaNotCa",
        ProfileError::CaMissingKeyCertSign => "CaMissingKeyCertSign",
        ProfileError::CaIdHasPath => "CaIdHasPath",
        other => return format!("unmapped({other:?})"),
    }
    .to_owned()
}

fn verify_name(error: &VerifyError) -> String {
    match error {
        VerifyError::NoBundle { .. } => "NoBundle".to_owned(),
        VerifyError::NoAuthorities { .. } => "NoAuthorities".to_owned(),
        VerifyError::UnknownIssuer => "UnknownIssuer".to_owned(),
        VerifyError::Expired { .. } => "Expired".to_owned(),
        VerifyError::NotYetValid { .. } => "NotYetValid".to_owned(),
        VerifyError::AuthorityExpired { .. } => "AuthorityExpired".to_owned(),
        VerifyError::AuthorityNotYetValid { .. } => "AuthorityNotYetValid".to_owned(),
        VerifyError::BadSignature => "BadSignature".to_owned(),
        // The manifest predates the typed variant and keeps webpki's name.
        VerifyError::UnsupportedCriticalExtension { .. } => {
            "Path(UnsupportedCriticalExtension)".to_owned()
        }
        VerifyError::UnsupportedSignatureAlgorithm => "UnsupportedSignatureAlgorithm".to_owned(),
        VerifyError::IntermediateNotCa(profile) => {
            format!("IntermediateNotCa({})", profile_name(profile))
        }
        VerifyError::PathLenExceeded => "PathLenExceeded".to_owned(),
        VerifyError::WrongUsage => "WrongUsage".to_owned(),
        VerifyError::UnsupportedNameConstraints => "UnsupportedNameConstraints".to_owned(),
        VerifyError::BudgetExceeded => "BudgetExceeded".to_owned(),
        // webpki's error enum is not re-exported; its Debug form names the variant.
        VerifyError::Path(webpki) => format!("Path({webpki:?})"),
        other => format!("unmapped({other:?})"),
    }
}
