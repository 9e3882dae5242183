"""ADMM for the convex ReLU program with squared loss (the paper's Algorithm 1).

Variables: ``u = [v_1..v_P, w_1..w_P]`` (``[2P, d]``), its group-sparse copy ``v``, slacks
``s >= 0`` (``[2P, n]``) with ``G u = s``, and scaled duals ``lam`` (for ``u = v``) and ``nu``
(for ``G u = s``). One iteration:

1. ``u = A^{-1} (F^T y / rho + v - lam + G^T (s - nu))`` with the constant
   ``A = I + F^T F / rho + G^T G``; ``G^T G`` is block-diagonal with every block ``X^T X``
   (``(2 D_i - I)^2 = I``), so ``A`` is assembled without ``G`` and factored (Cholesky) **once**;
   each iteration is then two triangular solves, ``O((dP)^2)``, plus ``O(n d P)`` for the
   products with ``F`` and ``G``: the quadratic per-iteration cost of the paper's title.
2. ``v_i = max(0, 1 - (beta / rho) / ||u_i + lam_i||) (u_i + lam_i)`` (group soft-threshold).
3. ``s = max(0, G u + nu)``.
4. ``lam += gamma (u - v)``, ``nu += gamma (G u - s)``.

``primal="cg"`` replaces step 1 by matrix-free conjugate gradients
(``jaxpapers_shared.linear_solve.cg``, warm-started at the previous ``u``) for ``2dP`` too large
to factor.
"""

from __future__ import annotations

from functools import partial
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks, linear_solve

from ._problem import ConvexReLUProblem


class ADMMResult(NamedTuple):
    """What :func:`admm_solve` returns.

    ``v``, ``w``: the group-sparse iterate split into its two halves (``[P, d]`` each), from
    which the network is recovered. Traces have one entry per iteration (NaN after the stop):
    ``objective_trace`` is the convex objective at the group-sparse iterate,
    ``network_objective_trace`` the objective of the network recovered from it (an upper bound on
    the global optimum at every iteration), ``residual_trace`` ``max(primal, dual)`` residual.
    ``converged`` is False when ``max_iter`` was reached first.
    """

    v: jax.Array
    w: jax.Array
    objective_trace: jax.Array
    network_objective_trace: jax.Array
    residual_trace: jax.Array
    iterations: jax.Array
    converged: jax.Array
    primal_residual: jax.Array
    dual_residual: jax.Array


def _factor(problem: ConvexReLUProblem, rho) -> jax.Array:
    P2, d = 2 * problem.num_patterns, problem.X.shape[1]
    Fd = problem.F_dense()
    A = (Fd.T @ Fd) / rho + jnp.eye(P2 * d, dtype=Fd.dtype)
    A = A.reshape(P2, d, P2, d)
    idx = jnp.arange(P2)
    A = A.at[idx, :, idx, :].add(problem.X.T @ problem.X)
    return jax.scipy.linalg.cho_factor(A.reshape(P2 * d, P2 * d), lower=True)[0]


def _traced_problem(X, y, patterns, beta, loss) -> ConvexReLUProblem:
    problem = ConvexReLUProblem.__new__(ConvexReLUProblem)  # arrays are traced: no checks
    for name, value in (("X", X), ("y", y), ("patterns", patterns), ("beta", beta)):
        object.__setattr__(problem, name, value)
    object.__setattr__(problem, "loss", loss)
    return problem


@jax.jit
def _inverse(X, patterns, rho):
    """The one-time set-up: ``A^{-1}`` from its Cholesky factor."""
    problem = _traced_problem(X, X[:, 0], patterns, rho, "squared")
    chol = _factor(problem, rho)
    # The cached factor, applied as an explicit inverse: at these sizes one dense matvec is
    # several times faster on a CPU than two triangular solves (same O((dP)^2) cost).
    return jax.scipy.linalg.cho_solve((chol, True), jnp.eye(chol.shape[0], dtype=chol.dtype))


@partial(jax.jit, static_argnames=("loss", "max_iter", "primal", "cg_iter"))
def _run(X, y, patterns, beta, rho, gamma, tol, inverse, *, loss, max_iter, primal, cg_iter):
    problem = _traced_problem(X, y, patterns, beta, loss)
    P2, (n, d) = 2 * problem.num_patterns, X.shape
    dtype = X.dtype
    Fty = problem.FT(y) / rho

    if primal == "cholesky":

        def u_step(rhs, u_prev):
            return (inverse @ rhs.reshape(-1)).reshape(P2, d)
    else:

        def matvec(u):
            return u + problem.FT(problem.F(u)) / rho + problem.GT(problem.G(u))

        def u_step(rhs, u_prev):
            return linear_solve.cg(matvec, rhs, x0=u_prev, max_iter=cg_iter, rtol=1e-10).value

    nan = jnp.full((max_iter,), jnp.nan, dtype)

    def cond(state):
        k, done = state[0], state[9]
        return (k < max_iter) & ~done

    def body(state):
        k, u, v, s, lam, nu, obj, net, res, _, _, _ = state
        u = u_step(Fty + v - lam + problem.GT(s - nu), u)
        z = u + lam
        norms = jnp.linalg.norm(z, axis=1, keepdims=True)
        v_new = jnp.maximum(0.0, 1.0 - (beta / rho) / jnp.maximum(norms, 1e-300)) * z
        Gu = problem.G(u)
        s_new = jnp.maximum(0.0, Gu + nu)
        lam = lam + gamma * (u - v_new)
        nu = nu + gamma * (Gu - s_new)
        r_primal = jnp.sqrt(jnp.sum((u - v_new) ** 2) + jnp.sum((Gu - s_new) ** 2))
        r_dual = rho * jnp.sqrt(jnp.sum((v_new - v) ** 2) + jnp.sum(problem.GT(s_new - s) ** 2))
        obj = obj.at[k].set(problem.objective(v_new))
        net = net.at[k].set(problem.network_objective(v_new))
        res = res.at[k].set(jnp.maximum(r_primal, r_dual))
        done = (r_primal <= tol) & (r_dual <= tol)
        return k + 1, u, v_new, s_new, lam, nu, obj, net, res, done, r_primal, r_dual

    zu, zs = jnp.zeros((P2, d), dtype), jnp.zeros((P2, n), dtype)
    inf = jnp.asarray(jnp.inf, dtype)
    init = (jnp.asarray(0), zu, zu, zs, zu, zs, nan, nan, nan, jnp.asarray(False), inf, inf)
    k, u, v, s, lam, nu, obj, net, res, done, rp, rd = jax.lax.while_loop(cond, body, init)
    P = P2 // 2
    return ADMMResult(v[:P], v[P:], obj, net, res, k, done, rp, rd)


def admm_solve(
    problem: ConvexReLUProblem,
    *,
    rho: float = 0.01,
    gamma: float = 1.0,
    tol: float = 1e-3,
    max_iter: int = 500,
    primal: Literal["cholesky", "cg"] = "cholesky",
    cg_iter: int = 50,
    max_dense_dim: int = 8000,
) -> ADMMResult:
    """Solves the convex program of ``problem`` (squared loss) by ADMM (Algorithm 1).

    Args:
      problem: a :class:`ConvexReLUProblem` with ``loss="squared"``.
      rho: the ADMM penalty ``rho > 0``.
      gamma: the scaled dual step ``gamma > 0`` (the paper's ``gamma_a / rho``; 1 is plain
        scaled ADMM).
      tol: stop when the primal residual ``||[u - v; G u - s]||`` and the dual residual
        ``rho ||[v - v_prev; G^T (s - s_prev)]||`` are both ``<= tol``.
      max_iter: at most this many iterations (``converged`` is False if reached first).
      primal: ``"cholesky"`` (factor ``A`` once, back-substitute each iteration) or ``"cg"``
        (matrix-free CG, warm-started, ``cg_iter`` iterations at most).
      max_dense_dim: largest ``2 d P`` for which the dense factorisation is allowed.

    Returns:
      :class:`ADMMResult`.

    Raises:
      ValueError: ``rho``/``gamma``/``tol`` not ``> 0``, ``max_iter < 1``, a non-squared loss,
        or ``2 d P > max_dense_dim`` with ``primal="cholesky"``.
    """
    if not isinstance(problem, ConvexReLUProblem):
        raise TypeError(f"`problem` must be a ConvexReLUProblem, got {type(problem).__name__}.")
    checks.positive(rho, "rho")
    checks.positive(gamma, "gamma")
    checks.positive(tol, "tol", allow_zero=True)
    max_iter = checks.integer(max_iter, "max_iter", minimum=1)
    cg_iter = checks.integer(cg_iter, "cg_iter", minimum=1)
    checks.one_of(primal, "primal", ("cholesky", "cg"))
    if problem.loss != "squared":
        raise ValueError(
            f"`problem.loss` must be 'squared' for admm_solve (closed-form u-step), got "
            f"{problem.loss!r}; use adversarial_train or scp_train for hinge/logistic losses."
        )
    dim = 2 * problem.num_patterns * problem.X.shape[1]
    if primal == "cholesky" and dim > max_dense_dim:
        raise ValueError(
            f"`primal`='cholesky' would factor a {dim} x {dim} matrix (2 d P = {dim} > "
            f"max_dense_dim = {max_dense_dim}); use primal='cg' or fewer patterns."
        )
    dtype = problem.X.dtype
    rho = jnp.asarray(rho, dtype)
    if primal == "cholesky":
        inverse = _inverse(problem.X, problem.patterns, rho)
    else:
        inverse = jnp.zeros((0,), dtype)
    return _run(problem.X, problem.y, problem.patterns, jnp.asarray(problem.beta, dtype),
                rho, jnp.asarray(gamma, dtype), jnp.asarray(tol, dtype), inverse,
                loss=problem.loss, max_iter=max_iter, primal=primal, cg_iter=cg_iter)  # fmt: skip
