"""Straightness, transport cost and energy distance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks
from rectified_flow import _checks
from rectified_flow._flow import EPS, ApplyFn
from rectified_flow._samplers import euler_sample


def _sq_norm(x: jax.Array) -> jax.Array:
    return jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=-1)


def straightness(
    apply_fn: ApplyFn,
    params: Any,
    z0: jax.Array,
    num_steps: int = 100,
    *,
    eps: float = EPS,
    return_samples: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """S(Z) = int_0^1 E||(Z1 - Z0) - dZ_t/dt||^2 dt on the learned ODE (paper eq. 5, Def. 2.4).

    Measured on the model's own Euler trajectories with the velocities it outputs (not on the
    training interpolants). S = 0 means straight paths, where one Euler step is exact.

    Args:
      apply_fn, params: the flow.
      z0: ``(n, *d)`` samples of pi_0.
      num_steps: Euler steps of the simulation (the time integral is their average).
      return_samples: also return the simulated ``z1`` (the same ``num_steps``-step Euler
        samples :func:`euler_sample` gives), so a caller needs no second simulation.

    Returns:
      Scalar straightness (squared norm summed over data dims, mean over samples), or
      ``(straightness, z1)``.

    Raises:
      As :func:`euler_sample`.
    """
    z1, _, vs = euler_sample(apply_fn, params, z0, num_steps, eps=eps, return_path=True)
    disp = z1 - z0
    s = jnp.mean(jax.vmap(lambda v: jnp.mean(_sq_norm(disp - v)))(vs))
    return (s, z1) if return_samples else s


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
    z0, z1 = _checks.pair(z0, z1, ("z0", "z1"))
    return jnp.mean(cost(z1 - z0))


def _samples(x: Any, name: str) -> jax.Array:
    x = checks.array(x, name, dtype="float")
    if x.ndim < 1:
        raise ValueError(f"`{name}` must have a leading sample axis, got {name}.shape={x.shape}.")
    return x.reshape(x.shape[0], -1)


def energy_distance(x: jax.Array, y: jax.Array) -> jax.Array:
    """Energy distance 2E|X - Y| - E|X - X'| - E|Y - Y'| between two samples (V-statistic).

    The V-statistic averages over all pairs, the zero self-distances included, so it is biased
    upwards by about (E|X - X'| / n + E|Y - Y'| / m): compare models on equal sample sizes.

    Args:
      x: ``(n, *d)`` samples (trailing axes are flattened).
      y: ``(m, *d)`` samples with the same number of features.

    Returns:
      Scalar energy distance (>= 0 up to rounding).

    Raises:
      ValueError: an empty sample, NaN/inf values, or different feature sizes.
      TypeError: not an array.
    """
    x, y = _samples(x, "x"), _samples(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"`x` and `y` must have the same number of features, got x.shape={x.shape} and "
            f"y.shape={y.shape} (trailing axes flattened)."
        )
    return _energy_distance(x, y)


@jax.jit
def _energy_distance(x: jax.Array, y: jax.Array) -> jax.Array:
    def mean_dist(a, b):
        d2 = jnp.sum(a**2, 1)[:, None] + jnp.sum(b**2, 1)[None, :] - 2 * a @ b.T
        return jnp.mean(jnp.sqrt(jnp.maximum(d2, 1e-12)))

    return 2 * mean_dist(x, y) - mean_dist(x, x) - mean_dist(y, y)
