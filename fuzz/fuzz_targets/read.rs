//! `rrae_format::read` on arbitrary bytes (copied into a 16-aligned buffer):
//! never panics, and a successful read keeps its promises
//! ([`rrae_fuzz::check_read`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rrae_fuzz::check_read(data));
