//! What the agent counts, through the `metrics` facade: nothing is recorded unless the
//! application installed a recorder (the `agent` binary installs a Prometheus one when its
//! health port is configured).
//!
//! | name | kind | meaning |
//! |---|---|---|
//! | `spiffe_agent_x509_svids_issued_total` | counter | X509-SVIDs minted (first issue, rotation, re-issue) |
//! | `spiffe_agent_jwt_svids_issued_total` | counter | JWT-SVIDs minted (cache hits are not minted) |
//! | `spiffe_agent_svid_mint_failures_total` | counter | mints the CA refused or failed |
//! | `spiffe_agent_ca_rotations_total` | counter | changes of the CA's active X.509 authority seen by the agent |
//! | `spiffe_agent_attestation_failures_total` | counter | callers whose attestation failed |
//! | `spiffe_agent_open_streams` | gauge | Workload API streams open now |
//! | `spiffe_agent_store_operation_seconds` | histogram | time of each store operation |
//! | `spiffe_agent_upstream_connected` | gauge | upstream mode: 1 when the last sync with a server succeeded, 0 when it failed |

use std::time::Duration;

/// X509-SVIDs minted.
pub const X509_SVIDS_ISSUED: &str = "spiffe_agent_x509_svids_issued_total";
/// JWT-SVIDs minted.
pub const JWT_SVIDS_ISSUED: &str = "spiffe_agent_jwt_svids_issued_total";
/// Mints that failed.
pub const MINT_FAILURES: &str = "spiffe_agent_svid_mint_failures_total";
/// Changes of the CA's active X.509 authority.
pub const CA_ROTATIONS: &str = "spiffe_agent_ca_rotations_total";
/// Callers whose attestation failed.
pub const ATTESTATION_FAILURES: &str = "spiffe_agent_attestation_failures_total";
/// Workload API streams open now.
pub const OPEN_STREAMS: &str = "spiffe_agent_open_streams";
/// Duration of store operations, in seconds.
pub const STORE_OPERATION_SECONDS: &str = "spiffe_agent_store_operation_seconds";

/// 1 when the last sync with a server succeeded (upstream mode).
pub const UPSTREAM_CONNECTED: &str = "spiffe_agent_upstream_connected";

/// Gives every metric its help text, for the recorder installed (call once after installing
/// it; harmless without one).
pub fn describe() {
    metrics::describe_counter!(X509_SVIDS_ISSUED, "X509-SVIDs minted by the agent");
    metrics::describe_counter!(JWT_SVIDS_ISSUED, "JWT-SVIDs minted by the agent");
    metrics::describe_counter!(MINT_FAILURES, "SVID mints the CA refused or failed");
    metrics::describe_counter!(
        CA_ROTATIONS,
        "changes of the CA's active X.509 authority seen by the agent"
    );
    metrics::describe_counter!(
        ATTESTATION_FAILURES,
        "Workload API callers whose attestation failed"
    );
    metrics::describe_gauge!(OPEN_STREAMS, "Workload API streams open now");
    metrics::describe_gauge!(
        UPSTREAM_CONNECTED,
        "1 when the last sync with a server succeeded (upstream mode)"
    );
    metrics::describe_histogram!(
        STORE_OPERATION_SECONDS,
        metrics::Unit::Seconds,
        "duration of persistent store operations"
    );
}

pub(crate) fn x509_svid_issued() {
    metrics::counter!(X509_SVIDS_ISSUED).increment(1);
}

pub(crate) fn jwt_svid_issued() {
    metrics::counter!(JWT_SVIDS_ISSUED).increment(1);
}

pub(crate) fn mint_failed() {
    metrics::counter!(MINT_FAILURES).increment(1);
}

pub(crate) fn ca_rotated() {
    metrics::counter!(CA_ROTATIONS).increment(1);
}

pub(crate) fn attestation_failed() {
    metrics::counter!(ATTESTATION_FAILURES).increment(1);
}

pub(crate) fn upstream_connected(connected: bool) {
    metrics::gauge!(UPSTREAM_CONNECTED).set(if connected { 1.0 } else { 0.0 });
}

pub(crate) fn stream_opened() {
    metrics::gauge!(OPEN_STREAMS).increment(1.0);
}

pub(crate) fn stream_closed() {
    metrics::gauge!(OPEN_STREAMS).decrement(1.0);
}

/// Records how long a store operation took.
pub fn store_operation(operation: &'static str, took: Duration) {
    metrics::histogram!(STORE_OPERATION_SECONDS, "operation" => operation)
        .record(took.as_secs_f64());
}
