"""The rectified-flow objective: interpolation, loss and time sampling (paper eq. 1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from rectified_flow import _checks

ApplyFn = Callable[[Any, jax.Array, jax.Array], jax.Array]

EPS = 1e-3


def _checked_interpolation(x0, x1, t) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Validated ``(xt, target, t)`` with ``t`` broadcast to ``(n,)`` in the data's dtype."""
    x0, x1 = _checks.pair(x0, x1)
    t = _checks.time(t, x0.shape[0]).astype(x0.dtype)
    tb = t.reshape(t.shape + (1,) * (x0.ndim - 1))
    return tb * x1 + (1.0 - tb) * x0, x1 - x0, t


def interpolate(x0: jax.Array, x1: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Linear interpolation X_t = t X1 + (1 - t) X0 and its velocity target X1 - X0.

    Convention (the paper's): X0 ~ pi_0 (noise or source) at t = 0, X1 ~ pi_1 (data) at t = 1.
    diffusers / SD3 put noise at t = 1; do not mix the two.

    Args:
      x0: ``(n, *d)`` samples of pi_0.
      x1: ``(n, *d)`` samples of pi_1, paired row by row with ``x0``.
      t: scalar or ``(n,)`` times in [0, 1].

    Returns:
      ``(xt, target)``, both ``(n, *d)``.

    Raises:
      ValueError: shapes differ, ``t`` is not broadcastable to the batch or lies outside [0, 1].
      TypeError: a non-float dtype.
    """
    xt, target, _ = _checked_interpolation(x0, x1, t)
    return xt, target


def rectified_flow_loss(
    apply_fn: ApplyFn, params: Any, x0: jax.Array, x1: jax.Array, t: jax.Array
) -> jax.Array:
    """Monte-Carlo estimate of min_v int_0^1 E||(X1 - X0) - v(X_t, t)||^2 dt (paper eq. 1).

    Args:
      apply_fn: ``apply_fn(params, x, t) -> v`` with ``x`` ``(n, *d)`` and ``t`` ``(n,)``.
      params: the velocity model's parameters (any pytree).
      x0, x1: ``(n, *d)`` coupled samples (independent for 1-RF, reflow pairs for k-RF).
      t: scalar or ``(n,)`` times in [0, 1], e.g. from :func:`sample_time`.

    Returns:
      Scalar loss: mean over the batch and the data dimensions (as the official code).

    Raises:
      ValueError / TypeError: as :func:`interpolate`, or ``apply_fn`` returns a velocity whose
        shape differs from ``x0``'s (it would broadcast silently against the target).
    """
    xt, target, t = _checked_interpolation(x0, x1, t)
    v = apply_fn(params, xt, t)
    if jnp.shape(v) != xt.shape:
        raise ValueError(
            f"`apply_fn` must return velocities shaped like `x0` {xt.shape}, got {jnp.shape(v)}."
        )
    return jnp.mean((v - target) ** 2)


def sample_time(key: jax.Array, n: int, eps: float = EPS, grid: int | None = None) -> jax.Array:
    """Training times: t ~ U(eps, 1), or a k-step distillation grid {eps, 1/k, ..., (k-1)/k}.

    Args:
      key: PRNG key.
      n: number of times.
      eps: the smallest time (1e-3 in the official code; one-step generation evaluates v(., eps)).
      grid: ``None`` for reflow / 1-RF training; ``k >= 1`` for k-step distillation
        (k = 1 trains only at t = eps, the official one-step distillation).

    Returns:
      ``(n,)`` float32 times.

    Raises:
      ValueError / TypeError: ``n`` or ``grid`` < 1 or not an int, ``eps`` outside [0, 1).
    """
    n = _checks.steps(n, "n")
    eps = _checks.eps(eps)
    if grid is None:
        return jax.random.uniform(key, (n,), minval=eps, maxval=1.0)
    k = _checks.steps(grid, "grid")
    i = jax.random.randint(key, (n,), 0, k)
    return jnp.maximum(i / k, eps).astype(jnp.float32)
