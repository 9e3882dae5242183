"""Optimistic online Newton step: optimistic OMD with the time-varying mirror map
``psi_t(x) = ||x||_{H_t}^2 / 2`` for exp-concave and smooth losses."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks

from ._domains import Ball, ball_quadratic_argmin
from ._omd import Learner, _check_grad, _check_x0

__all__ = ["ONSState", "optimistic_ons"]


class ONSState(NamedTuple):
    """State of optimistic ONS: base point, hint ``M_t``, the matrix ``H_t`` and the round."""

    xhat: jax.Array
    hint: jax.Array
    matrix: jax.Array
    t: jax.Array


def optimistic_ons(
    domain: Ball, *, exp_concavity: float, grad_bound: float, optimism: bool = True
) -> Learner:
    """Optimistic online Newton step for alpha-exp-concave, smooth losses (Chen et al. 2023,
    exp-concave case; the optimistic ONS of Chiang et al. 2012).

    With ``beta = min(1 / (4 G D), alpha) / 2`` and ``H_t = beta (eps I + sum_{s<t}
    (g_s - M_s)(g_s - M_s)^T)``, ``eps = 1 / (beta^2 D^2)`` (Hazan's ONS constants on the
    gradient-variation matrix)::

        x_t        = argmin_{x in X} <M_t, x> + ||x - xhat_t||_{H_t}^2 / 2
        xhat_{t+1} = argmin_{x in X} <g_t, x> + ||x - xhat_t||_{H_{t+1}}^2 / 2

    i.e. ``Pi^H_X(xhat_t - H^{-1} v)``, projections in the ``H`` norm (:func:`ball_quadratic_argmin`,
    a 1-D root find in the eigenbasis, ``O(d^3)`` per round). Regret ``O(d log(sigma_{1:T}^2 +
    Sigma_{1:T}^2))`` (the paper's exp-concave bound).

    Args:
      domain: a :class:`Ball` (the A-norm projection is implemented for balls).
      exp_concavity: ``alpha > 0``.
      grad_bound: ``G > 0``, a bound on ``||g_t||``.
      optimism: ``False`` gives plain ONS (``M_t = 0``).

    Raises:
      ValueError: non-positive ``exp_concavity``/``grad_bound``, a non-ball domain, and the
        ``x0``/``grad`` errors of :func:`optimistic_omd`.

    Differs from the paper: the constants ``beta`` and ``eps`` are Hazan's ONS choices; the
    paper's analysis allows any of the same order.
    """
    checks.positive(exp_concavity, "exp_concavity")
    checks.positive(grad_bound, "grad_bound")
    if not isinstance(domain, Ball):
        raise ValueError(f"`domain` must be a Ball for optimistic_ons, got domain={domain!r}.")
    diameter = domain.diameter
    beta = 0.5 * min(1.0 / (4.0 * grad_bound * diameter), exp_concavity)
    eps = 1.0 / (beta * diameter) ** 2

    def step(base, direction, matrix):
        # argmin <v, x> + ||x - base||_H^2 / 2 over the ball = argmin 0.5 x^T H x - <H base - v, x>
        return ball_quadratic_argmin(
            matrix, matrix @ base - direction, domain.radius, domain.center
        )

    def init(x0):
        x0 = _check_x0(x0, domain)
        d = x0.shape[0]
        return ONSState(
            x0, jnp.zeros_like(x0), beta * eps * jnp.eye(d, dtype=x0.dtype), jnp.ones((), jnp.int32)
        )

    def play(state: ONSState):
        if not optimism:
            return state.xhat
        return step(state.xhat, state.hint, state.matrix)

    def update(state: ONSState, grad):
        grad = _check_grad(state, grad, state.xhat.shape[0]).astype(state.xhat.dtype)
        r = grad - state.hint
        matrix = state.matrix + beta * jnp.outer(r, r)
        xhat = step(state.xhat, grad, matrix)
        return ONSState(xhat, grad if optimism else state.hint, matrix, state.t + 1)

    return Learner(init, play, update)
