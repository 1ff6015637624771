"""RRAEsTorch models (PyPI ``rraestorch``): ``RRAE_MLP`` and ``RRAE_CNN``
with the basis that the trainor's fine-tuning stage stores in
``model.basis`` (or one computed here from the training data)."""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from ._torch import export_pair, f32, function_activation, layer_dicts


def _expand(module: Any, at: str) -> Optional[Sequence[Tuple[str, Any]]]:
    """The children of RRAEsTorch's containers in the order their
    ``forward`` runs them (activations are functions there, turned into
    modules)."""
    import torch.nn as nn

    kind = type(module).__name__
    if kind == "MLP_with_linear":
        # forward: the MLP, then all extra linear maps but the last.
        extra = list(module.layers_l)[:-1]
        return [(f"{at}.mlp", module.mlp)] + [(f"{at}.layers_l.{i}", m) for i, m in enumerate(extra)]
    if kind == "MLCNN":
        run = []
        n = len(module.layers)
        for i, conv in enumerate(module.layers):
            run.append((f"{at}.layers.{i}", conv))
            fn = module.activation[i] if i < n - 1 else module.final_activation
            where = f"{at}.activation[{i}]" if i < n - 1 else f"{at}.final_activation"
            run.append((where, function_activation(fn, where)))
        return run
    if kind == "CNNs_with_MLP":
        return [(f"{at}.layers.0", module.layers[0]), (f"{at}.flatten", nn.Flatten()),
                (f"{at}.layers.1", module.layers[1]),
                (f"{at}.final_act", function_activation(module.final_act, f"{at}.final_act"))]
    if kind == "MLP_with_CNNs_trans":
        shape = (int(module.out_after_mlp), *(int(d) for d in module.d_shape))
        if len(shape) != 3:
            raise ValueError(f"{at} (MLP_with_CNNs_trans): only 2-D images are supported")
        return [(f"{at}.layers.0", module.layers[0]), (f"{at}.reshape", nn.Unflatten(1, shape)),
                (f"{at}.layers.1", module.layers[1]), (f"{at}.layers.2", module.layers[2]),
                (f"{at}.final_act", function_activation(module.final_act, f"{at}.final_act"))]
    return None


def _input_shape(trainor: Any) -> Optional[Tuple[int, int, int]]:
    """``(C, H, W)`` of a CNN model from its trainor's arguments."""
    kwargs = getattr(trainor, "all_kwargs", {}).get("kwargs", {}) if trainor is not None else {}
    if all(k in kwargs for k in ("channels", "height", "width")):
        return (int(kwargs["channels"]), int(kwargs["height"]), int(kwargs["width"]))
    return None


def latent_basis(model: Any, data: Any, k: int) -> np.ndarray:
    """``U_k`` of the latents of ``data`` (one sample per row, the model's
    input layout): the first ``k`` left singular vectors of the
    ``latent_size x N`` matrix, as RRAEsTorch's ``get_basis`` computes them
    from the whole training set."""
    import torch

    with torch.no_grad():
        y = model.encode(torch.as_tensor(np.asarray(data, np.float32)))
    u = torch.linalg.svd(y.T.to(torch.float64), full_matrices=False)[0]
    return u[:, :k].numpy()


def from_rraestorch(
    model_or_trainor: Any,
    *,
    data: Any = None,
    k: Optional[int] = None,
    path: Union[str, "os.PathLike[str]", None] = None,
    input_shape: Optional[Tuple[int, int, int]] = None,
    fold: bool = True,
    name: str = "model",
) -> Any:
    """Exports an RRAEsTorch ``RRAE_MLP`` or ``RRAE_CNN`` (or the
    ``RRAE_Trainor_class`` that trained it) to a ``.rrae`` model whose
    forward equals the model's evaluation forward,
    ``decode(U U^T encode(x))``.

    The basis is ``model.basis``, which the trainor's fine-tuning stage
    (``fit(..., ft_kwargs=...)``) sets. A model trained without it has no
    basis: then pass the training ``data`` (and ``k``, default the trainor's
    ``k_max``) and the basis is computed as RRAEsTorch does, from the SVD of
    all the latents. For a CNN, ``input_shape=(C, H, W)`` is read from the
    trainor, or must be given with a bare model. The basis is folded into
    the neighbouring dense layers (``fold``).

    Raises ``ValueError`` naming the module and its path (``_encode.mlp.2``)
    for anything the format cannot represent (e.g. a ``norm_layer`` in the
    MLPs, or a custom activation).

    >>> import RRAEsTorch.config, rrae                                 # doctest: +SKIP
    >>> trainor.fit(x, x, training_kwargs=..., ft_kwargs=...)          # doctest: +SKIP
    >>> m = rrae.export.from_rraestorch(trainor, path="rrae.rrae")     # doctest: +SKIP
    """
    trainor = model_or_trainor if hasattr(model_or_trainor, "all_kwargs") else None
    model = model_or_trainor.model if trainor is not None else model_or_trainor
    if not hasattr(model, "_encode") or not hasattr(model, "_decode"):
        raise ValueError(f"model ({type(model).__name__}): not an RRAEsTorch autoencoder "
                         "(no _encode / _decode)")
    if type(model).__name__ not in ("RRAE_MLP", "RRAE_CNN"):
        raise ValueError(f"model ({type(model).__name__}): only RRAE_MLP and RRAE_CNN are supported")
    basis = getattr(model, "basis", None)
    if basis is None:
        if data is None:
            raise ValueError(f"model ({type(model).__name__}).basis: not set (fine-tune the basis "
                             "with fit(..., ft_kwargs=...)), or pass data= to compute it")
        if k is None:
            k = int((getattr(trainor, "track_params", None) or {}).get("k_max") or 0) or None
        if k is None:
            raise ValueError("k: give the rank of the basis (the model does not store k_max)")
        u = latent_basis(model, data, k).astype(np.float32)
    else:
        u = f32(basis)
    shape = input_shape or _input_shape(trainor)
    if shape is None:
        first = model._encode.mlp[0] if type(model._encode).__name__ == "MLP_with_linear" else None
        if first is None:
            raise ValueError("input_shape: give (C, H, W) for an RRAE_CNN without its trainor")
        shape = int(first.in_features)
    start = tuple(int(v) for v in shape) if not isinstance(shape, int) else shape
    enc, _ = layer_dicts(model._encode, "_encode", start, _expand)  # type: ignore[arg-type]
    dec, _ = layer_dicts(model._decode, "_decode", int(u.shape[0]), _expand)
    return export_pair(enc, dec, u, fold=fold, path=path, name=name, normalization=None,
                       sampler=None, singular_values=None)
