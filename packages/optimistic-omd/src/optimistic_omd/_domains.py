"""Convex decision sets X: Euclidean projection, diameter, linear minimisation, and the
A-norm (Mahalanobis) projection onto a ball that the online Newton step needs."""

from __future__ import annotations

import math
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks

__all__ = ["Ball", "Box", "Domain", "Simplex", "Unconstrained", "ball_quadratic_argmin"]


class Domain(Protocol):
    """A convex decision set: ``project`` (Euclidean), ``linear_argmin`` and ``diameter``."""

    dim: int | None
    diameter: float

    def project(self, x: jax.Array) -> jax.Array: ...

    def linear_argmin(self, c: jax.Array) -> jax.Array: ...

    def distance(self, x: jax.Array) -> jax.Array: ...


def _dim(dim: int | None) -> int | None:
    return None if dim is None else checks.integer(dim, "dim", minimum=1)


class Ball:
    """``{x : ||x - center||_2 <= radius}`` in ``dim`` dimensions (diameter ``2 radius``).

    Raises:
      ValueError: ``radius`` not a finite number > 0 (an empty or single-point set), or a
        ``center`` of the wrong shape.
    """

    def __init__(self, radius: float = 1.0, dim: int | None = None, center=None):
        if checks.is_concrete(radius):
            r = checks._scalar(radius, "radius")
            if not math.isfinite(r) or r <= 0:
                raise ValueError(
                    f"`radius` must be a finite number > 0 (a ball of radius {r!r} is "
                    f"{'empty' if r < 0 else 'a single point' if r == 0 else 'unbounded'}), got {r!r}."
                )
        self.radius = float(radius)
        self.dim = _dim(dim)
        if center is not None:
            center = checks.array(center, "center", ndim=1, dtype="float")
            if self.dim is not None and center.shape[0] != self.dim:
                raise ValueError(
                    f"`center` must have shape ({self.dim},), got center.shape={center.shape}."
                )
            self.dim = center.shape[0]
        self.center = center
        self.diameter = 2.0 * self.radius

    def _c(self, x):
        return jnp.zeros_like(x) if self.center is None else self.center.astype(x.dtype)

    def project(self, x):
        c = self._c(x)
        v = x - c
        norm = jnp.linalg.norm(v)
        return c + v * jnp.minimum(1.0, self.radius / jnp.maximum(norm, 1e-30))

    def linear_argmin(self, c):
        norm = jnp.linalg.norm(c)
        return self._c(c) - self.radius * c / jnp.maximum(norm, 1e-30)

    def distance(self, x):
        return jnp.maximum(jnp.linalg.norm(x - self._c(x)) - self.radius, 0.0)

    def __repr__(self):
        return f"Ball(radius={self.radius}, dim={self.dim})"


class Box:
    """``{x : low <= x <= high}`` coordinate-wise (``low``/``high`` scalars or ``(d,)``).

    Raises:
      ValueError: ``low > high`` in some coordinate (an empty set), non-finite bounds, or scalar
        bounds without ``dim``.
    """

    def __init__(self, low, high, dim: int | None = None):
        low = checks.array(low, "low", ndim=(0, 1), dtype="float")
        high = checks.array(high, "high", ndim=(0, 1), dtype="float")
        dim = _dim(dim)
        if dim is None and low.ndim == 0 and high.ndim == 0:
            raise ValueError("`dim` must be given when `low` and `high` are scalars, got dim=None.")
        shape = jnp.broadcast_shapes(low.shape, high.shape, () if dim is None else (dim,))
        low, high = jnp.broadcast_to(low, shape), jnp.broadcast_to(high, shape)
        bad = np.flatnonzero(np.asarray(low > high).reshape(-1))
        if bad.size:
            i = int(bad[0])
            lo, hi = float(low.reshape(-1)[i]), float(high.reshape(-1)[i])
            raise ValueError(
                f"`low` must be <= `high` in every coordinate (else the box is empty), "
                f"got low={lo!r} > high={hi!r} at coordinate {i}."
            )
        self.low, self.high = low, high
        self.dim = shape[0]
        self.diameter = float(jnp.linalg.norm(high - low))

    def project(self, x):
        return jnp.clip(x, self.low.astype(x.dtype), self.high.astype(x.dtype))

    def linear_argmin(self, c):
        return jnp.where(c > 0, self.low, self.high).astype(c.dtype)

    def distance(self, x):
        return jnp.linalg.norm(x - self.project(x))

    def __repr__(self):
        return f"Box(dim={self.dim})"


def _project_simplex(x):
    """Euclidean projection onto the probability simplex (sort-based, Duchi et al. 2008)."""
    u = jnp.sort(x)[::-1]
    css = jnp.cumsum(u) - 1.0
    k = jnp.arange(1, x.shape[0] + 1, dtype=x.dtype)
    rho = jnp.max(jnp.where(u - css / k > 0, k, 0.0))
    theta = css[rho.astype(jnp.int32) - 1] / rho
    return jnp.maximum(x - theta, 0.0)


class Simplex:
    """The probability simplex ``{x >= 0, sum x = 1}`` in ``dim >= 1`` dimensions
    (Euclidean diameter ``sqrt(2)``; the entropic mirror map's natural domain).

    Raises:
      ValueError: ``dim`` < 1 (an empty set).
    """

    def __init__(self, dim: int):
        self.dim = checks.integer(dim, "dim", minimum=1)
        self.diameter = math.sqrt(2.0) if self.dim > 1 else 0.0

    def project(self, x):
        return _project_simplex(x)

    def linear_argmin(self, c):
        return jax.nn.one_hot(jnp.argmin(c), c.shape[0], dtype=c.dtype)

    def distance(self, x):
        return jnp.linalg.norm(x - _project_simplex(x))

    def __repr__(self):
        return f"Simplex(dim={self.dim})"


class Unconstrained:
    """All of ``R^dim`` (no projection; infinite diameter, so adaptive steps need an explicit
    ``diameter``). Used to compare with unconstrained optimizers such as ``optax``."""

    def __init__(self, dim: int | None = None):
        self.dim = _dim(dim)
        self.diameter = math.inf

    def project(self, x):
        return x

    def linear_argmin(self, c):
        raise ValueError("`domain` is unbounded: a linear loss has no minimiser over R^d.")

    def distance(self, x):
        return jnp.zeros((), x.dtype)

    def __repr__(self):
        return f"Unconstrained(dim={self.dim})"


def ball_quadratic_argmin(hessian, linear, radius, center=None, *, iterations: int = 100):
    """Exact minimiser of ``0.5 x^T H x - <linear, x>`` over ``||x - center|| <= radius``
    for a symmetric positive semi-definite ``H``.

    The KKT conditions give ``x(mu) = center + (H + mu I)^{-1} (linear - H center)`` with the
    multiplier ``mu >= 0`` the root of ``||x(mu) - center|| = radius`` when the unconstrained
    minimiser lies outside; ``||x(mu) - center||`` decreases in ``mu``, so the root is found by
    bisection in the eigenbasis of ``H`` (``iterations`` halvings, jittable). With ``H = A`` and
    ``linear = A y`` this is the A-norm projection of ``y`` onto the ball.

    Args:
      hessian: ``(d, d)`` symmetric PSD matrix.
      linear: ``(d,)`` vector.
      radius: the ball's radius (> 0).
      center: ``(d,)`` centre (default 0).
    Returns:
      ``(d,)`` minimiser.
    """
    lam, q = jnp.linalg.eigh(hessian)
    lam = jnp.maximum(lam, 0.0)
    c0 = jnp.zeros_like(linear) if center is None else center
    z = q.T @ (linear - hessian @ c0)  # shifted linear term in the eigenbasis

    def norm_at(mu):
        return jnp.linalg.norm(z / jnp.maximum(lam + mu, 1e-30))

    inside = (jnp.min(lam) > 1e-12 * jnp.maximum(jnp.max(lam), 1.0)) & (norm_at(0.0) <= radius)
    hi = jnp.linalg.norm(z) / radius + 1e-30  # norm_at(hi) <= radius

    def halve(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        outside = norm_at(mid) > radius
        return jnp.where(outside, mid, lo), jnp.where(outside, hi, mid)

    _, mu = jax.lax.fori_loop(0, iterations, halve, (jnp.zeros_like(hi), hi))
    mu = jnp.where(inside, 0.0, mu)
    return c0 + q @ (z / jnp.maximum(lam + mu, 1e-30))
