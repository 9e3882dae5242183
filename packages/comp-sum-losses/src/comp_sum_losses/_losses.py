"""The comp-sum family of multi-class losses, as optax-style per-example functions.

``l_tau(h, y) = Phi_tau(sum_{y' != y} exp(h_{y'} - h_y))`` with
``Phi_tau(u) = ((1 + u)^(1 - tau) - 1) / (1 - tau)`` (``log(1 + u)`` at ``tau = 1``). Since
``1 + u = 1 / p_y`` for ``p = softmax(h)``, ``l_tau = (p_y^(tau - 1) - 1) / (1 - tau)``:
sum-exponential (``tau = 0``), logistic / cross-entropy (``tau = 1``), generalized cross-entropy
with ``q = tau - 1`` (``1 < tau < 2``) and mean absolute error ``1 - p_y`` (``tau = 2``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks


def check_tau(tau: Any) -> Any:
    """``tau`` lies in the analysed range [0, 2]; returns it."""
    return checks.in_range(tau, "tau", 0.0, 2.0)


def _exprel(a: jax.Array) -> jax.Array:
    """``expm1(a) / a``, equal to 1 at ``a = 0`` and smooth through it."""
    small = jnp.abs(a) < 1e-6
    safe = jnp.where(small, 1.0, a)
    return jnp.where(small, 1.0 + a / 2.0 + a * a / 6.0, jnp.expm1(safe) / safe)


def from_log_prob(log_p: jax.Array, tau: Any) -> jax.Array:
    """``(p^(tau - 1) - 1) / (1 - tau)`` from ``log p``, continuous in ``tau`` through 1.

    Written as ``-log p * expm1(a) / a`` with ``a = (tau - 1) log p`` so that no power of a
    tiny probability is formed and the ``tau -> 1`` limit is ``-log p`` exactly.
    """
    return -log_p * _exprel((tau - 1.0) * log_p)


def check_logits_labels(logits: Any, labels: Any) -> tuple[jax.Array, jax.Array]:
    """Validates ``logits`` (B, n), n >= 2, finite, and integer ``labels`` (B,) in [0, n)."""
    logits = checks.array(logits, "logits", ndim=2, dtype="float")
    if logits.shape[1] < 2:
        raise ValueError(f"`logits` must have n >= 2 classes, got logits.shape={logits.shape}.")
    labels = checks.array(labels, "labels", ndim=1, dtype="int")
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"`labels` must have one entry per row of `logits`, got labels.shape={labels.shape} "
            f"and logits.shape={logits.shape}."
        )
    if checks.is_concrete(labels):
        values = np.asarray(labels)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= logits.shape[1]:
            raise ValueError(
                f"`labels` must lie in [0, {logits.shape[1]}), got values in [{low}, {high}]."
            )
    return logits, labels


def comp_sum_loss(logits: Any, labels: Any, tau: float = 1.0) -> jax.Array:
    """The comp-sum loss ``l_tau`` per example (no reduction, like ``optax.losses``).

    Args:
      logits: scores, shape (B, n), n >= 2, finite.
      labels: integer labels, shape (B,), in [0, n).
      tau: the family parameter in [0, 2]: 0 sum-exponential, 1 cross-entropy, (1, 2)
        generalized cross-entropy with q = tau - 1, 2 mean absolute error ``1 - p_y``.

    Returns:
      The loss of each example, shape (B,).

    Raises:
      ValueError: bad shapes, labels out of range, non-finite logits, tau outside [0, 2].
    """
    check_tau(tau)
    logits, labels = check_logits_labels(logits, labels)
    logit_y = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    log_p_y = logit_y - jax.nn.logsumexp(logits, axis=-1)
    if checks.is_concrete(tau) and float(tau) == 1.0:
        return -log_p_y  # the exact cross-entropy, without the tau-continuation terms
    return from_log_prob(log_p_y, tau)


def sum_exp_loss(logits: Any, labels: Any) -> jax.Array:
    """``sum_{y' != y} exp(h_{y'} - h_y) = 1/p_y - 1`` (``tau = 0``)."""
    return comp_sum_loss(logits, labels, 0.0)


def logistic_loss(logits: Any, labels: Any) -> jax.Array:
    """Cross-entropy ``-log p_y`` (``tau = 1``)."""
    return comp_sum_loss(logits, labels, 1.0)


def gce_loss(logits: Any, labels: Any, q: float = 0.7) -> jax.Array:
    """Generalized cross-entropy ``(1 - p_y^q) / q`` of Zhang & Sabuncu, q in (0, 1]
    (``tau = 1 + q``; q = 1 gives the mean absolute error ``1 - p_y``)."""
    checks.in_range(q, "q", 0.0, 1.0, closed="right")
    return comp_sum_loss(logits, labels, 1.0 + q)


def mae_loss(logits: Any, labels: Any) -> jax.Array:
    """Mean absolute error ``1 - p_y = ||p - e_y||_1 / 2`` (``tau = 2``)."""
    return comp_sum_loss(logits, labels, 2.0)
