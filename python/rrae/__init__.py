"""Rank Reduction Autoencoders (.rrae models) from Python.

The native module runs the Rust ``rrae-runtime`` (the same code as on the
microcontroller) and writes files through the Rust ``ModelWriter``, so there
is one implementation of the format.

>>> import numpy as np, rrae
>>> m = rrae.load("model.rrae")                     # doctest: +SKIP
>>> alpha = m.encode(x.astype(np.float32))          # doctest: +SKIP
>>> x_hat = m.decode(alpha)                          # doctest: +SKIP

Errors: ``ValueError`` for bad arrays (wrong dtype, wrong width, NaN or
infinity), ``rrae.FormatError`` for bad model files, ``OSError`` for files
that cannot be read or written. Arrays of any memory layout are accepted
(non-contiguous ones are copied).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Mapping, Optional, Sequence, Union

from ._rrae import FormatError, Model, load, model_bytes

__all__ = ["FormatError", "Model", "load", "write", "export"]

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


from . import export  # noqa: E402 (uses write; imports torch only when called)
