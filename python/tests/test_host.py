"""The batched host path (several rows of an f32 model: GEMMs over the
batch, im2col for convolutions) against the runtime (one row at a time,
which 1-D calls use): encode, decode (progressive too) and reconstruct,
with and without a separate basis and normalization."""

import numpy as np
import pytest

import rrae


def rows_one_by_one(f, x):
    return np.stack([f(row) for row in x])


def check(m, x, tol=2e-6):
    for f, arg in ((m.encode, x), (m.reconstruct, x), (m.decode, m.encode(x)),
                   (m.decode, m.encode(x)[:, :1])):
        batched, single = f(arg), rows_one_by_one(f, arg)
        assert batched.shape == single.shape and batched.dtype == np.float32
        err = np.linalg.norm(batched.astype(np.float64) - single) / np.linalg.norm(single)
        assert err <= tol, (f.__name__, err)


def test_golden_tiny(tiny_path, rng):
    # Separate basis, tanh, global normalization.
    m = rrae.load(tiny_path)
    check(m, rng.standard_normal((50, m.input_dim)).astype(np.float32))


def test_mlp_per_feature_normalization_folded(rng):
    d, h, k = 12, 20, 3
    ws = [(rng.standard_normal(s) / np.sqrt(s[1])).astype(np.float32) for s in ((h, d), (k, h), (h, k), (d, h))]
    acts = ["tanh", "identity", ("elu", 0.5), "sigmoid"]
    layers = [{"kind": "dense", "weight": w, "bias": rng.standard_normal(w.shape[0]).astype(np.float32),
               "activation": a} for w, a in zip(ws, acts)]
    norm = {"shift": rng.standard_normal(d).astype(np.float32),
            "scale": (1 + rng.random(d)).astype(np.float32)}
    m = rrae.Model.from_bytes(rrae.model_bytes(layers[:2], layers[2:], normalization=norm))
    assert m.meta["basis"] == "folded"
    check(m, rng.standard_normal((300, d)).astype(np.float32))


def test_golden_tiny_cnn(tiny_cnn_path, rng):
    m = rrae.load(tiny_cnn_path)
    check(m, rng.standard_normal((20, m.input_dim)).astype(np.float32))


def test_cnn_strides_padding_and_output_padding(rng):
    def conv(kind, shape, cin_cout, stride, padding, act, **extra):
        w = (rng.standard_normal(cin_cout) / np.sqrt(np.prod(cin_cout[1:]))).astype(np.float32)
        cout = cin_cout[0] if kind == "conv2d" else cin_cout[1]
        return {"kind": kind, "weight": w, "bias": rng.standard_normal(cout).astype(np.float32),
                "input_shape": shape, "stride": stride, "padding": padding, "activation": act, **extra}
    enc = [conv("conv2d", (2, 9, 7), (4, 2, 3, 3), 2, 1, "tanh"),       # -> 4 x 5 x 4
           conv("conv2d", (4, 5, 4), (3, 4, 2, 2), 1, 0, ("elu", 1.0)),  # -> 3 x 4 x 3
           {"kind": "dense", "weight": rng.standard_normal((3, 36)).astype(np.float32),
            "bias": np.zeros(3, np.float32)}]
    dec = [{"kind": "dense", "weight": rng.standard_normal((4 * 5 * 4, 3)).astype(np.float32),
            "bias": np.zeros(80, np.float32), "activation": "sigmoid"},
           conv("conv_transpose2d", (4, 5, 4), (4, 2, 3, 3), 2, 1, "identity", output_padding=(0, 0))]
    m = rrae.Model.from_bytes(rrae.model_bytes(enc, dec))
    assert m.input_dim == 2 * 9 * 7
    check(m, rng.standard_normal((40, m.input_dim)).astype(np.float32))


def test_errors_are_the_same(tiny_path):
    m = rrae.load(tiny_path)
    bad = np.zeros((3, m.input_dim), np.float32)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="row 2, column 1"):
        m.encode(bad)
    with pytest.raises(ValueError, match="5 values per row"):
        m.decode(np.zeros((4, 5), np.float32))
