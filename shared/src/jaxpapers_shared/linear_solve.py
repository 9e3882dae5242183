"""Matrix-free linear solves ``solve(matvec, b) -> Solution`` with ``matvec(x) == b``.

Every solver takes the operator as a function on pytrees (never a materialised matrix, except
:func:`dense`, which builds one for small systems), so the implicit-function-theorem backward
passes in :mod:`jaxpapers_shared.implicit` can apply ``(I - df/dx)^T`` through a VJP. All of them
work inside ``jit``/``vmap``/``grad`` (the iterative ones through ``lax.custom_linear_solve``, so
derivatives of ``x`` come from solves with the transposed operator, not from the loop).

Each returns a :class:`Solution` (``implicit.Solution``): ``value`` (the solution, shaped like
``b``), ``iterations``, ``residual`` (``norm(b - matvec(x))``; CG and BiCGStab report the residual
their recurrence tracks, GMRES the true one at its last restart, Neumann the residual of the
previous term) and ``converged`` (``residual <= atol + rtol * norm(b)``, finite). They never
raise on non-convergence: the caller reads ``converged`` (the implicit layer does).

| solver | operator | note |
|---|---|---|
| :func:`cg` | symmetric positive definite | Hessians of convex losses, normal equations |
| :func:`gmres` | any nonsingular | the default for fixed-point adjoints |
| :func:`bicgstab` | any nonsingular | less memory than GMRES, can break down |
| :func:`neumann` | ``I - K`` with ``rho(K) < 1`` | the series ``b + K b + K^2 b + ...``; cheap, slow |
| :func:`dense` | any, small | materialises the matrix by ``vmap`` over a basis, LU solve |

Tolerances: ``rtol`` (default ``max(1e-8, 100 eps)`` of ``b``'s dtype: 1e-8 in float64,
1.2e-5 in float32), ``atol`` (default 0) and ``norm`` (``"max"`` by default, ``"l2"``, ``"rms"``).
The older ``tol=`` keeps its meaning: ``||b - Ax||_2 <= tol * ||b||_2``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxpapers_shared._status import Solution, Tolerance, check_max_iter, tolerance

__all__ = ["Solution", "bicgstab", "cg", "dense", "get_solver", "gmres", "neumann"]

PyTree = Any
Matvec = Callable[[PyTree], PyTree]


def _default_rtol(dtype: Any) -> float:
    return max(1e-8, 100 * float(jnp.finfo(dtype).eps))


def _setup(matvec, b, x0, tol, rtol, atol, norm, max_iter, default_max_iter):
    """Flattens the pytree system and resolves the options."""
    b_flat, unravel = ravel_pytree(b)
    if not jnp.issubdtype(b_flat.dtype, jnp.floating):
        b_flat = b_flat.astype(jnp.result_type(float))
    if b_flat.size == 0:
        raise ValueError("`b` must not be empty.")
    tolerance_ = tolerance(
        tol,
        rtol,
        atol,
        norm,
        default_rtol=_default_rtol(b_flat.dtype),
        default_atol=0.0,
        tol_is="rtol",
    )
    max_iter = default_max_iter(b_flat.size) if max_iter is None else max_iter
    check_max_iter(max_iter)
    if x0 is None:
        x0_flat = jnp.zeros_like(b_flat)
    else:
        x0_flat = ravel_pytree(x0)[0].astype(b_flat.dtype)
        if x0_flat.shape != b_flat.shape:
            raise ValueError(
                f"`x0` must be shaped like `b`: {x0_flat.size} entries for {b_flat.size}."
            )
    flat_matvec = lambda v: ravel_pytree(matvec(unravel(v)))[0].astype(b_flat.dtype)
    return b_flat, unravel, x0_flat, flat_matvec, tolerance_, int(max_iter)


def _solve(loop, flat_matvec, b_flat, unravel, *, symmetric=False):
    """Runs ``loop(matvec, b) -> (x, (iterations, residual, converged))`` as a custom linear solve."""
    x, (k, res, ok) = jax.lax.custom_linear_solve(
        flat_matvec, b_flat, solve=loop, transpose_solve=loop, symmetric=symmetric, has_aux=True
    )
    return Solution(unravel(x), k, res, ok & jnp.isfinite(res))


def _dot(a, b):
    return jnp.vdot(a, b).real


# ----------------------------------------------------------------------------- Krylov solvers


def cg(
    matvec: Matvec,
    b: PyTree,
    *,
    x0: PyTree | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    norm: str | None = None,
    max_iter: int | None = None,
    tol: float | None = None,
) -> Solution:
    """Conjugate gradients for a symmetric positive-definite operator (``max_iter`` default 10 n)."""
    b_flat, unravel, x0_flat, mv, tol_, max_iter = _setup(
        matvec, b, x0, tol, rtol, atol, norm, max_iter, lambda n: 10 * n
    )

    def loop(A, b):
        threshold = tol_.threshold(tol_(b))

        def cond(state):
            *_, k, res = state
            return (k < max_iter) & (res > threshold)

        def body(state):
            x, r, gamma, p, k, _ = state
            ap = A(p)
            alpha = gamma / _dot(p, ap)
            x, r = x + alpha * p, r - alpha * ap
            gamma_new = _dot(r, r)
            p = r + (gamma_new / gamma) * p
            return x, r, gamma_new, p, k + 1, tol_(r)

        r0 = b - A(x0_flat)
        init = (x0_flat, r0, _dot(r0, r0), r0, jnp.asarray(0, jnp.int32), tol_(r0))
        x, *_, k, res = jax.lax.while_loop(cond, body, init)
        return x, (k, res, res <= threshold)

    return _solve(loop, mv, b_flat, unravel, symmetric=True)


def gmres(
    matvec: Matvec,
    b: PyTree,
    *,
    x0: PyTree | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    norm: str | None = None,
    max_iter: int | None = None,
    restart: int = 30,
    tol: float | None = None,
) -> Solution:
    """Restarted GMRES for a general nonsingular operator.

    Each cycle builds up to ``restart`` Krylov vectors (classical Gram-Schmidt, applied twice)
    with an incremental Givens QR, stops early once the residual estimate meets the tolerance,
    and checks the true residual. ``iterations``
    counts Arnoldi steps (one matvec each); ``max_iter`` (default 10 n) bounds them, rounded up to
    whole cycles.
    """
    b_flat, unravel, x0_flat, mv, tol_, max_iter = _setup(
        matvec, b, x0, tol, rtol, atol, norm, max_iter, lambda n: 10 * n
    )
    check_max_iter(restart, "restart")
    m = min(int(restart), b_flat.size)
    dtype = b_flat.dtype
    eps = jnp.finfo(dtype).eps

    def cycle(A, x, r, threshold):
        beta = jnp.linalg.norm(r)
        basis = jnp.zeros((m + 1, r.size), dtype).at[0].set(r / jnp.where(beta > 0, beta, 1))
        # Incremental QR of the Hessenberg matrix by Givens rotations: |g[j + 1]| is the l2 norm
        # of the residual after step j, so a cycle stops as soon as it meets the tolerance (in
        # the chosen norm, estimated by the ratio of norms of the cycle's first residual).
        triangular = jnp.eye(m, dtype=dtype)
        rotations = jnp.zeros((m, 2), dtype)
        g = jnp.zeros((m + 1,), dtype).at[0].set(beta)
        ratio = tol_(r) / jnp.where(beta > 0, beta, 1)

        def cond(state):
            *_, g, j, done = state
            return (j < m) & ~done

        def arnoldi(state):
            basis, triangular, rotations, g, j, _ = state
            w = A(basis[j])
            w_norm = jnp.linalg.norm(w)
            h = basis @ w
            w = w - basis.T @ h
            h2 = basis @ w
            w, h = w - basis.T @ h2, h + h2
            h_next = jnp.linalg.norm(w)
            breakdown = h_next <= eps * w_norm
            next_v = jnp.where(breakdown, 0.0, w / jnp.where(breakdown, 1, h_next))
            basis = basis.at[j + 1].set(next_v)

            def rotate(i, h):
                c, s_ = rotations[i]
                hi, hi1 = h[i], h[i + 1]
                return h.at[i].set(c * hi + s_ * hi1).at[i + 1].set(-s_ * hi + c * hi1)

            h = jax.lax.fori_loop(0, j, rotate, h[:m])
            hj = h[j]
            radius = jnp.hypot(hj, h_next)
            c, s_ = hj / jnp.where(radius > 0, radius, 1), h_next / jnp.where(radius > 0, radius, 1)
            column = h.at[j].set(radius)
            column = jnp.where(jnp.arange(m) <= j, column, 0)
            triangular = triangular.at[:, j].set(column)
            rotations = rotations.at[j].set(jnp.stack([c, s_]))
            g = g.at[j + 1].set(-s_ * g[j]).at[j].set(c * g[j])
            done = breakdown | (jnp.abs(g[j + 1]) * ratio <= threshold)
            return basis, triangular, rotations, g, j + 1, done

        basis, triangular, _, g, steps, _ = jax.lax.while_loop(
            cond,
            arnoldi,
            (basis, triangular, rotations, g, jnp.asarray(0, jnp.int32), jnp.asarray(False)),
        )
        used = jnp.where(jnp.arange(m) < steps, g[:m], 0)
        y = jax.scipy.linalg.solve_triangular(triangular, used, lower=False)
        x = x + basis[:-1].T @ y
        return x, steps

    def loop(A, b):
        threshold = tol_.threshold(tol_(b))

        def cond(state):
            _, _, k, res = state
            return (k < max_iter) & (res > threshold)

        def body(state):
            x, r, k, _ = state
            x, steps = cycle(A, x, r, threshold)
            r = b - A(x)
            return x, r, k + jnp.maximum(steps, 1), tol_(r)

        r0 = b - A(x0_flat)
        x, _, k, res = jax.lax.while_loop(
            cond, body, (x0_flat, r0, jnp.asarray(0, jnp.int32), tol_(r0))
        )
        return x, (k, res, res <= threshold)

    return _solve(loop, mv, b_flat, unravel)


def bicgstab(
    matvec: Matvec,
    b: PyTree,
    *,
    x0: PyTree | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    norm: str | None = None,
    max_iter: int | None = None,
    tol: float | None = None,
) -> Solution:
    """BiCGStab for a general nonsingular operator; a breakdown stops it (``converged`` False)."""
    b_flat, unravel, x0_flat, mv, tol_, max_iter = _setup(
        matvec, b, x0, tol, rtol, atol, norm, max_iter, lambda n: 10 * n
    )

    def loop(A, b):
        threshold = tol_.threshold(tol_(b))

        def cond(state):
            *_, k, res, broken = state
            return (k < max_iter) & (res > threshold) & ~broken

        def body(state):
            x, r, rhat, alpha, omega, rho, p, q, k, _, _ = state
            rho_new = _dot(rhat, r)
            beta = rho_new / rho * alpha / omega
            p = r + beta * (p - omega * q)
            q = A(p)
            alpha = rho_new / _dot(rhat, q)
            s = r - alpha * q
            early = tol_(s) <= threshold
            t = A(s)
            omega = _dot(t, s) / _dot(t, t)
            x = jnp.where(early, x + alpha * p, x + alpha * p + omega * s)
            r = jnp.where(early, s, s - omega * t)
            broken = ~early & ((rho_new == 0) | (omega == 0) | (alpha == 0))
            return x, r, rhat, alpha, omega, rho_new, p, q, k + 1, tol_(r), broken

        r0 = b - A(x0_flat)
        one = jnp.ones((), b.dtype)
        init = (x0_flat, r0, r0, one, one, one, r0, r0, jnp.asarray(0, jnp.int32), tol_(r0))
        x, *_, k, res, _ = jax.lax.while_loop(cond, body, (*init, jnp.asarray(False)))
        return x, (k, res, res <= threshold)

    return _solve(loop, mv, b_flat, unravel)


def neumann(
    matvec: Matvec,
    b: PyTree,
    *,
    x0: PyTree | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    norm: str | None = None,
    max_iter: int = 1000,
    tol: float | None = None,
) -> Solution:
    """Solves ``(I - K) x = b`` by the Neumann series / Richardson iteration ``x <- b + K x``.

    ``matvec`` applies ``I - K`` (so ``K x = x - matvec(x)``); the series converges when the
    spectral radius of ``K`` is below one, the setting of a contractive fixed point's adjoint.
    Each step's change ``b - matvec(x)`` is the residual of the previous term; the loop stops
    when it is within tolerance or after ``max_iter`` terms. With ``rho(K) >= 1`` the terms grow
    and the result says ``converged=False`` (residual large or NaN) instead of a wrong value.
    """
    b_flat, unravel, x0_flat, mv, tol_, max_iter = _setup(
        matvec, b, x0 if x0 is not None else b, tol, rtol, atol, norm, max_iter, None
    )

    def loop(A, b):
        threshold = tol_.threshold(tol_(b))

        def cond(state):
            _, k, res = state
            return (k < max_iter) & (res > threshold)

        def body(state):
            x, k, _ = state
            step = b - A(x)
            return x + step, k + 1, tol_(step)

        init = (x0_flat, jnp.asarray(0, jnp.int32), jnp.asarray(jnp.inf, b.dtype))
        x, k, res = jax.lax.while_loop(cond, body, init)
        return x, (k, res, res <= threshold)

    return _solve(loop, mv, b_flat, unravel)


def dense(matvec: Matvec, b: PyTree, **options: Any) -> Solution:
    """Materialises the operator (one matvec per unknown, vectorised) and LU-solves; small systems.

    Exact to rounding, which makes it the reference the iterative solvers are tested against.
    ``converged`` means a finite solution (a singular matrix gives NaN/inf); ``residual`` is
    ``norm(b - A x)``. Tolerance options are accepted (for a common signature) and unused.
    """
    unknown = set(options) - {"x0", "rtol", "atol", "tol", "norm", "max_iter"}
    if unknown:
        raise TypeError(f"dense() got unexpected options {sorted(unknown)}.")
    b_flat, unravel = ravel_pytree(b)
    flat_matvec = lambda v: ravel_pytree(matvec(unravel(v)))[0]
    matrix = jax.vmap(flat_matvec, out_axes=1)(jnp.eye(b_flat.size, dtype=b_flat.dtype))
    x = jnp.linalg.solve(matrix, b_flat)
    norm = Tolerance(0.0, 0.0, options.get("norm") or "max")
    res = norm(b_flat - matrix @ x)
    return Solution(unravel(x), jnp.asarray(1, jnp.int32), res, jnp.all(jnp.isfinite(x)))


_SOLVERS: dict[str, Callable[..., Solution]] = {
    "bicgstab": bicgstab,
    "cg": cg,
    "dense": dense,
    "gmres": gmres,
    "neumann": neumann,
}


def get_solver(solver: str | Callable[..., Any], argname: str = "solver") -> Callable[..., Any]:
    """Resolves a solver name (``"cg"``, ``"gmres"``, ...) or passes a ``solve`` callable through."""
    if callable(solver):
        return solver
    if solver not in _SOLVERS:
        raise ValueError(
            f"`{argname}` must be one of {sorted(_SOLVERS)} or a callable "
            f"solve(matvec, b), got {solver!r}."
        )
    return _SOLVERS[solver]
