"""Rank Reduction Autoencoders (.rrae models) from Python.

The native module runs the Rust ``rrae-runtime`` (the same code as on the
microcontroller), writes files through the Rust ``ModelWriter``, so there
is one implementation of the format, and trains with the trainer library
(:func:`fit`, the options of ``trainer fit``). :mod:`rrae.export` converts
models of PyTorch, RRAEsTorch, RR_layer and RRAEs (JAX/equinox).

>>> import numpy as np, rrae
>>> model, metrics = rrae.fit(X, k=2)               # doctest: +SKIP
>>> m = rrae.load("model.rrae")                     # doctest: +SKIP
>>> alpha = m.encode(x.astype(np.float32))          # doctest: +SKIP
>>> x_hat = m.decode(alpha)                          # doctest: +SKIP

Errors: ``ValueError`` for bad arrays (wrong dtype, wrong width, NaN or
infinity), ``rrae.FormatError`` for bad model files, ``OSError`` for files
that cannot be read or written. Arrays of any memory layout are accepted
(non-contiguous ones are copied).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ._rrae import FormatError, Model, fit_cli, load, model_bytes

__all__ = ["FormatError", "Model", "load", "write", "fit", "export"]

PathLike = Union[str, "os.PathLike[str]"]


def write(
    path: PathLike,
    encoder_layers: Sequence[Mapping[str, Any]],
    decoder_layers: Sequence[Mapping[str, Any]],
    basis: Any = None,
    *,
    name: str = "model",
    normalization: Optional[Mapping[str, Any]] = None,
    sampler: Optional[Mapping[str, Any]] = None,
    singular_values: Any = None,
) -> Model:
    """Writes a ``.rrae`` file and returns it loaded as a :class:`Model`.

    Each layer is a dict (arrays are float32 numpy arrays)::

        {"kind": "dense", "weight": W,       # (out, in)
         "bias": b, "activation": "relu"}     # (out,)
        {"kind": "conv2d", "weight": W,      # (out_ch, in_ch, kh, kw)
         "bias": b, "input_shape": (C, H, W), "stride": 2, "padding": 1,
         "activation": "tanh"}
        {"kind": "conv_transpose2d", "weight": W,   # (in_ch, out_ch, kh, kw)
         "bias": b, "input_shape": (C, H, W), "stride": 2, "padding": 1,
         "output_padding": 1}

    Activations: ``"identity"`` (default), ``"relu"``, ``"tanh"``,
    ``"sigmoid"``, ``"softplus"``, ``("leaky_relu", slope)``,
    ``("elu", alpha)``. Convolutions have PyTorch semantics; samples are flat
    row-major ``C x H x W`` vectors, so layers chain by flat width.

    ``basis``: ``None`` if the encoder already outputs the ``rank``
    coefficients (basis folded), else ``U_k`` as a ``(latent_dim, rank)``
    array (the runtime computes ``alpha = U_k^T y``). ``normalization``:
    ``{"shift": s, "scale": c}`` with floats (global) or ``(input_dim,)``
    arrays (per feature); inputs are mapped to ``(x - shift) / scale``.
    ``sampler``: ``{"mean": (rank,), "chol": (rank, rank) lower-triangular}``.

    The file is written atomically (temporary file, then rename). Raises
    ``ValueError`` for a malformed argument and ``rrae.FormatError`` if the
    format rejects the model (for example layers that do not chain).

    >>> import numpy as np, rrae
    >>> enc = [{"kind": "dense", "weight": np.full((1, 2), 0.5, np.float32),
    ...         "bias": np.zeros(1, np.float32)}]
    >>> dec = [{"kind": "dense", "weight": np.ones((2, 1), np.float32),
    ...         "bias": np.zeros(2, np.float32)}]
    >>> m = rrae.write("mean.rrae", enc, dec, name="mean")  # doctest: +SKIP
    >>> m.reconstruct(np.array([1, 3], np.float32))          # doctest: +SKIP
    array([2., 2.], dtype=float32)
    """
    data = model_bytes(
        encoder_layers,
        decoder_layers,
        basis,
        name=name,
        normalization=normalization,
        sampler=sampler,
        singular_values=singular_values,
    )
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".rrae-tmp.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return Model.from_bytes(data)


def _flag(key: str, value: Any) -> Sequence[str]:
    """``trainer fit`` arguments for one keyword option."""
    flag = "--" + key.replace("_", "-")
    if value is None or value is False:
        return []
    if value is True:
        return [flag]
    if isinstance(value, (list, tuple)):
        return [flag, ",".join(str(v) for v in value)]
    return [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]


def _save(path: str, x: Any, what: str) -> None:
    """Saves a 2-D float32/float64 array as ``.npy`` for the trainer."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{what} must be a numpy array of float32, got {type(x).__name__}")
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"{what} has dtype {x.dtype}, expected float32 (convert with .astype(numpy.float32))")
    if x.ndim != 2:
        raise ValueError(f"{what} must be 2-D (one sample per row), got shape {list(x.shape)}")
    np.save(path, np.ascontiguousarray(x))


def fit(
    X: Any,
    k: Optional[int] = 1,
    test: Any = None,
    *,
    quiet: bool = False,
    **options: Any,
) -> Tuple[Model, Dict[str, Any]]:
    """Trains an RRAE on the rows of ``X`` with the trainer library and
    returns ``(model, metrics)``.

    The options are ``trainer fit``'s, with ``_`` for ``-`` and the same
    defaults: ``steps=3000``, ``latent=...``, ``normalize="per-feature"``,
    ``adaptive=True`` (then ``k`` is ignored), ``no_fold=True``,
    ``out="dir"`` (keep ``model.rrae``, ``metrics.json`` and the plots;
    otherwise a temporary directory), ... (``trainer fit --help``). ``True``
    passes a flag, ``False`` and ``None`` leave it out, lists become
    ``a,b,c``. Without ``test``, the CLI's random test split is used. The
    CLI's progress bar and summary line are shown unless ``quiet=True``.

    ``metrics`` is the run's ``metrics.json`` (relative errors in %, the
    linear baseline, the chosen k, timings, sizes). Raises ``ValueError``
    with the CLI's message for a bad option or bad data.

    >>> import numpy as np, rrae
    >>> t = np.linspace(0, 1, 64, dtype=np.float32)
    >>> X = np.stack([np.sin(2 * np.pi * (t - s)) for s in np.linspace(0, 1, 200)])
    >>> model, metrics = rrae.fit(X.astype(np.float32), k=2, steps=200, quiet=True)  # doctest: +SKIP
    >>> model.decode(model.encode(X[:3].astype(np.float32))).shape                     # doctest: +SKIP
    (3, 64)
    """
    with tempfile.TemporaryDirectory(prefix="rrae-fit-") as tmp:
        names = {"data": os.path.join(tmp, "data.npy"), "test": os.path.join(tmp, "test.npy")}
        _save(names["data"], X, "data")
        args = ["--data", names["data"]]
        if test is not None:
            _save(names["test"], test, "test")
            args += ["--test", names["test"]]
        if k is not None and not options.get("adaptive"):
            args += ["--k", str(k)]
        options.setdefault("out", os.path.join(tmp, "out"))
        for key, value in options.items():
            args += _flag(key, value)
        try:
            data, metrics_text = fit_cli(args, not quiet)
        except ValueError as e:
            msg = str(e)
            for what, path in names.items():
                msg = msg.replace(path, what)
            raise ValueError(msg) from None
    metrics = json.loads(metrics_text)
    if not quiet:
        m = metrics
        print(
            f"{m['dataset']}: k={m['k']} train {m['train_rel_error']:.3f} % test "
            f"{m['test_rel_error']:.3f} % (linear baseline "
            f"{m['linear_baseline_test_rel_error']:.2f} %) in {m['wall_seconds']:.1f} s, "
            f"{m['steps']} steps"
        )
    return Model.from_bytes(data), metrics


from . import export  # noqa: E402 (uses write; imports torch only when called)
