#!/usr/bin/env bash
# Run every check of the project: formatting, lints, all tests (host), and the
# firmware example built for Cortex-M4F and run in QEMU, the link-time panic
# check, and a smoke run of the benchmarks. This is the command
# the README names and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "setup (idempotent)"
bash scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p rrae-format --no-default-features --locked -- -D warnings

step "cargo doc -D warnings (broken links, bad HTML in docs)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "cargo test --workspace"
cargo test --workspace --locked

step "python package rrae: extension lints/tests, venv (cached), pytest"
bash python/run-tests.sh

step "firmware: thumbv7em/thumbv6m builds, QEMU run"
bash scripts/firmware.sh

step "panic-check: no reachable panic in rrae-runtime (link-time proof, thumbv7em)"
bash scripts/panic-check.sh

step "benchmark smoke run (bench/run --quick: reference rraes + TFLM side by side, tiny sizes)"
bench/run --quick

echo
echo "all checks passed"
