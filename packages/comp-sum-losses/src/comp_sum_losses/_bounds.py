"""H-consistency bound functions and conditional regrets of the comp-sum losses.

For a symmetric and complete hypothesis set and every h:
``R_01(h) - R*_01 + M_01 <= Gamma_tau(R_tau(h) - R*_tau + M_tau)`` with ``Gamma_tau = T_tau^-1``,
where, with the power mean ``m_tau(t) = (((1+t)^(1/(2-tau)) + (1-t)^(1/(2-tau))) / 2)^(2-tau)``,

* ``tau in [0, 1)``: ``T(t) = 2^(1-tau) / (1-tau) * (1 - m_tau(t))``
* ``tau = 1``: ``T(t) = (1+t)/2 log(1+t) + (1-t)/2 log(1-t)``
* ``tau in (1, 2)``: ``T(t) = (m_tau(t) - 1) / ((tau-1) n^(tau-1))``
* ``tau = 2``: ``T(t) = t / n``.

The bound holds pointwise: ``T_tau(Delta_01(h, p)) <= Delta_tau(h, p)`` for every conditional
distribution ``p`` and scores ``h``, where ``Delta`` are the conditional regrets below.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks

from ._losses import check_tau, from_log_prob


def _static_tau(tau: Any) -> float:
    if not checks.is_concrete(tau):
        raise TypeError("`tau` must be a concrete number here (it selects the formula).")
    return float(check_tau(tau))


def _power_mean(t: jax.Array, tau: float) -> jax.Array:
    r = 1.0 / (2.0 - tau)
    return (((1.0 + t) ** r + (1.0 - t) ** r) / 2.0) ** (2.0 - tau)


def _xlogx(x: jax.Array) -> jax.Array:
    return jnp.where(x > 0, x * jnp.log(jnp.where(x > 0, x, 1.0)), 0.0)


def bound_T(tau: float, t: Any, n: int, *, n_factor: bool = True) -> jax.Array:
    """The function ``T_tau`` of the H-consistency bound, elementwise on ``t`` in [0, 1].

    Args:
      tau: family parameter in [0, 2] (concrete).
      t: zero-one regrets in [0, 1].
      n: number of classes, >= 2.
      n_factor: keep the ``n^(tau-1)`` (``n`` at ``tau = 2``) factor of ``tau > 1``; False
        gives a deliberately loosened bound, which is violated for large ``n``.
    """
    tau = _static_tau(tau)
    n = checks.integer(n, "n", minimum=2)
    t = checks.array(t, "t", dtype="float", nonempty=False)
    if checks.is_concrete(t) and t.size:
        values = np.asarray(t)
        if values.min() < 0 or values.max() > 1:
            raise ValueError(
                f"`t` must lie in [0, 1], got values in [{values.min()}, {values.max()}]."
            )
    scale = float(n) ** (tau - 1.0) if n_factor else 1.0
    if tau == 2.0:
        return t / scale
    if tau == 1.0:
        right = jnp.where(t < 1.0, (1.0 - t) * jnp.log1p(-jnp.where(t < 1.0, t, 0.0)), 0.0)
        return ((1.0 + t) * jnp.log1p(t) + right) / 2.0
    m = _power_mean(t, tau)
    if tau < 1.0:
        return 2.0 ** (1.0 - tau) / (1.0 - tau) * (1.0 - m)
    return (m - 1.0) / ((tau - 1.0) * scale)


def bound_gamma(tau: float, eps: Any, n: int, *, iterations: int = 60) -> jax.Array:
    """``Gamma_tau = T_tau^-1``: the zero-one regret guaranteed by a surrogate regret ``eps``.

    Elementwise on ``eps >= 0`` by bisection on [0, 1] (T is increasing); 1 where ``eps``
    exceeds ``T_tau(1)``. Jit- and vmap-able in ``eps``.
    """
    tau = _static_tau(tau)
    n = checks.integer(n, "n", minimum=2)
    eps = checks.array(eps, "eps", dtype="float", nonempty=False)
    if checks.is_concrete(eps) and eps.size and np.asarray(eps).min() < 0:
        raise ValueError(f"`eps` must be >= 0, got a minimum of {np.asarray(eps).min()}.")

    def T(t):
        return bound_T(tau, t, n)

    def step(_, bracket):
        lo, hi = bracket
        mid = (lo + hi) / 2.0
        above = T(mid) >= eps
        return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

    lo, hi = jax.lax.fori_loop(0, iterations, step, (jnp.zeros_like(eps), jnp.ones_like(eps)))
    return hi


def _check_probs(p: Any, name: str = "p") -> jax.Array:
    p = checks.array(p, name, ndim=(1, 2), dtype="float")
    if checks.is_concrete(p):
        values = np.asarray(p, np.float64)
        if values.min() < 0 or np.abs(values.sum(-1) - 1.0).max() > 1e-6:
            raise ValueError(
                f"`{name}` must hold probability vectors (>= 0, summing to 1 within 1e-6) "
                "along its last axis."
            )
    if p.shape[-1] < 2:
        raise ValueError(f"`{name}` must have n >= 2 classes, got {name}.shape={p.shape}.")
    return p


def _check_pair(p: Any, logits: Any) -> tuple[jax.Array, jax.Array]:
    p = _check_probs(p)
    logits = checks.array(logits, "logits", ndim=(1, 2), dtype="float")
    if jnp.broadcast_shapes(p.shape, logits.shape) != p.shape:
        raise ValueError(
            f"`p` and `logits` must have the same shape, got {p.shape} and {logits.shape}."
        )
    return p, logits


def conditional_risk(tau: float, p: Any, logits: Any) -> jax.Array:
    """``sum_y p_y l_tau(h, y)``: the expected comp-sum loss of scores ``logits`` under the
    label distribution ``p`` (last axis: classes)."""
    tau = _static_tau(tau)
    p, logits = _check_pair(p, logits)
    losses = from_log_prob(jax.nn.log_softmax(logits, axis=-1), tau)
    return jnp.sum(jnp.where(p > 0, p * losses, 0.0), axis=-1)


def best_conditional_risk(tau: float, p: Any) -> jax.Array:
    """``C*_tau(p) = inf_h sum_y p_y l_tau(h, y)`` over unrestricted scores.

    The minimiser is ``q* ∝ p^(1/(2-tau))`` for tau < 2, giving
    ``((sum_y p_y^(1/(2-tau)))^(2-tau) - 1) / (1 - tau)`` (the entropy at tau = 1);
    at tau = 2 the infimum ``1 - max_y p_y`` is approached, not attained.
    """
    tau = _static_tau(tau)
    p = _check_probs(p)
    if tau == 2.0:
        return 1.0 - jnp.max(p, axis=-1)
    if tau == 1.0:
        return -jnp.sum(_xlogx(p), axis=-1)
    r = 1.0 / (2.0 - tau)
    powered = jnp.where(p > 0, jnp.where(p > 0, p, 1.0) ** r, 0.0)
    return jnp.expm1((2.0 - tau) * jnp.log(jnp.sum(powered, -1))) / (1.0 - tau)


def conditional_regret(tau: float, p: Any, logits: Any) -> jax.Array:
    """``Delta_tau(h, p) = conditional_risk - best_conditional_risk`` (>= 0)."""
    return conditional_risk(tau, p, logits) - best_conditional_risk(tau, p)


def zero_one_regret(p: Any, logits: Any) -> jax.Array:
    """``Delta_01(h, p) = max_y p_y - p_{argmax h}`` (ties broken to the lowest index)."""
    p, logits = _check_pair(p, logits)
    pred = jnp.argmax(logits, axis=-1)
    return jnp.max(p, axis=-1) - jnp.take_along_axis(p, pred[..., None], axis=-1)[..., 0]


def bounded_best_loss(tau: float, n: int, scale: Any) -> jax.Array:
    """``inf`` of ``l_tau(h, y)`` over scores with ``|h_k| <= scale``:
    ``Phi_tau((n - 1) exp(-2 scale))`` (``h_y = scale``, the others ``-scale``).

    In the deterministic case this is the best conditional loss of the bounded family, so the
    minimizability gap is ``R*_tau(H) - bounded_best_loss``; it vanishes as ``scale -> inf``.
    """
    tau = _static_tau(tau)
    n = checks.integer(n, "n", minimum=2)
    checks.positive(scale, "scale")
    u = (n - 1) * jnp.exp(-2.0 * jnp.asarray(scale, float))
    return from_log_prob(-jnp.log1p(u), tau)


def minimizability_gap(tau: float, best_risk: Any, n: int, scale: Any) -> jax.Array:
    """``M_tau(H) = R*_tau(H) - E_x inf_h E_y l_tau`` for a deterministic labelling and scores
    bounded by ``scale``, given the best-in-class risk ``best_risk = R*_tau(H)``."""
    return jnp.asarray(best_risk, float) - bounded_best_loss(tau, n, scale)
