//! `rrae_trainer::tflite::import` on arbitrary bytes: never panics, and an
//! imported model is a valid `.rrae` file ([`rrae_fuzz::check_import`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rrae_fuzz::check_import(data));
