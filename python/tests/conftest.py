"""Shared fixtures: the golden files of formats/tests/golden and a float64
numpy reference of the golden `tiny` model (formats/src/testing.rs)."""

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "formats" / "tests" / "golden"


def ramp(n, start, step=0.125):
    return (start + step * np.arange(n)).astype(np.float32)


class Tiny:
    """The golden `tiny` model: input 4, latent 3, rank 2, tanh encoder,
    separate basis, sampler, global normalization (shift 0.5, scale 2)."""

    we, be = ramp(12, -0.75).reshape(3, 4), ramp(3, 0.0)
    wd, bd = ramp(12, 0.5).reshape(4, 3), ramp(4, -0.25)
    u = np.array([[1.0, 0.0], [0.0, 0.5], [0.0, 0.5]], np.float32)
    mean = np.array([0.25, -0.25], np.float32)
    chol = np.array([[1.0, 0.0], [0.5, 2.0]], np.float32)

    def encode(self, x):
        y = np.tanh((x.astype(np.float64) - 0.5) / 2.0 @ self.we.T.astype(np.float64) + self.be)
        return y @ self.u.astype(np.float64)

    def decode(self, alpha):
        k = alpha.shape[-1]
        y = alpha.astype(np.float64) @ self.u[:, :k].T.astype(np.float64)
        return (y @ self.wd.T.astype(np.float64) + self.bd) * 2.0 + 0.5

    def layers(self):
        enc = [{"kind": "dense", "weight": self.we, "bias": self.be, "activation": "tanh"}]
        dec = [{"kind": "dense", "weight": self.wd, "bias": self.bd}]
        return enc, dec


@pytest.fixture
def tiny():
    return Tiny()


@pytest.fixture
def tiny_path():
    return GOLDEN / "tiny.rrae"


@pytest.fixture
def tiny_cnn_path():
    return GOLDEN / "tiny-cnn.rrae"


@pytest.fixture
def tiny_int8_path():
    return GOLDEN / "tiny-int8.rrae"


@pytest.fixture
def rng():
    return np.random.default_rng(0)
