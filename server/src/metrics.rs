//! What the server counts, through the `metrics` facade: nothing is recorded unless the
//! application installed a recorder (the `server` binary installs a Prometheus one when its
//! `health_address` is configured).
//!
//! | name | kind | meaning |
//! |---|---|---|
//! | `spiffe_server_attestations_total` | counter | node attestations, by `method` and `result` (`ok`, `refused`) |
//! | `spiffe_server_agent_svids_issued_total` | counter | agent SVIDs (attestation and renewal) |
//! | `spiffe_server_x509_svids_issued_total` | counter | workload X509-SVIDs signed for nodes |
//! | `spiffe_server_jwt_svids_issued_total` | counter | JWT-SVIDs signed for nodes |
//! | `spiffe_server_refusals_total` | counter | refused node calls, by `what` (`call`, `x509-svid`, `jwt-svid`, `rate`, `attestation`) |

/// Node attestations.
pub const ATTESTATIONS: &str = "spiffe_server_attestations_total";
/// Agent SVIDs issued.
pub const AGENT_SVIDS_ISSUED: &str = "spiffe_server_agent_svids_issued_total";
/// Workload X509-SVIDs issued.
pub const X509_SVIDS_ISSUED: &str = "spiffe_server_x509_svids_issued_total";
/// JWT-SVIDs issued.
pub const JWT_SVIDS_ISSUED: &str = "spiffe_server_jwt_svids_issued_total";
/// Refused node calls.
pub const REFUSALS: &str = "spiffe_server_refusals_total";

/// Gives every metric its help text (call once after installing a recorder).
pub fn describe() {
    metrics::describe_counter!(ATTESTATIONS, "node attestations by method and result");
    metrics::describe_counter!(AGENT_SVIDS_ISSUED, "agent SVIDs issued");
    metrics::describe_counter!(X509_SVIDS_ISSUED, "workload X509-SVIDs issued");
    metrics::describe_counter!(JWT_SVIDS_ISSUED, "JWT-SVIDs issued");
    metrics::describe_counter!(REFUSALS, "refused node calls by kind");
}

pub(crate) fn attestation(method: &'static str, ok: bool) {
    let result = if ok { "ok" } else { "refused" };
    metrics::counter!(ATTESTATIONS, "method" => method, "result" => result).increment(1);
}

pub(crate) fn agent_svid_issued() {
    metrics::counter!(AGENT_SVIDS_ISSUED).increment(1);
}

pub(crate) fn x509_svid_issued() {
    metrics::counter!(X509_SVIDS_ISSUED).increment(1);
}

pub(crate) fn jwt_svid_issued() {
    metrics::counter!(JWT_SVIDS_ISSUED).increment(1);
}

pub(crate) fn refused(what: &'static str) {
    metrics::counter!(REFUSALS, "what" => what).increment(1);
}
