"""Forward solvers of :mod:`jaxpapers_shared.implicit`: ``(fn, x0, args) -> Solution``.

None of them is differentiated (the implicit function theorem supplies the derivative), so each
is a plain ``lax.while_loop`` on the flattened state. ``tol`` is a :class:`~._status.Tolerance`;
a NaN residual stops every loop (``NaN > threshold`` is false) with ``converged=False``.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxpapers_shared import linear_solve
from jaxpapers_shared._status import Solution, Tolerance


def _flat(fn, x0, args):
    x0_flat, unravel = ravel_pytree(x0)
    return x0_flat, unravel, lambda x: ravel_pytree(fn(unravel(x), *args))[0]


def _fixed_point_residual(tol: Tolerance, x, fx):
    """``||f(x) - x||`` and its threshold ``atol + rtol * ||f(x)||``."""
    return tol(fx - x), tol.threshold(tol(fx))


def iterate(f, x0, args, *, tol: Tolerance, max_iter: int) -> Solution:
    """Plain fixed-point iteration ``x <- f(x)``; ``value`` is ``f`` of the last iterate."""
    x0_flat, unravel, f_flat = _flat(f, x0, args)

    def cond(state):
        *_, k, res, threshold = state
        return (k < max_iter) & (res > threshold)

    def body(state):
        _, fx, k, _, _ = state
        fx_new = f_flat(fx)
        return (fx, fx_new, k + 1, *_fixed_point_residual(tol, fx, fx_new))

    fx0 = f_flat(x0_flat)
    init = (x0_flat, fx0, jnp.asarray(1, jnp.int32), *_fixed_point_residual(tol, x0_flat, fx0))
    _, fx, k, res, threshold = jax.lax.while_loop(cond, body, init)
    return Solution(unravel(fx), k, res, res <= threshold)


def anderson(
    f, x0, args, *, tol: Tolerance, max_iter: int, memory: int, mixing: float, regularization
) -> Solution:
    """Type-II Anderson acceleration (Walker & Ni 2011), safeguarded.

    With ``g_i = f(x_i) - x_i`` and the last ``memory`` iterates, the step is

        x_{k+1} = x_k + beta g_k - (dX + beta dG) gamma,   gamma = argmin ||g_k - dG gamma||,

    ``dX``, ``dG`` the differences of consecutive iterates and residuals. ``gamma`` comes from the
    normal equations through an eigendecomposition that drops directions with eigenvalue below
    ``max(regularization, 10 eps)`` times the largest, i.e. a rank-deficient or ill-conditioned
    history (all residuals parallel, say) loses only its degenerate directions. With none left, or
    a non-finite solve, the step is the damped plain step ``x_k + beta g_k``.
    """
    x0_flat, unravel, f_flat = _flat(f, x0, args)
    n, m = x0_flat.size, memory
    dtype = x0_flat.dtype
    cutoff = max(float(regularization), 10 * float(jnp.finfo(dtype).eps))

    fx0 = f_flat(x0_flat)
    xs = jnp.zeros((m, n), dtype).at[0].set(x0_flat)
    fs = jnp.zeros((m, n), dtype).at[0].set(fx0)

    def cond(state):
        *_, k, res, threshold = state
        return (k < max_iter) & (res > threshold)

    def step(xs, fs, k):
        # History newest first: slot of iterate k - 1 - j, valid for j < min(k, m).
        order = (k - 1 - jnp.arange(m)) % m
        x_hist, g_hist = xs[order], fs[order] - xs[order]
        x_k, g_k = x_hist[0], g_hist[0]
        plain = x_k + mixing * g_k
        if m == 1:
            return plain
        valid = (jnp.arange(1, m) < jnp.minimum(k, m)).astype(dtype)[:, None]
        d_x = (x_hist[:-1] - x_hist[1:]) * valid
        d_g = (g_hist[:-1] - g_hist[1:]) * valid
        eigvals, eigvecs = jnp.linalg.eigh(d_g @ d_g.T)
        keep = eigvals > cutoff * jnp.maximum(eigvals[-1], jnp.finfo(dtype).tiny)
        inverse = jnp.where(keep, 1 / jnp.where(keep, eigvals, 1), 0)
        gamma = eigvecs @ (inverse * (eigvecs.T @ (d_g @ g_k)))
        accelerated = plain - (d_x + mixing * d_g).T @ gamma
        ok = jnp.all(jnp.isfinite(accelerated))
        return jnp.where(ok, accelerated, plain)

    def body(state):
        xs, fs, _, k, _, _ = state
        x_new = step(xs, fs, k)
        fx_new = f_flat(x_new)
        slot = k % m
        return (
            xs.at[slot].set(x_new),
            fs.at[slot].set(fx_new),
            fx_new,
            k + 1,
            *_fixed_point_residual(tol, x_new, fx_new),
        )

    res0, threshold0 = _fixed_point_residual(tol, x0_flat, fx0)
    init = (xs, fs, fx0, jnp.asarray(1, jnp.int32), res0, threshold0)
    _, _, fx, k, res, threshold = jax.lax.while_loop(cond, body, init)
    return Solution(unravel(fx), k, res, res <= threshold)


def newton(F, x0, args, *, tol: Tolerance, max_iter: int, matrix_free: bool) -> Solution:
    """Newton's method; ``||F(x)|| <= atol + rtol ||F(x0)||``. Matrix-free steps use GMRES."""
    x0_flat, unravel, F_flat = _flat(F, x0, args)

    def step(x, fx):
        if matrix_free:
            jvp = lambda v: jax.jvp(F_flat, (x,), (v,))[1]
            return linear_solve.gmres(jvp, -fx).value
        return jnp.linalg.solve(jax.jacfwd(F_flat)(x), -fx)

    fx0 = F_flat(x0_flat)
    threshold = tol.threshold(tol(fx0))

    def cond(state):
        _, _, k, res = state
        return (k < max_iter) & (res > threshold)

    def body(state):
        x, fx, k, _ = state
        x = x + step(x, fx)
        fx = F_flat(x)
        return x, fx, k + 1, tol(fx)

    init = (x0_flat, fx0, jnp.asarray(0, jnp.int32), tol(fx0))
    x, _, k, res = jax.lax.while_loop(cond, body, init)
    return Solution(unravel(x), k, res, res <= threshold)


def gradient_descent(loss, x0, args, *, tol: Tolerance, max_iter: int, step_size) -> Solution:
    """Fixed-step gradient descent; ``||grad|| <= atol + rtol ||grad(x0)||``."""
    x0_flat, unravel, grad_flat = _flat(jax.grad(loss), x0, args)
    g0 = grad_flat(x0_flat)
    threshold = tol.threshold(tol(g0))

    def cond(state):
        _, _, k, res = state
        return (k < max_iter) & (res > threshold)

    def body(state):
        x, g, k, _ = state
        x = x - step_size * g
        g = grad_flat(x)
        return x, g, k + 1, tol(g)

    x, _, k, res = jax.lax.while_loop(cond, body, (x0_flat, g0, jnp.asarray(0, jnp.int32), tol(g0)))
    return Solution(unravel(x), k, res, res <= threshold)


def lbfgs(loss, x0, args, *, tol: Tolerance, max_iter: int, memory: int) -> Solution:
    """``jaxopt.LBFGS``; it stops on ``||grad||_2``, which bounds the max and RMS norms too."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # jaxopt: unmaintained
        from jaxopt import LBFGS

    grad = jax.grad(loss)
    grad_norm = lambda x: tol(ravel_pytree(grad(x, *args))[0])
    threshold = tol.threshold(grad_norm(x0))
    solver = LBFGS(
        fun=loss, tol=threshold, maxiter=max_iter, history_size=memory, implicit_diff=False
    )
    x, state = solver.run(x0, *args)
    res = grad_norm(x)
    return Solution(x, jnp.asarray(state.iter_num, jnp.int32), res, res <= threshold)
