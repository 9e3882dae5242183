"""The rectified-flow objective: interpolation, loss and time sampling (paper eq. 1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from rectified_flow._checks import check_num_steps, check_pair, check_time

ApplyFn = Callable[[Any, jax.Array, jax.Array], jax.Array]

EPS = 1e-3


def _bcast(t: jax.Array, x: jax.Array) -> jax.Array:
    return t.reshape(t.shape + (1,) * (x.ndim - 1))


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
    x0, x1 = check_pair(x0, x1)
    t = check_time(t, x0.shape[0])
    tb = _bcast(t, x0)
    return tb * x1 + (1.0 - tb) * x0, x1 - x0


def rectified_flow_loss(
    apply_fn: ApplyFn, params: Any, x0: jax.Array, x1: jax.Array, t: jax.Array
) -> jax.Array:
    """Monte-Carlo estimate of min_v int_0^1 E||(X1 - X0) - v(X_t, t)||^2 dt (paper eq. 1).

    Args:
      apply_fn: ``apply_fn(params, x, t) -> v`` with ``x`` ``(n, *d)`` and ``t`` ``(n,)``.
      params: the velocity model's parameters (any pytree).
      x0, x1: ``(n, *d)`` coupled samples (independent for 1-RF, reflow pairs for k-RF).
      t: ``(n,)`` times, e.g. from :func:`sample_time`.

    Returns:
      Scalar loss: mean over the batch and the data dimensions (as the official code).
    """
    xt, target = interpolate(x0, x1, t)
    v = apply_fn(params, xt, jnp.broadcast_to(jnp.asarray(t, xt.dtype), (xt.shape[0],)))
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
      ValueError / TypeError: ``grid < 1`` or not an int.
    """
    if grid is None:
        return jax.random.uniform(key, (n,), minval=eps, maxval=1.0)
    k = check_num_steps(grid, "grid")
    i = jax.random.randint(key, (n,), 0, k)
    return jnp.maximum(i / k, eps).astype(jnp.float32)
