"""Optimistic online mirror descent (two sequences, last-gradient hints) and its baseline,
online gradient descent, as pure ``init / play / update`` learners."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks

from ._domains import Domain, Simplex, Unconstrained

__all__ = ["Learner", "OMDState", "online_gradient_descent", "optimistic_omd"]


class OMDState(NamedTuple):
    """State of optimistic OMD after ``t - 1`` rounds.

    Attributes:
      xhat: the base point ``xhat_t`` (both mirror steps start from it).
      hint: the optimistic hint ``M_t`` (the last observed gradient; ``M_1 = 0``).
      accum: ``sum_{s < t} ||g_s - M_s||_*^2``, the observed gradient variation.
      t: the round about to be played (1-based, int32).
    """

    xhat: jax.Array
    hint: jax.Array
    accum: jax.Array
    t: jax.Array


class Learner(NamedTuple):
    """An online learner: ``state = init(x0)``, ``x_t = play(state)``,
    ``state = update(state, g_t)`` with ``g_t`` the gradient of ``f_t`` at the played
    ``x_t``; all three are pure and jittable (``lax.scan`` over rounds)."""

    init: Callable[[jax.Array], Any]
    play: Callable[[Any], jax.Array]
    update: Callable[[Any, jax.Array], Any]


StepRule = Literal["adaptive", "strongly_convex"]


def _check_x0(x0, domain: Domain, name: str = "x0") -> jax.Array:
    x0 = checks.array(x0, name, ndim=1, dtype="float")
    if domain.dim is not None and x0.shape[0] != domain.dim:
        raise ValueError(f"`{name}` must have shape ({domain.dim},), got {name}.shape={x0.shape}.")
    if not checks.is_concrete(x0):
        return x0
    with jax.ensure_compile_time_eval():
        dist = float(domain.distance(x0))
        scale = float(jnp.linalg.norm(x0))
    if dist > 1e-6 * (1.0 + scale):
        raise ValueError(
            f"`{name}` must lie in the domain {domain!r}, got a point at distance {dist:.3g} from it."
        )
    return x0


def _check_grad(state, grad, dim: int) -> jax.Array:
    grad = jnp.asarray(grad)
    if grad.shape != (dim,):
        raise ValueError(
            f"`grad` must have shape ({dim},) like the played point, got grad.shape={grad.shape}."
        )
    if checks.is_concrete(grad) and not bool(jnp.all(jnp.isfinite(grad))):
        t = int(state.t) if checks.is_concrete(state.t) else "?"
        raise ValueError(f"`grad` of round {t} contains NaN/inf; finite gradients are expected.")
    return grad


def optimistic_omd(
    domain: Domain,
    *,
    mirror: Literal["euclidean", "entropy"] = "euclidean",
    step: StepRule | float = "adaptive",
    diameter: float | None = None,
    smoothness: float | None = None,
    strong_convexity: float | None = None,
    delta: float = 1.0,
    optimism: bool = True,
) -> Learner:
    """Optimistic online mirror descent (Chen et al. 2023) with last-gradient hints.

    Each round, from the base point ``xhat_t`` and the hint ``M_t``::

        x_t        = argmin_{x in X} eta_t <M_t, x> + B_psi(x, xhat_t)     (play)
        xhat_{t+1} = argmin_{x in X} eta_t <g_t, x> + B_psi(x, xhat_t)     (update, g_t = grad f_t(x_t))
        M_{t+1}    = g_t,  M_1 = 0

    ``mirror="euclidean"`` (``psi = ||x||^2 / 2``): both steps are projected gradient steps from
    ``xhat_t``. ``mirror="entropy"`` (negative entropy on a :class:`Simplex`): optimistic Hedge,
    ``x_t ∝ xhat_t exp(-eta_t M_t)``.

    Step sizes ``eta_t`` use only rounds ``s < t`` (computed before ``g_t`` is seen):

    - ``"adaptive"`` (convex and smooth): ``eta_t = min{ D / sqrt(delta + sum_{s<t}
      ||g_s - M_s||_*^2), 1 / (4 L) }`` with ``D = diameter`` (default: the domain's) and
      ``L = smoothness`` (no cap when ``None``). For the entropy map ``D`` is
      ``sqrt(log d)`` and the dual norm is ``||.||_inf``. Regret ``O(sqrt(sigma_{1:T}^2) +
      sqrt(Sigma_{1:T}^2) + L D^2)`` in the SEA model (the paper's convex and smooth bound).
    - ``"strongly_convex"``: ``eta_t = min{ 1 / (lambda t), 1 / (4 L) }`` with
      ``lambda = strong_convexity`` (an ``O(1/(lambda t))`` schedule, as the strongly convex analysis uses).
    - a float: the constant ``eta``.

    Args:
      domain: the decision set X (:class:`Ball`, :class:`Box`, :class:`Simplex`,
        :class:`Unconstrained`).
      mirror: the mirror map ``psi``.
      step: the step-size rule or a constant step.
      diameter: ``D`` for ``"adaptive"`` (needed for an unbounded domain).
      smoothness: ``L`` of the expected losses ``F_t``; caps ``eta_t`` at ``1 / (4 L)``.
      strong_convexity: ``lambda`` for ``"strongly_convex"``.
      delta: ``> 0``, keeps the first adaptive step finite.
      optimism: ``False`` drops the hint (``M_t = 0``): plain OMD / online gradient descent.

    Returns:
      A :class:`Learner` whose state is an :class:`OMDState`.

    Raises:
      ValueError: ``step <= 0``, non-positive ``diameter``/``smoothness``/``strong_convexity``/
        ``delta``, an unknown rule, ``"entropy"`` on a non-simplex domain, ``"adaptive"`` on an
        unbounded domain without ``diameter``; later, an ``x0`` outside the domain, or a ``grad``
        of the wrong shape or with NaN/inf (the message names the round).

    References:
      Chen, Zhang, Tu, Zhao, Zhang, arXiv:2302.04552 (ICML 2023 and the extended version).

    Differs from the paper: the constants of the step-size rules (``delta``, the ``1/(4L)`` cap,
    ``1/(lambda t)``) follow the standard self-confident tuning; the paper's proofs allow other
    constants of the same order.
    """
    checks.one_of(mirror, "mirror", ("euclidean", "entropy"))
    checks.positive(delta, "delta")
    if smoothness is not None:
        checks.positive(smoothness, "smoothness")
    if mirror == "entropy" and not isinstance(domain, Simplex):
        raise ValueError(f"`mirror`='entropy' needs a Simplex domain, got domain={domain!r}.")
    if isinstance(step, str):
        checks.one_of(step, "step", ("adaptive", "strongly_convex"))
    else:
        checks.positive(step, "step")
    if step == "adaptive":
        if diameter is None:
            if mirror == "entropy":
                diameter = math.sqrt(max(math.log(domain.dim), 1e-12))
            else:
                diameter = domain.diameter
            if not math.isfinite(diameter):
                raise ValueError(
                    f"`diameter` must be given for the adaptive step on the unbounded domain {domain!r}."
                )
        checks.positive(diameter, "diameter")
    if step == "strongly_convex":
        if strong_convexity is None:
            raise ValueError(
                "`strong_convexity` must be given (> 0) for step='strongly_convex', got None."
            )
        checks.positive(strong_convexity, "strong_convexity")
    cap = math.inf if smoothness is None else 1.0 / (4.0 * smoothness)
    dual_sq = (
        (lambda v: jnp.max(jnp.abs(v)) ** 2) if mirror == "entropy" else (lambda v: jnp.sum(v * v))
    )

    def eta(state: OMDState):
        if step == "adaptive":
            value = diameter / jnp.sqrt(delta + state.accum)
        elif step == "strongly_convex":
            value = 1.0 / (strong_convexity * state.t.astype(state.accum.dtype))
        else:
            value = jnp.asarray(step, state.accum.dtype)
        return jnp.minimum(value, cap)

    def mirror_step(base, direction, lr):
        if mirror == "entropy":
            return jax.nn.softmax(jnp.log(base) - lr * direction)
        return domain.project(base - lr * direction)

    def init(x0):
        if mirror == "entropy" and x0 is None:
            x0 = jnp.full((domain.dim,), 1.0 / domain.dim)
        x0 = _check_x0(x0, domain)
        if mirror == "entropy" and checks.is_concrete(x0) and bool(jnp.any(x0 <= 0)):
            raise ValueError("`x0` must have every coordinate > 0 for the entropy mirror map.")
        zero = jnp.zeros((), x0.dtype)
        return OMDState(xhat=x0, hint=jnp.zeros_like(x0), accum=zero, t=jnp.ones((), jnp.int32))

    def play(state: OMDState):
        if not optimism:
            return state.xhat
        return mirror_step(state.xhat, state.hint, eta(state))

    def update(state: OMDState, grad):
        grad = _check_grad(state, grad, state.xhat.shape[0]).astype(state.xhat.dtype)
        xhat = mirror_step(state.xhat, grad, eta(state))
        hint = grad if optimism else state.hint
        return OMDState(xhat, hint, state.accum + dual_sq(grad - state.hint), state.t + 1)

    return Learner(init, play, update)


def online_gradient_descent(
    domain: Domain,
    *,
    step: Literal["adaptive"] | float = "adaptive",
    diameter: float | None = None,
    delta: float = 1.0,
) -> Learner:
    """Projected online gradient descent (Zinkevich 2003), the baseline: ``x_{t+1} =
    Pi_X(x_t - eta_t g_t)`` with ``eta_t = D / sqrt(delta + sum_{s<t} ||g_s||^2)`` (adaptive)
    or a constant ``step``. It is :func:`optimistic_omd` without the hint (``M_t = 0``) and
    without the smoothness cap.

    Raises:
      ValueError: as :func:`optimistic_omd`.
    """
    if isinstance(domain, Unconstrained) and step == "adaptive" and diameter is None:
        raise ValueError(
            f"`diameter` must be given for the adaptive step on the unbounded domain {domain!r}."
        )
    return optimistic_omd(domain, step=step, diameter=diameter, delta=delta, optimism=False)
