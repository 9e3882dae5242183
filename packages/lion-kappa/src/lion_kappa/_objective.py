"""What Lion-K solves: the composite objective, its stationarity residual and constraint violation.

Fixed points of Lion-K satisfy ``lam x in dK(-grad f(x))``, i.e. first-order stationarity of
``F(x) = f(x) + (1/lam) K*(lam x)`` (Chen et al., 2024, Sec. 3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks
from lion_kappa._kappa import Kappa


def _check_lam(weight_decay: Any) -> float:
    checks.positive(weight_decay, "weight_decay")  # lam = 0 has no constraint
    return float(weight_decay)


def _check_kappa(kappa: Any) -> None:
    if not isinstance(kappa, Kappa):
        raise TypeError(f"`kappa` must be a lion_kappa.Kappa, got {type(kappa).__name__}.")


def _scale(tree: Any, a: float) -> Any:
    return jax.tree.map(lambda x: a * x, tree)


def composite_objective(
    f: Callable[[Any], jax.Array], kappa: Kappa, weight_decay: float
) -> Callable[[Any], jax.Array]:
    """``F(x) = f(x) + (1/lam) K*(lam x)``, the objective Lion-K minimizes (Sec. 3).

    Args:
      f: the loss, ``params -> scalar``.
      kappa: the K used by the optimizer.
      weight_decay: ``lam > 0``.

    Returns:
      ``params -> scalar``; ``+inf`` outside ``dom K*(lam .)`` when K* is an indicator (use
      :func:`constraint_violation` to measure how far outside).

    Raises:
      TypeError, ValueError: bad ``kappa`` or ``weight_decay <= 0``.
    """
    _check_kappa(kappa)
    lam = _check_lam(weight_decay)

    def objective(x: Any) -> jax.Array:
        return f(x) + kappa.conjugate(_scale(x, lam)) / lam

    return objective


def stationarity_residual(x: Any, grads: Any, kappa: Kappa, weight_decay: float) -> jax.Array:
    """The Fenchel-Young gap ``K(-g) + K*(lam x) - <-g, lam x>`` (>= 0; 0 iff x is stationary).

    Stationarity of F is ``lam x in dK(-g)`` with ``g = grad f(x)``; by Fenchel-Young this holds iff
    the gap is zero. It is the bracket of the paper's Lyapunov function (Sec. 3) evaluated at the
    fixed point ``m = -g``.

    Args:
      x: parameters (pytree).
      grads: ``grad f(x)``, same structure.
      kappa: the K used by the optimizer.
      weight_decay: ``lam > 0``.

    Returns:
      A scalar, ``+inf`` when ``lam x`` is outside ``dom K*``.

    Why not the residual ``||lam x - dK(-g)||``: it is not zero at
    interior solutions of the box problem (there ``g = 0`` and ``sign(0) = 0 != lam x``), because
    ``dK`` returns one subgradient, not the subdifferential; the gap is exact for every K.
    """
    _check_kappa(kappa)
    lam = _check_lam(weight_decay)
    neg_g = jax.tree.map(jnp.negative, grads)
    lam_x = _scale(x, lam)
    inner = sum(
        (
            jnp.vdot(a, b)
            for a, b in zip(jax.tree.leaves(neg_g), jax.tree.leaves(lam_x), strict=True)
        ),
        jnp.zeros(()),
    )
    return kappa.value(neg_g) + kappa.conjugate(lam_x) - inner


def constraint_violation(x: Any, kappa: Kappa, weight_decay: float) -> jax.Array:
    """How far x lies outside ``dom (1/lam) K*(lam .)``, in the units of x (0 inside).

    For K = l1 this is ``max(0, ||x||_inf - 1/lam)``; for norm K it is the dual-norm excess over the
    radius ``1/lam`` (the largest one over leaves for ``scope="leaf"``). Zero for K with
    ``dom K* = everything`` (``half_squared``). Pass only the decayed leaves: leaves masked out of
    weight decay are unconstrained.

    Raises:
      TypeError, ValueError: bad ``kappa`` or ``weight_decay <= 0``.
    """
    _check_kappa(kappa)
    lam = _check_lam(weight_decay)
    return jnp.maximum(kappa.gauge(_scale(x, lam)) - 1.0, 0.0) / lam


def phase1_bound(x0_norm: Any, learning_rate: float, weight_decay: float, t: Any) -> jax.Array:
    """Phase-1 envelope ``1/lam + (1 - lr lam)^t (||x0|| - 1/lam)`` for bounded dK (Sec. 3).

    With ``||dK||_dual <= 1`` and constant ``lr`` with ``0 <= lr lam <= 1``, each step gives
    ``||x_{t+1}|| <= (1 - lr lam) ||x_t|| + lr``, hence ``||x_t|| <= phase1_bound(||x_0||, lr, lam, t)``
    (the dual norm of K: ``inf`` norm for l1). The discrete form of the paper's exponential entry.

    Args:
      x0_norm: ``||x_0||`` in the constraint's norm (scalar or array).
      learning_rate: constant ``lr > 0``.
      weight_decay: ``lam > 0`` with ``lr * lam <= 1``.
      t: step count(s), broadcastable against ``x0_norm``.

    Raises:
      ValueError: ``learning_rate <= 0``, ``weight_decay <= 0`` or ``lr * lam > 1``.
    """
    lam = _check_lam(weight_decay)
    checks.positive(learning_rate, "learning_rate")
    if not learning_rate * lam <= 1:
        raise ValueError(
            f"`learning_rate` must be > 0 with learning_rate * weight_decay <= 1, got "
            f"{learning_rate} (times {lam})."
        )
    t = jnp.asarray(t)
    return 1.0 / lam + (1.0 - learning_rate * lam) ** t * (jnp.asarray(x0_norm) - 1.0 / lam)
