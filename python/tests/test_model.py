"""rrae.load / Model on the golden files: results against a float64 numpy
reference, shapes, progressive decoding, sampling, interpolation, meta."""

import numpy as np
import pytest

import rrae


def test_load_and_properties(tiny_path):
    m = rrae.load(tiny_path)
    assert (m.name, m.input_dim, m.latent_dim, m.rank) == ("tiny", 4, 3, 2)
    assert repr(m) == 'rrae.Model(name="tiny", input_dim=4, rank=2, latent_dim=3)'
    assert rrae.load(str(tiny_path)).to_bytes() == tiny_path.read_bytes()


def test_encode_decode_reconstruct_match_reference(tiny_path, tiny, rng):
    m = rrae.load(tiny_path)
    x = rng.standard_normal((50, 4)).astype(np.float32)
    alpha = m.encode(x)
    assert alpha.shape == (50, 2) and alpha.dtype == np.float32
    np.testing.assert_allclose(alpha, tiny.encode(x), rtol=1e-5, atol=1e-6)
    x_hat = m.decode(alpha)
    assert x_hat.shape == (50, 4) and x_hat.dtype == np.float32
    np.testing.assert_allclose(x_hat, tiny.decode(alpha), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.reconstruct(x), x_hat, rtol=1e-6, atol=1e-6)


def test_one_row_gives_one_dimensional_results(tiny_path):
    m = rrae.load(tiny_path)
    x = np.array([0.1, -0.2, 0.3, 0.4], np.float32)
    assert m.encode(x).shape == (2,)
    np.testing.assert_array_equal(m.encode(x), m.encode(x[None, :])[0])
    assert m.decode(m.encode(x)).shape == (4,)
    assert m.reconstruct(x).shape == (4,)


def test_empty_batch(tiny_path):
    m = rrae.load(tiny_path)
    assert m.encode(np.zeros((0, 4), np.float32)).shape == (0, 2)


def test_progressive_decoding_uses_first_coefficients(tiny_path, tiny):
    m = rrae.load(tiny_path)
    alpha = np.array([[0.5], [-1.0]], np.float32)
    np.testing.assert_allclose(m.decode(alpha), tiny.decode(alpha), rtol=1e-6, atol=1e-6)
    padded = np.hstack([alpha, np.zeros((2, 1), np.float32)])
    np.testing.assert_array_equal(m.decode(alpha), m.decode(padded))


def test_sample_maps_normal_draws(tiny_path, tiny):
    m = rrae.load(tiny_path)
    alpha = m.sample(5, seed=3, decode=False)
    z = np.random.default_rng(3).standard_normal((5, 2)).astype(np.float32)
    np.testing.assert_allclose(alpha, tiny.mean + z @ tiny.chol.T, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(m.sample(5, seed=3), m.decode(alpha))
    assert m.sample().shape == (1, 4)


def test_sample_without_sampler_is_value_error(tiny_cnn_path):
    with pytest.raises(ValueError, match="the model has no sampler"):
        rrae.load(tiny_cnn_path).sample(2)


def test_interpolate(tiny_path):
    m = rrae.load(tiny_path)
    a, b = np.array([0.0, 2.0], np.float32), np.array([1.0, 4.0], np.float32)
    np.testing.assert_array_equal(m.interpolate(a, b, 0.5), [0.5, 3.0])
    path = m.interpolate(a, b, np.linspace(0, 1, 3).astype(np.float32))
    np.testing.assert_array_equal(path, [[0.0, 2.0], [0.5, 3.0], [1.0, 4.0]])
    with pytest.raises(ValueError, match="a must be one coefficient vector of length 2"):
        m.interpolate(np.zeros(3, np.float32), b, 0.5)
    with pytest.raises(ValueError, match="t: non-finite value NaN"):
        m.interpolate(a, b, float("nan"))
    with pytest.raises(ValueError, match="t: non-finite value inf at row 0, column 1"):
        m.interpolate(a, b, np.array([0.0, np.inf], np.float32))


def test_meta_and_basis(tiny_path, tiny_cnn_path, tiny):
    meta = rrae.load(tiny_path).meta
    assert meta["version"] == "1.0" and meta["basis"] == "separate"
    assert meta["normalization"] == "global" and meta["has_sampler"]
    assert meta["encoder"] == [
        {"kind": "dense", "in_dim": 4, "out_dim": 3, "activation": "tanh"}
    ]
    np.testing.assert_array_equal(rrae.load(tiny_path).basis, tiny.u)
    cnn = rrae.load(tiny_cnn_path)
    meta = cnn.meta
    assert meta["version"] == "1.1" and meta["basis"] == "folded" and cnn.basis is None
    assert meta["encoder"][0] == {
        "kind": "conv2d", "in_dim": 16, "out_dim": 8, "activation": "tanh",
        "input_shape": (1, 4, 4), "out_channels": 2, "kernel": (3, 3),
        "stride": (2, 2), "padding": (1, 1),
    }
    assert meta["decoder"][-1]["output_padding"] == (1, 1)


def test_int8_model_runs_through_the_f32_api(tiny_int8_path, rng):
    """An int8 (format 1.2) file: meta names its quantized layers, and the
    batched f32 API equals the runtime row by row (quantize in, dequantize out)."""
    m = rrae.load(tiny_int8_path)
    assert (m.input_dim, m.rank) == (16, 2)
    enc = m.meta["encoder"]
    assert [layer["kind"] for layer in enc] == ["qconv2d", "qdense"]
    assert enc[1]["clamp"] == (-128, 127)
    assert enc[0]["input_qparams"] == (0.0625, -8)
    x = rng.uniform(-1.0, 2.0, (5, 16)).astype(np.float32)
    alpha = m.encode(x)
    rows = np.stack([m.encode(r) for r in x])
    np.testing.assert_array_equal(alpha, rows)
    x_hat = m.reconstruct(x)
    np.testing.assert_array_equal(x_hat, np.stack([m.reconstruct(r) for r in x]))
    assert np.isfinite(x_hat).all()
