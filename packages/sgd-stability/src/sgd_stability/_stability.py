"""Linear (mean-square) stability of GD and SGD at an interpolating minimum (Wu & Su, Sec. 3).

At a global minimum ``theta*`` of the square loss ``L = (1/2n) sum_i (f(x_i) - y_i)^2`` that
interpolates the data, ``H = J^T J / n`` with ``J`` the ``(n, p)`` Jacobian of the outputs. An SGD
step on a batch ``xi`` of ``B`` indices, linearised, is ``delta <- (I - eta J^T D_xi J) delta`` with
``D_xi = (1/B) sum_k e_{i_k} e_{i_k}^T``; only the data-space coordinates ``u = J delta`` move, by
``u <- (I - eta G D_xi) u`` with the Gram matrix ``G = J J^T`` (``n x n``). Their second moment
``S = E[u u^T]`` evolves by the linear map

    T(S) = S - (eta/n) (G S + S G) + eta^2 G E[D S D] G,
    E[D S D] = Diag(S) / (B n) + (B - 1) / (B n^2) S                       (with replacement)
    E[D S D] = Diag(S) / (B n) + (B - 1) / (B n (n - 1)) (S - Diag(S))     (without replacement)

and the minimum is linearly stable for SGD (``E||delta_t||^2`` bounded) iff ``rho(T) <= 1``. GD is
the special case ``D = I / n``: stable iff ``eta lambda_max(H) <= 2``.

How it is computed. In the eigenbasis ``G = U Lambda U^T`` and the coordinates
``S = V X V^T`` with ``V = U Lambda^{1/2}``, ``T`` is similar to the *symmetric* operator

    T~(X) = X - eta A(X) + eta^2 Q~(X),   A(X)_ij = (lambda_i + lambda_j) X_ij / n,
    Q~(X) = V^T E[D (V X V^T) D] V,

so ``rho(T) = lambda_max(T~)`` (``T`` preserves the PSD cone, so its spectral radius is its top
eigenvalue). ``T(S) = S`` at the critical learning rate gives ``Q~(X) = A(X) / eta``: the edge of
SGD stability is, in closed form, ``eta* = 1 / lambda_max(A^{-1/2} Q~ A^{-1/2})`` (a symmetric
eigenproblem; no bisection). Directions in the null space of ``G`` never move (``u`` lives in the
range of ``J``) and are left out.

References:
  Wu, Ma & E, "How SGD selects the global minima in over-parameterized learning: a dynamical
  stability perspective", NeurIPS 2018; Wu & Su, "The implicit regularization of dynamical
  stability in stochastic gradient descent", ICML 2023, arXiv:2305.17490; Ma & Ying (2021) and
  Mulayoff & Michaeli (2023, arXiv:2306.07850) for exact mean-square thresholds.
"""

from __future__ import annotations

import functools
import warnings
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks, curvature

__all__ = [
    "CriticalLR",
    "StabilityRadius",
    "critical_lr",
    "is_linearly_stable",
    "stability_radius",
]

Method = Literal["secular", "dense", "lanczos"]
_METHODS = ("secular", "dense", "lanczos")
_LANCZOS_ORDER = 80


class StabilityRadius(NamedTuple):
    """The spectral radius ``rho(T)`` of the second-moment map (:func:`stability_radius`).

    Attributes:
      value: () ``rho(T)``; the minimum is linearly stable for SGD iff ``value <= 1``.
      residual: () eigen-residual of the estimate (0 for ``method="dense"``).
      converged: () bool, the Lanczos estimate met its tolerance (always true for dense).
    """

    value: jax.Array
    residual: jax.Array
    converged: jax.Array


class CriticalLR(NamedTuple):
    """Edges of linear stability at one minimum (:func:`critical_lr`).

    Attributes:
      sgd: () the largest learning rate at which SGD (this batch size and sampling) is linearly
        stable, ``eta*_SGD``.
      gd: () the same for GD, ``2 / lambda_max(H) = 2 n / lambda_max(G)``; always ``>= sgd``.
      converged: () bool, the Lanczos eigenvalue behind ``sgd`` met its tolerance (always true
        for dense).
    """

    sgd: jax.Array
    gd: jax.Array
    converged: jax.Array


# ----------------------------------------------------------------------------- checks


def _check_gram(gram) -> jax.Array:
    gram = checks.array(gram, "gram", ndim=2, dtype="float")
    n, m = gram.shape
    if n != m:
        raise ValueError(f"`gram` must be a square (n, n) Gram matrix J J^T, got {gram.shape=}.")
    if checks.is_concrete(gram):
        values = np.asarray(gram, dtype=np.float64)
        scale = max(float(np.max(np.abs(values))), np.finfo(np.float64).tiny)
        slack = 1e3 * float(jnp.finfo(gram.dtype).eps) * scale
        asym = float(np.max(np.abs(values - values.T)))
        if asym > slack:
            raise ValueError(
                f"`gram` must be symmetric, got max |G - G^T| = {asym:.3g} (> {slack:.3g})."
            )
        lowest = float(np.linalg.eigvalsh(0.5 * (values + values.T))[0])
        if lowest < -n * slack:
            raise ValueError(
                f"`gram` must be positive semi-definite (a Gram matrix J J^T), got smallest "
                f"eigenvalue {lowest:.3g}."
            )
        if scale <= np.finfo(np.float64).tiny:
            raise ValueError("`gram` must be nonzero: a zero Gram matrix has no curvature.")
    return 0.5 * (gram + gram.T)


def _check_batch(batch_size: int, n: int, replacement: bool) -> int:
    batch_size = checks.integer(batch_size, "batch_size")
    if not 1 <= batch_size <= n:
        how = "with" if replacement else "without"
        raise ValueError(
            f"`batch_size` must be in [1, n] = [1, {n}] for n = {n} data points (sampling {how} "
            f"replacement), got {batch_size}."
        )
    return batch_size


# ----------------------------------------------------------------------------- operators


def _sampling_coefficients(n: int, batch_size: jax.Array, replacement: jax.Array):
    """``E[D S D] = c_diag Diag(S) + c_full S`` (traced, so one compiled program serves every B)."""
    b = jnp.asarray(batch_size, float)
    with_replacement = (b - 1) / (b * n * n)
    without = (b - 1) / (b * n * max(n - 1, 1))
    c_full = jnp.where(replacement, with_replacement, without)
    return 1.0 / (b * n) - jnp.where(replacement, 0.0, c_full), c_full


class _Operators(NamedTuple):
    """The symmetric operators of the module docstring on ``(n, n)`` matrices ``X``."""

    lam: jax.Array  # (n,) eigenvalues of G, clipped at 0
    v: jax.Array  # (n, n) V = U Lambda^{1/2}; zero columns on the null space
    pairs: jax.Array  # (n, n) 1 where both indices are in the range of G
    a_diag: jax.Array  # (n, n) A(X) = a_diag * X
    c_diag: jax.Array
    c_full: jax.Array

    def q(self, x: jax.Array) -> jax.Array:
        k = self.v @ x @ self.v.T
        m = self.c_diag * jnp.diag(jnp.diag(k)) + self.c_full * k
        return self.v.T @ m @ self.v

    def t(self, x: jax.Array, lr: jax.Array) -> jax.Array:
        x = self.pairs * x
        return self.pairs * (x - lr * self.a_diag * x + lr**2 * self.q(x))

    def inv_sqrt_a(self) -> jax.Array:
        return self.pairs * jax.lax.rsqrt(jnp.where(self.pairs > 0, self.a_diag, 1.0))

    def p(self, x: jax.Array) -> jax.Array:
        scale = self.inv_sqrt_a()
        return scale * self.q(scale * x)

    def symmetric_basis(self) -> tuple[jax.Array, jax.Array]:
        """``Q~ = diag(c_full lambda_i lambda_j) + c_diag W^T W`` on symmetric matrices.

        Both operators map symmetric matrices to symmetric ones and their top eigenvectors are
        symmetric (the PSD second moment), so they are written in the orthonormal basis
        ``e_i e_i^T``, ``(e_i e_j^T + e_j e_i^T) / sqrt(2)`` (``i < j``), of size
        ``m = n (n + 1) / 2``. Returns the pair index ``(rows, cols)`` and ``W`` (n, m): row ``k``
        holds the coordinates of ``v_k v_k^T`` for the ``k``-th row ``v_k`` of ``V`` (the
        ``Diag`` term of ``E[D S D]`` is a sum of ``n`` rank-one terms).
        """
        rows, cols = np.triu_indices(self.lam.size)
        weight = np.where(rows == cols, 1.0, np.sqrt(2.0))
        return (rows, cols), self.v[:, rows] * self.v[:, cols] * weight


def _operators(gram: jax.Array, batch_size: jax.Array, replacement: jax.Array) -> _Operators:
    n = gram.shape[0]
    lam, u = jnp.linalg.eigh(gram)
    lam = jnp.clip(lam, 0.0, None)
    in_range = lam > n * jnp.finfo(gram.dtype).eps * lam[-1]
    lam = jnp.where(in_range, lam, 0.0)
    pairs = (in_range[:, None] & in_range[None, :]).astype(gram.dtype)
    c_diag, c_full = _sampling_coefficients(n, batch_size, replacement)
    return _Operators(
        lam=lam,
        v=u * jnp.sqrt(lam),
        pairs=pairs,
        a_diag=(lam[:, None] + lam[None, :]) / n,
        c_diag=c_diag,
        c_full=c_full,
    )


def _secular_top(diag: jax.Array, z: jax.Array, c: jax.Array, steps: int = 100) -> jax.Array:
    """``lambda_max(diag(d) + c Z^T Z)`` for ``c >= 0`` and ``Z`` (n, m) with ``n << m``.

    Above ``d_max = max(d)``, ``mu`` is an eigenvalue iff one is an eigenvalue of the ``n x n``
    matrix ``c Z (mu - D)^{-1} Z^T`` (the matrix determinant lemma), whose top eigenvalue falls
    monotonically in ``mu``. The top eigenvalue is the crossing of one, found by bisection on
    ``[d_max, d_max + c ||Z||_2^2]``, or ``d_max`` where there is none.
    """
    d_max = jnp.max(diag)
    hi = d_max + c * jnp.linalg.eigvalsh(z @ z.T)[-1]

    def bisect(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        gap = jnp.maximum(mid - diag, jnp.finfo(diag.dtype).tiny)
        crossed = c * jnp.linalg.eigvalsh((z / gap) @ z.T)[-1] >= 1.0
        return jnp.where(crossed, mid, lo), jnp.where(crossed, hi, mid)

    lo, hi = jax.lax.fori_loop(0, steps, bisect, (d_max, hi))
    return 0.5 * (lo + hi)


def _top(method: str, diag, z, c, matvec, start):
    """Top eigenvalue of ``diag(d) + c Z^T Z`` (symmetric basis) or, matrix-free, of ``matvec``.

    Returns (value, residual, converged); the direct methods are exact (residual 0).
    """
    exact = jnp.ones((), bool)
    if method == "secular":
        value = _secular_top(diag, z, c)
        return value, jnp.zeros_like(value), exact
    if method == "dense":
        value = jnp.linalg.eigvalsh(jnp.diag(diag) + c * z.T @ z)[-1]
        return value, jnp.zeros_like(value), exact
    top = curvature.top_eigenvalue(matvec, start, order=_LANCZOS_ORDER, tol=1e-6)
    return top.value, top.residual, top.converged


@functools.partial(jax.jit, static_argnames=("method",))
def _radius(gram, lr, batch_size, replacement, method) -> StabilityRadius:
    ops = _operators(gram, batch_size, replacement)
    (rows, cols), w = ops.symmetric_basis()
    mask = ops.pairs[rows, cols]
    a = ops.a_diag[rows, cols]
    # T~ = I - lr A + lr^2 Q~ = diag(1 - lr a + lr^2 c_full lambda_i lambda_j) + lr^2 c_diag W^T W
    diag = mask * (1.0 - lr * a + lr**2 * ops.c_full * ops.lam[rows] * ops.lam[cols])
    value, residual, converged = _top(
        method, diag, w * mask, lr**2 * ops.c_diag, lambda x: ops.t(x, lr), ops.pairs
    )
    return StabilityRadius(value=value, residual=residual, converged=converged)


@functools.partial(jax.jit, static_argnames=("method",))
def _critical(gram, batch_size, replacement, method) -> CriticalLR:
    ops = _operators(gram, batch_size, replacement)
    (rows, cols), w = ops.symmetric_basis()
    scale = ops.inv_sqrt_a()[rows, cols]
    # A^{-1/2} Q~ A^{-1/2} = diag(c_full lambda_i lambda_j / a_ij) + c_diag (W A^{-1/2})^T (...)
    diag = ops.c_full * ops.lam[rows] * ops.lam[cols] * scale**2
    mu, _, converged = _top(method, diag, w * scale, ops.c_diag, ops.p, ops.pairs)
    n = gram.shape[0]
    return CriticalLR(sgd=1.0 / mu, gd=2.0 * n / ops.lam[-1], converged=converged)


# ----------------------------------------------------------------------------- public


def stability_radius(
    gram: jax.Array,
    *,
    lr: float,
    batch_size: int,
    replacement: bool = True,
    method: Method = "secular",
) -> StabilityRadius:
    """``rho(T)``: the growth factor per step of ``E[u u^T]`` for SGD linearised at a minimum.

    ``T(S) = S - (eta/n)(G S + S G) + eta^2 G E[D S D] G`` (module docstring; Wu et al. 2018,
    Wu & Su 2023 Sec. 3). The minimum is linearly stable for SGD iff ``rho(T) <= 1``; above 1,
    SGD escapes it exponentially fast. With ``batch_size = n`` and ``replacement=False`` every
    batch is the full data set and ``rho(T) = max_i (1 - eta lambda_i(H))^2``, plain GD.

    Args:
      gram: (n, n) ``G = J J^T`` at an interpolating minimum of the loss ``(1/2n) sum (f - y)^2``
        (:func:`gram_matrix`); symmetric positive semi-definite.
      lr: the learning rate ``eta > 0``.
      batch_size: ``B`` in ``[1, n]``.
      replacement: the ``B`` indices of a batch are drawn with (True) or without replacement.
      method: how the top eigenvalue is found (all in ``O(n^2)`` memory except dense):
        ``"secular"`` (exact: bisection on an ``n x n`` secular matrix, ~100 small eigenvalue
        problems), ``"dense"`` (exact: the operator on symmetric matrices as an
        ``n(n+1)/2``-square matrix, ``O(n^6)`` time; a reference), ``"lanczos"`` (matrix-free,
        :func:`jaxpapers_shared.curvature.top_eigenvalue`, ``O(n^3)`` per product; for large
        ``n``).

    Returns:
      :class:`StabilityRadius`.

    Raises:
      ValueError: ``lr <= 0``; ``batch_size`` outside ``[1, n]``; ``gram`` not square, not
        symmetric, not PSD, zero or non-finite; an unknown ``method``.
    """
    gram = _check_gram(gram)
    checks.positive(lr, "lr")
    n = gram.shape[0]
    batch_size = _check_batch(batch_size, n, replacement)
    return _radius(
        gram, lr, batch_size, bool(replacement), checks.one_of(method, "method", _METHODS)
    )


def critical_lr(
    gram: jax.Array,
    *,
    batch_size: int,
    replacement: bool = True,
    method: Method = "secular",
) -> CriticalLR:
    """The edges of linear stability: ``eta*_SGD`` (exact) and ``eta*_GD = 2 / lambda_max(H)``.

    ``eta*_SGD = 1 / lambda_max(A^{-1/2} Q~ A^{-1/2})`` is where ``rho(T)`` crosses one (module
    docstring): SGD with this batch size is linearly stable at the minimum iff
    ``lr <= eta*_SGD``. For ``batch_size = 1`` Wu & Su prove ``eta*_SGD tr(H) <= 2``.

    Args:
      gram: (n, n) Gram matrix at an interpolating minimum (see :func:`stability_radius`).
      batch_size: ``B`` in ``[1, n]``.
      replacement: batches drawn with (True) or without replacement.
      method: ``"secular"``, ``"dense"`` or ``"lanczos"`` (see :func:`stability_radius`).

    Returns:
      :class:`CriticalLR`; a Lanczos estimate that did not converge is flagged and warned about.

    Raises:
      ValueError: ``batch_size`` outside ``[1, n]``; a bad ``gram``; an unknown ``method``.
    """
    gram = _check_gram(gram)
    n = gram.shape[0]
    batch_size = _check_batch(batch_size, n, replacement)
    result = _critical(
        gram, batch_size, bool(replacement), checks.one_of(method, "method", _METHODS)
    )
    if checks.is_concrete(result.converged) and not bool(result.converged):
        warnings.warn(
            "critical_lr: the Lanczos estimate of eta*_SGD did not converge; use method='secular'.",
            RuntimeWarning,
            stacklevel=2,
        )
    return result


def is_linearly_stable(
    gram: jax.Array,
    *,
    lr: float,
    batch_size: int,
    optimizer: Literal["sgd", "gd"] = "sgd",
    replacement: bool = True,
    method: Method = "secular",
) -> bool:
    """Whether the minimum with Gram matrix ``gram`` is linearly stable for SGD or GD at ``lr``.

    SGD: ``lr <= eta*_SGD`` (equivalently ``rho(T) <= 1``); GD: ``lr lambda_max(H) <= 2``.
    ``batch_size`` is ignored for GD but still checked.

    Raises:
      ValueError: ``lr <= 0``; ``batch_size`` outside ``[1, n]``; an unknown ``optimizer``;
        a bad ``gram``.
    """
    checks.positive(lr, "lr")
    checks.one_of(optimizer, "optimizer", ("sgd", "gd"))
    edge = critical_lr(gram, batch_size=batch_size, replacement=replacement, method=method)
    return bool(lr <= (edge.sgd if optimizer == "sgd" else edge.gd))
