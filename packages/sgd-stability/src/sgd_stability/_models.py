"""The paper's two models and the parameter norms their sharpness is equivalent to (Wu & Su, Sec. 4).

At an interpolating minimum of the square loss ``(1/2n) sum_i (f(x_i) - y_i)^2`` the Hessian is
``H = J^T J / n``, so ``tr H = (1/n) sum_i ||grad_theta f(x_i)||^2``. For both models that sum is
bounded below by a norm of the parameters, which is how a sharpness bound becomes a complexity
bound: a minimum that SGD (batch size 1) can stay at has ``tr H <= 2 / eta``, hence

* two-layer ReLU: ``data_path_norm <= tr H / 2 <= 1 / eta``;
* diagonal linear network ``beta = u*u - v*v``: ``weighted_l1(beta) <= tr H / 4 <= 1 / (2 eta)``.
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

from jaxpapers_shared import checks

__all__ = ["DiagonalLinearNet", "TwoLayerReLU", "data_path_norm", "weighted_l1"]


class TwoLayerReLU(nnx.Module):
    """``f(x) = sum_k a_k relu(w_k . x)``: a width-``m`` two-layer ReLU network without biases.

    Initialised with ``w_k ~ N(0, I / d)`` and ``a_k ~ N(0, 1 / m)`` (LeCun normal). A bias is
    folded in by appending a constant coordinate to ``x``.

    Args:
      in_features: ``d``.
      width: ``m``, the number of hidden units.
      rngs: ``nnx.Rngs`` for the initialisation.
    """

    def __init__(self, in_features: int, width: int, *, rngs: nnx.Rngs):
        checks.integer(in_features, "in_features", minimum=1)
        checks.integer(width, "width", minimum=1)
        self.w = nnx.Param(
            jax.random.normal(rngs.params(), (width, in_features)) / math.sqrt(in_features)
        )
        self.a = nnx.Param(jax.random.normal(rngs.params(), (width,)) / math.sqrt(width))

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(n, d) -> (n,)``."""
        return jax.nn.relu(x @ self.w[...].T) @ self.a[...]


class DiagonalLinearNet(nnx.Module):
    """A diagonal linear network ``f(x) = <beta, x>`` with ``beta = u*u - v*v`` (or ``u*v``).

    The ``"uu-vv"`` parametrisation (Woodworth et al., 2020) represents any sign with
    ``u = v = init_scale`` at initialisation (``beta = 0``); small ``init_scale`` biases gradient
    flow towards sparse ``beta``. ``"uv"`` starts from ``u = init_scale``, ``v = 0``.

    Args:
      in_features: ``d``.
      init_scale: ``alpha > 0``, the initial magnitude of ``u`` (and ``v``).
      parametrization: ``"uu-vv"`` (default) or ``"uv"``.
    """

    def __init__(
        self,
        in_features: int,
        *,
        init_scale: float = 0.1,
        parametrization: Literal["uu-vv", "uv"] = "uu-vv",
    ):
        checks.integer(in_features, "in_features", minimum=1)
        checks.positive(init_scale, "init_scale")
        self.parametrization = checks.one_of(parametrization, "parametrization", ("uu-vv", "uv"))
        self.u = nnx.Param(jnp.full((in_features,), float(init_scale)))
        v0 = float(init_scale) if parametrization == "uu-vv" else 0.0
        self.v = nnx.Param(jnp.full((in_features,), v0))

    def beta(self) -> jax.Array:
        """The linear predictor ``(d,)``: ``u*u - v*v`` or ``u*v``."""
        u, v = self.u[...], self.v[...]
        return u * u - v * v if self.parametrization == "uu-vv" else u * v

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(n, d) -> (n,)``."""
        return x @ self.beta()


def data_path_norm(model: TwoLayerReLU, x: jax.Array) -> jax.Array:
    """``P(theta) = (1/n) sum_i ||x_i|| sum_k |a_k| relu(w_k . x_i)``: a data-dependent path norm.

    By AM-GM, ``||grad f(x)||^2 = sum_k relu(w_k.x)^2 + a_k^2 1{w_k.x > 0} ||x||^2
    >= 2 ||x|| sum_k |a_k| relu(w_k.x)``, so ``tr H >= 2 P`` at an interpolating minimum, with
    equality when every active unit is balanced (``|a_k| ||x|| = relu(w_k.x)``). Also
    ``P <= max_i ||x_i||^2 sum_k |a_k| ||w_k||`` (the usual path norm).

    Args:
      model: a :class:`TwoLayerReLU`.
      x: (n, d) inputs.

    Returns:
      () the norm.
    """
    if not isinstance(model, TwoLayerReLU):
        raise TypeError(f"`model` must be a TwoLayerReLU, got {type(model).__name__}.")
    x = checks.array(x, "x", shape=(None, model.w.shape[1]), dtype="float")
    active = jax.nn.relu(x @ model.w[...].T)  # (n, m)
    per_example = jnp.linalg.norm(x, axis=1) * (active @ jnp.abs(model.a[...]))
    return jnp.mean(per_example)


def weighted_l1(model: DiagonalLinearNet, x: jax.Array) -> jax.Array:
    """``sum_j s_j |beta_j|`` with ``s_j = (1/n) sum_i x_ij^2``: the norm ``tr H`` controls.

    For ``beta = u*u - v*v``, ``tr H = 4 sum_j s_j (u_j^2 + v_j^2) >= 4 sum_j s_j |beta_j|``
    (equality when ``min(u_j^2, v_j^2) = 0``); for ``beta = u*v``,
    ``tr H = sum_j s_j (u_j^2 + v_j^2) >= 2 sum_j s_j |beta_j|``.

    Args:
      model: a :class:`DiagonalLinearNet`.
      x: (n, d) inputs.

    Returns:
      () the norm.
    """
    if not isinstance(model, DiagonalLinearNet):
        raise TypeError(f"`model` must be a DiagonalLinearNet, got {type(model).__name__}.")
    x = checks.array(x, "x", shape=(None, model.u.shape[0]), dtype="float")
    return jnp.sum(jnp.mean(x**2, axis=0) * jnp.abs(model.beta()))
