//! [`Client`]: one-shot calls and streams for every Workload API RPC, over a Unix socket or
//! TCP, with the security header, timeouts and response limits.

use core::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper_util::rt::TokioIo;
use spiffe_id::SpiffeId;
use svid::Crypto;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Uri};
use trust_bundle::BundleSet;
use workload_api::{Endpoint, SECURITY_HEADER, SECURITY_HEADER_VALUE};

use crate::error::{Error, ResponseError, Rpc};
use crate::proto;
use crate::proto::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use crate::response;
use crate::types::{AgentVerifiedJwtSvid, JwtSvid, Limits, X509Context};
use crate::update_stream::UpdateStream;

/// The default timeout of a unary call and of opening a stream.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default timeout for establishing a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

type UserInterceptor =
    Arc<dyn Fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send + Sync>;

/// Runs the caller's interceptor (if any), then sets `workload.spiffe.io: true`, replacing any
/// value the caller's interceptor set: the header cannot be dropped or changed.
#[derive(Clone)]
pub(crate) struct SecurityHeader {
    user: Option<UserInterceptor>,
}

impl Interceptor for SecurityHeader {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let mut request = match &self.user {
            Some(user) => user(request)?,
            None => request,
        };
        request.metadata_mut().insert(
            SECURITY_HEADER,
            MetadataValue::from_static(SECURITY_HEADER_VALUE),
        );
        Ok(request)
    }
}

type Grpc = SpiffeWorkloadApiClient<InterceptedService<Channel, SecurityHeader>>;

/// Configures a [`Client`]. Start with [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    endpoint: Endpoint,
    timeout: Duration,
    connect_timeout: Duration,
    limits: Limits,
    crypto: Option<Crypto>,
    interceptor: Option<UserInterceptor>,
}

impl ClientBuilder {
    /// The timeout of each unary call and of opening each stream (not of a stream's lifetime).
    /// Default [`DEFAULT_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The timeout for establishing a connection. Default [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Response size limits. Default [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The crypto used to load keys and verify SVIDs (the one `svid::Crypto` of the
    /// application). Default [`Crypto::default`] when the `ring` or `aws-lc-rs` feature is on.
    pub fn crypto(mut self, crypto: Crypto) -> Self {
        self.crypto = Some(crypto);
        self
    }

    /// An interceptor run on every request (to add metadata, say). The security header is set
    /// after it runs, so it can neither remove nor change the header.
    pub fn interceptor<F>(mut self, interceptor: F) -> Self
    where
        F: Fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>
            + Send
            + Sync
            + 'static,
    {
        self.interceptor = Some(Arc::new(interceptor));
        self
    }

    /// Connects now.
    ///
    /// # Errors
    /// [`Error::Connect`] if nothing accepts a connection at the endpoint;
    /// [`Error::NoCrypto`].
    pub async fn connect(self) -> Result<Client, Error> {
        let crypto = crypto_or_default(self.crypto.clone())?;
        let endpoint_text = self.endpoint.to_string();
        let transport = transport_endpoint(&self.endpoint, self.connect_timeout);
        // `Endpoint` is non-exhaustive: what is not a Unix socket is dialled as TCP.
        let channel = match self.endpoint.unix_path() {
            Some(path) => {
                let path = path.to_owned();
                transport.connect_with_connector(unix_connector(path)).await
            }
            None => transport.connect().await,
        }
        .map_err(|source| Error::Connect {
            endpoint: endpoint_text,
            source,
        })?;
        Ok(self.finish(channel, crypto))
    }

    /// A client that connects on first use and reconnects whenever the connection breaks:
    /// what long-lived sources use. Connection failures show up as
    /// [`Error::Unavailable`] on calls.
    ///
    /// Must be called within a tokio runtime (tonic spawns the connection task; outside one
    /// this panics, as `tokio::spawn` does).
    ///
    /// # Errors
    /// [`Error::NoCrypto`].
    pub fn connect_lazy(self) -> Result<Client, Error> {
        let crypto = crypto_or_default(self.crypto.clone())?;
        let transport = transport_endpoint(&self.endpoint, self.connect_timeout);
        let channel = match self.endpoint.unix_path() {
            Some(path) => transport.connect_with_connector_lazy(unix_connector(path.to_owned())),
            None => transport.connect_lazy(),
        };
        Ok(self.finish(channel, crypto))
    }

    fn finish(self, channel: Channel, crypto: Crypto) -> Client {
        let grpc = SpiffeWorkloadApiClient::with_interceptor(
            channel,
            SecurityHeader {
                user: self.interceptor,
            },
        )
        .max_decoding_message_size(self.limits.max_message_bytes);
        Client {
            grpc,
            endpoint: self.endpoint,
            timeout: self.timeout,
            limits: self.limits,
            crypto,
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("limits", &self.limits)
            .field("interceptor", &self.interceptor.is_some())
            .finish_non_exhaustive()
    }
}

pub(crate) fn crypto_or_default(crypto: Option<Crypto>) -> Result<Crypto, Error> {
    if let Some(crypto) = crypto {
        return Ok(crypto);
    }
    #[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
    {
        Ok(Crypto::default())
    }
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    {
        Err(Error::NoCrypto)
    }
}

fn transport_endpoint(
    endpoint: &Endpoint,
    connect_timeout: Duration,
) -> tonic::transport::Endpoint {
    // For a Unix socket the URI only fills the `:authority` header; the connector ignores it.
    let uri = match endpoint.tcp_addr() {
        Some(addr) => format!("http://{addr}"),
        None => "http://localhost".to_owned(),
    };
    let transport = match tonic::transport::Endpoint::from_shared(uri) {
        Ok(transport) => transport,
        // A socket address always forms a valid URI; fall back to a harmless constant.
        Err(_) => tonic::transport::Endpoint::from_static("http://localhost"),
    };
    transport.connect_timeout(connect_timeout).tcp_nodelay(true)
}

fn unix_connector(
    path: std::path::PathBuf,
) -> impl tower::Service<
    Uri,
    Response = TokioIo<tokio::net::UnixStream>,
    Error = std::io::Error,
    Future = impl Future<Output = std::io::Result<TokioIo<tokio::net::UnixStream>>> + Send,
> + Clone
+ Send {
    tower::service_fn(move |_: Uri| {
        let path = path.clone();
        async move { Ok(TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
    })
}

/// A Workload API client: one-shot calls and streams for every RPC, with validated, typed
/// results.
///
/// Every request carries `workload.spiffe.io: true`. Unary calls and stream opening have a
/// timeout; responses are bounded by [`Limits`] and validated (a malformed SVID or bundle is an
/// [`Error::InvalidResponse`], never a panic or an accepted credential). Cloning is cheap and
/// shares the connection.
///
/// Most applications want a source instead ([`X509Source`](crate::X509Source),
/// [`JwtSource`](crate::JwtSource), [`BundleSource`](crate::BundleSource)), which keep a
/// stream open, reconnect, and serve the current state without a call per request.
///
/// ```no_run
/// # async fn example() -> Result<(), workload_client::Error> {
/// use workload_client::{Client, Endpoint};
///
/// let client = Client::builder(Endpoint::from_env()?).connect().await?;
/// let context = client.fetch_x509_context().await?;
/// println!("I am {}", context.svids()[0].spiffe_id());
/// let jwt = client.fetch_jwt_svid(&["https://api.example.org"], None).await?;
/// println!("token for {}", jwt.spiffe_id());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    grpc: Grpc,
    endpoint: Endpoint,
    timeout: Duration,
    limits: Limits,
    crypto: Crypto,
}

impl Client {
    /// Starts configuring a client for `endpoint`.
    pub fn builder(endpoint: Endpoint) -> ClientBuilder {
        ClientBuilder {
            endpoint,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            limits: Limits::default(),
            crypto: None,
            interceptor: None,
        }
    }

    /// Connects with the defaults to the address in `SPIFFE_ENDPOINT_SOCKET`.
    ///
    /// # Errors
    /// [`Error::Endpoint`], [`Error::Connect`].
    pub async fn from_env() -> Result<Self, Error> {
        Self::builder(Endpoint::from_env()?).connect().await
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The response limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The crypto that loads keys and verifies SVIDs.
    pub fn crypto(&self) -> &Crypto {
        &self.crypto
    }

    /// The raw generated client, with the security header interceptor, for calls this crate
    /// does not wrap. Responses from it are not validated.
    pub fn raw(
        &self,
    ) -> SpiffeWorkloadApiClient<impl tonic::client::GrpcService<tonic::body::Body> + Clone + use<>>
    {
        self.grpc.clone()
    }

    async fn with_timeout<T>(
        &self,
        rpc: Rpc,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(Error::from_status(rpc, &status, self.timeout)),
            Err(_) => Err(Error::DeadlineExceeded {
                rpc,
                timeout: self.timeout,
            }),
        }
    }

    /// The current X.509-SVIDs and bundles (the first `FetchX509SVID` message).
    ///
    /// # Errors
    /// Status errors, [`Error::InvalidResponse`], [`Error::StreamEnded`] if the stream closes
    /// before its first message, [`Error::DeadlineExceeded`].
    pub async fn fetch_x509_context(&self) -> Result<X509Context, Error> {
        let mut stream = self.watch_x509_context().await?;
        self.first(&mut stream).await
    }

    /// Opens a `FetchX509SVID` stream: one validated [`X509Context`] per message.
    ///
    /// # Errors
    /// Status errors and [`Error::DeadlineExceeded`] while opening.
    pub async fn watch_x509_context(&self) -> Result<UpdateStream<X509Context>, Error> {
        let rpc = Rpc::FetchX509Svid;
        let mut grpc = self.grpc.clone();
        let inner = self
            .with_timeout(rpc, grpc.fetch_x509svid(proto::X509svidRequest {}))
            .await?;
        let limits = self.limits;
        let crypto = self.crypto.clone();
        Ok(UpdateStream::new(rpc, inner, move |message| {
            response::x509_context(message, &limits, &crypto, SystemTime::now())
        }))
    }

    /// The current X.509 bundles (the first `FetchX509Bundles` message).
    ///
    /// # Errors
    /// As [`fetch_x509_context`](Self::fetch_x509_context).
    pub async fn fetch_x509_bundles(&self) -> Result<BundleSet, Error> {
        let mut stream = self.watch_x509_bundles().await?;
        self.first(&mut stream).await
    }

    /// Opens a `FetchX509Bundles` stream.
    ///
    /// # Errors
    /// Status errors and [`Error::DeadlineExceeded`] while opening.
    pub async fn watch_x509_bundles(&self) -> Result<UpdateStream<BundleSet>, Error> {
        let rpc = Rpc::FetchX509Bundles;
        let mut grpc = self.grpc.clone();
        let inner = self
            .with_timeout(rpc, grpc.fetch_x509_bundles(proto::X509BundlesRequest {}))
            .await?;
        let limits = self.limits;
        Ok(UpdateStream::new(rpc, inner, move |message| {
            response::x509_bundles(message, &limits)
        }))
    }

    /// The current JWT bundles (the first `FetchJWTBundles` message).
    ///
    /// # Errors
    /// As [`fetch_x509_context`](Self::fetch_x509_context).
    pub async fn fetch_jwt_bundles(&self) -> Result<BundleSet, Error> {
        let mut stream = self.watch_jwt_bundles().await?;
        self.first(&mut stream).await
    }

    /// Opens a `FetchJWTBundles` stream.
    ///
    /// # Errors
    /// Status errors and [`Error::DeadlineExceeded`] while opening.
    pub async fn watch_jwt_bundles(&self) -> Result<UpdateStream<BundleSet>, Error> {
        let rpc = Rpc::FetchJwtBundles;
        let mut grpc = self.grpc.clone();
        let inner = self
            .with_timeout(rpc, grpc.fetch_jwt_bundles(proto::JwtBundlesRequest {}))
            .await?;
        let limits = self.limits;
        Ok(UpdateStream::new(rpc, inner, move |message| {
            response::jwt_bundles(message, &limits)
        }))
    }

    /// Mints JWT-SVIDs for `audience` (every value must be non-empty, at least one): for
    /// `spiffe_id` only, or for every identity of the workload when `None` (Workload API 6.2.1).
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for an empty audience; status errors
    /// ([`Error::PermissionDenied`] when not entitled), [`Error::InvalidResponse`],
    /// [`Error::DeadlineExceeded`].
    pub async fn fetch_jwt_svids<A: AsRef<str>>(
        &self,
        audience: &[A],
        spiffe_id: Option<&SpiffeId>,
    ) -> Result<Vec<JwtSvid>, Error> {
        let rpc = Rpc::FetchJwtSvid;
        let audience = check_audience(audience)?;
        let request = proto::JwtsvidRequest {
            audience: audience.clone(),
            spiffe_id: spiffe_id
                .map(|id| id.as_str().to_owned())
                .unwrap_or_default(),
        };
        let mut grpc = self.grpc.clone();
        let answer = self.with_timeout(rpc, grpc.fetch_jwtsvid(request)).await?;
        response::jwt_svids(
            &answer,
            &audience,
            spiffe_id,
            &self.limits,
            SystemTime::now(),
        )
        .map_err(|source| Error::invalid(rpc, source))
    }

    /// Mints one JWT-SVID: for `spiffe_id`, or the default identity (the first returned) when
    /// `None`.
    ///
    /// # Errors
    /// As [`fetch_jwt_svids`](Self::fetch_jwt_svids).
    pub async fn fetch_jwt_svid<A: AsRef<str>>(
        &self,
        audience: &[A],
        spiffe_id: Option<&SpiffeId>,
    ) -> Result<JwtSvid, Error> {
        self.fetch_jwt_svids(audience, spiffe_id)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::invalid(Rpc::FetchJwtSvid, ResponseError::NoSvids))
    }

    /// Asks the agent to validate `token` for `audience` (`ValidateJWTSVID`). The answer is
    /// cross-checked against the token itself: it must name the token's `sub`, and the token
    /// must carry the audience.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for an empty audience or token; [`Error::InvalidArgument`]
    /// when the agent rejects the token; [`Error::InvalidResponse`]; other status errors.
    pub async fn validate_jwt_svid(
        &self,
        audience: &str,
        token: &str,
    ) -> Result<AgentVerifiedJwtSvid, Error> {
        let rpc = Rpc::ValidateJwtSvid;
        if audience.is_empty() {
            return Err(Error::InvalidRequest("the audience is empty"));
        }
        if token.is_empty() {
            return Err(Error::InvalidRequest("the token is empty"));
        }
        let request = proto::ValidateJwtsvidRequest {
            audience: audience.to_owned(),
            svid: token.to_owned(),
        };
        let mut grpc = self.grpc.clone();
        let answer = self
            .with_timeout(rpc, grpc.validate_jwtsvid(request))
            .await?;
        response::validated_jwt_svid(&answer, token, audience)
            .map_err(|source| Error::invalid(rpc, source))
    }

    async fn first<T: Send + 'static>(&self, stream: &mut UpdateStream<T>) -> Result<T, Error> {
        let rpc = stream.rpc();
        match tokio::time::timeout(self.timeout, stream.next()).await {
            Ok(Some(result)) => result,
            Ok(None) => Err(Error::StreamEnded { rpc }),
            Err(_) => Err(Error::DeadlineExceeded {
                rpc,
                timeout: self.timeout,
            }),
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn check_audience<A: AsRef<str>>(audience: &[A]) -> Result<Vec<String>, Error> {
    if audience.is_empty() {
        return Err(Error::InvalidRequest("at least one audience is required"));
    }
    if audience.len() > svid::MAX_AUDIENCES {
        return Err(Error::InvalidRequest("too many audiences"));
    }
    audience
        .iter()
        .map(|a| {
            let a = a.as_ref();
            if a.is_empty() {
                Err(Error::InvalidRequest("an audience is empty"))
            } else {
                Ok(a.to_owned())
            }
        })
        .collect()
}
