"""Bad inputs raise the right exception with a one-line message, never a
panic (pyo3's PanicException is a BaseException: these tests would fail)."""

import numpy as np
import pytest

import rrae


@pytest.fixture
def model(tiny_path):
    return rrae.load(tiny_path)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.float16])
def test_wrong_dtype_names_both(model, dtype):
    x = np.zeros((2, 4), dtype)
    name = np.dtype(dtype).name
    with pytest.raises(ValueError, match=f"data has dtype {name}, expected float32"):
        model.encode(x)


def test_not_an_array_is_type_error(model):
    with pytest.raises(TypeError, match="data must be a numpy array of float32, got list"):
        model.encode([[0.0] * 4])


def test_wrong_width(model):
    with pytest.raises(ValueError, match="data have 5 values per row, the model expects 4"):
        model.encode(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="data have 3 values per row, the model expects 4"):
        model.reconstruct(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="coefficients have 3 values per row, the model expects 1 to 2"):
        model.decode(np.zeros((1, 3), np.float32))


def test_three_dimensional(model):
    with pytest.raises(ValueError, match=r"got shape \[2, 2, 4\]"):
        model.encode(np.zeros((2, 2, 4), np.float32))


@pytest.mark.parametrize("bad,text", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_names_position(model, bad, text):
    x = np.zeros((3, 4), np.float32)
    x[2, 1] = bad
    with pytest.raises(ValueError, match=f"data: non-finite value {text} at row 2, column 1"):
        model.encode(x)


def test_non_contiguous_arrays_are_copied(model, rng):
    x = rng.standard_normal((8, 8)).astype(np.float32)
    strided = x[::2, ::2]  # (4, 4) with steps
    fortran = np.asfortranarray(x[:, :4])
    assert not strided.flags.c_contiguous and not fortran.flags.c_contiguous
    np.testing.assert_array_equal(model.encode(strided), model.encode(strided.copy()))
    np.testing.assert_array_equal(model.reconstruct(fortran), model.reconstruct(x[:, :4].copy()))
    np.testing.assert_array_equal(model.decode(x[:2, :3].T), model.decode(x[:2, :3].T.copy()))


def test_corrupt_file(tiny_path, tmp_path):
    data = bytearray(tiny_path.read_bytes())
    data[100] ^= 0xFF
    bad = tmp_path / "corrupt.rrae"
    bad.write_bytes(bytes(data))
    with pytest.raises(rrae.FormatError, match=f"{bad}: invalid model file: "):
        rrae.load(bad)


def test_truncated_and_empty_files(tiny_path, tmp_path):
    data = tiny_path.read_bytes()
    for n in [0, 3, 47, 48, len(data) // 2, len(data) - 1]:
        with pytest.raises(rrae.FormatError, match="invalid model file"):
            rrae.Model.from_bytes(data[:n])


def test_not_a_model(tmp_path):
    p = tmp_path / "x.rrae"
    p.write_bytes(b"hello world" * 10)
    with pytest.raises(rrae.FormatError, match="invalid model file"):
        rrae.load(p)


def test_missing_file_is_os_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.rrae"):
        rrae.load(tmp_path / "missing.rrae")


def test_random_corruptions_never_panic(tiny_path, tiny_cnn_path, rng):
    """500 random byte flips / truncations: each is FormatError or a model
    that still validates (a flip inside padding is caught by the CRC)."""
    for path in (tiny_path, tiny_cnn_path):
        good = path.read_bytes()
        for _ in range(250):
            data = bytearray(good)
            for i in rng.integers(0, len(data), rng.integers(1, 4)):
                data[i] = int(rng.integers(0, 256))
            data = bytes(data[: int(rng.integers(len(data) - 8, len(data) + 1))])
            if data == good:
                continue
            with pytest.raises(rrae.FormatError):
                rrae.Model.from_bytes(data)
