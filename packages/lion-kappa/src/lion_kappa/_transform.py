"""Lion-K as an optax ``GradientTransformation`` (Chen et al., 2024, eq. (3))."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxpapers_shared import checks
from lion_kappa._kappa import Kappa, l1


class ScaleByLionKappaState(NamedTuple):
    """State of :func:`scale_by_lion_kappa`: one momentum buffer (optax's sign convention)."""

    mu: Any


def _check_beta(name: str, value: Any) -> None:
    checks.in_range(value, name, 0.0, 1.0)


def _check_kappa(kappa: Any) -> None:
    if not isinstance(kappa, Kappa):
        raise TypeError(
            f"`kappa` must be a lion_kappa.Kappa (l1(), l2(), lp(p), ...), got {type(kappa).__name__}."
        )


def scale_by_lion_kappa(
    kappa: Kappa | None = None,
    b1: float = 0.9,
    b2: float = 0.99,
    mu_dtype: Any = None,
) -> optax.GradientTransformation:
    """The Lion-K direction, without weight decay and learning rate.

    The paper (eq. (3)) keeps ``m`` as the *negative* gradient momentum::

        m_{t+1} = b2 m_t - (1 - b2) g_t
        x_{t+1} = x_t + lr (dK(b1 m_t - (1 - b1) g_t) - lam x_t)

    Here ``mu = -m`` (optax's convention), so the returned update is ``-dK(-c_t)`` with
    ``c_t = (1 - b1) g_t + b1 mu_t``: the interpolation uses the *old* momentum, which is then
    updated. ``optax.scale_by_learning_rate`` later multiplies by ``-lr``. For ``kappa=l1()`` this
    is ``optax.scale_by_lion``. ``b1 = 0`` with K = l1 gives Frank-Wolfe on the box with step
    ``lr*lam``; ``b1 = b2`` is Polyak momentum.

    Args:
      kappa: the convex K (default :func:`lion_kappa.l1`, i.e. Lion).
      b1: interpolation factor beta1 of eq. (3), in [0, 1].
      b2: momentum decay beta2 of eq. (3), in [0, 1].
      mu_dtype: dtype of the momentum buffer (``None``: the parameters' dtype).

    Returns:
      An ``optax.GradientTransformation`` with state :class:`ScaleByLionKappaState`.

    Raises:
      TypeError: ``kappa`` is not a :class:`Kappa`.
      ValueError: ``b1`` or ``b2`` outside [0, 1]; (at ``init``) a leaf ``kappa`` cannot handle.

    Differs from the paper: non-finite gradients are not filtered; wrap the optimizer in
    ``optax.apply_if_finite`` if they can occur.
    """
    kappa = l1() if kappa is None else kappa
    _check_kappa(kappa)
    _check_beta("b1", b1)
    _check_beta("b2", b2)

    def init_fn(params: Any) -> ScaleByLionKappaState:
        # Trace dK once on shapes only, so that e.g. nuclear() on a vector fails here, not mid-run.
        jax.eval_shape(kappa.grad, params)
        mu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=mu_dtype), params)
        return ScaleByLionKappaState(mu=mu)

    def update_fn(
        updates: Any, state: ScaleByLionKappaState, params: Any = None
    ) -> tuple[Any, ScaleByLionKappaState]:
        del params
        c = jax.tree.map(lambda g, m: (1.0 - b1) * g + b1 * m, updates, state.mu)
        direction = kappa.grad(jax.tree.map(jnp.negative, c))
        new_updates = jax.tree.map(
            lambda d, g: jnp.negative(d).astype(jnp.result_type(g)), direction, updates
        )
        mu = jax.tree.map(lambda g, m: (1.0 - b2) * g + b2 * m, updates, state.mu)
        mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
        return new_updates, ScaleByLionKappaState(mu=mu)

    return optax.GradientTransformation(init_fn, update_fn)


def lion_kappa(
    learning_rate: optax.ScalarOrSchedule,
    kappa: Kappa | None = None,
    b1: float = 0.9,
    b2: float = 0.99,
    weight_decay: float = 0.0,
    mu_dtype: Any = None,
    mask: Any = None,
) -> optax.GradientTransformation:
    """Lion-K with decoupled weight decay (Chen et al., 2024, eq. (3)).

    ``x <- x - lr (-dK(-c) + lam x)`` with ``c = (1 - b1) g + b1 mu``, ``mu <- b2 mu + (1 - b2) g``.
    Its fixed points are stationary points of ``f(x) + (1/lam) K*(lam x)`` (Sec. 3); for
    ``kappa=l1()`` (Lion, equal to ``optax.lion``) that is ``min f`` on the box
    ``||x||_inf <= 1/lam``. Leaves excluded by ``mask`` get no decay and are unconstrained.

    Args:
      learning_rate: ``lr`` (> 0) or an optax schedule. Exact convergence with bounded dK needs a
        decaying schedule (a constant ``lr`` leaves an O(lr) oscillation).
      kappa: the convex K (default :func:`lion_kappa.l1`).
      b1, b2: beta1, beta2 of eq. (3), in [0, 1] (Lion defaults 0.9, 0.99).
      weight_decay: ``lam >= 0``; the constraint radius is ``1/lam`` (not ``1/(lr*lam)``).
      mu_dtype: dtype of the momentum buffer.
      mask: optax mask (pytree of bools or callable) of the leaves that get weight decay.

    Returns:
      An ``optax.GradientTransformation`` (``scale_by_lion_kappa`` -> ``add_decayed_weights`` ->
      ``scale_by_learning_rate``).

    Raises:
      TypeError: ``kappa`` is not a :class:`Kappa`.
      ValueError: ``learning_rate <= 0``, ``weight_decay < 0``, ``b1``/``b2`` outside [0, 1], or
        ``learning_rate * weight_decay > 1`` for constants (the decay factor ``1 - lr*lam`` turns
        negative and the phase-1 contraction is lost; with a schedule keep ``max lr * lam <= 1``).

    References:
      L. Chen, B. Liu, K. Liang, Q. Liu. Lion Secretly Solves Constrained Optimization: As
      Lyapunov Predicts. ICLR 2024, arXiv:2310.05898.
    """
    checks.positive(weight_decay, "weight_decay", allow_zero=True)
    if not callable(learning_rate):
        checks.positive(learning_rate, "learning_rate")
        if learning_rate * weight_decay > 1:
            raise ValueError(
                f"`learning_rate * weight_decay` must be <= 1 (else 1 - lr*lam < 0 and the iterate "
                f"is not pulled into the constraint set), got {learning_rate} * {weight_decay} = "
                f"{learning_rate * weight_decay}."
            )
    return optax.chain(
        scale_by_lion_kappa(kappa, b1=b1, b2=b2, mu_dtype=mu_dtype),
        optax.add_decayed_weights(weight_decay, mask),
        optax.scale_by_learning_rate(learning_rate),
    )
