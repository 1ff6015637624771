"""rrae.write: through the Rust ModelWriter, byte-identical to the golden
file the Rust tests pin; round trips; bad arguments."""

import numpy as np
import pytest

import rrae


def tiny_args(tiny):
    enc, dec = tiny.layers()
    return dict(
        encoder_layers=enc, decoder_layers=dec, basis=tiny.u, name="tiny",
        normalization={"shift": 0.5, "scale": 2.0},
        sampler={"mean": tiny.mean, "chol": tiny.chol},
    )


def test_rebuilds_golden_tiny_byte_for_byte(tiny, tiny_path, tmp_path):
    out = tmp_path / "tiny.rrae"
    m = rrae.write(out, **tiny_args(tiny))
    assert out.read_bytes() == tiny_path.read_bytes()
    assert m.to_bytes() == tiny_path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.rrae"]  # no temp file left


def test_round_trip_per_feature_normalization_and_activations(tmp_path, rng):
    shift = rng.standard_normal(6).astype(np.float32)
    scale = (1 + rng.random(6)).astype(np.float32)
    acts = [("leaky_relu", 0.125), ("elu", 1.0), "softplus", "sigmoid", "relu"]
    dims = [6, 5, 5, 4, 4, 3]
    enc = [
        {"kind": "dense", "weight": rng.standard_normal((o, i)).astype(np.float32),
         "bias": rng.standard_normal(o).astype(np.float32), "activation": a}
        for i, o, a in zip(dims, dims[1:], acts)
    ]
    dec = [{"kind": "dense", "weight": rng.standard_normal((6, 3)).astype(np.float32),
            "bias": np.zeros(6, np.float32)}]
    sv = np.array([3.0, 2.0, 1.0], np.float32)
    m = rrae.write(tmp_path / "m.rrae", enc, dec, name="round",
                   normalization={"shift": shift, "scale": scale}, singular_values=sv)
    again = rrae.load(tmp_path / "m.rrae")
    assert again.to_bytes() == m.to_bytes()
    meta = again.meta
    assert meta["normalization"] == "per_feature" and meta["basis"] == "folded"
    assert [l["activation"] for l in meta["encoder"]] == acts
    np.testing.assert_array_equal(meta["singular_values"], sv)
    # The runtime normalizes: (x - shift) / scale before the first layer.
    x = rng.standard_normal((4, 6)).astype(np.float32)
    h = (x.astype(np.float64) - shift) / scale
    w, b = enc[0]["weight"].astype(np.float64), enc[0]["bias"]
    y = h @ w.T + b
    y = np.where(y > 0, y, 0.125 * y)  # leaky relu
    single = rrae.write(tmp_path / "one.rrae", enc[:1], [{"kind": "dense",
                        "weight": np.eye(6, 5, dtype=np.float32), "bias": np.zeros(6, np.float32)}],
                        normalization={"shift": shift, "scale": scale})
    np.testing.assert_allclose(single.encode(x), y, rtol=1e-5, atol=1e-6)


def test_layers_that_do_not_chain_are_format_errors(tiny):
    enc, dec = tiny.layers()
    dec[0]["weight"] = np.zeros((4, 2), np.float32)  # takes 2, encoder gives 3
    with pytest.raises(rrae.FormatError, match="invalid model file"):
        rrae.model_bytes(enc, dec)


@pytest.mark.parametrize(
    "change,exc,text",
    [
        (lambda l: l.update(weight=np.zeros((3, 4))), ValueError,
         r"encoder_layers\[0\].weight has dtype float64, expected float32"),
        (lambda l: l.update(bias=np.zeros(2, np.float32)), ValueError,
         r"encoder_layers\[0\]: bias has shape \[2\], expected \[3\]"),
        (lambda l: l.update(activation="gelu"), ValueError,
         r"encoder_layers\[0\]: unknown activation gelu"),
        (lambda l: l.update(activation="leaky_relu"), ValueError, "needs a parameter"),
        (lambda l: l.update(kind="conv3d"), ValueError, "unknown layer kind"),
        (lambda l: l.pop("weight"), ValueError, r'encoder_layers\[0\]: missing key "weight"'),
        (lambda l: l["weight"].__setitem__((0, 0), np.nan), ValueError,
         r"encoder_layers\[0\].weight: non-finite value NaN at row 0, column 0"),
    ],
)
def test_bad_layer_arguments(tiny, change, exc, text):
    enc, dec = tiny.layers()
    enc[0] = dict(enc[0], weight=enc[0]["weight"].copy())
    change(enc[0])
    with pytest.raises(exc, match=text):
        rrae.model_bytes(enc, dec)


def test_bad_basis(tiny):
    enc, dec = tiny.layers()
    with pytest.raises(ValueError, match="basis has 2 rows, the encoder outputs 3 values"):
        rrae.model_bytes(enc, dec, np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="decoder_layers is empty"):
        rrae.model_bytes(enc, [])


def test_write_to_missing_directory(tiny, tmp_path):
    with pytest.raises(FileNotFoundError):
        rrae.write(tmp_path / "no" / "such" / "dir.rrae", **tiny_args(tiny))
