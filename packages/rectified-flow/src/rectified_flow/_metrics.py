"""Straightness, transport cost and energy distance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from rectified_flow._checks import check_pair
from rectified_flow._flow import EPS, ApplyFn
from rectified_flow._samplers import euler_sample


def _sq_norm(x: jax.Array) -> jax.Array:
    return jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=-1)


def straightness(
    apply_fn: ApplyFn, params: Any, z0: jax.Array, num_steps: int = 100, *, eps: float = EPS
) -> jax.Array:
    """S(Z) = int_0^1 E||(Z1 - Z0) - dZ_t/dt||^2 dt on the learned ODE (paper eq. 5, Def. 2.4).

    Measured on the model's own Euler trajectories with the velocities it outputs (not on the
    training interpolants). S = 0 means straight paths, where one Euler step is exact.

    Args:
      apply_fn, params: the flow.
      z0: ``(n, *d)`` samples of pi_0.
      num_steps: Euler steps of the simulation (the time integral is their average).

    Returns:
      Scalar straightness (squared norm summed over data dims, mean over samples).
    """
    z1, _, vs = euler_sample(apply_fn, params, z0, num_steps, eps=eps, return_path=True)
    disp = z1 - z0
    return jnp.mean(jax.vmap(lambda v: jnp.mean(_sq_norm(disp - v)))(vs))


def sq_euclidean(d: jax.Array) -> jax.Array:
    """c(d) = ||d||^2 per row."""
    return _sq_norm(d)


def transport_cost(
    z0: jax.Array, z1: jax.Array, cost: Callable[[jax.Array], jax.Array] = sq_euclidean
) -> jax.Array:
    """E[c(Z1 - Z0)] of a coupling.

    Theorem 3.5 (paper): rectification does not increase it for any convex c (for the exact
    v*). Non-convex costs are accepted, but the theorem says nothing about them.

    Args:
      z0, z1: ``(n, *d)`` paired samples.
      cost: ``cost(d) -> (n,)`` applied to the displacements.

    Returns:
      Scalar mean cost.
    """
    z0, z1 = check_pair(z0, z1)
    return jnp.mean(cost(z1 - z0))


@jax.jit
def energy_distance(x: jax.Array, y: jax.Array) -> jax.Array:
    """Energy distance 2E|X - Y| - E|X - X'| - E|Y - Y'| between two ``(n, d)`` samples (V-stat)."""
    x = x.reshape(x.shape[0], -1)
    y = y.reshape(y.shape[0], -1)

    def mean_dist(a, b):
        d2 = jnp.sum(a**2, 1)[:, None] + jnp.sum(b**2, 1)[None, :] - 2 * a @ b.T
        return jnp.mean(jnp.sqrt(jnp.maximum(d2, 1e-12)))

    return 2 * mean_dist(x, y) - mean_dist(x, x) - mean_dist(y, y)
