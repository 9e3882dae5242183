"""Diagnostics from the paper's theory: separation, storage capacity, the head k-statistic.

Ramsauer et al., "Hopfield Networks is All You Need", ICLR 2021, arXiv:2008.02217,
Section 2 (Definition 1, Theorems 3 and 4) and the paper's analysis of BERT attention heads.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks

from ._checks import check_beta, check_patterns

__all__ = [
    "CapacityBound",
    "capacity_bound",
    "head_k_statistic",
    "separation",
    "well_separated",
]


@jax.jit
def _separation(patterns):
    gram = patterns @ patterns.T
    self_sim = jnp.diag(gram)
    others = jnp.where(jnp.eye(patterns.shape[0], dtype=bool), -jnp.inf, gram)
    return self_sim - jnp.max(others, axis=-1)


def separation(patterns: jax.Array) -> jax.Array:
    r"""Separation of each stored pattern from the others, Definition 1 of the paper.

    .. math:: \Delta_i = \min_{j \ne i} \left( x_i^\top x_i - x_i^\top x_j \right).

    Args:
      patterns: (N, d) stored patterns, one per row.

    Returns:
      (N,) the separations; ``inf`` when N = 1 (no other pattern to be confused with).

    Raises:
      ValueError: ``patterns`` not a non-empty finite (N, d) matrix.
    """
    check_patterns(patterns)
    return _separation(jnp.asarray(patterns))


def well_separated(patterns: jax.Array, beta: float = 1.0) -> jax.Array:
    r"""Whether each pattern satisfies the paper's well-separation condition (Theorem 4).

    As stated in the paper, pattern :math:`x_i` is well separated when

    .. math:: \Delta_i \ge \frac{2}{\beta N} + \frac{1}{\beta} \log\!\left(2 (N-1) N \beta M^2\right),

    with :math:`M = \max_j \|x_j\|`. Then the update maps a sphere around :math:`x_i` into itself,
    a fixed point lies in it, and one update retrieves :math:`x_i` with an error exponentially
    small in :math:`\Delta_i`. The condition is sufficient, not necessary: patterns that fail it
    are often still retrieved (see the reproduction).

    Args:
      patterns: (N, d) stored patterns.
      beta: inverse temperature, > 0.

    Returns:
      (N,) bool. With N = 1 the single pattern is always well separated.

    Raises:
      ValueError: bad ``patterns`` or ``beta``.
    """
    check_patterns(patterns)
    check_beta(beta)
    patterns = jnp.asarray(patterns)
    n = patterns.shape[0]
    if n == 1:
        return jnp.ones((1,), bool)
    max_norm_sq = jnp.max(jnp.sum(patterns**2, axis=-1))
    threshold = 2.0 / (beta * n) + jnp.log(2.0 * (n - 1) * n * beta * max_norm_sq) / beta
    return _separation(patterns) >= threshold


def _lambert_w0(x: float) -> float:
    """Upper branch W0 of the Lambert W function (w e^w = x) for x > 0, by Halley's method."""
    w = math.log1p(x)
    for _ in range(100):
        ew = math.exp(w)
        f = w * ew - x
        step = f / (ew * (w + 1) - (w + 2) * f / (2 * w + 2))
        w -= step
        if abs(step) <= 1e-15 * (1 + abs(w)):
            break
    return w


class CapacityBound(NamedTuple):
    """Theorem 3's storage capacity for random patterns on a sphere.

    Attributes:
      num_patterns: the bound ``sqrt(p) * c ** ((d - 1) / 4)`` on how many patterns are stored
        and retrievable with probability at least ``1 - p``.
      c: the theorem's base ``c = b / W0(exp(a + log b))``.
      assumption_holds: whether the theorem's requirement ``c >= (2 / sqrt(p)) ** (4 / (d - 1))``
        is met; when it is not, the theorem says nothing for these arguments.
    """

    num_patterns: float
    c: float
    assumption_holds: bool


def capacity_bound(d: int, beta: float = 1.0, radius_scale: float = 1.0, p: float = 0.001):
    r"""The exponential storage capacity of Theorem 3.

    Patterns are drawn uniformly on the sphere of radius :math:`M = K \sqrt{d - 1}`. With

    .. math:: a = \frac{2}{d-1}\left(1 + \log(2 \beta K^2 p (d-1))\right), \quad
              b = \frac{2 K^2 \beta}{5}, \quad c = \frac{b}{W_0(\exp(a + \log b))},

    (:math:`W_0` the upper branch of the Lambert W function) and if
    :math:`c \ge (2/\sqrt{p})^{4/(d-1)}`, then with probability :math:`1 - p` at least
    :math:`N = \sqrt{p}\, c^{(d-1)/4}` patterns can be stored and retrieved in one update.
    The paper's examples: ``c = 3.1546`` for beta=1, K=3, d=20, p=0.001 and ``c = 1.3718`` for
    beta=1, K=1, d=75, p=0.001 (both checked in the tests).

    Args:
      d: dimension of the associative space, >= 2.
      beta: inverse temperature, > 0.
      radius_scale: K, the sphere radius is ``K * sqrt(d - 1)``; > 0.
      p: failure probability in (0, 1].

    Returns:
      A :class:`CapacityBound` (num_patterns, c, assumption_holds).

    Raises:
      ValueError: ``d`` < 2, ``beta`` or ``radius_scale`` not > 0, ``p`` outside (0, 1].
      TypeError: ``d`` not an integer.
    """
    d = checks.integer(d, "d", minimum=2)
    check_beta(beta)
    checks.positive(radius_scale, "radius_scale")
    checks.in_range(p, "p", 0.0, 1.0, closed="right")
    k2 = radius_scale**2
    a = 2.0 / (d - 1) * (1.0 + math.log(2.0 * beta * k2 * p * (d - 1)))
    b = 2.0 * k2 * beta / 5.0
    c = b / _lambert_w0(math.exp(a + math.log(b)))
    holds = c >= (2.0 / math.sqrt(p)) ** (4.0 / (d - 1))
    return CapacityBound(math.sqrt(p) * c ** ((d - 1) / 4.0), c, bool(holds))


def head_k_statistic(association: jax.Array, mass: float = 0.9) -> jax.Array:
    r"""Number of stored patterns needed to cover ``mass`` of each softmax row.

    The paper classifies the fixed points reached by BERT's attention heads with this statistic
    (90% of the mass):
    k close to N means a global average over all patterns, small k > 1 a metastable state
    averaging a subset, and k = 1 retrieval of a single pattern.

    Args:
      association: (..., N) softmax weights (rows sum to 1), e.g. the association matrix a
        :class:`Hopfield` layer returns.
      mass: the share of the probability mass to cover, in (0, 1].

    Returns:
      (...,) int32, the smallest k with the k largest weights summing to at least ``mass``.

    Raises:
      ValueError: ``mass`` outside (0, 1]; ``association`` with no last axis.
    """
    checks.in_range(mass, "mass", 0.0, 1.0, closed="right")
    if np.ndim(association) == 0 or np.shape(association)[-1] == 0:
        raise ValueError(
            f"`association` must be (..., N) with N >= 1, got {np.shape(association)}."
        )
    return _head_k(jnp.asarray(association), mass)


@jax.jit
def _head_k(association, mass):
    ranked = -jnp.sort(-association, axis=-1)
    covered = jnp.cumsum(ranked, axis=-1)
    # Rows may sum to 1 - eps in float32: treat a shortfall below 1e-6 as covered.
    target = jnp.minimum(mass, covered[..., -1:] - 1e-6)
    return (jnp.sum(covered < target, axis=-1) + 1).astype(jnp.int32)
