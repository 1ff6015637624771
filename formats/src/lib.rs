#![no_std]
//! The `.rrae` model file (work in progress).
pub mod meta;
