#!/usr/bin/env bash
# Small-data test bed (issue #17; bench/small_data.py says what the cases are).
#
#   bench/small_data.sh [TRAINER [LABEL [extra trainer fit flags...]]]
#
# Creates bench/.venv-small (numpy, scikit-learn, statsmodels from PyPI) when
# missing, writes the cases to data/small/ (Fashion-MNIST only when
# scripts/get-fashion-mnist.sh installed it), runs TRAINER (default: this
# checkout's release build) for seeds 0-4 and prints the markdown table of
# every label run so far (data/small/results-LABEL.json).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV=bench/.venv-small
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import sklearn, statsmodels" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q numpy scikit-learn statsmodels
fi
TRAINER="${1:-$ROOT/target/release/trainer}"
LABEL="${2:-after}"
shift $(( $# > 2 ? 2 : $# ))
if [ "$TRAINER" = "$ROOT/target/release/trainer" ]; then cargo build --release -q -p rrae-trainer; fi
export OPENBLAS_NUM_THREADS=1 RAYON_NUM_THREADS=1
"$VENV/bin/python" bench/small_data.py prepare data/small
"$VENV/bin/python" bench/small_data.py run data/small "$TRAINER" "$LABEL" --extra "$@"
labels=$(ls data/small/results-*.json | sed 's/.*results-\(.*\)\.json/\1/' | sort)
# shellcheck disable=SC2086
"$VENV/bin/python" bench/small_data.py table data/small $labels
