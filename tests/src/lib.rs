//! Cross-crate tests for rrae-rs live in `tests/tests/`; this library holds
//! helpers they share.
