"""The deep conjugate direction solver (Alg. 1) and the CG / Jacobi-PCG baselines."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks

Operator = Callable[[jax.Array], jax.Array]

# Termination codes of SolveInfo.status.
CONVERGED, MAX_ITER, NOT_SPD, STALLED = 0, 1, 2, 3
_STATUS = {
    CONVERGED: "converged",
    MAX_ITER: "reached max_iter without converging",
    NOT_SPD: "operator not positive definite along a search direction",
    STALLED: "stalled: search direction orthogonal to the residual (q.r ~ 0)",
}


class SolveInfo(NamedTuple):
    """Diagnostics of an iterative solve.

    Attributes:
        iterations: int scalar, number of search directions taken.
        residual_norms: ``(max_iter + 1,)`` relative true residuals ``||b - A x_k|| / ||b||``
            for k = 0..iterations, each computed from ``x_k`` (not a recursively updated
            residual); entries after ``iterations`` are NaN. :func:`cg` with
            ``residual_history=False`` records only entry 0 and the final one.
        converged: bool scalar, ``||b - A x|| <= tol ||b||``.
        status: int scalar, 0 converged, 1 max_iter, 2 not SPD along a direction, 3 stalled.
    """

    iterations: jax.Array
    residual_norms: jax.Array
    converged: jax.Array
    status: jax.Array


def status_message(status: int) -> str:
    """Human-readable meaning of :attr:`SolveInfo.status`."""
    return _STATUS[int(status)]


def _validate(apply_A, b, tol, max_iter, num_conjugate=0):
    if not isinstance(b, jax.Array | np.ndarray):
        raise TypeError(f"`b` must be a jax/numpy array, got {type(b).__name__}.")
    shape = getattr(apply_A, "shape", None)
    if shape is not None and tuple(b.shape) != tuple(shape):
        raise ValueError(f"`b` must have the grid shape {tuple(shape)}, got {tuple(b.shape)}.")
    checks.positive(tol, "tol")
    checks.integer(max_iter, "max_iter", minimum=1)
    checks.integer(num_conjugate, "num_conjugate", minimum=0)
    if checks.is_concrete(b) and not bool(jnp.all(jnp.isfinite(b))):
        raise ValueError("`b` contains NaN or inf (expected finite values).")


def _finish(x, info, throw_not_spd=True):
    # Under jit the status is returned; eagerly a non-SPD operator is an error, not a result.
    if throw_not_spd and checks.is_concrete(info.status) and info.status.ndim == 0:
        if int(info.status) == NOT_SPD:
            raise ValueError(f"solve failed: {status_message(NOT_SPD)} (q^T A q <= 0).")
    return x, info


def solve(
    apply_A: Operator,
    b: jax.Array,
    direction_fn: Callable[[jax.Array], jax.Array],
    *,
    x0: jax.Array | None = None,
    tol: float = 1e-4,
    max_iter: int = 100,
    num_conjugate: int = 2,
) -> tuple[jax.Array, SolveInfo]:
    """Deep conjugate directions (Kaneda et al. 2023, Alg. 1; official ``dcdm``).

    Each iteration asks the network for a direction from the normalised residual,
    ``q = f(r / ||r||)``, A-orthogonalises it against the last ``num_conjugate`` directions
    ``q <- q - sum_j (q.A p_j / p_j.A p_j) p_j`` and takes the exact A-norm line search
    ``alpha = q.r / q.A q`` (Eq. 8); the true residual ``b - A x`` is recomputed every step.

    Pure ``lax.while_loop``: jit-, vmap- (per-example iteration counts) and grad-compatible.

    Args:
        apply_A: SPD operator ``x -> A x`` on arrays of ``b``'s shape.
        b: right-hand side, shape of the grid.
        direction_fn: ``r -> q`` of ``b``'s shape (the trained network, or ``lambda r: r`` for
            steepest descent / CG).
        x0: initial guess (default zeros).
        tol: relative residual tolerance ``||r|| <= tol ||b||`` (paper: 1e-4).
        max_iter: iteration cap (the nonlinear ``f`` carries no convergence guarantee).
        num_conjugate: number of previous directions to A-orthogonalise against (paper: 2).
            With ``direction_fn = identity`` and ``num_conjugate >= 1`` this is CG.

    Returns:
        ``(x, info)``: the solution of ``b``'s shape and a :class:`SolveInfo`.

    Raises:
        TypeError/ValueError: ``b`` of the wrong type/shape or non-finite, ``tol <= 0``,
            ``max_iter < 1``, ``num_conjugate < 0``; eagerly (outside jit), an operator that is
            not positive definite along a search direction. Non-convergence is reported in
            ``info`` (``converged`` False, ``status`` 1 or 3), not raised.

    Differs from the paper: none in the iteration; ``b = 0`` returns ``x = 0`` after 0 steps.
    """
    _validate(apply_A, b, tol, max_iter, num_conjugate)
    b = jnp.asarray(b, jnp.float32)
    x = jnp.zeros_like(b) if x0 is None else jnp.asarray(x0, b.dtype)
    s = max(int(num_conjugate), 1)
    use_conj = num_conjugate > 0
    b_norm = jnp.linalg.norm(b)
    safe_b = jnp.where(b_norm > 0, b_norm, 1.0)
    r = b - apply_A(x)
    hist = jnp.full((max_iter + 1,), jnp.nan, b.dtype).at[0].set(jnp.linalg.norm(r) / safe_b)
    P = jnp.zeros((s, *b.shape), b.dtype)
    AP = jnp.zeros((s, *b.shape), b.dtype)
    pAp = jnp.ones((s,), b.dtype)  # 1, not 0, so empty slots give a zero projection
    state = (0, x, r, P, AP, pAp, hist, jnp.int32(MAX_ITER))

    def cond(st):
        k, _, r, *_, status = st
        not_done = jnp.linalg.norm(r) > tol * b_norm
        return (k < max_iter) & not_done & (status == MAX_ITER)

    def body(st):
        k, x, r, P, AP, pAp, hist, status = st
        rn = jnp.linalg.norm(r)
        q = direction_fn(r / rn)
        if use_conj:
            coef = jnp.tensordot(AP, q, axes=q.ndim) / pAp
            q = q - jnp.tensordot(coef, P, axes=1)
        Aq = apply_A(q)
        qAq = jnp.vdot(q, Aq)
        qr = jnp.vdot(q, r)
        qnorm2 = jnp.vdot(q, q)
        not_spd = ~(qAq > 0) & (qnorm2 > 0)
        # cos(q, r) at rounding level: the step would make no progress.
        stalled = jnp.abs(qr) <= 16 * jnp.finfo(b.dtype).eps * rn * jnp.sqrt(qnorm2)
        alpha = jnp.where(qAq > 0, qr / jnp.where(qAq > 0, qAq, 1.0), 0.0)
        x = x + alpha * q
        r = b - apply_A(x)
        slot = k % s
        P = P.at[slot].set(q)
        AP = AP.at[slot].set(Aq)
        pAp = pAp.at[slot].set(jnp.where(qAq > 0, qAq, 1.0))
        hist = hist.at[k + 1].set(jnp.linalg.norm(r) / safe_b)
        status = jnp.where(not_spd, NOT_SPD, jnp.where(stalled, STALLED, MAX_ITER))
        return (k + 1, x, r, P, AP, pAp, hist, jnp.int32(status))

    k, x, r, *_, hist, status = jax.lax.while_loop(cond, body, state)
    converged = jnp.linalg.norm(r) <= tol * b_norm
    status = jnp.where(converged, CONVERGED, status)
    info = SolveInfo(jnp.asarray(k), hist, converged, status)
    return _finish(x, info)


def cg(
    apply_A: Operator,
    b: jax.Array,
    *,
    x0: jax.Array | None = None,
    tol: float = 1e-4,
    max_iter: int = 1000,
    preconditioner: Callable[[jax.Array], jax.Array] | None = None,
    residual_history: bool = True,
) -> tuple[jax.Array, SolveInfo]:
    """(Preconditioned) conjugate gradients with a residual history: the paper's baseline.

    Same iterates as ``jaxpapers_shared.linear_solve.cg``, plus the per-step residual history.
    The iteration updates the residual recursively, ``r <- r - alpha A p``; convergence is
    decided on the true residual ``b - A x``: when the recursive residual passes the test it is
    replaced by the true one and the iteration goes on if that one has not. In float32 the two
    drift apart once CG stagnates (on a 32x32 grid the recursive one falls to 1e-8 while the
    true one stays at 2e-6), so the history records the true residual of every iterate, at the
    cost of one more operator apply per iteration. ``preconditioner`` is ``r -> M^{-1} r``, e.g. :func:`jacobi` for Jacobi-PCG.

    Args:
        residual_history: record ``||b - A x_k|| / ||b||`` for every k (default). ``False``
            skips the extra operator apply (for timing): ``residual_norms`` then holds only the
            first and the final true residual, NaN in between. The iterates are the same.
        Others: as :func:`solve`.

    Returns/Raises: as :func:`solve` (``status`` 2 when ``p^T A p <= 0``).
    """
    _validate(apply_A, b, tol, max_iter)
    b = jnp.asarray(b, jnp.float32)
    M = preconditioner if preconditioner is not None else (lambda v: v)
    x = jnp.zeros_like(b) if x0 is None else jnp.asarray(x0, b.dtype)
    b_norm = jnp.linalg.norm(b)
    safe_b = jnp.where(b_norm > 0, b_norm, 1.0)
    r = b - apply_A(x)
    z = M(r)
    rz = jnp.vdot(r, z)
    hist = jnp.full((max_iter + 1,), jnp.nan, b.dtype).at[0].set(jnp.linalg.norm(r) / safe_b)
    state = (0, x, r, z, rz, hist, jnp.int32(MAX_ITER))

    def cond(st):
        k, _, r, *_, status = st
        return (k < max_iter) & (jnp.linalg.norm(r) > tol * b_norm) & (status == MAX_ITER)

    def body(st):
        k, x, r, p, rz, hist, status = st
        Ap = apply_A(p)
        pAp = jnp.vdot(p, Ap)
        alpha = jnp.where(pAp > 0, rz / jnp.where(pAp > 0, pAp, 1.0), 0.0)
        x = x + alpha * p
        r = r - alpha * Ap
        # Residual replacement at the stopping test: in float32 the recursive residual drifts
        # from b - A x on large grids, so CG would stop early; the true one decides.
        r = jax.lax.cond(jnp.linalg.norm(r) <= tol * b_norm, lambda: b - apply_A(x), lambda: r)
        z = M(r)
        rz_new = jnp.vdot(r, z)
        p = z + (rz_new / jnp.where(rz != 0, rz, 1.0)) * p
        if residual_history:
            hist = hist.at[k + 1].set(jnp.linalg.norm(b - apply_A(x)) / safe_b)
        status = jnp.where(pAp > 0, MAX_ITER, NOT_SPD)
        return (k + 1, x, r, p, rz_new, hist, jnp.int32(status))

    k, x, r, *_, hist, status = jax.lax.while_loop(cond, body, state)
    if not residual_history:
        hist = hist.at[k].set(jnp.linalg.norm(b - apply_A(x)) / safe_b)
    converged = jnp.linalg.norm(r) <= tol * b_norm  # r is the true residual here
    status = jnp.where(converged, CONVERGED, status)
    return _finish(x, SolveInfo(jnp.asarray(k), hist, converged, status))


def jacobi(apply_A) -> Callable[[jax.Array], jax.Array]:
    """Jacobi preconditioner ``r -> r / diag(A)`` of a :class:`PoissonOperator`."""
    shape, mask = apply_A.shape, apply_A.mask
    nd = len(shape)
    if mask is None:
        diag = jnp.full(shape, 2.0 * nd)
    else:
        from dcdm._poisson import _neighbours

        diag = mask * (2.0 * nd - _neighbours(1.0 - mask, nd)) + (1.0 - mask)
    return lambda r: r / diag
