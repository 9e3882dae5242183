"""Dynamic regret: optimistic OMD base learners on a step-size grid, combined by optimistic
Hedge (the two-layer method of Chen et al. 2023 for dynamic regret)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks

from ._domains import Domain
from ._omd import Learner, OMDState, _check_grad, optimistic_omd

__all__ = ["EnsembleState", "dynamic_ensemble", "step_size_grid"]


class EnsembleState(NamedTuple):
    """Base learners' states (stacked along a leading axis), the meta learner's cumulative
    linearised losses, ``sum_{s<t} max_i (l_{s,i} - m_{s,i})^2`` (its adaptive learning rate's
    denominator), the hint and the round."""

    bases: OMDState
    cumulative: jax.Array
    variation: jax.Array
    hint: jax.Array
    t: jax.Array


def step_size_grid(
    diameter: float, grad_bound: float, num_rounds: int, smoothness: float | None = None
):
    """The geometric grid ``eta_i = 2^i sqrt(D^2 / (8 G^2 T))``, ``i = 0, 1, ...`` up to
    ``min(1/(4L), D / G)`` (``O(log T)`` values), the base learners' steps."""
    checks.positive(diameter, "diameter")
    checks.positive(grad_bound, "grad_bound")
    checks.integer(num_rounds, "num_rounds", minimum=1)
    top = diameter / grad_bound
    if smoothness is not None:
        top = min(top, 1.0 / (4.0 * checks.positive(smoothness, "smoothness")))
    eta = (diameter**2 / (8.0 * grad_bound**2 * num_rounds)) ** 0.5
    grid = [min(eta, top)]
    while grid[-1] * 2 <= top:
        grid.append(grid[-1] * 2)
    return tuple(grid)


def dynamic_ensemble(
    domain: Domain, base_steps: Sequence[float], meta_lr: float | Literal["adaptive"] = "adaptive"
) -> Learner:
    """Two-layer learner for dynamic regret in the SEA model.

    Base learner ``i``: Euclidean optimistic OMD with the constant step ``base_steps[i]`` and
    last-gradient hints, fed the linearised loss ``<g_t, x>``. Meta learner: optimistic Hedge
    over the bases with losses ``l_{t,i} = <g_t, x_{t,i}>`` and hints ``m_{t,i} = <M_t, x_{t,i}>``
    (``M_t = g_{t-1}``)::

        p_t ∝ exp(-eps_t (sum_{s<t} l_{s,i} + m_{t,i})),   x_t = sum_i p_{t,i} x_{t,i}

    with ``eps_t = meta_lr`` or, for ``meta_lr="adaptive"``, the self-confident
    ``eps_t = min{1, sqrt(ln N / (1 + sum_{s<t} max_i (l_{s,i} - m_{s,i})^2))}`` (N bases), large
    while the hints predict the bases' losses.

    Dynamic regret ``O(sqrt((1 + P_T + sigma_{1:T}^2 + Sigma_{1:T}^2)(1 + P_T)))`` for convex,
    smooth expected losses (the paper's dynamic regret bound), with ``P_T`` the comparators' path length.

    Raises:
      ValueError: an empty ``base_steps``, a step or ``meta_lr`` <= 0 or an unknown rule.

    Differs from the paper: the meta learner has no correction terms for the bases' stability
    (the paper's meta algorithm adds them to get the bound's constants), and the adaptive rate's
    constants are ours.
    """
    steps = tuple(base_steps)
    if not steps:
        raise ValueError("`base_steps` must hold at least one step size, got an empty sequence.")
    for i, s in enumerate(steps):
        checks.positive(s, f"base_steps[{i}]")
    if isinstance(meta_lr, str):
        checks.one_of(meta_lr, "meta_lr", ("adaptive",))
    else:
        checks.positive(meta_lr, "meta_lr")
    etas = jnp.asarray(steps)
    log_n = math.log(len(steps))

    def base_play(states):
        return jax.vmap(lambda s, eta: domain.project(s.xhat - eta * s.hint))(
            states, etas.astype(states.xhat.dtype)
        )

    def init(x0):
        one = optimistic_omd(domain, step=steps[0]).init(x0)  # validates x0
        stacked = jax.tree.map(lambda leaf: jnp.stack([leaf] * len(steps)), one)
        x0 = one.xhat
        zeros = jnp.zeros((len(steps),), x0.dtype)
        return EnsembleState(
            stacked, zeros, jnp.zeros((), x0.dtype), jnp.zeros_like(x0), jnp.ones((), jnp.int32)
        )

    def rate(state):
        if meta_lr == "adaptive":
            return jnp.minimum(1.0, jnp.sqrt(log_n / (1.0 + state.variation)))
        return jnp.asarray(meta_lr, state.variation.dtype)

    def weights(state, xs):
        return jax.nn.softmax(-rate(state) * (state.cumulative + xs @ state.hint))

    def play(state: EnsembleState):
        xs = base_play(state.bases)
        return weights(state, xs) @ xs

    def update(state: EnsembleState, grad):
        grad = _check_grad(state, grad, state.hint.shape[0]).astype(state.hint.dtype)
        xs = base_play(state.bases)

        def step_base(s, eta):
            xhat = domain.project(s.xhat - eta * grad)
            return OMDState(xhat, grad, s.accum + jnp.sum((grad - s.hint) ** 2), s.t + 1)

        new_bases = jax.vmap(step_base)(state.bases, etas.astype(grad.dtype))
        surprise = jnp.max(jnp.abs(xs @ (grad - state.hint))) ** 2
        return EnsembleState(
            new_bases,
            state.cumulative + xs @ grad,
            state.variation + surprise,
            grad,
            state.t + 1,
        )

    return Learner(init, play, update)
