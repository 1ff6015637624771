#!/usr/bin/env bash
# Install Fashion-MNIST (60,000 + 10,000 grey 28 x 28 images, MIT licence) from
# Debian's package `dataset-fashion-mnist`, idempotently. The original IDX
# files, gzipped, land in /usr/share/datasets/fashion-mnist/:
#   train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz
#   t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz
# which `trainer fit --data ... --test ...` reads directly (docs/TRAINING.md).
#
#   scripts/get-fashion-mnist.sh     # does nothing when the directory exists
#
# Needs root (apt-get) when the data are missing.
set -euo pipefail

DIR=/usr/share/datasets/fashion-mnist
if [ -d "$DIR" ]; then
    echo "fashion-mnist: already installed in $DIR"
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "fashion-mnist: apt-get not found; install the Debian package dataset-fashion-mnist by other means" >&2
    exit 1
fi
SUDO=()
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then SUDO=(sudo); else
        echo "fashion-mnist: run as root (apt-get install needs it)" >&2
        exit 1
    fi
fi
echo "fashion-mnist: installing dataset-fashion-mnist (apt-get update, then install)"
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist
if [ ! -d "$DIR" ]; then
    echo "fashion-mnist: installed, but $DIR is missing" >&2
    exit 1
fi
echo "fashion-mnist: installed in $DIR"
