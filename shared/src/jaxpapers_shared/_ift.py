"""The implicit-function-theorem core of :mod:`jaxpapers_shared.implicit`.

If ``x*`` solves ``F(x*, args) = 0`` then ``d x*/d args = -(dF/dx)^{-1} dF/dargs``, so the VJP of
a cotangent ``v`` is ``(dF/dargs)^T u`` with ``(dF/dx)^T u = -v``: one linear solve with the
transposed Jacobian, applied matrix-free through ``jax.vjp``. The solve is checked: a failed or
non-finite adjoint raises :class:`ConvergenceError` (``throw=True``) and always turns the
gradient into NaN, never into a wrong finite number.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from jaxpapers_shared._status import Solution, checks_enabled, report

PyTree = Any


@dataclasses.dataclass(frozen=True)
class AdjointCheck:
    """How the backward pass reports a failed adjoint solve (a static, hashable option)."""

    what: str
    throw: bool
    enabled: bool = True


_ADJOINT_HINT = (
    "The adjoint (backward) linear solve failed, so the gradient would be wrong. A Neumann "
    "adjoint needs spectral radius of df/dx < 1 at the solution (a repelling fixed point found "
    "by Anderson has radius >= 1): use adjoint='gmres' or 'dense'. With throw=False the gradient is NaN instead."
)


def _all_finite(tree: PyTree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def adjoint_status(out: Any) -> tuple[PyTree, jax.Array, jax.Array, jax.Array]:
    """``(u, iterations, residual, converged)`` of an adjoint solve's output.

    Solvers of :mod:`~jaxpapers_shared.linear_solve` return a :class:`Solution` (``converged``
    implies a finite residual, hence a finite solution); a user's ``solve(matvec, b)`` returning
    the bare solution is checked for finiteness only.
    """
    if isinstance(out, Solution):  # their residual is NaN/inf whenever the solution is
        return out.value, out.iterations, out.residual, out.converged
    finite = _all_finite(out)
    return out, jnp.asarray(-1, jnp.int32), jnp.where(finite, 0.0, jnp.nan), finite


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3))
def solve_with_ift(optimality, forward, adjoint_solve, check: AdjointCheck, x0, args):
    """``forward(x0, args)`` returns a Solution whose value v satisfies ``optimality(v, *args) = 0``."""
    return forward(x0, args)


def _fwd(optimality, forward, adjoint_solve, check, x0, args):
    sol = forward(x0, args)
    return sol, (sol.value, args)


def _bwd(optimality, forward, adjoint_solve, check, residuals, cotangent):
    value, args = residuals
    _, vjp_x = jax.vjp(lambda x: optimality(x, *args), value)
    rhs = jax.tree.map(jnp.negative, cotangent.value)
    u, iterations, residual, converged = adjoint_status(adjoint_solve(lambda w: vjp_x(w)[0], rhs))
    if check.enabled and checks_enabled():
        if check.throw:
            report(
                iterations,
                residual,
                converged,
                what=f"{check.what} (adjoint solve of the backward pass)",
                criterion="the adjoint solver's tolerance",
                max_iter=None,
                hint=_ADJOINT_HINT,
            )
        # A NaN adjoint makes every gradient entry that depends on it NaN (entries that do not
        # depend on the solution are exactly zero, whatever u is); cheaper than masking them.
        u = jax.tree.map(lambda a: jnp.where(converged, a, jnp.nan), u)
    _, vjp_args = jax.vjp(lambda *a: optimality(value, *a), *args)
    args_bar = vjp_args(u)
    return jax.tree.map(jnp.zeros_like, value), tuple(args_bar)


solve_with_ift.defvjp(_fwd, _bwd)


def closure_convert(fn, x0, params):
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
