#!/usr/bin/env bash
# Tests of the Python package `rrae` (python/): rustfmt, clippy and unit
# tests of the extension crate, the venv and the extension build
# (setup-venv.sh), the trainer binary the CLI-comparison tests run, then
# pytest (the tests in python/tests and the docstring examples).
#
#   python/run-tests.sh [pytest args...]
#
# Exits non-zero on any failure, including pytest collecting no test.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# Build into the main workspace's target/ (see python/Cargo.toml).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd "$HERE/.." && pwd)/target}"
ROOT="$(cd "$HERE/.." && pwd)"
t0=$(date +%s)

(cd "$HERE" && cargo fmt --check && cargo clippy --quiet --release --all-targets -- -D warnings \
    && cargo test --quiet --release --lib)

VENV="$("$HERE/setup-venv.sh" | tail -n 1)"

(cd "$ROOT" && cargo build --quiet --release -p rrae-trainer --bin trainer)
export RRAE_TRAINER="$ROOT/target/release/trainer"

cd "$HERE"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --doctest-modules rrae tests "$@"
echo "python/run-tests.sh: done in $(( $(date +%s) - t0 )) s"
