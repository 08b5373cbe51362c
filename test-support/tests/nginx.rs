//! The nginx launcher itself: a real nginx answers on its port, reloads on SIGHUP, and is gone
//! after drop.
#![cfg(feature = "nginx")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed step is a failed test"
)]

use std::io::{Read, Write};
use std::net::TcpStream;

use test_support::nginx::NginxServer;

fn get(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn serves_reloads_and_stops() {
    let http =
        "server { listen 127.0.0.1:{port}; location / { return 200 \"hello from {prefix}\"; } }";
    let Some(nginx) = NginxServer::start_or_skip("serves_reloads_and_stops", http) else {
        return;
    };
    let port = nginx.port();
    let response = get(port).expect("nginx answers");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(&nginx.prefix().display().to_string()),
        "{response}"
    );
    nginx.reload().expect("SIGHUP sent");
    assert!(
        get(port)
            .expect("still answers after reload")
            .contains("200")
    );
    drop(nginx);
    assert!(get(port).is_err(), "nginx still listening after drop");
}
