"""NOTEARS-linear baseline (Zheng et al. 2018) in JAX: augmented Lagrangian, bounded L-BFGS.

Each augmented-Lagrangian subproblem is one compiled call: ``jaxopt.LBFGSB`` steps inside a
``lax.while_loop`` with scipy's L-BFGS-B stopping rule (projected-gradient inf-norm <= pgtol or
relative decrease <= ftol), on the Gram matrix C = X^T X / n with the closed-form gradient. The
outer loop (rho <- 10 rho until h drops 4x, then alpha <- alpha + rho h) is a short Python loop
of such calls, so the ~10^4 objective evaluations never leave XLA.

Why this design (measured on the project's loaded 2-core CPU, ER2, d = 10, n = 500, same data):
this version took 1.6-1.8 s per run after compilation (~6-8 s to compile once per d); scipy's
L-BFGS-B calling the same objective as a jitted ``value_and_grad`` took 69-79 s (~8 ms per
evaluation, host round trips); the earlier NumPy/SciPy version took 42-166 s. All three gave
the same refit score and SHD (max |W| difference ~5e-3, i.e. different L-BFGS paths).
"""

from __future__ import annotations

import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jaxopt
import numpy as np
from jax.scipy.linalg import expm

from jaxpapers_shared import checks

from ._validate import check_data

_PGTOL = 1e-5  # scipy L-BFGS-B defaults (pgtol, factr * machine eps, maxiter)
_FTOL = 2.220446049250313e-09
_MAXITER = 15000


class NotearsResult(NamedTuple):
    """Output of :func:`notears_linear`.

    Attributes:
      W: thresholded estimate. W_raw: estimate before thresholding. h: final h(W_raw).
      rho: final penalty. iterations: outer (dual) iterations. converged: h <= h_tol.
      history: ``(seconds since start, (1/2n)||X - X W||^2, h, W)`` after each outer iteration
        (W before thresholding).
      inner_steps: total L-BFGS-B iterations.
    """

    W: np.ndarray
    W_raw: np.ndarray
    h: float
    rho: float
    iterations: int
    converged: bool
    history: list
    inner_steps: int


def _to_W(w, d):
    return (w[: d * d] - w[d * d :]).reshape(d, d)


def _value_and_grad(w, C, rho, alpha, lambda1):
    """Augmented Lagrangian L(w+, w-) and its gradient (closed form, one expm)."""
    d = C.shape[0]
    W = _to_W(w, d)
    R = jnp.eye(d, dtype=C.dtype) - W
    CR = C @ R
    E = expm(W * W)
    h = jnp.trace(E) - d
    g_W = -CR + (rho * h + alpha) * E.T * 2 * W
    g = jnp.concatenate([g_W.ravel() + lambda1, -g_W.ravel() + lambda1])
    value = 0.5 * jnp.sum(R * CR) + 0.5 * rho * h * h + alpha * h + lambda1 * jnp.sum(w)
    return value, g


def _h(W):
    return jnp.trace(expm(W * W)) - W.shape[0]


@partial(jax.jit, static_argnames=("maxiter",))
def _subproblem(w0, C, rho, alpha, lambda1, maxiter=_MAXITER):
    """argmin over w >= 0 (zero diagonal) of the augmented Lagrangian; returns (w, h, steps)."""
    d = C.shape[0]
    upper_W = jnp.where(jnp.eye(d, dtype=bool), 0.0, jnp.inf).ravel()
    bounds = (jnp.zeros_like(w0), jnp.concatenate([upper_W, upper_W]))
    solver = jaxopt.LBFGSB(
        _value_and_grad, value_and_grad=True, maxiter=maxiter, tol=_PGTOL, history_size=10
    )
    args = (C, rho, alpha, lambda1)
    state0 = solver.init_state(w0, bounds, *args)

    def cond(carry):
        _, state, f_prev, it = carry
        f = state.value
        rel = (f_prev - f) / jnp.maximum(jnp.maximum(jnp.abs(f_prev), jnp.abs(f)), 1.0)
        return (it < maxiter) & (state.error > _PGTOL) & ((it == 0) | (rel > _FTOL))

    def body(carry):
        w, state, _, it = carry
        w_new, state_new = solver.update(w, state, bounds, *args)
        return w_new, state_new, state.value, it + 1

    w, _, _, steps = jax.lax.while_loop(cond, body, (w0, state0, state0.value, 0))
    return w, _h(_to_W(w, d)), steps


def notears_linear(
    X,
    lambda1: float = 0.1,
    *,
    max_iter: int = 100,
    h_tol: float = 1e-8,
    rho_max: float = 1e16,
    w_threshold: float = 0.3,
) -> NotearsResult:
    """NOTEARS-linear: min (1/2n)||X - XW||^2 + lambda1 ||W||_1 s.t. h(W) = tr e^{W o W} - d = 0.

    Augmented Lagrangian (Zheng et al. 2018, Alg. 1): W = W+ - W- with bounds >= 0 and a zero
    diagonal; rho <- 10 rho until h drops by a factor 4, then alpha <- alpha + rho h; stop at
    h <= h_tol or rho >= rho_max. The subproblems run in float64 under one ``jax.jit`` each.

    Args:
      X: ``(n, d)`` data (centred here). lambda1: L1 weight (>= 0).
      max_iter: outer iterations. h_tol, rho_max: stopping rule. w_threshold: final |W| cut.

    Returns:
      :class:`NotearsResult`; ``converged`` is False when rho hit rho_max before h <= h_tol.

    Raises:
      ValueError: bad data, negative ``lambda1``/``w_threshold``, ``max_iter < 1``.

    References:
      Zheng, Aragam, Ravikumar, Xing. DAGs with NO TEARS. NeurIPS 2018 (``xunzheng/notears``).
    """
    Xc = check_data(X)
    checks.positive(lambda1, "lambda1", allow_zero=True)
    checks.positive(w_threshold, "w_threshold", allow_zero=True)
    checks.integer(max_iter, "max_iter", minimum=1)
    n, d = Xc.shape
    start = time.perf_counter()
    with jax.enable_x64(True):
        C = jnp.asarray(Xc.T @ Xc / n)
        w = jnp.zeros(2 * d * d)
        rho, alpha, h, it, steps, history = 1.0, 0.0, np.inf, 0, 0, []
        w_new, h_new = w, h
        for _ in range(max_iter):
            it += 1
            while rho < rho_max:
                w_new, h_dev, k = _subproblem(w, C, rho, alpha, float(lambda1))
                h_new, steps = float(h_dev), steps + int(k)
                if h_new > 0.25 * h:
                    rho *= 10
                else:
                    break
            w, h = w_new, h_new
            alpha += rho * h
            W_now = np.asarray(_to_W(w, d))
            loss = 0.5 / n * float(np.sum((Xc - Xc @ W_now) ** 2))
            history.append((time.perf_counter() - start, loss, h, W_now))
            if h <= h_tol or rho >= rho_max:
                break
        W_raw = np.asarray(_to_W(w, d))
    W = np.where(np.abs(W_raw) > w_threshold, W_raw, 0.0)
    return NotearsResult(W, W_raw, h, rho, it, bool(h <= h_tol), history, steps)
