"""Fixed points, roots and minimisers that are differentiable by the implicit function theorem.

If ``x*(theta)`` solves ``F(x*, theta) = 0`` and ``dF/dx`` is invertible there, then

    dx*/dtheta = -(dF/dx)^{-1} dF/dtheta,

so a vector-Jacobian product needs one *linear* solve with ``(dF/dx)^T`` and never the forward
iterations: memory does not grow with the number of iterations, and the forward solver may be
anything (Anderson, Newton, L-BFGS) without being differentiable itself. Here

* :func:`fixed_point` solves ``x = f(x, *params)``; ``F = x - f``, so the adjoint system is
  ``(I - df/dx)^T u = v``, solved matrix-free (GMRES by default; Neumann for contractions).
* :func:`root` solves ``F(x, *params) = 0``.
* :func:`argmin` minimises ``loss(x, *params)``; ``F = grad_x loss`` and the adjoint operator is
  the Hessian (CG by default).
* :func:`equality_qp` solves ``min 1/2 x'Qx + c'x  s.t.  Ax = b`` through its KKT system.

Every solver returns a :class:`Solution` (value, iterations, residual, converged) and stops when
``residual <= atol + rtol * scale`` in ``norm`` (max-norm by default; the older ``tol=`` means
``||residual||_2 <= tol``). A forward solve that does not converge, and an adjoint solve of the
backward pass that does not converge or returns NaN/inf, raise :class:`ConvergenceError` unless
``throw=False``: then the caller reads ``converged``, and a failed adjoint makes the gradient NaN
(never a wrong finite number). Inside ``jit`` the check runs in a host callback, and the error
reaches the caller as its base class ``jax.errors.JaxRuntimeError`` (same message), so
``except jax.errors.JaxRuntimeError`` catches a failed solve both eagerly and under ``jit``.

Gradients flow to ``params`` and to any float arrays the function closes over (hoisted into
explicit arguments); ``x0`` gets a zero gradient. All solvers work under ``jit``, ``vmap`` and
``grad``. The modules behind this API: ``_forward`` (forward solvers), ``_ift`` (the custom VJP
and its adjoint check), ``_status`` (Solution, tolerances, errors).

References:
  Blondel et al., "Efficient and Modular Implicit Differentiation", NeurIPS 2022, arXiv:2105.15183.
  Bai, Kolter, Koltun, "Deep Equilibrium Models", NeurIPS 2019, arXiv:1909.01377.
  Walker & Ni, "Anderson acceleration for fixed-point iterations", SIAM J. Numer. Anal. 2011.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxpapers_shared import _forward, checks
from jaxpapers_shared._ift import AdjointCheck, closure_convert, solve_with_ift
from jaxpapers_shared._status import (
    ConvergenceError,
    Solution,
    Tolerance,
    check_max_iter,
    report,
    tolerance,
)
from jaxpapers_shared.linear_solve import get_solver

__all__ = [
    "ConvergenceError",
    "Solution",
    "argmin",
    "equality_qp",
    "fixed_point",
    "root",
]

PyTree = Any
Norm = Literal["max", "l2", "rms"]

# Defaults when neither `tol` nor `rtol`/`atol` is given.
RTOL, ATOL = 1e-6, 1e-6
_THROW_HINT = "Pass throw=False to get the unconverged Solution and inspect `converged`."


# ----------------------------------------------------------------------------- input checks


def _check_inputs(fn: Callable, x0: PyTree, params: tuple, what: str, out: str) -> Any:
    """Finite ``x0``/``params`` (Python floats included), non-empty ``x0``, and ``fn(x0, *params)``
    traceable; returns its shape. ``out="like_x0"`` also requires x0's structure and shapes."""
    checks.finite(x0, "x0")
    checks.finite(params, "params")
    leaves = jax.tree.leaves(x0)
    if not leaves or sum(jnp.size(a) for a in leaves) == 0:
        shapes = jax.tree.map(jnp.shape, x0)
        raise ValueError(f"`x0` must not be empty (it holds no numbers), got shapes {shapes}.")
    try:
        shape = jax.eval_shape(fn, x0, *params)
    except jax.errors.ConcretizationTypeError:
        raise
    except (TypeError, ValueError) as e:
        shapes = jax.tree.map(jnp.shape, x0)
        raise ValueError(
            f"`x0` (shapes {shapes}) does not fit `{what}`: calling {what}(x0, *params) raised "
            f"{type(e).__name__}: {str(e).splitlines()[0]}"
        ) from e
    if out == "like_x0" and (
        jax.tree.structure(shape) != jax.tree.structure(x0)
        or any(
            a.shape != jnp.shape(b)
            for a, b in zip(jax.tree.leaves(shape), jax.tree.leaves(x0), strict=True)
        )
    ):
        raise ValueError(
            f"`{what}` must return a pytree with the structure and shapes of `x0`; got "
            f"{jax.tree.map(lambda a: a.shape, shape)} for x0 {jax.tree.map(jnp.shape, x0)}."
        )
    if out == "scalar" and (len(jax.tree.leaves(shape)) != 1 or jax.tree.leaves(shape)[0].shape):
        raise ValueError(f"`{what}` must return a scalar, got {shape}.")
    return shape


def _solve(
    what: str,
    optimality,
    forward,
    adjoint,
    x0,
    args,
    *,
    tol: Tolerance,
    max_iter: int,
    throw: bool,
    hint: str,
) -> Solution:
    check = AdjointCheck(what, throw)
    sol = solve_with_ift(optimality, forward, get_solver(adjoint, "adjoint"), check, x0, args)
    if throw:
        report(
            sol.iterations,
            sol.residual,
            sol.converged,
            what=what,
            criterion=tol.describe(),
            max_iter=max_iter,
            hint=hint,
        )
    return sol


# ----------------------------------------------------------------------------- public solvers


def fixed_point(
    f: Callable[..., PyTree],
    x0: PyTree,
    *params: PyTree,
    solver: Literal["anderson", "iterate"] = "anderson",
    rtol: float | None = None,
    atol: float | None = None,
    norm: Norm | None = None,
    max_iter: int = 200,
    adjoint: str | Callable[..., Any] = "gmres",
    memory: int = 5,
    mixing: float = 1.0,
    regularization: float = 1e-10,
    throw: bool = True,
    tol: float | None = None,
) -> Solution:
    r"""Solves ``x = f(x, *params)``, differentiable in ``params`` by the implicit function theorem.

    The forward pass iterates ``f`` (``solver="iterate"``) or accelerates it with safeguarded
    Anderson mixing (``solver="anderson"``, the default). The backward pass solves the adjoint
    system

    .. math:: (I - \partial_x f(x^*, \theta))^\top u = \bar{x}, \qquad
              \bar\theta = \partial_\theta f(x^*, \theta)^\top u

    matrix-free with ``adjoint`` (``"gmres"``, ``"bicgstab"``, ``"neumann"``, ``"dense"`` or a
    ``solve(matvec, b)`` callable returning a :class:`Solution` or the bare solution); the
    forward iterations are never differentiated, so memory is independent of their number.

    Args:
      f: the map, ``f(x, *params) -> x`` with the same pytree structure, shapes and dtypes.
      x0: the starting point (pytree). Receives a zero gradient.
      *params: pytrees to differentiate with respect to.
      solver: ``"anderson"`` or ``"iterate"``.
      rtol, atol: stop when ``norm(f(x) - x) <= atol + rtol * norm(f(x))`` (default 1e-6 each).
      norm: ``"max"`` (default), ``"l2"`` or ``"rms"``, over all leaves.
      max_iter: most applications of ``f``.
      adjoint: linear solver for the backward pass; its failure raises (``throw``) and always
        makes the gradient NaN.
      memory: Anderson history length (iterates kept).
      mixing: Anderson damping ``beta`` in (0, 1]; also the damping of its fallback plain step.
      regularization: relative eigenvalue cutoff of the Anderson least-squares problem (at least
        10 machine epsilons); directions of the history below it are dropped.
      throw: raise :class:`ConvergenceError` if the solve or its adjoint does not converge.
      tol: the older absolute tolerance on ``||f(x) - x||_2`` (exclusive with ``rtol``/``atol``).

    Returns:
      A :class:`Solution`; ``value`` is ``f`` of the last iterate, ``residual`` is
      ``norm(f(x) - x)`` at that iterate.

    Raises:
      ValueError: bad options, NaN/inf or empty ``x0``, NaN/inf ``params``, or ``x0`` that ``f``
        cannot take or whose shape ``f`` changes.
      ConvergenceError: no convergence (e.g. a map that is not a contraction) and ``throw``.
    """
    tol_ = tolerance(tol, rtol, atol, norm, default_rtol=RTOL, default_atol=ATOL, tol_is="atol")
    check_max_iter(max_iter)
    checks.one_of(solver, "solver", ("anderson", "iterate"))
    if solver == "anderson":
        checks.integer(memory, "memory", minimum=1)
        checks.in_range(mixing, "mixing", 0.0, 1.0, closed="right")
        checks.positive(regularization, "regularization", allow_zero=True)
    get_solver(adjoint, "adjoint")
    _check_inputs(f, x0, params, "f", "like_x0")
    f, args = closure_convert(f, x0, params)
    if solver == "anderson":
        forward = functools.partial(
            _forward.anderson,
            f,
            tol=tol_,
            max_iter=max_iter,
            memory=int(memory),
            mixing=mixing,
            regularization=regularization,
        )
    else:
        forward = functools.partial(_forward.iterate, f, tol=tol_, max_iter=max_iter)
    optimality = lambda x, *a: jax.tree.map(jnp.subtract, x, f(x, *a))
    return _solve(
        "fixed_point",
        optimality,
        forward,
        adjoint,
        x0,
        args,
        tol=tol_,
        max_iter=max_iter,
        throw=throw,
        hint="If f is not a contraction (spectral radius of df/dx >= 1) the fixed point may not "
        "exist or iteration may not find it; try solver='anderson', a larger max_iter, or "
        "rescale the map. " + _THROW_HINT,
    )


def root(
    F: Callable[..., PyTree],
    x0: PyTree,
    *params: PyTree,
    solver: Literal["newton", "newton_krylov"] = "newton",
    rtol: float | None = None,
    atol: float | None = None,
    norm: Norm | None = None,
    max_iter: int = 50,
    adjoint: str | Callable[..., Any] = "gmres",
    throw: bool = True,
    tol: float | None = None,
) -> Solution:
    """Solves ``F(x, *params) = 0`` by Newton's method, with an implicit-function-theorem VJP.

    ``solver="newton"`` forms the dense Jacobian (small problems); ``"newton_krylov"`` solves
    each Newton step matrix-free with GMRES on Jacobian-vector products. The backward pass solves
    ``(dF/dx)^T u = -x_bar`` with ``adjoint`` and returns ``(dF/dparams)^T u``.

    Args:
      F: ``F(x, *params) -> pytree shaped like x``.
      rtol, atol: stop when ``norm(F(x)) <= atol + rtol * norm(F(x0))``.
      x0, *params, norm, max_iter, adjoint, throw, tol: as in :func:`fixed_point` (``tol``
        bounds ``||F(x)||_2``).

    Returns:
      A :class:`Solution`.
    """
    tol_ = tolerance(tol, rtol, atol, norm, default_rtol=RTOL, default_atol=ATOL, tol_is="atol")
    check_max_iter(max_iter)
    checks.one_of(solver, "solver", ("newton", "newton_krylov"))
    get_solver(adjoint, "adjoint")
    _check_inputs(F, x0, params, "F", "like_x0")
    F, args = closure_convert(F, x0, params)
    forward = functools.partial(
        _forward.newton, F, tol=tol_, max_iter=max_iter, matrix_free=solver == "newton_krylov"
    )
    return _solve(
        "root",
        F,
        forward,
        adjoint,
        x0,
        args,
        tol=tol_,
        max_iter=max_iter,
        throw=throw,
        hint="Newton's method needs a nonsingular Jacobian and a start close enough to the root. "
        + _THROW_HINT,
    )


def argmin(
    loss: Callable[..., jax.Array],
    x0: PyTree,
    *params: PyTree,
    solver: Literal["lbfgs", "gd"] = "lbfgs",
    rtol: float | None = None,
    atol: float | None = None,
    norm: Norm | None = None,
    max_iter: int = 500,
    step_size: float = 1e-2,
    memory: int = 10,
    adjoint: str | Callable[..., Any] = "cg",
    throw: bool = True,
    tol: float | None = None,
) -> Solution:
    """Minimises ``loss(x, *params)`` over ``x``; the VJP uses ``grad_x loss(x*) = 0``.

    The backward pass solves ``H u = -x_bar`` with the Hessian ``H = d^2 loss / dx^2`` (only
    Hessian-vector products; CG by default, which needs ``H`` positive definite at ``x*``) and
    returns ``(d grad_x loss / d params)^T u``.

    Args:
      loss: scalar function ``loss(x, *params)``.
      solver: ``"lbfgs"`` (``jaxopt.LBFGS``) or ``"gd"`` (fixed ``step_size`` gradient descent).
      rtol, atol: stop when ``norm(grad) <= atol + rtol * norm(grad at x0)``.
      memory: L-BFGS history size.
      x0, *params, norm, max_iter, adjoint, throw, tol: as in :func:`fixed_point` (``tol``
        bounds ``||grad_x loss||_2``).

    Returns:
      A :class:`Solution`.
    """
    tol_ = tolerance(tol, rtol, atol, norm, default_rtol=RTOL, default_atol=ATOL, tol_is="atol")
    check_max_iter(max_iter)
    checks.one_of(solver, "solver", ("lbfgs", "gd"))
    if solver == "gd":
        checks.positive(step_size, "step_size")
    get_solver(adjoint, "adjoint")
    _check_inputs(loss, x0, params, "loss", "scalar")
    loss, args = closure_convert(loss, x0, params)
    if solver == "lbfgs":
        forward = functools.partial(
            _forward.lbfgs, loss, tol=tol_, max_iter=max_iter, memory=memory
        )
    else:
        forward = functools.partial(
            _forward.gradient_descent, loss, tol=tol_, max_iter=max_iter, step_size=step_size
        )
    return _solve(
        "argmin",
        jax.grad(loss),
        forward,
        adjoint,
        x0,
        args,
        tol=tol_,
        max_iter=max_iter,
        throw=throw,
        hint="The loss may be unbounded below, badly scaled (try another step_size) or need "
        "more iterations. " + _THROW_HINT,
    )


# ----------------------------------------------------------------------------- equality QP


def _kkt_residual(z, Q, c, A, b):
    x, nu = z
    return Q @ x + c + A.T @ nu, A @ x - b


def _kkt_solve(z0, args):
    Q, c, A, b = args
    n, p = Q.shape[0], A.shape[0]
    kkt = jnp.block([[Q, A.T], [A, jnp.zeros((p, p), Q.dtype)]])
    sol = jnp.linalg.solve(kkt, jnp.concatenate([-c, b]))
    z = (sol[:n], sol[n:])
    res = jnp.linalg.norm(ravel_pytree(_kkt_residual(z, *args))[0])
    return Solution(z, jnp.asarray(1, jnp.int32), res, jnp.isfinite(res))


def equality_qp(
    Q: jax.Array, c: jax.Array, A: jax.Array, b: jax.Array
) -> tuple[jax.Array, jax.Array]:
    r"""Solves ``min_x 1/2 x^T Q x + c^T x  s.t.  A x = b`` through its KKT system.

    .. math:: \begin{bmatrix} Q & A^\top \\ A & 0 \end{bmatrix}
              \begin{bmatrix} x \\ \nu \end{bmatrix} = \begin{bmatrix} -c \\ b \end{bmatrix}

    Differentiable in all of ``Q, c, A, b`` by the implicit function theorem on the KKT
    residual (one transposed KKT solve per VJP). Equality-constrained least squares
    ``min ||Mx - y||^2 s.t. Ax = b`` is ``Q = M^T M, c = -M^T y``.

    Args:
      Q: (n, n) symmetric, positive definite on the null space of ``A``.
      c: (n,).
      A: (p, n) with full row rank p <= n.
      b: (p,).

    Returns:
      ``(x, nu)``: the minimiser (n,) and the Lagrange multipliers (p,).

    Raises:
      ValueError: inconsistent shapes or NaN/inf input.
      ConvergenceError: a singular KKT system (NaN solution).
    """
    checks.finite((Q, c, A, b), "Q, c, A, b")
    Q, c, A, b = (jnp.asarray(a) for a in (Q, c, A, b))
    if Q.ndim != 2 or Q.shape[0] != Q.shape[1]:
        raise ValueError(f"`Q` must be square (n, n), got Q.shape={Q.shape}.")
    n = Q.shape[0]
    if c.shape != (n,):
        raise ValueError(f"`c` must have shape ({n},) to match Q, got c.shape={c.shape}.")
    if A.ndim != 2 or A.shape[1] != n:
        raise ValueError(f"`A` must have shape (p, {n}), got A.shape={A.shape}.")
    if A.shape[0] > n:
        raise ValueError(f"`A` has more constraints ({A.shape[0]}) than unknowns ({n}).")
    if b.shape != (A.shape[0],):
        raise ValueError(f"`b` must have shape ({A.shape[0]},) to match A, got {b.shape}.")
    z0 = (jnp.zeros(n, Q.dtype), jnp.zeros(A.shape[0], Q.dtype))
    sol = _solve(
        "equality_qp",
        _kkt_residual,
        _kkt_solve,
        "dense",
        z0,
        (Q, c, A, b),
        tol=Tolerance(0.0, 0.0, "l2"),
        max_iter=1,
        throw=True,
        hint="The KKT matrix is singular: A must have full row rank and Q must be positive "
        "definite on the null space of A.",
    )
    return sol.value
