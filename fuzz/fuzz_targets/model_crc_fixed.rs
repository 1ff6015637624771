//! Structure-aware `model`: both CRCs of the file part are recomputed before
//! reading, so mutations of the header fields, metadata and weights reach
//! the validation behind the checksums.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rrae_fuzz::run_model(data, rrae_fuzz::fix_crcs));
