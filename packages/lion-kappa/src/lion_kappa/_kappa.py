"""The convex functions K of Lion-K: subgradient, value, conjugate and the domain of K*.

Lion-K (Chen et al., 2024, eq. (3)) replaces Lion's ``sign`` by a subgradient ``dK`` of a convex K.
Its fixed points solve ``min_x f(x) + (1/lam) K*(lam x)`` (Sec. 3), so every K here carries its
conjugate K* and a gauge of ``dom K*`` (the constraint set when K* is an indicator).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks

Scope = Literal["elementwise", "leaf", "global"]

# Indicators are evaluated with a relative slack so that an iterate sitting on the boundary of the
# ball in float32 (lam*||x|| = 1 + 1 ulp) is not declared infeasible.
_INDICATOR_SLACK = 1e-6


class Kappa(NamedTuple):
    """A convex function K over pytrees, as used by :func:`lion_kappa.lion_kappa`.

    Attributes:
      name: human-readable name (``"l1"``, ``"l2(leaf)"``...).
      grad: ``tree -> tree``, a subgradient ``dK`` (same structure and shapes).
      value: ``tree -> scalar``, ``K(tree)``.
      conjugate: ``tree -> scalar``, ``K*(tree)``; ``+inf`` outside ``dom K*``.
      gauge: ``tree -> scalar``, the gauge (Minkowski functional) of ``dom K*``: ``y`` is in the
        domain iff ``gauge(y) <= 1``. Zero for every ``y`` when ``dom K*`` is the whole space.
      scope: ``"elementwise"`` (K is a sum over entries), ``"leaf"`` (a sum over leaves of a
        per-leaf function, so ``dom K*`` is a product of per-leaf sets) or ``"global"`` (one
        function of the whole tree).
    """

    name: str
    grad: Callable[[Any], Any]
    value: Callable[[Any], jax.Array]
    conjugate: Callable[[Any], jax.Array]
    gauge: Callable[[Any], jax.Array]
    scope: Scope


def _leaves(tree: Any) -> list[jax.Array]:
    return [jnp.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def _sum(values: list[jax.Array]) -> jax.Array:
    return sum(values, jnp.zeros(())) if values else jnp.zeros(())


def _max(values: list[jax.Array]) -> jax.Array:
    return jnp.max(jnp.stack(values)) if values else jnp.zeros(())


def _indicator(gauge_value: jax.Array) -> jax.Array:
    return jnp.where(gauge_value <= 1.0 + _INDICATOR_SLACK, 0.0, jnp.inf)


def _check_scope(scope: Any) -> None:
    checks.one_of(scope, "scope", ("leaf", "global"))


def _pnorm(x: jax.Array, ord_: float) -> jax.Array:
    """Scale-stable p-norm of a flat vector (divides by max|x| first, so large p cannot overflow)."""
    if x.size == 0:
        return jnp.zeros((), x.dtype)
    scale = jnp.max(jnp.abs(x))
    safe = jnp.where(scale > 0, scale, 1.0)
    a = jnp.abs(x) / safe
    if math.isinf(ord_):
        return scale
    return scale * jnp.sum(a**ord_) ** (1.0 / ord_)


def _pnorm_grad(x: jax.Array, p: float) -> jax.Array:
    """d||x||_p = sign(x)|x|^(p-1) / ||x||_p^(p-1), with 0 at x = 0 (a valid subgradient)."""
    if x.size == 0:
        return x
    positive = jnp.any(x != 0)
    # The zero vector is swapped for ones before any norm is taken (double-where), so neither the
    # value nor a derivative taken through it can see 0/0.
    xs = jnp.where(positive, x, jnp.ones_like(x))
    a = jnp.abs(xs) / jnp.max(jnp.abs(xs))
    num = jnp.sign(xs) * a ** (p - 1.0)
    den = jnp.sum(a**p) ** ((p - 1.0) / p)
    return jnp.where(positive, num / den, 0.0)


def l1() -> Kappa:
    """K(x) = ||x||_1, dK = sign: plain Lion. ``(1/lam) K*(lam x)`` is the box ``||x||_inf <= 1/lam``.

    ``sign(0) = 0`` is kept: it is a valid subgradient and matches ``optax.lion``.
    """

    def gauge(tree: Any) -> jax.Array:
        return _max([jnp.max(jnp.abs(x), initial=0.0) for x in _leaves(tree)])

    return Kappa(
        name="l1",
        grad=lambda tree: jax.tree.map(jnp.sign, tree),
        value=lambda tree: _sum([jnp.sum(jnp.abs(x)) for x in _leaves(tree)]),
        conjugate=lambda tree: _indicator(gauge(tree)),
        gauge=gauge,
        scope="elementwise",
    )


def lp(p: float, scope: Scope = "leaf") -> Kappa:
    """K(x) = ||x||_p per leaf (``scope="leaf"``) or over the whole tree (``scope="global"``).

    ``(1/lam) K*(lam x)`` is the indicator of ``||x||_q <= 1/lam`` with ``1/p + 1/q = 1`` (one ball
    per leaf, or one ball for the concatenated tree). ``p = 1`` is :func:`l1`, ``p = 2`` is
    :func:`l2`.

    Args:
      p: the norm's exponent, ``1 <= p < inf``.
      scope: ``"leaf"`` or ``"global"``.

    Raises:
      TypeError: ``p`` is not a real number.
      ValueError: ``p < 1`` or not finite (K is then not a convex norm), or an unknown ``scope``.
    """
    checks.in_range(p, "p", 1.0)  # ||.||_p is not a convex norm for p < 1
    _check_scope(scope)
    if p == 1:
        return l1()
    p = float(p)
    q = p / (p - 1.0)

    if scope == "leaf":

        def grad(tree: Any) -> Any:
            return jax.tree.map(lambda x: _pnorm_grad(x.ravel(), p).reshape(x.shape), tree)

        def value(tree: Any) -> jax.Array:
            return _sum([_pnorm(x.ravel(), p) for x in _leaves(tree)])

        def gauge(tree: Any) -> jax.Array:
            return _max([_pnorm(x.ravel(), q) for x in _leaves(tree)])

    else:
        # One norm over the whole tree, computed leaf by leaf: concatenating the leaves would copy
        # every parameter once per step.
        def _scale(leaves: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
            scale = _max([jnp.max(jnp.abs(x), initial=0.0) for x in leaves])
            positive = scale > 0
            return positive, jnp.where(positive, scale, 1.0)

        def grad(tree: Any) -> Any:
            leaves = _leaves(tree)
            positive, scale = _scale(leaves)
            den = _sum([jnp.sum((jnp.abs(x) / scale) ** p) for x in leaves])
            den = jnp.where(positive, den, 1.0) ** ((p - 1.0) / p)
            return jax.tree.map(
                lambda x: jnp.where(
                    positive, jnp.sign(x) * (jnp.abs(x) / scale) ** (p - 1.0) / den, 0.0
                ).astype(jnp.result_type(x)),
                tree,
            )

        def _norm(tree: Any, ord_: float) -> jax.Array:
            leaves = _leaves(tree)
            positive, scale = _scale(leaves)
            if math.isinf(ord_):
                return jnp.where(positive, scale, 0.0)
            total = _sum([jnp.sum((jnp.abs(x) / scale) ** ord_) for x in leaves])
            return jnp.where(positive, scale * total ** (1.0 / ord_), 0.0)

        def value(tree: Any) -> jax.Array:
            return _norm(tree, p)

        def gauge(tree: Any) -> jax.Array:
            return _norm(tree, q)

    return Kappa(
        name=f"l{p:g}({scope})",
        grad=grad,
        value=value,
        conjugate=lambda tree: _indicator(gauge(tree)),
        gauge=gauge,
        scope=scope,
    )


def l2(scope: Scope = "leaf") -> Kappa:
    """K(x) = ||x||_2 per leaf or global; dK = x/||x||_2 (0 at 0): normalized ("spherical") momentum.

    ``(1/lam) K*(lam x)`` is the indicator of ``||x||_2 <= 1/lam`` (per leaf: a product of balls;
    global: one ball).

    Raises:
      ValueError: unknown ``scope``.
    """
    return lp(2.0, scope)


def half_squared() -> Kappa:
    """K(x) = ||x||^2 / 2, dK = identity: momentum SGD with decoupled weight decay.

    ``(1/lam) K*(lam x) = (lam/2)||x||^2``: the fixed points solve ridge-regularized ``f``.
    """

    def half_sq(tree: Any) -> jax.Array:
        return 0.5 * _sum([jnp.sum(x * x) for x in _leaves(tree)])

    return Kappa(
        name="half_squared",
        grad=lambda tree: tree,
        value=half_sq,
        conjugate=half_sq,
        gauge=lambda tree: jnp.zeros(()),
        scope="elementwise",
    )


def huber(delta: float = 1.0) -> Kappa:
    """K(x) = sum_i huber_delta(x_i), dK = clip(x, -delta, delta): clipped momentum.

    ``K*(y) = ||y||^2/2`` on the box ``||y||_inf <= delta`` (``+inf`` outside), so Lion-K solves
    ridge-regularized ``f`` inside the box ``||x||_inf <= delta/lam``.

    Raises:
      TypeError: ``delta`` is not a real number.
      ValueError: ``delta <= 0`` or not finite.
    """
    checks.positive(delta, "delta")
    delta = float(delta)

    def value(tree: Any) -> jax.Array:
        def h(x: jax.Array) -> jax.Array:
            a = jnp.abs(x)
            return jnp.sum(jnp.where(a <= delta, 0.5 * x * x, delta * (a - 0.5 * delta)))

        return _sum([h(x) for x in _leaves(tree)])

    def gauge(tree: Any) -> jax.Array:
        return _max([jnp.max(jnp.abs(x), initial=0.0) for x in _leaves(tree)]) / delta

    def conjugate(tree: Any) -> jax.Array:
        return 0.5 * _sum([jnp.sum(x * x) for x in _leaves(tree)]) + _indicator(gauge(tree))

    return Kappa(
        name=f"huber({delta:g})",
        grad=lambda tree: jax.tree.map(lambda x: jnp.clip(x, -delta, delta), tree),
        value=value,
        conjugate=conjugate,
        gauge=gauge,
        scope="elementwise",
    )


def _check_matrix(x: jax.Array) -> None:
    if jnp.ndim(x) != 2:
        raise ValueError(
            f"`kappa=nuclear()` needs 2-D leaves (matrices), got a leaf of shape {jnp.shape(x)}; "
            "mask the other leaves out or use l1()/l2() for them."
        )


def nuclear() -> Kappa:
    """K(X) = ||X||_* (sum of singular values) per 2-D leaf; dK = U V^T from the thin SVD.

    ``(1/lam) K*(lam X)`` is the indicator of the spectral-norm ball ``||X||_2 <= 1/lam``. Lion-K
    with this K is Muon with exact orthogonalization (Chen et al., 2025, arXiv:2506.15054). The
    subgradient ``U V^T`` of a rank-deficient X is still valid (its spectral norm is <= 1).

    Differs from Muon: the SVD is exact, not a Newton-Schulz iteration.

    Raises:
      ValueError: (when called, or at optimizer ``init``) a leaf is not 2-D.
    """

    def grad(tree: Any) -> Any:
        def polar(x: jax.Array) -> jax.Array:
            _check_matrix(x)
            u, _, vt = jnp.linalg.svd(x, full_matrices=False)
            return (u @ vt).astype(x.dtype)

        return jax.tree.map(polar, tree)

    def sv(x: jax.Array) -> jax.Array:
        _check_matrix(x)
        return jnp.linalg.svd(x, compute_uv=False)

    def gauge(tree: Any) -> jax.Array:
        return _max([jnp.max(sv(x), initial=0.0) for x in _leaves(tree)])

    return Kappa(
        name="nuclear",
        grad=grad,
        value=lambda tree: _sum([jnp.sum(sv(x)) for x in _leaves(tree)]),
        conjugate=lambda tree: _indicator(gauge(tree)),
        gauge=gauge,
        scope="leaf",
    )
