"""From Lagrangian predictions to the Eulerian grid, and the error metrics of Sec. 4."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp

from lpinn._pde import PERIOD

__all__ = ["characteristics_cross", "predict_eulerian", "relative_l2", "to_eulerian"]


def _interp_periodic(x_grid: jax.Array, positions: jax.Array, values: jax.Array) -> jax.Array:
    wrapped = jnp.mod(positions, PERIOD)
    order = jnp.argsort(wrapped)
    xp, fp = wrapped[order], values[order]
    # One period of padding on each side so that interpolation wraps around 0 and 2 pi.
    xp = jnp.concatenate([xp[-1:] - PERIOD, xp, xp[:1] + PERIOD])
    fp = jnp.concatenate([fp[-1:], fp, fp[:1]])
    return jnp.interp(jnp.mod(x_grid, PERIOD), xp, fp)


def to_eulerian(u: jax.Array, x: jax.Array, x_grid: jax.Array) -> jax.Array:
    """Interpolates states ``u`` carried at positions ``x`` onto the fixed grid, time by time.

    Args:
      u, x: (n_labels, n_t) states U(x0_i, t_j) and positions X(x0_i, t_j) (unwrapped).
      x_grid: (n_x,) Eulerian grid in [0, 2 pi).

    Returns:
      (n_x, n_t): positions are wrapped modulo 2 pi, sorted and padded periodically, then
      linearly interpolated.
    """
    if u.shape != x.shape or u.ndim != 2:
        raise ValueError(f"`u` and `x` must both be (n_labels, n_t), got {u.shape} and {x.shape}.")
    return jax.vmap(_interp_periodic, in_axes=(None, 1, 1), out_axes=1)(x_grid, x, u)


def characteristics_cross(x: jax.Array) -> bool:
    """Whether X(., t) stops being increasing in the label at some t (the map is then not
    invertible: a shock with too little viscosity, or a badly trained X branch).

    ``x``: (n_labels, n_t) unwrapped positions, labels sorted increasingly.
    """
    gaps = jnp.diff(jnp.concatenate([x, x[:1] + PERIOD]), axis=0)
    return bool(jnp.any(gaps <= 0))


def predict_eulerian(model, x0: jax.Array, t: jax.Array, x_grid: jax.Array) -> jax.Array:
    """Evaluates a Lagrangian model on (labels x times) and interpolates onto ``x_grid``.

    Warns when the characteristics cross, since interpolation is then invalid.
    """
    grid_x, grid_t = jnp.meshgrid(x0, t, indexing="ij")
    u, x = model(grid_x, grid_t)
    if characteristics_cross(x):
        warnings.warn(
            "The learned characteristics cross: X(., t) is not monotone in the label, "
            "so the Lagrangian map is not invertible and the interpolated solution is "
            "unreliable.",
            RuntimeWarning,
            stacklevel=2,
        )
    return to_eulerian(u, x, x_grid)


def relative_l2(prediction: jax.Array, reference: jax.Array) -> float:
    """||prediction - reference||_F / ||reference||_F."""
    if prediction.shape != reference.shape:
        raise ValueError(
            f"`prediction` {prediction.shape} and `reference` {reference.shape} "
            f"must have one shape."
        )
    return float(jnp.linalg.norm(prediction - reference) / jnp.linalg.norm(reference))
