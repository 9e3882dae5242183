"""The SEA model (Sachs et al. 2022): environments between stochastic and adversarial, the
online protocol as a ``lax.scan``, static and dynamic regret, and the SEA statistics."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks

from ._domains import Domain
from ._omd import Learner

__all__ = [
    "RunResult",
    "SEAEnvironment",
    "SEAStatistics",
    "dynamic_regret",
    "linear_environment",
    "linear_regret",
    "path_length",
    "run",
    "sea_statistics",
    "static_regret",
]

LossFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


class SEAEnvironment(NamedTuple):
    """An environment of the SEA model.

    Attributes:
      loss: ``loss(x, t, key) -> f_t(x)``, the realised loss of round ``t`` (1-based) whose
        randomness (``f_t ~ D_t``) comes from ``key`` only.
      expected_loss: ``expected_loss(x, t) -> F_t(x) = E_{D_t}[f_t(x)]``.
    """

    loss: LossFn
    expected_loss: Callable[[jax.Array, jax.Array], jax.Array]


def linear_environment(means, noise: float) -> SEAEnvironment:
    """Linear losses ``f_t(x) = <c_t + noise * xi_t, x>`` with ``xi_t ~ N(0, I)``.

    ``means`` (``(T, d)``, the ``c_t``) is the adversarial part and ``noise`` the stochastic
    part: constant ``c_t`` is a stochastic environment (``Sigma_{1:T}^2 = 0``), ``noise = 0``
    an adversarial one (``sigma = 0``, ``Sigma_{1:T}^2 = sum ||c_t - c_{t-1}||^2``), anything
    else in between (``sigma_t^2 = noise^2 d``).
    """
    means = checks.array(means, "means", ndim=2, dtype="float")
    checks.positive(noise, "noise", allow_zero=True)

    def expected(x, t):
        return jnp.dot(means[t - 1], x)

    def loss(x, t, key):
        xi = jax.random.normal(key, x.shape, x.dtype)
        return jnp.dot(means[t - 1] + noise * xi, x)

    return SEAEnvironment(loss, expected)


class RunResult(NamedTuple):
    """What the learner played and saw: ``played`` ``(T, d)``, ``losses`` ``(T,)`` (``f_t(x_t)``),
    ``grads`` ``(T, d)`` (``grad f_t(x_t)``)."""

    played: jax.Array
    losses: jax.Array
    grads: jax.Array


def run(learner: Learner, loss: LossFn, x0, num_rounds: int, key: jax.Array) -> RunResult:
    """Plays ``num_rounds`` rounds of online learning as one jitted ``lax.scan``.

    Round ``t``: ``x_t = learner.play(state)``, ``f_t = loss(., t, key_t)`` (``key_t`` folded
    from ``key``), ``state = learner.update(state, grad f_t(x_t))``.

    Raises:
      ValueError: ``num_rounds`` < 1, or a NaN/inf gradient (the message names the first such
        round).
    """
    num_rounds = checks.integer(num_rounds, "num_rounds", minimum=1)
    state = learner.init(x0)
    result = _scan(learner, loss, state, num_rounds, key)
    bad = np.flatnonzero(~np.isfinite(np.asarray(result.grads)).all(axis=1))
    if bad.size:
        raise ValueError(
            f"`loss` has a NaN/inf gradient at round {int(bad[0]) + 1} (played x = "
            f"{np.asarray(result.played[bad[0]])}); finite gradients are expected."
        )
    return result


@functools.partial(jax.jit, static_argnums=(0, 1, 3))
def _scan(learner, loss, state, num_rounds, key):
    def round_(state, t):
        x = learner.play(state)
        value, grad = jax.value_and_grad(loss)(x, t, jax.random.fold_in(key, t))
        return learner.update(state, grad), (x, value, grad)

    _, (played, values, grads) = jax.lax.scan(round_, state, jnp.arange(1, num_rounds + 1))
    return RunResult(played, values, grads)


def linear_regret(grads, played, domain: Domain) -> jax.Array:
    """Static regret of linear losses ``f_t(x) = <g_t, x>`` against the best fixed point of X
    in hindsight: ``sum_t <g_t, x_t> - min_{x in X} <sum_t g_t, x>`` (exact)."""
    grads = checks.array(grads, "grads", ndim=2, dtype="float")
    played = checks.array(played, "played", ndim=2, dtype="float")
    checks.same_shape(grads, played, ("grads", "played"))
    total = jnp.sum(grads, axis=0)
    return jnp.sum(grads * played) - jnp.dot(total, domain.linear_argmin(total))


def static_regret(losses, comparator_losses) -> jax.Array:
    """``sum_t f_t(x_t) - sum_t f_t(u)`` given ``losses`` = ``f_t(x_t)`` and
    ``comparator_losses`` = ``f_t(u)`` for a fixed comparator ``u`` (both ``(T,)``); with
    ``u`` the minimiser of the realised ``sum_t f_t`` this is the regret."""
    return dynamic_regret(losses, comparator_losses)


def dynamic_regret(losses, comparator_losses) -> jax.Array:
    """``sum_t f_t(x_t) - sum_t f_t(u_t)`` for comparators ``u_1..u_T`` (``(T,)`` each)."""
    losses = checks.array(losses, "losses", ndim=1, dtype="float")
    comparator_losses = checks.array(comparator_losses, "comparator_losses", ndim=1, dtype="float")
    checks.same_shape(losses, comparator_losses, ("losses", "comparator_losses"))
    return jnp.sum(losses) - jnp.sum(comparator_losses)


def path_length(comparators) -> jax.Array:
    """``P_T = sum_{t >= 2} ||u_t - u_{t-1}||`` for comparators ``(T, d)``."""
    u = checks.array(comparators, "comparators", ndim=2, dtype="float")
    return jnp.sum(jnp.linalg.norm(jnp.diff(u, axis=0), axis=1))


class SEAStatistics(NamedTuple):
    """``sigma_total`` = ``sigma_{1:T}^2``, ``variation_total`` = ``Sigma_{1:T}^2``,
    ``sigma_max`` = ``sigma_max^2``, ``variation_max`` = ``Sigma_max^2`` (all squared)."""

    sigma_total: jax.Array
    variation_total: jax.Array
    sigma_max: jax.Array
    variation_max: jax.Array


def sea_statistics(
    environment: SEAEnvironment, probes, num_rounds: int, key: jax.Array, *, samples: int = 64
) -> SEAStatistics:
    """Monte-Carlo estimates of the SEA quantities of an environment.

    ``sigma_t^2 = max_x E||grad f_t(x) - grad F_t(x)||^2`` and ``Sigma_t^2 = max_x ||grad F_t(x)
    - grad F_{t-1}(x)||^2`` (``t >= 2``; round 1 contributes no variation), with the maximum
    over X replaced by the maximum over the ``probes`` (``(P, d)`` points of X) and the
    expectation by ``samples`` draws: estimates (lower bounds of the sup), exact for linear
    losses, whose gradients do not depend on ``x``.
    """
    probes = checks.array(probes, "probes", ndim=2, dtype="float")
    num_rounds = checks.integer(num_rounds, "num_rounds", minimum=1)
    samples = checks.integer(samples, "samples", minimum=1)
    grad_f = jax.grad(environment.loss)
    grad_expected = jax.grad(environment.expected_loss)

    @jax.jit
    def per_round(t):
        mean = jax.vmap(grad_expected, in_axes=(0, None))(probes, t)
        previous = jax.vmap(grad_expected, in_axes=(0, None))(probes, jnp.maximum(t - 1, 1))
        keys = jax.random.split(jax.random.fold_in(key, t), samples)
        draws = jax.vmap(lambda k: jax.vmap(grad_f, in_axes=(0, None, None))(probes, t, k))(keys)
        sigma = jnp.max(jnp.mean(jnp.sum((draws - mean) ** 2, -1), 0))
        variation = jnp.where(t > 1, jnp.max(jnp.sum((mean - previous) ** 2, -1)), 0.0)
        return sigma, variation

    sigma, variation = jax.lax.map(per_round, jnp.arange(1, num_rounds + 1))
    return SEAStatistics(jnp.sum(sigma), jnp.sum(variation), jnp.max(sigma), jnp.max(variation))
