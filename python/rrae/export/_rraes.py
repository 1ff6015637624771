"""RRAEs models (PyPI ``rraes``, JAX/equinox): ``RRAE_MLP`` and
``RRAE_CNN`` from their ``RRAE_Trainor_class``, with the trainor's basis and
its input/output normalization. Reads the equinox layers directly (no torch
needed)."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ._activations import activation_of
from ._torch import Layers, Shape, export_pair, f32


def _fn_activation(fn: Any, at: str) -> Any:
    """The format's activation of a JAX function (``jax.nn.relu``, a lambda)."""
    import jax.numpy as jnp

    return activation_of(lambda x: np.asarray(fn(jnp.asarray(x, jnp.float32))), fn, at)


def _act(layers: Layers, fn: Any, at: str) -> None:
    spec = _fn_activation(fn, at)
    if spec == "identity":
        return
    if "activation" in layers[-1]:
        raise ValueError(f"{at}: a second activation after {layers[-1]['kind']} is not supported")
    layers[-1]["activation"] = spec


def _linear(m: Any) -> Dict[str, Any]:
    bias = m.bias if m.bias is not None else np.zeros(m.out_features)
    return {"kind": "dense", "weight": f32(m.weight), "bias": f32(bias)}


def _pairs(v: Any) -> Tuple[int, int]:
    return (int(v[0]), int(v[1]))


def _conv(m: Any, at: str, shape: Shape) -> Tuple[Dict[str, Any], Shape]:
    """A layer dict (PyTorch semantics) for an equinox ``Conv2d`` or
    ``ConvTranspose2d`` whose input has ``shape``, and its output shape."""
    kind = type(m).__name__
    transposed = "Transpose" in kind
    if isinstance(shape, int) or m.num_spatial_dims != 2:
        raise ValueError(f"{at} ({kind}): only 2-D convolutions on (C, H, W) inputs are supported")
    if m.groups != 1 or _pairs(m.dilation) != (1, 1):
        raise ValueError(f"{at} ({kind}): groups and dilation other than 1 are not supported")
    if str(getattr(m, "padding_mode", "ZEROS")).upper() != "ZEROS":
        raise ValueError(f"{at} ({kind}): padding_mode={m.padding_mode!r} is not supported")
    if any(lo != hi for lo, hi in m.padding):
        raise ValueError(f"{at} ({kind}): asymmetric padding {m.padding} is not supported")
    pad = (int(m.padding[0][0]), int(m.padding[1][0]))
    stride, k = _pairs(m.stride), _pairs(m.kernel_size)
    w = np.asarray(m.weight, np.float32)  # (out, in, kh, kw) in equinox, both kinds
    bias = np.asarray(m.bias, np.float32).reshape(-1) if m.use_bias else np.zeros(w.shape[0], np.float32)
    layer = {"kind": "conv2d", "weight": w, "bias": bias, "input_shape": tuple(shape),
             "stride": stride, "padding": pad}
    if transposed:
        # equinox runs a dilated convolution with the kernel as stored; the
        # PyTorch layout is (in, out, kh, kw) with the kernel flipped.
        op = _pairs(m.output_padding)
        layer.update(kind="conv_transpose2d", output_padding=op,
                     weight=np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]))
        hw = [(shape[1 + i] - 1) * stride[i] - 2 * pad[i] + k[i] + op[i] for i in range(2)]
    else:
        hw = [(shape[1 + i] + 2 * pad[i] - k[i]) // stride[i] + 1 for i in range(2)]
    if w.shape[1] != shape[0]:
        raise ValueError(f"{at} ({kind}): takes {w.shape[1]} channels, gets {shape[0]}")
    return layer, (int(w.shape[0]), hw[0], hw[1])


def _walk(m: Any, at: str, shape: Shape, out: Layers) -> Shape:
    """Appends the layer dicts of the RRAEs module ``m`` (input ``shape``)
    to ``out``, in the order its ``__call__`` runs; returns the output
    shape."""
    kind = type(m).__name__
    if kind in ("MLP", "MLP_with_linear"):  # equinox MLP (+ RRAEs' extra linear maps)
        if not isinstance(shape, int):
            shape = shape[0] * shape[1] * shape[2]
        for i, lin in enumerate(m.layers):
            if lin.in_features != shape:
                raise ValueError(f"{at}.layers[{i}] (Linear): takes {lin.in_features} values, gets {shape}")
            out.append(_linear(lin))
            shape = int(lin.out_features)
            fn = m.activation if i < len(m.layers) - 1 else m.final_activation
            _act(out, fn, f"{at}.activation" if i < len(m.layers) - 1 else f"{at}.final_activation")
        for i, lin in enumerate(getattr(m, "layers_l", ())[:-1]):
            out.append(_linear(lin))
            shape = int(lin.out_features)
        return shape
    if kind == "MLCNN":
        n = len(m.layers)
        for i, conv in enumerate(m.layers):
            layer, shape = _conv(conv, f"{at}.layers[{i}]", shape)
            out.append(layer)
            fn = m.activation[i] if i < n - 1 else m.final_activation
            _act(out, fn, f"{at}.activation[{i}]" if i < n - 1 else f"{at}.final_activation")
        return shape
    if kind == "CNNs_with_MLP":  # convolutions, ravel, MLP, final activation
        shape = _walk(m.layers[0], f"{at}.layers[0]", shape, out)
        shape = _walk(m.layers[1], f"{at}.layers[1]", shape, out)
        _act(out, m.layers[2], f"{at}.layers[2]")
        return shape
    if kind == "MLP_with_CNNs_trans":  # MLP, reshape, transposed convolutions, conv, activation
        shape = _walk(m.layers[0], f"{at}.layers[0]", shape, out)
        image = (int(m.out_after_mlp), *(int(d) for d in m.d_shape))
        if len(image) != 3 or image[0] * image[1] * image[2] != shape:
            raise ValueError(f"{at} (MLP_with_CNNs_trans): only 2-D images are supported")
        shape = _walk(m.layers[1], f"{at}.layers[1]", image, out)
        layer, shape = _conv(m.layers[2], f"{at}.layers[2]", shape)
        out.append(layer)
        _act(out, m.layers[3], f"{at}.layers[3]")
        return shape
    raise ValueError(f"{at} ({type(m).__module__}.{kind}): not supported; RRAEs' MLP_with_linear, "
                     "CNNs_with_MLP and MLP_with_CNNs_trans are")


def _normalization(model: Any) -> Optional[Dict[str, float]]:
    """The runtime's normalization from the model's ``params_in`` /
    ``params_out`` (RRAEs' ``norm_in`` / ``norm_out``), which must agree."""
    def shift_scale(p: Any) -> Optional[Tuple[float, float]]:
        kind = type(p).__name__
        if kind == "MeanStdParams":
            return float(p.mean), float(p.std)
        if kind == "MinMaxParams":
            return float(p.min), float(p.max) - float(p.min)
        if p is None or kind == "NormParams":
            return None
        raise ValueError(f"model.params_in ({kind}): normalization not supported")

    n_in = shift_scale(getattr(model, "params_in", None))
    n_out = shift_scale(getattr(model, "params_out", None))
    if n_in != n_out:
        raise ValueError(f"model: norm_in {n_in} and norm_out {n_out} differ; the format has one "
                         "(shift, scale) for the input and the output")
    return None if n_in is None else {"shift": n_in[0], "scale": n_in[1]}


def from_rraes(
    trainor: Any,
    *,
    basis: Any = None,
    path: Union[str, "os.PathLike[str]", None] = None,
    fold: bool = True,
    name: str = "model",
) -> Any:
    """Exports an RRAEs (JAX/equinox) ``RRAE_MLP`` or ``RRAE_CNN`` from the
    ``RRAE_Trainor_class`` that trained it to a ``.rrae`` model whose
    forward equals ``trainor.model(x, apply_basis=trainor.basis)`` (the
    evaluation forward of ``trainor.evaluate``), normalization included.

    The basis is ``trainor.basis``, set by the fine-tuning stage
    (``fit(..., ft_kwargs=...)``), or ``basis=`` (``(latent, k)``). RRAEs
    lays samples out in the last axis (``(D, N)``, ``(C, H, W, N)``); the
    runtime takes rows (``(N, D)``, ``(N, C*H*W)``). The basis is folded
    into the neighbouring dense layers (``fold``).

    Raises ``ValueError`` naming the module and its path for anything the
    format cannot represent (other layers, custom activations, different
    input and output normalizations).

    >>> import RRAEs.config, rrae                                      # doctest: +SKIP
    >>> trainor.fit(x, x, training_key=key, training_kwargs=..., ft_kwargs=...)  # doctest: +SKIP
    >>> m = rrae.export.from_rraes(trainor, path="rraes.rrae")         # doctest: +SKIP
    """
    model = getattr(trainor, "model", trainor)
    kind = type(model).__name__
    if kind not in ("RRAE_MLP", "RRAE_CNN"):
        raise ValueError(f"model ({kind}): only RRAE_MLP and RRAE_CNN are supported")
    u = basis if basis is not None else getattr(trainor, "basis", None)
    if u is None:
        raise ValueError("trainor.basis: not set (fine-tune the basis with fit(..., ft_kwargs=...)) "
                         "or pass basis=")
    u = f32(u)
    kwargs = getattr(trainor, "all_kwargs", {}).get("kwargs", {})
    start: Shape
    if kind == "RRAE_CNN":
        if not all(k in kwargs for k in ("channels", "height", "width")):
            raise ValueError("trainor.all_kwargs: has no channels / height / width for the RRAE_CNN")
        start = (int(kwargs["channels"]), int(kwargs["height"]), int(kwargs["width"]))
    else:
        start = int(model._encode.layers[0].in_features)
    enc: List[Dict[str, Any]] = []
    dec: List[Dict[str, Any]] = []
    latent = _walk(model._encode, "_encode", start, enc)
    if latent != u.shape[0]:
        raise ValueError(f"basis: has {u.shape[0]} rows, the encoder outputs {latent} values")
    _walk(model._decode, "_decode", int(u.shape[0]), dec)
    return export_pair(enc, dec, u, fold=fold, path=path, name=name,
                       normalization=_normalization(model), sampler=None, singular_values=None)
