#!/usr/bin/env python3
"""How well can *anything* built from the 20 training curves of
`gaussian_shift` do on its test set?

Prints, side by side, test errors (100 * ||X - X_hat||_F / ||X||_F over the
whole test set, the trainer's metric) of predictors that know the test
parameter p and use only the training curves:

* nearest neighbour: the training curve with the closest p;
* linear blend: (1 - w) * x(p_i) + w * x(p_{i+1}) between the two enclosing
  training curves (what a decoder does that interpolates linearly in output
  space between training codes);
* linear baseline: truncated SVD of the training data at k = 1, 5, 10, 20
  (the figures RRAE-SPEC.md quotes).

Data: RRAE-SPEC.md's definition (the trainer's built-in generator).
Run: bench/.venv/bin/python bench/gaussian_shift_bounds.py (numpy only).
"""

import numpy as np


def gaussian_shift():
    t = np.linspace(0.0, 2 * np.pi + 2, 500)
    p_train = np.linspace(1.0, 2 * np.pi + 1, 20)
    p_test = np.linspace(p_train.min(), p_train.max(), 500)[1:-1]

    def curves(p):
        return np.exp(-((t[None, :] - p[:, None]) ** 2) / 0.1)

    return p_train, curves(p_train), p_test, curves(p_test)


def rel_error(x_hat, x):
    return 100.0 * np.linalg.norm(x_hat - x) / np.linalg.norm(x)


def main():
    p_tr, x_tr, p_te, x_te = gaussian_shift()
    nearest = x_tr[np.abs(p_te[:, None] - p_tr[None, :]).argmin(axis=1)]
    i = np.clip(np.searchsorted(p_tr, p_te) - 1, 0, len(p_tr) - 2)
    w = ((p_te - p_tr[i]) / (p_tr[i + 1] - p_tr[i]))[:, None]
    blend = (1 - w) * x_tr[i] + w * x_tr[i + 1]
    _, _, vt = np.linalg.svd(x_tr, full_matrices=False)

    rows = [("nearest training curve", rel_error(nearest, x_te)),
            ("linear blend of the 2 enclosing curves", rel_error(blend, x_te))]
    for k in (1, 5, 10, 20):
        v = vt[:k].T
        rows.append((f"linear baseline (truncated SVD) k = {k}",
                     rel_error(x_te @ v @ v.T, x_te)))
    print("| predictor | test error % |\n|---|---|")
    for name, err in rows:
        print(f"| {name} | {err:.1f} |")


if __name__ == "__main__":
    main()
