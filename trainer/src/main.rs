//! `trainer` binary (work in progress).
fn main() {}
