#!/usr/bin/env bash
# Install everything the checks need, idempotently; fast when already present.
#   - rustfmt and clippy for the host toolchain (rustup components)
#   - the Cortex-M toolchain (Debian rustc-web + rust-src, lld, QEMU, binutils)
set -euo pipefail
cd "$(dirname "$0")/.."

have_component() { rustup component list --installed 2>/dev/null | grep -q "^$1"; }
for c in rustfmt clippy; do
  if ! have_component "$c"; then
    echo "setup: installing rustup component $c"
    rustup component add "$c"
  fi
done

bash scripts/install-embedded-toolchain.sh
