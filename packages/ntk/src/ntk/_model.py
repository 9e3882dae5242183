"""The fully connected network in NTK parametrization (Jacot et al., Sec. 2, Eq. (1))."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from ._activations import Activation, resolve_activation
from ._checks import check_beta


class NTKLinear(nnx.Module):
    """``h = a W / sqrt(n_in) + beta b`` with ``W, b ~ N(0, 1)`` (the NTK parametrization)."""

    def __init__(self, n_in: int, n_out: int, *, beta: float, rngs: nnx.Rngs):
        self.kernel = nnx.Param(jax.random.normal(rngs.params(), (n_in, n_out)))
        self.bias = nnx.Param(jax.random.normal(rngs.params(), (n_out,)))
        self.beta = beta

    def __call__(self, a: jax.Array) -> jax.Array:
        n_in = self.kernel.shape[0]
        return a @ self.kernel[...] / math.sqrt(n_in) + self.beta * self.bias[...]


class NTKMLP(nnx.Module):
    """Fully connected network in NTK parametrization, Jacot et al. Eq. (1).

    ``a(0) = x``, ``h(l+1) = W(l) a(l) / sqrt(n_l) + beta b(l)``, ``a(l) = sigma(h(l))`` on the hidden
    layers, ``f(x) = h(L)``; every weight and bias is i.i.d. N(0, 1) at initialization.

    Args:
      widths: ``(n_0, n_1, ..., n_L)``, input to output; the depth is ``L = len(widths) - 1``.
      activation: a name (``"relu"``, ``"erf"``, ``"tanh"``...) or an :class:`Activation`.
      beta: bias scale (the paper's experiments use 0.1).
      rngs: ``nnx.Rngs`` for the initialization.

    Raises:
      ValueError: fewer than two widths (depth < 1), a width < 1, or ``beta < 0``.

    References:
      Jacot, Gabriel, Hongler, "Neural Tangent Kernel", NeurIPS 2018, arXiv:1806.07572.
    """

    def __init__(
        self,
        widths: Sequence[int],
        *,
        activation: str | Activation = "relu",
        beta: float = 0.1,
        rngs: nnx.Rngs,
    ):
        widths = tuple(widths)
        if len(widths) < 2:
            raise ValueError(
                f"`widths` must list at least input and output widths (depth >= 1), got {widths}."
            )
        if any(not isinstance(n, int) or n < 1 for n in widths):
            raise ValueError(f"`widths` must be positive ints, got {widths}.")
        self.widths = widths
        self.beta = check_beta(beta)
        self.activation = resolve_activation(activation)
        self.layers = nnx.List(
            [
                NTKLinear(n_in, n_out, beta=self.beta, rngs=rngs)
                for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
            ]
        )

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(batch, n_0) -> (batch, n_L)``."""
        if x.ndim != 2 or x.shape[-1] != self.widths[0]:
            raise ValueError(f"`x` must be (batch, {self.widths[0]}), got x.shape={x.shape}.")
        h = x
        for i, layer in enumerate(self.layers):
            h = layer(self.activation.fn(h) if i > 0 else h)
        return h

    def weights(self) -> list[tuple[jax.Array, jax.Array]]:
        """``[(W(l), b(l))]`` as plain arrays, ``W(l)`` of shape ``(n_l, n_{l+1})``."""
        return [
            (jnp.asarray(layer.kernel[...]), jnp.asarray(layer.bias[...])) for layer in self.layers
        ]
