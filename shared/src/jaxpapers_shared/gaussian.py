"""Gaussian expectations by Gauss-Hermite quadrature (kernel recursions, mean-field theory).

Infinite-width kernels (NNGP, NTK, dynamical isometry) need ``E[f(u)]`` for ``u ~ N(m, s)`` and
``E[f(u, v)]`` for a centred bivariate Gaussian ``(u, v) ~ N(0, Lambda)``, batched over many
covariances. Both are computed here with (tensor) Gauss-Hermite rules in the probabilists' form,
exact for polynomials of degree ``< 2 * order`` in each variable.

The bivariate rule maps standard nodes through the symmetric square root of ``Lambda`` from its
2x2 eigendecomposition (not a Cholesky factor), so it stays finite when the correlation is +-1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["bivariate_gaussian_expectation", "gauss_hermite", "gaussian_expectation"]


@functools.lru_cache(maxsize=32)
def _probabilists_rule(order: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.hermite.hermgauss(order)
    # hermgauss integrates against exp(-x^2); rescale to the standard normal density.
    return nodes * np.sqrt(2.0), weights / np.sqrt(np.pi)


def _check_order(order: int) -> None:
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        raise ValueError(f"`order` must be a positive int, got {order!r}.")


def gauss_hermite(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the ``order``-point rule for the standard normal density.

    ``sum(w * f(z)) ~= E[f(Z)]`` with ``Z ~ N(0, 1)``; exact for polynomials of degree
    ``< 2 * order``.

    Args:
      order: number of nodes (>= 1).

    Returns:
      ``(nodes, weights)``, two float64 NumPy arrays of shape ``(order,)``; the weights sum to 1.

    Raises:
      ValueError: if ``order`` is not a positive int.
    """
    _check_order(order)
    nodes, weights = _probabilists_rule(order)
    return nodes.copy(), weights.copy()


def gaussian_expectation(
    fn: Callable[[jax.Array], jax.Array],
    var: jax.typing.ArrayLike,
    *,
    mean: jax.typing.ArrayLike = 0.0,
    order: int = 64,
) -> jax.Array:
    """``E[fn(u)]`` for ``u ~ N(mean, var)``, elementwise over broadcast ``mean`` and ``var``.

    Args:
      fn: an elementwise function (``jnp.tanh``, ``jax.nn.relu``...).
      var: variances, any shape, >= 0 (negative values are clipped to 0).
      mean: means, broadcastable with ``var``.
      order: number of Gauss-Hermite nodes.

    Returns:
      Array of the broadcast shape of ``mean`` and ``var``.

    Raises:
      ValueError: if ``order`` is not a positive int.
    """
    _check_order(order)
    nodes, weights = _probabilists_rule(order)
    var = jnp.asarray(var)
    mean = jnp.asarray(mean, dtype=var.dtype if jnp.issubdtype(var.dtype, jnp.floating) else None)
    std = jnp.sqrt(jnp.maximum(var, 0.0))
    points = mean[..., None] + std[..., None] * jnp.asarray(nodes, dtype=std.dtype)
    return jnp.sum(fn(points) * jnp.asarray(weights, dtype=std.dtype), axis=-1)


def bivariate_gaussian_expectation(
    fn: Callable[[jax.Array, jax.Array], jax.Array],
    cov: jax.typing.ArrayLike,
    *,
    order: int = 64,
) -> jax.Array:
    """``E[fn(u, v)]`` for ``(u, v) ~ N(0, cov)``, batched over the leading axes of ``cov``.

    The ``order x order`` tensor rule is evaluated one row of nodes at a time (``lax.scan``), so
    memory is ``O(batch * order)`` rather than ``O(batch * order**2)``.

    Args:
      fn: elementwise in both arguments, e.g. ``lambda u, v: jnp.tanh(u) * jnp.tanh(v)``.
      cov: ``(..., 2, 2)`` symmetric positive semi-definite covariances (tiny negative
        eigenvalues from rounding are clipped to 0).
      order: Gauss-Hermite nodes per dimension.

    Returns:
      Array of shape ``cov.shape[:-2]``.

    Raises:
      ValueError: if ``order`` is not a positive int or ``cov`` is not ``(..., 2, 2)``.
    """
    _check_order(order)
    cov = jnp.asarray(cov)
    if cov.ndim < 2 or cov.shape[-2:] != (2, 2):
        raise ValueError(f"`cov` must have shape (..., 2, 2), got cov.shape={cov.shape}.")
    nodes, weights = _probabilists_rule(order)
    dtype = cov.dtype if jnp.issubdtype(cov.dtype, jnp.floating) else jnp.float32
    nodes = jnp.asarray(nodes, dtype=dtype)
    weights = jnp.asarray(weights, dtype=dtype)
    eigval, eigvec = jnp.linalg.eigh(cov.astype(dtype))
    # Symmetric square root: (u, v) = Q sqrt(L) Q^T z keeps rho = +-1 exact (a rank-1 Lambda).
    root = (eigvec * jnp.sqrt(jnp.maximum(eigval, 0.0))[..., None, :]) @ jnp.swapaxes(
        eigvec, -1, -2
    )
    r00, r01 = root[..., 0, 0, None], root[..., 0, 1, None]
    r10, r11 = root[..., 1, 0, None], root[..., 1, 1, None]

    def row(total, node_and_weight):
        z0, w0 = node_and_weight
        u = r00 * z0 + r01 * nodes
        v = r10 * z0 + r11 * nodes
        return total + w0 * jnp.sum(fn(u, v) * weights, axis=-1), None

    total, _ = jax.lax.scan(row, jnp.zeros(cov.shape[:-2], dtype), (nodes, weights))
    return total
