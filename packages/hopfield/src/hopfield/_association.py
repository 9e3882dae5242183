"""The Hopfield association inside the layers: iterated updates in the associative space.

Ramsauer et al., arXiv:2008.02217, Eq. (10) and Section 3; semantics of the official
``hflayers.functional.hopfield_core_forward``: the first association is
``softmax(beta Q K^T)``; each further step replaces the state by ``Q <- xi K`` (still in the
associative space) and re-associates, per head, until ``update_steps_max`` extra steps or until
the association of every batch element changes by at most ``update_steps_eps``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def masked_softmax(logits: jax.Array, mask: jax.Array | None) -> jax.Array:
    """Softmax over the last axis with ``mask`` (True = ignore) entries given weight 0.

    Masked logits become -inf before the softmax, never 0 (a zero logit would still get weight).
    A row whose entries are all masked is defined as all zeros instead of NaN.
    """
    if mask is None:
        return jax.nn.softmax(logits, axis=-1)
    logits = jnp.where(mask, -jnp.inf, logits)
    row_max = jnp.max(logits, axis=-1, keepdims=True)
    row_max = jax.lax.stop_gradient(jnp.where(jnp.isfinite(row_max), row_max, 0.0))
    weights = jnp.exp(logits - row_max)
    total = jnp.sum(weights, axis=-1, keepdims=True)
    return weights / jnp.where(total == 0, 1.0, total)


# Logits per group of batch elements in `associate_and_read` (float32: 4 MiB), small enough for
# the exponentials, row sums and read-out of a group to stay in a core's cache.
_GROUP_LOGITS = 2**20


def _read(q, k, v, scaling, mask, weights_fn):
    logits = scaling[None, :, None, None] * jnp.einsum("bhsd,bhnd->bhsn", q, k)
    if mask is not None:
        logits = jnp.where(mask, -jnp.inf, logits)
    row_max = jnp.max(logits, axis=-1, keepdims=True)
    if mask is not None:
        row_max = jnp.where(jnp.isfinite(row_max), row_max, 0.0)
    weights = jnp.exp(logits - jax.lax.stop_gradient(row_max))
    total = jnp.sum(weights, axis=-1)
    if mask is not None:
        total = jnp.where(total == 0, 1.0, total)
    if weights_fn is not None:
        weights = weights_fn(weights)
    out = jnp.einsum("bhsn,bhnd->bshd", weights, v)
    return out / jnp.swapaxes(total, 1, 2)[..., None]


def associate_and_read(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    scaling: jax.Array,
    mask: jax.Array | None,
    weights_fn: Callable[[jax.Array], jax.Array] | None = None,
    *,
    group_logits: int = _GROUP_LOGITS,
) -> jax.Array:
    """One association read out: ``softmax(beta q k^T) v`` without forming the softmax matrix.

    The same numbers as ``masked_softmax`` followed by the product with ``v``, computed as
    ``(e v) / sum(e)`` with ``e = exp(beta q k^T - max)``: the row sums divide the (B, H, S, D)
    result instead of the (B, H, S, N) weights, which saves a pass over the largest array in the
    forward and the backward pass. Without ``weights_fn``, the batch is processed in groups of
    elements whose (H, S, N) logits hold about ``group_logits`` numbers (``jax.lax.map``), so
    that the passes over each group's logits run in cache instead of main memory; the result
    is the same.

    Args:
      q: (B, H, S, D) state patterns in the associative space (unscaled).
      k: (B, H, N, D) stored patterns in the associative space.
      v: (B, H, N, Dv) pattern projections (values).
      scaling: (H,) beta per head.
      mask: bool, broadcastable to (B, H, S, N), True = stored pattern ignored; or None.
      weights_fn: applied to the unnormalised weights before the read-out (dropout, which is
        linear and elementwise, so it commutes with the normalisation); None = identity. With
        it the batch is processed in one piece (a random mask is drawn for the whole batch).
      group_logits: target size of a group's logits; a batch element larger than this is its
        own group.

    Returns:
      (B, S, H, Dv) the read-out per head (a query whose patterns are all masked reads 0).
    """
    batch = q.shape[0]
    per_element = q.shape[1] * q.shape[2] * k.shape[2]
    group = max(1, group_logits // per_element)
    if weights_fn is not None or group >= batch:
        return _read(q, k, v, scaling, mask, weights_fn)
    mapped_mask = mask is not None and mask.ndim == 4 and mask.shape[0] == batch

    def one(args):
        qi, ki, vi, mi = args
        mi = mi[None] if mapped_mask else mask
        return _read(qi[None], ki[None], vi[None], scaling, mi, None)[0]

    return jax.lax.map(one, (q, k, v, mask if mapped_mask else None), batch_size=group)


def associate(
    q: jax.Array,
    k: jax.Array,
    scaling: jax.Array,
    mask: jax.Array | None,
    update_steps_max: int | None,
    update_steps_eps: float,
) -> jax.Array:
    """Association matrices after ``1 + update_steps_max`` (at most) Hopfield updates.

    Args:
      q: (B, H, S, D) state patterns in the associative space (unscaled).
      k: (B, H, N, D) stored patterns in the associative space.
      scaling: (H,) beta per head.
      mask: bool, broadcastable to (B, H, S, N), True = stored pattern ignored; or None.
      update_steps_max: extra updates after the first association; None = until convergence.
      update_steps_eps: a head stops once ``max_b ||xi_new - xi_old||_F <= eps``.

    Returns:
      (B, H, S, N) the association (softmax) matrices xi.
    """
    beta = scaling[None, :, None, None]

    def association(state):
        return masked_softmax(beta * jnp.einsum("bhsd,bhnd->bhsn", state, k), mask)

    xi = association(q)
    if update_steps_max == 0:
        return xi

    def step(carry):
        xi_old, active = carry
        xi_new = association(jnp.einsum("bhsn,bhnd->bhsd", xi_old, k))
        xi_new = jnp.where(active[None, :, None, None], xi_new, xi_old)
        change = jnp.max(jnp.sqrt(jnp.sum((xi_new - xi_old) ** 2, axis=(2, 3))), axis=0)
        return xi_new, active & (change > update_steps_eps)

    active = jnp.ones((q.shape[1],), bool)
    if update_steps_max is None:
        xi, _ = jax.lax.while_loop(lambda c: jnp.any(c[1]), step, (xi, active))
        return xi
    (xi, _), _ = jax.lax.scan(lambda c, _: (step(c), None), (xi, active), None, update_steps_max)
    return xi
