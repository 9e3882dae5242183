"""Stochastic surrogate optimization (SSO) and full-batch majorization-minimization."""

from __future__ import annotations

import functools
import warnings
from typing import Any, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax

from jaxpapers_shared import checks, curvature

from ._surrogate import Batch, PyTree, TargetProblem, _check_batch, _surrogate_fn, target_gradient


class Armijo(NamedTuple):
    """Gradient descent with Armijo backtracking, the official inner solver (``LSOpt``).

    Each inner step starts from ``grow`` times the last accepted step, and shrinks it by
    ``shrink`` until ``q(p - s grad) <= q(p) - c s ||grad||^2`` (at most ``max_backtracks``
    times), on the fit ``q = eta * g_t`` the inner solver sees. The step is reset to
    ``init_step`` at every outer step (official: 10, ``c = 0.5``, ``shrink = 0.9``).
    """

    init_step: float = 10.0
    c: float = 0.5
    shrink: float = 0.9
    grow: float = 1.0
    max_backtracks: int = 100


class SmoothGD(NamedTuple):
    """Gradient descent with step ``scale / L``, ``L`` the largest curvature of the inner fit at
    ``theta_t``, estimated by ``power_iterations`` Hessian-vector products (power iteration).

    For a linear model ``f = X theta`` the fit's Hessian is ``X_B^T X_B / b``, so the step is
    ``1 / lambda_max(X_B^T X_B / b)`` of every batch: the inner solver of the paper's convex
    analysis, with no step size to tune.
    """

    power_iterations: int = 20
    scale: float = 1.0


Inner = Armijo | SmoothGD | optax.GradientTransformation
ARMIJO = Armijo()  # the official inner solver's defaults


class SSOState(NamedTuple):
    """``step``: outer steps taken; ``num_target_grads``: expensive ``dl/dz`` calls made (one
    per outer step, whatever the number of inner steps)."""

    step: jax.Array
    num_target_grads: jax.Array


class SSOInfo(NamedTuple):
    """Per outer step: the batch loss at the start (equal to the surrogate there), the surrogate
    after the inner steps, and the norm of the target gradient ``G``."""

    loss_start: jax.Array
    surrogate_start: jax.Array
    surrogate_end: jax.Array
    target_grad_norm: jax.Array


def sso_init(params: PyTree) -> SSOState:
    """The state before the first outer step."""
    del params
    return SSOState(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def _check_inner(inner: Any) -> None:
    if isinstance(inner, Armijo):
        checks.positive(inner.init_step, "inner.init_step")
        checks.in_range(inner.c, "inner.c", 0.0, 1.0, closed="neither")
        checks.in_range(inner.shrink, "inner.shrink", 0.0, 1.0, closed="neither")
        checks.in_range(inner.grow, "inner.grow", 1.0)
        checks.integer(inner.max_backtracks, "inner.max_backtracks", minimum=1)
    elif isinstance(inner, SmoothGD):
        checks.integer(inner.power_iterations, "inner.power_iterations", minimum=1)
        checks.positive(inner.scale, "inner.scale")
    elif not isinstance(inner, optax.GradientTransformation):
        raise TypeError(
            "`inner` must be Armijo(...), SmoothGD(...) or an optax.GradientTransformation, got "
            f"{type(inner).__name__}."
        )


def _check_args(eta: Any, inner_steps: Any, inner: Any) -> int:
    checks.positive(eta, "eta")
    steps = checks.integer(inner_steps, "inner_steps", minimum=1)
    _check_inner(inner)
    return steps


def minimize_inner(objective, params0: PyTree, inner: Inner, inner_steps: int):
    """``inner_steps`` steps of ``inner`` on ``objective`` from ``params0`` (deterministic: the
    batch is fixed). Returns the final parameters."""
    if isinstance(inner, Armijo):

        def body(carry, _):
            p, s = carry
            value, grad = jax.value_and_grad(objective)(p)
            sq = sum(jnp.vdot(g, g) for g in jax.tree.leaves(grad))
            step = lambda t: jax.tree.map(lambda a, g: a - t * g, p, grad)  # noqa: E731

            def cond(state):
                t, k = state
                return (objective(step(t)) > value - inner.c * t * sq) & (k < inner.max_backtracks)

            t, _ = jax.lax.while_loop(
                cond, lambda st: (st[0] * inner.shrink, st[1] + 1), (s * inner.grow, 0)
            )
            return (step(t), t), None

        s0 = jnp.asarray(inner.init_step, jnp.result_type(float))
        (params, _), _ = jax.lax.scan(body, (params0, s0), None, length=inner_steps)
        return params

    if isinstance(inner, SmoothGD):
        step = inner.scale / _top_curvature(objective, params0, inner.power_iterations)
        tx = optax.sgd(step)
    else:
        tx = optax.with_extra_args_support(inner)

    def body(carry, _):
        p, opt_state = carry
        value, grad = jax.value_and_grad(objective)(p)
        updates, opt_state = tx.update(
            grad, opt_state, p, value=value, grad=grad, value_fn=objective
        )
        return (optax.apply_updates(p, updates), opt_state), None

    (params, _), _ = jax.lax.scan(body, (params0, tx.init(params0)), None, length=inner_steps)
    return params


def _top_curvature(objective, params0: PyTree, iterations: int) -> jax.Array:
    """Largest |eigenvalue| of the Hessian of ``objective`` at ``params0``: power iteration
    (``jaxpapers_shared.curvature``) on Hessian-vector products, ``iterations`` products."""
    flat, unravel = jax.flatten_util.ravel_pytree(params0)
    v0 = unravel(jax.random.normal(jax.random.PRNGKey(0), flat.shape, flat.dtype))
    tol = float(jnp.finfo(flat.dtype).eps)  # run every product: the step needs no early stop
    pair = curvature.power_iteration(
        curvature.hvp(objective, params0), v0, max_iter=iterations, tol=tol
    )
    return jnp.maximum(jnp.abs(pair.value), jnp.finfo(flat.dtype).tiny)


def sso_update(
    problem: TargetProblem,
    params: PyTree,
    batch: Batch,
    eta: Any,
    inner_steps: int,
    inner: Inner,
) -> tuple[PyTree, SSOInfo]:
    """One outer step, pure and traceable (``eta`` may be traced): one expensive target
    gradient on ``batch``, then ``inner_steps`` steps of ``inner`` on the frozen surrogate,
    started at ``params``. :func:`sso_step` is the checked entry point."""
    x, y = batch
    z_t = _check_batch(problem, params, batch)
    losses, grad = target_gradient(problem, z_t, y)
    g = _surrogate_fn(problem, x, z_t, losses, grad, eta)
    # The inner solver sees eta * (g - g(theta_t)) = <G, d>/b + ||d||^2/(2b): the least-squares
    # fit to the moved targets (the official scaling), whose step sizes do not depend on eta.
    base = jnp.mean(jax.lax.stop_gradient(losses))
    new = minimize_inner(lambda p: eta * (g(p) - base), params, inner, inner_steps)
    start = jnp.mean(losses)
    info = SSOInfo(start, g(params), g(new), jnp.sqrt(jnp.vdot(grad, grad)))
    return new, info


_sso_update_jit = jax.jit(sso_update, static_argnames=("problem", "inner_steps", "inner"))


def _raise_if_nonfinite(info: SSOInfo, step: int) -> None:
    if not (checks.is_concrete(info.target_grad_norm) and checks.is_concrete(info.surrogate_end)):
        return
    if not np.isfinite(float(info.target_grad_norm)):
        raise FloatingPointError(
            f"outer step {step}: the target gradient dl/dz is not finite "
            f"(norm {float(info.target_grad_norm)}, loss {float(info.loss_start)})."
        )
    if not np.isfinite(float(info.surrogate_end)):
        raise FloatingPointError(
            f"outer step {step}: the surrogate is not finite after the inner steps "
            f"({float(info.surrogate_end)}); lower `eta` or the inner step size."
        )


def sso_step(
    problem: TargetProblem,
    state: SSOState,
    params: PyTree,
    batch: Batch,
    *,
    eta: float,
    inner_steps: int,
    inner: Inner = ARMIJO,
) -> tuple[PyTree, SSOState, SSOInfo]:
    """One outer step of the paper's SSO algorithm: projected SGD in target space.

    With ``z = f_B(params)`` and ``G = dl_B/dz`` (the one expensive call), the model is fitted to
    the moved targets ``z - eta G`` by ``inner_steps`` steps of ``inner`` on the surrogate
    ``g(theta) = const + ||f_B(theta) - (z - eta G)||^2 / (2 eta b)``, started at ``params``, on
    the same batch. The inner solver minimises ``eta * g`` (up to a constant, the least-squares
    fit ``||f_B(theta) - (z - eta G)||^2 / (2b)``, the official scaling), so its step sizes mean
    the same for every ``eta``; with ``inner_steps = 1`` and ``inner = optax.sgd(gamma)`` an outer
    step is exactly one SGD step of size ``eta * gamma`` on the batch loss.

    Args:
      problem: the :class:`TargetProblem`.
      state: from :func:`sso_init` (counts outer steps and expensive calls).
      params: the parameters ``theta_t`` (any pytree).
      batch: ``(x, y)`` of ``b >= 1`` examples.
      eta: target-space step size ``eta_t > 0`` (the official code's ``eta`` is ``1/eta``).
      inner_steps: ``m >= 1``, the number of cheap parameter updates per expensive call.
      inner: an :class:`Armijo` line search (official), :class:`SmoothGD` (step ``1/L`` of the
        fit) or any ``optax`` optimizer (line
        searches such as ``optax.lbfgs()`` get ``value``/``grad``/``value_fn``); its state is
        fresh at every outer step. ``problem``, ``inner_steps`` and ``inner`` are static: the
        step compiles once per combination, so build them once, outside the training loop.

    Returns:
      ``(params, state, info)``; ``info`` is an :class:`SSOInfo`.

    Raises:
      ValueError: ``eta <= 0``, ``inner_steps < 1``, an empty batch, mismatched target shapes.
      FloatingPointError: a non-finite target gradient or surrogate (names the outer step).

    Differs from the paper: the proximity term is on the minibatch targets only (as in the
    official code), and the surrogate is averaged over the batch (so ``eta`` is per example).
    """
    steps = _check_args(eta, inner_steps, inner)
    new, info = _sso_update_jit(problem, params, batch, eta, steps, inner)
    step = int(state.step) if checks.is_concrete(state.step) else -1
    _raise_if_nonfinite(info, step)
    return new, SSOState(state.step + 1, state.num_target_grads + 1), info


class MMResult(NamedTuple):
    """Full-batch majorization-minimization: ``params`` after the last outer step; ``losses``
    ``h(theta_t)`` for ``t = 0..T`` and ``surrogate_ends`` ``g_t(theta_{t+1})`` (length T);
    ``monotone`` is True when ``h`` never increased (relative tolerance ``rtol``);
    ``num_target_grads`` = T."""

    params: PyTree
    losses: np.ndarray
    surrogate_ends: np.ndarray
    monotone: bool
    num_target_grads: int


def mm_minimize(
    problem: TargetProblem,
    params: PyTree,
    data: Batch,
    *,
    eta: float,
    inner_steps: int,
    outer_steps: int,
    inner: Inner = ARMIJO,
    smoothness: float | None = None,
    rtol: float = 0.0,
) -> MMResult:
    """Majorization-minimization with the target surrogate on the full data set.

    ``theta_{t+1}`` = ``inner_steps`` steps of ``inner`` on ``g_t`` from ``theta_t``. When every
    ``l(., y)`` is ``L``-smooth and ``eta <= 1/L``, ``h(theta_{t+1}) <= g_t(theta_{t+1}) <=
    g_t(theta_t) = h(theta_t)`` as long as the inner solver does not increase ``g_t`` (Armijo
    never does).

    Args:
      data: the whole data set ``(x, y)``.
      smoothness: ``L``, when known: a warning is issued if ``eta > 1/L`` (allowed, but the
        surrogate no longer majorizes and monotonicity is not guaranteed).
      rtol: an increase of ``h`` by at most ``rtol * |h|`` still counts as monotone (rounding).
      problem, params, eta, inner_steps, inner: as in :func:`sso_step`.

    Raises:
      ValueError: bad ``eta``, ``inner_steps``, ``outer_steps``, ``smoothness`` or shapes.
      FloatingPointError: a non-finite target gradient or surrogate (names the outer step).
    """
    steps = _check_args(eta, inner_steps, inner)
    outer = checks.integer(outer_steps, "outer_steps", minimum=1)
    checks.positive(rtol, "rtol", allow_zero=True)
    if smoothness is not None:
        checks.positive(smoothness, "smoothness")
        if eta > 1.0 / smoothness:
            warnings.warn(
                f"eta = {eta} > 1/L = {1.0 / smoothness:.4g}: the surrogate is not a global "
                "upper bound and the loss may increase.",
                stacklevel=2,
            )
    update = functools.partial(
        _sso_update_jit, problem, batch=data, eta=eta, inner_steps=steps, inner=inner
    )
    losses, ends = [], []
    for t in range(outer):
        params, info = update(params)
        _raise_if_nonfinite(info, t)
        losses.append(float(info.loss_start))
        ends.append(float(info.surrogate_end))
    losses.append(float(jnp.mean(problem.target_loss(problem.apply_fn(params, data[0]), data[1]))))
    losses = np.asarray(losses)
    monotone = bool(np.all(np.diff(losses) <= rtol * np.abs(losses[:-1])))
    return MMResult(params, losses, np.asarray(ends), monotone, outer)
