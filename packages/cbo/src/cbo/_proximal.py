"""The proximal (minimizing-movement, implicit gradient) step that consensus hopping tracks."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks

__all__ = ["proximal_step_bruteforce", "proximal_step_quadratic"]


def proximal_step_bruteforce(
    f: Callable[[jax.Array], jax.Array], x: jax.Array, tau: float, grid: jax.Array
) -> jax.Array:
    """``argmin_{g in grid} f(g) + ||g - x||^2 / (2 tau)``: the proximal step on a grid.

    An analysis helper for low dimension (one step of the minimizing movement scheme): for
    smooth ``E`` the minimizer ``x+`` satisfies the implicit gradient step
    ``x+ = x - tau grad E(x+)``.

    Args:
      f: objective ``(d,) -> scalar``.
      x: the current point ``(d,)``.
      tau: step size ``tau > 0`` (``alpha sigma^2`` for a consensus hop).
      grid: candidate points ``(M, d)``.

    Raises:
      ValueError: ``tau <= 0``, or shapes of ``x`` and ``grid`` that do not agree.
    """
    checks.positive(tau, "tau")
    x = checks.array(x, "x", ndim=1, dtype="float")
    grid = checks.array(grid, "grid", ndim=2, dtype="float")
    if grid.shape[1] != x.shape[0]:
        raise ValueError(f"`grid` must have shape (M, {x.shape[0]}), got {grid.shape}.")
    cost = jax.vmap(f)(grid) + jnp.sum((grid - x) ** 2, axis=-1) / (2.0 * tau)
    return grid[jnp.argmin(cost)]


def proximal_step_quadratic(
    hessian: jax.Array, center: jax.Array, x: jax.Array, tau: float
) -> jax.Array:
    """Exact proximal step of ``E(y) = 0.5 (y - a)^T H (y - a)``: ``(I + tau H)^{-1} (x + tau H a)``.

    This is the implicit gradient step ``x+ = x - tau H (x+ - a)``, and the mean of the Gibbs
    measure that one consensus hop samples in the mean-field limit, for every ``alpha``.

    Raises:
      ValueError: ``tau <= 0`` or shapes that do not agree (``H`` is ``(d, d)``).
    """
    checks.positive(tau, "tau")
    x = checks.array(x, "x", ndim=1, dtype="float")
    d = x.shape[0]
    hessian = checks.array(hessian, "hessian", shape=(d, d), dtype="float")
    center = checks.array(center, "center", shape=(d,), dtype="float")
    return jnp.linalg.solve(jnp.eye(d, dtype=x.dtype) + tau * hessian, x + tau * hessian @ center)
