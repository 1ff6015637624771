//! `Model::from_bytes` on the file part of the input, then every operation
//! with buffers and values from the tail ([`rrae_fuzz::run_model`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rrae_fuzz::run_model(data, |_| {}));
