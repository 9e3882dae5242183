"""Matrix-free linear solves ``solve(matvec, b) -> x`` with ``matvec(x) == b``.

Every solver takes the operator as a function on pytrees (never a materialised matrix, except
:func:`dense`, which builds one for small systems), so the implicit-function-theorem backward
passes in :mod:`jaxpapers_shared.implicit` can apply ``(I - df/dx)^T`` through a VJP. All of them
are usable inside ``jit``/``vmap``/``grad`` and have the signature ``jaxopt.linear_solve`` uses,
so they can be passed wherever a ``solve`` callable is expected (use ``functools.partial`` to fix
``tol``/``max_iter``).

| solver | operator | note |
|---|---|---|
| :func:`cg` | symmetric positive definite | Hessians of convex losses, normal equations |
| :func:`gmres` | any nonsingular | the default for fixed-point adjoints |
| :func:`bicgstab` | any nonsingular | less memory than GMRES, can break down |
| :func:`neumann` | ``I - K`` with ``rho(K) < 1`` | the series ``b + K b + K^2 b + ...``; cheap, slow |
| :func:`dense` | any, small | materialises the matrix by ``vmap`` over a basis, LU solve |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.sparse.linalg as jsp_linalg
from jax.flatten_util import ravel_pytree

__all__ = ["bicgstab", "cg", "dense", "get_solver", "gmres", "neumann"]

PyTree = Any
Matvec = Callable[[PyTree], PyTree]


def _check_tol(tol: float, max_iter: int | None) -> None:
    if not tol > 0:
        raise ValueError(f"`tol` must be > 0, got {tol}.")
    if max_iter is not None and max_iter < 1:
        raise ValueError(f"`max_iter` must be >= 1, got {max_iter}.")


def cg(
    matvec: Matvec,
    b: PyTree,
    *,
    x0: PyTree | None = None,
    tol: float = 1e-8,
    max_iter: int | None = None,
) -> PyTree:
    """Conjugate gradients for a symmetric positive-definite operator (``scipy.sparse.linalg.cg``)."""
    _check_tol(tol, max_iter)
    return jsp_linalg.cg(matvec, b, x0=x0, tol=tol, atol=0.0, maxiter=max_iter)[0]


def gmres(
    matvec: Matvec,
    b: PyTree,
    *,
    x0: PyTree | None = None,
    tol: float = 1e-8,
    max_iter: int | None = None,
    restart: int = 30,
) -> PyTree:
    """Restarted GMRES for a general nonsingular operator (``scipy.sparse.linalg.gmres``)."""
    _check_tol(tol, max_iter)
    return jsp_linalg.gmres(
        matvec,
        b,
        x0=x0,
        tol=tol,
        atol=0.0,
        restart=restart,
        maxiter=max_iter,
        solve_method="batched",
    )[0]


def bicgstab(
    matvec: Matvec,
    b: PyTree,
    *,
    x0: PyTree | None = None,
    tol: float = 1e-8,
    max_iter: int | None = None,
) -> PyTree:
    """BiCGStab for a general nonsingular operator (``scipy.sparse.linalg.bicgstab``)."""
    _check_tol(tol, max_iter)
    return jsp_linalg.bicgstab(matvec, b, x0=x0, tol=tol, atol=0.0, maxiter=max_iter)[0]


def neumann(
    matvec: Matvec, b: PyTree, *, x0: PyTree | None = None, tol: float = 1e-8, max_iter: int = 1000
) -> PyTree:
    """Solves ``(I - K) x = b`` by the Neumann series / Richardson iteration ``x <- b + K x``.

    ``matvec`` applies ``I - K`` (so ``K x = x - matvec(x)``); the series converges when the
    spectral radius of ``K`` is below one, the setting of a contractive fixed point's adjoint.
    Stops when ``||x_{k+1} - x_k|| <= tol * ||b||`` or after ``max_iter`` terms.
    """
    _check_tol(tol, max_iter)
    b_flat, unravel = ravel_pytree(b)
    flat_matvec = lambda v: ravel_pytree(matvec(unravel(v)))[0]
    x = b_flat if x0 is None else ravel_pytree(x0)[0]
    threshold = tol * jnp.linalg.norm(b_flat)

    def body(state):
        x, _, k = state
        x_new = b_flat + x - flat_matvec(x)
        return x_new, jnp.linalg.norm(x_new - x), k + 1

    def cond(state):
        _, step, k = state
        return (step > threshold) & (k < max_iter)

    x, _, _ = jax.lax.while_loop(cond, body, (x, jnp.asarray(jnp.inf, x.dtype), 0))
    return unravel(x)


def dense(matvec: Matvec, b: PyTree, **unused: Any) -> PyTree:
    """Materialises the operator (one matvec per unknown, vectorised) and LU-solves; small systems.

    Exact to rounding, which makes it the reference the iterative solvers are tested against.
    """
    del unused
    b_flat, unravel = ravel_pytree(b)
    flat_matvec = lambda v: ravel_pytree(matvec(unravel(v)))[0]
    matrix = jax.vmap(flat_matvec, out_axes=1)(jnp.eye(b_flat.size, dtype=b_flat.dtype))
    return unravel(jnp.linalg.solve(matrix, b_flat))


_SOLVERS: dict[str, Callable[..., PyTree]] = {
    "bicgstab": bicgstab,
    "cg": cg,
    "dense": dense,
    "gmres": gmres,
    "neumann": neumann,
}


def get_solver(
    solver: str | Callable[..., PyTree], argname: str = "solver"
) -> Callable[..., PyTree]:
    """Resolves a solver name (``"cg"``, ``"gmres"``, ...) or passes a ``solve`` callable through."""
    if callable(solver):
        return solver
    if solver not in _SOLVERS:
        raise ValueError(
            f"`{argname}` must be one of {sorted(_SOLVERS)} or a callable "
            f"solve(matvec, b), got {solver!r}."
        )
    return _SOLVERS[solver]
