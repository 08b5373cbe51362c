//! tower layers for HTTP and gRPC services (feature `tower`):
//!
//! - [`RequireSpiffeIdLayer`]: only callers whose verified SPIFFE ID (from the [`PeerInfo`]
//!   this crate's hyper and tonic helpers attach) matches an [`IdMatcher`] reach the service;
//!   others get `403 Forbidden`, or gRPC status `PERMISSION_DENIED`.
//! - [`JwtBearerLayer`]: requests must carry `Authorization: Bearer <JWT-SVID>` valid for an
//!   expected audience against a JWT bundle source; the [`VerifiedJwtSvid`] is put in the
//!   request extensions. Others get `401 Unauthorized` (with `WWW-Authenticate: Bearer`), or
//!   gRPC status `UNAUTHENTICATED`.
//!
//! A request is treated as gRPC when its `content-type` starts with `application/grpc`; the
//! refusal is then a trailers-only gRPC response (HTTP 200 with `grpc-status`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response, StatusCode, header};
use rustls_pki_types::UnixTime;
use spiffe_id::IdMatcher;
use svid::{Audience, JwtValidator, VerifiedJwtSvid};
use tower::{Layer, Service};
use trust_bundle::JwtBundleSource;

use crate::error::Error;
use crate::peer::PeerInfo;

/// gRPC status codes used here (gRPC `statuscodes.md`).
const GRPC_PERMISSION_DENIED: &str = "7";
const GRPC_UNAUTHENTICATED: &str = "16";

/// Lets through only requests whose peer SPIFFE ID matches; see the [module docs](self).
///
/// ```
/// use spiffe_id::IdMatcher;
/// use tls_integration::tower::RequireSpiffeIdLayer;
///
/// let layer = RequireSpiffeIdLayer::new(IdMatcher::pattern("spiffe://prod.example/ns/payments/*")?);
/// # let _ = layer;
/// # Ok::<(), spiffe_id::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RequireSpiffeIdLayer {
    matcher: Arc<IdMatcher>,
}

impl RequireSpiffeIdLayer {
    /// Requires the peer's SPIFFE ID to match `matcher`.
    pub fn new(matcher: IdMatcher) -> Self {
        Self {
            matcher: Arc::new(matcher),
        }
    }
}

impl<S> Layer<S> for RequireSpiffeIdLayer {
    type Service = RequireSpiffeId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireSpiffeId {
            inner,
            matcher: Arc::clone(&self.matcher),
        }
    }
}

/// The service [`RequireSpiffeIdLayer`] makes.
#[derive(Clone, Debug)]
pub struct RequireSpiffeId<S> {
    inner: S,
    matcher: Arc<IdMatcher>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireSpiffeId<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let allowed = request
            .extensions()
            .get::<PeerInfo>()
            .and_then(PeerInfo::spiffe_id)
            .is_some_and(|id| self.matcher.matches(id));
        if allowed {
            ResponseFuture::pass(self.inner.call(request))
        } else {
            ResponseFuture::refuse(refusal(&request, Refusal::Forbidden))
        }
    }
}

/// Authenticates requests by JWT-SVID bearer token; see the [module docs](self).
///
/// Tokens are validated by `svid`'s [`JwtValidator`] against the JWT bundle of the token's own
/// trust domain, for the expected [`Audience`] (which cannot be empty). Give the validator a
/// result cache ([`JwtValidator::with_result_cache`]) so a repeated token costs a hash lookup
/// rather than a signature check.
///
/// ```
/// use std::sync::Arc;
/// use svid::{Audience, Crypto, JwtValidator};
/// use trust_bundle::BundleSet;
/// use tls_integration::tower::JwtBearerLayer;
///
/// let validator = JwtValidator::new(Arc::new(BundleSet::new()), &Crypto::default())
///     .with_result_cache(4096);
/// let layer = JwtBearerLayer::new(validator, Audience::new(["payments"])?)
///     .require_subject(spiffe_id::IdMatcher::member_of("prod.example".parse()?));
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct JwtBearerLayer {
    auth: Arc<BearerAuth>,
}

/// A [`JwtValidator`] over any bundle source, so the layer needs no type parameter for it.
trait ValidateToken: Send + Sync {
    fn validate(
        &self,
        token: &str,
        audience: &Audience,
        now: UnixTime,
    ) -> Result<VerifiedJwtSvid, svid::JwtError>;
}

impl<B: JwtBundleSource> ValidateToken for JwtValidator<B> {
    fn validate(
        &self,
        token: &str,
        audience: &Audience,
        now: UnixTime,
    ) -> Result<VerifiedJwtSvid, svid::JwtError> {
        Self::validate(self, token, audience, now)
    }
}

struct BearerAuth {
    validator: Arc<dyn ValidateToken>,
    audience: Audience,
    subjects: Option<IdMatcher>,
}

impl JwtBearerLayer {
    /// Requires a JWT-SVID for `audience`, validated with `validator` against its bundle
    /// source.
    pub fn new<B: JwtBundleSource + 'static>(
        validator: JwtValidator<B>,
        audience: Audience,
    ) -> Self {
        Self {
            auth: Arc::new(BearerAuth {
                validator: Arc::new(validator),
                audience,
                subjects: None,
            }),
        }
    }

    /// Also requires the token's subject (`sub`) to match `matcher`; other valid tokens are
    /// refused as forbidden.
    #[must_use]
    pub fn require_subject(self, matcher: IdMatcher) -> Self {
        let auth = &self.auth;
        Self {
            auth: Arc::new(BearerAuth {
                validator: Arc::clone(&auth.validator),
                audience: auth.audience.clone(),
                subjects: Some(matcher),
            }),
        }
    }

    /// Validates the bearer token of a request's headers at `now`, as the layer does.
    ///
    /// # Errors
    /// [`Error::MissingBearer`] without a well-formed `Authorization: Bearer` header,
    /// [`Error::Jwt`] when the token is not a valid JWT-SVID for the audience, or
    /// [`Error::Unauthorized`] when its subject does not match
    /// [`require_subject`](Self::require_subject).
    pub fn authenticate(
        &self,
        headers: &http::HeaderMap,
        now: UnixTime,
    ) -> Result<VerifiedJwtSvid, Error> {
        self.auth.authenticate(headers, now)
    }
}

impl BearerAuth {
    fn authenticate(
        &self,
        headers: &http::HeaderMap,
        now: UnixTime,
    ) -> Result<VerifiedJwtSvid, Error> {
        let token = bearer_token(headers).ok_or(Error::MissingBearer)?;
        let verified = self
            .validator
            .validate(token, &self.audience, now)
            .map_err(Error::Jwt)?;
        if let Some(subjects) = &self.subjects {
            if !subjects.matches(verified.spiffe_id()) {
                return Err(Error::Unauthorized {
                    spiffe_id: verified.spiffe_id().clone(),
                    reason: crate::Denied::new(format!(
                        "JWT-SVID subject does not match {subjects}"
                    )),
                });
            }
        }
        Ok(verified)
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750 2.1).
fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl fmt::Debug for JwtBearerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBearerLayer")
            .field("audience", &self.auth.audience)
            .field("subjects", &self.auth.subjects)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for JwtBearerLayer {
    type Service = JwtBearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtBearer {
            inner,
            auth: Arc::clone(&self.auth),
        }
    }
}

/// The service [`JwtBearerLayer`] makes.
#[derive(Clone)]
pub struct JwtBearer<S> {
    inner: S,
    auth: Arc<BearerAuth>,
}

impl<S: fmt::Debug> fmt::Debug for JwtBearer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBearer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for JwtBearer<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match self.auth.authenticate(request.headers(), UnixTime::now()) {
            Ok(verified) => {
                request.extensions_mut().insert(verified);
                ResponseFuture::pass(self.inner.call(request))
            }
            Err(Error::Unauthorized { .. }) => {
                ResponseFuture::refuse(refusal(&request, Refusal::Forbidden))
            }
            Err(_) => ResponseFuture::refuse(refusal(&request, Refusal::Unauthenticated)),
        }
    }
}

#[derive(Clone, Copy)]
enum Refusal {
    Forbidden,
    Unauthenticated,
}

fn refusal<B, ResBody: Default>(request: &Request<B>, kind: Refusal) -> Response<ResBody> {
    let grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    let mut response = Response::new(ResBody::default());
    let headers = response.headers_mut();
    if grpc {
        let (code, message) = match kind {
            Refusal::Forbidden => (GRPC_PERMISSION_DENIED, "caller SPIFFE ID is not authorized"),
            Refusal::Unauthenticated => (
                GRPC_UNAUTHENTICATED,
                "a valid JWT-SVID bearer token is required",
            ),
        };
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert("grpc-status", HeaderValue::from_static(code));
        headers.insert("grpc-message", HeaderValue::from_static(message));
    } else {
        match kind {
            Refusal::Forbidden => *response.status_mut() = StatusCode::FORBIDDEN,
            Refusal::Unauthenticated => {
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
        }
    }
    response
}

pin_project_lite::pin_project! {
    /// The future of [`RequireSpiffeId`] and [`JwtBearer`]: the inner service's, or an
    /// immediate refusal.
    pub struct ResponseFuture<F, B> {
        #[pin]
        inner: Option<F>,
        refusal: Option<Response<B>>,
    }
}

impl<F, B> ResponseFuture<F, B> {
    fn pass(inner: F) -> Self {
        Self {
            inner: Some(inner),
            refusal: None,
        }
    }

    fn refuse(response: Response<B>) -> Self {
        Self {
            inner: None,
            refusal: Some(response),
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("refused", &self.refusal.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.as_pin_mut() {
            Some(inner) => inner.poll(cx),
            None => match this.refusal.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled after completion: stay pending rather than panic.
                None => Poll::Pending,
            },
        }
    }
}
