"""The network and losses of the experiments, in the pure ``loss(params, *batch)`` form."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

PyTree = Any


class MLP(nnx.Module):
    """A ReLU multilayer perceptron without normalisation or dropout (a batch-independent loss).

    Args:
      sizes: layer widths, input first and output last (``(40, 128, 128, 10)``).
      rngs: ``nnx.Rngs`` for the LeCun-normal weights.
    """

    def __init__(self, sizes: Sequence[int], *, rngs: nnx.Rngs):
        if len(sizes) < 2:
            raise ValueError(f"`sizes` must list at least an input and an output, got {sizes!r}.")
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return self.layers[-1](x)


@dataclasses.dataclass(frozen=True)
class _Merged:
    graphdef: Any

    def __call__(self, params: PyTree, x: jax.Array) -> jax.Array:
        return nnx.merge(self.graphdef, params)(x)


def functional(model: nnx.Module) -> tuple[Callable[[PyTree, jax.Array], jax.Array], PyTree]:
    """``(apply_fn, params)`` with ``apply_fn(params, x) == model(x)``; ``apply_fn`` is hashable
    and equal for models of the same structure (jitted callers compile once)."""
    graphdef, params = nnx.split(model)
    return _Merged(graphdef), params


def softmax_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean cross-entropy of integer ``labels`` (n,) under ``logits`` (n, classes)."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


@dataclasses.dataclass(frozen=True)
class SplitLoss:
    """``loss(params, x, *targets) = output_loss(apply_fn(params, x), *targets)``.

    A loss in this form is an ordinary loss function (its Hessian is the true Hessian), and it
    also exposes the model/output split that the generalised Gauss-Newton matrix
    ``G = J^T H_out J`` needs (``curvature="ggn"``).

    Attributes:
      apply_fn: ``apply_fn(params, x) -> outputs``.
      output_loss: ``output_loss(outputs, *targets) -> scalar``, convex in ``outputs`` (softmax
        cross-entropy, square loss), so that ``G`` is positive semi-definite.
    """

    apply_fn: Callable[..., jax.Array]
    output_loss: Callable[..., jax.Array] = softmax_cross_entropy

    def __call__(self, params: PyTree, x: jax.Array, *targets: jax.Array) -> jax.Array:
        return self.output_loss(self.apply_fn(params, x), *targets)
