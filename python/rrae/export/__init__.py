"""Exporters from training frameworks to ``.rrae`` files.

- :func:`from_torch`: ``torch.nn`` encoder and decoder modules.
- :func:`from_rraestorch`: RRAEsTorch's ``RRAE_MLP`` / ``RRAE_CNN``.
- :func:`from_rr_layer`: a torch model with an RR_layer ``RRLayer``.
- :func:`from_rraes`: RRAEs' (JAX/equinox) ``RRAE_MLP`` / ``RRAE_CNN``.

Each returns the :class:`rrae.Model` (written to ``path`` if given), whose
forward equals the framework's evaluation forward (parity tests:
``python/tests/test_export_*.py``). Anything the format cannot represent
raises ``ValueError`` naming the module and its path in the model. The
frameworks are imported only when an exporter runs.
"""

from ._rr_layer import from_rr_layer
from ._rraes import from_rraes
from ._rraestorch import from_rraestorch
from ._torch import from_torch

__all__ = ["from_torch", "from_rraestorch", "from_rr_layer", "from_rraes"]
