//! An embeddable SPIFFE Workload API server (node agent) backed by the ca crate
