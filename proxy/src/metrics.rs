//! What the proxy counts, through the `metrics` facade: nothing is recorded unless the
//! application installed a recorder (the `spiffekit-proxy` binary installs a Prometheus one
//! when `admin_address` is set and serves it on `/metrics`).
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `spiffekit_proxy_connections_total` | counter | `mode`, `result` | connections accepted, by how they ended: `ok`, `refused`, `handshake_failed`, `handshake_timeout`, `backend_error`, `idle_timeout`, `error` (HTTP backends: also one `backend_error` per request the backend could not take) |
//! | `spiffekit_proxy_refusals_total` | counter | `mode`, `reason` | peers refused, by [`RefusalReason`] |
//! | `spiffekit_proxy_bytes_total` | counter | `mode`, `direction` | bytes forwarded: `in` read from the accepted side, `out` read from the side the proxy opened |
//! | `spiffekit_proxy_handshake_seconds` | histogram | `mode` | duration of successful TLS handshakes |
//! | `spiffekit_proxy_open_connections` | gauge | `mode` | connections open now |
//!
//! `mode` is `server` (mTLS in) or `client` (mTLS out). In HTTP mode `bytes` are not counted
//! (hyper owns the bodies); connections and requests are.

use std::time::Duration;

use crate::error::RefusalReason;
use crate::options::Mode;

/// Connections by mode and result.
pub const CONNECTIONS: &str = "spiffekit_proxy_connections_total";
/// Refused peers by mode and reason.
pub const REFUSALS: &str = "spiffekit_proxy_refusals_total";
/// Bytes forwarded by mode and direction.
pub const BYTES: &str = "spiffekit_proxy_bytes_total";
/// TLS handshake duration, in seconds.
pub const HANDSHAKE_SECONDS: &str = "spiffekit_proxy_handshake_seconds";
/// Connections open now.
pub const OPEN_CONNECTIONS: &str = "spiffekit_proxy_open_connections";

/// Gives every metric its help text (call once after installing a recorder).
pub fn describe() {
    metrics::describe_counter!(CONNECTIONS, "connections accepted, by mode and result");
    metrics::describe_counter!(REFUSALS, "peers refused, by mode and reason");
    metrics::describe_counter!(BYTES, "bytes forwarded, by mode and direction");
    metrics::describe_histogram!(
        HANDSHAKE_SECONDS,
        metrics::Unit::Seconds,
        "duration of successful TLS handshakes"
    );
    metrics::describe_gauge!(OPEN_CONNECTIONS, "connections open now");
}

pub(crate) fn connection(mode: Mode, result: &'static str) {
    metrics::counter!(CONNECTIONS, "mode" => mode.as_str(), "result" => result).increment(1);
}

pub(crate) fn refusal(mode: Mode, reason: RefusalReason) {
    metrics::counter!(REFUSALS, "mode" => mode.as_str(), "reason" => reason.as_str()).increment(1);
}

pub(crate) fn bytes(mode: Mode, direction: &'static str) -> metrics::Counter {
    metrics::counter!(BYTES, "mode" => mode.as_str(), "direction" => direction)
}

pub(crate) fn handshake(mode: Mode, took: Duration) {
    metrics::histogram!(HANDSHAKE_SECONDS, "mode" => mode.as_str()).record(took.as_secs_f64());
}

/// Counts an open connection until dropped.
pub(crate) struct OpenGuard(Mode);

impl OpenGuard {
    pub(crate) fn new(mode: Mode) -> Self {
        metrics::gauge!(OPEN_CONNECTIONS, "mode" => mode.as_str()).increment(1.0);
        Self(mode)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        metrics::gauge!(OPEN_CONNECTIONS, "mode" => self.0.as_str()).decrement(1.0);
    }
}

/// A backend that could not be reached for an HTTP request (the connection goes on).
pub(crate) fn backend_error(mode: Mode) {
    connection(mode, "backend_error");
}
