"""Activations and their Gaussian duals E[s(u)s(v)], E[s'(u)s'(v)] (Jacot et al., Sec. 3-4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

# A dual maps (s1, s2, s12) = (Sigma(x,x), Sigma(x',x'), Sigma(x,x')) to a Gaussian expectation.
Dual = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


class Activation(NamedTuple):
    """A nonlinearity with optional closed-form duals.

    Attributes:
      name: a label.
      fn: the elementwise nonlinearity sigma.
      dual: ``(s1, s2, s12) -> E[sigma(u) sigma(v)]`` for ``(u, v) ~ N(0, [[s1, s12], [s12, s2]])``;
        ``None`` means bivariate Gauss-Hermite quadrature.
      dual_deriv: the same for ``E[sigma'(u) sigma'(v)]``; ``None`` means quadrature of
        ``jax.grad(fn)``.
    """

    name: str
    fn: Callable[[jax.Array], jax.Array]
    dual: Dual | None = None
    dual_deriv: Dual | None = None


def _angle(s1, s2, s12):
    norm = jnp.sqrt(s1 * s2)
    # Rounding pushes the diagonal correlation above 1, where arccos is NaN.
    rho = jnp.clip(s12 / norm, -1.0, 1.0)
    return norm, jnp.arccos(rho)


def _relu_dual(s1, s2, s12):
    norm, theta = _angle(s1, s2, s12)
    return norm / (2 * jnp.pi) * (jnp.sin(theta) + (jnp.pi - theta) * jnp.cos(theta))


def _relu_dual_deriv(s1, s2, s12):
    _, theta = _angle(s1, s2, s12)
    return (jnp.pi - theta) / (2 * jnp.pi)


def _erf_dual(s1, s2, s12):
    arg = 2 * s12 / jnp.sqrt((1 + 2 * s1) * (1 + 2 * s2))
    return 2 / jnp.pi * jnp.arcsin(jnp.clip(arg, -1.0, 1.0))


def _erf_dual_deriv(s1, s2, s12):
    det = (1 + 2 * s1) * (1 + 2 * s2) - 4 * s12**2
    return 4 / jnp.pi / jnp.sqrt(det)


def _identity(x):
    return x


_NAMED = {
    "relu": Activation("relu", jax.nn.relu, _relu_dual, _relu_dual_deriv),
    "erf": Activation("erf", erf, _erf_dual, _erf_dual_deriv),
    "identity": Activation(
        "identity", _identity, lambda s1, s2, s12: s12, lambda s1, s2, s12: jnp.ones_like(s12)
    ),
    "tanh": Activation("tanh", jnp.tanh),
    "gelu": Activation("gelu", jax.nn.gelu),
    "sigmoid": Activation("sigmoid", jax.nn.sigmoid),
    "softplus": Activation("softplus", jax.nn.softplus),
}
ACTIVATION_NAMES = tuple(sorted(_NAMED))


def resolve_activation(activation: str | Activation) -> Activation:
    """The :class:`Activation` for a name or an ``Activation`` given as is.

    Raises:
      ValueError: for an unknown name (custom functions must come as ``Activation(name, fn)``,
        which has the quadrature fallback).
      TypeError: for anything that is neither a string nor an ``Activation``.
    """
    if isinstance(activation, Activation):
        if not callable(activation.fn):
            raise TypeError(f"`activation.fn` must be callable, got {activation.fn!r}.")
        return activation
    if isinstance(activation, str):
        if activation not in _NAMED:
            raise ValueError(
                f"`activation` must be one of {ACTIVATION_NAMES} or an Activation(name, fn) "
                f"(integrated by quadrature), got {activation!r}."
            )
        return _NAMED[activation]
    raise TypeError(
        f"`activation` must be a str or an Activation, got {type(activation).__name__}."
    )
