#!/usr/bin/env bash
# Creates (once) the Python venv for the `rrae` package and its tests, then
# builds and installs the package into it (maturin develop --release).
#
#   python/setup-venv.sh        prints the venv's path on its last line
#
# The venv lives outside the checkout, keyed by the hash of
# requirements.lock and the interpreter version:
#   ${RRAE_PY_CACHE:-${XDG_CACHE_HOME:-~/.cache}/rrae-python}/venv-<key>
# so a fresh clone on the same machine (CI) reuses it, and editing the lock
# builds a new one (older ones are removed). A venv is used only once its
# install finished (marker file), so an interrupted run starts over.
# Knobs: PYTHON (interpreter, default python3), RRAE_VENV (explicit path).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# Build into the main workspace's target/ (see python/Cargo.toml).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd "$HERE/.." && pwd)/target}"
PY="${PYTHON:-python3}"
LOCK="$HERE/requirements.lock"
KEY="$({ cat "$LOCK"; "$PY" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)"
CACHE="${RRAE_PY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rrae-python}"
VENV="${RRAE_VENV:-$CACHE/venv-$KEY}"

if [ ! -f "$VENV/.rrae-complete" ]; then
    t0=$(date +%s)
    echo "setup-venv: creating $VENV (torch and its CUDA libraries, 4.4 GB: minutes)" >&2
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV"
    # The lock lists every package (torch without the CUDA extras it does not
    # need on CPU, see requirements.lock), so the resolver is not run.
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r "$LOCK" >&2
    touch "$VENV/.rrae-complete"
    if [ -z "${RRAE_VENV:-}" ]; then
        find "$CACHE" -maxdepth 1 -name 'venv-*' ! -path "$VENV" -exec rm -rf {} + 2>/dev/null || true
    fi
    echo "setup-venv: venv ready in $(( $(date +%s) - t0 )) s" >&2
fi

# Build and install the extension (incremental: seconds when nothing changed).
(cd "$HERE" && VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" \
    "$VENV/bin/maturin" develop --release --quiet >&2)
echo "$VENV"
