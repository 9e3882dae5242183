"""Which classifier the infinitely deep NTK/NNGP becomes, read off the dual activation.

The correlation of two inputs follows ``xi_{l+1} = dual(xi_l)``. ``dual`` is a power series with
nonnegative coefficients and ``dual(1) = 1``, so on ``[0, 1]`` it is increasing and convex, and the
iterates from ``xi_0 < 1`` converge to the smallest fixed point ``xi*`` of ``dual`` in ``[0, 1]``
(reached by iterating from 0). Three cases:

1. ``xi* = 1`` (equivalently ``m = dual'(1) <= 1``): every pair becomes perfectly correlated, the
   kernel is constant off the diagonal and ridgeless regression predicts the majority class.
2. ``xi* < 1`` and ``r = dual'(xi*) = 0`` (e.g. ``dual = xi^k``, ``k >= 2``): the distance to
   ``xi*`` shrinks super-exponentially; the closest training point dominates: 1-nearest neighbour.
3. ``xi* < 1`` and ``0 < r < 1``: ``xi_L - xi* ~ C(xi_0) r^L``. Near ``xi_0 = 1`` the gap
   ``1 - xi`` grows by ``m`` per layer, so ``C(xi_0) ~ ||x - z||^(-alpha)`` with
   ``alpha = 2 ln(1 / r) / ln(m)``: a singular kernel classifier, the Hilbert kernel estimate
   with exponent ``alpha``, Bayes-consistent when ``alpha`` equals the data's intrinsic dimension.

With ``xi* = 0`` (``dual(0) = 0``) this is the paper's rule, ``r = dual'(0) = a_1^2``. For
``xi* > 0`` the same fixed-point argument is applied at ``xi*`` (an extension, not a statement
of the paper).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._duals import DualActivation

__all__ = ["Regime", "limit_regime", "singular_exponent", "sine_a_for_dimension"]

_FIXED_POINT_TOL = 1e-12


class Regime(NamedTuple):
    """The infinite-depth limit of a deep kernel classifier.

    Attributes:
      kind: ``"majority_vote"``, ``"nearest_neighbor"``, ``"singular"`` or ``"linear"`` (the
        identity dual: the kernel does not change with depth).
      fixed_point: ``xi*``, the limit of off-diagonal correlations.
      contraction: ``r = dual'(xi*)``.
      slope_at_one: ``m = dual'(1)``.
      alpha: the singular exponent (``nan`` unless ``kind == "singular"``).
    """

    kind: Literal["majority_vote", "nearest_neighbor", "singular", "linear"]
    fixed_point: float
    contraction: float
    slope_at_one: float
    alpha: float


def _scalar(fn, xi: float) -> float:
    with jax.enable_x64(True):
        return float(fn(jnp.asarray(xi, jnp.float64)))


def _smallest_fixed_point(dual: DualActivation) -> float:
    if dual.coeffs[0] == 0.0:
        return 0.0
    xi = 0.0
    for _ in range(100_000):
        nxt = min(_scalar(dual.dual, xi), 1.0)
        if abs(nxt - xi) <= _FIXED_POINT_TOL:
            return nxt
        xi = nxt
    return xi


def limit_regime(dual: DualActivation) -> Regime:
    """The classifier the infinitely deep kernel with ``dual`` becomes (module docstring).

    Raises:
      TypeError: if ``dual`` is not a :class:`DualActivation`.
    """
    if not isinstance(dual, DualActivation):
        raise TypeError(f"`dual` must be a DualActivation, got {type(dual).__name__}.")
    m = dual.slope_at_one
    if m <= 1.0 + 1e-12:
        # Convex with dual(1) = 1 and dual'(1) <= 1: dual(xi) >= xi, so every xi < 1 climbs to 1
        # (slowly: no need to iterate), unless dual is the identity.
        is_identity = dual.coeffs[1] >= 1.0 - 1e-12
        kind = "linear" if is_identity else "majority_vote"
        return Regime(kind, math.nan if is_identity else 1.0, m, m, math.nan)
    # dual'(1) > 1 puts dual below the diagonal just under 1: a fixed point xi* < 1 exists and
    # the iterates from 0 reach it geometrically.
    xi_star = _smallest_fixed_point(dual)
    if xi_star == 0.0:
        r = float(dual.coeffs[1])  # exact: dual'(0) = a_1^2
    else:
        r = _scalar(dual.dual_deriv, xi_star)
    if r <= 1e-14:
        return Regime("nearest_neighbor", xi_star, r, m, math.nan)
    return Regime("singular", xi_star, r, m, 2.0 * math.log(1.0 / r) / math.log(m))


def singular_exponent(dual: DualActivation) -> float:
    """``alpha = 2 ln(1 / dual'(0)) / ln(dual'(1))`` for a singular-regime dual.

    Raises:
      ValueError: if the infinite-depth limit of ``dual`` is not a singular kernel.
    """
    regime = limit_regime(dual)
    if regime.kind != "singular":
        raise ValueError(
            f"`dual` {dual.name!r} gives a {regime.kind} classifier at infinite depth, not a "
            f"singular kernel: its exponent is undefined."
        )
    return regime.alpha


def sine_a_for_dimension(d: float) -> float:
    """The ``a`` for which the sine dual ``sinh(a xi) / sinh(a)`` has ``alpha(a) = d``.

    ``alpha(a) = 2 ln(sinh(a) / a) / ln(a coth a)`` increases from 1 (``a -> 0``) without bound;
    the root is found by bisection on ``a`` in ``[1e-3, 700]``.

    Raises:
      ValueError: if ``d`` is not in the range of ``alpha`` on ``(0, 700]``.
    """
    d = float(d)

    def alpha(a: float) -> float:
        return 2.0 * (math.log(math.sinh(a)) - math.log(a)) / math.log(a / math.tanh(a))

    low, high = 1e-3, 700.0
    if not (math.isfinite(d) and alpha(low) < d < alpha(high)):
        raise ValueError(
            f"`d` must be in ({alpha(low):.4g}, {alpha(high):.4g}) for a sine dual, got {d!r}."
        )
    for _ in range(200):
        mid = 0.5 * (low + high)
        if alpha(mid) < d:
            low = mid
        else:
            high = mid
    return float(np.float64(0.5 * (low + high)))
