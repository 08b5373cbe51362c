//! Fuzz target `bundle_document`: the properties are in `checks/bundle_document.rs`, shared with the stable corpus
//! replay test (`benches/tests/fuzz_corpus_replay.rs`).

#![no_main]

#[allow(dead_code, reason = "each target uses one check of the shared module")]
#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::bundle_document::check(data));
