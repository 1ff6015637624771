"""rrae.export.from_rraes: RRAEs' (JAX/equinox) RRAE_MLP and RRAE_CNN,
trained a few steps with RRAEs' own trainor (basis fine-tuning included),
against the trainor's evaluation forward (<= 1e-5 relative), normalization
included; unsupported parts are named with their path."""

import warnings

import numpy as np
import pytest

import rrae
from parity import rel, shifted_sines

jax = pytest.importorskip("jax")
pytest.importorskip("RRAEs")


def fit(model_cls, x, **kwargs):
    """An RRAE_Trainor_class trained 3 steps, then 2 of basis fine-tuning;
    ``x`` in RRAEs' layout (samples last)."""
    import RRAEs.config  # noqa: F401 (sets the autoencoder base class)
    from RRAEs.training_classes import RRAE_Trainor_class

    key = jax.random.PRNGKey(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainor = RRAE_Trainor_class(x, model_cls, k_max=2, key=key, out_train=x, **kwargs)
        trainor.fit(x, x, verbose=False, training_key=jax.random.PRNGKey(1),
                    training_kwargs={"step_st": [3], "batch_size_st": [16]},
                    ft_kwargs={"step_st": [2], "batch_size_st": [16]})
    return trainor


def test_rraes_mlp(tmp_path):
    import RRAEs.config  # noqa: F401
    from RRAEs.AE_classes import RRAE_MLP

    rows = shifted_sines(48, 32) * 3 + 1
    x = jax.numpy.asarray(rows.T)  # (D, N)
    trainor = fit(RRAE_MLP, x, in_size=32, latent_size=12, norm_in="meanstd", norm_out="meanstd",
                  kwargs_enc={"width_size": 16, "depth": 1}, kwargs_dec={"width_size": 16, "depth": 2})
    m = rrae.export.from_rraes(trainor, path=tmp_path / "mlp.rrae")
    assert (m.input_dim, m.rank, m.meta["basis"]) == (32, 2, "folded")
    ref = np.asarray(trainor.model(x, apply_basis=trainor.basis)).T
    assert rel(rrae.load(tmp_path / "mlp.rrae").reconstruct(rows), ref) <= 1e-5


def test_rraes_cnn():
    import RRAEs.config  # noqa: F401
    from RRAEs.AE_classes import RRAE_CNN

    rows = shifted_sines(32, 64)
    x = jax.numpy.asarray(rows.reshape(32, 1, 8, 8).transpose(1, 2, 3, 0))  # (C, H, W, N)
    trainor = fit(RRAE_CNN, x, channels=1, height=8, width=8, latent_size=10,
                  kwargs_enc={"width_CNNs": [4, 8]},
                  kwargs_dec={"width_CNNs": [8, 4], "out_after_mlp": 4})
    m = rrae.export.from_rraes(trainor)
    assert (m.input_dim, m.rank) == (64, 2)
    ref = np.asarray(trainor.model(x, apply_basis=trainor.basis)).transpose(3, 0, 1, 2).reshape(32, 64)
    assert rel(m.reconstruct(rows), ref) <= 1e-5


def test_rraes_errors():
    import RRAEs.config  # noqa: F401
    from RRAEs.AE_classes import RRAE_MLP

    x = jax.numpy.asarray(shifted_sines(20, 8).T)
    trainor = fit(RRAE_MLP, x, in_size=8, latent_size=4, kwargs_enc={"width_size": 8, "depth": 1},
                  kwargs_dec={"width_size": 8, "depth": 1, "activation": jax.nn.gelu})
    with pytest.raises(ValueError, match=r"_decode.activation: activation .*gelu.* is not one"):
        rrae.export.from_rraes(trainor)
    trainor.basis = None
    with pytest.raises(ValueError, match="trainor.basis: not set"):
        rrae.export.from_rraes(trainor)
