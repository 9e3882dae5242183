"""Two-class Dirichlet data on the unit sphere and its Bayes classifier (the official setup).

Class ``c`` draws ``s ~ Dirichlet(alphas[c])`` on the simplex in ``R^D``; the input is
``x = s / ||s||`` on the sphere ``S^(D-1)``, a ``(D - 1)``-dimensional set. Class 0 has label
+1 and prior ``priors[0]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from jaxpapers_shared import checks

__all__ = ["dirichlet_bayes_predict", "dirichlet_sphere_data"]


def _check(alphas, priors) -> tuple[np.ndarray, np.ndarray]:
    with jax.enable_x64(True):
        alphas = np.asarray(checks.array(alphas, "alphas", ndim=2, dtype="float"), np.float64)
        priors = np.asarray(checks.array(priors, "priors", ndim=1, dtype="float"), np.float64)
    if alphas.shape[0] != 2 or alphas.shape[1] < 2:
        raise ValueError(f"`alphas` must have shape (2, D) with D >= 2, got {alphas.shape}.")
    if np.any(alphas <= 0):
        raise ValueError(f"`alphas` must be > 0 (Dirichlet parameters), got {alphas.tolist()}.")
    if priors.shape != (2,) or np.any(priors < 0) or abs(priors.sum() - 1.0) > 1e-8:
        raise ValueError(
            f"`priors` must be 2 nonnegative numbers summing to 1, got {priors.tolist()}."
        )
    return alphas, priors


def dirichlet_sphere_data(key, n: int, alphas, priors):
    """``n`` labelled points: ``(x_sphere (n, D), y (n,) in {-1, +1}, x_simplex (n, D))``, float64.

    Raises:
      ValueError: ``n < 1``, ``alphas`` not ``(2, D)`` or not > 0, ``priors`` not summing to 1.
    """
    n = checks.integer(n, "n", minimum=1)
    alphas, priors = _check(alphas, priors)
    with jax.enable_x64(True):
        k_label, k_point = jax.random.split(key)
        first = jax.random.bernoulli(k_label, priors[0], (n,))
        samples = jax.random.dirichlet(k_point, jnp.asarray(alphas), (n, 2), dtype=jnp.float64)
        simplex = jnp.where(first[:, None], samples[:, 0], samples[:, 1])
        sphere = simplex / jnp.linalg.norm(simplex, axis=1, keepdims=True)
        return sphere, jnp.where(first, 1.0, -1.0), simplex


def dirichlet_bayes_predict(x_simplex, alphas, priors) -> jax.Array:
    """Bayes labels: +1 where ``priors[0] p_0(s) > priors[1] p_1(s)`` on the simplex points."""
    alphas, priors = _check(alphas, priors)
    with jax.enable_x64(True):
        s = jnp.asarray(checks.array(x_simplex, "x_simplex", ndim=2, dtype="float"), jnp.float64)
        if s.shape[1] != alphas.shape[1]:
            raise ValueError(f"`x_simplex` must have {alphas.shape[1]} columns, got {s.shape}.")
        a = jnp.asarray(alphas)
        log_norm = jnp.sum(gammaln(a), axis=1) - gammaln(jnp.sum(a, axis=1))
        log_pdf = jnp.log(s) @ (a - 1.0).T - log_norm  # (n, 2)
        score = jnp.log(priors) + log_pdf
        return jnp.where(score[:, 0] > score[:, 1], 1.0, -1.0)
