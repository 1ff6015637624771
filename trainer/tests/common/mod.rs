//! Helpers shared by the tests that run the `trainer` binary.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `trainer` binary with `args`.
pub fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .output()
        .expect("run trainer")
}

/// Runs `trainer args`, which must succeed without a warning; its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = trainer(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    assert!(!stderr.contains("warning"), "{args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `trainer args`, which must fail with an `error: ` mentioning
/// `needle`; its stderr.
pub fn fails(args: &[&str], needle: &str) -> String {
    let out = trainer(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "expected '{needle}' in: {stderr}");
    stderr
}

/// `p` as a `&str` (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `trainer interpolate` on `model` over `shift`'s training parameters
/// 0 to 150 in `steps` steps into `out` (plus `extra` flags), which must
/// succeed; its stdout. (Not every test binary that includes this module
/// interpolates.)
#[allow(dead_code)]
pub fn interpolate_shift(model: &str, steps: &str, out: &Path, extra: &[&str]) -> String {
    let args = [
        "interpolate",
        "--model",
        model,
        "--dataset",
        "shift",
        "--split",
        "train",
        "--from",
        "0",
        "--to",
        "150",
        "--steps",
        steps,
        "--out",
        s(out),
    ];
    ok(&[&args[..], extra].concat())
}
