"""Test problems of the reproduction: logistic regression on breast_cancer and its reference solutions."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Logistic(NamedTuple):
    """Standardized breast_cancer with a bias column: ``a`` (569, 31), labels ``y`` in {-1, +1}."""

    a: jax.Array
    y: jax.Array


def breast_cancer(dtype: jnp.dtype = jnp.float64) -> Logistic:
    """The data of the box-constrained logistic regression (standardized, bias column appended).

    Needs scikit-learn (the ``reproduce`` extra).
    """
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    a = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
    return Logistic(jnp.asarray(a, dtype), jnp.asarray(2.0 * y - 1.0, dtype))


def logistic_loss(w: jax.Array, data: Logistic) -> jax.Array:
    """Mean logistic loss ``mean log(1 + exp(-y a.w))``."""
    return jnp.mean(jnp.logaddexp(0.0, -data.y * (data.a @ w)))


def projected_gradient(data: Logistic, project, steps: int) -> tuple[jax.Array, jax.Array]:
    """Accelerated projected gradient (FISTA) for ``min f`` on a convex set, step ``1/L``.

    Returns the solution and the norm of the final projected-gradient mapping (0 at the optimum),
    so a caller can see whether the reference converged.
    """
    lipschitz = jnp.linalg.norm(data.a, 2) ** 2 / (4.0 * data.a.shape[0])
    grad = jax.grad(logistic_loss)
    x0 = jnp.zeros(data.a.shape[1], data.a.dtype)

    def step(carry, _):
        x, z, t = carry
        x_new = project(z - grad(z, data) / lipschitz)
        t_new = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
        z_new = x_new + (t - 1.0) / t_new * (x_new - x)
        return (x_new, z_new, t_new), None

    (x, _, _), _ = jax.lax.scan(step, (x0, x0, jnp.ones((), x0.dtype)), None, length=steps)
    mapping = lipschitz * jnp.linalg.norm(x - project(x - grad(x, data) / lipschitz))
    return x, mapping


def ridge_newton(data: Logistic, lam: float, steps: int = 30) -> jax.Array:
    """Exact minimizer of ``f + (lam/2)||w||^2`` by Newton's method (strongly convex, so it converges
    quadratically; 30 steps reach machine precision from 0)."""

    def objective(w):
        return logistic_loss(w, data) + 0.5 * lam * jnp.sum(w * w)

    def step(w, _):
        return w - jnp.linalg.solve(jax.hessian(objective)(w), jax.grad(objective)(w)), None

    w, _ = jax.lax.scan(step, jnp.zeros(data.a.shape[1], data.a.dtype), None, length=steps)
    return w
