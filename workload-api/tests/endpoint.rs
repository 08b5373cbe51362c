//! Endpoint address rules: every vector of digest 6.3 (Workload Endpoint 4), each with the exact
//! error it must give (E-1..E-8).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

use std::net::SocketAddr;
use std::path::Path;

use workload_api::{Endpoint, EndpointError, Error};

fn reason(address: &str) -> EndpointError {
    match Endpoint::parse(address) {
        Err(Error::InvalidEndpoint { reason, address: a }) => {
            assert_eq!(a, address);
            reason
        }
        other => panic!("{address:?}: expected InvalidEndpoint, got {other:?}"),
    }
}

fn unix(address: &str) -> std::path::PathBuf {
    match Endpoint::parse(address) {
        Ok(Endpoint::Unix(path)) => path,
        other => panic!("{address:?}: expected a unix endpoint, got {other:?}"),
    }
}

fn tcp(address: &str) -> SocketAddr {
    match Endpoint::parse(address) {
        Ok(Endpoint::Tcp(addr)) => addr,
        other => panic!("{address:?}: expected a tcp endpoint, got {other:?}"),
    }
}

#[test]
fn valid_unix_addresses() {
    assert_eq!(unix("unix:///tmp/agent.sock"), Path::new("/tmp/agent.sock"));
    assert_eq!(unix("unix:/tmp/agent.sock"), Path::new("/tmp/agent.sock"));
    // [rec] the scheme is case-insensitive (RFC 3986 3.1).
    assert_eq!(unix("UNIX:///tmp/agent.sock"), Path::new("/tmp/agent.sock"));
    assert_eq!(unix("unix:///tmp/a%20b.sock"), Path::new("/tmp/a b.sock"));
}

#[test]
fn valid_tcp_addresses() {
    assert_eq!(
        tcp("tcp://127.0.0.1:8000"),
        "127.0.0.1:8000".parse().unwrap()
    );
    assert_eq!(tcp("tcp://[::1]:8000"), "[::1]:8000".parse().unwrap());
}

/// E-1: a scheme other than unix or tcp, or none.
#[test]
fn e1_rejects_other_schemes() {
    assert_eq!(
        reason("http://127.0.0.1:8000"),
        EndpointError::UnsupportedScheme {
            scheme: "http".into()
        }
    );
    assert_eq!(
        reason("npipe:agent"),
        EndpointError::UnsupportedScheme {
            scheme: "npipe".into()
        }
    );
    assert_eq!(reason("/tmp/agent.sock"), EndpointError::NoScheme);
    assert_eq!(reason(""), EndpointError::Empty);
}

/// E-2: unix with an authority.
#[test]
fn e2_rejects_unix_authority() {
    assert_eq!(
        reason("unix://tmp/agent.sock"),
        EndpointError::UnixAuthority
    );
    assert_eq!(
        reason("unix://localhost/tmp/agent.sock"),
        EndpointError::UnixAuthority
    );
}

/// E-3: unix with a relative or empty path.
#[test]
fn e3_rejects_unix_relative_or_empty_path() {
    assert_eq!(
        reason("unix:tmp/agent.sock"),
        EndpointError::UnixRelativePath
    );
    assert_eq!(reason("unix://"), EndpointError::UnixNoPath);
    assert_eq!(reason("unix:"), EndpointError::UnixNoPath);
    assert_eq!(reason("unix:///"), EndpointError::UnixRootPath);
}

/// E-4: unix with query, fragment or userinfo.
#[test]
fn e4_rejects_unix_query_fragment_userinfo() {
    assert_eq!(reason("unix:///tmp/agent.sock?x=1"), EndpointError::Query);
    assert_eq!(reason("unix:///tmp/agent.sock#f"), EndpointError::Fragment);
    assert_eq!(
        reason("unix://user@/tmp/agent.sock"),
        EndpointError::UnixUserInfo
    );
}

/// E-5: tcp host that is not an IP.
#[test]
fn e5_rejects_tcp_names() {
    assert_eq!(reason("tcp://localhost:8000"), EndpointError::TcpHostNotIp);
    assert_eq!(reason("tcp://"), EndpointError::TcpNoHost);
    assert_eq!(reason("tcp://::1:8000"), EndpointError::TcpHostNotIp);
}

/// E-6: tcp without a (usable) port.
#[test]
fn e6_rejects_tcp_without_port() {
    assert_eq!(reason("tcp://127.0.0.1"), EndpointError::TcpNoPort);
    assert_eq!(reason("tcp://127.0.0.1:"), EndpointError::TcpNoPort);
    assert_eq!(reason("tcp://[::1]"), EndpointError::TcpNoPort);
    assert_eq!(reason("tcp://127.0.0.1:65536"), EndpointError::TcpBadPort);
    assert_eq!(reason("tcp://127.0.0.1:+80"), EndpointError::TcpBadPort);
    assert_eq!(reason("tcp://127.0.0.1:0"), EndpointError::TcpPortZero);
}

/// E-7: tcp with a path, query, fragment or userinfo, or without `//`.
#[test]
fn e7_rejects_tcp_extras() {
    assert_eq!(reason("tcp://127.0.0.1:8000/"), EndpointError::TcpPath);
    assert_eq!(reason("tcp://127.0.0.1:8000/foo"), EndpointError::TcpPath);
    assert_eq!(reason("tcp:127.0.0.1:8000"), EndpointError::TcpOpaque);
    assert_eq!(
        reason("tcp://john:doe@127.0.0.1:8000"),
        EndpointError::TcpUserInfo
    );
    assert_eq!(reason("tcp://127.0.0.1:8000?x"), EndpointError::Query);
    assert_eq!(reason("tcp://127.0.0.1:8000#x"), EndpointError::Fragment);
}

#[test]
fn rejects_non_uri_characters() {
    assert_eq!(reason("unix:///tmp/a b.sock"), EndpointError::NotAUri);
    assert_eq!(reason("unix:///tmp/a%zz.sock"), EndpointError::NotAUri);
}

#[test]
fn display_is_canonical_and_round_trips() {
    for address in [
        "unix:///tmp/agent.sock",
        "tcp://127.0.0.1:8000",
        "tcp://[::1]:8000",
    ] {
        let endpoint = Endpoint::parse(address).unwrap();
        assert_eq!(endpoint.to_string(), address);
        assert_eq!(Endpoint::parse(&endpoint.to_string()).unwrap(), endpoint);
    }
    assert_eq!(
        Endpoint::parse("unix:/tmp/agent.sock").unwrap().to_string(),
        "unix:///tmp/agent.sock"
    );
}

/// E-8: no explicit address: `SPIFFE_ENDPOINT_SOCKET`, and a missing variable names itself.
/// One test owns the variable (tests in this binary run in parallel threads).
#[test]
fn e8_falls_back_to_the_environment() {
    // `set_var` is unsafe in edition 2024 (and unsafe code is forbidden): use a child process.
    let exe = std::env::current_exe().unwrap();
    let run = |value: Option<&str>| {
        let mut command = std::process::Command::new(&exe);
        command
            .args(["--exact", "env_probe", "--nocapture", "--ignored"])
            .env_remove("SPIFFE_ENDPOINT_SOCKET");
        if let Some(value) = value {
            command.env("SPIFFE_ENDPOINT_SOCKET", value);
        }
        let output = command.output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let unset = run(None);
    assert!(
        unset.contains("PROBE: err: no workload api address configured"),
        "{unset}"
    );
    assert!(unset.contains("SPIFFE_ENDPOINT_SOCKET"), "{unset}");
    let set = run(Some("unix:///run/agent.sock"));
    assert!(set.contains("PROBE: ok: unix:///run/agent.sock"), "{set}");
    let bad = run(Some("tcp://localhost:1"));
    assert!(
        bad.contains("PROBE: err: invalid workload api address"),
        "{bad}"
    );
    // An explicit address wins over the variable.
    assert_eq!(
        Endpoint::explicit_or_env(Some("tcp://127.0.0.1:9")).unwrap(),
        Endpoint::Tcp("127.0.0.1:9".parse().unwrap())
    );
}

/// Run by `e8_falls_back_to_the_environment` in a child process with a controlled environment.
#[test]
#[ignore = "helper process for e8_falls_back_to_the_environment"]
fn env_probe() {
    match Endpoint::from_env() {
        Ok(endpoint) => println!("PROBE: ok: {endpoint}"),
        Err(error) => println!("PROBE: err: {error}"),
    }
}
