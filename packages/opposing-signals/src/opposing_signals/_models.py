"""The networks of the paper's experiments and the per-example losses they are trained with."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxpapers_shared import checks

__all__ = ["MLP", "TwoLayerLinear", "example_losses"]

LossName = Literal["square", "cross_entropy"]


class TwoLayerLinear(nnx.Module):
    """``f(x) = b^T A x``: the two-layer linear network of the paper's analysis (Sec. 3).

    ``A`` is ``(width, d)`` and ``b`` is ``(width,)``, both drawn ``N(0, init_scale^2 / fan_in)``.
    A **small** ``init_scale`` matters: the curvature along a feature of scale ``alpha`` grows like
    ``alpha^2 ||b||^2``, so sharpness has to *grow* during training (progressive sharpening)
    instead of starting high.

    Args:
      in_features: ``d``.
      width: the hidden width ``k``.
      rngs: ``nnx.Rngs`` for the initialisation.
      init_scale: the factor ``c`` in ``N(0, c^2 / fan_in)``.
    """

    def __init__(self, in_features: int, width: int, *, rngs: nnx.Rngs, init_scale: float = 0.1):
        checks.integer(in_features, "in_features", minimum=1)
        checks.integer(width, "width", minimum=1)
        checks.positive(init_scale, "init_scale")
        a = jax.random.normal(rngs.params(), (width, in_features))
        self.a = nnx.Param(a * init_scale / math.sqrt(in_features))
        self.b = nnx.Param(
            jax.random.normal(rngs.params(), (width,)) * init_scale / math.sqrt(width)
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        """(n, d) inputs -> (n,) outputs."""
        return (x @ self.a[...].T) @ self.b[...]


class MLP(nnx.Module):
    """A fully connected network ``in_features -> hidden... -> out_features`` with biases.

    Args:
      in_features: input dimension.
      hidden: the hidden widths (the paper's "deep" toy uses two layers).
      out_features: number of outputs (classes).
      rngs: ``nnx.Rngs`` for the (LeCun normal) initialisation.
      activation: ``"tanh"`` or ``"relu"``.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        *,
        rngs: nnx.Rngs,
        activation: Literal["tanh", "relu"] = "tanh",
    ):
        checks.integer(in_features, "in_features", minimum=1)
        checks.integer(out_features, "out_features", minimum=1)
        checks.one_of(activation, "activation", ("tanh", "relu"))
        sizes = [in_features, *(checks.integer(h, "hidden", minimum=1) for h in hidden)]
        self.layers = nnx.List(
            [
                nnx.Linear(i, o, rngs=rngs)
                for i, o in zip(sizes, [*sizes[1:], out_features], strict=False)
            ]
        )
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        """(n, in_features) -> (n, out_features)."""
        act = jnp.tanh if self.activation == "tanh" else jax.nn.relu
        for layer in self.layers[:-1]:
            x = act(layer(x))
        return self.layers[-1](x)


def example_losses(outputs: jax.Array, targets: jax.Array, loss: LossName) -> jax.Array:
    """Per-example losses ``(n,)``: ``square`` is ``1/2 ||f - y||^2`` (targets as outputs, or
    integer classes, one-hot encoded); ``cross_entropy`` takes integer class targets."""
    if loss == "cross_entropy":
        return optax.softmax_cross_entropy_with_integer_labels(outputs, targets)
    if jnp.issubdtype(targets.dtype, jnp.integer):
        targets = jax.nn.one_hot(targets, outputs.shape[-1], dtype=outputs.dtype)
    diff = outputs - targets
    return 0.5 * (diff**2 if diff.ndim == 1 else jnp.sum(diff**2, axis=-1))
