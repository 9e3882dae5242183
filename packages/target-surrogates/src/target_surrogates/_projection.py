"""Projection of the model onto target values: ``argmin_theta ||f(theta, x) - z||^2``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks, linear_solve
from jaxpapers_shared.implicit import Solution

from ._surrogate import PyTree, TargetProblem


def project_to_targets(
    problem: TargetProblem,
    params0: PyTree,
    x: Any,
    z_target: jax.Array,
    *,
    max_iter: int = 500,
    rtol: float | None = None,
) -> Solution:
    """The exact SSO inner problem (``m -> infinity``): ``argmin_theta ||f(theta, x) - z||^2 / 2``.

    Solves the normal equations of ``f`` linearised at ``params0``,
    ``J^T J d = J^T (z - f(params0))``, matrix-free by conjugate gradients (the shared
    ``linear_solve.cg``): exact when ``f`` is linear in its parameters, and, started from
    ``d = 0``, the minimum-norm correction when the fit is underdetermined (fewer targets than
    parameters). For a nonlinear model it is one Gauss-Newton step of the fit; run
    :func:`sso_step` with many inner steps for the nonlinear projection.

    Args:
      problem: its ``apply_fn`` is the model ``f``.
      params0: the starting point (SSO: ``theta_t``).
      x: the inputs of the batch.
      z_target: the targets to fit, shaped like ``apply_fn(params0, x)`` (SSO: ``z_t - eta G``).
      max_iter, rtol: the solver's iteration cap and relative tolerance.

    Returns:
      A ``Solution`` (``value``: the parameters; ``converged``, ``iterations``, ``residual``).

    Raises:
      ValueError: ``z_target`` does not have the model's output shape.
    """
    checks.integer(max_iter, "max_iter", minimum=1)
    z0 = problem.apply_fn(params0, x)
    z_target = checks.array(z_target, "z_target", dtype="float")
    if jnp.shape(z0) != z_target.shape:
        raise ValueError(
            f"`z_target` must have the shape of the model's targets apply_fn(params0, x), "
            f"{jnp.shape(z0)}, got {z_target.shape}."
        )
    f = lambda p: problem.apply_fn(p, x)  # noqa: E731
    _, jvp_lin = jax.linearize(f, params0)
    vjp = jax.linear_transpose(jvp_lin, params0)
    normal = lambda d: vjp(jvp_lin(d))[0]  # noqa: E731
    rhs = vjp(z_target - z0)[0]
    sol = linear_solve.cg(normal, rhs, max_iter=max_iter, rtol=rtol)
    value = jax.tree.map(jnp.add, params0, sol.value)
    return Solution(value, sol.iterations, sol.residual, sol.converged)
