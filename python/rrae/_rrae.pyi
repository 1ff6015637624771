"""Type stubs of the native module ``rrae._rrae`` (see ``rrae`` for docs)."""

import os
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

_F32 = npt.NDArray[np.float32]

class FormatError(Exception):
    """A model file (or a model given to ``rrae.write``) that the format rejects."""

class Model:
    """A ``.rrae`` model run by the Rust ``rrae-runtime``.

    Inputs are float32 arrays ``(N, D)`` (one sample per row) or ``(D,)``
    (one sample, giving a 1-D result); any memory layout is accepted.
    """

    @staticmethod
    def from_bytes(data: bytes) -> Model:
        """Validates the bytes of a ``.rrae`` file; ``FormatError`` if invalid."""
    def to_bytes(self) -> bytes:
        """The file's bytes."""
    def encode(self, x: _F32) -> _F32:
        """Coefficients ``(N, rank)`` of the samples ``x`` ``(N, input_dim)``.

        >>> alpha = model.encode(x)  # doctest: +SKIP
        """
    def decode(self, alpha: _F32) -> _F32:
        """Samples ``(N, input_dim)`` from coefficients ``(N, k')``, ``1 <= k' <= rank``."""
    def reconstruct(self, x: _F32) -> _F32:
        """``decode(encode(x))`` in one pass."""
    def sample(self, n: int = 1, seed: int = 0, decode: bool = True) -> _F32:
        """``n`` new samples ``(n, input_dim)`` (coefficients ``(n, rank)`` if not ``decode``)."""
    def interpolate(self, a: _F32, b: _F32, t: Union[float, _F32]) -> _F32:
        """``a + t (b - a)`` between two coefficient vectors; one row per ``t``."""
    @property
    def input_dim(self) -> int: ...
    @property
    def rank(self) -> int: ...
    @property
    def latent_dim(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def basis(self) -> Optional[_F32]:
        """``U_k`` ``(latent_dim, rank)`` if the file stores it."""
    @property
    def meta(self) -> dict[str, Any]:
        """Everything the file says about the model (layers without weights)."""

def load(path: Union[str, os.PathLike[str]]) -> Model:
    """Reads and validates a ``.rrae`` file (``OSError``, ``FormatError``)."""

def model_bytes(
    encoder_layers: Sequence[Mapping[str, Any]],
    decoder_layers: Sequence[Mapping[str, Any]],
    basis: Optional[_F32] = None,
    *,
    name: str = "model",
    normalization: Optional[Mapping[str, Any]] = None,
    sampler: Optional[Mapping[str, Any]] = None,
    singular_values: Optional[_F32] = None,
) -> bytes:
    """The bytes of a ``.rrae`` file; see ``rrae.write``."""

def fit_cli(args: Sequence[str], show_progress: bool) -> tuple[bytes, str]:
    """Runs ``trainer fit ARGS`` in-process: the model's bytes and metrics.json."""
