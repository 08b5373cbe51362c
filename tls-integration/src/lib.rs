//! rustls verifiers and certificate resolvers for SPIFFE identities, with hyper, tonic and tower helpers
