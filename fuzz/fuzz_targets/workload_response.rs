//! Fuzz target `workload_response`: the properties are in `checks/workload_response.rs`,
//! shared with the stable corpus replay test (`benches/tests/fuzz_corpus_replay.rs`).

#![no_main]

#[allow(dead_code, reason = "each target uses one check of the shared module")]
#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::workload_response::check(data));
