#!/usr/bin/env python3
"""Export scikit-learn's bundled 8 x 8 digits (1,797 images, no download) to
.npy files that `trainer fit --data` reads as images:

    OUT/digits_train.npy        N x 8 x 8 float32 in [0, 1] (pixel / 16)
    OUT/digits_test.npy         the held-out 20 %, same layout
    OUT/digits_train_labels.npy N int64 class labels (0-9), likewise _test_

The split is a fixed permutation (numpy default_rng(SEED)), so the files are
the same on every machine.

Run it from the repository root in a venv with scikit-learn:

    python3 -m venv bench/.venv-digits
    bench/.venv-digits/bin/pip install scikit-learn numpy
    bench/.venv-digits/bin/python bench/digits_to_npy.py --out data/digits
    trainer fit --data data/digits/digits_train.npy \\
        --test data/digits/digits_test.npy --k 8 --out runs/digits
"""

import argparse
import pathlib
import sys

SEED = 0
TEST_FRACTION = 0.2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="data/digits", help="output directory (created)")
    args = ap.parse_args()
    try:
        import numpy as np
        from sklearn.datasets import load_digits
    except ImportError as e:
        print(f"error: {e.name} is missing; pip install scikit-learn numpy (see --help)",
              file=sys.stderr)
        return 1

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)  # N x 8 x 8, values 0..16
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(SEED).permutation(len(images))
    n_test = round(TEST_FRACTION * len(images))
    test, train = order[:n_test], order[n_test:]

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, idx in (("train", np.sort(train)), ("test", np.sort(test))):
        np.save(out / f"digits_{split}.npy", images[idx])
        np.save(out / f"digits_{split}_labels.npy", labels[idx])
        print(f"{out / f'digits_{split}.npy'}: {len(idx)} x 8 x 8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
