//! The README's "mTLS server in 20 lines", compiled as an example so that the sample cannot rot:
//! `tests/readme.rs` checks that the README shows exactly the body of [`serve`].
//!
//! It needs a Workload API: start the agent binary in one terminal and this in another.
//!
//! ```text
//! cargo run -p spiffekit-agent --bin agent -- --config agent/agent.example.toml
//! SPIFFE_ENDPOINT_SOCKET=unix:///tmp/spiffe-agent.sock cargo run -p examples --example mtls-server
//! ```
//!
//! It serves on port 8443 until Ctrl-C, and answers only callers whose SVID matches
//! `spiffe://prod.example/ns/payments/**`.

use std::error::Error;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    serve().await
}

/// The README sample, line for line.
#[rustfmt::skip]
async fn serve() -> Result<(), Box<dyn Error>> {
    // README: begin
    use std::sync::Arc;
    use spiffe_id::IdMatcher;
    use tls_integration::{PeerInfo, SpiffeTls, net::SpiffeAcceptor};
    use workload_client::X509Source;

    let source = X509Source::from_env().await?; // SPIFFE_ENDPOINT_SOCKET; waits for the first SVID
    let tls = SpiffeTls::new(svid::Crypto::default());
    let config = tls.mtls_server(
        Arc::new(source.clone()), // the SVID to present: always the current one
        Arc::new(source),         // the bundles that verify callers: always the current ones
        IdMatcher::pattern("spiffe://prod.example/ns/payments/**")?,
    )?;
    let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
    let hello = hyper::service::service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
        let caller = request.extensions().get::<PeerInfo>().and_then(PeerInfo::spiffe_id).cloned();
        Ok::<_, std::convert::Infallible>(hyper::Response::new(format!("hello {caller:?}")))
    });
    tls_integration::hyper::serve(listener, SpiffeAcceptor::new(config), hello, tokio::signal::ctrl_c()).await?;
    // README: end
    Ok(())
}
