"""Activation functions recognised by their values: models that store an
activation as a plain function (a lambda, ``jax.nn.relu``, a closure over
``torch.nn.functional.relu``) are mapped to the format's activations."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

# Probe points: both signs, small and large values.
PROBE = np.linspace(-6.0, 6.0, 97)


def activation_of(values: Callable[[np.ndarray], Any], what: Any, at: str) -> Any:
    """The format's activation (``"identity"``, ``"relu"``, ``"tanh"``,
    ``"sigmoid"``, ``"softplus"``, ``("leaky_relu", slope)``,
    ``("elu", alpha)``) whose values on :data:`PROBE` equal
    ``values(PROBE)`` (float32 precision); ``ValueError`` naming ``at`` and
    ``what`` if none does."""
    try:
        y = np.asarray(values(PROBE), np.float64).reshape(PROBE.shape)
    except Exception as e:  # noqa: BLE001 (any failure means: not an activation we know)
        raise ValueError(f"{at}: activation {what!r} cannot be evaluated ({e})") from None
    x = PROBE
    slope = y[0] / x[0]
    alpha = y[0] / np.expm1(x[0])
    candidates = [
        ("identity", x),
        ("relu", np.maximum(x, 0.0)),
        ("tanh", np.tanh(x)),
        ("sigmoid", 1.0 / (1.0 + np.exp(-x))),
        ("softplus", np.log1p(np.exp(x))),
        (("leaky_relu", float(slope)), np.where(x > 0, x, slope * x)),
        (("elu", float(alpha)), np.where(x > 0, x, alpha * np.expm1(x))),
    ]
    for spec, ref in candidates:
        if np.allclose(y, ref, rtol=1e-5, atol=1e-6):
            return spec
    raise ValueError(
        f"{at}: activation {getattr(what, '__name__', what)!r} is not one the format has "
        "(identity, ReLU, LeakyReLU, Tanh, Sigmoid, ELU, Softplus)"
    )
