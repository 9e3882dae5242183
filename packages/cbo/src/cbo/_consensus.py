"""The consensus point: a Gibbs-weighted mean of the particles (Laplace principle)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks

__all__ = ["consensus_point", "consensus_weights"]


def _weights(energies: jax.Array, alpha: float | jax.Array) -> jax.Array:
    # exp(-alpha (E_i - min_j E_j)) normalised: the minimum particle has logit 0, so nothing
    # overflows; alpha (E_i - min E) = inf gives weight exactly 0. A NaN energy makes the
    # minimum NaN and every weight NaN: it never silently gets weight 0 or 1.
    shifted = energies - jnp.min(energies)
    return jax.nn.softmax(-alpha * shifted)


def _consensus(x: jax.Array, energies: jax.Array, alpha: float | jax.Array) -> jax.Array:
    return _weights(energies, alpha) @ x


def _check(x, energies, alpha):
    checks.positive(alpha, "alpha")
    x = checks.array(x, "x", ndim=2, dtype="float")
    energies = checks.array(energies, "energies", ndim=1, dtype="float")
    if energies.shape[0] != x.shape[0]:
        raise ValueError(
            f"`energies` must hold one value per particle (row of `x`, {x.shape[0]}), "
            f"got shape {energies.shape}."
        )
    return x, energies


def consensus_weights(energies: jax.Array, alpha: float) -> jax.Array:
    """Normalised Gibbs weights ``w_i = exp(-alpha E_i) / sum_j exp(-alpha E_j)`` of shape ``(N,)``.

    Computed with the minimum energy subtracted (a log-sum-exp softmax), so that ``alpha`` up to
    ``1e15`` and beyond neither overflows nor underflows to ``0 / 0``.

    Raises:
      ValueError: ``alpha <= 0`` or non-finite energies (checked on concrete arrays).
    """
    checks.positive(alpha, "alpha")
    energies = checks.array(energies, "energies", ndim=1, dtype="float")
    return _weights(energies, alpha)


def consensus_point(x: jax.Array, energies: jax.Array, alpha: float) -> jax.Array:
    """The consensus point ``v_alpha = sum_i x_i w_i / sum_i w_i``, ``w_i = exp(-alpha E(x_i))``.

    The weighted mean of the empirical measure of the particles (the paper's ``v_alpha``). By the
    Laplace principle it tends to the particle with the lowest energy as ``alpha -> inf``, and for
    samples of a measure ``rho`` to the minimizer of ``E`` over ``supp(rho)``.

    Args:
      x: particles, shape ``(N, d)``.
      energies: ``E(x_i)``, shape ``(N,)``.
      alpha: inverse temperature ``alpha > 0``.

    Returns:
      The consensus point, shape ``(d,)``.

    Raises:
      ValueError: ``alpha <= 0``, wrong shapes, or non-finite ``x`` / ``energies``.

    References:
      Riedl, Klock, Geldhauser, Fornasier, arXiv:2306.09778; Pinnau et al. (2017).
    """
    x, energies = _check(x, energies, alpha)
    return _consensus(x, energies, alpha)
