//! SPIFFE Workload API client and self-rotating X.509 / JWT / bundle sources

pub mod proto;
