//! The one error type of this crate and its sub-enums.
//!
//! Section numbers refer to `SPIFFE_Workload_API.md` ("Workload API") and
//! `SPIFFE_Workload_Endpoint.md` ("Workload Endpoint"); rule IDs (E-1, W-API-4...) to the
//! project's SPIFFE digest.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything that can go wrong talking to the Workload API or running a source.
///
/// [`is_retryable`](Self::is_retryable) says whether trying again later can help. Display text
/// is for people and is not part of the API; match on variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint address is missing (no explicit address and no `SPIFFE_ENDPOINT_SOCKET`)
    /// or breaks the Workload Endpoint address rules:
    /// [`workload_api::Error::EndpointNotConfigured`] or
    /// [`workload_api::Error::InvalidEndpoint`] (Workload Endpoint 4; digest 6.3, E-8). Not
    /// retryable: the configuration has to change.
    #[error(transparent)]
    Endpoint(#[from] workload_api::Error),
    /// No connection could be made: nothing listens at the address, or the socket is not
    /// accessible. Retryable: the agent may still be starting.
    #[error("cannot connect to the workload api at {endpoint} (is the agent running there?)")]
    Connect {
        /// The endpoint, in canonical form.
        endpoint: String,
        /// The transport error.
        #[source]
        source: tonic::transport::Error,
    },
    /// The agent is unavailable (starting, shedding load, or the connection broke). Retryable
    /// with backoff (Workload Endpoint 6).
    #[error("workload api {rpc} unavailable: {message}")]
    Unavailable {
        /// The RPC that failed.
        rpc: Rpc,
        /// The server's or the transport's message.
        message: String,
    },
    /// The agent has no identity for this process, or not the one requested (`no identity
    /// issued`): check the registration entries and their selectors. Retryable with backoff,
    /// since entries can appear later (Workload API 5.2.1, 6.2.1).
    #[error(
        "workload api {rpc} denied: {message} (the agent has no identity for this process; \
         check its registration entries and selectors)"
    )]
    PermissionDenied {
        /// The RPC that failed.
        rpc: Rpc,
        /// The server's message.
        message: String,
    },
    /// The server refused the request as malformed (for instance without the security header).
    /// Not retryable: it signals a client bug (Workload Endpoint 6; digest W-API-10).
    #[error("workload api {rpc} rejected the request as invalid: {message}")]
    InvalidArgument {
        /// The RPC that failed.
        rpc: Rpc,
        /// The server's message.
        message: String,
    },
    /// The server does not implement the RPC. Not retryable (digest W-API-10).
    #[error("workload api {rpc} is not implemented by the server: {message}")]
    Unimplemented {
        /// The RPC that failed.
        rpc: Rpc,
        /// The server's message.
        message: String,
    },
    /// The call did not finish within its timeout. Retryable.
    #[error("workload api {rpc} did not answer within {timeout:?}")]
    DeadlineExceeded {
        /// The RPC that timed out.
        rpc: Rpc,
        /// The timeout that applied.
        timeout: Duration,
    },
    /// Any other gRPC status. Retryable unless the code says otherwise.
    #[error("workload api {rpc} failed with {code:?}: {message}")]
    Status {
        /// The RPC that failed.
        rpc: Rpc,
        /// The gRPC status code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },
    /// The server answered with something that is not a valid response: the message is
    /// discarded (Workload API 4.5; digest 5.10). Retryable: a later message may be fine.
    #[error("workload api {rpc} sent an invalid response")]
    InvalidResponse {
        /// The RPC that answered.
        rpc: Rpc,
        /// What was wrong.
        #[source]
        source: ResponseError,
    },
    /// A stream ended without an error (server shutdown or restart). Retryable: reconnect
    /// immediately (Workload API 4.2).
    #[error("workload api {rpc} stream ended")]
    StreamEnded {
        /// The RPC whose stream ended.
        rpc: Rpc,
    },
    /// A request argument was refused before anything was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// A JWT-SVID could not be parsed or validated.
    #[error("jwt-svid rejected")]
    Jwt(#[source] svid::JwtError),
    /// The crate was built without `ring` or `aws-lc-rs` and no `svid::Crypto` was given.
    #[error("no crypto: enable the `ring` or `aws-lc-rs` feature or pass an svid::Crypto")]
    NoCrypto,
    /// A source got no usable update within its startup timeout. `last_error` says why:
    /// nothing listening ([`Connect`](Self::Connect)), no identity for this process
    /// ([`PermissionDenied`](Self::PermissionDenied)), bad responses, ...
    #[error("no usable update from the workload api at {endpoint} within {waited:?}{}", describe_last(.last_error))]
    StartupTimeout {
        /// The endpoint, in canonical form.
        endpoint: String,
        /// How long the source waited.
        waited: Duration,
        /// The last error seen while waiting, if any.
        #[source]
        last_error: Option<Arc<Self>>,
    },
    /// The source stopped watching for good: closed by the application, or after an error that
    /// retrying cannot fix (InvalidArgument, Unimplemented).
    #[error("the source has stopped{}", describe_last(.cause))]
    SourceStopped {
        /// Why it stopped, unless it was closed on purpose.
        #[source]
        cause: Option<Arc<Self>>,
    },
    /// The source has nothing to serve: no update yet, its SVIDs expired while the agent was
    /// away, or they were withdrawn (PermissionDenied).
    #[error("the source has no current identity")]
    NoCurrentIdentity,
    /// No SVID matches the requested picker (hint or SPIFFE ID).
    #[error("no svid matches {wanted}")]
    NoMatchingSvid {
        /// What was asked for.
        wanted: String,
    },
    /// A blocking facade (feature `blocking`) could not start its runtime: the operating
    /// system refused a thread or an I/O driver. Not retryable.
    #[error("cannot start the runtime of a blocking source")]
    Runtime(#[source] std::io::Error),
    /// A JWT-SVID fetch that concurrent callers of one
    /// [`JwtSource`](crate::JwtSource) shared failed; every one of them gets this, with the
    /// same `cause`. Retryable when the cause is.
    #[error("a jwt-svid fetch shared with concurrent callers failed: {cause}")]
    SharedFetch {
        /// The error of the one fetch.
        #[source]
        cause: Arc<Self>,
    },
    /// An [`FsSource`](crate::fs::FsSource) (feature `fs`) could not load its files. Shared
    /// with [`FsStatus::last_error`](crate::fs::FsStatus::last_error). Retryable: the writer
    /// may still be writing, or may fix them.
    #[error(transparent)]
    Files(Arc<FsError>),
}

fn describe_last(error: &Option<Arc<Error>>) -> String {
    match error {
        Some(error) => format!("; last error: {error}"),
        None => String::new(),
    }
}

impl Error {
    /// Whether trying again later can help.
    ///
    /// `false` for configuration and client bugs (bad address, InvalidArgument,
    /// Unimplemented, no crypto) and for a stopped source; `true` for everything the
    /// agent can fix by starting, catching up or sending a better message.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Endpoint(_)
            | Self::InvalidArgument { .. }
            | Self::Unimplemented { .. }
            | Self::InvalidRequest(_)
            | Self::Jwt(_)
            | Self::NoCrypto
            | Self::SourceStopped { .. }
            | Self::NoMatchingSvid { .. }
            | Self::Runtime(_) => false,
            Self::Status { code, .. } => !matches!(
                code,
                tonic::Code::InvalidArgument
                    | tonic::Code::Unimplemented
                    | tonic::Code::Unauthenticated
                    | tonic::Code::FailedPrecondition
                    | tonic::Code::OutOfRange
            ),
            Self::Connect { .. }
            | Self::Unavailable { .. }
            | Self::PermissionDenied { .. }
            | Self::DeadlineExceeded { .. }
            | Self::InvalidResponse { .. }
            | Self::StreamEnded { .. }
            | Self::StartupTimeout { .. }
            | Self::NoCurrentIdentity
            | Self::Files(_) => true,
            Self::SharedFetch { cause } => cause.is_retryable(),
        }
    }

    /// Whether this is the agent saying "no identity for you" (PermissionDenied), directly or
    /// as the cause of a [`SharedFetch`](Self::SharedFetch).
    pub fn is_permission_denied(&self) -> bool {
        match self {
            Self::PermissionDenied { .. } => true,
            Self::SharedFetch { cause } => cause.is_permission_denied(),
            _ => false,
        }
    }

    pub(crate) fn from_status(rpc: Rpc, status: &tonic::Status, timeout: Duration) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            tonic::Code::Unavailable => Self::Unavailable { rpc, message },
            tonic::Code::PermissionDenied => Self::PermissionDenied { rpc, message },
            tonic::Code::InvalidArgument => Self::InvalidArgument { rpc, message },
            tonic::Code::Unimplemented => Self::Unimplemented { rpc, message },
            tonic::Code::DeadlineExceeded => Self::DeadlineExceeded { rpc, timeout },
            code => Self::Status { rpc, code, message },
        }
    }

    pub(crate) fn invalid(rpc: Rpc, source: ResponseError) -> Self {
        Self::InvalidResponse { rpc, source }
    }
}

/// Why a file-delivered source ([`FsSource`](crate::fs::FsSource), feature `fs`) could not load a
/// consistent state from its files. The source keeps serving its last good state meanwhile and
/// retries; [`FsStatus::last_error`](crate::fs::FsStatus::last_error) shows the reason. Paths are as read
/// (inside the resolved `..data` generation when there is one).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    /// A file could not be read: missing, not permitted, or its generation directory was
    /// removed by the writer while it was being read.
    #[error("cannot read {}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than the limit for its kind (checked while reading, before parsing).
    #[error("{} is larger than {max} bytes", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: usize,
    },
    /// The certificate chain or the private key is not a usable X.509-SVID (a half-written
    /// file, a profile violation, an unsupported key).
    #[error("{} does not hold a usable x509-svid", .path.display())]
    Svid {
        /// The file that was refused (the key file for key errors).
        path: PathBuf,
        /// Why.
        #[source]
        source: svid::Error,
    },
    /// The private key does not belong to the leaf certificate: the files come from different
    /// rotations (a writer updating them one by one). Never published; the next read usually
    /// finds them consistent.
    #[error(
        "the private key in {} does not match the certificate in {} (not yet consistent)",
        .key.display(),
        .certificate.display()
    )]
    KeyMismatch {
        /// The certificate file.
        certificate: PathBuf,
        /// The key file (the same file for a credential bundle).
        key: PathBuf,
    },
    /// A trust bundle file or a bundle map could not be parsed.
    #[error("{} is not a usable trust bundle", .path.display())]
    Bundle {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: trust_bundle::Error,
    },
    /// The folder holds more trust bundle files than a bundle map may hold trust domains
    /// ([`trust_bundle::MAX_TRUST_DOMAINS_PER_MAP`]).
    #[error("{} holds more than {max} trust bundle files", .dir.display())]
    TooManyTrustDomains {
        /// The folder.
        dir: PathBuf,
        /// The limit.
        max: usize,
    },
    /// Changes cannot be watched (no inotify on this system, the folder is missing, the
    /// watch limit is reached, or the watch broke): the source polls instead.
    #[error("cannot watch {} for changes; polling instead", .path.display())]
    Watch {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// No consistent state could be read within the startup timeout.
    #[error("no consistent x509 state in {} within {waited:?}", .dir.display())]
    StartupTimeout {
        /// The folder.
        dir: PathBuf,
        /// How long the source waited.
        waited: Duration,
        /// The last reason a load failed.
        #[source]
        last_error: Option<Arc<Self>>,
    },
}

/// The Workload API RPCs, for error context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rpc {
    /// `FetchX509SVID`.
    FetchX509Svid,
    /// `FetchX509Bundles`.
    FetchX509Bundles,
    /// `FetchJWTSVID`.
    FetchJwtSvid,
    /// `FetchJWTBundles`.
    FetchJwtBundles,
    /// `ValidateJWTSVID`.
    ValidateJwtSvid,
}

impl core::fmt::Display for Rpc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::FetchX509Svid => "FetchX509SVID",
            Self::FetchX509Bundles => "FetchX509Bundles",
            Self::FetchJwtSvid => "FetchJWTSVID",
            Self::FetchJwtBundles => "FetchJWTBundles",
            Self::ValidateJwtSvid => "ValidateJWTSVID",
        })
    }
}

/// Why a Workload API response was refused (Workload API 4.4, 4.5; digest 5.3-5.11).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The response holds no SVIDs; at least one is required (Workload API 4.5).
    #[error("the response holds no svids (Workload API 4.5)")]
    NoSvids,
    /// A required field is empty (Workload API 4.5).
    #[error("required field {field} of entry #{index} is empty (Workload API 4.5)")]
    EmptyField {
        /// The proto field name.
        field: &'static str,
        /// Zero-based position of the entry.
        index: usize,
    },
    /// A required bundle map is empty (Workload API 4.5).
    #[error("the bundles map is empty (Workload API 4.5)")]
    NoBundles,
    /// A `spiffe_id` field is not a SPIFFE ID.
    #[error("spiffe_id {value:?} of entry #{index} is not a spiffe id")]
    BadSpiffeId {
        /// The value sent.
        value: String,
        /// Zero-based position of the entry.
        index: usize,
        /// Why it was refused.
        #[source]
        source: spiffe_id::Error,
    },
    /// A bundle map key is neither `spiffe://<td>` nor a bare trust domain name (digest 5.5).
    #[error("bundle map key {key:?} is not a trust domain (Workload API 5.1, digest 5.5)")]
    BadBundleKey {
        /// The key sent.
        key: String,
        /// Why it was refused.
        #[source]
        source: spiffe_id::Error,
    },
    /// Two keys of one bundle map name the same trust domain (e.g. `spiffe://a` and `a`).
    #[error("bundle map names trust domain {trust_domain} twice")]
    DuplicateTrustDomain {
        /// The repeated trust domain.
        trust_domain: spiffe_id::TrustDomain,
    },
    /// An X.509-SVID (chain + key) is malformed, breaks the SVID profile, or its key does not
    /// match its certificate.
    #[error("x509-svid #{index} ({spiffe_id}) is invalid")]
    X509Svid {
        /// Zero-based position in the response.
        index: usize,
        /// The `spiffe_id` field as sent.
        spiffe_id: String,
        /// What was wrong.
        #[source]
        source: svid::Error,
    },
    /// The certificate's SPIFFE ID differs from the `spiffe_id` field.
    #[error(
        "x509-svid #{index}: spiffe_id field {field} does not match the certificate's {certificate}"
    )]
    SpiffeIdMismatch {
        /// Zero-based position in the response.
        index: usize,
        /// The `spiffe_id` field.
        field: String,
        /// The SPIFFE ID in the certificate or token.
        certificate: String,
    },
    /// An X.509-SVID does not verify against the bundle of its own trust domain, or is expired.
    #[error("x509-svid #{index} ({spiffe_id}) does not verify against its trust domain's bundle")]
    X509SvidNotValid {
        /// Zero-based position in the response.
        index: usize,
        /// The SVID's SPIFFE ID.
        spiffe_id: String,
        /// Why verification failed.
        #[source]
        source: svid::Error,
    },
    /// A bundle could not be parsed.
    #[error("bundle of {trust_domain} is invalid")]
    Bundle {
        /// The bundle's trust domain.
        trust_domain: spiffe_id::TrustDomain,
        /// What was wrong.
        #[source]
        source: trust_bundle::Error,
    },
    /// The bundles do not form a valid set.
    #[error("the bundles do not form a valid set")]
    BundleSet(#[source] trust_bundle::Error),
    /// Two SVIDs of one response carry different bundles for the same trust domain.
    #[error("svids of trust domain {trust_domain} carry different bundles")]
    ConflictingBundles {
        /// The trust domain.
        trust_domain: spiffe_id::TrustDomain,
    },
    /// A JWT-SVID is malformed.
    #[error("jwt-svid #{index} ({spiffe_id}) is invalid")]
    JwtSvid {
        /// Zero-based position in the response.
        index: usize,
        /// The `spiffe_id` field as sent.
        spiffe_id: String,
        /// What was wrong.
        #[source]
        source: svid::JwtError,
    },
    /// A JWT-SVID is already expired.
    #[error("jwt-svid #{index} ({spiffe_id}) is already expired")]
    JwtSvidExpired {
        /// Zero-based position in the response.
        index: usize,
        /// The SVID's SPIFFE ID.
        spiffe_id: String,
    },
    /// A JWT-SVID does not carry every requested audience.
    #[error("jwt-svid #{index} does not carry the requested audience {audience:?}")]
    JwtAudienceMissing {
        /// Zero-based position in the response.
        index: usize,
        /// The missing audience.
        audience: String,
    },
    /// The server returned an identity other than the one requested.
    #[error("asked for {requested} but got {returned}")]
    UnrequestedIdentity {
        /// The requested SPIFFE ID.
        requested: String,
        /// The returned SPIFFE ID.
        returned: String,
    },
    /// More SVIDs than the configured limit.
    #[error("the response holds {count} svids, more than the {max} allowed")]
    TooManySvids {
        /// The number received.
        count: usize,
        /// The configured limit.
        max: usize,
    },
    /// More bundles (trust domains) than the configured limit.
    #[error("the response holds {count} bundles, more than the {max} allowed")]
    TooManyBundles {
        /// The number received.
        count: usize,
        /// The configured limit.
        max: usize,
    },
    /// A bundle is larger than the configured limit.
    #[error("the bundle of {key} is {len} bytes, more than the {max} allowed")]
    BundleTooLarge {
        /// The bundle's key or SPIFFE ID.
        key: String,
        /// Its length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// `ValidateJWTSVID` returned no claims, or claims that disagree with the token.
    #[error("validate response: {0}")]
    BadValidation(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An address error from `workload_api` keeps its text and is not retryable (digest E-8):
    /// `Endpoint::from_env()?` in a function returning this error says what to configure.
    #[test]
    fn endpoint_errors_are_not_retryable_and_keep_their_message() {
        let unset = Error::from(workload_api::Error::EndpointNotConfigured);
        assert!(!unset.is_retryable());
        assert!(
            unset.to_string().contains("SPIFFE_ENDPOINT_SOCKET"),
            "{unset}"
        );
        let invalid = match workload_api::Endpoint::parse("tcp://localhost:1") {
            Err(error) => Error::from(error),
            Ok(endpoint) => panic!("accepted {endpoint}"),
        };
        assert!(!invalid.is_retryable());
        assert!(
            invalid
                .to_string()
                .starts_with("invalid workload api address \"tcp://localhost:1\""),
            "{invalid}"
        );
    }
}
