"""Helpers of the exporter parity tests: the relative error (printed, so
``pytest -s ... | grep parity`` lists the figures) and the test data."""

import os

import numpy as np


def rel(a, b):
    """Relative Frobenius error of ``a`` against ``b``, in float64."""
    b = np.asarray(b, np.float64)
    e = float(np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(b))
    print(f"parity {os.environ.get('PYTEST_CURRENT_TEST', '').split(' ')[0]}: {e:.2e}")
    return e


def shifted_sines(n, d=32, seed=0):
    """n samples of sin(2 pi (t - s)) on d points, random shifts: rank 2."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, d)
    return np.sin(2 * np.pi * (t[None, :] - rng.random((n, 1)))).astype(np.float32)
