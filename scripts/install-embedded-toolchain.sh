#!/usr/bin/env bash
# Install the Cortex-M toolchain used by scripts/firmware.sh, idempotently.
#
# Debian bookworm's rustc-web 1.96 ships its exactly matching library source
# (rust-web-src), so cargo's build-std can compile `core` for any built-in
# thumb target. rustup's stable cannot (no rust-src download on these
# machines). See README.md, "On a microcontroller".
#
# Skips in well under a second when everything is present. Needs root (or
# sudo) only when something is missing.
set -euo pipefail

need_rust=0
[ -e /usr/lib/rustlib/src/rust/library/Cargo.lock ] || need_rust=1
[ -x /usr/bin/lld-22 ] || need_rust=1
command -v qemu-system-arm >/dev/null 2>&1 || need_rust=1
need_binutils=0
command -v arm-none-eabi-size >/dev/null 2>&1 || need_binutils=1

if [ "$need_rust" = 0 ] && [ "$need_binutils" = 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-embedded-toolchain: missing packages and not root (no sudo)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive

echo "install-embedded-toolchain: installing Debian rustc-web + rust-src, lld-22, QEMU, binutils"
$SUDO apt-get update -q
if [ "$need_rust" = 1 ]; then
  # --no-install-recommends: without it the install grows to ~4.5 GB and
  # replaces the machine's newer qemu-utils.
  $SUDO apt-get install -y -q --no-install-recommends \
    rustc-web cargo-web rust-web-src libstd-rust-web-dev rust-web-llvm lld-22 \
    rust-web-clippy binutils-arm-none-eabi qemu-system-arm
fi
if ! command -v arm-none-eabi-size >/dev/null 2>&1; then
  $SUDO apt-get install -y -q --no-install-recommends binutils-arm-none-eabi
fi
