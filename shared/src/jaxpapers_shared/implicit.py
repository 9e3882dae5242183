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

Every solver returns a :class:`Solution` (value, iterations, residual, converged). A solve that
does not converge (residual above ``tol`` after ``max_iter`` iterations, or a NaN residual) raises
:class:`ConvergenceError`, also inside ``jit`` (through a host callback), unless ``throw=False``,
in which case the caller must read ``converged``. Gradients flow to ``params`` and to any float
arrays the function closes over (hoisted into explicit arguments); ``x0`` gets a zero gradient. All solvers
work under ``jit``, ``vmap`` and ``grad``. The VJP is computed with ``jaxopt.implicit_diff.root_vjp``
so the backend can change without touching the packages that call this module.

References:
  Blondel et al., "Efficient and Modular Implicit Differentiation", NeurIPS 2022, arXiv:2105.15183.
  Bai, Kolter, Koltun, "Deep Equilibrium Models", NeurIPS 2019, arXiv:1909.01377.
  Walker & Ni, "Anderson acceleration for fixed-point iterations", SIAM J. Numer. Anal. 2011.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

with warnings.catch_warnings():
    # jaxopt warns that it is unmaintained; this module is the one place that depends on it, and
    # the reason the backend hides behind this API.
    warnings.simplefilter("ignore", DeprecationWarning)
    from jaxopt import implicit_diff as _jaxopt_implicit_diff

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


class ConvergenceError(RuntimeError):
    """A solver stopped without reaching its tolerance (or met a NaN)."""


class Solution(NamedTuple):
    """The result of :func:`fixed_point`, :func:`root` or :func:`argmin`.

    Attributes:
      value: the solution, a pytree shaped like ``x0`` (differentiable w.r.t. the parameters).
      iterations: () int32, iterations the forward solver took.
      residual: () float, ``||f(x) - x||`` (fixed point), ``||F(x)||`` (root) or
        ``||grad loss(x)||`` (argmin) at ``value``'s predecessor iterate.
      converged: () bool, ``residual <= tol`` and finite.
    """

    value: PyTree
    iterations: jax.Array
    residual: jax.Array
    converged: jax.Array


# ----------------------------------------------------------------------------- checks


def _is_concrete(leaf: Any) -> bool:
    return not isinstance(leaf, jax.core.Tracer)


def _check_finite(tree: PyTree, name: str) -> None:
    """Raises on NaN/inf in concrete (non-traced) leaves; traced ones are caught by the solver."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if not _is_concrete(leaf) or not hasattr(leaf, "dtype"):
            continue
        # numpy, not jnp: inside a jit trace jnp would stage the check instead of running it.
        if jnp.issubdtype(leaf.dtype, jnp.inexact) and not np.all(np.isfinite(np.asarray(leaf))):
            where = jax.tree_util.keystr(path)
            raise ValueError(f"`{name}`{where} contains NaN or inf; the solver needs finite input.")


def _check_options(tol: float, max_iter: int) -> None:
    if not tol > 0:
        raise ValueError(f"`tol` must be > 0, got {tol}.")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"`max_iter` must be an integer >= 1, got {max_iter}.")


def _failure_message(
    what: str,
    tol: float,
    max_iter: int,
    hint: str,
    iterations: np.ndarray,
    residual: np.ndarray,
    converged: np.ndarray,
) -> str:
    failed = ~np.asarray(converged, dtype=bool)
    res = np.asarray(residual)[failed] if np.ndim(residual) else np.asarray([residual])
    its = np.asarray(iterations)[failed] if np.ndim(iterations) else np.asarray([iterations])
    count = f"{failed.sum()} of {failed.size} batched solves" if failed.size > 1 else "the solve"
    if not np.all(np.isfinite(res)):
        return (
            f"{what} did not converge: {count} produced a NaN/inf residual after "
            f"{int(its.max())} iterations. The input contains NaN/inf or the iteration "
            f"diverged. {hint}"
        )
    return (
        f"{what} did not converge: {count} stopped at residual {float(res.max()):.3e} > "
        f"tol={tol:g} after {int(its.max())} of max_iter={max_iter} iterations. {hint} "
        f"Pass throw=False to get the unconverged Solution and inspect `converged`."
    )


def _report(sol: Solution, what: str, tol: float, max_iter: int, hint: str, throw: bool) -> None:
    if not throw:
        return
    fields = (sol.iterations, sol.residual, sol.converged)
    if all(_is_concrete(a) for a in fields):
        if not bool(np.all(np.asarray(sol.converged))):
            raise ConvergenceError(_failure_message(what, tol, max_iter, hint, *fields))
        return

    def raise_if_failed(iterations, residual, converged):
        if not np.all(converged):
            raise ConvergenceError(
                _failure_message(what, tol, max_iter, hint, iterations, residual, converged)
            )

    # Inside jit/vmap the flags are traced: check them on the host when the program runs.
    jax.debug.callback(raise_if_failed, *fields)


# ----------------------------------------------------------------------------- forward solvers
# Each forward solver maps (fn, x0, args) -> Solution and is not differentiated through.


def _iterate(f, x0, args, *, tol, max_iter):
    x0_flat, unravel = ravel_pytree(x0)
    f_flat = lambda x: ravel_pytree(f(unravel(x), *args))[0]

    def cond(state):
        _, _, k, res = state
        return (k < max_iter) & (res > tol)  # NaN residual also stops the loop

    def body(state):
        _, fx, k, _ = state
        fx_new = f_flat(fx)
        return fx, fx_new, k + 1, jnp.linalg.norm(fx_new - fx)

    fx0 = f_flat(x0_flat)
    init = (x0_flat, fx0, jnp.asarray(1, jnp.int32), jnp.linalg.norm(fx0 - x0_flat))
    _, fx, k, res = jax.lax.while_loop(cond, body, init)
    return Solution(unravel(fx), k, res, res <= tol)


def _anderson(f, x0, args, *, tol, max_iter, memory, mixing, regularization):
    """Type-II Anderson acceleration (Walker & Ni 2011) with a masked, fixed-size history."""
    x0_flat, unravel = ravel_pytree(x0)
    f_flat = lambda x: ravel_pytree(f(unravel(x), *args))[0]
    n, m = x0_flat.size, memory
    dtype = x0_flat.dtype

    fx0 = f_flat(x0_flat)
    xs = jnp.zeros((m, n), dtype).at[0].set(x0_flat)
    fs = jnp.zeros((m, n), dtype).at[0].set(fx0)

    def cond(state):
        *_, k, res = state
        return (k < max_iter) & (res > tol)

    def body(state):
        xs, fs, _, k, _ = state
        # Mixing weights alpha minimise ||sum_i alpha_i (f(x_i) - x_i)|| s.t. sum alpha = 1,
        # from the bordered normal equations; unfilled history rows are pinned to alpha_i = 0.
        filled = (jnp.arange(m) < k).astype(dtype)
        g = (fs - xs) * filled[:, None]
        gram = g @ g.T
        scale = jnp.maximum(jnp.trace(gram) / jnp.maximum(k, 1), jnp.finfo(dtype).tiny)
        gram = gram + (regularization * scale) * jnp.eye(m, dtype=dtype) + jnp.diag(1 - filled)
        border = jnp.concatenate([jnp.zeros((1,), dtype), filled])
        kkt = jnp.block([[jnp.zeros((1, 1), dtype), filled[None, :]], [filled[:, None], gram]])
        alpha = jnp.linalg.solve(kkt, border.at[0].set(1.0))[1:]
        x_new = mixing * (alpha @ fs) + (1 - mixing) * (alpha @ xs)
        fx_new = f_flat(x_new)
        slot = k % m
        return (
            xs.at[slot].set(x_new),
            fs.at[slot].set(fx_new),
            fx_new,
            k + 1,
            jnp.linalg.norm(fx_new - x_new),
        )

    init = (xs, fs, fx0, jnp.asarray(1, jnp.int32), jnp.linalg.norm(fx0 - x0_flat))
    _, _, fx, k, res = jax.lax.while_loop(cond, body, init)
    return Solution(unravel(fx), k, res, res <= tol)


def _newton(F, x0, args, *, tol, max_iter, matrix_free):
    x0_flat, unravel = ravel_pytree(x0)
    F_flat = lambda x: ravel_pytree(F(unravel(x), *args))[0]

    def step(x, fx):
        if matrix_free:
            jvp = lambda v: jax.jvp(F_flat, (x,), (v,))[1]
            return get_solver("gmres")(jvp, -fx, tol=tol * 1e-2)
        return jnp.linalg.solve(jax.jacfwd(F_flat)(x), -fx)

    def cond(state):
        _, _, k, res = state
        return (k < max_iter) & (res > tol)

    def body(state):
        x, fx, k, _ = state
        x = x + step(x, fx)
        fx = F_flat(x)
        return x, fx, k + 1, jnp.linalg.norm(fx)

    fx0 = F_flat(x0_flat)
    init = (x0_flat, fx0, jnp.asarray(0, jnp.int32), jnp.linalg.norm(fx0))
    x, _, k, res = jax.lax.while_loop(cond, body, init)
    return Solution(unravel(x), k, res, res <= tol)


def _gradient_descent(loss, x0, args, *, tol, max_iter, step_size):
    grad = jax.grad(loss)
    x0_flat, unravel = ravel_pytree(x0)
    grad_flat = lambda x: ravel_pytree(grad(unravel(x), *args))[0]

    def cond(state):
        _, _, k, res = state
        return (k < max_iter) & (res > tol)

    def body(state):
        x, g, k, _ = state
        x = x - step_size * g
        g = grad_flat(x)
        return x, g, k + 1, jnp.linalg.norm(g)

    g0 = grad_flat(x0_flat)
    x, _, k, res = jax.lax.while_loop(
        cond, body, (x0_flat, g0, jnp.asarray(0, jnp.int32), jnp.linalg.norm(g0))
    )
    return Solution(unravel(x), k, res, res <= tol)


def _lbfgs(loss, x0, args, *, tol, max_iter, memory):
    from jaxopt import LBFGS

    solver = LBFGS(fun=loss, tol=tol, maxiter=max_iter, history_size=memory, implicit_diff=False)
    x, state = solver.run(x0, *args)
    grad_norm = jnp.linalg.norm(ravel_pytree(jax.grad(loss)(x, *args))[0])
    return Solution(x, jnp.asarray(state.iter_num, jnp.int32), grad_norm, grad_norm <= tol)


# ----------------------------------------------------------------------------- the IFT core


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _solve_with_ift(optimality, forward, adjoint_solve, x0, args):
    """``forward(x0, args)`` returns a Solution whose value v satisfies ``optimality(v, *args) = 0``."""
    return forward(x0, args)


def _solve_fwd(optimality, forward, adjoint_solve, x0, args):
    sol = forward(x0, args)
    return sol, (sol.value, args)


def _solve_bwd(optimality, forward, adjoint_solve, residuals, cotangent):
    value, args = residuals
    args_bar = _jaxopt_implicit_diff.root_vjp(
        optimality, value, args, cotangent.value, solve=adjoint_solve
    )
    return jax.tree_util.tree_map(jnp.zeros_like, value), tuple(args_bar)


_solve_with_ift.defvjp(_solve_fwd, _solve_bwd)


def _closure_convert(fn, x0, params):
    """Hoists every traced array ``fn`` closes over into explicit arguments.

    Float ones then receive gradients; integer ones (graph indices, say) batched by an outer
    ``vmap`` would otherwise leak into the custom VJP as closed-over tracers, which is why this
    does not use ``jax.closure_convert`` (it hoists only values that may carry a tangent).
    """
    closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(x0, *params)
    consts = list(closed.consts)
    traced = [i for i, c in enumerate(consts) if isinstance(c, jax.core.Tracer)]
    if not traced:
        return fn, params
    out_tree = jax.tree.structure(out_shape)

    def converted(x, *args):
        own, hoisted = args[: len(params)], args[len(params) :]
        values = list(consts)
        for i, value in zip(traced, hoisted, strict=True):
            values[i] = value
        out = jax.core.eval_jaxpr(closed.jaxpr, values, *jax.tree.leaves((x, *own)))
        return jax.tree.unflatten(out_tree, out)

    return converted, (*params, *(consts[i] for i in traced))


# ----------------------------------------------------------------------------- public solvers


def fixed_point(
    f: Callable[..., PyTree],
    x0: PyTree,
    *params: PyTree,
    solver: Literal["anderson", "iterate"] = "anderson",
    tol: float = 1e-6,
    max_iter: int = 200,
    adjoint: str | Callable[..., PyTree] = "gmres",
    memory: int = 5,
    mixing: float = 1.0,
    regularization: float = 1e-10,
    throw: bool = True,
) -> Solution:
    r"""Solves ``x = f(x, *params)``, differentiable in ``params`` by the implicit function theorem.

    The forward pass iterates ``f`` (``solver="iterate"``) or accelerates it with Anderson
    mixing (``solver="anderson"``, the default). The backward pass solves the adjoint system

    .. math:: (I - \partial_x f(x^*, \theta))^\top u = \bar{x}, \qquad
              \bar\theta = \partial_\theta f(x^*, \theta)^\top u

    matrix-free with ``adjoint`` (``"gmres"``, ``"bicgstab"``, ``"neumann"``, ``"dense"`` or a
    ``solve(matvec, b)`` callable); the forward iterations are never differentiated, so memory is
    independent of their number.

    Args:
      f: the map, ``f(x, *params) -> x`` with the same pytree structure, shapes and dtypes.
      x0: the starting point (pytree). Receives a zero gradient.
      *params: pytrees to differentiate with respect to.
      solver: ``"anderson"`` or ``"iterate"``.
      tol: absolute tolerance on ``||f(x) - x||_2`` over all leaves.
      max_iter: most applications of ``f``.
      adjoint: linear solver for the backward pass.
      memory: Anderson history length.
      mixing: Anderson damping ``beta`` in (0, 1]: ``x <- beta * F alpha + (1 - beta) X alpha``.
      regularization: Tikhonov term of the Anderson least-squares problem, relative to its scale.
      throw: raise :class:`ConvergenceError` if the solve does not converge (also under jit).

    Returns:
      A :class:`Solution`; ``value`` is the fixed point.

    Raises:
      ValueError: bad options, ``x0``/``params`` with NaN/inf, or ``f`` changing the structure.
      ConvergenceError: no convergence (e.g. a map that is not a contraction) and ``throw``.
    """
    _check_options(tol, max_iter)
    if solver not in ("anderson", "iterate"):
        raise ValueError(f"`solver` must be 'anderson' or 'iterate', got {solver!r}.")
    if solver == "anderson":
        if int(memory) != memory or memory < 1:
            raise ValueError(f"`memory` must be an integer >= 1, got {memory}.")
        if not 0 < mixing <= 1:
            raise ValueError(f"`mixing` must be in (0, 1], got {mixing}.")
    _check_finite(x0, "x0")
    _check_finite(params, "params")
    out = jax.eval_shape(f, x0, *params)
    if jax.tree_util.tree_structure(out) != jax.tree_util.tree_structure(x0) or any(
        a.shape != b.shape for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(x0), strict=True)
    ):
        raise ValueError(
            "`f` must return a pytree with the structure and shapes of `x0`; got "
            f"{jax.tree.map(lambda a: a.shape, out)} for x0 "
            f"{jax.tree.map(lambda a: jnp.shape(a), x0)}."
        )
    f, args = _closure_convert(f, x0, params)
    if solver == "anderson":
        forward = functools.partial(
            _anderson,
            f,
            tol=tol,
            max_iter=max_iter,
            memory=memory,
            mixing=mixing,
            regularization=regularization,
        )
    else:
        forward = functools.partial(_iterate, f, tol=tol, max_iter=max_iter)
    optimality = lambda x, *a: jax.tree.map(jnp.subtract, x, f(x, *a))
    sol = _solve_with_ift(optimality, forward, get_solver(adjoint, "adjoint"), x0, args)
    _report(
        sol,
        "fixed_point",
        tol,
        max_iter,
        "If f is not a contraction (spectral radius of df/dx >= 1) the fixed point may not "
        "exist or iteration may not find it; try solver='anderson', a larger max_iter, or "
        "rescale the map.",
        throw,
    )
    return sol


def root(
    F: Callable[..., PyTree],
    x0: PyTree,
    *params: PyTree,
    solver: Literal["newton", "newton_krylov"] = "newton",
    tol: float = 1e-6,
    max_iter: int = 50,
    adjoint: str | Callable[..., PyTree] = "gmres",
    throw: bool = True,
) -> Solution:
    """Solves ``F(x, *params) = 0`` by Newton's method, with an implicit-function-theorem VJP.

    ``solver="newton"`` forms the dense Jacobian (small problems); ``"newton_krylov"`` solves
    each Newton step matrix-free with GMRES on Jacobian-vector products. The backward pass solves
    ``(dF/dx)^T u = -x_bar`` with ``adjoint`` and returns ``(dF/dparams)^T u``.

    Args:
      F: ``F(x, *params) -> pytree shaped like x``.
      x0, *params, tol, max_iter, adjoint, throw: as in :func:`fixed_point` (``tol`` bounds
        ``||F(x)||_2``).

    Returns:
      A :class:`Solution`.
    """
    _check_options(tol, max_iter)
    if solver not in ("newton", "newton_krylov"):
        raise ValueError(f"`solver` must be 'newton' or 'newton_krylov', got {solver!r}.")
    _check_finite(x0, "x0")
    _check_finite(params, "params")
    F, args = _closure_convert(F, x0, params)
    forward = functools.partial(
        _newton, F, tol=tol, max_iter=max_iter, matrix_free=solver == "newton_krylov"
    )
    sol = _solve_with_ift(F, forward, get_solver(adjoint, "adjoint"), x0, args)
    _report(
        sol,
        "root",
        tol,
        max_iter,
        "Newton's method needs a nonsingular Jacobian and a start close enough to the root.",
        throw,
    )
    return sol


def argmin(
    loss: Callable[..., jax.Array],
    x0: PyTree,
    *params: PyTree,
    solver: Literal["lbfgs", "gd"] = "lbfgs",
    tol: float = 1e-6,
    max_iter: int = 500,
    step_size: float = 1e-2,
    memory: int = 10,
    adjoint: str | Callable[..., PyTree] = "cg",
    throw: bool = True,
) -> Solution:
    """Minimises ``loss(x, *params)`` over ``x``; the VJP uses ``grad_x loss(x*) = 0``.

    The backward pass solves ``H u = -x_bar`` with the Hessian ``H = d^2 loss / dx^2`` (only
    Hessian-vector products; CG by default, which needs ``H`` positive definite at ``x*``) and
    returns ``(d grad_x loss / d params)^T u``.

    Args:
      loss: scalar function ``loss(x, *params)``.
      solver: ``"lbfgs"`` (``jaxopt.LBFGS``) or ``"gd"`` (fixed ``step_size`` gradient descent).
      tol: tolerance on ``||grad_x loss||_2``.
      memory: L-BFGS history size.
      x0, *params, max_iter, adjoint, throw: as in :func:`fixed_point`.

    Returns:
      A :class:`Solution`.
    """
    _check_options(tol, max_iter)
    if solver not in ("lbfgs", "gd"):
        raise ValueError(f"`solver` must be 'lbfgs' or 'gd', got {solver!r}.")
    if solver == "gd" and not step_size > 0:
        raise ValueError(f"`step_size` must be > 0, got {step_size}.")
    _check_finite(x0, "x0")
    _check_finite(params, "params")
    loss, args = _closure_convert(loss, x0, params)
    if solver == "lbfgs":
        forward = functools.partial(_lbfgs, loss, tol=tol, max_iter=max_iter, memory=memory)
    else:
        forward = functools.partial(
            _gradient_descent, loss, tol=tol, max_iter=max_iter, step_size=step_size
        )
    sol = _solve_with_ift(jax.grad(loss), forward, get_solver(adjoint, "adjoint"), x0, args)
    _report(
        sol,
        "argmin",
        tol,
        max_iter,
        "The loss may be unbounded below, badly scaled (try another step_size) or need more "
        "iterations.",
        throw,
    )
    return sol


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
    finite = jnp.isfinite(res)
    return Solution(z, jnp.asarray(1, jnp.int32), res, finite)


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
    args = (Q, c, A, b)
    _check_finite(args, "Q, c, A, b")
    z0 = (jnp.zeros(n, Q.dtype), jnp.zeros(A.shape[0], Q.dtype))
    sol = _solve_with_ift(_kkt_residual, _kkt_solve, get_solver("dense"), z0, args)
    _report(
        sol,
        "equality_qp",
        1.0,
        1,
        "The KKT matrix is singular: A must have full row rank and Q must be positive "
        "definite on the null space of A.",
        True,
    )
    return sol.value
