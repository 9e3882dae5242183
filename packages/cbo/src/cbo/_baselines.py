"""Gradient baselines of the paper's Figure 2: gradient descent and annealed Langevin dynamics."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks

__all__ = ["annealed_langevin", "gradient_descent"]


@functools.partial(jax.jit, static_argnames=("f", "num_steps"))
def _langevin(f, x0, key, step, sigma, *, num_steps):
    grad = jax.grad(f)
    sqstep = jnp.sqrt(step)

    def body(x, k):  # k = 1 .. K as in the official loop
        xi = jax.random.normal(jax.random.fold_in(key, k), x.shape, x.dtype)
        x = x - step * grad(x) + sigma / jnp.log(k + 1.0) * sqstep * xi
        return x, x

    return jax.lax.scan(body, x0, jnp.arange(1, num_steps + 1))


def _check(f, x0, step, num_steps):
    if not callable(f):
        raise TypeError(f"`f` must be callable (d,) -> scalar, got {type(f).__name__}.")
    checks.positive(step, "step")
    checks.integer(num_steps, "num_steps", minimum=1)
    return checks.array(x0, "x0", ndim=1, dtype="float")


def gradient_descent(
    f: Callable[[jax.Array], jax.Array],
    x0: jax.Array,
    *,
    step: float = 1e-3,
    num_steps: int = 10_000,
) -> tuple[jax.Array, jax.Array]:
    """Explicit gradient descent ``x <- x - step grad f(x)`` (the paper's Fig. 2b baseline).

    Returns ``(x_K, trajectory)`` with the trajectory of shape ``(K, d)``. The official script
    uses learning rate 1 and ``dt = 0.001`` (so ``step = 0.001``) with a central finite-difference
    gradient; here the gradient is ``jax.grad``.
    """
    x0 = _check(f, x0, step, num_steps)
    return _langevin(f, x0, jax.random.PRNGKey(0), step, 0.0, num_steps=num_steps)


def annealed_langevin(
    f: Callable[[jax.Array], jax.Array],
    x0: jax.Array,
    key: jax.Array,
    *,
    step: float = 1e-3,
    sigma: float = 10.0,
    num_steps: int = 10_000,
) -> tuple[jax.Array, jax.Array]:
    """Annealed overdamped Langevin: ``x <- x - step grad f(x) + sigma / log(k + 1) sqrt(step) xi``.

    The paper's Fig. 2c baseline (official ``GDLangevin.m``, ``k = 1, 2, ...``). Returns
    ``(x_K, trajectory)``.
    """
    x0 = _check(f, x0, step, num_steps)
    checks.positive(sigma, "sigma", allow_zero=True)
    return _langevin(f, x0, key, step, sigma, num_steps=num_steps)
