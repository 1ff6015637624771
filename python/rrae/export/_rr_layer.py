"""RR_layer models (PyPI ``rr-layer``): the modules before the ``RRLayer``
are the encoder, its ``inference_basis`` buffer is ``U_k``, the modules
after it the decoder."""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Tuple, Union

from ._torch import export_pair, f32, first_input, layer_dicts, leaves


def _is_rr_layer(m: Any) -> bool:
    return type(m).__name__ == "RRLayer" and hasattr(m, "inference_basis")


def from_rr_layer(
    model: Any,
    *,
    path: Union[str, "os.PathLike[str]", None] = None,
    input_shape: Optional[Tuple[int, int, int]] = None,
    fold: bool = True,
    name: str = "model",
    normalization: Optional[Mapping[str, Any]] = None,
) -> Any:
    """Exports a torch model containing one ``RR_layer.RRLayer`` to a
    ``.rrae`` model, with the basis from the layer's ``inference_basis``
    buffer (set when the model went to eval mode after training, by
    ``finalize_basis()``, or loaded with the ``state_dict``).

    ``model`` is an ``nn.Sequential`` (nested ones are opened) or a module
    whose children run in the order they were registered (``self.encoder``,
    ``self.rr``, ``self.decoder``), wrappers such as
    ``DistributedDataParallel`` are unwrapped (``.module``).
    ``input_shape=(C, H, W)`` when the model starts with a convolution. The
    basis is folded into the neighbouring dense layers when possible
    (``fold``). Returns the :class:`rrae.Model` (written to ``path`` if
    given).

    Raises ``ValueError`` naming the module and its path for anything the
    format cannot represent, and when the model has no ``RRLayer``, more
    than one, or one without a basis.

    >>> import torch, rrae
    >>> from RR_layer import RRLayer                                   # doctest: +SKIP
    >>> net = torch.nn.Sequential(torch.nn.Linear(16, 8), RRLayer(rank=2),
    ...                           torch.nn.Linear(8, 16))              # doctest: +SKIP
    >>> ...  # train, then net.eval() computes the basis                # doctest: +SKIP
    >>> m = rrae.export.from_rr_layer(net, path="net.rrae")            # doctest: +SKIP
    """
    import torch.nn as nn

    model = getattr(model, "module", model)  # DistributedDataParallel, DataParallel

    def top(module: Any, at: str) -> Any:
        # The model itself: its children in registration order.
        if at == "model" and not isinstance(module, nn.Sequential) and not _is_rr_layer(module):
            return [(f"{at}.{n}", c) for n, c in module.named_children()]
        return None

    run = list(leaves(model, "model", top))
    found = [i for i, (_, m) in enumerate(run) if _is_rr_layer(m)]
    if len(found) != 1:
        raise ValueError(f"model: has {len(found)} RRLayer modules, expected one "
                         f"({', '.join(run[i][0] for i in found) or 'none found'})")
    i = found[0]
    at, rr = run[i]
    if rr.inference_basis is None:
        raise ValueError(f"{at} (RRLayer): has no inference basis; call model.eval() after "
                         "training (or finalize_basis())")
    u = f32(rr.inference_basis)
    encoder, decoder = nn.Sequential(), nn.Sequential()
    named = {}
    for part, seq in ((run[:i], encoder), (run[i + 1:], decoder)):
        for j, (p, m) in enumerate(part):
            seq.add_module(str(j), m)
            named[id(m)] = p

    def paths(module: Any, _at: str) -> Any:
        # The flattened parts keep the modules' paths in the model.
        if module is encoder or module is decoder:
            return [(named[id(m)], m) for m in module]
        return None

    start = (tuple(int(v) for v in input_shape) if input_shape is not None
             else first_input(encoder, "model", paths))
    enc, latent = layer_dicts(encoder, "model", start, paths)  # type: ignore[arg-type]
    flat = latent if isinstance(latent, int) else latent[0] * latent[1] * latent[2]
    if flat != u.shape[0]:
        raise ValueError(f"{at} (RRLayer): its basis has {u.shape[0]} rows, the layers before "
                         f"it output {flat} values")
    dec, _ = layer_dicts(decoder, "model", latent, paths)
    return export_pair(enc, dec, u, fold=fold, path=path, name=name, normalization=normalization,
                       sampler=None, singular_values=None)
