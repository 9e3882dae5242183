"""Sharpness, the top eigenvalue of the training loss Hessian, via :mod:`jaxpapers_shared.curvature`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks, curvature

from ._signals import ExampleLoss, _check_batch, _vmapped

__all__ = ["sharpness"]

PyTree = Any


@dataclasses.dataclass(frozen=True)
class _MeanLoss:
    """``(params, x, y) -> mean_i l_i`` from a batched per-example loss; hashed by it, so the
    Hessian products of :mod:`jaxpapers_shared.curvature` compile once per loss."""

    batched: Callable[[PyTree, jax.Array, jax.Array], jax.Array]

    def __call__(self, params: PyTree, x: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.mean(self.batched(params, x, y))


def _random_like(key: jax.Array, tree: PyTree) -> PyTree:
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        treedef,
        [
            jax.random.normal(k, jnp.shape(v), jnp.result_type(v))
            for k, v in zip(keys, leaves, strict=False)
        ],
    )


def _top_eigenpair(mean_loss: _MeanLoss, params, x, y, key, method: str, iters: int):
    matvec = curvature.hvp(mean_loss, params, x, y)
    v0 = _random_like(key, params)
    if method == "lanczos":
        return curvature.top_eigenvalue(matvec, v0, order=iters)
    return curvature.power_iteration(matvec, v0, max_iter=iters)


def sharpness(
    loss_fn: ExampleLoss,
    params: PyTree,
    batch: tuple,
    *,
    key: jax.Array,
    method: Literal["lanczos", "power"] = "lanczos",
    iters: int = 20,
) -> curvature.Eigenpair:
    """``lambda_max`` of the Hessian of the mean loss ``(1/n) sum_i l_i(theta)`` over ``batch``.

    Gradient descent with step size ``eta`` is stable along the top eigen-direction only while
    ``lambda_max < 2 / eta``; the paper's mechanism is that opposing signals drive
    ``lambda_max`` up to that edge (progressive sharpening) and then make the loss oscillate
    across it. Matrix-free: Hessian-vector products through :func:`jaxpapers_shared.curvature.hvp`.

    Args:
      loss_fn: ``loss_fn(params, x_i, y_i) -> ()``, the loss of one example.
      params: the parameters, a pytree of floats.
      batch: ``(x, y)``.
      key: PRNG key for the random start vector.
      method: ``"lanczos"`` (the largest *algebraic* eigenvalue, ``iters`` Lanczos steps) or
        ``"power"`` (largest *magnitude*, up to ``iters`` products; can return a negative
        eigenvalue early in training).
      iters: Lanczos steps (>= 2) or power iterations (>= 1).

    Returns:
      :class:`jaxpapers_shared.curvature.Eigenpair`: ``value``, ``vector``, ``residual``,
      ``converged``.

    Raises:
      ValueError: unknown ``method``, ``iters`` too small, non-finite ``params`` or batch.
    """
    checks.one_of(method, "method", ("lanczos", "power"))
    iters = checks.integer(iters, "iters", minimum=2 if method == "lanczos" else 1)
    x, y = _check_batch(batch)
    return _top_eigenpair(_MeanLoss(_vmapped(loss_fn)), params, x, y, key, method, iters)
