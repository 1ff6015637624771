#!/usr/bin/env bash
# Install everything the checks need, idempotently; fast when already present.
#   - rustfmt and clippy for the host toolchain (rustup components)
#   - the Cortex-M toolchain (Debian rustc-web + rust-src, lld, QEMU, binutils)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v rustup >/dev/null; then
  echo "setup: rustup is required for the host toolchain (https://rustup.rs); it is not on PATH" >&2
  exit 1
fi
have_component() { rustup component list --installed 2>/dev/null | grep -q "^$1"; }
for c in rustfmt clippy; do
  if ! have_component "$c"; then
    echo "setup: installing rustup component $c"
    rustup component add "$c"
  fi
done

bash scripts/install-embedded-toolchain.sh
