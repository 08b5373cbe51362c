//! An HTTPS server on hyper that requires client SVIDs from the payments namespace, and that
//! curl can call: its SVID carries a DNS SAN (`localhost`) next to its SPIFFE ID, so curl's
//! hostname check passes, while SPIFFE clients ignore the name and check the SPIFFE ID.
//!
//! By default the example writes the CA bundle and a client SVID to a temporary directory,
//! starts the server, calls it with `curl` (when installed) and with a Rust client, and exits.
//! With `--serve` it keeps serving and prints the curl command to run by hand:
//!
//! ```text
//! cargo run -p examples --example hyper-curl -- --serve
//! curl --cacert DIR/bundle.pem --cert DIR/client.pem --key DIR/client.key https://localhost:PORT/
//! ```

use std::convert::Infallible;
use std::error::Error;
use std::sync::Arc;

use base64::Engine as _;
use ca::{TestCa, X509SvidRequest};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use spiffe_id::IdMatcher;
use tls_integration::net::{SpiffeAcceptor, SpiffeConnector};
use tls_integration::{PeerInfo, SpiffeTls};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let serve_forever = std::env::args().any(|arg| arg == "--serve");
    run(serve_forever).await
}

async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let caller = request
        .extensions()
        .get::<PeerInfo>()
        .and_then(PeerInfo::spiffe_id)
        .map_or_else(|| "anonymous".to_owned(), ToString::to_string);
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello {caller}\n"
    )))))
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .filter_map(|line| std::str::from_utf8(line).ok())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// Runs the demo; with `serve_forever`, serves until Ctrl-C instead of exiting.
pub async fn run(serve_forever: bool) -> Result<(), Box<dyn Error>> {
    let ca = TestCa::new("prod.example");
    let dir = tempfile::tempdir()?;
    let bundle_path = dir.path().join("bundle.pem");
    let bundle_pem: String = ca
        .x509_bundle()
        .authorities()
        .iter()
        .map(|c| pem(c))
        .collect();
    std::fs::write(&bundle_path, bundle_pem)?;
    let client_svid = ca.x509_svid("/ns/payments/sa/curl");
    let (cert_path, key_path) = (dir.path().join("client.pem"), dir.path().join("client.key"));
    client_svid.save(&cert_path, &key_path)?;

    let server_svid = ca.x509_svid_with(
        &X509SvidRequest::new(ca.id("/ns/payments/sa/web")).dns_names(["localhost"]),
    );
    let tls = SpiffeTls::new(svid::Crypto::default());
    let config = tls.mtls_server(
        Arc::new(Arc::new(server_svid)),
        Arc::new(ca.bundle_set()),
        IdMatcher::pattern("spiffe://prod.example/ns/payments/**")?,
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tls_integration::hyper::serve(
        listener,
        SpiffeAcceptor::new(config),
        hyper::service::service_fn(hello),
        async move {
            let _ = stopped.await;
        },
    ));
    let curl_args = [
        "--silent".to_owned(),
        "--show-error".to_owned(),
        "--cacert".to_owned(),
        bundle_path.display().to_string(),
        "--cert".to_owned(),
        cert_path.display().to_string(),
        "--key".to_owned(),
        key_path.display().to_string(),
        format!("https://localhost:{port}/"),
    ];

    if serve_forever {
        println!(
            "serving on https://localhost:{port}/ ; try:\n  curl {}",
            curl_args.join(" ")
        );
        tokio::signal::ctrl_c().await?;
    } else {
        curl(&curl_args).await;
        // The same call from Rust, as a SPIFFE client (it checks the SPIFFE ID, not the name).
        let client_config = tls.mtls_client(
            Arc::new(Arc::new(client_svid)),
            Arc::new(ca.bundle_set()),
            IdMatcher::exact(ca.id("/ns/payments/sa/web")),
        )?;
        let client: Client<SpiffeConnector, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build(SpiffeConnector::new(client_config));
        let response = client
            .get(format!("https://localhost:{port}/").parse()?)
            .await?;
        let body = response.into_body().collect().await?.to_bytes();
        let body = String::from_utf8_lossy(&body);
        print!("rust client -> {body}");
        assert_eq!(body, "hello spiffe://prod.example/ns/payments/sa/curl\n");
    }
    let _ = stop.send(());
    server.await??;
    drop(dir);
    Ok(())
}

async fn curl(args: &[String]) {
    match tokio::process::Command::new("curl")
        .args(args)
        .output()
        .await
    {
        Ok(output) => print!(
            "curl -> {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            println!("curl not installed: skipping the curl call");
        }
        Err(error) => println!("curl failed to start: {error}"),
    }
}
