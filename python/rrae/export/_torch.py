"""torch modules to layer dicts for ``rrae.write``: the walker that the
exporters of plain torch, RRAEsTorch and RR_layer share.

Modules built from ``Linear``, ``Conv2d``, ``ConvTranspose2d``,
``Flatten``, ``Unflatten`` and the activations the format has (``ReLU``,
``LeakyReLU``, ``Tanh``, ``Sigmoid``, ``ELU``, ``Softplus`` with
``beta=1``), nested in ``nn.Sequential``; ``Identity`` and ``Dropout`` (a
no-op in eval mode) are skipped. An ``expand`` hook lets an exporter open
other containers (its children, in the order its ``forward`` runs them).
Anything else raises ``ValueError`` naming the module and its path in the
model (``encoder.2``). torch is imported only when an exporter runs.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ._activations import activation_of

Shape = Union[int, Tuple[int, int, int]]  # flat width, or (C, H, W)
# An exporter's hook: the (path, child) pairs a container runs, in order, or
# None for a module the walker handles itself.
Expand = Callable[[Any, str], Optional[Sequence[Tuple[str, Any]]]]
Layers = List[Dict[str, Any]]


def f32(t: Any) -> np.ndarray:
    """A float32 numpy copy of a tensor or array."""
    if hasattr(t, "detach"):
        t = t.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(t, dtype=np.float32))


def _pair(v: Any, what: str, at: str) -> Tuple[int, int]:
    if isinstance(v, str):
        raise ValueError(f"{at}: {what}={v!r} is not supported (give it as numbers)")
    if isinstance(v, int):
        return (v, v)
    h, w = v
    return (int(h), int(w))


def leaves(module: Any, path: str, expand: Optional[Expand] = None) -> Iterator[Tuple[str, Any]]:
    """The modules that ``module`` runs, in order, with their paths
    (``nn.Sequential`` and what ``expand`` opens are expanded, recursively)."""
    import torch.nn as nn

    children = expand(module, path) if expand is not None else None
    if children is None and isinstance(module, nn.Sequential):
        children = [(f"{path}.{name}", child) for name, child in module.named_children()]
    if children is None:
        yield path, module
    else:
        for at, child in children:
            yield from leaves(child, at, expand)


def function_activation(fn: Callable[[Any], Any], at: str) -> Any:
    """The torch module that computes the activation function ``fn`` (an
    ``nn.Identity`` for the identity); ``ValueError`` naming ``at`` if it is
    none of the format's activations."""
    import torch
    import torch.nn as nn

    def values(x: np.ndarray) -> Any:
        with torch.no_grad():
            return fn(torch.tensor(x, dtype=torch.float64)).numpy()

    spec = activation_of(values, fn, at)
    if isinstance(spec, tuple):
        return nn.LeakyReLU(spec[1]) if spec[0] == "leaky_relu" else nn.ELU(spec[1])
    return {"identity": nn.Identity(), "relu": nn.ReLU(), "tanh": nn.Tanh(),
            "sigmoid": nn.Sigmoid(), "softplus": nn.Softplus()}[spec]


def _activation(m: Any, at: str) -> Optional[Any]:
    """The format's activation for an activation module, or None if ``m`` is
    not one."""
    import torch.nn as nn

    if isinstance(m, nn.ReLU):
        return "relu"
    if isinstance(m, nn.Tanh):
        return "tanh"
    if isinstance(m, nn.Sigmoid):
        return "sigmoid"
    if isinstance(m, nn.LeakyReLU):
        return ("leaky_relu", float(m.negative_slope))
    if isinstance(m, nn.ELU):
        return ("elu", float(m.alpha))
    if isinstance(m, nn.Softplus):
        if m.beta != 1:
            raise ValueError(f"{at} (Softplus): beta={m.beta} is not supported (only beta=1)")
        return "softplus"
    return None


def _flat(shape: Shape) -> int:
    return shape if isinstance(shape, int) else shape[0] * shape[1] * shape[2]


def _conv_out(n: int, k: int, s: int, p: int, op: int, transposed: bool) -> int:
    return (n - 1) * s - 2 * p + k + op if transposed else (n + 2 * p - k) // s + 1


def layer_dicts(module: Any, path: str, shape: Shape,
                expand: Optional[Expand] = None) -> Tuple[Layers, Shape]:
    """Layer dicts for ``rrae.write`` from a torch module whose input has
    ``shape``; returns them and the output shape."""
    import torch.nn as nn

    layers: Layers = []
    fusable = False  # the last layer may still take an activation
    for at, m in leaves(module, path, expand):
        kind = type(m).__name__
        act = _activation(m, at)
        if act is not None:
            if not fusable:
                raise ValueError(
                    f"{at} ({kind}): an activation must directly follow a Linear or convolution "
                    "layer (the format applies it inside the layer)"
                )
            layers[-1]["activation"] = act
            fusable = False
        elif isinstance(m, (nn.Identity, nn.Dropout)):
            continue
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise ValueError(f"{at} (Flatten): only Flatten(1, -1) is supported")
            shape = _flat(shape)
        elif isinstance(m, nn.Unflatten):
            sizes = tuple(int(v) for v in m.unflattened_size)
            if m.dim != 1 or len(sizes) != 3:
                raise ValueError(f"{at} (Unflatten): only Unflatten(1, (C, H, W)) is supported")
            if _flat(shape) != sizes[0] * sizes[1] * sizes[2]:
                raise ValueError(f"{at} (Unflatten): {sizes} does not hold {_flat(shape)} values")
            shape = sizes  # type: ignore[assignment]
        elif isinstance(m, nn.Linear):
            if not isinstance(shape, int):
                raise ValueError(f"{at} (Linear): input is an image {shape}; add nn.Flatten() before it")
            if m.in_features != shape:
                raise ValueError(f"{at} (Linear): takes {m.in_features} values, gets {shape}")
            bias = m.bias if m.bias is not None else np.zeros(m.out_features)
            layers.append({"kind": "dense", "weight": f32(m.weight), "bias": f32(bias)})
            shape, fusable = m.out_features, True
        elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            transposed = isinstance(m, nn.ConvTranspose2d)
            if isinstance(shape, int):
                raise ValueError(
                    f"{at} ({kind}): input is flat; add nn.Unflatten(1, (C, H, W)) before it "
                    "or pass input_shape"
                )
            if m.groups != 1 or _pair(m.dilation, "dilation", at) != (1, 1):
                raise ValueError(f"{at} ({kind}): groups and dilation other than 1 are not supported")
            if m.padding_mode != "zeros":
                raise ValueError(f"{at} ({kind}): padding_mode={m.padding_mode!r} is not supported")
            if shape[0] != m.in_channels:
                raise ValueError(f"{at} ({kind}): takes {m.in_channels} channels, gets {shape[0]}")
            k, s, p = (_pair(v, n, at) for v, n in ((m.kernel_size, "kernel_size"),
                                                    (m.stride, "stride"), (m.padding, "padding")))
            op = _pair(m.output_padding, "output_padding", at) if transposed else (0, 0)
            bias = m.bias if m.bias is not None else np.zeros(m.out_channels)
            layer = {
                "kind": "conv_transpose2d" if transposed else "conv2d",
                "weight": f32(m.weight), "bias": f32(bias), "input_shape": tuple(shape),
                "stride": s, "padding": p,
            }
            if transposed:
                layer["output_padding"] = op
            layers.append(layer)
            hw = [_conv_out(shape[1 + i], k[i], s[i], p[i], op[i], transposed) for i in range(2)]
            shape, fusable = (m.out_channels, hw[0], hw[1]), True
        else:
            raise ValueError(
                f"{at} ({type(m).__module__}.{kind}): not supported; use Linear, Conv2d, "
                "ConvTranspose2d, Flatten, Unflatten, ReLU, LeakyReLU, Tanh, Sigmoid, ELU, "
                "Softplus inside nn.Sequential"
            )
    if not layers:
        raise ValueError(f"{path}: has no Linear or convolution layer")
    return layers, shape


def fold_basis(enc: Layers, dec: Layers, u: np.ndarray) -> bool:
    """Folds ``U_k`` into the encoder's last and the decoder's first layer
    (``W' = U_k^T W``, ``b' = U_k^T b``; ``W_1' = W_1 U_k``, in float64), as
    the trainer's export does. Only when both are dense and the encoder's
    last has no activation; returns whether it folded (else nothing
    changes)."""
    last, first = enc[-1], dec[0]
    if last["kind"] != "dense" or first["kind"] != "dense" \
            or last.get("activation", "identity") != "identity":
        return False
    u64 = u.astype(np.float64)
    last["weight"] = (u64.T @ last["weight"].astype(np.float64)).astype(np.float32)
    last["bias"] = (u64.T @ last["bias"].astype(np.float64)).astype(np.float32)
    first["weight"] = (first["weight"].astype(np.float64) @ u64).astype(np.float32)
    return True


def first_input(encoder: Any, path: str, expand: Optional[Expand] = None) -> Shape:
    """The input width of an encoder that starts with a ``Linear``;
    ``ValueError`` asking for ``input_shape`` otherwise."""
    import torch.nn as nn

    first = next((m for _, m in leaves(encoder, path, expand)
                  if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))), None)
    if not isinstance(first, nn.Linear):
        raise ValueError(
            f"{path}: its first layer ({type(first).__name__}) does not say its input size; "
            "pass input_shape=(C, H, W)"
        )
    return int(first.in_features)


def export_pair(
    enc: Layers,
    dec: Layers,
    basis: Optional[np.ndarray],
    *,
    fold: bool,
    path: Union[str, "os.PathLike[str]", None],
    name: str,
    normalization: Optional[Mapping[str, Any]],
    sampler: Optional[Mapping[str, Any]],
    singular_values: Any,
) -> Any:
    """Writes (with ``path``) or builds the :class:`rrae.Model` of layer
    dicts and a basis, folding the basis first when asked and possible."""
    import rrae

    if basis is not None and fold and fold_basis(enc, dec, basis):
        basis = None
    args = dict(
        basis=basis,
        name=name,
        normalization=normalization,
        sampler=None if sampler is None else {k: f32(v) for k, v in sampler.items()},
        singular_values=None if singular_values is None else f32(singular_values),
    )
    if path is not None:
        return rrae.write(path, enc, dec, **args)
    return rrae.Model.from_bytes(rrae.model_bytes(enc, dec, **args))


def from_torch(
    encoder: Any,
    decoder: Any,
    basis: Any = None,
    *,
    path: Union[str, "os.PathLike[str]", None] = None,
    input_shape: Optional[Tuple[int, int, int]] = None,
    fold: bool = False,
    name: str = "model",
    normalization: Optional[Mapping[str, Any]] = None,
    sampler: Optional[Mapping[str, Any]] = None,
    singular_values: Any = None,
) -> Any:
    """Exports a torch encoder / decoder pair to a ``.rrae`` model.

    ``encoder`` maps a sample to the latent ``y`` (``latent_dim`` values);
    ``decoder`` maps the latent back to a sample. ``basis`` is ``U_k``
    (``(latent_dim, rank)``, tensor or array) or ``None`` if the encoder
    outputs the coefficients itself. ``input_shape=(C, H, W)`` when the
    encoder starts with a convolution (the runtime's samples are flat
    row-major ``C x H x W`` vectors). ``fold=True`` folds the basis into the
    encoder's last and the decoder's first layer when both are dense (the
    file then has no ``U_k`` and the latent width disappears). The other
    arguments are those of :func:`rrae.write`. Returns the
    :class:`rrae.Model`; with ``path`` the file is written too.

    Raises ``ValueError`` naming the module and its path (``encoder.3``) for
    anything the format cannot represent.

    >>> import torch, rrae
    >>> enc = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    >>> dec = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 8))
    >>> m = rrae.export.from_torch(enc, dec)
    >>> (m.input_dim, m.rank)
    (8, 2)
    """
    start: Shape = (tuple(int(v) for v in input_shape) if input_shape is not None  # type: ignore[assignment]
                    else first_input(encoder, "encoder"))
    enc, latent = layer_dicts(encoder, "encoder", start)
    u = None if basis is None else f32(basis)
    dec, _ = layer_dicts(decoder, "decoder", _flat(latent) if u is None else int(u.shape[0]))
    return export_pair(enc, dec, u, fold=fold, path=path, name=name, normalization=normalization,
                       sampler=sampler, singular_values=singular_values)
